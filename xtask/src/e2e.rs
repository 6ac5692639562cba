//! `cargo xtask e2e`: run scenarios on a platform, print the summary, write reports.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use harness::Progress;
use harness::config::{ARTICLE_VALUES, load_values};
use harness::docker::DindMode;
use harness::docker::images::ImageKind;
use harness::docker::images::ImageSource;
use harness::kind::{CertMode, Registration};
use harness::node::{ApplyOutcome, RestoreOutcome, Sysctl};
use harness::platform::RunItem;
use harness::platform::docker::Deadlines;
use harness::platform::upgrade::{UpgradePair, UpgradeSide, docker_pairs};
use harness::run::{DockerRunOptions, new_run_id};
use harness::scenario::{Expect, Platform};
use harness::user_error;

use crate::args::{Arg, Args, unexpected};
pub use crate::e2e_options::Options;
use crate::scenarios;

pub const HELP: &str = "\
cargo xtask e2e [--platform docker|kind|kubernetes] [--scenario NAME]... [--list] [--keep]
                [--workflow PATH]... [--expect-failure JOB]... [--dind rootful|rootless]
                [--jobs N] [--negative]
                [--values FILE] [--image-source built|upstream] [--job-timeout SECS]

Runs scenarios (default: all) on the Docker platform: per scenario a pod of a DIND
container serving TLS on 2376 and a runner container in its network namespace, jobs
executed by act with the runner configuration from --values (default: the article's
values in fixtures/runner/values.yaml). Prints a summary table; writes
target/e2e/junit.xml, target/e2e/summary.json and, per failure, a bundle of logs.

  --list            list scenarios, what they need, and their descriptions
  --scenario NAME   run only NAME (repeatable); NAME:VARIANT runs that one variant
  --workflow PATH   run a workflow file (or each file of a folder) of your repository in
                    the same pod, job by job: one row per job and matrix combination
  --expect-failure JOB
                    a job of a --workflow that is meant to fail (its id, or one row such
                    as `test (os=debian)`): it passes when it fails, and fails when it passes
  --negative        also run each scenario's deliberately broken variant (must fail)
  --keep            leave pods running and say how to reach them
  --no-provision    change nothing on this machine: without it, a missing Docker engine
                    (Debian's docker.io) or debootstrap is installed, and a stopped
                    dockerd started, each said with its time; with it, one line names what
                    is missing (exit 2)
  --reuse           keep DIND's image store in volumes between runs (fe2e-cache-*), so job
                    images load once; cargo xtask clean removes them
  --jobs N          scenarios run concurrently on separate pods (default: 1); on kind and
                    kubernetes N chart installs in namespaces of their own, each pod pinned
                    to one of the schedulable nodes in turn where there are several
  --upgrade-matrix  validate the upgrade pairs of fixtures/upgrades.yaml: install A, run the
                    scenarios, upgrade in place to B, assert what must survive, run them again
  --upgrade-from A --upgrade-to B
                    one pair: values files on the Docker platform, chart versions on kind
  --apply-sysctl    set kernel.apparmor_restrict_unprivileged_userns=0 on this host for
                    the run and put the old value back after (changes the host: off by default);
                    on --platform kubernetes on every node, by a privileged DaemonSet
  --executor auto|act|runner|forgejo-runner
                    who runs the jobs. runner: a real runner registered with a real forge
                    (the workspace pushed, the forge schedules, the runner's daemon runs the
                    job, its log read back through the API). auto (default): forgejo-runner
                    and Forgejo where both images are here or can be pulled, else Gitea and
                    its runner where cargo xtask tools built them, else act,
                    the offline stand-in; the header says which and why. runner where no
                    forge can be had is refused in one line (exit 2). forgejo-runner is
                    runner with --forge forgejo
  --forge auto|forgejo|gitea
                    the forge a runner registers with (default auto, in the order above)
  --runner-image REF|FILE.tar   the runner's image: any forgejo-runner- or act_runner-compatible
                    one, or a `docker save` tarball (default: Forgejo's pinned forgejo-runner,
                    fixtures/kind/versions.yaml real_images; with Gitea the one built here)
  --forge-image REF|FILE.tar    the forge's image (default: the pinned Forgejo release; with
                    Gitea the one built here); --forgejo-image is the same flag
