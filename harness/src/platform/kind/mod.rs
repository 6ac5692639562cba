//! The kind platform, carried out on the local kind cluster: the runner chart installed with
//! helm and the values generated from the typed configuration; the chart's pod (runner
//! container, privileged DIND sidecar, shared `/certs`, the service-account token) runs every
//! item. With a registered runner (`delivery/runner/kind.rs`) the chart's runner container runs the runner's
//! image with the `config.yaml` the chart rendered, and jobs reach it only through the forge
//! beside the cluster; with act, the stand-in, each workflow runs in the chart's runner
//! container through `kubectl exec`, against the sidecar's DIND on 127.0.0.1:2376 with the
//! certificates the chart mounted. Judged like the Docker platform.

mod items;
mod node;
pub(in crate::platform) mod place;
pub(in crate::platform) mod pod;
mod prepare;
pub(in crate::platform) mod release;
mod render;
mod slots;
mod start_facts;
mod upgrade;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

pub use self::prepare::prepare;
pub use self::upgrade::KindUpgrade;
use super::RunItem;
use super::seam::{Facts, Phases, PlatformRun};
use crate::Progress;
use crate::cluster::existing::{Existing, ExistingOptions};
use crate::cluster::provider::Provider;
use crate::cluster::{Cluster, ClusterOptions, Kubectl};
use crate::config::ChartValues;
use crate::docker::DindMode;
use crate::fault::Deadlines;
use crate::kind::{CertMode, ChartSource, KindOptions};
use crate::report::ScenarioResult;
use crate::scenario::Platform;

/// What `cargo xtask e2e --platform kind` was asked to do.
pub struct KindRunOptions {
    pub run_id: String,
    pub items: Vec<RunItem>,
    pub values: ChartValues,
    pub dind: DindMode,
    /// The harness's rcgen set as a Secret, or docker:dind's own made in the pod.
    pub certs: CertMode,
    pub cluster: ClusterChoice,
    /// A chart directory (the project's test chart, a wrenix checkout) or a chart reference.
    pub chart: String,
    pub chart_version: String,
    /// Leave the cluster up afterwards (`--reuse`, `--keep`); a cluster that existed before
    /// the run is always left up.
    pub keep_cluster: bool,
    /// Leave the release and its namespace too (`--keep`).
    pub keep: bool,
    /// Leave everything (cluster, release, namespace) when an item failed.
    pub keep_on_failure: bool,
    pub deadlines: Deadlines,
    /// `--jobs`: shared installs, items run at once, spread over the schedulable nodes.
    pub jobs: usize,
    /// Chart upgrades to validate instead of the plain run (each runs the plain items
    /// before and after `helm upgrade`).
    pub upgrades: Vec<KindUpgrade>,
    /// Render findings the user accepts (`--allow-finding KEY`): any other fails the run
    /// before the cluster.
    pub allow_findings: Vec<String>,
}

/// Which cluster a run uses: kind's, made or reused here, or one the user already has.
#[derive(Debug, Clone)]
pub enum ClusterChoice {
    Kind(ClusterOptions),
    Existing(ExistingOptions),
}

impl ClusterChoice {
    /// The platform the run's reports name.
    pub fn platform(&self) -> Platform {
        match self {
            ClusterChoice::Kind(_) => Platform::Kind,
            ClusterChoice::Existing(_) => Platform::Kubernetes,
        }
    }
}

/// A job pushed and taken, left running (see [`Delivery::start`]).
pub(in crate::platform) struct InFlight {
    pub(in crate::platform) owner: String,
    pub(in crate::platform) repo: String,
    pub(in crate::platform) sha: String,
    /// The runner that took it (its pod's name with the test chart).
    pub(in crate::platform) runner: String,
}

/// What became of a job in flight when the pod it ran in was replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::platform) enum Fate {
    /// It ended on its own: the forge's final word (`success`, `failure`).
    Finished(String),
    /// The forge cancelled it.
    Cancelled,
    /// Not final within the deadline: still in this state.
    Lost(String),
}

impl std::fmt::Display for Fate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fate::Finished(word) => write!(f, "finished ({word})"),
            Fate::Cancelled => write!(f, "cancelled"),
            Fate::Lost(state) => write!(f, "lost (still {state})"),
        }
    }
}

