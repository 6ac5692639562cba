//! The run loop of every platform: [`run`] drives a platform's run to its summary and,
//! on SIGINT/SIGTERM or an error, removes what the run created (the item loop both
//! platforms share is `platform::each_item`).
//! The Docker platform's run: images, privilege, the items (concurrently, each in its
//! own pod), cleanup by label, the leak check.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;

use crate::Progress;
use crate::config::{ChartValues, check_tls_verify};
use crate::docker::images::{self, ImageKind, ImageSource};
use crate::docker::{self, DindMode, labels};
use crate::platform::RunItem;
use crate::platform::docker::{Deadlines, DockerPlatform};
use crate::report::{ScenarioResult, Summary};
use crate::scenario::Platform;

/// What `cargo xtask e2e --platform docker` was asked to do.
pub struct DockerRunOptions {
    pub run_id: String,
    pub items: Vec<RunItem>,
    pub values: ChartValues,
    pub dind: DindMode,
    pub image_source: ImageSource,
    pub keep: bool,
    /// Keep DIND image-store volumes between runs, so job images load once.
    pub reuse: bool,
    pub jobs: usize,
    pub deadlines: Deadlines,
    /// Upgrade pairs: each runs `items` before and after an in-place upgrade.
    pub upgrades: Vec<crate::platform::upgrade::UpgradePair>,
}

/// What a run runs on, with that platform's options.
pub enum Target {
    Docker(DockerRunOptions),
    Kind(crate::platform::kind::KindRunOptions),
}

