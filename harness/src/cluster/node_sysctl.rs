//! `--apply-sysctl` on a cluster of the user's: the nodes are not this host, so the facts
//! DaemonSet (privileged for it) sets `kernel.apparmor_restrict_unprivileged_userns` to 0
//! where a node has it otherwise and prints what it was; at the end of the run — passed,
//! failed or interrupted — a DaemonSet writes each node's own value back.

use std::time::Duration;

use anyhow::Result;
use serde_json::json;

use super::short_lived::ShortLived;
use crate::process::Kubectl;
use crate::wait::{Poll, until};

/// The knob rootless DIND trips over on Ubuntu 24.04.
pub const KNOB: &str = "/proc/sys/kernel/apparmor_restrict_unprivileged_userns";
/// Printed by the facts pod where it set the knob: its value before.
pub const WAS: &str = "fe2e-sysctl-was";
/// Printed where the write was refused (the pod was not privileged after all).
pub const REFUSED: &str = "fe2e-sysctl-refused";
const RESTORED: &str = "fe2e-sysctl-restored";
const RESTORE_FAILED: &str = "fe2e-sysctl-restore-failed";

/// What `--apply-sysctl` changed: each node's value before, and what the restore runs from.
/// Kept beside the run's reports too, so an interrupted run restores it
/// (`platform::kind::interrupted_cleanup`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Applied {
    pub run_id: String,
    /// The image the restore's pods run (the facts pod's: the nodes have it).
    pub image: String,
    /// Node and its value before, for every node whose knob was set to 0.
    pub nodes: Vec<(String, String)>,
    /// The user's `--namespace`, where the restore's DaemonSet goes (else one of its own).
    #[serde(default)]
    pub namespace: Option<String>,
}

impl Applied {
    fn path(run_id: &str) -> std::path::PathBuf {
        crate::output_dir().join("runs").join(run_id).join("sysctl-applied.json")
    }

    /// Written where an interrupted run finds it, when a node was changed.
    pub fn save(&self) -> Result<()> {
        if self.nodes.is_empty() {
            return Ok(());
        }
        let path = Self::path(&self.run_id);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, serde_json::to_string(self)?)?;
        Ok(())
    }

    /// What run `run_id` changed and has not restored yet.
    pub fn load(run_id: &str) -> Option<Applied> {
        serde_json::from_str(&std::fs::read_to_string(Self::path(run_id)).ok()?).ok()
    }
}

/// Shell that sets `knob` to 0 where it exists and is not 0, printing what it was.
pub fn apply_script(knob: &str) -> String {
    format!(
        "if [ -e {knob} ]; then v=$(cat {knob}); if [ \"$v\" != 0 ]; then if echo 0 > {knob}; then echo {WAS}=$v; else echo {REFUSED}=$v; fi; fi; fi; "
    )
}

/// Shell that writes each node's own value back to `knob`; the pod's node is `$NODE`.
/// Node names (DNS labels) and values (digits) are checked before they reach it.
fn restore_script(knob: &str, nodes: &[(String, String)]) -> Result<String> {
    let mut s = String::from("case \"$NODE\" in ");
    for (node, value) in nodes {
        let safe = |t: &str, extra: &[char]| t.chars().all(|c| c.is_ascii_alphanumeric() || extra.contains(&c));
        anyhow::ensure!(
            !node.is_empty() && safe(node, &['-', '.']) && !value.is_empty() && safe(value, &[]),
            "node {node:?} or its value {value:?} is not what a node name and the knob hold"
        );
        s.push_str(&format!("'{node}') echo {value} > {knob} || echo {RESTORE_FAILED};; "));
    }
    s.push_str(&format!("esac; echo {RESTORED}; exec sleep 600"));
    Ok(s)
}

fn restore_container(a: &Applied) -> Result<serde_json::Value> {
    Ok(json!({"name": "restore", "image": a.image, "imagePullPolicy": "IfNotPresent",
                           "securityContext": {"privileged": true},
                           "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                           "command": ["sh", "-c", restore_script(KNOB, &a.nodes)?]}))
}

/// Each node's own value written back by a DaemonSet in a namespace of the run's own or the
/// user's (removed after, also when the restore fails); one line per node restored.
pub async fn restore(k: &Kubectl, a: &Applied) -> Result<Vec<String>> {
    if a.nodes.is_empty() {
        return Ok(Vec::new());
    }
    let at = ShortLived::new(&a.run_id, "sysctl", a.namespace.as_deref());
    at.start(k, &a.run_id, restore_container(a)?).await?;
    let result = restored(k, &at, a).await;
    let removed = at.remove(k).await;
    let lines = result?;
    removed?;
    let _ = std::fs::remove_file(Applied::path(&a.run_id));
    Ok(lines)
}

async fn restored(k: &Kubectl, at: &ShortLived, a: &Applied) -> Result<Vec<String>> {
    let mut lines = Vec::new();
    for (node, value) in &a.nodes {
        let what = format!("the restore pod on node {node}");
        let printed = until(&what, Duration::from_secs(90), Duration::from_secs(1), || async {
            let pods = at.pods(k, Some(node)).await?;
            let Some(pod) = pods["items"][0]["metadata"]["name"].as_str() else {
                return Ok(Poll::NotYet("no pod yet".into()));
            };
            let text = at.logs(k, pod).await.unwrap_or_default();
            Ok(if text.contains(RESTORED) { Poll::Ready(text) } else { Poll::NotYet(format!("pod {pod}: not done")) })
        })
        .await?;
        anyhow::ensure!(
            !printed.contains(RESTORE_FAILED),
            "node {node}: {} could not be written back to {value}",
            KNOB
        );
        lines.push(format!("node {node}: restored kernel.apparmor_restrict_unprivileged_userns = {value}"));
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scripts run as the pods run them, on a file standing in for the knob.
    fn sh(script: &str, node: &str) -> String {
        let out = std::process::Command::new("sh").args(["-c", script]).env("NODE", node).output().expect("sh");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn the_knob_is_set_to_zero_with_its_value_printed_and_written_back_per_node() {
        let dir = crate::sys::Scratch::new("fe2e-node-sysctl-test");
        std::fs::create_dir_all(&*dir).expect("scratch");
        let knob = dir.join("knob");
        let knob = knob.to_str().expect("utf-8");
        std::fs::write(knob, "1\n").expect("write");
        assert_eq!(sh(&apply_script(knob), "w1").trim(), format!("{WAS}=1"));
        assert_eq!(std::fs::read_to_string(knob).expect("read").trim(), "0");
        // Already 0, or absent: nothing printed, nothing written.
        assert_eq!(sh(&apply_script(knob), "w1"), "");
        assert_eq!(sh(&apply_script(&format!("{knob}-absent")), "w1"), "");
        let nodes = [("w1".to_owned(), "1".to_owned()), ("w2".to_owned(), "2".to_owned())];
        let restore = restore_script(knob, &nodes).expect("script").replace("exec sleep 600", "true");
        assert!(sh(&restore, "w2").contains(RESTORED));
        assert_eq!(std::fs::read_to_string(knob).expect("read").trim(), "2");
        // A node the apply did not change is left alone.
        std::fs::write(knob, "0\n").expect("write");
        assert!(sh(&restore, "cp").contains(RESTORED));
        assert_eq!(std::fs::read_to_string(knob).expect("read").trim(), "0");
        assert!(restore_script(knob, &[("w1; rm -rf /".to_owned(), "1".to_owned())]).is_err());
        assert!(restore_script(knob, &[("w1".to_owned(), "1 > /x".to_owned())]).is_err());
    }
}
