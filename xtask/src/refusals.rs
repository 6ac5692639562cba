//! CI's refusals on `--platform kubernetes`, on the CI cluster reached only through a
//! kubeconfig: an account that may only read pods, and a namespace enforcing Pod Security
//! `baseline`. Each run must stop in its preflight — exit 2 within 30 s, the refused fact in
//! `preflight.json` — with nothing made in the cluster and the namespace left as it was.

use std::time::Duration;

use anyhow::{Context, Result};
use harness::Progress;
use harness::cluster::preflight::{PSA_ENFORCE, Report};
use harness::process::Kubectl;

/// The CI cluster (`cargo xtask cluster up --name fe2e-ci`).
pub const CLUSTER: &str = "fe2e-ci";
/// The namespace holding the read-only account, and the one enforcing `baseline`.
const READER_NS: &str = "fe2e-ci-reader";
pub const BASELINE_NS: &str = "fe2e-ci-baseline";
/// The read-only account's kubeconfig, relative to the workspace.
pub const READER_KUBECONFIG: &str = "target/e2e/ci/reader.kubeconfig";

/// The CI cluster's own kubeconfig, as a user would pass it.
pub fn admin_kubeconfig() -> String {
    harness::cluster::state_dir(CLUSTER).join("kubeconfig").display().to_string()
}

/// kubectl on the CI cluster with its own kubeconfig, as `cargo xtask cluster` finds it.
pub async fn admin() -> Result<Kubectl> {
    Ok(harness::cluster::Cluster::find(CLUSTER).await?.kubectl)
}

/// What the cluster looked like before a refused run: its namespaces and the labels of the
/// `baseline` one.
pub struct Before {
    namespaces: Vec<String>,
    baseline_labels: serde_json::Value,
}

/// The account that may only get and list pods in its namespace (its token written into a
/// kubeconfig of its own, never onto a command line), and the namespace enforcing
/// `baseline`; then the cluster as it is before the refused runs.
pub async fn prepare() -> Result<Before> {
    let k = admin().await?;
    let manifest = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": READER_NS}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": BASELINE_NS, "labels": {PSA_ENFORCE: "baseline"}}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "reader", "namespace": READER_NS}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "pod-reader", "namespace": READER_NS},
         "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "reader", "namespace": READER_NS},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
         "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": READER_NS}]}]});
    k.apply(&manifest.to_string()).await?;
    account_kubeconfig(&k, (READER_NS, "reader"), READER_KUBECONFIG).await?;
    look(&k).await
}

/// A kubeconfig at `path` (relative to the workspace) for service account `account` of
/// `namespace`: its token written into the file, never onto a command line.
pub async fn account_kubeconfig(k: &Kubectl, (namespace, account): (&str, &str), path: &str) -> Result<()> {
    let token = k
        .run(&["--namespace", namespace, "create", "token", account, "--duration", "2h"], Duration::from_secs(20))
        .await?;
    let view: serde_json::Value = serde_json::from_str(
        &k.run(&["config", "view", "--raw", "--minify", "-o", "json"], Duration::from_secs(10)).await?,
    )?;
    let cluster = view["clusters"][0].clone();
    let config = serde_json::json!({"apiVersion": "v1", "kind": "Config", "clusters": [cluster],
        "users": [{"name": account, "user": {"token": token.trim()}}],
        "contexts": [{"name": account, "context": {"cluster": cluster["name"], "user": account, "namespace": namespace}}],
        "current-context": account});
    let path = harness::workspace_root().join(path);
    std::fs::create_dir_all(path.parent().context("a parent")?)?;
    write_private(&path, &config.to_string())
}

fn write_private(path: &std::path::Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

async fn look(k: &Kubectl) -> Result<Before> {
    let listed = k.run(&["get", "namespaces", "-o", "name"], Duration::from_secs(20)).await?;
    let baseline = k.json(&["get", "namespace", BASELINE_NS]).await?;
    Ok(Before {
        namespaces: listed.lines().map(str::to_owned).collect(),
        baseline_labels: baseline["metadata"]["labels"].clone(),
    })
}

/// After a refused run: exit 2, within 30 s, `preflight.json` holding the refusal `held`
/// expects, and the cluster as it was.
pub async fn refused(
    code: Option<i32>,
    secs: f64,
    before: &Before,
    held: fn(&Report) -> bool,
    progress: &Progress,
) -> bool {
    let report: Option<Report> = std::fs::read_to_string(harness::run::reports_dir().join("preflight.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let unchanged = match admin().await {
        Ok(k) => look(&k)
            .await
            .is_ok_and(|now| now.namespaces == before.namespaces && now.baseline_labels == before.baseline_labels),
        Err(_) => false,
    };
    let fact = report.as_ref().is_some_and(|r| !r.passed && held(r));
    let ok = code == Some(2) && secs < 30.0 && fact && unchanged;
    progress.say(format!(
        "ci: refused run: exit {code:?} in {secs:.1}s, refusal in preflight.json {}, cluster {}: {}",
        if fact { "as expected" } else { "NOT as expected" },
        if unchanged { "as it was" } else { "CHANGED" },
        if ok { "as it must" } else { "NOT as it must" }
    ));
    ok
}

/// The read-only account's refusal: the first right it lacks is creating namespaces.
pub fn denied_namespaces(r: &Report) -> bool {
    r.api && r.denied.as_ref().is_some_and(|d| d.verb == "create" && d.resource == "namespaces")
}

/// The `baseline` namespace's refusal, named with its level.
pub fn refused_baseline(r: &Report) -> bool {
    r.denied.is_none() && r.namespace.as_deref() == Some(BASELINE_NS) && r.enforce.as_deref() == Some("baseline")
}

/// The fixtures go: both namespaces (the account with its own) and its kubeconfig.
pub async fn remove() -> Result<()> {
    let k = admin().await?;
    k.run(
        &["delete", "namespace", READER_NS, BASELINE_NS, "--ignore-not-found", "--wait=true", "--timeout=60s"],
        Duration::from_secs(90),
    )
    .await?;
    let _ = std::fs::remove_file(harness::workspace_root().join(READER_KUBECONFIG));
    Ok(())
}