Kind platform: the local kind cluster (cargo xtask cluster), the runner chart installed
with the generated values, the scenarios run in the chart's pod. With a registered runner
the chart's runner container runs the runner's daemon with the config.yaml the chart
rendered, registered by the chart (the wrenix chart: its pre-install hook Job; the
project's test chart: its register init container), and jobs reach it only through the
forge, which runs beside the cluster; with --executor act each workflow runs in the
chart's runner container through kubectl exec. Faults that change
the pod get an install of their own; --upgrade-from/--upgrade-to (chart versions or
directories) and --upgrade-matrix run helm upgrade between the scenarios, a job in flight
during the rollout reported as what became of it:
  --dry-run         print the complete plan: every command, file and API call
  --reuse           use the existing cluster (cargo xtask cluster up) and keep it after
  --keep            keep the cluster, the release and its namespace after the run
  --cluster NAME    the kind cluster (default: fe2e, as cargo xtask cluster up makes it)
  --node-image REF  the kind node image (default: built offline, cargo xtask images --kind)
  --keep-on-failure keep the cluster, the release and its namespace when an item failed
  --registry-mirror URL  docker.io mirror for the kind node
  --certs harness|chart  the harness's rcgen set as a Secret (default), or docker:dind's own
  --registration token|offline  the chart's token hook (default) or a shared secret
  --chart DIR|REF   the runner chart to use: a directory (a fork, a wrenix checkout, the
                    project's test chart fixtures/charts/forgejo-runner-e2e) or a chart
                    reference (default: the pinned wrenix OCI chart, which needs a registry)
  --chart-version V the chart version for a reference (default: the pinned one)
  --allow-finding KEY  accept one render finding (the chart renders config.yaml or the pod
                    otherwise than asked, e.g. runner.envs): without it, any finding fails
                    the run before the cluster; allowed ones are in the header and summary
  --render          with --dry-run (implied by --chart): render the chart with helm and the
                    generated values, nothing installed, and compare with intent:
                    config.yaml and the pod (exit 1 on a finding). With --upgrade-from A
                    --upgrade-to B (versions, or two chart directories) or --upgrade-matrix:
                    both sides of each pair, and what the upgrade changes
Kubernetes platform: the same chart, pods and jobs on a cluster you already have, reached
only through its kubeconfig; never created or deleted, nothing loaded into its nodes (the
DIND and job images must be on them or pullable). A preflight first, each refusal one line
with exit 2: the API answers, the account holds every right the run and the chart's kinds
need (SelfSubjectAccessReview), the namespace admits privileged pods (Pod Security). The
run's namespaces (or, with --namespace, its releases and Secrets) are removed after it,
checked by listing what is left.
Jobs run with act unless --forge-host names where the pods reach this machine: then the
run's forge listens there and the chart's runner registers with it. A fault's kill
runs in a privileged pod on the node; its API server is never stopped. Takes --chart, --chart-version,
--allow-finding, --keep, --keep-on-failure, --jobs and:
  --kubeconfig FILE the cluster's kubeconfig (default: KUBECONFIG, else ~/.kube/config)
  --context NAME    its context (default: its current context)
  --namespace NS    install into NS, a namespace of yours that admits privileged pods,
                    instead of namespaces of the run's own; each install is a release
                    fe2e-<run>[-...] there, and only what the run made is removed
  --registry HOST[:PORT]  push the images built here (DIND, the job image the runner
                    container runs) to this registry and have the nodes pull them from it;
                    this engine must reach and trust it
  --registry-ca FILE  the registry's CA: this engine trusts it for the run
                    (/etc/docker/certs.d/HOST:PORT/ca.crt, removed after unless it was there)
  --dind-image REF  DIND's image as the nodes pull it (yours, e.g. docker.io/library/
                    docker:27-dind, or its -rootless with --dind rootless): used for the pod
                    and the node facts, never built nor pushed here
  --forge-host ADDR an IPv4 address of this machine the cluster's pods reach: the run's
                    forge listens there (a free port) and the chart's runner registers
                    with it (--executor runner; auto takes it)
Exit status: 0 when no scenario failed and at least one passed; 1 otherwise; 2 for usage.
";

fn parse(mut args: Args) -> Result<Option<Options>> {
    let mut o = Options {
        scenarios: Vec::new(),
        workflows: Vec::new(),
        expect_failure: Vec::new(),
        list: false,
        keep: false,
        negative: false,
        dind: DindMode::Rootful,
        jobs: 1,
        values: harness::fixtures_dir().join(ARTICLE_VALUES),
        image_source: ImageSource::Built,
        deadlines: Deadlines::default(),
        apply_sysctl: false,
        platform: Platform::Docker,
        dry_run: false,
        reuse: false,
        keep_on_failure: false,
        registry_mirror: None,
        node_image: None,
        cluster: "fe2e".into(),
        existing: Default::default(),
        chart: None,
        chart_version: None,
        allow_findings: Vec::new(),
        render: false,
        certs: CertMode::Harness,
        registration: Registration::Token,
        upgrade_matrix: false,
        upgrade_from: None,
        upgrade_to: None,
        executor: Default::default(),
        no_provision: false,
    };
    while let Some(arg) = args.next()? {
        match arg {
            Arg::Long("platform") => o.platform = args.value("--platform")?.parse()?,
            Arg::Long("dry-run") => o.dry_run = true,
            Arg::Long("no-provision") => o.no_provision = true,
            Arg::Long("upgrade-matrix") => o.upgrade_matrix = true,
            Arg::Long("upgrade-from") => o.upgrade_from = Some(args.value("--upgrade-from")?),
            Arg::Long("upgrade-to") => o.upgrade_to = Some(args.value("--upgrade-to")?),
            Arg::Long("reuse") => o.reuse = true,
            Arg::Long("keep-on-failure") => o.keep_on_failure = true,
            Arg::Long("registry-mirror") => o.registry_mirror = Some(args.value("--registry-mirror")?),
            Arg::Long("node-image") => o.node_image = Some(args.value("--node-image")?),
            Arg::Long("cluster") => o.cluster = args.value("--cluster")?,
            Arg::Long("kubeconfig") => o.existing.kubeconfig = Some(PathBuf::from(args.value("--kubeconfig")?)),
            Arg::Long("context") => o.existing.context = Some(args.value("--context")?),
            Arg::Long("namespace") => o.existing.namespace = Some(args.value("--namespace")?),
            Arg::Long("registry") => o.existing.registry = Some(args.value("--registry")?),
            Arg::Long("registry-ca") => o.existing.registry_ca = Some(PathBuf::from(args.value("--registry-ca")?)),
            Arg::Long("dind-image") => o.existing.dind_image = Some(args.value("--dind-image")?),
            Arg::Long("forge-host") => {
                let value = args.value("--forge-host")?;
                let ip = value.parse().map_err(|_| {
                    user_error!("--forge-host is an IPv4 address of this machine (e.g. 10.0.0.5), not `{value}`")
                })?;
                o.existing.forge_host = Some(ip);
            }
            Arg::Long("chart") => o.chart = Some(args.value("--chart")?),
            Arg::Long("chart-version") => o.chart_version = Some(args.value("--chart-version")?),
            Arg::Long("allow-finding") => o.allow_findings.push(args.value("--allow-finding")?),
            Arg::Long("render") => o.render = true,
            Arg::Long("certs") => o.certs = args.value("--certs")?.parse()?,
            Arg::Long("executor") => o.executor.executor(&args.value("--executor")?)?,
            Arg::Long("forge") => o.executor.forge = args.value("--forge")?.parse()?,
            Arg::Long("runner-image") => o.executor.runner_image = Some(args.value("--runner-image")?.parse()?),
            Arg::Long("forge-image" | "forgejo-image") => {
                o.executor.forge_image = Some(args.value("--forge-image")?.parse()?)
            }
            Arg::Long("registration") => o.registration = args.value("--registration")?.parse()?,
            Arg::Long("scenario") => o.scenarios.push(args.value("--scenario")?),
            Arg::Long("workflow") => o.workflows.push(PathBuf::from(args.value("--workflow")?)),
            Arg::Long("expect-failure") => o.expect_failure.push(args.value("--expect-failure")?),
            Arg::Long("list") => o.list = true,
            Arg::Long("keep") => o.keep = true,
            Arg::Long("negative") => o.negative = true,
            Arg::Long("apply-sysctl") => o.apply_sysctl = true,
            Arg::Long("dind") => o.dind = args.value("--dind")?.parse()?,
            Arg::Long("jobs") => {
                let text = args.value("--jobs")?;
                o.jobs = text
                    .parse()
                    .ok()
                    .filter(|n| (1..=16).contains(n))
                    .ok_or_else(|| user_error!("--jobs takes a number from 1 to 16, not `{text}`"))?;
            }
            Arg::Long("job-timeout") => {
                let text = args.value("--job-timeout")?;
                let secs: u64 = text
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| user_error!("--job-timeout takes seconds, not `{text}`"))?;
                o.deadlines.job = Duration::from_secs(secs);
            }
            Arg::Long("values") => o.values = PathBuf::from(args.value("--values")?),
            Arg::Long("image-source") => o.image_source = crate::images::parse_source(&args.value("--image-source")?)?,
            Arg::Long("help") | Arg::Short('h') => {
                print!("{HELP}");
                return Ok(None);
            }
            other => return Err(unexpected("e2e", other)),
        }
    }
    if !o.expect_failure.is_empty() && o.workflows.is_empty() {
        return Err(user_error!("--expect-failure names a job of a --workflow; add the --workflow it belongs to"));
    }
    if o.list && (!o.workflows.is_empty() || o.keep) {
        return Err(user_error!("--list only lists; it does not go with --workflow or --keep"));
    }
    if o.upgrade_from.is_some() != o.upgrade_to.is_some() {
        return Err(user_error!("--upgrade-from and --upgrade-to go together"));
    }
    if o.upgrade_matrix && o.upgrade_from.is_some() {
        return Err(user_error!(
            "--upgrade-matrix runs the pairs in fixtures/upgrades.yaml; it does not go with --upgrade-from/--upgrade-to"
        ));
    }
    if (o.upgrade_matrix || o.upgrade_from.is_some()) && (o.keep || !o.workflows.is_empty() || o.negative) {
        return Err(user_error!("upgrades do not go with --keep, --workflow or --negative"));
    }
    o.executor.upgrades = o.upgrade_matrix || o.upgrade_from.is_some();
    o.executor.provision = !o.no_provision;
    if o.render && !o.dry_run {
        return Err(user_error!("--render goes with --dry-run (it renders instead of installing)"));
    }
    if o.dry_run && o.platform != Platform::Kind {
        return Err(user_error!("--dry-run prints the kind platform's plan: add --platform kind"));
    }
    if !o.platform.is_kubernetes()
        && (o.keep_on_failure || o.chart.is_some() || o.chart_version.is_some() || !o.allow_findings.is_empty())
    {
        return Err(user_error!(
            "--keep-on-failure, --chart, --chart-version and --allow-finding are for --platform kind or kubernetes"
        ));
    }
    if o.platform != Platform::Kind && (o.registry_mirror.is_some() || o.node_image.is_some() || o.cluster != "fe2e") {
        return Err(user_error!("--registry-mirror, --node-image and --cluster are for --platform kind"));
    }
    let e = &o.existing;
    if o.platform != Platform::Kubernetes
        && (e.kubeconfig.is_some()
            || e.context.is_some()
            || e.namespace.is_some()
            || e.registry.is_some()
            || e.registry_ca.is_some()
            || e.forge_host.is_some()
            || e.dind_image.is_some())
    {
        return Err(user_error!(
            "--kubeconfig, --context, --namespace, --registry, --registry-ca, --forge-host and --dind-image are for --platform kubernetes"
        ));
    }
    o.executor.forge_host = e.forge_host.is_some();
    if e.registry_ca.is_some() && e.registry.is_none() {
        return Err(user_error!("--registry-ca is the CA of a --registry: add --registry HOST[:PORT]"));
    }
    if o.platform == Platform::Kubernetes && o.reuse {
        return Err(user_error!(
            "--reuse is not for --platform kubernetes: it keeps image stores on this host, and a cluster of yours is never created or removed"
        ));
    }
    // Its nodes are not this host: a privileged DaemonSet sets the knob there and restores it.
    o.existing.apply_sysctl = o.apply_sysctl && o.platform == Platform::Kubernetes;
    if o.platform.is_kubernetes() && o.jobs > 1 && (o.upgrade_matrix || o.upgrade_from.is_some()) {
        return Err(user_error!("--jobs does not go with upgrades on Kubernetes: an upgrade runs its items in turn"));
    }
    if o.keep && o.keep_on_failure {
        return Err(user_error!("--keep keeps everything already; --keep-on-failure goes without it"));
    }
    Ok(Some(o))
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let Some(o) = parse(args)? else {
        return Ok(ExitCode::SUCCESS);
    };
    let catalogue = scenarios::all();
    if o.list {
        print_list(&catalogue);
        return Ok(ExitCode::SUCCESS);
    }
    let values = load_values(&o.values).map_err(|e| user_error!("{e}"))?;
    let items = select(&catalogue, &o)?;
    if o.platform == Platform::Kind && o.dry_run {
        let upgrade =
            crate::kind::Upgrade { matrix: o.upgrade_matrix, pair: o.upgrade_from.clone().zip(o.upgrade_to.clone()) };
        return crate::kind::run(&o, items, values, upgrade).await;
    }
    let progress = Progress::new();
    // A fresh machine gets its Docker engine and debootstrap here, each step said.
    harness::node::provision::machine(!o.no_provision, &progress).await?;
    let sysctl = Sysctl::new(Path::new("/"));
    // One knob for the host and its kind nodes: they share the kernel. A cluster of the
    // user's has its own nodes (`cluster::node_sysctl`).
    let apply_sysctl = o.apply_sysctl && o.platform != Platform::Kubernetes;
    if apply_sysctl {
        match sysctl.apply(false)? {
            ApplyOutcome::NotApplicable => progress.say(
                "--apply-sysctl: this kernel has no kernel.apparmor_restrict_unprivileged_userns; nothing to change",
            ),
            ApplyOutcome::Set { previous, .. } => progress.say(format!(
                "--apply-sysctl: kernel.apparmor_restrict_unprivileged_userns 0 (was {previous}) for this run"
            )),
            ApplyOutcome::AlreadyApplied { original } => {
                progress.say(format!("--apply-sysctl: already 0 from an earlier apply (original {original})"))
            }
        }
    }
    let result = if o.platform.is_kubernetes() {
        let upgrade =
            crate::kind::Upgrade { matrix: o.upgrade_matrix, pair: o.upgrade_from.clone().zip(o.upgrade_to.clone()) };
        crate::kind::run(&o, items, values, upgrade).await
    } else {
        run_and_report(o, items, values, &new_run_id(), progress).await
    };
    // Also after a failed or interrupted run: the host gets its value back.
    if apply_sysctl && let RestoreOutcome::Restored { value, .. } = sysctl.restore()? {
        progress.say(format!("restored kernel.apparmor_restrict_unprivileged_userns = {value}"));
    }
    result
}

