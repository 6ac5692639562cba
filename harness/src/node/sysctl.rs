//! `kernel.apparmor_restrict_unprivileged_userns`: check, flip to 0 (optionally persisted
//! in /etc/sysctl.d), and put back exactly what was there. Every path hangs off `root`,
//! so the logic is tested against a fake /proc/sys on kernels without the knob.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::user_error;

/// A sysctl and the value rootless DIND needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Knob {
    pub name: &'static str,
    pub wanted: &'static str,
}

/// Ubuntu 24.04's switch: 1 refuses unprivileged user namespaces to unconfined programs.
pub const USERNS_KNOB: Knob = Knob { name: "kernel.apparmor_restrict_unprivileged_userns", wanted: "0" };
/// Also needed on some hosts: 1 makes unconfined programs lose the right as well.
pub const UNCONFINED_KNOB: Knob = Knob { name: "kernel.apparmor_restrict_unprivileged_unconfined", wanted: "0" };

/// The persistent setting the article documents.
pub const PERSIST_FILE: &str = "etc/sysctl.d/99-rootless-docker.conf";
/// What `apply` recorded, for `restore`.
const STATE_FILE: &str = "var/lib/forgejo-e2e/sysctl-state.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct State {
    knob: String,
    previous: String,
    /// Set when `apply` persisted the setting.
    persisted: Option<Persisted>,
}

/// The persist file as it was before `apply` wrote it. (A struct, not `Option<Option<_>>`:
/// JSON cannot tell `Some(None)` from `None`.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Persisted {
    /// None: the file did not exist.
    previous: Option<String>,
}

