//! `cargo xtask e2e --platform kind|kubernetes`: the plan, printed (`--dry-run`, kind
//! only) or carried out on kind's cluster or on one the user has.

use std::process::ExitCode;

use anyhow::Result;
use harness::config::ChartValues;
use harness::docker::DindMode;
use harness::docker::images::{self, ImageKind};
use harness::kind::{CertMode, KindOptions, Versions, build_plan, build_upgrade_plan};
use harness::platform::RunItem;
use harness::platform::kind::{ClusterChoice, KindUpgrade};
use harness::platform::upgrade::KindPair;
use harness::scenario::PodSetup;
use harness::user_error;

/// Which chart upgrade to plan, if any.
pub struct Upgrade {
    pub matrix: bool,
    pub pair: Option<(String, String)>,
}

/// Plans (and with `--dry-run` prints) the kind run for the parsed `cargo xtask e2e` flags.
pub async fn run(
    args: &crate::e2e_options::Options,
    items: Vec<RunItem>,
    values: ChartValues,
    upgrade: Upgrade,
) -> Result<ExitCode> {
    let versions = Versions::load()?;
    let image = images::planned_reference;
    let dind_image = match (args.certs, args.dind) {
        (CertMode::Chart, _) => versions.upstream_dind_image.clone(),
        (CertMode::Harness, DindMode::Rootful) => image(ImageKind::Dind)?,
        (CertMode::Harness, DindMode::Rootless) => image(ImageKind::DindRootless)?,
    };
    let opts = KindOptions {
        cluster: args.cluster.clone(),
        reuse: args.reuse,
        keep: args.keep,
        keep_on_failure: args.keep_on_failure,
        registry_mirror: args.registry_mirror.clone(),
        certs: args.certs,
        registration: args.registration,
        apply_sysctl: args.apply_sysctl,
        dind: args.dind,
        dind_image,
        job_image: image(ImageKind::Job)?,
        values,
        // Without --chart, an upgrade between two chart directories runs from its first.
        chart: args
            .chart
            .clone()
            .or_else(|| upgrade.pair.as_ref().filter(|(a, _)| is_dir(a)).map(|(a, _)| a.clone()))
            .unwrap_or_else(|| versions.runner_chart.reference.clone()),
        chart_version: args.chart_version.clone().unwrap_or_else(|| versions.runner_chart.version.clone()),
        versions,
        scenarios: items.iter().filter(|i| i.variant.is_none()).map(|i| i.name.clone()).collect(),
    };
    if let Some((a, b)) = &upgrade.pair
        && is_dir(a) != is_dir(b)
    {
        return Err(user_error!(
            "--upgrade-from and --upgrade-to on kind are two chart versions (of --chart) or two chart directories, not one of each"
        ));
    }
    let mut plans = Vec::new();
    if upgrade.matrix {
        for pair in kind_pairs()? {
            let mut from = opts.clone();
            from.chart_version = pair.from.clone();
            let runner =
                pair.runner.as_ref().map_or(String::new(), |r| format!(" (forgejo-runner {} -> {})", r.from, r.to));
            let title = format!("upgrade {}: chart {} -> {}{runner}", pair.name, pair.from, pair.to);
            if pair.is_dirs() {
                // Directories have no versions to plan with: carried out, or rendered.
                println!("# {title}: two chart directories; no plan (run it, or --render it)");
                continue;
            }
            let to_values = match &pair.to_values {
                Some(f) => Some(serde_yaml::from_str(&std::fs::read_to_string(harness::fixtures_dir().join(f))?)?),
                None => None,
            };
            plans.push((title, build_upgrade_plan(&from, &pair.to, to_values.as_ref())?));
        }
    } else if upgrade.pair.as_ref().is_some_and(|(a, b)| is_dir(a) && is_dir(b)) {
        // Chart directories have no versions to plan an upgrade with: render only.
        println!("# two chart directories: no upgrade plan (it needs versions of one chart reference); the render:");
    } else if let Some((a, b)) = &upgrade.pair {
        let mut from = opts.clone();
        from.chart_version = a.clone();
        plans.push((format!("upgrade {a} -> {b}"), build_upgrade_plan(&from, b, None)?));
    } else {
        plans.push(("run".to_owned(), build_plan(&opts)?));
    }
    if args.dry_run {
        for (title, plan) in &plans {
            println!("# cargo xtask e2e --platform kind: {title}: the plan (nothing was run)");
            print!("{}", plan.render());
        }
        let dirs = upgrade.pair.as_ref().is_some_and(|(a, b)| is_dir(a) && is_dir(b));
        if !(args.render || args.chart.is_some() || dirs) {
            return Ok(ExitCode::SUCCESS);
        }
        let pairs: Vec<(String, String)> = match &upgrade.pair {
            Some(pair) => vec![pair.clone()],
            None if upgrade.matrix => {
                kind_pairs()?.into_iter().map(|p| (KindPair::resolve(&p.from), KindPair::resolve(&p.to))).collect()
            }
            None => return render(&opts, &opts.chart),
        };
        let mut code = ExitCode::SUCCESS;
        for (a, b) in &pairs {
            if render_upgrade(&opts, a, b)? != ExitCode::SUCCESS {
                code = ExitCode::from(1);
            }
        }
        return Ok(code);
    }
    let upgrades = kind_upgrades(&upgrade, &opts)?;
    run_kind(args, items, opts, upgrades).await
}

