//! What a fault does to a kind node from outside that no other cluster lets the run do: the
//! API server's container stopped (the node is a container of this engine). Killing a
//! container is the cluster provider's (`Provider::arm_kill`).

use std::time::Duration;

use anyhow::Result;

/// The API server's container stopped on kind node `node` (the kubelet restarts it).
pub(super) async fn stop_api_server(node: &str) -> Result<()> {
    let mut cmd = tokio::process::Command::new("docker");
    cmd.args(["exec", node, "sh", "-c", "crictl stop --timeout 0 $(crictl ps -q --name kube-apiserver)"]);
    let out = crate::process::run(cmd, "inject the fault", Duration::from_secs(30), None).await?;
    anyhow::ensure!(out.success, "stop the API server on {node}: {}", out.tail(3));
    Ok(())
}
