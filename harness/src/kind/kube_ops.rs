//! The Kubernetes API calls the kind platform makes with kube-rs: the stale `.runner`
//! Secret, the certificate Secret, and waiting for the runner pod.

use std::time::Duration;

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, PostParams};

use crate::wait::{self, Poll};

/// Deletes the `.runner` Secret an earlier install left (`helm.sh/resource-policy: keep`);
/// returns whether there was one.
pub async fn delete_stale_runner_secret(client: &Client, namespace: &str, name: &str) -> Result<bool> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(false),
        Err(e) => Err(e).with_context(|| format!("delete Secret {namespace}/{name}")),
    }
}

/// Creates the Secret, or replaces one of the same name.
pub async fn put_secret(client: &Client, secret: &Secret) -> Result<()> {
    let namespace = secret.metadata.namespace.as_deref().unwrap_or("default");
    let name = secret.metadata.name.as_deref().context("Secret has a name")?;
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    match api.create(&PostParams::default(), secret).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => {
            api.replace(name, &PostParams::default(), secret)
                .await
                .with_context(|| format!("replace Secret {namespace}/{name}"))?;
            Ok(())
        }
        Err(e) => Err(e).with_context(|| format!("create Secret {namespace}/{name}")),
    }
}

/// Waits until a pod matching `selector` that is not terminating has every container
/// ready, at most `deadline`; returns its name.
/// Fails at once on a container waiting in CrashLoopBackOff, naming it.
pub async fn wait_pod_ready(client: &Client, namespace: &str, selector: &str, deadline: Duration) -> Result<String> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    wait::until(&format!("a Ready pod {selector} in {namespace}"), deadline, Duration::from_secs(2), || async {
        let pods = api.list(&ListParams::default().labels(selector)).await.context("list pods")?;
        let mut seen = "no pod yet".to_owned();
        // A terminating pod (the old one during an upgrade) may still be Ready: never it.
        for pod in pods.items.into_iter().filter(|p| p.metadata.deletion_timestamp.is_none()) {
            let name = pod.metadata.name.clone().unwrap_or_default();
            let statuses = pod.status.and_then(|s| s.container_statuses).unwrap_or_default();
            if let Some(c) = statuses.iter().find(|c| c.state.as_ref().and_then(|s| s.waiting.as_ref()).and_then(|w| w.reason.as_deref()) == Some("CrashLoopBackOff")) {
                anyhow::bail!("pod {name}: container {} is in CrashLoopBackOff; see its log (cargo xtask e2e writes it to the bundle)", c.name);
            }
            if !statuses.is_empty() && statuses.iter().all(|c| c.ready) {
                return Ok(Poll::Ready(name));
            }
            seen = format!("pod {name}: {} of {} containers ready", statuses.iter().filter(|c| c.ready).count(), statuses.len());
        }
        Ok(Poll::NotYet(seen))
    })
    .await
}
