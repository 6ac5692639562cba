//! The local kind cluster the kind platform runs on: created (or reused) with the node image
//! built offline or one the user names, readiness by condition with deadlines, the harness's
//! images loaded, and removed without a trace. `cargo xtask cluster` and `e2e --platform
//! kind` share this code.

mod mesh;
pub mod node_image;
pub mod nodes;
pub mod registry;
pub mod shim;
mod smoke;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use bollard::Docker;

pub use crate::process::Kubectl;
use crate::process::run;

use crate::docker::images::{self, ImageKind, ImageSet, ImageSource};
use crate::docker::{DindMode, Privilege, labels};
use crate::{Progress, user_error};

/// What `cluster up` was asked for.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    pub name: String,
    pub dind: DindMode,
    /// `--node-image REF`: a node image to use as it is (kind's `kindest/node` with internet).
    pub node_image: Option<String>,
    /// Prove a privileged DIND pod serves TLS even on a cluster that already existed
    /// (`cluster up`); a run's own chart pod proves the same, so `e2e` skips it on reuse.
    pub smoke_when_reused: bool,
    /// `--nodes N`: one control plane and N−1 workers; `None` takes a cluster as it is (one
    /// node when it is made).
    pub nodes: Option<usize>,
    /// `--registry`: a registry beside the cluster that its nodes trust (`registry.rs`).
    pub registry: bool,
}

/// Where the node image came from: said in every header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeImage {
    /// Built here from Debian packages and Go modules (`forgejo-e2e/kind-node:<hash>`).
    Built(String),
    /// Named by the user (`--node-image`), e.g. kind's own `kindest/node`.
    Given(String),
}

impl NodeImage {
    pub fn reference(&self) -> &str {
        match self {
            Self::Built(r) | Self::Given(r) => r,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Self::Built(r) => format!("{r} (built offline from Debian packages and Kubernetes' Go modules)"),
            Self::Given(r) => format!("{r} (--node-image)"),
        }
    }
}

/// A running cluster and how to reach it.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub name: String,
    pub kubectl: Kubectl,
    pub node_image: NodeImage,
    pub privilege: Privilege,
    /// The harness's images, loaded into the nodes.
    pub images: ImageSet,
    /// Whether this process created the cluster (and so may delete it after a run).
    pub created: bool,
    /// How many nodes it is made with (`--nodes`); a reused cluster is taken as it is.
    nodes: usize,
    kind: PathBuf,
    shim_dir: PathBuf,
}

/// `~/.cache/forgejo-e2e/clusters/<name>`: the cluster's kubeconfig, kind config and shim.
/// Outside the work tree (a cluster outlives a checkout), never the user's ~/.kube/config.
pub fn state_dir(name: &str) -> PathBuf {
    crate::tools::cache_dir()
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(crate::tools::cache_dir)
        .join("clusters")
        .join(name)
}

/// A cluster name kind accepts (it becomes container and network names).
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-');
    if ok { Ok(()) } else { Err(user_error!("--name `{name}`: use lowercase letters, digits and '-' (at most 40)")) }
}

/// The kind config: one control-plane node and `nodes - 1` workers. The offline image has
/// no kindnet image, so kind's default CNI is off (each node's bridge CNI, on a subnet of its
/// own, and routes between the nodes: `nodes.rs`); kube-proxy and CoreDNS are built here, so
/// kubeadm's addons give Services and cluster DNS. `dir` takes the workers' conflists.
/// With the offline image every node's containerd also reads registry hosts from
/// `registry::NODE_CERTS`, where `certs` (the cluster's folder for a registry's trust) is
/// mounted, so `up --registry` can make the nodes trust one.
pub fn kind_config(
    node_image: &NodeImage,
    nodes: usize,
    dir: &std::path::Path,
    certs: &std::path::Path,
) -> Result<String> {
    let built = matches!(node_image, NodeImage::Built(_));
    let nodes = self::nodes::kind_nodes(node_image.reference(), nodes, built, dir, built.then_some(certs))?;
    let mut config = format!("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n{nodes}");
    if built {
        config.push_str("networking:\n  ipFamily: ipv4\n  disableDefaultCNI: true\n");
        config.push_str(&format!(
            "containerdConfigPatches:\n- |-\n  [plugins.\"io.containerd.grpc.v1.cri\".registry]\n    config_path = \"{}\"\n",
            registry::NODE_CERTS
        ));
    }
    Ok(config)
}

