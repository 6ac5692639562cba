//! Where the Kubernetes platform's cluster comes from: the seam between having a cluster and
//! using it. kind (`Cluster`, `mod.rs`) creates one here, loads images into its nodes and may
//! delete it; an existing cluster (`existing.rs`) is only reached through a kubeconfig, never
//! created or deleted. Everything after the cluster exists — the chart, the pods, the jobs —
//! is one code path, `platform/kind/`.

use std::path::PathBuf;

use anyhow::Result;
use futures_util::future::BoxFuture;

use crate::Progress;
use crate::docker::Privilege;
use crate::process::Kubectl;
use crate::scenario::Platform;

/// A fault's action made ready before its trigger, fired once on it.
pub type Armed = Box<dyn Fn() -> BoxFuture<'static, Result<()>> + Send + Sync>;

/// The container a fault kills: where it runs, and how a provider that acts through a pod
/// makes one there (a namespace admitting privileged pods, an image the node has, the labels
/// that tie it to the run).
pub struct Kill<'a> {
    pub node: &'a str,
    /// The container's runtime id (its `containerID` without `containerd://`).
    pub id: &'a str,
    pub namespace: &'a str,
    pub image: &'a str,
    pub labels: serde_json::Value,
}

/// A cluster the run uses, and what only its provider knows.
pub trait Provider: Send + Sync {
    /// The platform the reports name: `kind`, or `kubernetes` for a cluster of the user's.
    fn platform(&self) -> Platform;
    /// The run's header: which cluster, how it is reached.
    fn describe(&self) -> String;
    /// kubectl (and, through it, helm) aimed at this cluster.
    fn kubectl(&self) -> &Kubectl;
    /// A short name for what the run names after the cluster (the registration Secret).
    fn name(&self) -> &str;
    /// How a privileged pod runs on the nodes, for the summary.
    fn privilege(&self) -> Privilege;
    /// The image a chart's hook Job runs kubectl from, where the provider made one.
    fn kubectl_image(&self) -> Option<String> {
        None
    }
    /// `image` on the nodes before a pod uses it: loaded (kind), pushed to the registry the
    /// nodes pull from, or found there.
    fn provide_image<'a>(&'a self, image: &'a str, progress: &'a Progress) -> BoxFuture<'a, Result<()>>;
    /// The reference a pod names `local` (an image of this engine) by: itself, or where
    /// [`Provider::provide_image`] pushed it.
    fn pull_ref(&self, local: &str) -> String {
        local.to_owned()
    }
    /// The address of this machine the cluster's pods reach, where the run's forge listens
    /// for the chart's runner: kind's nodes' gateway, or the one the user named.
    fn forge_host(&self) -> BoxFuture<'_, Result<std::net::Ipv4Addr>>;
    /// What the provider changed for the run undone — a registry's CA it installed for the
    /// engine, the nodes' knob `--apply-sysctl` set — each said in a line of `progress`.
    fn finish<'a>(&'a self, _progress: &'a Progress) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
    /// The name of the kind cluster whose nodes are containers of this host's engine — what
    /// only a node can do (a container's task killed, the API server stopped, its sysctl
    /// read) is done there. `None` for a cluster reached only through its API.
    fn kind_nodes(&self) -> Option<&str> {
        None
    }
    /// SIGKILL to a container's processes on its node, armed now and fired on the fault's
    /// trigger: through containerd on a kind node, or through a privileged pod sharing the
    /// node's process namespace on a cluster reached only through its API.
    fn arm_kill<'a>(&'a self, kill: Kill<'a>) -> BoxFuture<'a, Result<Armed>>;
    /// The cluster's logs (and the run's namespaces in them) for a failed run's bundle.
    fn export_logs<'a>(&'a self, namespaces: &'a [String]) -> BoxFuture<'a, Result<PathBuf>>;
    /// Whether this run made the cluster, and so may remove it.
    fn created(&self) -> bool {
        false
    }
    /// Removes the cluster; only ever called when [`Provider::created`].
    fn delete<'a>(&'a self, progress: &'a Progress) -> BoxFuture<'a, Result<()>>;
    /// How to remove what a kept run left, said with `--keep`.
    fn kept_hint(&self, namespace: &str) -> String;
}