/// Who runs the jobs in the chart's pod, and how a job gets to them: the kind platform's
/// job-delivery seam, implemented in `delivery/act/kind.rs` (act through `kubectl exec`)
/// and `delivery/runner/kind.rs` (the runner the chart registered, through the forge
/// beside the cluster), held by
/// [`KindPlatform`] and asked wherever the two differ.
pub(in crate::platform) trait Delivery: Send + Sync {
    /// Who runs the jobs (for the evidence, the reports and the items it cannot run).
    fn kind(&self) -> crate::executor::Kind;
    /// The chart's runner container's image (`job_image` is the run's job image).
    fn runner_image<'a>(&'a self, job_image: &'a str) -> &'a str;
    /// Readies an install's pod whose DIND answers for its jobs (act's binaries copied in).
    fn ready<'a>(&'a self, _pod: &'a pod::KindPod<'a>) -> futures_util::future::LocalBoxFuture<'a, Result<()>> {
        Box::pin(async { Ok(()) })
    }
    /// The token the install of Helm release `release` registers with; empty for a
    /// `.runner` made offline.
    fn registration_token<'a>(&'a self, release: &'a str) -> futures_util::future::LocalBoxFuture<'a, Result<String>>;
    /// A forge of its own for the install of `release` (a fault stops it), which its
    /// registration, values and jobs then use; its container's name.
    fn own_forge<'a>(&'a self, release: &'a str) -> futures_util::future::LocalBoxFuture<'a, Result<String>>;
    /// The install's own forge removed, if it had one.
    fn own_forge_done<'a>(&'a self, release: &'a str) -> futures_util::future::LocalBoxFuture<'a, Result<()>>;
    /// The chart's values for the install of `release` as this runner needs them.
    fn shape_values(&self, p: &KindPlatform, release: &str, values: &mut ChartValues);
    /// Whether jobs get only the `config.yaml` the chart rendered (an item with another
    /// configuration then needs an install of its own).
    fn reads_chart_config(&self) -> bool;
    /// The container where the harness runs its docker CLI against DIND's TLS socket: the
    /// runner container where its image has a CLI, else DIND's.
    fn cli_container(&self) -> crate::platform::pod::PodContainer;
    /// Runs `job` in `pod`; its log and conclusion go into `run`.
    fn run<'a>(
        &'a self,
        p: &'a KindPlatform,
        pod: &'a pod::KindPod<'a>,
        job: crate::platform::delivery::Delivered<'a>,
        run: &'a mut crate::platform::conclude::Gathered,
    ) -> futures_util::future::LocalBoxFuture<'a, Result<()>>;
    /// Pushes `job` and returns once a runner runs it, without waiting for its end — a job
    /// in flight while `helm upgrade` rolls the pod. `None` where jobs do not go through a
    /// forge (act ends with its `kubectl exec`).
    fn start<'a>(
        &'a self,
        _p: &'a KindPlatform,
        _item: &'a RunItem,
        _release: &'a release::Release,
    ) -> futures_util::future::LocalBoxFuture<'a, Result<Option<InFlight>>> {
        Box::pin(async { Ok(None) })
    }
    /// What became of a job [`Delivery::start`] left in flight, as the forge tells it,
    /// within `deadline`.
    fn fate<'a>(
        &'a self,
        _job: &'a InFlight,
        _deadline: Duration,
    ) -> futures_util::future::LocalBoxFuture<'a, Result<Fate>> {
        Box::pin(async { anyhow::bail!("no job is left in flight here") })
    }
    /// `text` without the secrets this delivery handed out.
    fn redact(&self, text: String) -> String {
        text
    }
    /// Removes what the delivery made outside the cluster.
    fn teardown(&self) -> futures_util::future::LocalBoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }
    /// What a kept run says about removing it (after the cluster's own line).
    fn kept(&self, _run_id: &str) -> String {
        String::new()
    }
}

