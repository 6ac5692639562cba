//! `cargo xtask doctor`: the facts that decide whether rootless DIND can start, one verdict
//! each — ok, a problem with the exact fix, or not applicable with the evidence.

use std::path::Path;

use super::sysctl::{Knob, Sysctl, UNCONFINED_KNOB, USERNS_KNOB};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Ok(String),
    Problem {
        what: String,
        fix: String,
    },
    /// The check does not apply to this machine; the text is the evidence.
    NotApplicable(String),
    /// Not fine, but the harness works around it; `what` was found, `consequence` is what
    /// that means for the results.
    Warning {
        what: String,
        consequence: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub check: &'static str,
    pub verdict: Verdict,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.verdict {
            Verdict::Ok(t) => write!(f, "{:<48} ok       {t}", self.check),
            Verdict::NotApplicable(t) => write!(f, "{:<48} n/a      {t}", self.check),
            Verdict::Warning { what, consequence } => {
                write!(f, "{:<48} WARNING  {what}\n{:<48}          so: {consequence}", self.check, "")
            }
            Verdict::Problem { what, fix } => {
                write!(f, "{:<48} PROBLEM  {what}\n{:<48}          fix: {fix}", self.check, "")
            }
        }
    }
}

fn finding(check: &'static str, verdict: Verdict) -> Finding {
    Finding { check, verdict }
}

/// Host facts read under `root` (`/` for this machine).
pub fn host_findings(root: &Path) -> Vec<Finding> {
    let sysctl = Sysctl::new(root);
    let mut out = vec![
        apparmor_knob(
            &sysctl,
            USERNS_KNOB,
            "cargo xtask sysctl --apply --persist (sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 and /etc/sysctl.d/99-rootless-docker.conf)",
        ),
        apparmor_knob(
            &sysctl,
            UNCONFINED_KNOB,
            "sysctl -w kernel.apparmor_restrict_unprivileged_unconfined=0 (and persist it in /etc/sysctl.d/)",
        ),
    ];
    let max = Knob { name: "user.max_user_namespaces", wanted: "" };
    out.push(finding(
        "user.max_user_namespaces",
        match sysctl.read(max) {
            Ok(Some(v)) if v.parse::<u64>().unwrap_or(0) > 0 => Verdict::Ok(v),
            Ok(Some(v)) => Verdict::Problem {
                what: format!("is {v}: no user namespaces at all"),
                fix: "sysctl -w user.max_user_namespaces=15000".into(),
            },
            Ok(None) => Verdict::NotApplicable(format!(
                "{} missing: kernel without user namespaces",
                root.join("proc/sys/user/max_user_namespaces").display()
            )),
            Err(e) => Verdict::Problem { what: format!("{e:#}"), fix: "run as root".into() },
        },
    ));
    let clone = Knob { name: "kernel.unprivileged_userns_clone", wanted: "1" };
    out.push(finding(
        "kernel.unprivileged_userns_clone",
        match sysctl.read(clone) {
            Ok(Some(v)) if v == "1" => Verdict::Ok("1".into()),
            Ok(Some(v)) => Verdict::Problem {
                what: format!("is {v}: unprivileged user namespaces are off (older Debian kernels)"),
                fix: "sysctl -w kernel.unprivileged_userns_clone=1".into(),
            },
            Ok(None) => Verdict::NotApplicable(
                "no such knob (a Debian-patch sysctl; mainline kernels allow unprivileged user namespaces)".into(),
            ),
            Err(e) => Verdict::Problem { what: format!("{e:#}"), fix: "run as root".into() },
        },
    ));
    let cgroup = root.join("sys/fs/cgroup");
    out.push(finding(
        "cgroup version",
        if cgroup.join("cgroup.controllers").exists() {
            Verdict::Ok("v2 (unified)".into())
        } else if cgroup.exists() {
            Verdict::Ok("v1: DIND needs /sys/fs/cgroup read-write (privileged, or the harness's bind mount)".into())
        } else {
            Verdict::Problem {
                what: format!("{} missing", cgroup.display()),
                fix: "mount the cgroup filesystem".into(),
            }
        },
    ));
    out.push(finding("/dev/net/tun", device(root, "dev/net/tun", true)));
    out.push(finding("/dev/fuse", device(root, "dev/fuse", false)));
    out
}

fn apparmor_knob(sysctl: &Sysctl, knob: Knob, fix: &str) -> Finding {
    let verdict = match sysctl.read(knob) {
        Ok(None) => Verdict::NotApplicable(format!(
            "/proc/sys/{} does not exist: this kernel has no such AppArmor restriction",
            knob.name.replace('.', "/")
        )),
        Ok(Some(v)) if v == knob.wanted => Verdict::Ok(format!("{v}: unprivileged user namespaces allowed")),
        Ok(Some(v)) => Verdict::Problem {
            what: format!(
                "is {v}: rootless DIND fails with `[rootlesskit:parent] error: failed to start the child: fork/exec /proc/self/exe: operation not permitted`"
            ),
            fix: fix.to_owned(),
        },
        Err(e) => Verdict::Problem { what: format!("{e:#}"), fix: "run as root".into() },
    };
    finding(knob.name, verdict)
}

