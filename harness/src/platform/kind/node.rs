//! What a fault does to a kind node from outside: the node is a container of this engine.

use std::time::Duration;

use anyhow::Result;

/// A fault's action on a kind node (a container of this engine): SIGKILL to container `id`'s
/// task, or — without an id — the API server's container stopped (the kubelet restarts it).
pub(super) async fn inject(node: &str, id: Option<&str>) -> Result<()> {
    let mut cmd = tokio::process::Command::new("docker");
    match id {
        Some(id) => cmd.args(["exec", node, "ctr", "--namespace", "k8s.io", "task", "kill", "--signal", "SIGKILL", id]),
        None => cmd.args(["exec", node, "sh", "-c", "crictl stop --timeout 0 $(crictl ps -q --name kube-apiserver)"]),
    };
    let out = crate::process::run(cmd, "inject the fault", Duration::from_secs(30), None).await?;
    anyhow::ensure!(out.success, "inject the fault on {node}: {}", out.tail(3));
    Ok(())
}
