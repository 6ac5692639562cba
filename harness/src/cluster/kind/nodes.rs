//! A kind cluster of several nodes from the offline node image. That image has no kindnet
//! (kind's CNI, whose image would be pulled); its bridge CNI connects the pods of one node.
//! So each node gets a pod subnet of its own — `10.244.<i>.0/24`, the image's own
//! conflist on the control plane, a copy with the node's subnet mounted on each worker —
//! and every node a route to every other node's subnet through that node's address on
//! kind's network, which is what kindnet would do. Routes are set again on every `up`
//! (a restarted node container loses them).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::process::run;

/// Where the node image's bridge conflist lives, on the node and among the fixtures.
const CONFLIST: &str = "etc/cni/net.d/10-fe2e-bridge.conflist";
/// The control plane's subnet as the image's conflist names it.
const FIRST_SUBNET: &str = "10.244.0.0/24";

/// Node `index`'s pod subnet: the control plane is 0, kind's `worker` 1, `worker2` 2, ….
pub fn subnet(index: usize) -> String {
    format!("10.244.{index}.0/24")
}

/// The index of a kind node container named `node` in cluster `cluster`.
pub fn index_of(cluster: &str, node: &str) -> Option<usize> {
    let role = node.strip_prefix(cluster)?.strip_prefix('-')?;
    match role {
        "control-plane" => Some(0),
        "worker" => Some(1),
        _ => role.strip_prefix("worker")?.parse().ok().filter(|n| *n >= 2),
    }
}

/// The `nodes:` of the kind config: one control plane, `count - 1` workers, each worker's
/// conflist (written under `dir`) mounted over the image's, or none where the node image is
/// not the one built here (kind's own brings kindnet); `certs` (a registry's trust for
/// containerd) mounted on every node.
pub fn kind_nodes(image: &str, count: usize, built: bool, dir: &Path, certs: Option<&Path>) -> Result<String> {
    let mount = |host: &Path, inside: &str| {
        format!("  - hostPath: {}\n    containerPath: {inside}\n    readOnly: true\n", host.display())
    };
    let mut out = String::from("nodes:\n");
    for i in 0..count.max(1) {
        let role = if i == 0 { "control-plane" } else { "worker" };
        out.push_str(&format!("- role: {role}\n  image: {image}\n"));
        let mut mounts = Vec::new();
        if built && i > 0 {
            mounts.push(mount(&conflist_for(dir, i)?, &format!("/{CONFLIST}")));
        }
        if let Some(certs) = certs {
            mounts.push(mount(certs, super::registry::NODE_CERTS));
        }
        if !mounts.is_empty() {
            out.push_str("  extraMounts:\n");
            out.push_str(&mounts.concat());
        }
    }
    Ok(out)
}

/// Worker `index`'s conflist: the image's, its subnet replaced.
fn conflist_for(dir: &Path, index: usize) -> Result<PathBuf> {
    let source = crate::fixtures_dir().join("images/kind-node/node").join(CONFLIST);
    let text = std::fs::read_to_string(&source).with_context(|| format!("read {}", source.display()))?;
    anyhow::ensure!(text.contains(FIRST_SUBNET), "{} no longer names {FIRST_SUBNET}", source.display());
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("bridge-{index}.conflist"));
    std::fs::write(&path, text.replace(FIRST_SUBNET, &subnet(index)))?;
    Ok(path)
}

/// The whole pod range (`10.244.0.0/16`): on every node, what no subnet route claims is
/// unreachable, so a packet for a pod subnet without a route is dropped on the node, never
/// sent on through the host's default route.
const POD_RANGE: &str = "10.244.0.0/16";

/// Every node's route to every other node's pod subnet, through that node's address on
/// kind's network; `nodes` are the node containers (`kind get nodes`).
pub async fn route(cluster: &str, nodes: &[String]) -> Result<()> {
    let mut addressed = Vec::new();
    for node in nodes {
        let index =
            index_of(cluster, node).with_context(|| format!("{node} is not a node of kind cluster {cluster}"))?;
        addressed.push((node, index, address(node).await?));
    }
    for (node, index, _) in &addressed {
        ip_route(node, &["replace", "unreachable", POD_RANGE]).await?;
        for (_, other, via) in addressed.iter().filter(|(_, i, _)| i != index) {
            ip_route(node, &["replace", &subnet(*other), "via", via]).await?;
        }
    }
    Ok(())
}

/// `ip route ARGS` on a node.
async fn ip_route(node: &str, args: &[&str]) -> Result<()> {
    let mut cmd = tokio::process::Command::new("docker");
    cmd.args(["exec", node, "ip", "route"]).args(args);
    let out = run(cmd, "ip route", Duration::from_secs(20), None).await?;
    anyhow::ensure!(out.success, "ip route {} on {node}: {}", args.join(" "), out.tail(2));
    Ok(())
}

/// A node container's address on kind's network (the node's InternalIP).
async fn address(node: &str) -> Result<String> {
    let mut cmd = tokio::process::Command::new("docker");
    cmd.args(["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", node]);
    let out = run(cmd, "docker inspect", Duration::from_secs(20), None).await?;
    anyhow::ensure!(out.success, "docker inspect {node}: {}", out.tail(2));
    out.text.split_whitespace().next().map(str::to_owned).with_context(|| format!("{node} has no address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_are_numbered_as_kind_names_them() {
        assert_eq!(index_of("fe2e", "fe2e-control-plane"), Some(0));
        assert_eq!(index_of("fe2e", "fe2e-worker"), Some(1));
        assert_eq!(index_of("fe2e", "fe2e-worker2"), Some(2));
        assert_eq!(index_of("fe2e", "fe2e-worker1"), None);
        assert_eq!(index_of("fe2e", "other-worker"), None);
        assert_eq!(index_of("fe2e-ci", "fe2e-ci-worker3"), Some(3));
    }

    #[test]
    fn each_worker_mounts_a_conflist_with_a_subnet_of_its_own() {
        let dir = crate::sys::Scratch::new("fe2e-nodes-test");
        let config = kind_nodes("img:1", 3, true, &dir, None).expect("config");
        assert_eq!(config.matches("role: worker").count(), 2, "{config}");
        assert_eq!(config.matches("containerPath: /etc/cni/net.d/10-fe2e-bridge.conflist").count(), 2);
        let second = std::fs::read_to_string(dir.join("bridge-2.conflist")).expect("written");
        assert!(second.contains("10.244.2.0/24") && !second.contains(FIRST_SUBNET), "{second}");
        let given = kind_nodes("kindest/node:v1", 2, false, &dir, None).expect("config");
        assert!(!given.contains("extraMounts"), "{given}");
        assert_eq!(kind_nodes("img:1", 1, true, &dir, None).expect("config").matches("role:").count(), 1);
        // A registry's trust on every node, beside a worker's conflist.
        let certs = dir.join("certs.d");
        let config = kind_nodes("img:1", 2, true, &dir, Some(&certs)).expect("config");
        assert_eq!(config.matches("containerPath: /etc/containerd/certs.d").count(), 2, "{config}");
        assert_eq!(config.matches("extraMounts:").count(), 2, "{config}");
    }
}
