//! A fault's kill on a node of a cluster reached only through its API. The nodes are not
//! this host's containers, so the harness acts as a node's own process would: a privileged
//! pod pinned to the node and sharing its process namespace (`hostPID`), made before the
//! trigger, which on it SIGKILLs every process in the container's cgroup — what containerd's
//! `task kill` does to the container on a kind node. The kubelet then restarts the container.

use std::time::Duration;

use anyhow::Result;
use serde_json::json;

use super::provider::{Armed, Kill};
use crate::process::Kubectl;
use crate::wait::{Poll, until};

/// Printed by the killer with how many processes it killed.
const KILLED: &str = "fe2e-killed=";

/// The pod that will kill `kill.id`, Ready on its node; the returned action fires it once,
/// then removes it.
pub async fn arm(k: &Kubectl, kill: Kill<'_>) -> Result<Armed> {
    anyhow::ensure!(
        !kill.id.is_empty() && kill.id.chars().all(|c| c.is_ascii_hexdigit()),
        "container id {:?} is not a runtime's hex id",
        kill.id
    );
    let name = format!("fe2e-kill-{}", crate::sys::fresh_hex(kill.id, 4));
    let pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": kill.namespace, "labels": kill.labels},
        "spec": {"nodeName": kill.node, "hostPID": true, "restartPolicy": "Never",
                 "terminationGracePeriodSeconds": 0, "tolerations": [{"operator": "Exists"}],
                 "containers": [{"name": "kill", "image": kill.image, "imagePullPolicy": "IfNotPresent",
                                 "securityContext": {"privileged": true, "runAsUser": 0},
                                 "command": ["sh", "-c", "exec sleep 600"]}]}});
    k.apply(&pod.to_string()).await?;
    let ns = kill.namespace.to_owned();
    let ready =
        until("the killer pod running on its node", Duration::from_secs(60), Duration::from_secs(1), || async {
            let p = k.json(&["--namespace", &ns, "get", "pod", &name]).await?;
            Ok(match p["status"]["phase"].as_str() {
                Some("Running") => Poll::Ready(()),
                phase => Poll::NotYet(format!("pod {name}: {}", phase.unwrap_or("not yet"))),
            })
        });
    if let Err(e) = ready.await {
        let _ = remove(k, &ns, &name).await;
        return Err(e);
    }
    let (k, script) = (k.clone(), script("/proc", kill.id));
    Ok(Box::new(move || {
        let (k, ns, name, script) = (k.clone(), ns.clone(), name.clone(), script.clone());
        Box::pin(async move {
            let said =
                k.run(&["--namespace", &ns, "exec", &name, "--", "sh", "-c", &script], Duration::from_secs(30)).await;
            let _ = remove(&k, &ns, &name).await;
            let killed = said?.lines().find_map(|l| l.strip_prefix(KILLED)?.trim().parse::<u32>().ok());
            anyhow::ensure!(killed.unwrap_or(0) > 0, "no process of the container was found on its node to kill");
            Ok(())
        })
    }))
}

/// Shell that SIGKILLs every process (of `proc`, the node's `/proc`) whose cgroup path
/// names container `id`, and prints how many it killed.
fn script(proc: &str, id: &str) -> String {
    format!(
        "n=0; for d in {proc}/[0-9]*; do if grep -q {id} $d/cgroup 2>/dev/null; then kill -9 ${{d##*/}} 2>/dev/null && n=$((n+1)); fi; done; echo {KILLED}$n"
    )
}

async fn remove(k: &Kubectl, ns: &str, name: &str) -> Result<String> {
    let delete = ["--namespace", ns, "delete", "pod", name, "--grace-period=0", "--force", "--wait=false"];
    k.run(&delete, Duration::from_secs(30)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The script run by `sh` over a stand-in /proc: one entry per live `sleep`, each with a
    /// cgroup file; only the one naming the container's id is killed.
    #[test]
    fn the_killer_kills_the_processes_of_the_containers_cgroup_and_no_other() {
        let spawn = || std::process::Command::new("sleep").arg("30").spawn().expect("sleep");
        let (mut ours, mut other) = (spawn(), spawn());
        let proc = crate::sys::Scratch::new("fe2e-node-kill-test");
        for (child, cgroup) in [(&ours, "0::/kubepods/pod1/0123abcd\n"), (&other, "0::/kubepods/pod1/99ffee\n")] {
            let dir = proc.join(child.id().to_string());
            std::fs::create_dir_all(&dir).expect("dir");
            std::fs::write(dir.join("cgroup"), cgroup).expect("cgroup");
        }
        let script = script(proc.to_str().expect("utf-8"), "0123abcd");
        let out = std::process::Command::new("sh").args(["-c", &script]).output().expect("sh");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("{KILLED}1"));
        let status = ours.wait().expect("wait");
        assert!(!status.success(), "the container's process was killed: {status:?}");
        assert!(other.try_wait().expect("try_wait").is_none(), "another process was left alone");
        let _ = other.kill();
        let _ = other.wait();
    }
}