/// What `apply` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// This kernel has no such knob: nothing restricts user namespaces this way.
    NotApplicable,
    Set {
        previous: String,
        persisted: bool,
    },
    /// An earlier `apply` is still recorded; its original value is kept for `restore`.
    AlreadyApplied {
        original: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreOutcome {
    NothingRecorded,
    Restored { value: String, persist_file: &'static str },
}

/// Sysctls of the machine mounted at `root` (`/` for the real one).
pub struct Sysctl {
    root: PathBuf,
}

impl Sysctl {
    pub fn new(root: &Path) -> Self {
        Self { root: root.to_owned() }
    }

    fn path(&self, knob: Knob) -> PathBuf {
        self.root.join("proc/sys").join(knob.name.replace('.', "/"))
    }

    /// The knob's value, or None when this kernel has no such knob.
    pub fn read(&self, knob: Knob) -> Result<Option<String>> {
        let path = self.path(knob);
        match std::fs::read_to_string(&path) {
            Ok(v) => Ok(Some(v.trim().to_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("read {}", path.display())),
        }
    }

    fn write(&self, knob: Knob, value: &str) -> Result<()> {
        let path = self.path(knob);
        std::fs::write(&path, format!("{value}\n")).map_err(|e| match e.kind() {
            std::io::ErrorKind::PermissionDenied => {
                user_error!("writing {} needs root: run as root (or through sudo)", path.display())
            }
            _ => user_error!("cannot write {}: {e}", path.display()),
        })
    }

    /// Sets the user-namespace knob to 0 where it exists, recording what was there.
    pub fn apply(&self, persist: bool) -> Result<ApplyOutcome> {
        let knob = USERNS_KNOB;
        let Some(previous) = self.read(knob)? else {
            return Ok(ApplyOutcome::NotApplicable);
        };
        if let Some(state) = self.state()? {
            self.write(knob, knob.wanted)?;
            return Ok(ApplyOutcome::AlreadyApplied { original: state.previous });
        }
        let persist_path = self.root.join(PERSIST_FILE);
        let persisted = persist.then(|| Persisted { previous: std::fs::read_to_string(&persist_path).ok() });
        // Record first: a crash between the two writes must still leave a way back.
        self.save_state(&State {
            knob: knob.name.to_owned(),
            previous: previous.clone(),
            persisted: persisted.clone(),
        })?;
        self.write(knob, knob.wanted)?;
        if persist {
            std::fs::create_dir_all(persist_path.parent().unwrap_or(&self.root))?;
            let text = format!(
                "# Written by forgejo-e2e (cargo xtask sysctl --apply --persist): rootless DIND needs\n# unprivileged user namespaces. cargo xtask sysctl --restore puts back what was here.\n{} = {}\n",
                knob.name, knob.wanted
            );
            std::fs::write(&persist_path, text).with_context(|| format!("write {}", persist_path.display()))?;
        }
        Ok(ApplyOutcome::Set { previous, persisted: persist })
    }

    /// Puts back the value (and persist file) recorded by `apply`, then forgets them.
    pub fn restore(&self) -> Result<RestoreOutcome> {
        let Some(state) = self.state()? else {
            return Ok(RestoreOutcome::NothingRecorded);
        };
        self.write(USERNS_KNOB, &state.previous)?;
        let persist_path = self.root.join(PERSIST_FILE);
        match &state.persisted {
            None => {}
            Some(Persisted { previous: None }) => match std::fs::remove_file(&persist_path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(e).with_context(|| format!("remove {}", persist_path.display()));
                }
            },
            Some(Persisted { previous: Some(text) }) => {
                std::fs::write(&persist_path, text).with_context(|| format!("write {}", persist_path.display()))?
            }
        }
        std::fs::remove_file(self.root.join(STATE_FILE)).context("forget the recorded sysctl state")?;
        Ok(RestoreOutcome::Restored { value: state.previous, persist_file: PERSIST_FILE })
    }

    fn state(&self) -> Result<Option<State>> {
        let path = self.root.join(STATE_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(serde_json::from_str(&text).with_context(|| format!("read {}", path.display()))?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("read {}", path.display())),
        }
    }

    fn save_state(&self, state: &State) -> Result<()> {
        let path = self.root.join(STATE_FILE);
        std::fs::create_dir_all(path.parent().unwrap_or(&self.root))?;
        std::fs::write(&path, serde_json::to_string_pretty(state)?).with_context(|| format!("write {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake machine root; `knob` None means a kernel without the knob.
    fn fake_root(name: &str, knob: Option<&str>) -> crate::sys::Scratch {
        let root = crate::sys::Scratch::new(&format!("forgejo-e2e-sysctl-{name}"));
        std::fs::create_dir_all(root.join("proc/sys/kernel")).expect("fake proc");
        if let Some(v) = knob {
            std::fs::write(root.join("proc/sys/kernel/apparmor_restrict_unprivileged_userns"), format!("{v}\n"))
                .expect("knob");
        }
        root
    }

    #[test]
    fn apply_then_restore_puts_back_value_and_file() {
        let root = fake_root("roundtrip", Some("1"));
        std::fs::create_dir_all(root.join("etc/sysctl.d")).expect("dir");
        let s = Sysctl::new(&root);
        assert_eq!(s.apply(true).expect("apply"), ApplyOutcome::Set { previous: "1".into(), persisted: true });
        assert_eq!(s.read(USERNS_KNOB).expect("read").as_deref(), Some("0"));
        let persisted = std::fs::read_to_string(root.join(PERSIST_FILE)).expect("persisted");
        assert!(persisted.ends_with("kernel.apparmor_restrict_unprivileged_userns = 0\n"), "{persisted}");
        // A second apply keeps the original value for restore.
        assert_eq!(s.apply(true).expect("apply again"), ApplyOutcome::AlreadyApplied { original: "1".into() });
        assert_eq!(
            s.restore().expect("restore"),
            RestoreOutcome::Restored { value: "1".into(), persist_file: PERSIST_FILE }
        );
        assert_eq!(s.read(USERNS_KNOB).expect("read").as_deref(), Some("1"));
        assert!(!root.join(PERSIST_FILE).exists(), "the file apply created is gone");
        assert_eq!(s.restore().expect("restore again"), RestoreOutcome::NothingRecorded);
    }

    #[test]
    fn restore_keeps_a_persist_file_the_user_had() {
        let root = fake_root("userfile", Some("1"));
        std::fs::create_dir_all(root.join("etc/sysctl.d")).expect("dir");
        std::fs::write(root.join(PERSIST_FILE), "# mine\nvm.swappiness = 10\n").expect("user file");
        let s = Sysctl::new(&root);
        s.apply(true).expect("apply");
        s.restore().expect("restore");
        assert_eq!(std::fs::read_to_string(root.join(PERSIST_FILE)).expect("file"), "# mine\nvm.swappiness = 10\n");
    }

    #[test]
    fn kernel_without_the_knob_is_not_applicable_and_untouched() {
        let root = fake_root("absent", None);
        let s = Sysctl::new(&root);
        assert_eq!(s.read(USERNS_KNOB).expect("read"), None);
        assert_eq!(s.apply(true).expect("apply"), ApplyOutcome::NotApplicable);
        assert!(!root.join(PERSIST_FILE).exists() && !root.join(STATE_FILE).exists());
    }
}

/// For clusters whose nodes the harness cannot reach with `docker exec` (anything but kind):
/// a privileged DaemonSet that sets the knob on every node where it exists and persists it
/// in the node's /etc/sysctl.d. It changes the nodes: apply it on purpose, delete it after.
pub fn daemonset_manifest(namespace: &str) -> String {
    let knob = USERNS_KNOB.name;
    let path = format!("/proc/sys/{}", knob.replace('.', "/"));
    format!(
        r#"# Sets {knob}=0 on every node (Ubuntu 24.04: rootless DIND needs unprivileged user
# namespaces) and persists it in /etc/sysctl.d/99-rootless-docker.conf. Privileged: it
# changes the nodes. Generated by `cargo xtask sysctl --daemonset`.
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: forgejo-e2e-userns-sysctl
  namespace: {namespace}
  labels:
    app.kubernetes.io/managed-by: forgejo-e2e
spec:
  selector:
    matchLabels:
      app: forgejo-e2e-userns-sysctl
  template:
    metadata:
      labels:
        app: forgejo-e2e-userns-sysctl
    spec:
      tolerations:
        - operator: Exists
      initContainers:
        - name: sysctl
          image: docker.io/library/busybox:1.37
          securityContext:
            privileged: true
          command:
            - sh
            - -c
            - |
              if [ -e {path} ]; then
                echo 0 > {path}
                echo "{knob} = 0" > /host-sysctl.d/99-rootless-docker.conf
                echo "$(hostname): {knob}=0"
              else
                echo "$(hostname): no {knob} on this kernel; nothing to do"
              fi
          volumeMounts:
            - name: sysctl-d
              mountPath: /host-sysctl.d
      containers:
        - name: pause
          image: registry.k8s.io/pause:3.10
      volumes:
        - name: sysctl-d
          hostPath:
            path: /etc/sysctl.d
            type: DirectoryOrCreate
"#
    )
}

#[cfg(test)]
mod daemonset_tests {
    #[test]
    fn daemonset_is_valid_yaml_privileged_and_sets_the_knob() {
        let text = super::daemonset_manifest("kube-system");
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("yaml");
        assert_eq!(doc["kind"].as_str(), Some("DaemonSet"));
        let init = &doc["spec"]["template"]["spec"]["initContainers"][0];
        assert_eq!(init["securityContext"]["privileged"].as_bool(), Some(true));
        let script = init["command"][2].as_str().expect("script");
        assert!(script.contains("echo 0 > /proc/sys/kernel/apparmor_restrict_unprivileged_userns"), "{script}");
    }
}
