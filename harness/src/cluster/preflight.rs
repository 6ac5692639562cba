//! Can this run work on this cluster? Asked of the API before anything is made, each answer
//! a fact: the API answers (`/readyz`), the account holds every right the run uses (one
//! SelfSubjectAccessReview per verb and resource, `status.allowed`), and the namespace the
//! run is aimed at admits a privileged pod (its Pod Security `enforce` label). The first
//! refusal is one line naming what is missing and what would allow it.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::process::Kubectl;
use crate::user_error;

/// One right the run uses: `verb` on `resource` (`group` empty for the core API), in
/// `namespace` or cluster-wide.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Right {
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: Option<String>,
}

impl std::fmt::Display for Right {
    /// `create namespaces`, `create pods/exec in fe2e-x`, `create deployments.apps in fe2e-x`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.verb, self.resource)?;
        if !self.group.is_empty() {
            write!(f, ".{}", self.group)?;
        }
        if !self.subresource.is_empty() {
            write!(f, "/{}", self.subresource)?;
        }
        if let Some(ns) = &self.namespace {
            write!(f, " in namespace {ns}")?;
        }
        Ok(())
    }
}

/// The Pod Security admission label that decides whether a privileged pod is admitted.
pub const PSA_ENFORCE: &str = "pod-security.kubernetes.io/enforce";

/// Every right a run uses in `namespace` — one the run makes (`made`: then namespaces
/// themselves too), or the user's: the Secrets it writes and Helm keeps its releases in, the
/// pods it reads, execs into and reads logs of, their events, and each kind the chart
/// renders (`kinds`: apiVersion and kind), which helm creates, upgrades and deletes. (A
/// review may name a namespace that does not exist yet: authorization does not look.)
pub fn rights_needed(namespace: &str, made: bool, kinds: &[(String, String)]) -> Vec<Right> {
    let ns = Some(namespace.to_owned());
    let right = |verb: &str, group: &str, resource: &str, subresource: &str| Right {
        verb: verb.to_owned(),
        group: group.to_owned(),
        resource: resource.to_owned(),
        subresource: subresource.to_owned(),
        namespace: ns.clone(),
    };
    let mut rights = Vec::new();
    if made {
        for verb in ["create", "delete", "list"] {
            rights.push(Right { namespace: None, ..right(verb, "", "namespaces", "") });
        }
    } else {
        rights.push(Right { namespace: None, ..right("get", "", "namespaces", "") });
    }
    for verb in ["create", "get", "list", "update", "delete"] {
        rights.push(right(verb, "", "secrets", ""));
    }
    // `create`: a fault's killer pod on a node (`node_kill.rs`).
    for verb in ["create", "get", "list", "delete"] {
        rights.push(right(verb, "", "pods", ""));
    }
    rights.push(right("create", "", "pods", "exec"));
    rights.push(right("get", "", "pods", "log"));
    rights.push(right("list", "", "events", ""));
    // The short-lived DaemonSet that reads every node's facts (`node_facts.rs`).
    for verb in ["create", "delete"] {
        rights.push(right(verb, "apps", "daemonsets", ""));
    }
    for (api_version, kind) in kinds {
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        let resource = plural(kind);
        // `list`: the leak check reads what is left of each kind in the user's namespace.
        for verb in ["create", "get", "list", "patch", "delete"] {
            let r = right(verb, group, &resource, "");
            if !rights.contains(&r) {
                rights.push(r);
            }
        }
    }
    rights
}

/// A kind's resource as kubectl names it: `deployments.apps`, `serviceaccounts`.
pub fn resource(api_version: &str, kind: &str) -> String {
    match api_version.rsplit_once('/') {
        Some((group, _)) => format!("{}.{group}", plural(kind)),
        None => plural(kind),
    }
}

/// A kind's resource name as the API spells it (`Deployment` → `deployments`, `Policy` →
/// `policies`, `Ingress` → `ingresses`).
fn plural(kind: &str) -> String {
    let k = kind.to_ascii_lowercase();
    if let Some(stem) = k.strip_suffix('y').filter(|s| !s.ends_with(['a', 'e', 'o', 'u'])) {
        format!("{stem}ies")
    } else if k.ends_with('s') {
        format!("{k}es")
    } else {
        format!("{k}s")
    }
}

/// Every `apiVersion`/`kind` in a rendered chart (`helm template`'s output), once each.
pub fn rendered_kinds(rendered: &str) -> Vec<(String, String)> {
    let mut kinds = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(rendered) {
        let Ok(v) = <serde_yaml::Value as serde::Deserialize>::deserialize(doc) else { continue };
        if let (Some(a), Some(k)) = (v["apiVersion"].as_str(), v["kind"].as_str()) {
            let pair = (a.to_owned(), k.to_owned());
            if !kinds.contains(&pair) {
                kinds.push(pair);
            }
        }
    }
    kinds
}

