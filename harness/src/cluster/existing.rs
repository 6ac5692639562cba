//! A cluster the user already has, reached only through a kubeconfig (`--kubeconfig`, else
//! `KUBECONFIG`, else `~/.kube/config`) and a context (`--context`, else its current one).
//! The run never creates or deletes it, loads nothing into its nodes and reaches none of them
//! but through the API: images must already be on the nodes or be pullable by them.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use futures_util::future::BoxFuture;

use super::provider::Provider;
use crate::docker::Privilege;
use crate::process::Kubectl;
use crate::scenario::Platform;
use crate::{Progress, user_error};

/// `--platform kubernetes`'s flags.
#[derive(Debug, Clone, Default)]
pub struct ExistingOptions {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    /// `--namespace`: the user's namespace (the run makes its own without it).
    pub namespace: Option<String>,
    /// `--registry HOST[:PORT]`: where the harness pushes the images it built, for the
    /// nodes to pull; `--registry-ca FILE`: its CA, for this engine to trust while the run
    /// pushes.
    pub registry: Option<String>,
    pub registry_ca: Option<PathBuf>,
    /// `--forge-host ADDR`: an address of this machine the cluster's pods reach; the run's
    /// forge listens there for the chart's runner (without it jobs run with act).
    pub forge_host: Option<std::net::Ipv4Addr>,
    /// `--apply-sysctl`: the nodes' knob set to 0 for the run by the facts DaemonSet.
    pub apply_sysctl: bool,
    /// `--dind-image REF`: DIND's image as the nodes pull it (yours: neither built for the
    /// pod nor pushed), instead of the one built here.
    pub dind_image: Option<String>,
}

/// Where this engine looks for a registry's CA.
const ENGINE_CERTS: &str = "/etc/docker/certs.d";
/// Marks an engine CA folder the harness wrote (and so removes).
const WRITTEN: &str = "written-by-forgejo-e2e";

/// The cluster, as its kubeconfig names it.
pub struct Existing {
    kubectl: Kubectl,
    /// The API server's URL and the context, for the header.
    server: String,
    context: String,
    registry: Option<String>,
    forge_host: Option<std::net::Ipv4Addr>,
    /// What `--apply-sysctl` changed on the nodes, restored at the end.
    applied: std::sync::Mutex<Option<super::node_sysctl::Applied>>,
    /// Each image pushed to the registry: local reference → the one the nodes pull.
    pushed: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

/// This engine trusts `ca` for `registry` while the run pushes: its own trust kept when it
/// is the same CA, refused in one line when it is another; else written, marked as the
/// harness's.
pub fn trust_registry_ca(registry: &str, ca: &std::path::Path) -> Result<()> {
    let pem = std::fs::read_to_string(ca)
        .map_err(|e| user_error!("--registry-ca {}: {e}; give the registry's CA certificate (PEM)", ca.display()))?;
    let dir = PathBuf::from(ENGINE_CERTS).join(registry);
    match std::fs::read_to_string(dir.join("ca.crt")) {
        Ok(have) if have.trim() == pem.trim() => Ok(()),
        Ok(_) if !dir.join(WRITTEN).exists() => Err(user_error!(
            "this Docker engine already trusts another CA for {registry} ({}): remove it or give that CA as --registry-ca",
            dir.join("ca.crt").display()
        )),
        _ => {
            std::fs::create_dir_all(&dir)?;
            std::fs::write(dir.join(WRITTEN), "")?;
            std::fs::write(dir.join("ca.crt"), pem)?;
            Ok(())
        }
    }
}

/// The engine's trust in `registry` gone, where the harness wrote it.
pub fn untrust_registry(registry: &str) {
    let dir = PathBuf::from(ENGINE_CERTS).join(registry);
    if dir.join(WRITTEN).exists() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// The kubeconfig a run is aimed at: the flag, else `KUBECONFIG` (one file), else
/// `~/.kube/config`; a missing file is one line.
pub fn kubeconfig_of(opts: &ExistingOptions) -> Result<PathBuf> {
    let path = match (&opts.kubeconfig, std::env::var_os("KUBECONFIG")) {
        (Some(p), _) => p.clone(),
        (None, Some(env)) if !env.is_empty() => {
            let files: Vec<PathBuf> = std::env::split_paths(&env).collect();
            if files.len() > 1 {
                return Err(user_error!(
                    "KUBECONFIG lists {} files: name the one to use with --kubeconfig FILE",
                    files.len()
                ));
            }
            files.into_iter().next().unwrap_or_default()
        }
        _ => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".kube/config"),
    };
    if !path.is_file() {
        return Err(user_error!(
            "no kubeconfig at {}: give --kubeconfig FILE (or set KUBECONFIG) for the cluster to run on",
            path.display()
        ));
    }
    Ok(path)
}

impl Existing {
    /// The cluster named by `opts`' kubeconfig and context: kubectl found (built, or on
    /// PATH), the context's server read. Nothing is asked of the cluster yet (that is the
    /// preflight's).
    pub async fn reach(opts: &ExistingOptions, progress: &Progress) -> Result<Existing> {
        let kubeconfig = kubeconfig_of(opts)?;
        let binary = match crate::sys::which("kubectl") {
            Some(p) => p,
            None => crate::tools::named(&["kubectl"])?.remove(0).ensure(progress).await?,
        };
        let kubectl = Kubectl { binary, kubeconfig, context: opts.context.clone() };
        let view = kubectl.run(&["config", "view", "--minify", "-o", "json"], Duration::from_secs(10)).await;
        let view: serde_json::Value = match view {
            Ok(text) => serde_json::from_str(&text).unwrap_or_default(),
            Err(e) => {
                return Err(user_error!(
                    "kubeconfig {}{}: {}",
                    kubectl.kubeconfig.display(),
                    opts.context.as_ref().map_or(String::new(), |c| format!(" has no usable context {c}")),
                    crate::error::one_line(&format!("{e:#}"))
                ));
            }
        };
        let server = view["clusters"][0]["cluster"]["server"].as_str().unwrap_or("?").to_owned();
        let context = view["contexts"][0]["name"].as_str().unwrap_or("?").to_owned();
        if let Some(host) = opts.forge_host
            && let Err(e) = std::net::TcpListener::bind((host, 0))
        {
            return Err(user_error!(
                "--forge-host {host}: this machine cannot listen there ({e}); give one of its own addresses that the pods reach"
            ));
        }
        if let (Some(registry), Some(ca)) = (&opts.registry, &opts.registry_ca) {
            trust_registry_ca(registry, ca)?;
        }
        Ok(Existing {
            kubectl,
            server,
            context,
            registry: opts.registry.clone(),
            forge_host: opts.forge_host,
            applied: Default::default(),
            pushed: Default::default(),
        })
    }
}

impl Existing {
    /// What `--apply-sysctl` changed, for [`Provider::finish`] to restore.
    pub fn applied(&self, applied: super::node_sysctl::Applied) {
        *self.applied.lock().unwrap_or_else(|e| e.into_inner()) = Some(applied);
    }
}

impl Provider for Existing {
    fn platform(&self) -> Platform {
        Platform::Kubernetes
    }