fn device(root: &Path, rel: &str, needed: bool) -> Verdict {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let path = root.join(rel);
    match std::fs::metadata(&path) {
        Ok(m) if m.file_type().is_char_device() => {
            let mode = m.permissions().mode() & 0o777;
            Verdict::Ok(format!(
                "character device, mode {mode:04o}{}",
                if needed && mode & 0o006 == 0 {
                    " (the rootless DIND image opens it up for uid 1000 inside the container)"
                } else {
                    ""
                }
            ))
        }
        Ok(_) => Verdict::Problem {
            what: format!("{} is not a character device", path.display()),
            fix: format!("recreate /{rel}"),
        },
        Err(_) if needed => Verdict::Problem {
            what: format!("{} missing: slirp4netns (rootless DIND's network) cannot start", path.display()),
            fix: "modprobe tun (and pass --device /dev/net/tun to the DIND container)".into(),
        },
        Err(_) => Verdict::NotApplicable(format!(
            "{} missing: only fuse-overlayfs needs it, and the harness gives dockerd a volume so it uses overlay2",
            path.display()
        )),
    }
}

/// Whether the engine lets containers run privileged (learnt by starting one).
pub fn engine_finding(privileged_allowed: Result<bool, String>) -> Finding {
    finding(
        "engine allows --privileged",
        match privileged_allowed {
            Ok(true) => Verdict::Ok("yes: a privileged container started; DIND runs privileged, as securityContext.privileged on a node".into()),
            Ok(false) => Verdict::Warning {
                what: "no: a privileged container was refused (the kernel withholds a capability, e.g. CAP_SYS_RESOURCE)".into(),
                consequence: "DIND runs with --cap-add ALL --cap-drop SYS_RESOURCE and seccomp/AppArmor unconfined instead of privileged: as the chart's securityContext.privileged, but not the same".into(),
            },
            Err(e) => Verdict::Problem { what: e, fix: "start a Docker engine (apt-get install docker.io && dockerd &) and run cargo xtask images".into() },
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_privileged_verdict_says_what_was_found() {
        assert!(matches!(engine_finding(Ok(true)).verdict, Verdict::Ok(t) if t.starts_with("yes")));
        let refused = engine_finding(Ok(false));
        assert!(
            matches!(&refused.verdict, Verdict::Warning { what, .. } if what.starts_with("no: a privileged container was refused"))
        );
        assert!(refused.to_string().contains("WARNING"), "{refused}");
        assert!(matches!(engine_finding(Err("no engine".into())).verdict, Verdict::Problem { .. }));
    }

    fn fake(name: &str, files: &[(&str, &str)]) -> crate::sys::Scratch {
        let root = crate::sys::Scratch::new(&format!("forgejo-e2e-doctor-{name}"));
        for (path, text) in files {
            let p = root.join(path);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("dir");
            std::fs::write(p, text).expect("file");
        }
        root
    }

    fn verdict(findings: &[Finding], check: &str) -> Verdict {
        findings.iter().find(|f| f.check == check).expect(check).verdict.clone()
    }

    #[test]
    fn ubuntu_2404_restriction_is_a_problem_with_the_fix() {
        let root = fake(
            "ubuntu",
            &[
                ("proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1\n"),
                ("proc/sys/user/max_user_namespaces", "63000\n"),
            ],
        );
        let f = host_findings(&root);
        let Verdict::Problem { what, fix } = verdict(&f, "kernel.apparmor_restrict_unprivileged_userns") else {
            panic!("{f:?}")
        };
        assert!(what.contains("fork/exec /proc/self/exe: operation not permitted"), "{what}");
        assert!(fix.contains("cargo xtask sysctl --apply"), "{fix}");
        assert!(matches!(verdict(&f, "user.max_user_namespaces"), Verdict::Ok(v) if v == "63000"));
    }

    #[test]
    fn kernel_without_the_knob_is_not_applicable_never_ok() {
        let root = fake("plain", &[("proc/sys/user/max_user_namespaces", "0\n")]);
        let f = host_findings(&root);
        assert!(
            matches!(verdict(&f, "kernel.apparmor_restrict_unprivileged_userns"), Verdict::NotApplicable(e) if e.contains("does not exist"))
        );
        assert!(matches!(verdict(&f, "kernel.apparmor_restrict_unprivileged_unconfined"), Verdict::NotApplicable(_)));
        assert!(matches!(verdict(&f, "user.max_user_namespaces"), Verdict::Problem { .. }));
        assert!(matches!(verdict(&f, "/dev/net/tun"), Verdict::Problem { .. }));
        assert!(matches!(verdict(&f, "/dev/fuse"), Verdict::NotApplicable(_)));
    }
}
