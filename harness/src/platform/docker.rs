//! Running scenarios on the Docker platform: a pod per scenario, its job delivered the
//! run's way (`delivery/`: act in the runner container, or a push to the run's forge),
//! checks on the job's log, a bundle and a diagnosis on failure.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;
use bollard::Docker;
use futures_util::future::LocalBoxFuture;

use super::RunItem;
use super::conclude::Gathered;
use super::delivery::Delivered;
use super::docker_ahead::Ahead;
use super::pod::{PodContainer, PodHandle};
use crate::Progress;
use crate::config::RunnerConfig;
use crate::diagnose::Signature;
use crate::docker::images::{ImageKind, ImageSet};
use crate::docker::{DindMode, Pod, PodSpec, Privilege};
use crate::executor::Kind;
use crate::failure::{Cause, Failed, Reached};
use crate::fault::PodChange;
use crate::pki::{self, PkiOptions, TlsSet};
use crate::report::ScenarioResult;
use crate::scenario::{Check, Platform, PodSetup};

pub use crate::fault::Deadlines;

/// Everything shared by the scenarios of one run on the Docker platform.
pub struct DockerPlatform {
    pub docker: Docker,
    pub run_id: String,
    pub images: ImageSet,
    pub privilege: Privilege,
    /// How jobs reach the pod (act by exec, or a push to the run's forge).
    pub(super) delivery: Box<dyn Delivery>,
    /// Binaries scenarios ship into workspaces, by name.
    pub artifacts: std::collections::HashMap<&'static str, Vec<u8>>,
    pub config: RunnerConfig,
    pub dind: DindMode,
    pub keep: bool,
    /// Image-store volumes kept between runs (`--reuse`), one per concurrent pod.
    pub cache_pool: Option<tokio::sync::Mutex<Vec<String>>>,
    /// Pods made ahead for plain items (`docker_ahead`), unless `--keep` or upgrades.
    pub(super) ahead: Option<Ahead>,
    pub deadlines: Deadlines,
    pub signatures: Vec<Signature>,
    pub progress: Progress,
    /// Where workspaces and bundles of this run go.
    pub out_dir: PathBuf,
    /// Seconds per setup phase.
    pub setup: super::seam::Phases,
}

/// How [`DockerPlatform::run_in_pod`] sets up one pod.
pub(super) struct PodOptions {
    pub(super) mode: DindMode,
    /// A seccomp profile (JSON) for DIND instead of `unconfined`.
    pub(super) seccomp: Option<String>,
    /// Appended to the pod name, for scenarios that start more than one pod.
    pub(super) suffix: &'static str,
}

impl PodOptions {
    pub(super) fn mode(mode: DindMode) -> Self {
        Self { mode, seccomp: None, suffix: "" }
    }
}

/// What happened inside one pod: what every platform gathers for judging (its fields are
/// reached through `Deref`), plus what only a Docker pod knows.
pub(super) struct PodRun {
    pub(super) gathered: Gathered,
    /// The DIND container's exit code, when it exited before answering.
    pub(super) dind_exit: Option<i64>,
    /// The deadlines of this pod's steps (shorter where a fault is injected).
    pub(super) deadlines: Deadlines,
}

impl std::ops::Deref for PodRun {
    type Target = Gathered;
    fn deref(&self) -> &Gathered {
        &self.gathered
    }
}

impl std::ops::DerefMut for PodRun {
    fn deref_mut(&mut self) -> &mut Gathered {
        &mut self.gathered
    }
}

impl DockerPlatform {
    pub(super) fn say(&self, item: &str, msg: impl AsRef<str>) {
        self.progress.say(format!("{item}: {}", msg.as_ref()));
    }