/// How a run ended.
pub enum Ended {
    Done(Summary),
    /// By SIGINT or SIGTERM; what the run had created is gone.
    Interrupted(&'static str),
}

/// Every run, on either platform: the platform's run to its summary; on SIGINT/SIGTERM,
/// or an error, what the run created is removed by its label before this returns.
pub async fn run(target: Target, progress: Progress) -> Result<Ended> {
    let cleanup = Cleanup::of(&target);
    let platform = async {
        match target {
            Target::Docker(opts) => run_docker(opts, progress).await,
            Target::Kind(opts) => crate::platform::kind::run_kind(opts, progress).await,
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
        Ok(summary) => Ok(Ended::Done(summary)),
        Err(e) => {
            cleanup.failed(&progress).await;
            Err(e)
        }
    }
}

/// What removing a run's things needs once its platform's future is gone.
struct Cleanup {
    run_id: String,
    /// The kind cluster, and whether it stays up (`--reuse`, `--keep`).
    cluster: Option<(String, bool)>,
}

impl Cleanup {
    fn of(target: &Target) -> Self {
        match target {
            Target::Docker(o) => Self { run_id: o.run_id.clone(), cluster: None },
            Target::Kind(o) => {
                Self { run_id: o.run_id.clone(), cluster: Some((o.cluster.name.clone(), o.keep_cluster)) }
            }
        }
    }

    async fn interrupted(&self, progress: &Progress) {
        match &self.cluster {
            None => self.sweep(progress).await,
            Some((cluster, keep)) => {
                crate::platform::kind::interrupted_cleanup(cluster, &self.run_id, *keep, progress).await
            }
        }
    }

    /// After an error the kind platform has torn down what it could; the engine's
    /// containers of the run go here.
    async fn failed(&self, progress: &Progress) {
        if self.cluster.is_none() {
            self.sweep(progress).await;
        }
    }

    async fn sweep(&self, progress: &Progress) {
        let Ok(docker) = docker::connect().await else { return };
        match docker::sweep(&docker, labels::RUN, &self.run_id).await {
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
    use sha2::Digest;
    let seed = format!("{:?}{}", std::time::SystemTime::now(), std::process::id());
    sha2::Sha256::digest(seed.as_bytes()).iter().take(3).map(|b| format!("{b:02x}")).collect()
}

/// Runs every item and returns the summary; reports are written by the caller.
pub async fn run_docker(opts: DockerRunOptions, progress: Progress) -> Result<Summary> {
    let start = Instant::now();
    let docker = docker::connect().await?;
    let executor: Box<dyn crate::executor::Executor> = Box::new(crate::executor::act::Act::load()?);
    let mut setup = Vec::new();
    let t = Instant::now();
    let images = progress.step("images", images::ensure(&docker, opts.image_source, &progress)).await?;
    setup.push(("images".to_owned(), t.elapsed().as_secs_f64()));
    let privilege = docker::probe_privilege(&docker, images.get(ImageKind::Dind), &opts.run_id).await?;
    progress.say(format!(
        "run {}: platform docker, DIND {}, {}, executor {}, images {:?} ({})",
        opts.run_id,
        opts.dind.name(),
        privilege.describe(),
        executor.kind().name(),
        images.source,
        images.get(ImageKind::Job)
    ));
    let config = opts.values.runner.config.file.clone();
    let envs = config.runner.as_ref().and_then(|r| r.envs.as_ref());
    if let Some(warning) = check_tls_verify(envs).warning {
        progress.say(format!("warning: {warning}"));
    }
    let wanted: Vec<_> =
        opts.items.iter().filter_map(|i| i.scenario).flat_map(|s| s.artifacts.iter().copied()).collect();
    let t = Instant::now();
    let artifacts = progress.step("build job artifacts", crate::artifacts::build(&wanted, &progress)).await?;
    setup.push(("job artifacts".to_owned(), t.elapsed().as_secs_f64()));
    let out_dir = crate::output_dir().join("runs").join(&opts.run_id);
    let platform = DockerPlatform {
        docker: docker.clone(),
        run_id: opts.run_id.clone(),
        images,
        privilege,
        executor,
        artifacts,
        config,
        dind: opts.dind,
        keep: opts.keep,
        cache_pool: if opts.reuse {
            Some(tokio::sync::Mutex::new(cache_volumes(&docker, opts.jobs).await?))
        } else {
            None
        },
        deadlines: opts.deadlines,
        signatures: crate::diagnose::signatures()?,
        progress,
        out_dir,
    };
    let results: Vec<ScenarioResult> = if !opts.upgrades.is_empty() {
        // Plain scenarios only: variants expect failure, special setups start pods of their own.
        let plain = |i: &&RunItem| {
            i.variant.is_none() && i.scenario.is_none_or(|s| s.setup == crate::scenario::PodSetup::Standard)
        };
        let items: Vec<RunItem> =
            opts.items.iter().filter(plain).filter(|i| unmet_needs(i, opts.dind).is_none()).cloned().collect();
        let mut results = Vec::new();
        for pair in &opts.upgrades {
            platform.progress.say(format!("upgrade:{}: start", pair.name));
            let r = platform.run_upgrade(pair, &items).await;
            platform.progress.say(format!(
                "upgrade:{}: {} in {:.1}s",
                pair.name,
                crate::platform::word(&r.outcome),
                r.duration.as_secs_f64()
            ));
            results.push(r);
        }
        results
    } else {
        let not_here = |item: &RunItem| unmet_needs(item, opts.dind);
        let run_one = async |item: &RunItem| platform.run(item).await;
        crate::platform::each_item(
            &opts.items,
            opts.jobs,
            Platform::Docker,
            opts.dind,
            not_here,
            run_one,
            &platform.progress,
        )
        .await
    };
    if !opts.keep {
        docker::sweep(&docker, labels::RUN, &opts.run_id).await?;
        // Every run is a leak test: what it made must be gone.
        let left = docker::count_managed(&docker, labels::RUN, &opts.run_id).await?;
        anyhow::ensure!(left.is_empty(), "run {} left {} resources behind: {left:?}", opts.run_id, left.total());
    }
    let mut summary = Summary::new(
        &opts.run_id,
        "docker",
        platform.executor.kind().name(),
        platform.privilege.describe(),
        &format!("{:?}", platform.images.source).to_lowercase(),
        results,
        start.elapsed(),
    );
    summary.setup_phases = setup;
    Ok(summary)
}

/// The image-store volumes `--reuse` keeps (created on first use): labelled as the
/// harness's, but with no run id, so a run's sweep leaves them and `clean` removes them.
async fn cache_volumes(docker: &bollard::Docker, jobs: usize) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for i in 0..jobs.max(1) {
        let name = format!("fe2e-cache-rootful-{i}");
        let labels = std::collections::HashMap::from([
            (labels::MANAGED.to_owned(), "true".to_owned()),
            (labels::CACHE.to_owned(), "true".to_owned()),
        ]);
        let body = bollard::models::VolumeCreateRequest {
            name: Some(name.clone()),
            labels: Some(labels),
            ..Default::default()
        };
        docker.create_volume(body).await?;
        names.push(name);
    }
    Ok(names)
}

/// Why `item` cannot run on the Docker platform, if it cannot.
pub fn unmet_needs(item: &RunItem, dind: DindMode) -> Option<String> {
    crate::platform::unmet_needs_on(item, Platform::Docker, dind)
}

/// Where a run's reports go: `target/e2e/`.
pub fn reports_dir() -> PathBuf {
    crate::output_dir()
}