/// The reviews as one `List` for one `kubectl create`: the API answers each.
fn reviews(rights: &[Right]) -> Value {
    let items: Vec<Value> = rights
        .iter()
        .map(|r| {
            let mut attrs = json!({"verb": r.verb, "group": r.group, "resource": r.resource});
            if !r.subresource.is_empty() {
                attrs["subresource"] = json!(r.subresource);
            }
            if let Some(ns) = &r.namespace {
                attrs["namespace"] = json!(ns);
            }
            json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                   "spec": {"resourceAttributes": attrs}})
        })
        .collect();
    json!({"apiVersion": "v1", "kind": "List", "items": items})
}

/// The first right the API's answers deny, read from each review's `status.allowed` (in
/// the order asked; an answer missing is a denial). kubectl prints one review after the
/// other, or a `List` of them.
fn first_denied<'a>(rights: &'a [Right], answered: &[Value]) -> Result<Option<&'a Right>> {
    let items: Vec<Value> = answered
        .iter()
        .flat_map(|a| match a["kind"].as_str() {
            Some("List") => a["items"].as_array().cloned().unwrap_or_default(),
            _ => vec![a.clone()],
        })
        .collect();
    anyhow::ensure!(items.len() == rights.len(), "{} reviews answered for {} asked", items.len(), rights.len());
    Ok(rights.iter().zip(&items).find(|(_, a)| a["status"]["allowed"].as_bool() != Some(true)).map(|(r, _)| r))
}

/// Why `labels` (a namespace's) refuse a privileged pod, if they do.
fn psa_refusal(namespace: &str, labels: &Value) -> Option<String> {
    let level = labels[PSA_ENFORCE].as_str()?;
    (level != "privileged").then(|| {
        format!(
            "namespace {namespace} enforces Pod Security `{level}` ({PSA_ENFORCE}={level}), which refuses DIND's privileged container: \
             label it {PSA_ENFORCE}=privileged, or leave --namespace out and the run makes its own"
        )
    })
}

/// What the preflight found, written to `preflight.json` beside the reports whether it
/// passed or not: the facts a refusal was decided on.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Report {
    pub passed: bool,
    /// The API answered `/readyz`.
    pub api: bool,
    /// How many rights were reviewed, and the first the API denied.
    pub rights: usize,
    pub denied: Option<Right>,
    /// The namespace given, and its Pod Security `enforce` level where it refuses DIND.
    pub namespace: Option<String>,
    pub enforce: Option<String>,
    pub seconds: f64,
}

/// The API answers, every right in `rights` is held, and `namespace` (when the user gave
/// one) exists and admits a privileged pod. A refusal is a `UserError`: one line, exit 2.
/// Either way the facts go to `preflight.json`.
pub async fn check(k: &Kubectl, namespace: Option<&str>, rights: &[Right]) -> Result<Report> {
    let t = Instant::now();
    let mut report = Report { namespace: namespace.map(str::to_owned), rights: rights.len(), ..Default::default() };
    let result = checked(k, namespace, rights, &mut report).await;
    report.passed = result.is_ok();
    report.seconds = t.elapsed().as_secs_f64();
    let path = crate::output_dir().join("preflight.json");
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&path, serde_json::to_string_pretty(&report)?)?;
    result.map(|()| report)
}

async fn checked(k: &Kubectl, namespace: Option<&str>, rights: &[Right], report: &mut Report) -> Result<()> {
    let at = || {
        format!("{}{}", k.kubeconfig.display(), k.context.as_ref().map_or(String::new(), |c| format!(", context {c}")))
    };
    if let Err(e) = k.run(&["get", "--raw", "/readyz"], Duration::from_secs(10)).await {
        return Err(user_error!(
            "the cluster's API does not answer (kubeconfig {}): {}; check the kubeconfig and that its server is reachable from here",
            at(),
            crate::error::one_line(&format!("{e:#}"))
        ));
    }
    report.api = true;
    let answered = reviewed(k, rights).await?;
    if let Some(denied) = first_denied(rights, &answered)? {
        report.denied = Some(denied.clone());
        return Err(user_error!(
            "cannot {denied}: the account of kubeconfig {} lacks this right (SelfSubjectAccessReview); grant it (a Role or ClusterRole bound to the account), or aim at a namespace where it has it",
            at()
        ));
    }
    if let Some(ns) = namespace {
        let got = k.json(&["get", "namespace", ns]).await;
        let found = got.map_err(|e| {
            user_error!(
                "namespace {ns} (--namespace) cannot be read: {}; create it, or leave --namespace out",
                crate::error::one_line(&format!("{e:#}"))
            )
        })?;
        if let Some(why) = psa_refusal(ns, &found["metadata"]["labels"]) {
            report.enforce = found["metadata"]["labels"][PSA_ENFORCE].as_str().map(str::to_owned);
            return Err(user_error!("{why}"));
        }
    }
    Ok(())
}