    /// Runs one item in a fresh pod and judges it. Never returns an error: whatever goes
    /// wrong becomes a failed result with a bundle.
    pub async fn run(&self, item: &RunItem) -> ScenarioResult {
        let start = Instant::now();
        let nonce = format!("{}-{}", self.run_id, nonce_suffix(&item.name));
        let never_ran = item.label_mismatch(&item.config(&self.config));
        let (run, checks, mut diagnosis, mode) = match (&never_ran, item.scenario.map(|s| s.setup)) {
            // No pod: no runner with these labels would ever take the job.
            (Some(why), _) => {
                let mut run = self.empty_run();
                run.jobs = super::jobs::none_picked(item, &item.config(&self.config));
                (run, vec![Check::never_ran(why.clone())], Vec::new(), self.dind)
            }
            (None, Some(PodSetup::UsernsRestriction)) => self.run_userns(item, &nonce).await,
            (None, _) => {
                let run = self.run_in_pod(item, &nonce, PodOptions::mode(self.dind)).await;
                let checks = run.evidence.as_ref().map(|ev| item.checks(ev)).unwrap_or_default();
                (run, checks, Vec::new(), self.dind)
            }
        };
        let judge = super::conclude::Judge {
            platform: Platform::Docker,
            dind: mode,
            signatures: &self.signatures,
            deadlines: self.deadlines,
            out_dir: &self.out_dir,
            progress: &self.progress,
        };
        judge.conclude(item, run.gathered, checks, std::mem::take(&mut diagnosis), start)
    }

    /// One pod from start to removal. `seccomp` injects a profile into DIND.
    pub(super) async fn run_in_pod(&self, item: &RunItem, nonce: &str, pod_opts: PodOptions) -> PodRun {
        let PodOptions { mode, seccomp, suffix } = pod_opts;
        let mut run = PodRun { deadlines: self.deadlines_for(item), ..self.empty_run() };
        let runner = self.delivery.runner(self, &item.config(&self.config));
        // A plain item takes a pod made ahead, and makes one for a later item (`docker_ahead`).
        let plain = mode == self.dind && seccomp.is_none() && suffix.is_empty() && Ahead::plain(item);
        let ahead = self.ahead.as_ref().filter(|_| plain).map(|a| (a, &runner));
        if let Some((a, _)) = ahead
            && let Some(ready) = a.take(&runner)
        {
            self.say(
                &item.name,
                format!(
                    "a pod made ahead: DIND {} ({}) answered over TLS, ready in {:.1}s while an earlier item ran",
                    ready.version,
                    mode.name(),
                    ready.seconds
                ),
            );
            run.reached.extend(ready.runner_image_present.then_some(Reached::RunnerImagePresent));
            run.reached.extend([Reached::PodStarted, Reached::DindAnswered]);
            run.phases.push(("pod ahead".into(), ready.seconds));
            let result = self.job_in(item, nonce, &ready.pod, &mut run, true, ahead).await;
            self.finish(item, &ready.pod, &ready.tls, &mut run, result).await;
            self.release(ready.pod, ready.cache, ahead.map(|(a, _)| a), &mut run).await;
            return run;
        }
        if let Some(a) = self.ahead.as_ref().filter(|_| !plain) {
            a.remove_retired(self).await;
        }
        let change = item.variant.and_then(|v| v.fault).map(|f| f.pod_change()).unwrap_or_default();
        let generated = match change.certs_age_days {
            // Generated that many days ago, with the default two days of validity.
            Some(days) => {
                pki::generate_at(&PkiOptions::default(), time::OffsetDateTime::now_utc() - time::Duration::days(days))
            }
            None => pki::generate(&PkiOptions::default()),
        };
        let tls = match generated {
            Ok(t) => t,
            Err(e) => {
                run.error = Some(e.context("generate the TLS set"));
                return run;
            }
        };
        let dind_image = match change.dind_image_missing {
            true => crate::fault::MISSING_DIND_IMAGE.to_owned(),
            false => self
                .images
                .get(if mode == DindMode::Rootless { ImageKind::DindRootless } else { ImageKind::Dind })
                .to_owned(),
        };
        // A kept image-store volume, if --reuse: one per concurrent pod, never shared.
        let cache = match (&self.cache_pool, mode) {
            (Some(pool), DindMode::Rootful) if seccomp.is_none() => pool.lock().await.pop(),
            _ => None,
        };
        let spec = PodSpec {
            run_id: &self.run_id,
            scenario: &format!("{}{suffix}", item.name.replace(':', "-")),
            dind_image: &dind_image,
            runner_image: &runner.image,
            mode,
            privilege: self.privilege,
            seccomp,
            tls: Some(&tls),
            certs_volume: None,
            data_volume: cache.clone(),
            dind_args: item.variant.iter().flat_map(|v| v.dind_args).map(|a| a.to_string()).collect(),
            dind_entrypoint: change.dind_never_starts.then(|| vec!["sleep".to_owned(), "infinity".to_owned()]),
            data_tmpfs: change.data_limit_mib.map(|mib| format!("{mib}m")),
            network: runner.network.clone(),
            runner_script: runner.script.clone(),
        };
        let t = Instant::now();
        match self.create(&spec, &mut run).await {
            Ok(pod) => {
                let result = match pod.start().await {
                    Ok(()) => {
                        run.reached.push(Reached::PodStarted);
                        run.phases.push(("pod start".into(), t.elapsed().as_secs_f64()));
                        self.job_in(item, nonce, &pod, &mut run, false, ahead).await
                    }
                    Err(e) => Err(e.context("start the pod")),
                };
                self.finish(item, &pod, &tls, &mut run, result).await;
                self.release(pod, cache, ahead.map(|(a, _)| a), &mut run).await;
            }
            Err(e) => {
                run.error = Some(e);
                if let (Some(pool), Some(name)) = (&self.cache_pool, cache) {
                    pool.lock().await.push(name);
                }
            }
        }
        run
    }

