//! Proof that the cluster can run what the chart's pod needs: a privileged pod with the
//! harness's DIND image, the rcgen TLS set from a Secret, serving TLS on 2376 — checked with
//! the docker CLI over TLS through `kubectl exec` — and cluster DNS answering in it, then
//! removed.

use std::time::Duration;

use anyhow::Result;
use serde_json::json;

use super::Cluster;
use crate::docker::DindMode;
use crate::docker::images::ImageKind;
use crate::wait::{Poll, until};
use crate::{Progress, user_error};

const NAMESPACE: &str = "fe2e-smoke";

/// The namespace, the certificate Secret and the pod, as one manifest.
fn manifest(image: &str, dind: DindMode, certs: &crate::pki::TlsSet) -> Result<String> {
    let data = crate::pki::secret_data(certs);
    let items: Vec<_> =
        crate::pki::SECRET_ITEMS_PATHS.iter().map(|(key, path)| json!({"key": key, "path": path})).collect();
    let labels = json!({"app.kubernetes.io/managed-by": "forgejo-e2e"});
    let data_dir = dind.data_dir();
    let docs = [
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": labels}}),
        json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
               "metadata": {"name": "dind-certs", "namespace": NAMESPACE, "labels": labels}, "data": data}),
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "dind", "namespace": NAMESPACE, "labels": labels},
               "spec": {
                   "restartPolicy": "Never",
                   "terminationGracePeriodSeconds": 3,
                   "containers": [{
                       "name": "dind", "image": image, "imagePullPolicy": "IfNotPresent",
                       "securityContext": {"privileged": true},
                       "env": [{"name": "DOCKER_TLS_CERTDIR", "value": "/certs"}],
                       "volumeMounts": [
                           {"name": "certs", "mountPath": "/certs"},
                           {"name": "byo-certs", "mountPath": "/run/forgejo-e2e/certs", "readOnly": true},
                           {"name": "data", "mountPath": data_dir}]}],
                   "volumes": [
                       {"name": "certs", "emptyDir": {}},
                       {"name": "byo-certs", "secret": {"secretName": "dind-certs", "items": items}},
                       {"name": "data", "emptyDir": {}}]}}),
    ];
    Ok(docs.iter().map(|d| serde_json::to_string(d).map(|s| format!("---\n{s}\n"))).collect::<Result<String, _>>()?)
}

/// Runs the pod, waits for dockerd to answer over TLS, removes everything.
pub(super) async fn privileged_dind(cluster: &Cluster, dind: DindMode, progress: &Progress) -> Result<()> {
    let image = cluster.images.get(match dind {
        DindMode::Rootful => ImageKind::Dind,
        DindMode::Rootless => ImageKind::DindRootless,
    });
    let certs = crate::pki::generate(&crate::pki::PkiOptions::default())?;
    let t = std::time::Instant::now();
    cluster.kubectl.apply(&manifest(image, dind, &certs)?).await?;
    let result = check(cluster, image, progress).await;
    let removed = cluster
        .kubectl
        .run(&["delete", "namespace", NAMESPACE, "--wait=true", "--timeout=90s"], Duration::from_secs(120))
        .await;
    result?;
    removed?;
    progress.say(format!(
        "cluster {}: a privileged pod's {} DIND serves TLS on 2376 ({:.1}s)",
        cluster.name,
        dind.name(),
        t.elapsed().as_secs_f64()
    ));
    Ok(())
}

async fn check(cluster: &Cluster, image: &str, progress: &Progress) -> Result<()> {
    let k = &cluster.kubectl;
    let running = until("the DIND pod Running", Duration::from_secs(120), Duration::from_secs(2), || async {
        let pod = k.json(&["--namespace", NAMESPACE, "get", "pod", "dind"]).await?;
        pod_running(&pod, image, &cluster.name)
    })
    .await;
    if let Err(e) = running {
        // What dockerd said last is the diagnosis: quote it.
        let logs = k.run(&["--namespace", NAMESPACE, "logs", "dind", "--tail", "5"], Duration::from_secs(20)).await;
        let tail = logs.map(|l| l.lines().map(str::trim).collect::<Vec<_>>().join(" / ")).unwrap_or_default();
        return Err(if tail.is_empty() { e } else { e.context(format!("DIND's last lines: {tail}")) });
    }
    let version =
        until("DIND answers over TLS on 127.0.0.1:2376", Duration::from_secs(90), Duration::from_secs(2), || async {
            let args = [
                "--namespace",
                NAMESPACE,
                "exec",
                "dind",
                "-c",
                "dind",
                "--",
                "docker",
                "--tlsverify",
                "--tlscacert",
                "/certs/client/ca.pem",
                "--tlscert",
                "/certs/client/cert.pem",
                "--tlskey",
                "/certs/client/key.pem",
                "-H",
                "tcp://127.0.0.1:2376",
                "version",
                "--format",
                "{{.Server.Version}}",
            ];
            Ok(match k.run(&args, Duration::from_secs(30)).await {
                Ok(v) => Poll::Ready(v.trim().to_owned()),
                Err(e) => Poll::NotYet(format!("{e:#}")),
            })
        })
        .await?;
    progress.say(format!("cluster {}: docker CLI over TLS in the pod: server {version}", cluster.name));
    cluster_dns(cluster, progress).await
}