/// The kind platform of one run: what every install shares.
pub struct KindPlatform {
    cluster: Box<dyn Provider>,
    helm: PathBuf,
    pub(in crate::platform) run_id: String,
    dind: DindMode,
    kind_opts: KindOptions,
    /// The run's chart and chart values (the runner configuration among them).
    chart: ChartSource,
    values: ChartValues,
    pub(in crate::platform) job_image: String,
    /// Who runs the jobs and how a job reaches the chart's pod: act by `kubectl exec`, or
    /// the runner the chart registered with the forge beside the cluster.
    delivery: Box<dyn Delivery>,
    /// `docker save` of the job image, made once.
    image_tar: tokio::sync::Mutex<Option<Vec<u8>>>,
    pub(in crate::platform) artifacts: std::collections::HashMap<&'static str, Vec<u8>>,
    signatures: Vec<crate::diagnose::Signature>,
    pub(in crate::platform) out_dir: PathBuf,
    deadlines: Deadlines,
    pub(in crate::platform) progress: Progress,
    /// How the run's installs are named and placed (`--namespace`), and found again.
    places: place::Places,
    /// The resources the leak check lists in the user's namespace (the chart's kinds among
    /// them).
    leak_kinds: Vec<String>,
    /// The run's shared installs, one per `--jobs` slot (an error making one is every item's
    /// error there).
    slots: slots::Slots,
    /// Seconds per setup phase, for the summary and the bench.
    setup: Phases,
    upgrades: Vec<KindUpgrade>,
    /// The render findings `--allow-finding` accepted, for the summary.
    allowed_findings: Vec<crate::report::Finding>,
    keep: bool,
    keep_cluster: bool,
    keep_on_failure: bool,
    /// What each install reached on its way to Ready, by release (see `start_facts.rs`).
    reached: std::sync::Mutex<std::collections::HashMap<String, Vec<crate::failure::Reached>>>,
}

impl KindPlatform {
    fn kubectl(&self) -> &Kubectl {
        self.cluster.kubectl()
    }

    fn phase(&self, name: &str, seconds: f64) {
        self.setup.add(name, seconds);
    }
}

impl PlatformRun for KindPlatform {
    fn platform(&self) -> Platform {
        self.cluster.platform()
    }

    fn dind(&self) -> DindMode {
        self.dind
    }

    fn concurrency(&self) -> usize {
        // One item per shared install at a time (`--jobs` installs).
        self.slots.all.len()
    }

    fn set_artifacts(&mut self, artifacts: std::collections::HashMap<&'static str, Vec<u8>>) {
        self.artifacts = artifacts;
    }

    fn not_here(&self, item: &RunItem) -> Option<String> {
        KindPlatform::not_here(self, item)
    }

    async fn run_item(&self, item: &RunItem) -> ScenarioResult {
        KindPlatform::run_item(self, item).await
    }

    fn has_upgrades(&self) -> bool {
        !self.upgrades.is_empty()
    }

    async fn run_upgrades(&self, items: &[RunItem]) -> Vec<ScenarioResult> {
        let mut results = Vec::new();
        for up in &self.upgrades {
            results.push(self.run_upgrade(up, items).await);
        }
        results
    }

    async fn teardown(&self, failed: bool) -> Result<()> {
        if failed {
            // The run's own namespaces, never all of the user's.
            let places = self.places.listed(self.kubectl(), Some(&self.helm)).await.unwrap_or_default();
            let namespaces: Vec<String> = places.into_iter().filter(|p| !p.theirs).map(|p| p.namespace).collect();
            match self.cluster.export_logs(&namespaces).await {
                Ok(dir) => self.progress.say(format!("the cluster's logs: {}", dir.display())),
                Err(e) => self.progress.say(format!("could not export the cluster's logs: {e:#}")),
            }
        }
        let keep = self.keep || (failed && self.keep_on_failure);
        teardown(self, keep, self.keep_cluster, self.slots.first()).await
    }

    fn facts(&self) -> Facts {
        Facts {
            executor: self.delivery.kind().name(),
            privilege: self.cluster.privilege().describe().to_owned(),
            images: "built".to_owned(),
            allowed_findings: self.allowed_findings.clone(),
        }
    }

    fn phases(&self) -> &Phases {
        &self.setup
    }
}

