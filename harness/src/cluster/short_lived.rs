//! A DaemonSet of the run's that lives for one step — the node facts, their sysctl restore:
//! one pod on every schedulable node, in a namespace of its own or in the user's
//! `--namespace`, removed after.

use std::time::Duration;

use anyhow::Result;
use serde_json::json;

use crate::process::Kubectl;

/// A DaemonSet of the run's that lives for one step (the node facts, their sysctl restore):
/// in a namespace of its own (admitting privileged pods), or in the user's `--namespace`
/// beside what else is there. Named for the run either way.
pub struct ShortLived {
    namespace: String,
    name: String,
    theirs: bool,
}

impl ShortLived {
    /// The run's DaemonSet for `what`, in `theirs` (the user's namespace) or its own.
    pub(super) fn new(run_id: &str, what: &str, theirs: Option<&str>) -> Self {
        let name = format!("fe2e-{run_id}-{what}");
        Self { namespace: theirs.unwrap_or(&name).to_owned(), theirs: theirs.is_some(), name }
    }

    /// Its namespace (unless the user's) and the DaemonSet of one `container` on every
    /// schedulable node.
    pub(super) fn manifest(&self, run_id: &str, container: serde_json::Value) -> String {
        let labels = json!({"app.kubernetes.io/managed-by": "forgejo-e2e", "io.forgejo-e2e.run": run_id});
        let mut docs = Vec::new();
        if !self.theirs {
            let mut ns_labels = labels.clone();
            ns_labels[crate::cluster::preflight::PSA_ENFORCE] = json!("privileged");
            docs.push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace, "labels": ns_labels}}));
        }
        docs.push(json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
               "metadata": {"name": self.name, "namespace": self.namespace, "labels": labels},
               "spec": {"selector": {"matchLabels": {"app": self.name}},
                        "template": {"metadata": {"labels": {"app": self.name}},
                                     "spec": {"terminationGracePeriodSeconds": 0, "containers": [container]}}}}));
        docs.iter().map(|d| format!("---\n{d}\n")).collect()
    }

    pub(super) async fn start(&self, k: &Kubectl, run_id: &str, container: serde_json::Value) -> Result<()> {
        k.apply(&self.manifest(run_id, container)).await
    }

    /// Its pods (on `node` only, if given).
    pub(super) async fn pods(&self, k: &Kubectl, node: Option<&str>) -> Result<serde_json::Value> {
        let selector = format!("app={}", self.name);
        let mut args = vec!["--namespace", self.namespace.as_str(), "get", "pods", "-l", selector.as_str()];
        let on = node.map(|n| format!("spec.nodeName={n}"));
        if let Some(on) = &on {
            args.extend(["--field-selector", on.as_str()]);
        }
        k.json(&args).await
    }

    pub(super) async fn logs(&self, k: &Kubectl, pod: &str) -> Result<String> {
        k.run(&["--namespace", &self.namespace, "logs", pod], Duration::from_secs(20)).await
    }

    /// Gone, with its pods: its namespace deleted, or in the user's the DaemonSet (its pods
    /// go with it, waited for).
    pub(super) async fn remove(&self, k: &Kubectl) -> Result<()> {
        let delete = match self.theirs {
            false => vec!["delete", "namespace", self.namespace.as_str()],
            true => vec![
                "--namespace",
                self.namespace.as_str(),
                "delete",
                "daemonset",
                self.name.as_str(),
                "--cascade=foreground",
            ],
        };
        k.run(&[&delete[..], &["--ignore-not-found", "--wait=true", "--timeout=60s"]].concat(), Duration::from_secs(90))
            .await
            .map(|_| ())
    }
}