async fn run_and_report(
    o: Options,
    items: Vec<RunItem>,
    values: harness::config::ChartValues,
    run_id: &str,
    progress: Progress,
) -> Result<ExitCode> {
    let run_id = run_id.to_owned();
    let upgrades = docker_upgrades(&o)?;
    let opts = DockerRunOptions {
        run_id: run_id.clone(),
        items,
        values,
        dind: o.dind,
        image_source: o.image_source,
        keep: o.keep,
        reuse: o.reuse,
        jobs: o.jobs,
        deadlines: o.deadlines,
        upgrades,
    };
    let executor = o.executor.clone();
    crate::finish::ended(harness::run::run(harness::run::Target::Docker(opts), executor, progress).await?)
}

/// The Docker-platform upgrade pairs asked for (none without an upgrade flag).
fn docker_upgrades(o: &Options) -> Result<Vec<UpgradePair>> {
    if o.upgrade_matrix {
        return docker_pairs(&harness::fixtures_dir().join("upgrades.yaml"));
    }
    let Some((from, to)) = o.upgrade_from.clone().zip(o.upgrade_to.clone()) else {
        return Ok(Vec::new());
    };
    let side = |path: &str| -> Result<UpgradeSide> {
        let values = load_values(Path::new(path)).map_err(|e| user_error!("{e}"))?;
        let dind = if o.dind == DindMode::Rootless { ImageKind::DindRootless } else { ImageKind::Dind };
        Ok(UpgradeSide { dind, values: path.to_owned(), config: values.runner.config.file })
    };
    Ok(vec![UpgradePair { name: "from-to".into(), from: side(&from)?, to: side(&to)? }])
}