fn tool(name: &str) -> Result<crate::tools::Tool> {
    Ok(crate::tools::named(&[name])?.remove(0))
}

/// Brings the cluster up (or finds it up), loads the images and proves a privileged DIND pod
/// serves TLS inside it. On failure, `kind export logs` goes to `bundle` and a cluster this
/// call created is deleted.
pub async fn up(docker: &Docker, opts: &ClusterOptions, progress: &Progress) -> Result<Cluster> {
    check_name(&opts.name)?;
    let kind = tool("kind")?.ensure(progress).await?;
    let kubectl_bin = tool("kubectl")?.ensure(progress).await?;
    let images = images::ensure(docker, ImageSource::Built, progress).await?;
    let privilege =
        crate::docker::probe_privilege(docker, images.get(ImageKind::Dind), &format!("cluster-{}", opts.name)).await?;
    let node_image = match &opts.node_image {
        Some(r) => NodeImage::Given(r.clone()),
        None => NodeImage::Built(node_image::ensure(docker, images.get(ImageKind::Base), progress).await?),
    };
    let dir = state_dir(&opts.name);
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let real_docker = crate::sys::which("docker").ok_or_else(|| {
        user_error!("the docker CLI is not on PATH: kind drives the engine through it (apt-get install docker.io)")
    })?;
    let shim_dir = shim::write(&dir.join("shim"), &real_docker, &opts.name, privilege)?;
    let mut cluster = Cluster {
        created: false,
        name: opts.name.clone(),
        kubectl: Kubectl { binary: kubectl_bin, kubeconfig: dir.join("kubeconfig"), context: None },
        node_image,
        privilege,
        images,
        kind,
        shim_dir,
        nodes: opts.nodes.unwrap_or(1),
    };
    progress.say(format!(
        "cluster {}: node image {}; nodes {}",
        cluster.name,
        cluster.node_image.describe(),
        match privilege {
            Privilege::Privileged => "privileged".to_owned(),
            Privilege::CapabilitySet => "with an explicit capability set (this engine refuses --privileged: the kind shim translates it), containerd restrict_oom_score_adj".to_owned(),
        }
    ));
    cluster.created = if cluster.exists().await? {
        progress.say(format!("cluster {}: exists, reused", cluster.name));
        cluster.write_kubeconfig().await?;
        let found = cluster.node_names().await?.len();
        if let Some(n) = opts.nodes.filter(|n| *n != found) {
            return Err(user_error!(
                "cluster {} has {found} nodes, not {n}: take it as it is (leave --nodes out), or remove it first (cargo xtask cluster down --name {})",
                cluster.name,
                cluster.name
            ));
        }
        false
    } else {
        cluster.create(&dir, progress).await?;
        true
    };
    let ready = async {
        cluster.wait_ready(progress).await?;
        let nodes = cluster.network().await?;
        cluster.load_images(opts.dind, progress).await?;
        if cluster.created || opts.smoke_when_reused {
            smoke::privileged_dind(&cluster, opts.dind, progress).await?;
            if nodes.len() > 1 {
                mesh::across_nodes(&cluster, &nodes, progress).await?;
            }
        }
        if opts.registry {
            cluster.registry(docker, progress).await?;
        }
        anyhow::Ok(())
    };
    if let Err(e) = ready.await {
        let bundle = cluster.export_logs().await;
        if cluster.created {
            let _ = cluster.delete(progress).await;
        }
        return Err(match bundle {
            Ok(path) => e.context(format!("kind export logs: {}", path.display())),
            Err(_) => e,
        });
    }
    Ok(cluster)
}