/// Everything the run made goes — the cluster when it made it and may not keep it, else
/// every install of the run as the cluster lists them (see `place.rs`) — unless it is to be
/// kept, which is said with how to get in.
async fn teardown(env: &KindPlatform, keep: bool, keep_cluster: bool, first: &place::Place) -> Result<()> {
    let cluster = &env.cluster;
    // What the provider changed first (a registry CA the engine trusted for the pushes, the
    // nodes' knob): also when everything else is kept.
    cluster.finish(&env.progress).await;
    if keep {
        let (ns, release) = (&first.namespace, &first.release);
        env.progress.say(format!(
            "kept: {}, release {release} in namespace {ns}; KUBECONFIG={} kubectl -n {ns} exec -it deploy/{release}-forgejo-runner -c runner -- bash  ({}{})",
            cluster.name(),
            cluster.kubectl().kubeconfig.display(),
            env.places.kept_hint().unwrap_or_else(|| cluster.kept_hint(ns)),
            env.delivery.kept(&env.run_id)
        ));
        return Ok(());
    }
    if let Err(e) = env.delivery.teardown().await {
        env.progress.say(format!("could not remove what the run's delivery made: {e:#}"));
    }

    if !keep_cluster && cluster.created() {
        // The cluster goes, and everything in it.
        return cluster.delete(&env.progress).await;
    }
    env.places.remove_all(env.kubectl(), Some(&env.helm)).await?;
    // The leak check reads the cluster, not a list the run kept.
    let left = env.places.leftovers(env.kubectl(), &env.leak_kinds).await?;
    anyhow::ensure!(left.is_empty(), "the run left behind: {}", left.join(", "));
    Ok(())
}

use crate::error::one_line;

/// After SIGINT/SIGTERM: the run's installs go (see `place.rs`), and a kind cluster too
/// unless it is to be kept or existed before. Best effort: every step is tried.
pub async fn interrupted_cleanup(choice: &ClusterChoice, run_id: &str, keep_cluster: bool, progress: &Progress) {
    // Helm where it is already installed: removing is no time to download it.
    let helm = crate::tools::named(&["helm"]).ok().and_then(|t| t.first()?.locate().path().map(PathBuf::from));
    let cluster = match choice {
        ClusterChoice::Kind(o) => o.name.as_str(),
        ClusterChoice::Existing(o) => {
            if let Some(registry) = &o.registry {
                crate::cluster::existing::untrust_registry(registry);
            }
            if let Ok(c) = Existing::reach(&ExistingOptions { registry_ca: None, ..o.clone() }, progress).await {
                if let Some(applied) = crate::cluster::node_sysctl::Applied::load(run_id) {
                    match crate::cluster::node_sysctl::restore(c.kubectl(), &applied).await {
                        Ok(lines) => lines.into_iter().for_each(|l| progress.say(l)),
                        Err(e) => progress.say(format!("--apply-sysctl: could not restore the nodes' knob: {e:#}")),
                    }
                }
                let places = place::Places::new(run_id, o.namespace.clone());
                match places.remove_all(c.kubectl(), helm.as_deref()).await {
                    Ok(()) => progress.say(format!("removed what run {run_id} made in the cluster")),
                    Err(e) => progress.say(format!("could not remove what run {run_id} made: {e:#}")),
                }
            }
            return;
        }
    };
    let Ok(c) = Cluster::find(cluster).await else { return };
    let _ = place::Places::new(run_id, None).remove_all(&c.kubectl, helm.as_deref()).await;
    progress.say(format!("removed the namespaces of run {run_id}"));
    if !keep_cluster && c.exists().await.unwrap_or(false) {
        match c.delete(progress).await {
            Ok(()) => progress.say(format!("deleted cluster {cluster}")),
            Err(e) => progress.say(format!("could not delete cluster {cluster}: {e:#}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_in_flight_is_reported_as_what_happened_to_it() {
        assert_eq!(Fate::Finished("success".into()).to_string(), "finished (success)");
        assert_eq!(Fate::Cancelled.to_string(), "cancelled");
        assert_eq!(Fate::Lost("running".into()).to_string(), "lost (still running)");
    }
}