fn print_list(catalogue: &[harness::scenario::Scenario]) {
    println!("{:<20} {:<24} DESCRIPTION", "SCENARIO", "NEEDS");
    for s in catalogue {
        let mut needs = Vec::new();
        if !s.needs.platforms.is_empty() {
            needs.push(format!(
                "platform {}",
                s.needs.platforms.iter().map(|p| format!("{p:?}").to_lowercase()).collect::<Vec<_>>().join("|")
            ));
        }
        if !s.needs.dind.is_empty() {
            needs.push(format!("dind {}", s.needs.dind.iter().map(|d| d.name()).collect::<Vec<_>>().join("|")));
        }
        let needs = if needs.is_empty() { "any platform, any DIND".to_owned() } else { needs.join(", ") };
        println!("{:<20} {:<24} {}", s.name, needs, s.description);
        for v in s.variants {
            let (when, what) = match v.expect {
                Expect::WrongValue(key) => {
                    ("(with --negative)", format!("negative: the job must report a wrong `{key}`"))
                }
                Expect::Fault => {
                    let fault = v.fault.map(|f| (f.failure(), f.deadlines(harness::fault::Deadlines::default())));
                    let what = fault.map_or_else(|| "a failure".to_owned(), |(f, d)| f.describe(d));
                    ("(with --negative)", format!("negative: the pod must fail with {what}"))
                }
                Expect::Control(_) => ("(every run)", "control: its own checks must pass".to_owned()),
            };
            println!("{:<20} {:<24} {what}", format!("  {}:{}", s.name, v.name), when);
        }
    }
}

