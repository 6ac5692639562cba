//! CI's run in a namespace of the user's (`e2e --platform kubernetes --namespace`), as a team
//! that owns one namespace meets it: an account bound to Kubernetes' own `admin` role there
//! (plus reading nodes and namespaces, which the node facts and the preflight need), and
//! objects of the team's own beside the run. The run must pass, and afterwards the namespace
//! must hold exactly what it held before: the same objects, not one of them replaced.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
use harness::Progress;
use harness::cluster::preflight::PSA_ENFORCE;
use harness::process::Kubectl;

/// The team's namespace.
pub const THEIRS_NS: &str = "fe2e-ci-theirs";
/// The team account's kubeconfig, relative to the workspace.
pub const TEAM_KUBECONFIG: &str = "target/e2e/ci/team.kubeconfig";
/// The cluster-wide reads the team account is given.
const NODE_READER: &str = "fe2e-ci-team-nodes";
/// What is compared before and after: every kind the run or the chart could touch.
const KINDS: &str = "configmaps,secrets,serviceaccounts,pods,deployments.apps,daemonsets.apps,roles,rolebindings";

/// The namespace as the team left it: its labels and each object's uid and resourceVersion.
#[derive(Debug, PartialEq, Eq)]
pub struct Before {
    labels: serde_json::Value,
    objects: BTreeMap<String, (String, String)>,
}

/// The namespace (admitting privileged pods), the team's own objects in it, the account and
/// its kubeconfig; then the namespace as it is before the run.
pub async fn prepare() -> Result<Before> {
    let k = crate::refusals::admin().await?;
    let ns = THEIRS_NS;
    let manifest = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {PSA_ENFORCE: "privileged"}}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "team-settings", "namespace": ns}, "data": {"a": "b"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "team-secret", "namespace": ns}, "stringData": {"k": "v"}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "team", "namespace": ns}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "team-admin", "namespace": ns},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
         "subjects": [{"kind": "ServiceAccount", "name": "team", "namespace": ns}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": NODE_READER},
         "rules": [{"apiGroups": [""], "resources": ["nodes", "namespaces"], "verbs": ["get", "list"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": NODE_READER},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NODE_READER},
         "subjects": [{"kind": "ServiceAccount", "name": "team", "namespace": ns}]}]});
    k.apply(&manifest.to_string()).await?;
    crate::refusals::account_kubeconfig(&k, (ns, "team"), TEAM_KUBECONFIG).await?;
    look(&k).await
}

async fn look(k: &Kubectl) -> Result<Before> {
    let namespace = k.json(&["get", "namespace", THEIRS_NS]).await?;
    let listed = k.json(&["--namespace", THEIRS_NS, "get", KINDS]).await?;
    let objects = listed["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| {
            let m = &o["metadata"];
            let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
            (format!("{}/{}", s(&o["kind"]), s(&m["name"])), (s(&m["uid"]), s(&m["resourceVersion"])))
        })
        .collect();
    Ok(Before { labels: namespace["metadata"]["labels"].clone(), objects })
}

/// After the run: the namespace exactly as before (said object by object where not).
pub async fn unchanged(before: &Before, progress: &Progress) -> bool {
    let now = match crate::refusals::admin().await {
        Ok(k) => look(&k).await,
        Err(e) => Err(e),
    };
    let now = match now {
        Ok(now) => now,
        Err(e) => {
            progress.say(format!("ci: could not read namespace {THEIRS_NS}: {e:#}"));
            return false;
        }
    };
    let mut differences: Vec<String> = Vec::new();
    for (name, was) in &before.objects {
        match now.objects.get(name) {
            None => differences.push(format!("{name} is gone")),
            Some(is) if is != was => differences.push(format!("{name} was replaced or changed")),
            Some(_) => {}
        }
    }
    differences
        .extend(now.objects.keys().filter(|n| !before.objects.contains_key(*n)).map(|n| format!("{n} was left")));
    if now.labels != before.labels {
        differences.push("the namespace's labels changed".into());
    }
    progress.say(match differences.is_empty() {
        true => format!("ci: namespace {THEIRS_NS}: its {} objects as they were, nothing left", before.objects.len()),
        false => format!("ci: namespace {THEIRS_NS} CHANGED: {}", differences.join("; ")),
    });
    differences.is_empty()
}

/// The fixtures go: the namespace (the account with it), the cluster-wide reads, the kubeconfig.
pub async fn remove() -> Result<()> {
    let k = crate::refusals::admin().await?;
    let names = format!("clusterrolebinding/{NODE_READER}");
    k.run(&["delete", &names, &format!("clusterrole/{NODE_READER}"), "--ignore-not-found"], Duration::from_secs(30))
        .await?;
    k.run(
        &["delete", "namespace", THEIRS_NS, "--ignore-not-found", "--wait=true", "--timeout=60s"],
        Duration::from_secs(90),
    )
    .await?;
    let _ = std::fs::remove_file(harness::workspace_root().join(TEAM_KUBECONFIG));
    Ok(())
}