impl Cluster {
    /// The cluster named `name` as `down` and `status` see it (no images built, nothing probed).
    pub async fn find(name: &str) -> Result<Cluster> {
        check_name(name)?;
        let kind = tool("kind")?
            .locate()
            .path()
            .map(PathBuf::from)
            .or_else(|| crate::sys::which("kind"))
            .ok_or_else(|| user_error!("kind is neither built nor on PATH: cargo xtask tools builds it"))?;
        let kubectl = tool("kubectl")?
            .locate()
            .path()
            .map(PathBuf::from)
            .or_else(|| crate::sys::which("kubectl"))
            .unwrap_or_else(|| PathBuf::from("kubectl"));
        let dir = state_dir(name);
        Ok(Cluster {
            name: name.to_owned(),
            kubectl: Kubectl { binary: kubectl, kubeconfig: dir.join("kubeconfig"), context: None },
            node_image: NodeImage::Given(String::new()),
            privilege: Privilege::Privileged,
            images: ImageSet { refs: Default::default(), source: ImageSource::Built },
            created: false,
            kind,
            shim_dir: dir.join("shim"),
            nodes: 1,
        })
    }

    fn kind(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.kind);
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![self.shim_dir.clone()];
        dirs.extend(std::env::split_paths(&path));
        cmd.args(args)
            .env("PATH", std::env::join_paths(dirs).unwrap_or(path))
            .env("KUBECONFIG", &self.kubectl.kubeconfig);
        cmd
    }

    /// Whether kind knows a cluster of this name.
    pub async fn exists(&self) -> Result<bool> {
        let out = run(self.kind(&["get", "clusters"]), "kind get clusters", Duration::from_secs(30), None).await?;
        anyhow::ensure!(out.success, "kind get clusters: {}", out.tail(3));
        Ok(out.text.lines().any(|l| l.trim() == self.name))
    }

    async fn write_kubeconfig(&self) -> Result<()> {
        let args = ["export", "kubeconfig", "--name", &self.name, "--kubeconfig"];
        let mut cmd = self.kind(&args);
        cmd.arg(&self.kubectl.kubeconfig);
        let out = run(cmd, "kind export kubeconfig", Duration::from_secs(30), None).await?;
        anyhow::ensure!(out.success, "kind export kubeconfig: {}", out.tail(3));
        Ok(())
    }

    async fn create(&self, dir: &std::path::Path, progress: &Progress) -> Result<()> {
        let config = dir.join("kind-config.yaml");
        let certs = registry::node_certs_dir(&self.name);
        std::fs::create_dir_all(&certs).with_context(|| format!("create {}", certs.display()))?;
        std::fs::write(&config, kind_config(&self.node_image, self.nodes, &dir.join("cni"), &certs)?)?;
        let mut cmd = self.kind(&["create", "cluster", "--name", &self.name, "--retain", "--config"]);
        cmd.arg(&config).arg("--kubeconfig").arg(&self.kubectl.kubeconfig);
        let what = format!("kind create cluster {}", self.name);
        let t = std::time::Instant::now();
        let out = run(cmd, &what, Duration::from_secs(300), Some(progress)).await?;
        if !out.success {
            let bundle =
                self.export_logs().await.map(|p| format!("; kind export logs: {}", p.display())).unwrap_or_default();
            let _ = self.delete(progress).await;
            anyhow::bail!("{what} failed: {}{bundle}", create_failure(&out.text));
        }
        progress.say(format!("{what}: {:.1}s", t.elapsed().as_secs_f64()));
        Ok(())
    }

    /// Every node Ready by its condition; then the `default` ServiceAccount exists (pods need it).
    pub async fn wait_ready(&self, progress: &Progress) -> Result<()> {
        let t = std::time::Instant::now();
        crate::wait::until("every kind node Ready", Duration::from_secs(180), Duration::from_secs(2), || async {
            let nodes = self.kubectl.json(&["get", "nodes"]).await;
            Ok(match nodes {
                Ok(v) => match node_ready(&v) {
                    Ok(()) => crate::wait::Poll::Ready(()),
                    Err(seen) => crate::wait::Poll::NotYet(seen),
                },
                Err(e) => crate::wait::Poll::NotYet(format!("{e:#}")),
            })
        })
        .await?;
        crate::wait::until("the default ServiceAccount", Duration::from_secs(60), Duration::from_secs(1), || async {
            Ok(match self.kubectl.run(&["get", "serviceaccount", "default"], Duration::from_secs(20)).await {
                Ok(_) => crate::wait::Poll::Ready(()),
                Err(e) => crate::wait::Poll::NotYet(format!("{e:#}")),
            })
        })
        .await?;
        progress.say(format!("cluster {}: nodes Ready after {:.1}s", self.name, t.elapsed().as_secs_f64()));
        Ok(())
    }

    /// The registry beside the cluster, started unless it runs; a cluster made without the
    /// nodes' registry folder (an older version's) cannot trust one.
    async fn registry(&self, docker: &Docker, progress: &Progress) -> Result<registry::Registry> {
        let config = std::fs::read_to_string(state_dir(&self.name).join("kind-config.yaml")).unwrap_or_default();
        if !config.contains(registry::NODE_CERTS) {
            return Err(user_error!(
                "cluster {} was made without the nodes' registry folder, so its nodes cannot trust a registry: remove it (cargo xtask cluster down --name {}) and bring it up again with --registry",
                self.name,
                self.name
            ));
        }
        registry::start(docker, &self.name, gateway(docker, &self.name).await?, progress).await
    }

    /// The node containers, as kind lists them.
    pub async fn node_names(&self) -> Result<Vec<String>> {
        let out =
            run(self.kind(&["get", "nodes", "--name", &self.name]), "kind get nodes", Duration::from_secs(30), None)
                .await?;
        anyhow::ensure!(out.success, "kind get nodes: {}", out.tail(3));
        Ok(out.text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect())
    }

    /// The node containers; with the offline image each node routed to the others' pod
    /// subnets (and to no other address in their range).
    async fn network(&self) -> Result<Vec<String>> {
        let nodes = self.node_names().await?;
        if matches!(self.node_image, NodeImage::Built(_)) {
            self::nodes::route(&self.name, &nodes).await?;
        }
        Ok(nodes)
    }

    /// `kind load docker-image` of the DIND and job images, then each checked in the node's
    /// containerd (a load that did not land is named, not discovered later as ImagePullBackOff).
    pub async fn load_images(&self, dind: DindMode, progress: &Progress) -> Result<()> {
        let dind_image =
            self.images.get(if dind == DindMode::Rootless { ImageKind::DindRootless } else { ImageKind::Dind });
        for image in [dind_image, self.images.get(ImageKind::Job)] {
            self.load_image(image, progress).await?;
        }
        Ok(())
    }

    /// `kind load docker-image IMAGE` unless the node has it; checked after.
    pub async fn load_image(&self, image: &str, progress: &Progress) -> Result<()> {
        // kind checks with crictl, which the offline node lacks, so it would load again.
        if self.node_has_image(image).await? {
            progress.say(format!("{image}: already in the node's image store"));
            return Ok(());
        }
        let what = format!("kind load {image}");
        let t = std::time::Instant::now();
        let out = run(
            self.kind(&["load", "docker-image", image, "--name", &self.name]),
            &what,
            Duration::from_secs(300),
            None,
        )
        .await?;
        anyhow::ensure!(out.success, "{what}: {}", out.tail(3));
        if !self.node_has_image(image).await? {
            return Err(user_error!(
                "{image} is not in the node's image store after kind load: load it with kind load docker-image {image} --name {}",
                self.name
            ));
        }
        progress.say(format!("{what}: {:.1}s", t.elapsed().as_secs_f64()));
        Ok(())
    }

    /// Whether every node's containerd (namespace k8s.io) has `image`.
    async fn node_has_image(&self, image: &str) -> Result<bool> {
        for node in self.node_names().await? {
            let mut ls = tokio::process::Command::new("docker");
            ls.args(["exec", &node, "ctr", "--namespace=k8s.io", "images", "ls", "-q"]);
            let listed = run(ls, "ctr images ls", Duration::from_secs(30), None).await?;
            anyhow::ensure!(listed.success, "list the images of node {node}: {}", listed.tail(2));
            // containerd names Docker Hub's images in full; others (code.forgejo.org/…) as given.
            if !listed.text.lines().any(|l| l.trim() == format!("docker.io/{image}") || l.trim() == image) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// One line per node: name, Ready or not (with the condition), Kubernetes version.
    pub async fn node_lines(&self) -> Result<Vec<String>> {
        let nodes = self.kubectl.json(&["get", "nodes"]).await?;
        Ok(nodes["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|n| {
                let ready = match node_ready(&serde_json::json!({"items": [n]})) {
                    Ok(()) => "Ready".to_owned(),
                    Err(seen) => format!("not ready: {seen}"),
                };
                format!(
                    "node {}: {ready}, kubelet {}, image {}",
                    n["metadata"]["name"].as_str().unwrap_or("?"),
                    n["status"]["nodeInfo"]["kubeletVersion"].as_str().unwrap_or("?"),
                    n["status"]["nodeInfo"]["osImage"].as_str().unwrap_or("?")
                )
            })
            .collect())
    }

    /// `kind export logs` into the cluster's bundle folder; returns the folder.
    pub async fn export_logs(&self) -> Result<PathBuf> {
        let dir = crate::output_dir().join("clusters").join(&self.name).join("kind-logs");
        let mut cmd = self.kind(&["export", "logs", "--name", &self.name]);
        cmd.arg(&dir);
        let out = run(cmd, "kind export logs", Duration::from_secs(120), None).await?;
        anyhow::ensure!(out.success, "kind export logs: {}", out.tail(2));
        Ok(dir)
    }

    /// Deletes the cluster, its `kind` network when the harness made it and nothing else uses
    /// it, and its state folder; then checks nothing labelled with it is left.
    pub async fn delete(&self, progress: &Progress) -> Result<()> {
        let mut cmd = self.kind(&["delete", "cluster", "--name", &self.name, "--kubeconfig"]);
        cmd.arg(&self.kubectl.kubeconfig);
        let out = run(cmd, "kind delete cluster", Duration::from_secs(120), Some(progress)).await?;
        anyhow::ensure!(out.success, "kind delete cluster {}: {}", self.name, out.tail(3));
        let docker = crate::docker::connect().await?;
        registry::remove(&docker, &self.name).await?;
        remove_kind_network(&docker).await?;
        let dir = state_dir(&self.name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("remove {}", dir.display()))?;
        }
        let left = crate::docker::count_managed(&docker, shim::CLUSTER, &self.name).await?;
        anyhow::ensure!(left.is_empty(), "cluster {} left {} resources behind: {left:?}", self.name, left.total());
        Ok(())
    }
}