/// `--dry-run --chart X`: renders the chart with the generated values (helm template is
/// local: nothing is installed) and reports what differs from intent.
fn render(opts: &KindOptions, chart: &str) -> Result<ExitCode> {
    let helm = find_helm(opts)?;
    let source = harness::kind::ChartSource::new(chart, &opts.chart_version);
    let report = harness::kind::render_check(&helm, &source, opts)?;
    println!("\n# render check: {chart} with the generated values (helm template, nothing installed)");
    println!("config.yaml as the runner reads it (the chart's defaults merged with the values):");
    for line in report.config_yaml.lines() {
        println!("  | {line}");
    }
    println!("keys the chart's defaults add to the configured values: {}", report.chart_defaults_added.len());
    for key in &report.chart_defaults_added {
        println!("  {key}");
    }
    for f in &report.findings {
        println!("FINDING {f}");
    }
    println!("render check: {} findings (config.yaml and the pod compared with intent)", report.findings.len());
    Ok(if report.findings.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// `--dry-run --upgrade-from A --upgrade-to B` with `--chart REF` (A and B its versions)
/// or two chart directories: both sides rendered with the same generated values, each
/// compared with intent (exit 1 on a finding), then what the upgrade changes.
fn render_upgrade(opts: &KindOptions, a: &str, b: &str) -> Result<ExitCode> {
    if !is_dir(a) && is_dir(&opts.chart) {
        // helm ignores --version for a directory: both sides would be the same chart.
        return Err(user_error!(
            "--chart {} is one version of the chart: render an upgrade from a chart reference, or give two chart directories as --upgrade-from and --upgrade-to",
            opts.chart
        ));
    }
    let helm = find_helm(opts)?;
    let side = |v: &str| match is_dir(v) {
        true => harness::kind::ChartSource::new(v, ""),
        false => harness::kind::ChartSource { reference: opts.chart.clone(), version: Some(v.to_owned()) },
    };
    let mut findings = 0;
    let mut reports = Vec::new();
    for (name, v) in [("A", a), ("B", b)] {
        let report = harness::kind::render_check(&helm, &side(v), opts)?;
        println!("\n# render check {name}: {v} (helm template, nothing installed): {} findings", report.findings.len());
        for f in &report.findings {
            println!("FINDING {name}: {f}");
        }
        findings += report.findings.len();
        reports.push(report);
    }
    let changes = harness::kind::upgrade_changes(&reports[0], &reports[1])?;
    println!("\n# what the upgrade {a} -> {b} changes, with the same values: {}", changes.len());
    for c in &changes {
        println!("  {c}");
    }
    Ok(if findings == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn find_helm(opts: &KindOptions) -> Result<std::path::PathBuf> {
    harness::tools::helm().ok_or_else(|| {
        user_error!(
            "rendering a chart needs helm, which is neither on PATH nor built: cargo xtask tools builds it (or install helm {}+)",
            opts.versions.tools.helm
        )
    })
}

fn is_dir(path: &str) -> bool {
    std::path::Path::new(path).is_dir()
}

/// The kind pairs of fixtures/upgrades.yaml.
fn kind_pairs() -> Result<Vec<KindPair>> {
    harness::platform::upgrade::kind_pairs(&harness::fixtures_dir().join("upgrades.yaml"))
}

/// The upgrades asked for, as the kind run carries them out: pairs of versions take the
/// run's chart reference; with a chart directory as --chart they are skipped, saying why.
fn kind_upgrades(upgrade: &Upgrade, plan: &KindOptions) -> Result<Vec<KindUpgrade>> {
    let source = |side: &str| match is_dir(side) {
        true => harness::kind::ChartSource::new(side, ""),
        false => harness::kind::ChartSource { reference: plan.chart.clone(), version: Some(side.to_owned()) },
    };
    let pairs = match &upgrade.pair {
        Some((a, b)) => {
            vec![KindPair { name: "from-to".into(), from: a.clone(), to: b.clone(), to_values: None, runner: None }]
        }
        None if upgrade.matrix => kind_pairs()?,
        None => return Ok(Vec::new()),
    };
    let mut out = Vec::new();
    for p in pairs {
        let (from, to) = (KindPair::resolve(&p.from), KindPair::resolve(&p.to));
        let to_values = match &p.to_values {
            Some(f) => {
                harness::config::load_values(&harness::fixtures_dir().join(f)).map_err(|e| user_error!("{e}"))?
            }
            None => plan.values.clone(),
        };
        let runner = p.runner.as_ref().map_or(String::new(), |r| format!(" (forgejo-runner {} -> {})", r.from, r.to));
        let values = p.to_values.as_deref().map_or(String::new(), |f| format!(", B with {f}"));
        let skip = (!p.is_dirs() && is_dir(&plan.chart)).then(|| {
            format!(
                "chart versions {} -> {} need a chart reference, and --chart {} is a directory: give the two versions as directories (--upgrade-from DIR --upgrade-to DIR)",
                p.from, p.to, plan.chart
            )
        });
        out.push(KindUpgrade {
            note: format!("{} -> {}{runner}{values}", p.from, p.to),
            name: p.name,
            from: source(&from),
            to: source(&to),
            to_values,
            skip,
        });
    }
    Ok(out)
}

/// `e2e --platform kind` carried out: the local cluster, the chart, the scenarios.
async fn run_kind(
    o: &crate::e2e_options::Options,
    mut items: Vec<RunItem>,
    plan: harness::kind::KindOptions,
    upgrades: Vec<KindUpgrade>,
) -> Result<ExitCode> {
    if !upgrades.is_empty() {
        // Around an upgrade: the plain scenarios, as on the Docker platform.
        items.retain(|i| i.variant.is_none() && i.scenario.is_some_and(|s| s.setup == PodSetup::Standard));
    }
    let run_id = harness::run::new_run_id();
    let progress = harness::Progress::new();
    let opts = harness::platform::kind::KindRunOptions {
        run_id: run_id.clone(),
        items,
        values: plan.values.clone(),
        dind: o.dind,
        certs: o.certs,
        cluster: match o.platform {
            harness::scenario::Platform::Kubernetes => ClusterChoice::Existing(o.existing.clone()),
            _ => ClusterChoice::Kind(harness::cluster::ClusterOptions {
                name: plan.cluster.clone(),
                dind: o.dind,
                node_image: o.node_image.clone(),
                smoke_when_reused: false,
                nodes: None,
                registry: false,
            }),
        },
        chart: plan.chart.clone(),
        chart_version: plan.chart_version.clone(),
        keep_cluster: o.reuse || o.keep,
        keep: o.keep,
        keep_on_failure: o.keep_on_failure,
        deadlines: o.deadlines,
        jobs: o.jobs,
        upgrades,
        allow_findings: o.allow_findings.clone(),
    };
    let executor = o.executor.clone();
    crate::finish::ended(harness::run::run(harness::run::Target::Kind(opts), executor, progress).await?)
}
