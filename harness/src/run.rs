//! The run loop of every platform: [`run`] prepares the platform asked for, drives it
//! through the steps every platform shares (`drive`: artifacts, items or upgrades,
//! teardown, summary) and, on SIGINT/SIGTERM or an error, removes what the run created.
//! What a platform must answer is `platform::seam::PlatformRun`; the item loop is
//! `platform::each_item`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;

use crate::Progress;
use crate::docker::{self, labels};
use crate::platform::RunItem;
pub use crate::platform::docker_setup::DockerRunOptions;
use crate::platform::seam::PlatformRun;
use crate::report::Summary;

/// What a run runs on, with that platform's options.
// One per run, moved once into its platform: the larger variant's size costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Target {
    Docker(DockerRunOptions),
    Kind(crate::platform::kind::KindRunOptions),
}

/// How a run ended.
pub enum Ended {
    Done(Box<Summary>),
    /// By SIGINT or SIGTERM; what the run had created is gone.
    Interrupted(&'static str),
}

/// Every run, on either platform: the platform's run to its summary; on SIGINT/SIGTERM,
/// or an error, what the run created is removed by its label before this returns.
pub async fn run(target: Target, executor: crate::executor::choice::Request, progress: Progress) -> Result<Ended> {
    // Who runs the jobs is decided once, before anything is made, the same way for every
    // platform (see `executor::choice`).
    let on = match &target {
        Target::Docker(_) => crate::scenario::Platform::Docker,
        Target::Kind(o) => o.cluster.platform(),
    };
    let decided = executor.decide(&docker::connect().await?, on, &progress).await?;
    if decided.forge.is_none() {
        crate::node::provision::act(executor.provision, &progress).await?;
    }
    let line = decided.describe();
    let cleanup = Cleanup::of(&target);
    let platform = async {
        let start = Instant::now();
        let executor: Box<dyn crate::executor::Executor> = match &decided.forge {
            None => Box::new(crate::executor::act::Act::load()?),
            Some(f) => Box::new(crate::executor::forgejo_runner::ForgejoRunner { image: f.runner_image.clone() }),
        };
        match target {
            Target::Docker(opts) => {
                // The platform counts the plain items it makes pods ahead for.
                let items = opts.items.clone();
                let run_id = opts.run_id.clone();
                let real = decided.forge.clone();
                let platform = crate::platform::docker_setup::prepare(opts, executor, &line, real, progress);
                let platform = platform.await?;
                drive(platform, &items, &run_id, start, &progress).await
            }
            Target::Kind(mut opts) => {
                let items = std::mem::take(&mut opts.items);
                let run_id = opts.run_id.clone();
                let platform = crate::platform::kind::prepare(opts, executor, &line, decided.forge.clone(), progress);
                let platform = platform.await?;
                drive(platform, &items, &run_id, start, &progress).await
            }
        }
    };
    let result = tokio::select! {
        result = platform => result,
        signal = crate::signal::interrupted() => {
            progress.say(format!("interrupted by {signal}: removing what run {} created", cleanup.run_id));
            cleanup.interrupted(&progress).await;
            return Ok(Ended::Interrupted(signal));
        }
    };
    match result {
        Ok(summary) => Ok(Ended::Done(Box::new(summary))),
        Err(e) => {
            cleanup.failed(&progress).await;
            Err(e)
        }
    }
}

/// What removing a run's things needs once its platform's future is gone.
struct Cleanup {
    run_id: String,
    /// The cluster, and whether a kind cluster stays up (`--reuse`, `--keep`).
    cluster: Option<(crate::platform::kind::ClusterChoice, bool)>,
}

impl Cleanup {
    fn of(target: &Target) -> Self {
        match target {
            Target::Docker(o) => Self { run_id: o.run_id.clone(), cluster: None },
            Target::Kind(o) => Self { run_id: o.run_id.clone(), cluster: Some((o.cluster.clone(), o.keep_cluster)) },
        }
    }

    async fn interrupted(&self, progress: &Progress) {
        if let Some((cluster, keep)) = &self.cluster {
            crate::platform::kind::interrupted_cleanup(cluster, &self.run_id, *keep, progress).await
        }
        // The engine's things of the run: pods, volumes, networks, a forge beside a cluster
        // (kind's nodes carry no run label: a kept cluster stays).
        self.sweep(progress).await
    }

    /// After an error the kind platform has torn down what it could; the engine's
    /// containers of the run (a forge beside the cluster among them) go here.
    async fn failed(&self, progress: &Progress) {
        self.sweep(progress).await;
    }

    async fn sweep(&self, progress: &Progress) {
        let Ok(docker) = docker::connect().await else { return };
        match docker::sweep(&docker, labels::RUN, &self.run_id).await {
            // Nothing made yet (a mistake named before anything started): nothing to say.
            Ok(removed)
                if removed.containers.is_empty() && removed.volumes.is_empty() && removed.networks.is_empty() => {}
            Ok(removed) => progress.say(format!(
                "removed {} containers, {} volumes, {} networks of run {}",
                removed.containers.len(),
                removed.volumes.len(),
                removed.networks.len(),
                self.run_id
            )),
            Err(e) => progress.say(format!("could not remove what run {} created: {e:#}", self.run_id)),
        }
    }
}

/// A fresh id for a run: short, unique enough among concurrent runs on one engine.
pub fn new_run_id() -> String {
    crate::sys::fresh_hex("", 3)
}

/// Drives a prepared platform through the steps every platform shares: the job
/// artifacts, the items (or the upgrades), the teardown (also when the artifacts fail),
/// the summary. Reports are written by the caller.
async fn drive<P: PlatformRun>(
    mut platform: P,
    items: &[RunItem],
    run_id: &str,
    start: Instant,
    progress: &Progress,
) -> Result<Summary> {
    let wanted: Vec<_> = items.iter().filter_map(|i| i.scenario).flat_map(|s| s.artifacts.iter().copied()).collect();
    let t = Instant::now();
    match progress.step("build job artifacts", crate::artifacts::build(&wanted, progress)).await {
        Ok(artifacts) => platform.set_artifacts(artifacts),
        Err(e) => {
            // What the platform made goes (the cluster too, unless kept), then the error.
            if let Err(t) = platform.teardown(false).await {
                progress.say(format!("teardown after the failed build: {t:#}"));
            }
            return Err(e);
        }
    }
    platform.phases().add("job artifacts", t.elapsed().as_secs_f64());
    let results = if platform.has_upgrades() {
        platform.run_upgrades(items).await
    } else {
        let not_here = |item: &RunItem| platform.not_here(item);
        let run_one = async |item: &RunItem| platform.run_item(item).await;
        let (kind, dind, jobs) = (platform.platform(), platform.dind(), platform.concurrency());
        crate::platform::each_item(items, jobs, kind, dind, not_here, run_one, progress).await
    };
    let failed = results.iter().any(|r| matches!(r.outcome, crate::scenario::Outcome::Fail(_)));
    let t = Instant::now();
    platform.teardown(failed).await?;
    platform.phases().add("teardown", t.elapsed().as_secs_f64());
    let facts = platform.facts();
    let name = crate::platform::conclude::platform_name(platform.platform());
    let mut summary =
        Summary::new(run_id, name, facts.executor, &facts.privilege, &facts.images, results, start.elapsed());
    summary.setup_phases = platform.phases().all();
    summary.allowed_findings = facts.allowed_findings;
    Ok(summary)
}

/// Where a run's reports go: `target/e2e/`.
pub fn reports_dir() -> PathBuf {
    crate::output_dir()
}
