//! The kind platform made ready for its items: helm, the render check as a gate, the
//! cluster (up or reused), the nodes' sysctl, the run's header, and who runs the jobs —
//! act, or the runner the chart registers with the forge started beside the cluster.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::{ClusterChoice, Delivery, KindPlatform, KindRunOptions, one_line, render};
use crate::cluster::existing::{Existing, ExistingOptions};
use crate::cluster::preflight;
use crate::cluster::provider::Provider;
use crate::docker::DindMode;
use crate::docker::images::ImageKind;
use crate::kind::{ChartSource, KindOptions, Registration, Versions};
use crate::platform::delivery::runner::kind::KindForge;
use crate::platform::seam::Phases;
use crate::{Progress, user_error};

/// The project's own test chart's name (Chart.yaml): named in every header.
const TEST_CHART: &str = "forgejo-runner-e2e";

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
    if let ClusterChoice::Existing(e) = &opts.cluster {
        // A kubeconfig that is not there is said before anything else.
        crate::cluster::existing::kubeconfig_of(e)?;
    }
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
    let gated = render::gate(&helm, &charts, &opts.allow_findings, &progress)?;
    let allowed = gated.allowed;
    let t = Instant::now();
    let mut phases = Vec::new();
    let cluster: Box<dyn Provider> = match &opts.cluster {
        ClusterChoice::Kind(c) => Box::new(crate::cluster::up(&docker, c, &progress).await?),
        ClusterChoice::Existing(e) => {
            let aim = Aim {
                opts: e,
                run_id: &opts.run_id,
                kinds: &gated.kinds,
                images: [&kind_opts.dind_image, &kind_opts.job_image],
                dind: opts.dind,
            };
            Box::new(existing(aim, &mut phases, &progress).await?)
        }
    };
    let mut kind_opts = kind_opts;
    if let Some(image) = cluster.kubectl_image() {
        // A chart's hook Job runs kubectl from the image the node was built with.
        kind_opts.versions.kubectl_image = image;
    }
    let setup = match phases.is_empty() {
        true => vec![("cluster".to_owned(), t.elapsed().as_secs_f64())],
        false => phases,
    };
    for line in node_sysctl(cluster.as_ref()).await {
        progress.say(line);
    }
    progress.say(header(&opts, cluster.as_ref(), executor_line, &allowed));
    // With --jobs N the shared installs spread over the nodes pods may be scheduled on.
    let spread = match opts.jobs > 1 {
        true => crate::cluster::schedulable(&cluster.kubectl().json(&["get", "nodes"]).await?),
        false => Vec::new(),
    };
    if spread.len() > 1 {
        progress.say(format!("--jobs {}: the run's installs spread over nodes {}", opts.jobs, spread.join(", ")));
    }
    let places = super::place::Places::new(&opts.run_id, theirs_namespace(&opts.cluster));
    let out_dir = crate::output_dir().join("runs").join(&opts.run_id);
    std::fs::create_dir_all(&out_dir)?;
    let mut setup = setup;
    let delivery: Box<dyn Delivery> = match forge {
        None => Box::new(crate::platform::delivery::ActDelivery { act: executor }),
        Some(forge) => {
            let t = Instant::now();
            let started = KindForge::start(cluster.as_ref(), &opts.run_id, &forge, &out_dir, &progress);
            let what = format!("load the runner's image, start {} beside the cluster", forge.dialect.name());
            match progress.step(&what, started).await {
                Ok(r) => {
                    progress.say(format!("{} beside the cluster at {}", forge.dialect.name(), r.url()));
                    setup.push(("forge".to_owned(), t.elapsed().as_secs_f64()));
                    Box::new(r)
                }
                Err(e) => {
                    // Nothing the run made stays behind a failed start.
                    after_failed_start(cluster.as_ref(), &opts, (&places, &helm), &progress).await;
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
        slots: super::slots::Slots::new(&places, opts.jobs, &spread),
        places,
        leak_kinds: leak_kinds(&gated.kinds),
        setup: Phases::new(setup),
        upgrades: opts.upgrades,
        allowed_findings: allowed,
        keep: opts.keep,
        keep_cluster: opts.keep_cluster,
        keep_on_failure: opts.keep_on_failure,
        reached: Default::default(),
    })
}

/// What a run on a cluster of the user's checks before anything is made in it.
struct Aim<'a> {
    opts: &'a ExistingOptions,
    run_id: &'a str,
    /// Every kind the chart renders (their rights are reviewed).
    kinds: &'a [(String, String)],
    /// The DIND image (first) and the job image.
    images: [&'a String; 2],
    dind: DindMode,
}

/// A cluster of the user's, reached and checked before anything is made in it: the preflight
/// (the API, the rights the run and the chart's kinds need, the namespace's Pod Security),
/// the images the pod needs made available to its nodes, then every node's facts.
async fn existing(aim: Aim<'_>, phases: &mut Vec<(String, f64)>, progress: &Progress) -> Result<Existing> {
    let cluster = Existing::reach(aim.opts, progress).await?;
    let checked = checked(&cluster, &aim, phases, progress).await;
    if checked.is_err() {
        cluster.finish(progress).await;
    }
    checked.map(|()| cluster)
}

/// Each step's seconds go into `phases` (the summary's setup phases).
async fn checked(
    cluster: &Existing,
    aim: &Aim<'_>,
    phases: &mut Vec<(String, f64)>,
    progress: &Progress,
) -> Result<()> {
    let opts = aim.opts;
    let namespace = opts.namespace.clone().unwrap_or_else(|| format!("fe2e-{}", aim.run_id));
    let rights = preflight::rights_needed(&namespace, opts.namespace.is_none(), aim.kinds);
    let passed = preflight::check(cluster.kubectl(), opts.namespace.as_deref(), &rights).await?;
    progress.say(format!(
        "preflight: the API answers, {} rights held (SelfSubjectAccessReview){}, in {:.1}s",
        passed.rights,
        opts.namespace.as_ref().map_or(String::new(), |n| format!(", namespace {n} admits privileged pods")),
        passed.seconds
    ));
    phases.push(("preflight".to_owned(), passed.seconds));
    let t = Instant::now();
    // A --dind-image of the user's is the nodes' to pull: the facts pods below say if they cannot.
    let theirs = |image: &&String| opts.dind_image.as_ref() == Some(*image);
    for image in aim.images.iter().filter(|i| !theirs(i)) {
        cluster.provide_image(image, progress).await?;
    }
    phases.push(("images to the nodes".to_owned(), t.elapsed().as_secs_f64()));
    let t = Instant::now();
    let nodes = cluster.kubectl().json(&["get", "nodes"]).await?;
    let image = cluster.pull_ref(aim.images[0]);
    let apply = aim.opts.apply_sysctl;
    let at = (aim.run_id, opts.namespace.as_deref());
    let facts = crate::cluster::node_facts::read(cluster.kubectl(), at, &image, &nodes, apply).await?;
    let set: Vec<(String, String)> = facts.iter().filter_map(|f| Some((f.node.clone(), f.was.clone()?))).collect();
    for (node, was) in &set {
        progress.say(format!(
            "--apply-sysctl: node {node}: kernel.apparmor_restrict_unprivileged_userns 0 (was {was}) for this run"
        ));
    }
    if apply && set.is_empty() {
        progress.say("--apply-sysctl: no node has kernel.apparmor_restrict_unprivileged_userns set (absent or 0): nothing to change");
    }
    let namespace = opts.namespace.clone();
    let applied = crate::cluster::node_sysctl::Applied { run_id: aim.run_id.to_owned(), image, nodes: set, namespace };
    applied.save()?;
    cluster.applied(applied);
    for f in &facts {
        progress.say(f.line());
    }
    progress.say(format!("the nodes' facts, read by a DaemonSet: {:.1}s", t.elapsed().as_secs_f64()));
    phases.push(("node facts".to_owned(), t.elapsed().as_secs_f64()));
    let blocked: Vec<String> = facts
        .iter()
        .filter(|f| aim.dind == DindMode::Rootless && !f.blocks_rootless().is_empty())
        .map(|f| format!("{} ({})", f.node, f.blocks_rootless().iter().map(|b| b.check).collect::<Vec<_>>().join(", ")))
        .collect();
    if !blocked.is_empty() {
        return Err(user_error!(
            "rootless DIND cannot start on node {}: rerun with --apply-sysctl (a privileged DaemonSet sets the knob to 0 for the run), set it yourself (cargo xtask sysctl --daemonset prints one that does), or run with --dind rootful",
            blocked.join(", node ")
        ));
    }
    Ok(())
}

fn header(opts: &KindRunOptions, cluster: &dyn Provider, executor: &str, allowed: &[crate::report::Finding]) -> String {
    let chart = match chart_name(&opts.chart) {
        Some((n, _)) if n == TEST_CHART => format!("{} (the project's test chart, not the wrenix chart)", opts.chart),
        Some((n, v)) => format!("{} ({n} {v}, a directory)", opts.chart),
        None => format!("{} {}", opts.chart, opts.chart_version),
    };
    let allowed = match allowed {
        [] => String::new(),
        a => format!("; render findings allowed: {}", a.iter().map(|f| f.key.as_str()).collect::<Vec<_>>().join(", ")),
    };
    let theirs = match &opts.cluster {
        ClusterChoice::Existing(ExistingOptions { dind_image: Some(image), .. }) => {
            format!(" from --dind-image {image} (yours: pulled by the nodes, not built here)")
        }
        _ => String::new(),
    };
    let at = match theirs_namespace(&opts.cluster) {
        Some(ns) => format!("installed in your namespace {ns} as releases fe2e-{}*", opts.run_id),
        None => format!("installed in namespaces of the run's own (fe2e-{}*)", opts.run_id),
    };
    format!(
        "run {}: {}, DIND {}{theirs} {}, chart {chart} {at}, {executor} in the chart's runner container{allowed}",
        opts.run_id,
        cluster.describe(),
        opts.dind.name(),
        if cluster.privilege() == crate::docker::Privilege::Privileged {
            "privileged"
        } else {
            "privileged in the pod (nodes with an explicit capability set)"
        },
    )
}

/// The user-namespace knob as each kind node sees it (they share the host's kernel: `e2e
/// --apply-sysctl` sets it on the host for the run), or n/a where the kernel has none. A cluster of
/// the user's has its nodes read by the preflight (`cluster::node_facts`).
async fn node_sysctl(cluster: &dyn Provider) -> Vec<String> {
    let knob = crate::node::USERNS_KNOB.name;
    let path = format!("/proc/sys/{}", knob.replace('.', "/"));
    if cluster.kind_nodes().is_none() {
        // A cluster of the user's: the preflight's DaemonSet read its nodes' facts.
        return Vec::new();
    }
    // Every node: kind names them after the cluster (`kubectl get nodes`).
    let listed = cluster.kubectl().run(&["get", "nodes", "-o", "name"], Duration::from_secs(20)).await;
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
/// keep it, else what the run made in it.
async fn after_failed_start(
    cluster: &dyn Provider,
    opts: &KindRunOptions,
    (places, helm): (&super::place::Places, &std::path::Path),
    progress: &Progress,
) {
    cluster.finish(progress).await;
    if cluster.created() && !opts.keep_cluster {
        if let Err(e) = cluster.delete(progress).await {
            progress.say(format!("could not delete cluster {}: {e:#}", cluster.name()));
        }
        return;
    }
    if let Err(e) = places.remove_all(cluster.kubectl(), Some(helm)).await {
        progress.say(format!("could not remove what the run made in the cluster: {e:#}"));
    }
}

/// `--namespace`: the user's namespace every install goes to (a cluster of the user's only).
fn theirs_namespace(cluster: &ClusterChoice) -> Option<String> {
    match cluster {
        ClusterChoice::Existing(e) => e.namespace.clone(),
        ClusterChoice::Kind(_) => None,
    }
}

/// What the leak check lists in the user's namespace: what the harness makes there (Secrets,
/// DaemonSets), the pods, and every kind the chart renders.
fn leak_kinds(rendered: &[(String, String)]) -> Vec<String> {
    let mut kinds: Vec<String> = ["pods", "secrets", "daemonsets.apps"].map(String::from).into();
    for (api_version, kind) in rendered {
        let resource = preflight::resource(api_version, kind);
        if !kinds.contains(&resource) {
            kinds.push(resource);
        }
    }
    kinds
}

/// The plan's options for this run: the registration (offline, or the chart's hook with a
/// token for the real runner), the harness's certificates and the images `cluster up`
/// loads (their tags are known before they are built).
fn kind_options(opts: &KindRunOptions, real: bool) -> Result<KindOptions> {
    let image = crate::docker::images::planned_reference;
    let dind_kind = if opts.dind == DindMode::Rootless { ImageKind::DindRootless } else { ImageKind::Dind };
    Ok(KindOptions {
        cluster: match &opts.cluster {
            ClusterChoice::Kind(c) => c.name.clone(),
            ClusterChoice::Existing(_) => "fe2e".to_owned(),
        },
        reuse: true,
        keep: opts.keep,
        keep_on_failure: false,
        registry_mirror: None,
        certs: opts.certs,
        registration: if real { Registration::Token } else { Registration::OfflineSecret },
        apply_sysctl: false,
        dind: opts.dind,
        dind_image: match &opts.cluster {
            ClusterChoice::Existing(ExistingOptions { dind_image: Some(theirs), .. }) => theirs.clone(),
            _ => image(dind_kind)?,
        },
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