fn select(catalogue: &[harness::scenario::Scenario], o: &Options) -> Result<Vec<RunItem>> {
    let mut items = Vec::new();
    // `NAME` is a scenario (with its controls, and its negatives under --negative);
    // `NAME:VARIANT` is that one variant alone.
    let mut whole = Vec::new();
    for wanted in &o.scenarios {
        let (name, variant) = wanted.split_once(':').map_or((wanted.as_str(), None), |(n, v)| (n, Some(v)));
        let Some(s) = catalogue.iter().find(|s| s.name == name) else {
            let names: Vec<&str> = catalogue.iter().map(|s| s.name).collect();
            return Err(user_error!("unknown scenario `{name}`; the scenarios are: {}", names.join(", ")));
        };
        match variant {
            None => whole.push(name),
            Some(v) => {
                let Some(found) = s.variants.iter().find(|x| x.name == v) else {
                    let names: Vec<String> = s.variants.iter().map(|x| format!("{name}:{}", x.name)).collect();
                    return Err(user_error!("`{name}` has no variant `{v}`; its variants: {}", names.join(", ")));
                };
                items.push(RunItem::variant(*s, *found));
            }
        }
    }
    let everything = o.scenarios.is_empty() && o.workflows.is_empty();
    for s in catalogue.iter().filter(|s| everything || whole.contains(&s.name)) {
        items.push(RunItem::scenario(*s));
        let variants = s.variants.iter().filter(|v| v.always() || o.negative);
        items.extend(variants.map(|v| RunItem::variant(*s, *v)));
    }
    let mut jobs = Vec::new();
    for path in &o.workflows {
        for mut item in user_workflows(path)? {
            jobs.extend(job_names(&item)?);
            item.expect_failure = o.expect_failure.clone();
            items.push(item);
        }
    }
    if let Some(unknown) = o.expect_failure.iter().find(|e| !jobs.contains(e)) {
        let mut seen = std::collections::HashSet::new();
        jobs.retain(|j| seen.insert(j.clone()));
        return Err(user_error!(
            "--expect-failure {unknown}: no such job in the --workflow files (jobs: {})",
            jobs.join(", ")
        ));
    }
    Ok(items)
}

