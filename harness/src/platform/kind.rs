//! The kind platform, carried out on the local kind cluster: the runner chart installed with
//! helm and the values generated from the typed configuration; the chart's pod (runner
//! container, privileged DIND sidecar, shared `/certs`, the service-account token) runs every
//! item. Offline, act — the named stand-in for forgejo-runner — executes each workflow in
//! the chart's runner container through `kubectl exec`, against the sidecar's DIND on
//! 127.0.0.1:2376 with the certificates the chart mounted. Judged like the Docker platform.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::json;

use super::RunItem;
use super::conclude::{Gathered, Judge, path_safe, skipped};
use super::docker::{Deadlines, read_act};
use crate::cluster::{self, Cluster, ClusterOptions, Kubectl};
use crate::config::{ChartValues, ImageValues};
use crate::docker::images::ImageKind;
use crate::docker::{DindMode, archive};
use crate::executor::act;
use crate::kind::{CertMode, ChartSource, KindOptions, Registration, Versions, runner_values};
use crate::process::{Output, run_with};
use crate::report::{ScenarioResult, Summary};
use crate::scenario::{Check, Evidence, Executor, Platform, PodSetup};
use crate::wait::{Poll, until};
use crate::{Progress, user_error};

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
    pub cluster: ClusterOptions,
    /// A chart directory (the project's test chart, a wrenix checkout) or a chart reference.
    pub chart: String,
    pub chart_version: String,
    /// Leave the cluster up afterwards (`--reuse`, `--keep`); a cluster that existed before
    /// the run is always left up.
    pub keep_cluster: bool,
    /// Leave the release and its namespace too (`--keep`).
    pub keep: bool,
    pub deadlines: Deadlines,
}

/// One deployed chart and everything the items share.
struct Deployed {
    kubectl: Kubectl,
    namespace: String,
    pod: String,
    run_id: String,
    dind: DindMode,
    job_image: String,
    config: crate::config::RunnerConfig,
    artifacts: std::collections::HashMap<&'static str, Vec<u8>>,
    signatures: Vec<crate::diagnose::Signature>,
    out_dir: PathBuf,
    deadlines: Deadlines,
    progress: Progress,
}

/// Runs every item on the kind platform and returns the summary; reports are the caller's.
pub async fn run_kind(opts: KindRunOptions, progress: Progress) -> Result<Summary> {
    let start = Instant::now();
    let docker = crate::docker::connect().await?;
    let act_binary = read_act()?;
    let helm = crate::tools::named(&["helm"])?.remove(0).ensure(&progress).await?;
    let mut setup = Vec::new();
    let kind_opts = kind_options(&opts)?;
    // The render check before any cluster: a chart that does not render is one line, fast.
    render_first(&helm, &opts, &kind_opts, &progress)?;
    let t = Instant::now();
    let cluster = cluster::up(&docker, &opts.cluster, &progress).await?;
    setup.push(("cluster".to_owned(), t.elapsed().as_secs_f64()));
    for line in node_sysctl(&cluster.name).await {
        progress.say(line);
    }
    let chart_name = chart_name(&opts.chart);
    progress.say(format!(
        "run {}: platform kind (cluster {}, node image {}), DIND {} {}, chart {}, executor act (a stand-in for forgejo-runner: its image cannot be had offline) in the chart's runner container",
        opts.run_id,
        cluster.name,
        cluster.node_image.describe(),
        opts.dind.name(),
        if cluster.privilege == crate::docker::Privilege::Privileged { "privileged" } else { "privileged in the pod (nodes with an explicit capability set)" },
        match &chart_name {
            Some(n) if n == TEST_CHART => format!("{} (the project's test chart, not the wrenix chart)", opts.chart),
            _ => format!("{} {}", opts.chart, opts.chart_version),
        },
    ));
    let namespace = format!("fe2e-{}", opts.run_id);
    let result =
        deploy_and_run(&opts, &kind_opts, &cluster, &helm, &namespace, act_binary, &mut setup, &progress).await;
    let t = Instant::now();
    let teardown = teardown(&opts, &cluster, &helm, &namespace, &progress).await;
    setup.push(("teardown".to_owned(), t.elapsed().as_secs_f64()));
    let results = result?;
    teardown?;
    let mut summary =
        Summary::new(&opts.run_id, "kind", "act", cluster.privilege.describe(), "built", results, start.elapsed());
    summary.setup_phases = setup;
    Ok(summary)
}