/// The gateway of kind cluster `cluster`'s nodes on their Docker network: this host, as the
/// nodes reach it (what runs beside the cluster is published there).
pub async fn gateway(docker: &Docker, cluster: &str) -> Result<std::net::Ipv4Addr> {
    let node = format!("{cluster}-control-plane");
    let info = docker.inspect_container(&node, None).await.with_context(|| format!("inspect {node}"))?;
    let networks = info.network_settings.and_then(|n| n.networks).unwrap_or_default();
    networks
        .values()
        .find_map(|n| n.gateway.as_deref().and_then(|g| g.parse::<std::net::Ipv4Addr>().ok()))
        .with_context(|| format!("{node} has no IPv4 gateway on its Docker network"))
}

/// kind as a provider: it made (or found) the cluster, its nodes are containers here.
impl super::provider::Provider for Cluster {
    fn platform(&self) -> crate::scenario::Platform {
        crate::scenario::Platform::Kind
    }

    fn describe(&self) -> String {
        format!("platform kind (cluster {}, node image {})", self.name, self.node_image.describe())
    }

    fn kubectl(&self) -> &Kubectl {
        &self.kubectl
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn privilege(&self) -> Privilege {
        self.privilege
    }

    /// The kubectl image built with the node image (its tag is the node image's).
    fn kubectl_image(&self) -> Option<String> {
        let NodeImage::Built(node) = &self.node_image else { return None };
        let tag = node.rsplit_once(':').map_or("", |(_, t)| t);
        Some(format!("{}:{tag}", node_image::KUBECTL_REPOSITORY))
    }

    fn provide_image<'a>(
        &'a self,
        image: &'a str,
        progress: &'a Progress,
    ) -> futures_util::future::BoxFuture<'a, Result<()>> {
        Box::pin(self.load_image(image, progress))
    }

    /// The gateway of the nodes' Docker network: this host, as the nodes see it.
    fn forge_host(&self) -> futures_util::future::BoxFuture<'_, Result<std::net::Ipv4Addr>> {
        Box::pin(async { gateway(&crate::docker::connect().await?, &self.name).await })
    }

    fn kind_nodes(&self) -> Option<&str> {
        Some(&self.name)
    }

    /// The node is a container of this engine: containerd's `task kill` there, at once.
    fn arm_kill<'a>(
        &'a self,
        kill: super::provider::Kill<'a>,
    ) -> futures_util::future::BoxFuture<'a, Result<super::provider::Armed>> {
        let (node, id) = (kill.node.to_owned(), kill.id.to_owned());
        Box::pin(async move {
            let armed: super::provider::Armed = Box::new(move || {
                let (node, id) = (node.clone(), id.clone());
                Box::pin(async move {
                    let mut cmd = tokio::process::Command::new("docker");
                    cmd.args([
                        "exec",
                        &node,
                        "ctr",
                        "--namespace",
                        "k8s.io",
                        "task",
                        "kill",
                        "--signal",
                        "SIGKILL",
                        &id,
                    ]);
                    let out = run(cmd, "kill the container's task", Duration::from_secs(30), None).await?;
                    anyhow::ensure!(out.success, "kill container {id} on {node}: {}", out.tail(3));
                    Ok(())
                })
            });
            Ok(armed)
        })
    }

    fn export_logs<'a>(&'a self, _namespaces: &'a [String]) -> futures_util::future::BoxFuture<'a, Result<PathBuf>> {
        Box::pin(Cluster::export_logs(self))
    }

    fn created(&self) -> bool {
        self.created
    }

    fn delete<'a>(&'a self, progress: &'a Progress) -> futures_util::future::BoxFuture<'a, Result<()>> {
        Box::pin(Cluster::delete(self, progress))
    }

    fn kept_hint(&self, _namespace: &str) -> String {
        format!("remove: cargo xtask cluster down --name {}", self.name)
    }
}

