//! Programs of this workspace that scenarios ship into jobs, built once per run.
//!
//! They are built on the host for the host's glibc; the job image is Debian bookworm like
//! the CI machine. On a newer host, build inside a bookworm container (see ARCHITECTURE.md).

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use crate::scenario::Artifact;

/// Builds every artifact's package (one cargo call) and reads the binaries. Cargo's
/// `Compiling …` lines show as progress, at most one every 10 s, with the elapsed time: a
/// cold build of the probe's dependencies takes minutes.
pub async fn build(artifacts: &[Artifact], progress: &crate::Progress) -> Result<HashMap<&'static str, Vec<u8>>> {
    let mut out = HashMap::new();
    if artifacts.is_empty() {
        return Ok(out);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = tokio::process::Command::new(&cargo);
    cmd.arg("build").arg("--color=never").current_dir(crate::workspace_root());
    // `cargo run` (cargo xtask) sets these for xtask itself; passed on, they make build
    // scripts see another environment than a plain `cargo build`, and rebuild every time.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key == "LD_LIBRARY_PATH"
            || (key.starts_with("CARGO_") && !matches!(&*key, "CARGO_HOME" | "CARGO_TARGET_DIR"))
        {
            cmd.env_remove(&*key);
        }
    }
    for a in artifacts {
        cmd.args(["--package", a.package, "--bin", a.bin]);
    }
    let start = std::time::Instant::now();
    let mut last = std::time::Instant::now();
    let show = |line: &str| {
        let line = line.trim();
        if line.starts_with("Compiling ") && last.elapsed() >= std::time::Duration::from_secs(10) {
            progress.say(format!("build job artifacts: {line} ({:.0}s)", start.elapsed().as_secs_f64()));
            last = std::time::Instant::now();
        }
    };
    let what = "build job artifacts";
    let deadline = std::time::Duration::from_secs(30 * 60);
    let done = crate::process::run_with(cmd, what, deadline, None, show, Some(progress)).await?;
    if !done.success {
        bail!(
            "cargo build of {} failed: {}",
            artifacts.iter().map(|a| a.package).collect::<Vec<_>>().join(", "),
            done.tail(3)
        );
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace_root().join("target"));
    for a in artifacts {
        let path = target.join("debug").join(a.bin);
        let bytes = std::fs::read(&path).with_context(|| format!("read {}", path.display()))?;
        out.insert(a.bin, bytes);
    }
    Ok(out)
}