/// The user-namespace knob as each kind node sees it (they share the host's kernel: `e2e
/// --apply-sysctl` sets it on the host for the run), or n/a where the kernel has none.
async fn node_sysctl(cluster: &str) -> Vec<String> {
    let knob = crate::node::USERNS_KNOB.name;
    let path = format!("/proc/sys/{}", knob.replace('.', "/"));
    let node = format!("{cluster}-control-plane");
    let mut cmd = tokio::process::Command::new("docker");
    cmd.args(["exec", &node, "sh", "-c", &format!("cat {path} 2>/dev/null || echo n/a")]);
    let seen = match crate::process::run(cmd, "read the node's sysctl", Duration::from_secs(20), None).await {
        Ok(out) if out.success => out.text.trim().to_owned(),
        Ok(out) => format!("unknown ({})", out.tail(1)),
        Err(e) => format!("unknown ({e:#})"),
    };
    let line = match seen.as_str() {
        "n/a" => format!("node {node}: {knob} n/a (this kernel has no such knob: nothing restricts user namespaces)"),
        "0" => format!("node {node}: {knob} = 0 (rootless DIND may create user namespaces)"),
        v => format!(
            "node {node}: {knob} = {v} (rootless DIND will fail: rerun with --apply-sysctl, or cargo xtask sysctl --apply)"
        ),
    };
    vec![line]
}

/// The plan's options for this run: the offline registration, the harness's certificates
/// and the images `cluster up` loads (their tags are known before they are built).
fn kind_options(opts: &KindRunOptions) -> Result<KindOptions> {
    let planned = crate::docker::images::plan(&crate::fixtures_dir())?;
    let image = |k: ImageKind| planned.iter().find(|p| p.kind == k).map(|p| p.reference()).unwrap_or_default();
    let dind_kind = if opts.dind == DindMode::Rootless { ImageKind::DindRootless } else { ImageKind::Dind };
    Ok(KindOptions {
        cluster: opts.cluster.name.clone(),
        reuse: true,
        keep: opts.keep,
        keep_on_failure: false,
        registry_mirror: None,
        certs: CertMode::Harness,
        registration: Registration::OfflineSecret,
        apply_sysctl: false,
        dind: opts.dind,
        dind_image: image(dind_kind),
        job_image: image(ImageKind::Job),
        values: opts.values.clone(),
        versions: Versions::load()?,
        scenarios: Vec::new(),
        chart: opts.chart.clone(),
        chart_version: opts.chart_version.clone(),
    })
}

/// `helm template` of the chart with the generated values, compared with intent; findings
/// are said, a chart that does not render is one line quoting helm.
fn render_first(
    helm: &std::path::Path,
    opts: &KindRunOptions,
    kind_opts: &KindOptions,
    progress: &Progress,
) -> Result<()> {
    let source = ChartSource::new(&opts.chart, &opts.chart_version);
    let report = crate::kind::render_check(helm, &source, kind_opts).map_err(|e| {
        let hint =
            if source.version.is_some() { "; without its registry, give a chart directory: --chart DIR" } else { "" };
        user_error!(
            "the chart {} does not render with the generated values: {}{hint}",
            opts.chart,
            one_line(&format!("{e:#}"))
        )
    })?;
    for f in &report.findings {
        progress.say(format!("render check: FINDING {f}"));
    }
    progress.say(format!("render check of {}: {} findings", opts.chart, report.findings.len()));
    Ok(())
}

/// The chart's `name` when `chart` is a directory with a Chart.yaml.
fn chart_name(chart: &str) -> Option<String> {
    let text = std::fs::read_to_string(PathBuf::from(chart).join("Chart.yaml")).ok()?;
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).ok()?;
    doc["name"].as_str().map(str::to_owned)
}

