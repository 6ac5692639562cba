//! The kind platform, carried out on the local kind cluster: the runner chart installed with
//! helm and the values generated from the typed configuration; the chart's pod (runner
//! container, privileged DIND sidecar, shared `/certs`, the service-account token) runs every
//! item. With a registered runner (`forge.rs`) the chart's runner container runs the runner's
//! image with the `config.yaml` the chart rendered, and jobs reach it only through the forge
//! beside the cluster; with act, the stand-in, each workflow runs in the chart's runner
//! container through `kubectl exec`, against the sidecar's DIND on 127.0.0.1:2376 with the
//! certificates the chart mounted. Judged like the Docker platform.

mod act;
mod forge;
mod items;
mod node;
mod pod;
mod release;
mod render;
mod start_facts;
mod upgrade;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;

pub use self::upgrade::KindUpgrade;
use super::RunItem;
use super::seam::{Facts, Phases, PlatformRun};
use crate::Progress;
use crate::cluster::{self, Cluster, ClusterOptions, Kubectl};
use crate::config::ChartValues;
use crate::docker::DindMode;
use crate::docker::images::ImageKind;
use crate::fault::{Deadlines, PodChange};
use crate::kind::{CertMode, ChartSource, KindOptions, Registration, Versions};
use crate::report::ScenarioResult;
use crate::scenario::Platform;

/// Helm's release name, as in the plan (`runner-forgejo-runner` is the Deployment).
const RELEASE: &str = "runner";
/// The project's own test chart's name (Chart.yaml): named in every header.
const TEST_CHART: &str = "forgejo-runner-e2e";

/// What `cargo xtask e2e --platform kind` was asked to do.
pub struct KindRunOptions {
    pub run_id: String,
    pub items: Vec<RunItem>,
    pub values: ChartValues,
    pub dind: DindMode,
    /// The harness's rcgen set as a Secret, or docker:dind's own made in the pod.
    pub certs: CertMode,
    pub cluster: ClusterOptions,
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
    /// Chart upgrades to validate instead of the plain run (each runs the plain items
    /// before and after `helm upgrade`).
    pub upgrades: Vec<KindUpgrade>,
    /// Render findings the user accepts (`--allow-finding KEY`): any other fails the run
    /// before the cluster.
    pub allow_findings: Vec<String>,
}

/// A job pushed and taken, left running (see [`Delivery::start`]).
struct InFlight {
    owner: String,
    repo: String,
    sha: String,
    /// The runner that took it (its pod's name with the test chart).
    runner: String,
}

/// What became of a job in flight when the pod it ran in was replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fate {
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
/// job-delivery seam, implemented by `act.rs` (act through `kubectl exec`) and `forge.rs`
/// (the runner the chart registered, through the forge beside the cluster), held by
/// [`KindPlatform`] and asked wherever the two differ.
trait Delivery: Send + Sync {
    /// Who runs the jobs (for the evidence, the reports and the items it cannot run).
    fn kind(&self) -> crate::executor::Kind;
    /// The chart's runner container's image (`job_image` is the run's job image).
    fn runner_image<'a>(&'a self, job_image: &'a str) -> &'a str;
    /// Readies an install's pod whose DIND answers for its jobs (act's binaries copied in).
    fn ready<'a>(&'a self, _pod: &'a pod::KindPod<'a>) -> futures_util::future::LocalBoxFuture<'a, Result<()>> {
        Box::pin(async { Ok(()) })
    }
    /// The token the install in `namespace` registers with; empty for a `.runner` made
    /// offline.
    fn registration_token<'a>(&'a self, namespace: &'a str)
    -> futures_util::future::LocalBoxFuture<'a, Result<String>>;
    /// A forge of its own for the install in `namespace` (a fault stops it), which its
    /// registration, values and jobs then use; its container's name.
    fn own_forge<'a>(&'a self, namespace: &'a str) -> futures_util::future::LocalBoxFuture<'a, Result<String>>;
    /// The install's own forge removed, if it had one.
    fn own_forge_done<'a>(&'a self, namespace: &'a str) -> futures_util::future::LocalBoxFuture<'a, Result<()>>;
    /// The chart's values for the install in `namespace` as this runner needs them.
    fn shape_values(&self, p: &KindPlatform, namespace: &str, values: &mut ChartValues);
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
    cluster: Cluster,
    helm: PathBuf,
    run_id: String,
    dind: DindMode,
    kind_opts: KindOptions,
    /// The run's chart and chart values (the runner configuration among them).
    chart: ChartSource,
    values: ChartValues,
    job_image: String,
    /// Who runs the jobs and how a job reaches the chart's pod: act by `kubectl exec`, or
    /// the runner the chart registered with the forge beside the cluster.
    delivery: Box<dyn Delivery>,
    /// `docker save` of the job image, made once.
    image_tar: tokio::sync::Mutex<Option<Vec<u8>>>,
    artifacts: std::collections::HashMap<&'static str, Vec<u8>>,
    signatures: Vec<crate::diagnose::Signature>,
    out_dir: PathBuf,
    deadlines: Deadlines,
    progress: Progress,
    /// The run's own install, made when the first item needs it (an error is every such
    /// item's error).
    shared: tokio::sync::OnceCell<std::result::Result<release::Release, String>>,
    shared_namespace: String,
    /// Seconds per setup phase, for the summary and the bench.
    setup: Phases,
    upgrades: Vec<KindUpgrade>,
    /// The render findings `--allow-finding` accepted, for the summary.
    allowed_findings: Vec<crate::report::Finding>,
    keep: bool,
    keep_cluster: bool,
    keep_on_failure: bool,
    /// What each install reached on its way to Ready, by namespace (see `start_facts.rs`).
    reached: std::sync::Mutex<std::collections::HashMap<String, Vec<crate::failure::Reached>>>,
}