/// The job ids and row names of a user workflow; its mistakes (`needs` of a job that is
/// not there, a cycle) are the user's, said before anything starts.
fn job_names(item: &RunItem) -> Result<Vec<String>> {
    let file = harness::workflow::files(&item.sources, &item.workflow).into_iter().next();
    let Some(file) = file else { return Ok(Vec::new()) };
    let text = std::fs::read_to_string(&file).with_context(|| format!("read {}", file.display()))?;
    let plan = harness::workflow::plan::plan(&text, &[]).map_err(|why| user_error!("{}: {why}", file.display()))?;
    Ok(plan.jobs.iter().flat_map(|j| [j.job.clone(), j.row.clone()]).collect())
}

/// One item per workflow file: `path` itself, or each `.yml`/`.yaml` file of the folder.
fn user_workflows(path: &Path) -> Result<Vec<RunItem>> {
    let item = user_workflow(path)?;
    let files = harness::workflow::files(&item.sources, &item.workflow);
    if files.is_empty() {
        return Err(user_error!("--workflow {}: no .yml or .yaml workflow files there", path.display()));
    }
    if files.len() == 1 && files[0].is_file() && path.is_file() {
        return Ok(vec![item]);
    }
    files.iter().map(|f| user_workflow(f)).collect()
}

