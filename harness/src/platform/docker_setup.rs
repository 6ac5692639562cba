//! The Docker platform prepared for a run (images, privilege, the header) and its side of
//! the platform seam: items concurrently, each in its own pod; cleanup by label and the
//! leak check at the end.

use std::collections::HashMap;
use std::time::Instant;

use anyhow::Result;

use super::RunItem;
use super::delivery::ActDelivery;
use super::delivery::runner::docker::ForgeDelivery;
use super::docker::{Deadlines, Delivery, DockerPlatform};
use super::docker_ahead::Ahead;
use super::seam::{Facts, Phases, PlatformRun};
use super::upgrade::UpgradePair;
use crate::Progress;
use crate::config::{ChartValues, check_tls_verify};
use crate::docker::images::{self, ImageKind, ImageSource};
use crate::docker::{self, DindMode, labels};
use crate::report::ScenarioResult;
use crate::scenario::{Platform, PodSetup};

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
    pub upgrades: Vec<UpgradePair>,
}

/// The engine's images (built or pulled), the privilege probe and the run's header.
pub async fn prepare(
    opts: DockerRunOptions,
    executor: Box<dyn crate::executor::Executor>,
    executor_line: &str,
    forge: Option<crate::executor::choice::ForgeSetup>,
    progress: Progress,
) -> Result<DockerRun> {
    let docker = docker::connect().await?;
    let t = Instant::now();
    let images = progress.step("images", images::ensure(&docker, opts.image_source, &progress)).await?;
    let mut setup = vec![("images".to_owned(), t.elapsed().as_secs_f64())];
    let privilege = docker::probe_privilege(&docker, images.get(ImageKind::Dind), &opts.run_id).await?;
    progress.say(format!(
        "run {}: platform docker, DIND {}, {}, {executor_line}, images {:?} ({})",
        opts.run_id,
        opts.dind.name(),
        privilege.describe(),
        images.source,
        images.get(ImageKind::Job)
    ));
    let config = opts.values.runner.config.file.clone();
    let envs = config.runner.as_ref().and_then(|r| r.envs.as_ref());
    if let Some(warning) = check_tls_verify(envs).warning {
        progress.say(format!("warning: {warning}"));
    }
    // Plain items take pods made ahead (`docker_ahead`); not with --keep (every pod is
    // the user's to look at) nor for upgrades (their pods are their own).
    let plain = opts.items.iter().filter(|i| {
        Ahead::plain(i)
            && unmet_needs(i, opts.dind, executor.kind()).is_none()
            && i.label_mismatch(&i.config(&config)).is_none()
    });
    let ahead = if opts.keep || !opts.upgrades.is_empty() { None } else { Ahead::new(plain.count()) };
    // With --reuse, a store for each concurrent pod and one for each pod made ahead.
    let stores = if ahead.is_some() { 2 * opts.jobs.max(1) } else { opts.jobs };
    let cache_pool = if opts.reuse {
        Some(tokio::sync::Mutex::new(cache_volumes(&docker, stores, executor.kind()).await?))
    } else {
        None
    };
    let out_dir = crate::output_dir().join("runs").join(&opts.run_id);
    // Who runs the jobs, decided once (`executor::choice`): act by exec, or a runner
    // registered with the run's forge, started here.
    let delivery: Box<dyn Delivery> = match forge {
        None => Box::new(ActDelivery { act: executor }),
        Some(forge) => {
            let t = Instant::now();
            let deadline = std::time::Duration::from_secs(180);
            let what = format!("start the run's {}", forge.dialect.name());
            let started = ForgeDelivery::start(&docker, &opts.run_id, &forge, &out_dir, deadline);
            let delivery = progress.step(&what, started).await?;
            setup.push(("forge".to_owned(), t.elapsed().as_secs_f64()));
            Box::new(delivery)
        }
    };
    let platform = DockerPlatform {
        docker,
        out_dir,
        delivery,
        run_id: opts.run_id,
        images,
        privilege,
        artifacts: HashMap::new(),
        config,
        dind: opts.dind,
        keep: opts.keep,
        cache_pool,
        ahead,
        deadlines: opts.deadlines,
        signatures: crate::diagnose::signatures()?,
        progress,
        setup: Phases::new(setup),
    };
    Ok(DockerRun { platform, jobs: opts.jobs, upgrades: opts.upgrades })
}