#[allow(clippy::too_many_arguments)]
async fn deploy_and_run(
    opts: &KindRunOptions,
    kind_opts: &KindOptions,
    cluster: &Cluster,
    helm: &std::path::Path,
    namespace: &str,
    act_binary: Vec<u8>,
    setup: &mut Vec<(String, f64)>,
    progress: &Progress,
) -> Result<Vec<ScenarioResult>> {
    let k = &cluster.kubectl;
    let job_image = kind_opts.job_image.clone();
    let source = ChartSource::new(&opts.chart, &opts.chart_version);
    let (mut values, notes) = runner_values(kind_opts, "");
    // The runner container is the harness's job image with the forgejo-runner stand-in.
    values.image =
        Some(ImageValues { pull_policy: Some("IfNotPresent".into()), ..ImageValues::from_reference(&job_image) });
    // DIND's data root on an emptyDir: overlay2 instead of vfs on the container's own root.
    let data_mount = json!({"name": "fe2e-dind-data", "mountPath": opts.dind.data_dir()});
    values
        .volumes
        .get_or_insert_with(Vec::new)
        .push(serde_yaml::to_value(json!({"name": "fe2e-dind-data", "emptyDir": {}}))?);
    values.volume_mounts.get_or_insert_with(Vec::new).push(serde_yaml::to_value(data_mount)?);
    for n in notes.iter().filter(|n| n.starts_with("FINDING")) {
        progress.say(n);
    }
    let out_dir = crate::output_dir().join("runs").join(&opts.run_id);
    std::fs::create_dir_all(&out_dir)?;
    let values_path = out_dir.join("runner-values.yaml");
    std::fs::write(&values_path, serde_yaml::to_string(&values)?)?;

    let t = Instant::now();
    k.apply(&secrets_manifest(namespace, kind_opts, &opts.run_id)?).await?;
    let mut install: Vec<String> = ["upgrade", "--install", RELEASE, &opts.chart].map(String::from).to_vec();
    if let Some(v) = &source.version {
        install.extend(["--version".into(), v.clone()]);
    }
    install.extend(["--namespace", namespace, "--wait", "--timeout", "5m", "--values"].map(String::from));
    install.push(values_path.display().to_string());
    let mut cmd = tokio::process::Command::new(helm);
    cmd.args(&install).arg("--kubeconfig").arg(&k.kubeconfig);
    let what = format!("helm install {}", opts.chart);
    let out = run_with(cmd, &what, Duration::from_secs(330), None, |_| {}, Some(progress)).await?;
    if !out.success {
        let events = k
            .run(&["--namespace", namespace, "get", "events", "--sort-by=.lastTimestamp"], Duration::from_secs(20))
            .await
            .unwrap_or_default();
        anyhow::bail!("{what}: {} (events: {})", out.tail(2), one_line(&tail_lines(&events, 5)));
    }
    setup.push(("helm install to pod Ready".to_owned(), t.elapsed().as_secs_f64()));
    progress.say(format!("{what}: {:.1}s", t.elapsed().as_secs_f64()));
    let pod = runner_pod(k, namespace).await?;

    let t = Instant::now();
    let version = until(
        "DIND answers the runner container over TLS",
        Duration::from_secs(90),
        Duration::from_secs(2),
        || async {
            let args = [
                "--namespace",
                namespace,
                "exec",
                &pod,
                "-c",
                "runner",
                "--",
                "docker",
                "version",
                "--format",
                "{{.Server.Version}}",
            ];
            Ok(match k.run(&args, Duration::from_secs(30)).await {
                Ok(v) => Poll::Ready(v.trim().to_owned()),
                Err(e) => Poll::NotYet(one_line(&format!("{e:#}"))),
            })
        },
    )
    .await?;
    progress.say(format!("pod {pod}: the runner container reaches DIND {version} ({}) over TLS", opts.dind.name()));
    let image = image_bytes(&job_image).await?;
    // kubectl's exec stream can drop a long upload on a busy machine (websocket i/o timeout):
    // one more try before giving up.
    let load = || exec_stdin(k, namespace, &pod, &["docker", "load"], image.clone(), Duration::from_secs(300));
    let mut loaded = load().await;
    if let Err(e) = &loaded {
        progress.say(format!("load {job_image} into DIND: {}; trying once more", one_line(&format!("{e:#}"))));
        loaded = load().await;
    }
    loaded.with_context(|| format!("load {job_image} into DIND"))?;
    let act_tar = archive::from_entries(&[archive::Entry { path: "act", contents: &act_binary, mode: 0o755, uid: 0 }])?;
    exec_stdin(k, namespace, &pod, &["tar", "-x", "-C", "/usr/local/bin"], act_tar, Duration::from_secs(60))
        .await
        .context("copy act into the runner container")?;
    setup.push(("image load".to_owned(), t.elapsed().as_secs_f64()));
    progress.say(format!("{job_image} loaded into DIND, act copied in: {:.1}s", t.elapsed().as_secs_f64()));

    let wanted: Vec<_> =
        opts.items.iter().filter_map(|i| i.scenario).flat_map(|s| s.artifacts.iter().copied()).collect();
    let artifacts = progress.step("build job artifacts", crate::artifacts::build(&wanted, progress)).await?;
    let deployed = Deployed {
        kubectl: k.clone(),
        namespace: namespace.to_owned(),
        pod,
        run_id: opts.run_id.clone(),
        dind: opts.dind,
        job_image,
        config: opts.values.runner.config.file.clone(),
        artifacts,
        signatures: crate::diagnose::signatures()?,
        out_dir,
        deadlines: opts.deadlines,
        progress: *progress,
    };
    let mut results = Vec::new();
    for item in &opts.items {
        results.push(deployed.run_item(item).await);
    }
    Ok(results)
}