/// The reviews created in one call; the API answers in the same order.
async fn reviewed(k: &Kubectl, rights: &[Right]) -> Result<Vec<Value>> {
    let args = ["create", "-f", "-", "-o", "json"];
    let out = k.feed(&args, &reviews(rights).to_string(), Duration::from_secs(20)).await.map_err(|e| {
        user_error!(
            "the API refused SelfSubjectAccessReview (the run cannot ask what it may do): {}",
            crate::error::one_line(&format!("{e:#}"))
        )
    })?;
    serde_json::Deserializer::from_slice(&out)
        .into_iter::<Value>()
        .collect::<std::result::Result<Vec<_>, _>>()
        .context("the SelfSubjectAccessReviews' answer is not JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rights_cover_the_run_and_each_kind_the_chart_renders() {
        let kinds = rendered_kinds(
            "---\napiVersion: apps/v1\nkind: Deployment\n---\napiVersion: v1\nkind: Secret\n---\napiVersion: v1\nkind: ServiceAccount\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n",
        );
        assert_eq!(kinds.len(), 4);
        let own = rights_needed("default", true, &kinds);
        let names: Vec<String> = own.iter().map(ToString::to_string).collect();
        assert!(own.iter().all(|r| !r.verb.is_empty() && !r.resource.is_empty()));
        assert_eq!(names[0], "create namespaces");
        assert!(names.contains(&"create pods/exec in namespace default".to_owned()), "{names:?}");
        assert!(names.contains(&"create deployments.apps in namespace default".to_owned()), "{names:?}");
        assert!(names.contains(&"delete networkpolicies.networking.k8s.io in namespace default".to_owned()));
        assert!(names.contains(&"patch serviceaccounts in namespace default".to_owned()));
        assert_eq!(names.iter().filter(|n| n.as_str() == "create secrets in namespace default").count(), 1);
        let given = rights_needed("ci", false, &kinds);
        assert_eq!(given[0].to_string(), "get namespaces");
        assert!(given.iter().all(|r| r.resource == "namespaces" || r.namespace.as_deref() == Some("ci")));
        assert_eq!(plural("Ingress"), "ingresses");
        assert_eq!(plural("Gateway"), "gateways");
    }

    #[test]
    fn the_first_denied_right_is_read_from_the_reviews_answers() {
        let rights = rights_needed("fe2e-x", true, &[]);
        let mut items: Vec<Value> = rights.iter().map(|_| json!({"status": {"allowed": true}})).collect();
        let all = json!({"kind": "List", "items": items.clone()});
        assert_eq!(first_denied(&rights, &[all]).expect("answered"), None);
        // One after the other, as kubectl prints them.
        assert_eq!(first_denied(&rights, &items).expect("answered"), None);
        items[1] = json!({"status": {"allowed": false, "reason": "no RBAC policy matched"}});
        items[4] = json!({"status": {"allowed": false}});
        let denied = first_denied(&rights, &items).expect("answered");
        assert_eq!(denied.map(ToString::to_string), Some("delete namespaces".to_owned()));
        // A short answer is not a pass.
        assert!(first_denied(&rights, &[json!({"kind": "List", "items": []})]).is_err());
        // The review's reasoning is never read: only `allowed`.
        let worded: Vec<Value> = rights.iter().map(|_| json!({"status": {"reason": "allowed"}})).collect();
        assert!(first_denied(&rights, &worded).expect("answered").is_some());
    }

    #[test]
    fn a_namespace_enforcing_baseline_or_restricted_is_named_with_its_label() {
        let why = psa_refusal("ci", &json!({PSA_ENFORCE: "baseline"})).expect("refused");
        assert!(why.contains("pod-security.kubernetes.io/enforce=baseline") && why.contains("=privileged"), "{why}");
        assert!(psa_refusal("ci", &json!({PSA_ENFORCE: "restricted"})).is_some());
        assert!(psa_refusal("ci", &json!({PSA_ENFORCE: "privileged"})).is_none());
        assert!(psa_refusal("ci", &json!({"pod-security.kubernetes.io/warn": "baseline"})).is_none());
        assert!(psa_refusal("ci", &Value::Null).is_none());
    }
}
