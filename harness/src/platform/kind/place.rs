//! Where an install lives. Every install is a Helm release named for the run
//! (`fe2e-<run>[-<what>]`), which names it everywhere (its Secrets, its pods' selector, its
//! organisation on the forge, what it reached). Its namespace is either one of its own of the
//! same name, labelled with the run and deleted with everything in it, or the user's
//! `--namespace`, shared with whatever else lives there: then only what the run made goes
//! (its releases, its labelled Secrets, DaemonSets and pods) and the leak check reads that
//! namespace object by object.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use crate::cluster::Kubectl;
use crate::process::run_with;

/// Helm's limit on a release name.
const RELEASE_MAX: usize = 53;
/// The label on everything the harness itself makes for a run.
const RUN_LABEL: &str = "io.forgejo-e2e.run";
/// The label on the Secrets the harness makes for one install.
const RELEASE_LABEL: &str = "io.forgejo-e2e.release";
/// The label Helm charts put on what they render, naming the release.
const INSTANCE: &str = "app.kubernetes.io/instance";

/// One install's namespace and release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::platform) struct Place {
    pub(in crate::platform) namespace: String,
    pub(in crate::platform) release: String,
    /// The namespace is the user's (`--namespace`): never made or deleted by the run.
    pub(in crate::platform) theirs: bool,
}

impl Place {
    /// The selector of the pods (and everything else) the chart made for this release.
    pub(super) fn selector(&self) -> String {
        format!("{INSTANCE}={}", self.release)
    }

    /// The selector of the release's runner pods.
    pub(super) fn pods(&self) -> String {
        format!("app.kubernetes.io/name=forgejo-runner,{}", self.selector())
    }

    /// The labels of what the harness makes for this install.
    pub(super) fn labels(&self, run_id: &str) -> serde_json::Value {
        serde_json::json!({"app.kubernetes.io/managed-by": "forgejo-e2e", RUN_LABEL: run_id, RELEASE_LABEL: self.release})
    }

    /// The Secrets the install's values name.
    pub(super) fn secrets(&self) -> crate::kind::InstallSecrets {
        crate::kind::InstallSecrets::of(&self.release)
    }
}

/// How a run names its installs and finds them again in the cluster.
#[derive(Debug, Clone)]
pub(super) struct Places {
    run_id: String,
    /// `--namespace`: the user's namespace every install shares.
    theirs: Option<String>,
}

impl Places {
    pub(super) fn new(run_id: &str, theirs: Option<String>) -> Self {
        Self { run_id: run_id.to_owned(), theirs }
    }

    /// The install `what` names (empty for the run's first; an item's name, made a DNS
    /// label). A name longer than Helm allows keeps its head and a hash of the whole, so two
    /// long names stay two releases.
    pub(super) fn place(&self, what: &str) -> Place {
        let what: String =
            what.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
        let mut release = self.prefix();
        if !what.is_empty() {
            release = format!("{release}-{}", what.trim_matches('-'));
        }
        let release = crate::sys::within(&release, RELEASE_MAX);
        let namespace = self.theirs.clone().unwrap_or_else(|| release.clone());
        Place { namespace, release, theirs: self.theirs.is_some() }
    }

    fn prefix(&self) -> String {
        format!("fe2e-{}", self.run_id)
    }

    /// How to remove by hand what a kept run left in the user's namespace (`None` for
    /// namespaces of the run's own: the cluster's provider says how).
    pub(super) fn kept_hint(&self) -> Option<String> {
        let ns = self.theirs.as_ref()?;
        Some(format!(
            "remove: helm uninstall --namespace {ns} each release {}*, then kubectl -n {ns} delete secrets,daemonsets,pods -l {RUN_LABEL}={}",
            self.prefix(),
            self.run_id
        ))
    }