/// A workflow path becomes (repository root, path inside it): the root is the folder that
/// holds `.forgejo` or `.github`, else the git top level, else the workflow's folder.
fn user_workflow(path: &Path) -> Result<RunItem> {
    let abs = std::fs::canonicalize(path)
        .map_err(|_| user_error!("--workflow {}: no such file or folder", path.display()))?;
    let root = abs
        .ancestors()
        .find(|a| a.file_name().is_some_and(|n| n == ".forgejo" || n == ".github"))
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| if abs.is_dir() { abs.clone() } else { abs.parent().unwrap_or(&abs).to_path_buf() });
    let rel = abs.strip_prefix(&root).context("workflow inside its repository")?.display().to_string();
    let rel = if rel.is_empty() { ".".to_owned() } else { rel };
    if abs.is_file() {
        let text = std::fs::read_to_string(&abs).with_context(|| format!("read {}", abs.display()))?;
        if let Err(e) = serde_yaml::from_str::<serde_yaml::Value>(&text) {
            let at = e.location().map(|l| format!(":{}:{}", l.line(), l.column())).unwrap_or_default();
            return Err(user_error!(
                "{}{at}: not valid YAML: {}",
                path.display(),
                e.to_string().split(" at line ").next().unwrap_or_default()
            ));
        }
    }
    Ok(RunItem::user_workflow(root, rel))
}
