//! A release's pod as a [`PodHandle`]: `kubectl exec` and `kubectl get pod` through the
//! cluster's API, a fault's kill through containerd on the pod's node, and the API server's
//! outage named after a failed command.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures_util::future::LocalBoxFuture;

use super::release::{Release, exec_args};
use super::{KindPlatform, one_line};
use crate::cluster::provider::Kill;
use crate::docker::{DindMode, ExecOutput};
use crate::failure::Failed;
use crate::fault::Hook;
use crate::platform::pod::{ContainerLook, PodContainer, PodExec, PodHandle, Switch};
use crate::process::{NotDone, run_with};
use crate::scenario::Platform;
use crate::wait::{Poll, until};

/// Release `release`'s pod in the run's cluster.
pub(in crate::platform) struct KindPod<'a> {
    pub(in crate::platform) platform: &'a KindPlatform,
    pub(in crate::platform) release: &'a Release,
}

impl KindPlatform {
    /// Release `release`'s pod, for a delivery.
    pub(super) fn pod<'a>(&'a self, release: &'a Release) -> KindPod<'a> {
        KindPod { platform: self, release }
    }
}

impl KindPod<'_> {
    /// The pod as the API server reports it.
    async fn get(&self) -> Result<serde_json::Value> {
        let r = self.release;
        self.platform.kubectl().json(&["--namespace", &r.place.namespace, "get", "pod", &r.pod]).await
    }
}

impl PodHandle for KindPod<'_> {
    fn platform(&self) -> Platform {
        self.platform.cluster.platform()
    }

    fn mode(&self) -> DindMode {
        self.platform.dind
    }

    /// Through `kubectl exec -i … tar -x`.
    fn copy_in<'a>(&'a self, c: PodContainer, dir: &'a str, tar: Vec<u8>) -> LocalBoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let script = format!("mkdir -p '{dir}' && tar -x -C '{dir}'");
            let mut args = exec_args(self.release, c.name(), &["sh", "-c", &script]);
            args.insert(args.iter().position(|a| *a == "exec").map_or(0, |i| i + 1), "-i");
            let cmd = self.platform.kubectl().command(&args);
            let out = run_with(cmd, "kubectl exec", Duration::from_secs(60), Some(tar), |_| {}, None).await?;
            anyhow::ensure!(out.success, "copy files to {}:{dir}: {}", c.name(), out.tail(3));
            Ok(())
        })
    }

    /// `kubectl exec`, the working directory and environment through `env`.
    fn exec<'a>(
        &'a self,
        c: PodContainer,
        cmd: PodExec<'a>,
        on_line: &'a mut (dyn FnMut(&str) + Send),
    ) -> LocalBoxFuture<'a, Result<ExecOutput>> {
        Box::pin(async move {
            let mut argv: Vec<&str> = vec!["env"];
            if let Some(cwd) = cmd.cwd {
                argv.extend(["-C", cwd]);
            }
            argv.extend(cmd.env.iter().map(String::as_str));
            argv.extend(cmd.argv.iter().map(String::as_str));
            let args = exec_args(self.release, c.name(), &argv);
            let k = self.platform.kubectl().command(&args);
            let progress = Some(&self.platform.progress);
            match run_with(k, &format!("{}: exec", self.release.pod), cmd.deadline, None, on_line, progress).await {
                Ok(out) => Ok(ExecOutput { exit_code: Some(out.code.map_or(-1, i64::from)), output: out.text }),
                Err(e) => match e.downcast::<NotDone>() {
                    Ok(not_done) => Ok(ExecOutput { exit_code: None, output: not_done.output.text }),
                    Err(e) => Err(e),
                },
            }
        })
    }

    fn logs(&self, c: PodContainer) -> LocalBoxFuture<'_, String> {
        Box::pin(async move {
            let r = self.release;
            let args = ["--namespace", &r.place.namespace, "logs", &r.pod, "-c", c.name()];
            match self.platform.kubectl().run(&args, Duration::from_secs(30)).await {
                Ok(text) => text,
                Err(e) => format!("(kubectl logs: {e:#})"),
            }
        })
    }

    /// The kubelet's container statuses.
    fn look(&self) -> LocalBoxFuture<'_, Result<Vec<ContainerLook>>> {
        Box::pin(async { Ok(looks_of(&self.get().await?)) })
    }

    /// SIGKILL to the container's processes on its node (the cluster's provider knows how),
    /// or the API server's container stopped (kind's nodes only).
    fn switch(&self, hook: Hook) -> LocalBoxFuture<'_, Result<Switch>> {
        Box::pin(async move {
            let name = match hook {
                Hook::KillDind => "dind",
                Hook::KillRunner => "runner",
                Hook::StopApiServer => {
                    // Not run elsewhere (`Fault::not_on`): a cluster of the user's API is theirs.
                    let Some(kind) = self.platform.cluster.kind_nodes() else {
                        anyhow::bail!("stopping the API server needs the nodes of a kind cluster");
                    };
                    let node = format!("{kind}-control-plane");
                    let switch: Switch = Box::new(move || {
                        let node = node.clone();
                        Box::pin(async move { super::node::stop_api_server(&node).await })
                    });
                    return Ok(switch);
                }
                Hook::StopForgejo => anyhow::bail!("stopping the forge is the delivery's, not the pod's"),
            };
            let pod = self.get().await?;
            let (node, id) = container_of(&pod, name).with_context(|| format!("the pod has no container {name}"))?;
            let p = self.platform;
            // The killer runs the DIND image, which the node has: the pod runs it.
            let image = p.cluster.pull_ref(&p.kind_opts.dind_image);
            let place = &self.release.place;
            let kill = Kill {
                node: &node,
                id: &id,
                namespace: &place.namespace,
                image: &image,
                labels: place.labels(&p.run_id),
            };
            p.cluster.arm_kill(kill).await
        })
    }

    /// Whether the cluster's API was down, and for how long it stayed down once seen
    /// (waited for, so the bundle and the next item find it back).
    fn outage(&self) -> LocalBoxFuture<'_, Option<Failed>> {
        Box::pin(async {
            let k = self.platform.kubectl();
            let readyz = || k.run(&["get", "--raw", "/readyz"], Duration::from_secs(5));
            let first = readyz().await.err()?;
            let t = Instant::now();
            let back =
                until("the cluster API answers again", Duration::from_secs(180), Duration::from_secs(2), || async {
                    Ok(match readyz().await {
                        Ok(_) => Poll::Ready(()),
                        Err(e) => Poll::NotYet(one_line(&format!("{e:#}"))),
                    })
                });
            let seen = one_line(&format!("{first:#}"));
            let outage = match back.await {
                Ok(()) => format!("{seen}; back after {:.0}s", t.elapsed().as_secs_f64()),
                Err(e) => format!("{seen}; {e:#}"),
            };
            Some(Failed::ApiOutage { outage })
        })
    }
}