/// The namespace, the TLS set as a Secret, and the `.runner` made offline as the chart's
/// existingSecret (no registration hook: no Forgejo here).
fn secrets_manifest(namespace: &str, opts: &KindOptions, run_id: &str) -> Result<String> {
    let labels = json!({"app.kubernetes.io/managed-by": "forgejo-e2e", "io.forgejo-e2e.run": run_id});
    let certs = crate::pki::generate(&crate::pki::PkiOptions::default())?;
    let data = crate::pki::secret_data(&certs);
    let runner_file = json!({
        "WARNING": "made offline by forgejo-e2e for the forgejo-runner stand-in; no Forgejo knows it",
        "id": 1,
        "uuid": format!("00000000-0000-4000-8000-{:0>12}", run_id),
        "name": format!("{}-runner", opts.cluster),
        "token": format!("{:0>40}", run_id),
        "address": crate::kind::FORGEJO_URL,
        "labels": opts.values.runner.config.file.labels(),
    });
    let registration =
        json!({".runner": crate::base64::encode(serde_json::to_string_pretty(&runner_file)?.as_bytes())});
    let docs = [
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": labels}}),
        json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
               "metadata": {"name": crate::kind::CERTS_SECRET, "namespace": namespace, "labels": labels}, "data": data}),
        json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
               "metadata": {"name": format!("{}-registration", opts.cluster), "namespace": namespace, "labels": labels},
               "data": registration}),
    ];
    Ok(docs.iter().map(|d| format!("---\n{d}\n")).collect())
}

/// The chart's runner pod (the Deployment's one replica), Running.
async fn runner_pod(k: &Kubectl, namespace: &str) -> Result<String> {
    let pods =
        k.json(&["--namespace", namespace, "get", "pods", "-l", "app.kubernetes.io/name=forgejo-runner"]).await?;
    pods["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["status"]["phase"] == "Running" && p["metadata"]["deletionTimestamp"].is_null())
        .and_then(|p| p["metadata"]["name"].as_str().map(str::to_owned))
        .context("no Running pod labelled app.kubernetes.io/name=forgejo-runner after helm --wait")
}

/// `docker save` of one image from the host engine.
async fn image_bytes(image: &str) -> Result<Vec<u8>> {
    use futures_util::StreamExt;
    let docker = crate::docker::connect().await?;
    let mut stream = docker.export_image(image);
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk.with_context(|| format!("docker save {image}"))?);
    }
    Ok(bytes)
}

/// `kubectl exec -i` in the runner container with `stdin`.
async fn exec_stdin(
    k: &Kubectl,
    ns: &str,
    pod: &str,
    argv: &[&str],
    stdin: Vec<u8>,
    deadline: Duration,
) -> Result<Output> {
    let mut args = vec!["--namespace", ns, "exec", "-i", pod, "-c", "runner", "--"];
    args.extend_from_slice(argv);
    let out = run_with(k.command(&args), "kubectl exec", deadline, Some(stdin), |_| {}, None).await?;
    anyhow::ensure!(out.success, "kubectl exec {}: {}", argv.join(" "), out.tail(3));
    Ok(out)
}

