//! Where the Kubernetes platform's cluster comes from, and what is asked of any cluster
//! before a run. **The provider seam**: `provider.rs`'s `Provider`, implemented by kind
//! (`kind/`: a cluster made here from the offline node image, its nodes, a registry beside
//! it) and by a cluster the user already has (`existing.rs`, through its kubeconfig). Before
//! a run on the latter: `preflight.rs` (the API, the rights, Pod Security) and
//! `node_facts.rs` (every node's knobs, read by a short-lived DaemonSet) and, with
//! `--apply-sysctl`, `node_sysctl.rs` (the knob set there, restored at the end).

pub mod existing;
pub mod kind;
pub mod node_facts;
pub mod node_kill;
pub mod node_sysctl;
pub mod preflight;
pub mod provider;
mod short_lived;

pub use self::kind::{
    Cluster, ClusterOptions, NodeImage, check_name, gateway, kind_config, node_image, registry, shim, state_dir, up,
};
pub use crate::process::Kubectl;

/// The nodes pods may be scheduled on: Ready, and without a `NoSchedule` taint.
pub fn schedulable(nodes: &serde_json::Value) -> Vec<String> {
    nodes["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| {
            let ready = n["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True");
            let tainted = n["spec"]["taints"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|t| matches!(t["effect"].as_str(), Some("NoSchedule" | "NoExecute")));
            ready && !tainted && !n["spec"]["unschedulable"].as_bool().unwrap_or(false)
        })
        .filter_map(|n| n["metadata"]["name"].as_str().map(str::to_owned))
        .collect()
}