    /// The pod's containers and volumes, created (nothing started).
    async fn create(&self, spec: &PodSpec<'_>, run: &mut PodRun) -> Result<Pod> {
        if self.docker.inspect_image(spec.runner_image).await.is_ok() {
            run.reached.push(Reached::RunnerImagePresent);
        }
        match Pod::create(&self.docker, spec).await {
            Ok(p) => Ok(p),
            // Whatever part of it exists goes with the run's label sweep.
            Err(e) => {
                if let Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) =
                    self.docker.inspect_image(spec.dind_image).await
                {
                    let seen = "the engine answers 404 for it, and there is no registry to pull from".into();
                    run.causes.push(Cause::ImageAbsent { image: spec.dind_image.to_owned(), seen });
                }
                Err(e.context("create the pod"))
            }
        }
    }

    /// The item's job in a started pod (`ready`: DIND already answered and the delivery
    /// readied it), with a plain item's chores for later items beside it.
    async fn job_in(
        &self,
        item: &RunItem,
        nonce: &str,
        pod: &Pod,
        run: &mut PodRun,
        ready: bool,
        ahead: Option<(&Ahead, &RunnerContainer)>,
    ) -> Result<()> {
        let job = async {
            if !ready {
                self.ready(&item.name, pod, run).await?;
            }
            self.job_image_in(&item.name, pod, run).await?;
            self.run_job(item, nonce, pod, &item.config(&self.config), run).await
        };
        match ahead {
            Some((a, runner)) => futures_util::future::join(job, a.chores(self, runner)).await.0,
            None => job.await,
        }
    }

    /// After the job: DIND's exit, a start fault's causes, the logs a failure or a variant
    /// keeps, and `--keep`'s hint.
    async fn finish(&self, item: &RunItem, pod: &Pod, tls: &TlsSet, run: &mut PodRun, result: Result<()>) {
        if let Err(e) = result {
            run.error = Some(e);
        }
        if run.error.is_some() && !pod.running(&pod.dind).await.unwrap_or(true) {
            run.dind_exit = pod.exit_code(&pod.dind).await;
        }
        // Only a fault at pod start is judged on causes: other failures pay for no probes.
        let change = item.variant.and_then(|v| v.fault).filter(|f| f.at_start().is_some()).map(|f| f.pod_change());
        if let (Some(e), Some(change)) = (&run.error, change) {
            let causes = self.causes(pod, tls, change, e).await;
            run.causes.extend(causes);
        }
        let failed = run.error.is_some() || run.evidence.as_ref().is_some_and(|e| !e.job_succeeded);
        if failed || item.variant.is_some() {
            run.logs.push(("dind.log", PodHandle::logs(pod, PodContainer::Dind).await));
            run.logs.push(("runner.log", PodHandle::logs(pod, PodContainer::Runner).await));
            let ps = ["docker", "ps", "-a", "--no-trunc"].map(String::from);
            if let Ok(out) = pod.exec_cli(&ps, Duration::from_secs(20)).await {
                run.logs.push(("dind-containers.txt", out.output));
            }
        }
        if self.keep {
            self.say(
                &item.name,
                format!(
                    "kept: docker exec -it {} bash  (DOCKER_HOST is set there; remove with cargo xtask clean)",
                    pod.runner
                ),
            );
        }
    }

    /// The pod goes (kept with `--keep`; a plain item's removed by a later item's chores),
    /// its kept image store back to the pool once it is removed.
    async fn release(&self, pod: Pod, cache: Option<String>, ahead: Option<&Ahead>, run: &mut PodRun) {
        match ahead {
            _ if self.keep => {}
            Some(a) => return a.retire(pod, cache),
            None => {
                if let Err(e) = pod.remove().await {
                    run.notes.push(format!("cleanup: {e:#}"));
                }
            }
        }
        if let (Some(pool), Some(name)) = (&self.cache_pool, cache) {
            pool.lock().await.push(name);
        }
    }

    /// What ties a failure before the job to its cause: DIND running silent past its
    /// deadline, the served certificate's notAfter in what the TLS client said, a data root
    /// with less room than the job image.
    async fn causes(&self, pod: &Pod, tls: &TlsSet, change: PodChange, error: &anyhow::Error) -> Vec<Cause> {
        let mut causes = Vec::new();
        let dind_running = pod.running(&pod.dind).await.unwrap_or(false);
        if dind_running && matches!(Failed::of(error), Some(Failed::DindNotReady { .. })) {
            causes.push(Cause::DindRanSilent);
        }
        // What the client says now too: the wait keeps only its last look, which a slow exec
        // may have left empty.
        if change.certs_age_days.is_some() {
            let mut answered = format!("{error:#}");
            let version = ["docker", "version"].map(String::from);
            if dind_running && let Ok(out) = pod.exec_cli(&version, Duration::from_secs(20)).await {
                answered.push_str(&out.output);
            }
            causes.extend(Cause::cert_expired(&tls.server_cert, &answered));
        }
        if change.data_limit_mib.is_some() && dind_running {
            let job_image = self.docker.inspect_image(self.images.get(ImageKind::Job)).await.ok().and_then(|i| i.size);
            if let (Some(bytes), Ok(df)) = (job_image, pod.data_root_df().await) {
                causes.extend(Cause::data_root_too_small(&df, bytes.max(0) as u64));
            }
        }
        causes
    }

    /// Waits for DIND and makes sure the job image is in its store (loaded unless a kept
    /// image-store volume already has it). Returns whether it had to load.
    pub(super) async fn prepare(&self, name: &str, pod: &Pod, run: &mut PodRun) -> Result<bool> {
        self.ready(name, pod, run).await?;
        self.job_image_in(name, pod, run).await
    }

    /// Waits for DIND to answer over TLS, then has the delivery ready the pod for jobs.
    async fn ready(&self, name: &str, pod: &Pod, run: &mut PodRun) -> Result<()> {
        let t = Instant::now();
        let version = pod.wait_ready(run.deadlines.dind_ready).await;
        let version = version.map_err(|e| crate::failure::when_timed_out(e, |after| Failed::DindNotReady { after }))?;
        run.reached.push(Reached::DindAnswered);
        run.phases.push(("dind ready".into(), t.elapsed().as_secs_f64()));
        self.say(
            name,
            format!("DIND {version} ({}) answers over TLS after {:.1}s", pod.mode.name(), t.elapsed().as_secs_f64()),
        );
        self.delivery.ready(pod).await
    }

    /// The job image into DIND's store, unless it is there already. Returns whether it loaded.
    async fn job_image_in(&self, name: &str, pod: &Pod, run: &mut PodRun) -> Result<bool> {
        let job_image = self.images.get(ImageKind::Job);
        if pod.has_image(job_image).await? {
            self.say(name, format!("{job_image} already in DIND's image store: not loaded"));
            return Ok(false);
        }
        let t = Instant::now();
        pod.load_image(job_image, run.deadlines.image_load).await?;
        run.phases.push(("image load".into(), t.elapsed().as_secs_f64()));
        self.say(name, format!("loaded {job_image} into DIND in {:.1}s", t.elapsed().as_secs_f64()));
        Ok(true)
    }

    /// Lays out the item's workspace and has its job reach the pod the way the run's
    /// delivery does (act started in the runner container, or a push to the run's forge);
    /// the job's log and conclusion become the run's evidence.
    pub(super) async fn run_job(
        &self,
        item: &RunItem,
        nonce: &str,
        pod: &Pod,
        config: &RunnerConfig,
        run: &mut PodRun,
    ) -> Result<()> {
        let job_image = self.images.get(ImageKind::Job);
        let workspace = self.out_dir.join("workspaces").join(super::conclude::path_safe(&item.name));
        let plan = item.job_plan(config).transpose()?;
        item.lay_workspace(&workspace, nonce, job_image, &self.artifacts, plan.as_ref())?;
        let job = Delivered {
            item,
            nonce,
            config,
            workspace: &workspace,
            plan: plan.as_ref(),
            job_image,
            deadlines: run.deadlines,
            progress: &self.progress,
        };
        self.delivery.run(self, pod, job, run).await
    }
}