    /// Through a privileged pod on the node (`node_kill.rs`): the nodes are not this host's.
    fn arm_kill<'a>(&'a self, kill: super::provider::Kill<'a>) -> BoxFuture<'a, Result<super::provider::Armed>> {
        Box::pin(super::node_kill::arm(&self.kubectl, kill))
    }

    fn describe(&self) -> String {
        format!(
            "platform kubernetes (the cluster at {}, context {}, kubeconfig {}; never created nor deleted by the run; {})",
            self.server,
            self.context,
            self.kubectl.kubeconfig.display(),
            match &self.registry {
                Some(r) => format!("images pushed to {r}, pulled by the nodes"),
                None => "images found on the nodes".to_owned(),
            }
        )
    }

    fn kubectl(&self) -> &Kubectl {
        &self.kubectl
    }

    fn name(&self) -> &str {
        "fe2e"
    }

    fn privilege(&self) -> Privilege {
        Privilege::Privileged
    }

    /// Pushed to `--registry`; without one, found on a node's image list (`status.images`),
    /// or the run stops with the way out: nothing is loaded into a cluster the run did not
    /// make.
    fn provide_image<'a>(&'a self, image: &'a str, progress: &'a Progress) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            if let Some(registry) = &self.registry {
                let docker = crate::docker::connect().await?;
                // A push stream cut short (seen once in CI: "bytes remaining on stream") is
                // tried once more; the layers already there are skipped.
                let pushed = match crate::docker::push::push(&docker, image, registry, progress).await {
                    Ok(pushed) => Ok(pushed),
                    Err(e) => {
                        let why = crate::error::one_line(&format!("{e:#}"));
                        progress.say(format!("{image}: the push to {registry} failed ({why}); once more"));
                        crate::docker::push::push(&docker, image, registry, progress).await
                    }
                };
                let pushed = pushed.map_err(|e| {
                    user_error!(
                        "{image} could not be pushed to --registry {registry}: {}; check that this engine reaches and trusts it (--registry-ca FILE)",
                        crate::error::one_line(&format!("{e:#}"))
                    )
                })?;
                self.pushed.lock().unwrap_or_else(|e| e.into_inner()).insert(image.to_owned(), pushed);
                return Ok(());
            }
            let nodes = self.kubectl.json(&["get", "nodes"]).await?;
            let on = nodes_with(&nodes, image);
            if on.is_empty() {
                return Err(user_error!(
                    "{image} is on none of the cluster's nodes, and the run loads nothing into a cluster it did not make: \
                     make it pullable by the nodes (a registry they trust), or load it onto them yourself"
                ));
            }
            progress.say(format!("{image}: on node {}", on.join(", ")));
            Ok(())
        })
    }

    /// `kubectl cluster-info dump` of the run's namespaces (the nodes' own logs are not the
    /// run's to read).
    fn export_logs<'a>(&'a self, namespaces: &'a [String]) -> BoxFuture<'a, Result<PathBuf>> {
        Box::pin(async move {
            let dir = crate::output_dir().join("clusters").join("kubernetes-dump");
            let dir_arg = dir.display().to_string();
            let list = namespaces.join(",");
            let mut args = vec!["cluster-info", "dump", "--output-directory", &dir_arg];
            if !list.is_empty() {
                args.extend(["--namespaces", &list]);
            }
            self.kubectl.run(&args, Duration::from_secs(120)).await?;
            Ok(dir)
        })
    }

    /// `--forge-host`: only the user knows which of this machine's addresses their pods reach.
    fn forge_host(&self) -> BoxFuture<'_, Result<std::net::Ipv4Addr>> {
        Box::pin(async {
            self.forge_host.ok_or_else(|| {
                user_error!(
                    "the chart's runner on a cluster of yours needs a forge its pods reach: give --forge-host ADDR (an address of this machine they reach)"
                )
            })
        })
    }

    fn pull_ref(&self, local: &str) -> String {
        let pushed = self.pushed.lock().unwrap_or_else(|e| e.into_inner());
        pushed.get(local).cloned().unwrap_or_else(|| local.to_owned())
    }

    /// The nodes' knob back to each one's value (once), then the engine's trust in the
    /// registry gone.
    fn finish<'a>(&'a self, progress: &'a Progress) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let applied = self.applied.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(applied) = applied {
                match super::node_sysctl::restore(&self.kubectl, &applied).await {
                    Ok(lines) => lines.into_iter().for_each(|l| progress.say(l)),
                    Err(e) => progress.say(format!(
                        "--apply-sysctl: could not restore the nodes' kernel.apparmor_restrict_unprivileged_userns ({}): {e:#}",
                        applied.nodes.iter().map(|(n, v)| format!("{n} was {v}")).collect::<Vec<_>>().join(", ")
                    )),
                }
            }
            if let Some(registry) = &self.registry {
                untrust_registry(registry);
            }
        })
    }

    fn delete<'a>(&'a self, _progress: &'a Progress) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { anyhow::bail!("a cluster the run did not make is never deleted") })
    }

    fn kept_hint(&self, namespace: &str) -> String {
        format!("remove: kubectl --kubeconfig {} delete namespace {namespace}", self.kubectl.kubeconfig.display())
    }
}