/// The Docker platform of one run, with what only the run loop needs.
pub struct DockerRun {
    platform: DockerPlatform,
    /// Items at once (`--jobs`).
    jobs: usize,
    /// Upgrade pairs to validate instead of the plain items.
    upgrades: Vec<UpgradePair>,
}

impl PlatformRun for DockerRun {
    fn platform(&self) -> Platform {
        Platform::Docker
    }

    fn dind(&self) -> DindMode {
        self.platform.dind
    }

    fn concurrency(&self) -> usize {
        self.jobs
    }

    fn set_artifacts(&mut self, artifacts: HashMap<&'static str, Vec<u8>>) {
        self.platform.artifacts = artifacts;
    }

    fn not_here(&self, item: &RunItem) -> Option<String> {
        unmet_needs(item, self.platform.dind, self.platform.delivery.kind())
    }

    async fn run_item(&self, item: &RunItem) -> ScenarioResult {
        self.platform.run(item).await
    }

    fn has_upgrades(&self) -> bool {
        !self.upgrades.is_empty()
    }

    async fn run_upgrades(&self, items: &[RunItem]) -> Vec<ScenarioResult> {
        // Plain scenarios only: variants expect failure, special setups start pods of their own.
        let plain = |i: &&RunItem| {
            i.variant.is_none()
                && i.scenario.is_none_or(|s| s.setup == PodSetup::Standard)
                && unmet_needs(i, self.platform.dind, self.platform.delivery.kind()).is_none()
        };
        let items: Vec<RunItem> = items.iter().filter(plain).cloned().collect();
        let mut results = Vec::new();
        for pair in &self.upgrades {
            self.platform.progress.say(format!("upgrade:{}: start", pair.name));
            let r = self.platform.run_upgrade(pair, &items).await;
            let took = r.duration.as_secs_f64();
            self.platform.progress.say(format!("upgrade:{}: {} in {took:.1}s", pair.name, super::word(&r.outcome)));
            results.push(r);
        }
        results
    }

    async fn teardown(&self, _failed: bool) -> Result<()> {
        if self.platform.keep {
            return Ok(());
        }
        docker::sweep(&self.platform.docker, labels::RUN, &self.platform.run_id).await?;
        // Every run is a leak test: what it made must be gone.
        let left = docker::count_managed(&self.platform.docker, labels::RUN, &self.platform.run_id).await?;
        anyhow::ensure!(
            left.is_empty(),
            "run {} left {} resources behind: {left:?}",
            self.platform.run_id,
            left.total()
        );
        Ok(())
    }

    fn facts(&self) -> Facts {
        Facts {
            executor: self.platform.delivery.kind().name(),
            privilege: self.platform.privilege.describe().to_owned(),
            images: format!("{:?}", self.platform.images.source).to_lowercase(),
            allowed_findings: Vec::new(),
        }
    }

    fn phases(&self) -> &Phases {
        &self.platform.setup
    }
}

/// The image-store volumes `--reuse` keeps (created on first use): labelled as the
/// harness's, but with no run id, so a run's sweep leaves them and `clean` removes them.
/// One set per executor: a store a registered runner's jobs left made act's testcontainers
/// job fail in the next run (its mapped port reset every connection; cause not found yet).
async fn cache_volumes(docker: &bollard::Docker, jobs: usize, executor: crate::executor::Kind) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for i in 0..jobs.max(1) {
        let name = format!("fe2e-cache-rootful-{}-{i}", executor.name());
        let labels = HashMap::from([
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
pub fn unmet_needs(item: &RunItem, dind: DindMode, executor: crate::executor::Kind) -> Option<String> {
    super::unmet_needs_on(item, Platform::Docker, dind, executor)
}