async fn teardown(
    opts: &KindRunOptions,
    cluster: &Cluster,
    helm: &std::path::Path,
    namespace: &str,
    progress: &Progress,
) -> Result<()> {
    if opts.keep {
        progress.say(format!(
            "kept: release {RELEASE} in namespace {namespace}; KUBECONFIG={} kubectl -n {namespace} exec -it deploy/{RELEASE}-forgejo-runner -c runner -- bash",
            cluster.kubectl.kubeconfig.display()
        ));
        return Ok(());
    }
    if !opts.keep_cluster && cluster.created {
        // The cluster goes, and everything in it.
        return cluster.delete(progress).await;
    }
    // Not the default 30 s grace: the chart's runner shell does not forward SIGTERM.
    let _ = cluster
        .kubectl
        .run(&["--namespace", namespace, "delete", "pods", "--all", "--grace-period=1"], Duration::from_secs(60))
        .await;
    let mut cmd = tokio::process::Command::new(helm);
    cmd.args(["uninstall", RELEASE, "--namespace", namespace, "--ignore-not-found", "--kubeconfig"])
        .arg(&cluster.kubectl.kubeconfig);
    let _ = run_with(cmd, "helm uninstall", Duration::from_secs(120), None, |_| {}, None).await;
    // The namespace takes the Secrets along, the kept `.runner` one included.
    cluster
        .kubectl
        .run(
            &["delete", "namespace", namespace, "--ignore-not-found", "--wait=true", "--timeout=120s"],
            Duration::from_secs(150),
        )
        .await?;
    Ok(())
}

fn one_line(text: &str) -> String {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" / ")
}

fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

impl Deployed {
    /// Why `item` is not carried out on kind, if it is not.
    fn not_here(&self, item: &RunItem) -> Option<String> {
        if let Some(reason) = crate::run::unmet_needs_on(item, Platform::Kind, self.dind) {
            return Some(reason);
        }
        if item.scenario.is_some_and(|s| s.setup == PodSetup::UsernsRestriction) {
            return Some("starts pods of its own under an injected seccomp profile: Docker platform only".into());
        }
        let v = item.variant?;
        (v.fault.is_some() || !v.dind_args.is_empty())
            .then(|| "changes the pod itself (DIND flags or a fault): the kind platform runs one chart install".into())
    }

    async fn run_item(&self, item: &RunItem) -> ScenarioResult {
        if let Some(reason) = self.not_here(item) {
            self.progress.say(format!("{}: skipped: {reason}", item.name));
            return skipped(item, Platform::Kind, self.dind, reason);
        }
        self.progress.say(format!("{}: start", item.name));
        let start = Instant::now();
        let judge = Judge {
            platform: Platform::Kind,
            dind: self.dind,
            signatures: &self.signatures,
            out_dir: &self.out_dir,
            progress: &self.progress,
        };
        let config = item.config(&self.config);
        let mut run = Gathered::default();
        let checks = if let Some(why) = item.label_mismatch(&config) {
            vec![Check::never_ran(why)]
        } else {
            if let Err(e) = self.run_job(item, &config, &mut run).await {
                run.error = Some(e);
            }
            run.evidence.as_ref().map(|ev| item.checks(ev)).unwrap_or_default()
        };
        let failed = run.error.is_some() || run.evidence.as_ref().is_some_and(|e| !e.job_succeeded);
        if failed || item.variant.is_some() {
            self.collect_logs(&mut run).await;
        }
        let result = judge.conclude(item, run, checks, Vec::new(), start);
        let word = match result.outcome {
            crate::scenario::Outcome::Pass => "passed",
            crate::scenario::Outcome::Fail(_) => "FAILED",
            crate::scenario::Outcome::Skip(_) => "skipped",
        };
        self.progress.say(format!("{}: {word} in {:.1}s", item.name, result.duration.as_secs_f64()));
        result
    }

