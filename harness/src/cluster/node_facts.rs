//! What every node of a cluster of the user's says about running DIND, read before the run:
//! a short-lived DaemonSet (the DIND image, unprivileged: it only reads) prints each node's
//! user-namespace knobs and cgroup version as its kernel shows them to a container, and the
//! harness judges them with `cargo xtask doctor`'s own verdicts (`node::host_findings` over
//! a copy of those files), beside the OS and kernel the node reports to the API. Rootless
//! DIND on a node whose kernel refuses unprivileged user namespaces is refused before the
//! run, naming the node. With `--apply-sysctl` the pod is privileged and first sets the knob
//! to 0 (`node_sysctl.rs`), so the verdicts are on what the run will meet.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use serde_json::json;

use super::short_lived::ShortLived;
use crate::node::{Finding, Verdict, host_findings};
use crate::process::Kubectl;
use crate::wait::{Poll, until};

/// The files the pod prints, relative to `/`: the knobs `doctor` reads.
const KNOBS: [&str; 4] = [
    "proc/sys/kernel/apparmor_restrict_unprivileged_userns",
    "proc/sys/kernel/apparmor_restrict_unprivileged_unconfined",
    "proc/sys/user/max_user_namespaces",
    "proc/sys/kernel/unprivileged_userns_clone",
];
/// Printed by the pod where the cgroup hierarchy is unified (v2).
const CGROUP_V2: &str = "sys/fs/cgroup/cgroup.controllers";

/// One node's facts and the verdicts on them.
#[derive(Debug, Clone)]
pub struct NodeFacts {
    pub node: String,
    pub os: String,
    pub kernel: String,
    pub findings: Vec<Finding>,
    /// `--apply-sysctl` set the knob to 0 on this node: its value before.
    pub was: Option<String>,
}

impl NodeFacts {
    /// The findings that stop rootless DIND on this node.
    pub fn blocks_rootless(&self) -> Vec<&Finding> {
        self.findings
            .iter()
            .filter(|f| f.check != "cgroup version" && matches!(f.verdict, Verdict::Problem { .. }))
            .collect()
    }

    /// One line: the node, its OS and kernel, and each verdict in short.
    pub fn line(&self) -> String {
        let verdicts: Vec<String> = self
            .findings
            .iter()
            .map(|f| match &f.verdict {
                Verdict::Ok(v) => format!("{} {v}", f.check),
                Verdict::NotApplicable(_) => format!("{} n/a", f.check),
                Verdict::Warning { what, .. } => format!("{} WARNING {what}", f.check),
                Verdict::Problem { what, .. } => format!("{} PROBLEM {what}", f.check),
            })
            .collect();
        format!("node {}: {}, kernel {}; {}", self.node, self.os, self.kernel, verdicts.join("; "))
    }
}

/// The pod's script: the knob set first where `apply`, then each knob file's contents
/// after its path, and the cgroup marker.
fn script(apply: bool) -> String {
    let mut s = match apply {
        true => super::node_sysctl::apply_script(super::node_sysctl::KNOB),
        false => String::new(),
    };
    for knob in KNOBS {
        s.push_str(&format!("[ -e /{knob} ] && echo \"{knob}=$(cat /{knob})\"; "));
    }
    s.push_str(&format!("[ -e /{CGROUP_V2} ] && echo \"{CGROUP_V2}=\"; echo fe2e-facts-done; exec sleep 600"));
    s
}

fn manifest(at: &ShortLived, image: &str, run_id: &str, apply: bool) -> String {
    let container = json!({"name": "facts", "image": image, "imagePullPolicy": "IfNotPresent",
                           "securityContext": {"privileged": apply},
                           "command": ["sh", "-c", script(apply)]});
    at.manifest(run_id, container)
}

/// A pod's printed facts laid out as files under `root`, as `doctor` reads a machine.
fn lay_out(printed: &str, root: &Path) -> Result<()> {
    for line in printed.lines() {
        let Some((path, value)) = line.split_once('=') else { continue };
        if !KNOBS.contains(&path) && path != CGROUP_V2 {
            continue;
        }
        let file = root.join(path);
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(file, value)?;
    }
    // doctor tells v1 from a missing hierarchy by the folder.
    std::fs::create_dir_all(root.join("sys/fs/cgroup"))?;
    Ok(())
}

/// Every schedulable node's facts, read by a DaemonSet of `image` in a namespace of the
/// run's own or the user's `theirs` (removed after, also on failure); where `apply`, the
/// knob set to 0 first.
pub async fn read(
    k: &Kubectl,
    (run_id, theirs): (&str, Option<&str>),
    image: &str,
    nodes: &serde_json::Value,
    apply: bool,
) -> Result<Vec<NodeFacts>> {
    let at = ShortLived::new(run_id, "facts", theirs);
    k.apply(&manifest(&at, image, run_id, apply)).await?;
    let result = gather(k, &at, nodes).await;
    let removed = at.remove(k).await;
    let facts = result?;
    removed?;
    Ok(facts)
}