impl KindPlatform {
    fn kubectl(&self) -> &Kubectl {
        &self.cluster.kubectl
    }

    fn phase(&self, name: &str, seconds: f64) {
        self.setup.add(name, seconds);
    }

    /// The run's install, made on first use.
    async fn shared(&self) -> Result<&release::Release> {
        let made = self
            .shared
            .get_or_init(|| async {
                let r = self.install(
                    &self.shared_namespace,
                    &self.chart,
                    &self.values,
                    PodChange::default(),
                    self.deadlines,
                );
                let r = r.await.map_err(|e| format!("{e:#}"));
                // Each step of the install its own phase: helm, pod Ready, DIND, image load.
                for (step, secs) in r.iter().flat_map(|r| &r.timings) {
                    self.phase(step, *secs);
                }
                r
            })
            .await;
        made.as_ref().map_err(|e| anyhow::anyhow!("the run's chart install failed: {e}"))
    }
}

/// Helm, the render check, the cluster (up or reused), the nodes' sysctl and the run's
/// header: the kind platform ready for its items. With a `forge`, the runner's image is
/// loaded into the cluster and the forge started beside it.
pub async fn prepare(
    opts: KindRunOptions,
    executor: Box<dyn crate::executor::Executor>,
    executor_line: &str,
    forge: Option<crate::executor::choice::ForgeSetup>,
    progress: Progress,
) -> Result<KindPlatform> {
    let docker = crate::docker::connect().await?;
    let helm = crate::tools::named(&["helm"])?.remove(0).ensure(&progress).await?;
    let kind_opts = kind_options(&opts, forge.is_some())?;
    // The render check before any cluster: a chart that does not render is one line, fast.
    let source = ChartSource::new(&opts.chart, &opts.chart_version);
    // Each upgrade's B too, as it will be installed: its chart with its values.
    let charts: Vec<(&ChartSource, KindOptions)> = std::iter::once((&source, kind_opts.clone()))
        .chain(
            opts.upgrades
                .iter()
                .filter(|u| u.skip.is_none())
                .map(|up| (&up.to, KindOptions { values: up.to_values.clone(), ..kind_opts.clone() })),
        )
        .collect();
    let allowed = render::gate(&helm, &charts, &opts.allow_findings, &progress)?;
    let t = Instant::now();
    let cluster = cluster::up(&docker, &opts.cluster, &progress).await?;
    let mut kind_opts = kind_opts;
    if let crate::cluster::NodeImage::Built(node) = &cluster.node_image {
        // A chart's hook Job runs kubectl from the image the node was built with.
        let tag = node.rsplit_once(':').map_or("", |(_, t)| t);
        kind_opts.versions.kubectl_image = format!("{}:{tag}", crate::cluster::node_image::KUBECTL_REPOSITORY);
    }
    let setup = vec![("cluster".to_owned(), t.elapsed().as_secs_f64())];
    for line in node_sysctl(&cluster).await {
        progress.say(line);
    }
    progress.say(header(&opts, &cluster, executor_line, &allowed));
    let out_dir = crate::output_dir().join("runs").join(&opts.run_id);
    std::fs::create_dir_all(&out_dir)?;
    let mut setup = setup;
    let delivery: Box<dyn Delivery> = match forge {
        None => Box::new(crate::platform::delivery::ActDelivery { act: executor }),
        Some(forge) => {
            let t = Instant::now();
            let started = forge::KindForge::start(&cluster, &opts.run_id, &forge, &out_dir, &progress);
            let what = format!("load the runner's image, start {} beside the cluster", forge.dialect.name());
            match progress.step(&what, started).await {
                Ok(r) => {
                    progress.say(format!("{} beside the cluster at {}", forge.dialect.name(), r.url()));
                    setup.push(("forge".to_owned(), t.elapsed().as_secs_f64()));
                    Box::new(r)
                }
                Err(e) => {
                    // Nothing the run made stays behind a failed start.
                    after_failed_start(&cluster, &opts, &progress).await;
                    return Err(e);
                }
            }
        }
    };
    Ok(KindPlatform {
        delivery,
        cluster,
        helm,
        run_id: opts.run_id.clone(),
        dind: opts.dind,
        job_image: kind_opts.job_image.clone(),
        kind_opts,
        chart: ChartSource::new(&opts.chart, &opts.chart_version),
        values: opts.values.clone(),
        image_tar: tokio::sync::Mutex::new(None),
        artifacts: std::collections::HashMap::new(),
        signatures: crate::diagnose::signatures()?,
        out_dir,
        deadlines: opts.deadlines,
        progress,
        shared: tokio::sync::OnceCell::new(),
        shared_namespace: format!("fe2e-{}", opts.run_id),
        setup: Phases::new(setup),
        upgrades: opts.upgrades,
        allowed_findings: allowed,
        keep: opts.keep,
        keep_cluster: opts.keep_cluster,
        keep_on_failure: opts.keep_on_failure,
        reached: Default::default(),
    })
}