    /// The workspace into the runner container, then act there through `kubectl exec`.
    async fn run_job(&self, item: &RunItem, config: &crate::config::RunnerConfig, run: &mut Gathered) -> Result<()> {
        let nonce = format!("{}-{}", self.run_id, crate::run::new_run_id());
        let dir = path_safe(&item.name);
        let workspace = self.out_dir.join("workspaces").join(&dir);
        item.lay_workspace(&workspace, &nonce, &self.job_image, &self.artifacts)?;
        let t = Instant::now();
        let tar = archive::from_dir(&workspace, &dir)?;
        exec_stdin(
            &self.kubectl,
            &self.namespace,
            &self.pod,
            &["sh", "-c", "mkdir -p /work && tar -x -C /work"],
            tar,
            Duration::from_secs(60),
        )
        .await
        .context("copy the workspace into the runner container")?;
        run.phases.push(("workspace upload".into(), t.elapsed().as_secs_f64()));

        let (cmd, deviations) = act::command(config, &self.job_image, &item.workflow);
        run.notes.extend(deviations.into_iter().map(|d| d.0));
        let cwd = format!("/work/{dir}");
        let mut args = vec![
            "--namespace",
            self.namespace.as_str(),
            "exec",
            self.pod.as_str(),
            "-c",
            "runner",
            "--",
            "env",
            "-C",
            cwd.as_str(),
        ];
        args.extend(cmd.iter().map(String::as_str));
        let name = item.name.clone();
        let show = |line: &str| {
            if let Some(shown) = act::progress_line(line) {
                self.progress.say(format!("{name}: job {shown}"));
            }
        };
        let t = Instant::now();
        let out = run_with(
            self.kubectl.command(&args),
            &format!("{name}: act"),
            self.deadlines.job,
            None,
            show,
            Some(&self.progress),
        )
        .await;
        let out = match out {
            Ok(o) => o,
            Err(e) => anyhow::bail!("the job did not finish within {}s: {e:#}", self.deadlines.job.as_secs()),
        };
        run.phases.push(("job".into(), t.elapsed().as_secs_f64()));
        run.logs.push(("job.log", out.text.clone()));
        run.evidence = Some(Evidence {
            platform: Platform::Kind,
            executor: Executor::Act,
            dind: self.dind,
            nonce,
            job_succeeded: out.success,
            log: out.text,
        });
        Ok(())
    }

    /// What a failure bundle needs from the cluster: both containers' logs, the pod, events.
    async fn collect_logs(&self, run: &mut Gathered) {
        let ns = self.namespace.as_str();
        let pod = self.pod.as_str();
        let calls: [(&'static str, Vec<&str>); 4] = [
            ("dind.log", vec!["--namespace", ns, "logs", pod, "-c", "dind", "--tail", "300"]),
            ("runner.log", vec!["--namespace", ns, "logs", pod, "-c", "runner", "--tail", "300"]),
            ("pod-describe.txt", vec!["--namespace", ns, "describe", "pod", pod]),
            ("events.txt", vec!["--namespace", ns, "get", "events", "--sort-by=.lastTimestamp"]),
        ];
        for (file, args) in calls {
            let text = self.kubectl.run(&args, Duration::from_secs(30)).await.unwrap_or_else(|e| format!("{e:#}"));
            run.logs.push((file, text));
        }
    }
}

/// After SIGINT/SIGTERM: the run's namespace goes (the release with it), and the cluster
/// too unless it is to be kept or existed before. Best effort: every step is tried.
pub async fn interrupted_cleanup(cluster: &str, run_id: &str, keep_cluster: bool, progress: &Progress) {
    let Ok(c) = Cluster::find(cluster).await else { return };
    let namespace = format!("fe2e-{run_id}");
    let _ = c
        .kubectl
        .run(
            &["delete", "namespace", &namespace, "--ignore-not-found", "--wait=true", "--timeout=60s"],
            Duration::from_secs(90),
        )
        .await;
    progress.say(format!("removed namespace {namespace}"));
    if !keep_cluster && c.exists().await.unwrap_or(false) {
        match c.delete(progress).await {
            Ok(()) => progress.say(format!("deleted cluster {cluster}")),
            Err(e) => progress.say(format!("could not delete cluster {cluster}: {e:#}")),
        }
    }
}