async fn gather(k: &Kubectl, at: &ShortLived, nodes: &serde_json::Value) -> Result<Vec<NodeFacts>> {
    let wanted = super::schedulable(nodes);
    let pods = until(
        "a facts pod done on every schedulable node",
        Duration::from_secs(90),
        Duration::from_secs(1),
        || async {
            let pods = at.pods(k, None).await?;
            let mut done = Vec::new();
            for pod in pods["items"].as_array().into_iter().flatten() {
                let (Some(name), Some(node)) = (pod["metadata"]["name"].as_str(), pod["spec"]["nodeName"].as_str())
                else {
                    continue;
                };
                if pod["status"]["phase"] == "Running" {
                    done.push((node.to_owned(), name.to_owned()));
                }
                // A node that cannot pull the image will not: said at once, in the kubelet's words.
                let waiting = &pod["status"]["containerStatuses"][0]["state"]["waiting"];
                if let Some(reason @ ("ErrImagePull" | "ImagePullBackOff" | "ErrImageNeverPull")) =
                    waiting["reason"].as_str()
                {
                    return Err(crate::user_error!(
                        "node {node} cannot pull {} ({reason}: {}): the nodes must reach the image and trust its registry",
                        pod["spec"]["containers"][0]["image"].as_str().unwrap_or("?"),
                        crate::error::one_line(waiting["message"].as_str().unwrap_or_default())
                    ));
                }
            }
            let missing: Vec<&String> = wanted.iter().filter(|n| !done.iter().any(|(d, _)| d == *n)).collect();
            Ok(match missing.is_empty() {
                true => Poll::Ready(done),
                false => Poll::NotYet(format!(
                    "no facts pod running yet on {}",
                    missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                )),
            })
        },
    )
    .await?;
    let mut facts = Vec::new();
    for (node, pod) in pods.into_iter().filter(|(n, _)| wanted.contains(n)) {
        let printed = until("the facts pod's lines", Duration::from_secs(20), Duration::from_secs(1), || async {
            let text = at.logs(k, &pod).await?;
            Ok(if text.contains("fe2e-facts-done") { Poll::Ready(text) } else { Poll::NotYet(text) })
        })
        .await?;
        let value_of = |key: &str| printed.lines().find_map(|l| l.strip_prefix(&format!("{key}="))).map(str::to_owned);
        if let Some(v) = value_of(super::node_sysctl::REFUSED) {
            return Err(crate::user_error!(
                "--apply-sysctl: node {node} refused kernel.apparmor_restrict_unprivileged_userns=0 (it stays {v}): the privileged pod could not write it; set it on the node yourself"
            ));
        }
        let root = crate::sys::Scratch::new(&format!("fe2e-node-facts-{node}"));
        lay_out(&printed, &root)?;
        let findings: Vec<Finding> =
            host_findings(&root).into_iter().filter(|f| !f.check.starts_with("/dev/")).collect();
        let info = nodes["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|n| n["metadata"]["name"] == node.as_str())
            .map(|n| n["status"]["nodeInfo"].clone())
            .unwrap_or_default();
        facts.push(NodeFacts {
            node,
            os: info["osImage"].as_str().unwrap_or("?").to_owned(),
            kernel: info["kernelVersion"].as_str().unwrap_or("?").to_owned(),
            findings,
            was: value_of(super::node_sysctl::WAS),
        });
    }
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_knobs_are_judged_as_doctor_judges_a_machine() {
        let root = crate::sys::Scratch::new("fe2e-node-facts-test");
        let printed = "proc/sys/kernel/apparmor_restrict_unprivileged_userns=1\nproc/sys/user/max_user_namespaces=15000\nsys/fs/cgroup/cgroup.controllers=\nnoise\nfe2e-facts-done\n";
        lay_out(printed, &root).expect("laid out");
        let findings: Vec<Finding> =
            host_findings(&root).into_iter().filter(|f| !f.check.starts_with("/dev/")).collect();
        let facts =
            NodeFacts { node: "w1".into(), os: "Ubuntu 24.04".into(), kernel: "6.8".into(), findings, was: None };
        let blocks: Vec<&str> = facts.blocks_rootless().iter().map(|f| f.check).collect();
        assert_eq!(blocks, ["kernel.apparmor_restrict_unprivileged_userns"]);
        let line = facts.line();
        assert!(line.starts_with("node w1: Ubuntu 24.04, kernel 6.8;") && line.contains("cgroup version v2"), "{line}");
        // A kernel without the knobs: nothing blocks.
        let bare = crate::sys::Scratch::new("fe2e-node-facts-bare");
        lay_out("proc/sys/user/max_user_namespaces=15000\nfe2e-facts-done\n", &bare).expect("laid out");
        let findings = host_findings(&bare).into_iter().filter(|f| !f.check.starts_with("/dev/")).collect();
        assert!(
            NodeFacts { node: "w".into(), os: "".into(), kernel: "".into(), findings, was: None }
                .blocks_rootless()
                .is_empty()
        );
    }

    #[test]
    fn the_daemonset_only_reads_unless_it_applies_the_knob() {
        let own = ShortLived::new("x", "facts", None);
        let m = manifest(&own, "forgejo-e2e/dind:1", "x", false);
        assert!(m.contains(r#""kind":"DaemonSet""#) && m.contains(r#""privileged":false"#), "{m}");
        assert!(m.contains(r#""kind":"Namespace""#) && m.contains(r#""namespace":"fe2e-x-facts""#), "{m}");
        // In the user's namespace: the DaemonSet alone, named for the run.
        let m = manifest(&ShortLived::new("x", "facts", Some("ci")), "forgejo-e2e/dind:1", "x", false);
        assert!(!m.contains(r#""kind":"Namespace""#) && m.contains(r#""namespace":"ci""#), "{m}");
        assert!(m.contains(r#""name":"fe2e-x-facts""#), "{m}");
        assert!(script(false).contains("cat /proc/sys/kernel/apparmor_restrict_unprivileged_userns"));
        assert!(!script(false).contains("echo 0 >"));
        let m = manifest(&own, "forgejo-e2e/dind:1", "x", true);
        assert!(m.contains(r#""privileged":true"#), "{m}");
        // Set before it is read: the verdicts are on what the run meets.
        let s = script(true);
        assert!(s.find("echo 0 >").expect("sets") < s.find("echo \"proc/sys").expect("reads"), "{s}");
    }
}
