//! Proof that the pods of a cluster of several nodes reach each other: a pod pinned to each
//! node (the job image, listening on a port), every pod connecting to every other node's
//! pod, and cluster DNS resolving in each — the routes `nodes.rs` sets, checked, not assumed.

use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::json;

use super::Cluster;
use crate::Progress;
use crate::docker::images::ImageKind;
use crate::wait::{Poll, until};

const NAMESPACE: &str = "fe2e-mesh";
const PORT: &str = "8080";

/// The namespace and one listening pod per node, pinned to it.
fn manifest(image: &str, nodes: &[String]) -> String {
    let labels = json!({"app.kubernetes.io/managed-by": "forgejo-e2e"});
    let mut docs =
        vec![json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": labels}})];
    for (i, node) in nodes.iter().enumerate() {
        docs.push(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("mesh-{i}"), "namespace": NAMESPACE, "labels": labels},
            "spec": {"nodeName": node, "restartPolicy": "Never", "terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "listen", "image": image, "imagePullPolicy": "IfNotPresent",
                                     "command": ["nc", "-l", "-k", "-p", PORT]}]}}));
    }
    docs.iter().map(|d| format!("---\n{d}\n")).collect()
}

/// Every node's pod reaches every other node's pod and resolves the `kubernetes` Service;
/// the first pair that does not is named. Everything it made is removed, also on failure.
pub(super) async fn across_nodes(cluster: &Cluster, nodes: &[String], progress: &Progress) -> Result<()> {
    let t = Instant::now();
    let k = &cluster.kubectl;
    k.apply(&manifest(cluster.images.get(ImageKind::Job), nodes)).await?;
    let result = check(cluster, nodes).await;
    let removed =
        k.run(&["delete", "namespace", NAMESPACE, "--wait=true", "--timeout=90s"], Duration::from_secs(120)).await;
    result?;
    removed?;
    progress.say(format!(
        "cluster {}: the pods of its {} nodes reach each other and cluster DNS ({:.1}s)",
        cluster.name,
        nodes.len(),
        t.elapsed().as_secs_f64()
    ));
    Ok(())
}

async fn check(cluster: &Cluster, nodes: &[String]) -> Result<()> {
    let k = &cluster.kubectl;
    let ips = until("a pod Running on every node", Duration::from_secs(120), Duration::from_secs(2), || async {
        let pods = k.json(&["--namespace", NAMESPACE, "get", "pods"]).await?;
        Ok(running_ips(&pods, nodes.len()))
    })
    .await?;
    for (a, node_a) in nodes.iter().enumerate() {
        for (b, node_b) in nodes.iter().enumerate().filter(|(b, _)| *b != a) {
            let pod = format!("mesh-{a}");
            let args = ["--namespace", NAMESPACE, "exec", &pod, "--", "nc", "-z", "-w", "5", &ips[b], PORT];
            if let Err(e) = k.run(&args, Duration::from_secs(20)).await {
                anyhow::bail!(
                    "a pod on node {node_a} cannot reach a pod on node {node_b} ({}:{PORT}): {}",
                    ips[b],
                    crate::error::one_line(&format!("{e:#}"))
                );
            }
        }
        let pod = format!("mesh-{a}");
        let args =
            ["--namespace", NAMESPACE, "exec", &pod, "--", "getent", "hosts", "kubernetes.default.svc.cluster.local"];
        if let Err(e) = k.run(&args, Duration::from_secs(20)).await {
            anyhow::bail!(
                "cluster DNS does not answer on node {node_a}: {}",
                crate::error::one_line(&format!("{e:#}"))
            );
        }
    }
    Ok(())
}

/// Each pod's IP in the order made, once all `count` are Running.
fn running_ips(pods: &serde_json::Value, count: usize) -> Poll<Vec<String>> {
    let mut ips = vec![String::new(); count];
    let mut seen = Vec::new();
    for pod in pods["items"].as_array().into_iter().flatten() {
        let name = pod["metadata"]["name"].as_str().unwrap_or_default();
        let Some(i) = name.strip_prefix("mesh-").and_then(|i| i.parse::<usize>().ok()).filter(|i| *i < count) else {
            continue;
        };
        match (pod["status"]["phase"].as_str(), pod["status"]["podIP"].as_str()) {
            (Some("Running"), Some(ip)) => ips[i] = ip.to_owned(),
            (phase, _) => seen.push(format!("{name} {}", phase.unwrap_or("Pending"))),
        }
    }
    if ips.iter().all(|ip| !ip.is_empty()) { Poll::Ready(ips) } else { Poll::NotYet(seen.join(", ")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pod_is_pinned_to_each_node_and_all_must_run() {
        let m = manifest("forgejo-e2e/job:1", &["c-control-plane".into(), "c-worker".into()]);
        assert_eq!(m.matches(r#""kind":"Pod""#).count(), 2);
        assert!(m.contains(r#""nodeName":"c-worker""#), "{m}");
        let pods = json!({"items": [
            {"metadata": {"name": "mesh-0"}, "status": {"phase": "Running", "podIP": "10.244.0.5"}},
            {"metadata": {"name": "mesh-1"}, "status": {"phase": "Pending"}}]});
        assert!(matches!(running_ips(&pods, 2), Poll::NotYet(s) if s == "mesh-1 Pending"));
        let pods = json!({"items": [
            {"metadata": {"name": "mesh-1"}, "status": {"phase": "Running", "podIP": "10.244.1.2"}},
            {"metadata": {"name": "mesh-0"}, "status": {"phase": "Running", "podIP": "10.244.0.5"}}]});
        assert!(matches!(running_ips(&pods, 2), Poll::Ready(ips) if ips == ["10.244.0.5", "10.244.1.2"]));
    }
}