/// kind's shared network (`kind`, or the one KIND_EXPERIMENTAL_DOCKER_NETWORK names),
/// removed only when the harness's shim created it (it carries the managed label) and no
/// container is attached.
async fn remove_kind_network(docker: &Docker) -> Result<()> {
    let name = std::env::var("KIND_EXPERIMENTAL_DOCKER_NETWORK").unwrap_or_else(|_| "kind".into());
    let Ok(net) = docker.inspect_network(&name, None::<bollard::query_parameters::InspectNetworkOptions>).await else {
        return Ok(());
    };
    let ours = net.labels.as_ref().is_some_and(|l| l.get(labels::MANAGED).is_some_and(|v| v == "true"));
    let unused = net.containers.as_ref().is_none_or(|c| c.is_empty());
    if ours && unused {
        docker.remove_network(&name).await.with_context(|| format!("remove the {name} network"))?;
    }
    Ok(())
}

/// Every node Ready, or what the first other node's conditions say instead.
fn node_ready(nodes: &serde_json::Value) -> std::result::Result<(), String> {
    let items = nodes["items"].as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        return Err("no node registered yet".into());
    }
    for node in &items {
        let conditions = node["status"]["conditions"].as_array().cloned().unwrap_or_default();
        let name = node["metadata"]["name"].as_str().unwrap_or("?");
        match conditions.iter().find(|c| c["type"] == "Ready") {
            Some(c) if c["status"] == "True" => {}
            Some(c) => {
                return Err(format!(
                    "{name}: Ready={} {}: {}",
                    c["status"].as_str().unwrap_or("?"),
                    c["reason"].as_str().unwrap_or(""),
                    c["message"].as_str().unwrap_or("")
                ));
            }
            None => return Err(format!("{name} reports no Ready condition yet")),
        }
    }
    Ok(())
}