impl PlatformRun for KindPlatform {
    fn platform(&self) -> Platform {
        Platform::Kind
    }

    fn dind(&self) -> DindMode {
        self.dind
    }

    fn concurrency(&self) -> usize {
        // In turn: the items share one chart install.
        1
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
            match self.cluster.export_logs().await {
                Ok(dir) => self.progress.say(format!("kind export logs: {}", dir.display())),
                Err(e) => self.progress.say(format!("kind export logs failed: {e:#}")),
            }
        }
        let keep = self.keep || (failed && self.keep_on_failure);
        teardown(self, keep, self.keep_cluster, &self.shared_namespace).await
    }

    fn facts(&self) -> Facts {
        Facts {
            executor: self.delivery.kind().name(),
            privilege: self.cluster.privilege.describe().to_owned(),
            images: "built".to_owned(),
            allowed_findings: self.allowed_findings.clone(),
        }
    }

    fn phases(&self) -> &Phases {
        &self.setup
    }
}

fn header(opts: &KindRunOptions, cluster: &Cluster, executor: &str, allowed: &[crate::report::Finding]) -> String {
    let chart = match chart_name(&opts.chart) {
        Some((n, _)) if n == TEST_CHART => format!("{} (the project's test chart, not the wrenix chart)", opts.chart),
        Some((n, v)) => format!("{} ({n} {v}, a directory)", opts.chart),
        None => format!("{} {}", opts.chart, opts.chart_version),
    };
    let allowed = match allowed {
        [] => String::new(),
        a => format!("; render findings allowed: {}", a.iter().map(|f| f.key.as_str()).collect::<Vec<_>>().join(", ")),
    };
    format!(
        "run {}: platform kind (cluster {}, node image {}), DIND {} {}, chart {chart}, {executor} in the chart's runner container{allowed}",
        opts.run_id,
        cluster.name,
        cluster.node_image.describe(),
        opts.dind.name(),
        if cluster.privilege == crate::docker::Privilege::Privileged {
            "privileged"
        } else {
            "privileged in the pod (nodes with an explicit capability set)"
        },
    )
}

/// Everything the run made goes — the cluster when it made it and may not keep it, else
/// every namespace labelled with the run (the release and its kept Secret with them) —
/// unless it is to be kept, which is said with how to get in.
async fn teardown(env: &KindPlatform, keep: bool, keep_cluster: bool, namespace: &str) -> Result<()> {
    let cluster = &env.cluster;
    if keep {
        env.progress.say(format!(
            "kept: cluster {}, namespace {namespace}; KUBECONFIG={} kubectl -n {namespace} exec -it deploy/{RELEASE}-forgejo-runner -c runner -- bash  (remove: cargo xtask cluster down --name {}{})",
            cluster.name,
            cluster.kubectl.kubeconfig.display(),
            cluster.name,
            env.delivery.kept(&env.run_id)
        ));
        return Ok(());
    }
    if let Err(e) = env.delivery.teardown().await {
        env.progress.say(format!("could not remove what the run's delivery made: {e:#}"));
    }
    if !keep_cluster && cluster.created {
        // The cluster goes, and everything in it.
        return cluster.delete(&env.progress).await;
    }
    let label = format!("io.forgejo-e2e.run={}", env.run_id);
    let listed =
        cluster.kubectl.run(&["get", "namespaces", "-l", &label, "-o", "name"], Duration::from_secs(30)).await?;
    for ns in listed.lines().filter_map(|l| l.strip_prefix("namespace/")) {
        env.remove(ns).await?;
    }
    Ok(())
}