    /// Whether `name` is the run's (its prefix, then nothing or a dash).
    fn is_ours(&self, name: &str) -> bool {
        let prefix = self.prefix();
        name.strip_prefix(&prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
    }

    /// The run's installs as the cluster lists them now: its labelled namespaces, or its
    /// releases in the user's namespace.
    pub(super) async fn listed(&self, k: &Kubectl, helm: Option<&Path>) -> Result<Vec<Place>> {
        let Some(ns) = &self.theirs else {
            let label = format!("{RUN_LABEL}={}", self.run_id);
            let listed = k.run(&["get", "namespaces", "-l", &label, "-o", "name"], Duration::from_secs(30)).await?;
            let names = listed.lines().filter_map(|l| l.strip_prefix("namespace/"));
            return Ok(names.map(|n| Place { namespace: n.into(), release: n.into(), theirs: false }).collect());
        };
        let Some(helm) = helm else {
            anyhow::bail!("helm is not installed here: the run's releases in namespace {ns} cannot be listed")
        };
        let out = run_with(
            k.helm(helm, &["list", "--namespace", ns, "--all", "--short"]),
            "helm list",
            Duration::from_secs(60),
            None,
            |_| {},
            None,
        )
        .await?;
        anyhow::ensure!(out.success, "helm list --namespace {ns}: {}", out.tail(2));
        let releases = out.text.lines().map(str::trim).filter(|r| self.is_ours(r));
        Ok(releases.map(|r| Place { namespace: ns.clone(), release: r.into(), theirs: true }).collect())
    }

    /// What the run left in the cluster, read from it: its labelled namespaces; in the
    /// user's namespace, every object of `kinds` (resource names) that is the run's by name,
    /// by label, or as Helm's record of one of its releases.
    pub(super) async fn leftovers(&self, k: &Kubectl, kinds: &[String]) -> Result<Vec<String>> {
        let Some(ns) = &self.theirs else {
            let left = self.listed(k, None).await?;
            return Ok(left.into_iter().map(|p| format!("namespace {}", p.namespace)).collect());
        };
        let kinds = kinds.join(",");
        let listed = k.json(&["--namespace", ns, "get", &kinds]).await?;
        Ok(self.ours_in(&listed))
    }

    /// The run's objects in a listing (`kubectl get -o json`), as `kind/name`.
    fn ours_in(&self, listed: &serde_json::Value) -> Vec<String> {
        let items = listed["items"].as_array().into_iter().flatten();
        items
            .filter(|o| {
                let m = &o["metadata"];
                let name = m["name"].as_str().unwrap_or_default();
                let label = |key: &str| m["labels"][key].as_str().unwrap_or_default().to_owned();
                self.is_ours(name)
                    || helm_record_of(name).is_some_and(|r| self.is_ours(r))
                    || label(RUN_LABEL) == self.run_id
                    || self.is_ours(&label(INSTANCE))
            })
            .map(|o| format!("{}/{}", o["kind"].as_str().unwrap_or("?"), o["metadata"]["name"].as_str().unwrap_or("?")))
            .collect()
    }

    /// Everything the run made in the cluster goes: each install, then (in the user's
    /// namespace) the Secrets, DaemonSets and pods labelled with the run that no release holds.
    pub(super) async fn remove_all(&self, k: &Kubectl, helm: Option<&Path>) -> Result<()> {
        for place in self.listed(k, helm).await? {
            remove(k, helm, &place).await?;
        }
        if let Some(ns) = &self.theirs {
            let label = format!("{RUN_LABEL}={}", self.run_id);
            let delete = ["--namespace", ns, "delete", "secrets,daemonsets.apps,pods", "-l", &label, "--wait=true"];
            k.run(&delete, Duration::from_secs(120)).await?;
        }
        Ok(())
    }
}

/// The release Helm's record `sh.helm.release.v1.<release>.v<revision>` (a Secret) is of.
fn helm_record_of(name: &str) -> Option<&str> {
    name.strip_prefix("sh.helm.release.v1.")?.rsplit_once(".v").map(|(release, _)| release)
}

/// Removes what one install made: the release (its Deployment first, so no new pod replaces
/// a deleted one), its pods at once (the runner's shell ignores SIGTERM: a grace period is
/// 30 s of nothing), then its namespace with every Secret in it, or in the user's namespace
/// the Secrets the harness made for it.
pub(super) async fn remove(k: &Kubectl, helm: Option<&Path>, place: &Place) -> Result<()> {
    let ns = place.namespace.as_str();
    if let Some(helm) = helm {
        let cmd = k.helm(helm, &["uninstall", &place.release, "--namespace", ns, "--ignore-not-found"]);
        let _ = run_with(cmd, "helm uninstall", Duration::from_secs(120), None, |_| {}, None).await;
    }
    let selector = place.selector();
    let pods = ["--namespace", ns, "delete", "pods", "-l", &selector, "--grace-period=0", "--force"];
    let _ = k.run(&pods, Duration::from_secs(60)).await;
    if !place.theirs {
        let delete = ["delete", "namespace", ns, "--ignore-not-found", "--wait=true", "--timeout=120s"];
        k.run(&delete, Duration::from_secs(150)).await?;
        return Ok(());
    }
    let label = format!("{RELEASE_LABEL}={}", place.release);
    // The Secrets the harness made for it, and a fault's killer pod that never fired.
    k.run(&["--namespace", ns, "delete", "secrets,pods", "-l", &label, "--wait=true"], Duration::from_secs(60)).await?;
    // The pods are gone by condition, not by hope: a force delete returns before the kubelet.
    let gone =
        crate::wait::until("the release's pods gone", Duration::from_secs(90), Duration::from_secs(1), || async {
            let args = ["--namespace", ns, "get", "pods", "-l", &selector, "-o", "name"];
            Ok(match k.run(&args, Duration::from_secs(20)).await?.trim() {
                "" => crate::wait::Poll::Ready(()),
                names => crate::wait::Poll::NotYet(names.lines().count().to_string() + " left"),
            })
        });
    gone.await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_install_is_a_release_named_for_the_run_in_its_own_namespace_or_the_users() {
        let own = Places::new("ab12cd", None);
        assert_eq!(
            own.place(""),
            Place { namespace: "fe2e-ab12cd".into(), release: "fe2e-ab12cd".into(), theirs: false }
        );
        assert_eq!(own.place("s1").namespace, "fe2e-ab12cd-s1");
        let theirs = Places::new("ab12cd", Some("ci".into()));
        let p = theirs.place("wrong-registration-token");
        assert_eq!(
            (p.namespace.as_str(), p.release.as_str(), p.theirs),
            ("ci", "fe2e-ab12cd-wrong-registration-token", true)
        );
        assert_eq!(p.secrets().certs, "fe2e-ab12cd-wrong-registration-token-dind-certs");
        // An item's name as a DNS label.
        assert_eq!(own.place("docker-build:disk-full").release, "fe2e-ab12cd-docker-build-disk-full");
        // Helm's limit: two long names stay two releases.
        let long = theirs.place("a-very-long-scenario-name-that-goes-on:and-on-1");
        let other = theirs.place("a-very-long-scenario-name-that-goes-on:and-on-2");
        assert!(long.release.len() <= RELEASE_MAX, "{}", long.release);
        assert_ne!(long.release, other.release);
    }

    #[test]
    fn the_leak_check_finds_the_runs_objects_and_only_those() {
        let places = Places::new("ab12cd", Some("ci".into()));
        let listed = serde_json::json!({"items": [
            {"kind": "Deployment", "metadata": {"name": "fe2e-ab12cd-s1-forgejo-runner"}},
            {"kind": "Secret", "metadata": {"name": "sh.helm.release.v1.fe2e-ab12cd.v1"}},
            {"kind": "Secret", "metadata": {"name": "certs", "labels": {RUN_LABEL: "ab12cd"}}},
            {"kind": "ServiceAccount", "metadata": {"name": "sa", "labels": {INSTANCE: "fe2e-ab12cd-upgrade"}}},
            {"kind": "Deployment", "metadata": {"name": "fe2e-ab12cde-forgejo-runner"}},
            {"kind": "Secret", "metadata": {"name": "sh.helm.release.v1.theirs.v3"}},
            {"kind": "Pod", "metadata": {"name": "web", "labels": {RUN_LABEL: "ff0000"}}}]});
        assert_eq!(
            places.ours_in(&listed),
            [
                "Deployment/fe2e-ab12cd-s1-forgejo-runner",
                "Secret/sh.helm.release.v1.fe2e-ab12cd.v1",
                "Secret/certs",
                "ServiceAccount/sa"
            ]
        );
    }
}