/// The line of `kind create cluster`'s output that says why it failed: kubeadm's own error
/// when it has one, else the last lines.
fn create_failure(output: &str) -> String {
    let lines: Vec<&str> = output.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if let Some(l) = lines.iter().find(|l| l.contains("[ERROR") || l.starts_with("error execution phase")) {
        return format!("kubeadm: {l}");
    }
    if let Some(l) = lines.iter().rev().find(|l| l.starts_with("ERROR:")) {
        return (*l).to_owned();
    }
    lines[lines.len().saturating_sub(3)..].join(" / ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offline_node_has_no_default_cni_but_keeps_kubeadms_addons() {
        let dir = crate::sys::Scratch::new("fe2e-kind-config-test");
        let built = kind_config(&NodeImage::Built("forgejo-e2e/kind-node:abc".into()), 1, &dir, &dir).expect("config");
        assert!(built.contains("image: forgejo-e2e/kind-node:abc"), "{built}");
        assert!(built.contains("disableDefaultCNI: true") && !built.contains("skipPhases"), "{built}");
        assert!(built.contains("config_path = \"/etc/containerd/certs.d\""), "{built}");
        let given = kind_config(&NodeImage::Given("kindest/node:v1.34.11".into()), 1, &dir, &dir).expect("config");
        assert!(!given.contains("disableDefaultCNI") && !given.contains("skipPhases"), "{given}");
    }

    #[test]
    fn node_readiness_quotes_the_condition() {
        let not_ready = serde_json::json!({"items": [{"status": {"conditions": [
            {"type": "Ready", "status": "False", "reason": "KubeletNotReady", "message": "cni plugin not initialized"}]}}]});
        assert_eq!(node_ready(&not_ready), Err("?: Ready=False KubeletNotReady: cni plugin not initialized".into()));
        let ready = serde_json::json!({"items": [{"status": {"conditions": [{"type": "Ready", "status": "True"}]}}]});
        assert_eq!(node_ready(&ready), Ok(()));
        assert_eq!(node_ready(&serde_json::json!({"items": []})), Err("no node registered yet".into()));
    }

    #[test]
    fn a_failed_create_names_kubeadms_error() {
        let out = "Creating cluster ...\n ✗ Starting control-plane 🕹️\n[preflight] Some fatal errors occurred:\n\t[ERROR CRI]: container runtime is not running\nERROR: failed to create cluster: failed to init node with kubeadm\n";
        assert_eq!(create_failure(out), "kubeadm: [ERROR CRI]: container runtime is not running");
        assert_eq!(
            create_failure("x\nERROR: failed to create cluster: node(s) already exist\n"),
            "ERROR: failed to create cluster: node(s) already exist"
        );
        assert!(check_name("fe2e").is_ok() && check_name("Bad_Name").is_err());
    }
}