/// The node and containerd id of container `name` of `pod`.
fn container_of(pod: &serde_json::Value, name: &str) -> Option<(String, String)> {
    let node = pod["spec"]["nodeName"].as_str()?;
    let statuses = pod["status"]["containerStatuses"].as_array()?;
    let c = statuses.iter().find(|c| c["name"] == name)?;
    let id = c["containerID"].as_str()?.trim_start_matches("containerd://");
    Some((node.to_owned(), id.to_owned()))
}

/// The chart's two containers as the kubelet reports them (the chart's other containers,
/// if any, are not the pod a delivery reaches).
fn looks_of(pod: &serde_json::Value) -> Vec<ContainerLook> {
    let statuses = pod["status"]["containerStatuses"].as_array().into_iter().flatten();
    statuses
        .filter_map(|c| {
            let container = match c["name"].as_str()? {
                "dind" => PodContainer::Dind,
                "runner" => PodContainer::Runner,
                _ => return None,
            };
            Some(ContainerLook {
                container,
                running: !c["state"]["running"].is_null(),
                restarts: c["restartCount"].as_u64().unwrap_or(0),
                last_exit: c["lastState"]["terminated"]["exitCode"]
                    .as_i64()
                    .or_else(|| c["state"]["terminated"]["exitCode"].as_i64()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_kubelet_s_statuses_are_the_pod_s_looks() {
        let pod = json!({"spec": {"nodeName": "n1"}, "status": {"containerStatuses": [
            {"name": "dind", "containerID": "containerd://d1", "restartCount": 1,
             "state": {"running": {}}, "lastState": {"terminated": {"exitCode": 137}}},
            {"name": "runner", "containerID": "containerd://r1", "restartCount": 0, "state": {"waiting": {}}},
            {"name": "sidecar", "restartCount": 0, "state": {"running": {}}}]}});
        let looks = looks_of(&pod);
        assert_eq!(looks.len(), 2);
        let dind = ContainerLook { container: PodContainer::Dind, running: true, restarts: 1, last_exit: Some(137) };
        assert_eq!(looks[0], dind);
        assert!(!looks[1].running);
        assert_eq!(container_of(&pod, "dind"), Some(("n1".into(), "d1".into())));
        assert_eq!(container_of(&pod, "nope"), None);
    }
}