/// The nodes whose image list (`status.images[].names`) has `image` (Docker Hub's names in
/// full too).
fn nodes_with(nodes: &serde_json::Value, image: &str) -> Vec<String> {
    let full = format!("docker.io/{image}");
    nodes["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| {
            n["status"]["images"].as_array().into_iter().flatten().any(|i| {
                i["names"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|x| x.as_str() == Some(image) || x.as_str() == Some(&full))
            })
        })
        .map(|n| n["metadata"]["name"].as_str().unwrap_or("?").to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_is_found_by_the_names_a_node_lists() {
        let nodes = serde_json::json!({"items": [
            {"metadata": {"name": "a"}, "status": {"images": [{"names": ["docker.io/forgejo-e2e/job:1"]}]}},
            {"metadata": {"name": "b"}, "status": {"images": [{"names": ["registry.local:5000/dind:2"]}]}},
            {"metadata": {"name": "c"}, "status": {}}]});
        assert_eq!(nodes_with(&nodes, "forgejo-e2e/job:1"), ["a"]);
        assert_eq!(nodes_with(&nodes, "registry.local:5000/dind:2"), ["b"]);
        assert!(nodes_with(&nodes, "forgejo-e2e/job:2").is_empty());
    }

    #[test]
    fn a_missing_kubeconfig_is_one_line_naming_the_flag() {
        let opts = ExistingOptions { kubeconfig: Some("/nonexistent/kubeconfig".into()), ..Default::default() };
        let e = kubeconfig_of(&opts).expect_err("no such file");
        assert!(e.downcast_ref::<crate::UserError>().is_some());
        assert!(e.to_string().contains("--kubeconfig FILE"), "{e}");
    }
}
