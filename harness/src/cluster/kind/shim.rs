//! The `docker` kind finds first on its PATH. kind creates nodes with `docker run
//! --privileged` and enters them with `docker exec --privileged`; an engine that withholds
//! CAP_SYS_RESOURCE refuses both. The shim passes everything through to the real client,
//! labels what `run` makes with the cluster and `network create` as the harness's (so the
//! sweep and the leak check see them), and — only when the engine refuses `--privileged` — turns it into the
//! capability set that DIND uses here too, plus what a node needs beyond it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::docker::{Privilege, labels};

/// The label naming the kind cluster a node or network belongs to.
pub const CLUSTER: &str = "io.forgejo-e2e.cluster";
/// The first two octets of the `kind` network's IPv4 /24, outside DIND's default pools and
/// Kubernetes' pod (10.244/16) and Service (10.96/12) ranges.
pub const KIND_POOL: &str = "10.213";

/// Writes the shim into `dir` (as `dir/docker`) and returns `dir`, to put first on kind's PATH.
pub fn write(dir: &Path, real_docker: &Path, cluster: &str, privilege: Privilege) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let path = dir.join("docker");
    std::fs::write(&path, script(real_docker, cluster, privilege))
        .with_context(|| format!("write {}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    Ok(dir.to_owned())
}

fn script(real_docker: &Path, cluster: &str, privilege: Privilege) -> String {
    let translate = u8::from(privilege == Privilege::CapabilitySet);
    format!(
        r#"#!/bin/bash
# Written by forgejo-e2e for kind cluster {cluster}: kind runs `docker` from PATH and finds this.
real='{real}'
translate={translate}  # 1: this engine refuses --privileged (it withholds CAP_SYS_RESOURCE)
labels=(--label {managed}=true --label {cluster_label}={cluster})
case "$1" in
  run)
    shift
    args=(run "${{labels[@]}}")
    while [ $# -gt 0 ]; do
      a=$1; shift
      if [ "$translate" = 1 ] && [ "$a" = --privileged ]; then
        # What --privileged gives a node, less SYS_RESOURCE; /dev/kmsg for kubelet.
        args+=(--cap-add ALL --cap-drop SYS_RESOURCE --security-opt systempaths=unconfined
               --device-cgroup-rule 'a *:* rwm' --device /dev/kmsg)
        # rootless DIND in a pod needs a tun device for slirp4netns.
        if [ -c /dev/net/tun ]; then args+=(--device /dev/net/tun); fi
      elif [ "$a" = --volume ] && [ "${{1-}}" = /lib/modules:/lib/modules:ro ] && [ ! -d /lib/modules ]; then
        shift  # absent on this host: a bind of it would fail
      else
        args+=("$a")
      fi
    done
    exec "$real" "${{args[@]}}"
    ;;
  exec)
    shift
    args=(exec)
    for a in "$@"; do
      if [ "$translate" = 1 ] && [ "$a" = --privileged ]; then continue; fi
      args+=("$a")
    done
    exec "$real" "${{args[@]}}"
    ;;
  network)
    if [ "${{2-}}" = create ]; then
      # kind's one `kind` network serves every cluster: the harness's, not one cluster's.
      # Its IPv4 range lies outside DIND's default address pools (172.17-31.0.0/16,
      # 192.168.0.0/16), else a job on a network of its own inside DIND gets the nodes'
      # gateway -- the forge beside the cluster -- as its own network's gateway. The first
      # free /24 of {pool}.0-15.
      shift 2
      for c in $(seq 0 15); do
        if out=$("$real" network create --label {managed}=true --subnet {pool}.$c.0/24 "$@" 2>&1); then
          echo "$out"; exit 0
        fi
        case "$out" in *overlap*) continue ;; esac
        echo "$out" >&2; exit 1
      done
      echo "$out" >&2; exit 1
    fi
    ;;
esac
exec "$real" "$@"
"#,
        real = real_docker.display(),
        managed = labels::MANAGED,
        cluster_label = CLUSTER,
        pool = KIND_POOL,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the shim with a fake `docker` that prints its arguments, one per line.
    fn through_shim(privilege: Privilege, args: &[&str]) -> Vec<String> {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("fe2e-shim-{}-{:?}-{}", std::process::id(), privilege, args.len()));
        std::fs::create_dir_all(&dir).expect("dir");
        let fake = dir.join("real-docker");
        std::fs::write(&fake, "#!/bin/sh\nfor a in \"$@\"; do echo \"$a\"; done\n").expect("fake");
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("mode");
        write(&dir.join("shim"), &fake, "e2e", privilege).expect("shim");
        // A parallel test's fork can hold the fresh script open for writing a moment
        // (ETXTBSY): retried until it runs, for at most 5 s.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let out = loop {
            match std::process::Command::new(dir.join("shim/docker")).args(args).output() {
                Err(e)
                    if e.kind() == std::io::ErrorKind::ExecutableFileBusy && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => break other.expect("run shim"),
            }
        };
        let _ = std::fs::remove_dir_all(&dir);
        String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
    }

    #[test]
    fn a_refused_privileged_becomes_the_capability_set_and_nodes_are_labelled() {
        let run = through_shim(Privilege::CapabilitySet, &["run", "--privileged", "--name", "n", "img"]);
        assert_eq!(
            run[..5],
            ["run", "--label", "io.forgejo-e2e.managed=true", "--label", "io.forgejo-e2e.cluster=e2e"]
        );
        assert!(!run.contains(&"--privileged".to_owned()), "{run:?}");
        for want in ["ALL", "SYS_RESOURCE", "systempaths=unconfined", "a *:* rwm", "/dev/kmsg", "img"] {
            assert!(run.contains(&want.to_owned()), "{want} in {run:?}");
        }
        let exec = through_shim(Privilege::CapabilitySet, &["exec", "--privileged", "n", "kubeadm", "init"]);
        assert_eq!(exec, ["exec", "n", "kubeadm", "init"]);
    }

    #[test]
    fn an_engine_that_allows_privileged_keeps_it() {
        let run = through_shim(Privilege::Privileged, &["run", "--privileged", "img"]);
        assert!(run.contains(&"--privileged".to_owned()) && !run.contains(&"SYS_RESOURCE".to_owned()), "{run:?}");
        let net = through_shim(Privilege::Privileged, &["network", "create", "-d=bridge", "kind"]);
        assert_eq!(
            net,
            [
                "network",
                "create",
                "--label",
                "io.forgejo-e2e.managed=true",
                "--subnet",
                "10.213.0.0/24",
                "-d=bridge",
                "kind"
            ]
        );
        assert_eq!(through_shim(Privilege::Privileged, &["ps", "-a"]), ["ps", "-a"]);
    }
}