/// The user-namespace knob as each kind node sees it (they share the host's kernel: `e2e
/// --apply-sysctl` sets it on the host for the run), or n/a where the kernel has none. Other
/// clusters' nodes are not containers here: `cargo xtask sysctl --daemonset` is their path.
async fn node_sysctl(cluster: &Cluster) -> Vec<String> {
    let knob = crate::node::USERNS_KNOB.name;
    let path = format!("/proc/sys/{}", knob.replace('.', "/"));
    // Every node: kind names them after the cluster (`kubectl get nodes`).
    let listed = cluster.kubectl.run(&["get", "nodes", "-o", "name"], Duration::from_secs(20)).await;
    let nodes: Vec<String> = match &listed {
        Ok(text) => text.lines().filter_map(|l| l.strip_prefix("node/")).map(str::to_owned).collect(),
        Err(e) => return vec![format!("nodes: {knob} unknown (kubectl get nodes: {})", one_line(&format!("{e:#}")))],
    };
    let mut lines = Vec::new();
    for node in nodes {
        let mut cmd = tokio::process::Command::new("docker");
        cmd.args(["exec", &node, "sh", "-c", &format!("cat {path} 2>/dev/null || echo n/a")]);
        let seen = match crate::process::run(cmd, "read the node's sysctl", Duration::from_secs(20), None).await {
            Ok(out) if out.success => out.text.trim().to_owned(),
            Ok(out) => format!("unknown ({})", out.tail(1)),
            Err(e) => format!("unknown ({e:#})"),
        };
        lines.push(match seen.as_str() {
            "n/a" => format!("node {node}: {knob} n/a (this kernel has no such knob: nothing restricts user namespaces)"),
            "0" => format!("node {node}: {knob} = 0 (rootless DIND may create user namespaces)"),
            v => format!(
                "node {node}: {knob} = {v} (rootless DIND will fail: rerun with --apply-sysctl, or cargo xtask sysctl --apply)"
            ),
        });
    }
    lines
}

/// After the platform failed to start: the cluster goes if the run made it and may not
/// keep it, else the run's namespaces.
async fn after_failed_start(cluster: &Cluster, opts: &KindRunOptions, progress: &Progress) {
    if cluster.created && !opts.keep_cluster {
        if let Err(e) = cluster.delete(progress).await {
            progress.say(format!("could not delete cluster {}: {e:#}", cluster.name));
        }
        return;
    }
    let label = format!("io.forgejo-e2e.run={}", opts.run_id);
    let delete = ["delete", "namespace", "-l", &label, "--wait=true", "--timeout=120s"];
    if let Err(e) = cluster.kubectl.run(&delete, Duration::from_secs(150)).await {
        progress.say(format!("could not remove the run's namespaces: {e:#}"));
    }
}

/// The plan's options for this run: the registration (offline, or the chart's hook with a
/// token for the real runner), the harness's certificates and the images `cluster up`
/// loads (their tags are known before they are built).
fn kind_options(opts: &KindRunOptions, real: bool) -> Result<KindOptions> {
    let image = crate::docker::images::planned_reference;
    let dind_kind = if opts.dind == DindMode::Rootless { ImageKind::DindRootless } else { ImageKind::Dind };
    Ok(KindOptions {
        cluster: opts.cluster.name.clone(),
        reuse: true,
        keep: opts.keep,
        keep_on_failure: false,
        registry_mirror: None,
        certs: opts.certs,
        registration: if real { Registration::Token } else { Registration::OfflineSecret },
        apply_sysctl: false,
        dind: opts.dind,
        dind_image: image(dind_kind)?,
        job_image: image(ImageKind::Job)?,
        values: opts.values.clone(),
        versions: Versions::load()?,
        scenarios: Vec::new(),
        chart: opts.chart.clone(),
        chart_version: opts.chart_version.clone(),
    })
}

/// The chart's `name` and `version` when `chart` is a directory with a Chart.yaml.
fn chart_name(chart: &str) -> Option<(String, String)> {
    let text = std::fs::read_to_string(PathBuf::from(chart).join("Chart.yaml")).ok()?;
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).ok()?;
    Some((doc["name"].as_str()?.to_owned(), doc["version"].as_str().unwrap_or("?").to_owned()))
}

fn one_line(text: &str) -> String {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" / ")
}

/// After SIGINT/SIGTERM: the run's namespaces go (the releases with them), and the cluster
/// too unless it is to be kept or existed before. Best effort: every step is tried.
pub async fn interrupted_cleanup(cluster: &str, run_id: &str, keep_cluster: bool, progress: &Progress) {
    let Ok(c) = Cluster::find(cluster).await else { return };
    let label = format!("io.forgejo-e2e.run={run_id}");
    let _ = c
        .kubectl
        .run(&["delete", "namespace", "-l", &label, "--wait=true", "--timeout=60s"], Duration::from_secs(90))
        .await;
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