/// Cluster DNS, as a chart's pod uses it: the `kubernetes` Service's name resolved in the pod
/// (CoreDNS behind the kube-dns Service, reached through kube-proxy) to its cluster IP.
async fn cluster_dns(cluster: &Cluster, progress: &Progress) -> Result<()> {
    const NAME: &str = "kubernetes.default.svc.cluster.local";
    let k = &cluster.kubectl;
    let service = k.json(&["--namespace", "default", "get", "service", "kubernetes"]).await?;
    let ip = service["spec"]["clusterIP"].as_str().unwrap_or_default().to_owned();
    let what = format!("cluster DNS to resolve {NAME} to {ip} in the pod");
    until(&what, Duration::from_secs(120), Duration::from_secs(2), || async {
        let args = ["--namespace", NAMESPACE, "exec", "dind", "-c", "dind", "--", "getent", "hosts", NAME];
        Ok(match k.run(&args, Duration::from_secs(30)).await {
            Ok(out) if out.split_whitespace().next() == Some(ip.as_str()) => Poll::Ready(()),
            Ok(out) => Poll::NotYet(format!("resolved to {}", out.trim())),
            Err(e) => Poll::NotYet(format!("{e:#}")),
        })
    })
    .await?;
    progress.say(format!("cluster {}: cluster DNS in the pod resolves {NAME} to {ip}", cluster.name));
    Ok(())
}

/// Running, still starting, or a failure named: an image the node does not have is a
/// one-line user error saying how to load it; a crashed container quotes its reason.
fn pod_running(pod: &serde_json::Value, image: &str, cluster: &str) -> Result<Poll<()>> {
    let phase = pod["status"]["phase"].as_str().unwrap_or("Pending");
    if phase == "Running" {
        return Ok(Poll::Ready(()));
    }
    let statuses = pod["status"]["containerStatuses"].as_array().cloned().unwrap_or_default();
    for s in &statuses {
        let waiting = &s["state"]["waiting"];
        let reason = waiting["reason"].as_str().unwrap_or_default();
        if matches!(reason, "ErrImagePull" | "ImagePullBackOff" | "ErrImageNeverPull") {
            return Err(user_error!(
                "{image} is not loaded into cluster {cluster} ({reason}: nothing can be pulled here): cargo xtask cluster up loads it, or kind load docker-image {image} --name {cluster}"
            ));
        }
        if let Some(t) = s["state"]["terminated"].as_object() {
            anyhow::bail!(
                "the DIND container exited ({}, exit code {}): {}",
                t.get("reason").and_then(|r| r.as_str()).unwrap_or("?"),
                t.get("exitCode").and_then(|c| c.as_i64()).unwrap_or(-1),
                t.get("message").and_then(|m| m.as_str()).unwrap_or("see kubectl logs")
            );
        }
        if !reason.is_empty() {
            return Ok(Poll::NotYet(format!("{reason}: {}", waiting["message"].as_str().unwrap_or_default())));
        }
    }
    Ok(Poll::NotYet(format!("phase {phase}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_the_node_lacks_is_one_line_saying_how_to_load_it() {
        let pod = json!({"status": {"phase": "Pending", "containerStatuses": [
            {"state": {"waiting": {"reason": "ErrImageNeverPull", "message": "x"}}}]}});
        let err = pod_running(&pod, "forgejo-e2e/dind:1", "e2e").err().expect("named");
        assert!(err.is::<crate::UserError>(), "{err}");
        assert!(err.to_string().contains("kind load docker-image forgejo-e2e/dind:1 --name e2e"), "{err}");
        let starting = json!({"status": {"phase": "Pending", "containerStatuses": [
            {"state": {"waiting": {"reason": "ContainerCreating"}}}]}});
        assert!(matches!(pod_running(&starting, "i", "c"), Ok(Poll::NotYet(s)) if s.starts_with("ContainerCreating")));
        let running = json!({"status": {"phase": "Running"}});
        assert!(matches!(pod_running(&running, "i", "c"), Ok(Poll::Ready(()))));
    }

    #[test]
    fn the_pod_is_privileged_with_the_certs_from_a_secret() {
        let certs = crate::pki::generate(&crate::pki::PkiOptions::default()).expect("certs");
        let m = manifest("forgejo-e2e/dind:1", DindMode::Rootful, &certs).expect("manifest");
        assert_eq!(m.matches("---\n").count(), 3);
        assert!(m.contains(r#""privileged":true"#) && m.contains(r#""mountPath":"/var/lib/docker""#), "{m}");
        assert!(m.contains(r#"{"key":"server-key.pem","path":"server/key.pem"}"#), "{m}");
        assert!(!m.contains("ca/key.pem"), "no CA key in the Secret");
    }
}
