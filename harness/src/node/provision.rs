//! What a run needs on this machine, provided when it is missing: a Docker engine (Debian's
//! `docker.io` installed, `dockerd` started, waited for by condition) and debootstrap (the
//! images are built from Debian packages). Each step is one line with its time. Without
//! leave to change the machine (`--no-provision`), or where it cannot (not root, not a
//! Debian-family system), one line names what is missing and how to install it.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::wait::{Poll, until};
use crate::{Progress, user_error};

/// Where a `dockerd` the harness started writes its log.
const DOCKERD_LOG: &str = "/var/log/forgejo-e2e-dockerd.log";

/// What the machine lacks, as found now.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Lacks {
    /// No engine answers (DOCKER_HOST or the local socket).
    engine: bool,
    /// No `dockerd` on PATH to start.
    dockerd: bool,
    debootstrap: bool,
}

impl Lacks {
    /// The packages that would provide what is missing.
    fn packages(&self) -> Vec<&'static str> {
        let mut p = Vec::new();
        if self.engine && self.dockerd {
            p.push("docker.io");
        }
        if self.debootstrap {
            p.push("debootstrap");
        }
        p
    }

    /// One line: what is missing, and how to get it.
    fn describe(&self) -> String {
        let mut what = Vec::new();
        match (self.engine, self.dockerd) {
            (true, true) => what.push("a Docker engine (apt-get install docker.io, then start dockerd)"),
            (true, false) => what.push("a running Docker engine (start dockerd, or point DOCKER_HOST at one)"),
            _ => {}
        }
        if self.debootstrap {
            what.push("debootstrap (apt-get install debootstrap)");
        }
        what.join(", ")
    }
}

/// Provides what the run needs, if `allowed`; else names what is missing (exit 2).
pub async fn machine(allowed: bool, progress: &Progress) -> Result<()> {
    let engine = crate::docker::connect().await;
    // An engine the user pointed at elsewhere is theirs to start: said, nothing started here.
    if let (Err(e), Some(_)) = (&engine, std::env::var_os("DOCKER_HOST")) {
        return Err(user_error!("{e}"));
    }
    let lacks = Lacks {
        engine: engine.is_err(),
        dockerd: crate::sys::which("dockerd").is_none(),
        debootstrap: crate::sys::which("debootstrap").is_none(),
    };
    if !lacks.engine && !lacks.debootstrap {
        return Ok(());
    }
    if !allowed {
        return Err(user_error!("--no-provision: this machine lacks {}", lacks.describe()));
    }
    let packages = lacks.packages();
    if !packages.is_empty() {
        if !is_root() || !Path::new("/etc/debian_version").exists() {
            return Err(user_error!(
                "this machine lacks {}: install it (on Debian or Ubuntu, as root: apt-get install -y {}) and run again",
                lacks.describe(),
                packages.join(" ")
            ));
        }
        install(&packages, progress).await?;
    }
    if lacks.engine {
        start_dockerd(progress).await?;
    }
    Ok(())
}

/// `apt-get update` and `apt-get install` of `packages`, said with its time.
async fn install(packages: &[&str], progress: &Progress) -> Result<()> {
    let t = Instant::now();
    let what = format!("provision: apt-get install {}", packages.join(" "));
    progress.say(format!("{what} ..."));
    let mut update = tokio::process::Command::new("apt-get");
    update.args(["update", "-qq"]).env("DEBIAN_FRONTEND", "noninteractive");
    let out = crate::process::run(update, "apt-get update", Duration::from_secs(300), None).await?;
    anyhow::ensure!(out.success, "apt-get update: {}", out.tail(3));
    let mut get = tokio::process::Command::new("apt-get");
    get.args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive");
    let out = crate::process::run(get, &what, Duration::from_secs(600), None).await?;
    anyhow::ensure!(out.success, "{what}: {}", out.tail(3));
    progress.say(format!("{what}: {:.1}s", t.elapsed().as_secs_f64()));
    Ok(())
}

/// `dockerd` started in a process group of its own (it outlives the run, as an installed
/// engine would), then waited for until it answers.
async fn start_dockerd(progress: &Progress) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let t = Instant::now();
    let log = std::fs::OpenOptions::new().create(true).append(true).open(DOCKERD_LOG)?;
    let child = std::process::Command::new("dockerd")
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .map_err(|e| user_error!("start dockerd: {e}; start a Docker engine and run again"))?;
    let answers = until("the Docker engine answers", Duration::from_secs(60), Duration::from_millis(500), || async {
        Ok(match crate::docker::connect().await {
            Ok(_) => Poll::Ready(()),
            Err(e) => Poll::NotYet(format!("{e:#}")),
        })
    });
    if let Err(e) = answers.await {
        let tail = std::fs::read_to_string(DOCKERD_LOG).unwrap_or_default();
        let last: Vec<&str> = tail.lines().rev().take(3).collect();
        return Err(e.context(format!("dockerd's last words ({DOCKERD_LOG}): {}", last.join(" / "))));
    }
    progress.say(format!(
        "provision: started dockerd (pid {}; it keeps running, log {DOCKERD_LOG}): answers after {:.1}s",
        child.id(),
        t.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// Whether this process runs as root (the effective uid in /proc/self/status).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(2) == Some("0")))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_missing_is_one_line_with_the_packages_that_provide_it() {
        let none = Lacks { engine: true, dockerd: true, debootstrap: true };
        assert_eq!(none.packages(), ["docker.io", "debootstrap"]);
        assert_eq!(
            none.describe(),
            "a Docker engine (apt-get install docker.io, then start dockerd), debootstrap (apt-get install debootstrap)"
        );
        // Installed but not running: started, never installed again.
        let stopped = Lacks { engine: true, dockerd: false, debootstrap: false };
        assert!(stopped.packages().is_empty());
        assert_eq!(stopped.describe(), "a running Docker engine (start dockerd, or point DOCKER_HOST at one)");
        // An engine elsewhere (DOCKER_HOST) needs no local dockerd.
        let remote = Lacks { engine: false, dockerd: true, debootstrap: false };
        assert!(remote.packages().is_empty() && remote.describe().is_empty());
    }
}