impl DockerPlatform {
    /// Deadlines for `item`: the run's, shortened where a fault makes the wait pointless.
    pub(super) fn deadlines_for(&self, item: &RunItem) -> Deadlines {
        crate::fault::deadlines_for(item.variant.and_then(|v| v.fault), self.deadlines)
    }
}

fn nonce_suffix(name: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{name}{:?}", Instant::now()).as_bytes());
    digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

/// What the pod's runner container is.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct RunnerContainer {
    pub(super) image: String,
    /// Its command (`sh -c SCRIPT`), or `None` to idle until the harness execs into it.
    pub(super) script: Option<String>,
    /// A network the pod joins (the forge's), or `None` for the engine's default.
    pub(super) network: Option<String>,
}

/// Who runs a Docker pod's jobs, and how a job gets to them: the platform's job-delivery
/// seam, implemented in `delivery/` (act, a registered runner), held by [`DockerPlatform`]
/// and asked for every item.
pub(super) trait Delivery: Send + Sync {
    /// Who runs the jobs (for the evidence, the reports and the items it cannot run).
    fn kind(&self) -> Kind;
    /// The runner container a pod needs for `config`.
    fn runner(&self, p: &DockerPlatform, config: &RunnerConfig) -> RunnerContainer;
    /// Readies a pod whose DIND answers for its jobs (act's binaries copied in).
    fn ready<'a>(&'a self, _pod: &'a Pod) -> LocalBoxFuture<'a, Result<()>> {
        Box::pin(async { Ok(()) })
    }
    /// Runs `job` in `pod`; the job's log and conclusion go into `run`.
    fn run<'a>(
        &'a self,
        p: &'a DockerPlatform,
        pod: &'a Pod,
        job: Delivered<'a>,
        run: &'a mut PodRun,
    ) -> LocalBoxFuture<'a, Result<()>>;
}
