//! `cargo xtask bench`: where the time goes, cold and warm, measured over several runs.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use harness::Progress;
use harness::config::{ARTICLE_VALUES, load_values};
use harness::docker::images::{self, ImageSource};
use harness::docker::{DindMode, labels};
use harness::platform::RunItem;
use harness::platform::docker::Deadlines;
use harness::report::Summary;
use harness::run::{DockerRunOptions, new_run_id};
use harness::scenario::Platform;
use harness::user_error;
use serde::Serialize;

use crate::args::{Arg, Args, unexpected};

pub const HELP: &str = "\
cargo xtask bench [--platform docker|kind|kubernetes] [--runs N] [--scenario NAME]... [--jobs N] [--skip-cold|--cold]
                  [--cluster NAME] [--chart DIR]

Runs the Docker-platform suite cold (the harness's images removed, so they are built from
Debian packages again; empty DIND stores) and warm (images present, --reuse image stores
primed by one unmeasured run), N times each (default 2), and prints min/median/max per
phase (image build, pod start, DIND ready, image load into DIND, each job), the wall time
per run, the overhead per scenario (scenario time minus the job's own steps as the log
reports them: the executor's setup and teardown included) and the harness alone per
scenario (scenario time minus the job's, from the executor's start to its end). The runs take `--executor auto`; where that is a
registered runner (Gitea and its runner built here, or Forgejo's images present), the warm
runs are repeated with act (`warm act: …`), so the loop's overhead stands beside act's in
one run, with the push-to-job-start latency (the runner's first log row against the
moment the push returned). --cold measures the cold runs only: what a first run pays after
compiling (the images built, the DIND stores filled); --skip-cold the warm ones only.
Default scenarios: docker-build, testcontainers,
tls-enforced. Writes target/e2e/bench.json. Removes the harness's images (they are built
again); touches nothing else.

--platform kind: cold runs create their cluster and delete it at the end (phases: cluster
create, helm install, pod Ready, DIND answering, image load, each scenario's workspace
upload and job, teardown); warm runs reuse one cluster, primed by an unmeasured run and
deleted afterwards. The cluster is the bench's own (--cluster, default fe2e-bench: it must
not exist before); the chart is --chart (default the project's test chart). Ctrl-C removes
whatever the bench had made.

--platform kubernetes: the same own cluster, made by a first unmeasured run and deleted at
the end, measured both ways with act in one run: `warm act` on kind's path, `warm
kubernetes` reached only through its kubeconfig as a cluster of the user's (its setup
phases: preflight, images, node facts), so the existing-cluster path's overhead per
scenario stands beside kind's.
";

#[derive(Serialize)]
struct Stat {
    name: String,
    samples: usize,
    min: f64,
    median: f64,
    max: f64,
}

fn stat(name: String, mut v: Vec<f64>) -> Stat {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    let median = if n == 0 {
        0.0
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Stat { name, samples: n, min: v.first().copied().unwrap_or(0.0), median, max: v.last().copied().unwrap_or(0.0) }
}

pub async fn run(mut args: Args) -> Result<ExitCode> {
    let (mut runs, mut names, mut jobs, mut skip_cold, mut cold_only) = (2usize, Vec::new(), 1usize, false, false);
    let (mut platform, mut cluster, mut chart) = (Platform::Docker, None::<String>, None::<String>);
    while let Some(arg) = args.next()? {
        match arg {
            Arg::Long("platform") => platform = args.value("--platform")?.parse()?,
            Arg::Long("cluster") => cluster = Some(args.value("--cluster")?),
            Arg::Long("chart") => chart = Some(args.value("--chart")?),
            Arg::Long("runs") => {
                let t = args.value("--runs")?;
                runs = t
                    .parse()
                    .ok()
                    .filter(|n| (1..=20).contains(n))
                    .ok_or_else(|| user_error!("--runs takes 1 to 20, not `{t}`"))?;
            }
            Arg::Long("scenario") => names.push(args.value("--scenario")?),
            Arg::Long("jobs") => {
                let t = args.value("--jobs")?;
                jobs = t
                    .parse()
                    .ok()
                    .filter(|n| (1..=16).contains(n))
                    .ok_or_else(|| user_error!("--jobs takes 1 to 16, not `{t}`"))?;
            }
            Arg::Long("skip-cold") => skip_cold = true,
            Arg::Long("cold") => cold_only = true,
            Arg::Long("help") | Arg::Short('h') => {
                print!("{HELP}");
                return Ok(ExitCode::SUCCESS);
            }
            other => return Err(unexpected("bench", other)),
        }
    }
    if skip_cold && cold_only {
        return Err(user_error!("--cold measures only the cold runs and --skip-cold only the warm ones: give one"));
    }
    if cold_only && platform == Platform::Kubernetes {
        return Err(user_error!(
            "--cold is not for --platform kubernetes: it measures a cluster that exists, warm (try --platform kind --cold)"
        ));
    }
    if names.is_empty() {
        names = ["docker-build", "testcontainers", "tls-enforced"].map(String::from).to_vec();
    }
    let catalogue = crate::scenarios::all();
    let mut items = Vec::new();
    for n in &names {
        let s = catalogue.iter().find(|s| s.name == n).ok_or_else(|| user_error!("unknown scenario `{n}`"))?;
        items.push(RunItem::scenario(*s));
    }
    let values = load_values(&harness::fixtures_dir().join(ARTICLE_VALUES)).map_err(|e| user_error!("{e}"))?;
    let docker = harness::docker::connect().await?;
    let progress = Progress::new();
    let mut summaries: Vec<(&str, Summary)> = Vec::new();
    let mut walls: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let modes: &[&str] = match (skip_cold, cold_only) {
        (true, _) => &["warm"],
        (_, true) => &["cold"],
        _ => &["cold", "warm"],
    };
    match platform {
        Platform::Docker => {}
        Platform::Kind | Platform::Kubernetes => {
            let cluster = cluster.unwrap_or_else(|| "fe2e-bench".into());
            let chart = chart
                .unwrap_or_else(|| harness::fixtures_dir().join("charts/forgejo-runner-e2e").display().to_string());
            let bench = KindBench { cluster, chart, items: &items, values: &values, progress };
            // A cluster of the user's beside kind's: the same cluster, the same executor, the
            // two providers' paths in one run (warm only: the cluster exists either way).
            let modes: &[&str] =
                if platform == Platform::Kubernetes { &["warm act", "warm kubernetes"] } else { modes };
            bench.runs(modes, runs, &mut summaries, &mut walls).await?;
            return print_stats(&names, runs, jobs, &summaries, walls);
        }
    }
    let mut modes = modes.to_vec();
    for i in 0.. {
        let Some(&mode) = modes.get(i) else { break };
        let executor = executor_of(mode);
        if mode.starts_with("warm") {
            progress.say(format!("{mode}: priming the image stores (not measured)"));
            let primed = one(&items, &values, jobs, true, executor.clone(), &progress).await?;
            // A registered runner measured: act's overhead beside it, in the same run.
            if mode == "warm" && primed.executor != "act" {
                modes.push("warm act");
            }
        }
        for i in 1..=runs {
            if mode == "cold" {
                for image in images::plan(&harness::fixtures_dir())? {
                    let _ = docker
                        .remove_image(&image.reference(), None::<bollard::query_parameters::RemoveImageOptions>, None)
                        .await;
                }
                harness::docker::sweep(&docker, labels::CACHE, "true").await?;
            }
            progress.say(format!("{mode} run {i}/{runs}"));
            let t = Instant::now();
            let summary = one(&items, &values, jobs, mode.starts_with("warm"), executor.clone(), &progress).await?;
            walls.entry(mode).or_default().push(t.elapsed().as_secs_f64());
            if !summary.all_passed() {
                return Err(anyhow::anyhow!(
                    "{mode} run {i}: {} scenarios failed; a benchmark of failing runs measures nothing",
                    summary.failed
                ));
            }
            summaries.push((mode, summary));
        }
    }
    print_stats(&names, runs, jobs, &summaries, walls)
}

/// The table and target/e2e/bench.json: min/median/max per phase, wall per run, overhead.
fn print_stats(
    names: &[String],
    runs: usize,
    jobs: usize,
    summaries: &[(&str, Summary)],
    walls: BTreeMap<&str, Vec<f64>>,
) -> Result<ExitCode> {
    let mut samples: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for (mode, s) in summaries {
        for (phase, secs) in &s.setup_phases {
            samples.entry(format!("{mode}: {phase}")).or_default().push(*secs);
        }
        for r in &s.results {
            for (phase, secs) in &r.phases {
                samples.entry(format!("{mode}: {phase}")).or_default().push(*secs);
            }
            if let Some(job) = r.phases.iter().find(|(p, _)| p == "job") {
                samples.entry(format!("{mode}: job {}", r.name)).or_default().push(job.1);
                // The executor's own setup and teardown (act's job container, the runner's
                // task fetch) are inside the job's time; this is the harness's alone.
                samples
                    .entry(format!("{mode}: harness alone per scenario"))
                    .or_default()
                    .push(r.duration.as_secs_f64() - job.1);
            }
            if let Some(steps) = r.job_steps_seconds {
                samples
                    .entry(format!("{mode}: harness overhead per scenario"))
                    .or_default()
                    .push(r.duration.as_secs_f64() - steps);
            }
        }
    }
    let mut stats: Vec<Stat> = samples.into_iter().map(|(k, v)| stat(k, v)).collect();
    stats.extend(walls.into_iter().map(|(m, v)| stat(format!("{m}: wall per run"), v)));
    println!("{:<52} {:>4} {:>8} {:>8} {:>8}", "PHASE (seconds)", "N", "MIN", "MEDIAN", "MAX");
    for s in &stats {
        println!("{:<52} {:>4} {:>8.2} {:>8.2} {:>8.2}", s.name, s.samples, s.min, s.median, s.max);
    }
    let path = harness::output_dir().join("bench.json");
    std::fs::create_dir_all(harness::output_dir())?;
    let json = serde_json::json!({ "scenarios": names, "runs": runs, "jobs": jobs, "stats": stats });
    std::fs::write(&path, serde_json::to_string_pretty(&json)?).with_context(|| format!("write {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(ExitCode::SUCCESS)
}

/// The kind half of the bench: its own cluster, made and removed here.
struct KindBench<'a> {
    cluster: String,
    chart: String,
    items: &'a [RunItem],
    values: &'a harness::config::ChartValues,
    progress: Progress,
}

impl KindBench<'_> {
    async fn runs<'m>(
        &self,
        modes: &[&'m str],
        runs: usize,
        summaries: &mut Vec<(&'m str, Summary)>,
        walls: &mut BTreeMap<&'m str, Vec<f64>>,
    ) -> Result<()> {
        if harness::cluster::Cluster::find(&self.cluster).await?.exists().await? {
            return Err(user_error!(
                "cluster {} exists: the bench measures clusters it makes and deletes; pick another --cluster, or cargo xtask cluster down --name {}",
                self.cluster,
                self.cluster
            ));
        }
        let result = async {
            for &mode in modes {
                if mode.starts_with("warm") {
                    self.progress.say(format!("{mode}: priming the cluster with one run (not measured)"));
                    self.one(true, mode).await?;
                }
                for i in 1..=runs {
                    self.progress.say(format!("kind {mode} run {i}/{runs}"));
                    let t = Instant::now();
                    let summary = self.one(mode.starts_with("warm"), mode).await?;
                    walls.entry(mode).or_default().push(t.elapsed().as_secs_f64());
                    if !summary.all_passed() {
                        anyhow::bail!(
                            "kind {mode} run {i}: {} scenarios failed; a benchmark of failing runs measures nothing",
                            summary.failed
                        );
                    }
                    summaries.push((mode, summary));
                }
            }
            Ok(())
        };
        // A signal during a run ends that run (harness::run cleans up) and with it the bench;
        // one between runs ends the bench here.
        let outcome = tokio::select! {
            r = result => r,
            signal = harness::signal::interrupted() => Err(user_error!("interrupted by {signal}: the bench's cluster {} goes", self.cluster)),
        };
        // Whatever happened, the bench's cluster goes.
        if let Ok(c) = harness::cluster::Cluster::find(&self.cluster).await
            && c.exists().await.unwrap_or(false)
        {
            c.delete(&self.progress).await?;
        }
        outcome
    }

    /// One run of `mode`: on kind's path (`kind …`), or — `… kubernetes` — on the same
    /// cluster reached only through its kubeconfig, as a cluster of the user's.
    async fn one(&self, keep_cluster: bool, mode: &str) -> Result<Summary> {
        let kind = harness::platform::kind::ClusterChoice::Kind(harness::cluster::ClusterOptions {
            name: self.cluster.clone(),
            dind: DindMode::Rootful,
            node_image: None,
            smoke_when_reused: false,
            nodes: None,
            registry: false,
        });
        let cluster = match mode.ends_with(" kubernetes") {
            true => harness::platform::kind::ClusterChoice::Existing(harness::cluster::existing::ExistingOptions {
                kubeconfig: Some(harness::cluster::state_dir(&self.cluster).join("kubeconfig")),
                ..Default::default()
            }),
            false => kind,
        };
        let opts = harness::platform::kind::KindRunOptions {
            run_id: new_run_id(),
            items: self.items.to_vec(),
            values: self.values.clone(),
            dind: DindMode::Rootful,
            certs: harness::kind::CertMode::Harness,
            cluster,
            chart: self.chart.clone(),
            chart_version: String::new(),
            keep_cluster,
            keep: false,
            keep_on_failure: false,
            deadlines: Deadlines::default(),
            jobs: 1,
            upgrades: Vec::new(),
            allow_findings: Vec::new(),
        };
        // A cluster of the user's takes act (`executor::choice`), as `… act` asks.
        match harness::run::run(harness::run::Target::Kind(opts), executor_of(mode), self.progress).await? {
            harness::run::Ended::Done(summary) => Ok(*summary),
            harness::run::Ended::Interrupted(signal) => {
                Err(user_error!("interrupted by {signal}: the bench's cluster {} goes", self.cluster))
            }
        }
    }
}

/// The executor a mode's runs take: `… act` modes act, the others `auto`.
fn executor_of(mode: &str) -> harness::executor::choice::Request {
    let mut request = harness::executor::choice::Request { provision: true, ..Default::default() };
    if mode.ends_with(" act") {
        request.choice = harness::executor::choice::Choice::Act;
    }
    request
}

async fn one(
    items: &[RunItem],
    values: &harness::config::ChartValues,
    jobs: usize,
    reuse: bool,
    executor: harness::executor::choice::Request,
    progress: &Progress,
) -> Result<Summary> {
    let run_id = new_run_id();
    let opts = DockerRunOptions {
        run_id: run_id.clone(),
        items: items.to_vec(),
        values: values.clone(),
        dind: DindMode::Rootful,
        image_source: ImageSource::Built,
        keep: false,
        reuse,
        jobs,
        deadlines: Deadlines::default(),
        upgrades: Vec::new(),
    };
    match harness::run::run(harness::run::Target::Docker(opts), executor, *progress).await? {
        harness::run::Ended::Done(summary) => Ok(*summary),
        harness::run::Ended::Interrupted(signal) => {
            Err(user_error!("interrupted by {signal}: removed what bench run {run_id} had started"))
        }
    }
}
