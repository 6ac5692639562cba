//! Programs of this workspace that scenarios ship into jobs, built once per run.
//!
//! They are built on the host for the host's glibc; the job image is Debian bookworm like
//! the CI machine. On a newer host, build inside a bookworm container (see ARCHITECTURE.md).

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use crate::scenario::Artifact;

/// Builds every artifact's package (one cargo call) and reads the binaries.
pub fn build(artifacts: &[Artifact]) -> Result<HashMap<&'static str, Vec<u8>>> {
    let mut out = HashMap::new();
    if artifacts.is_empty() {
        return Ok(out);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = std::process::Command::new(&cargo);
    cmd.arg("build").arg("--quiet").current_dir(crate::workspace_root());
    for a in artifacts {
        cmd.args(["--package", a.package, "--bin", a.bin]);
    }
    let status = cmd.status().with_context(|| format!("run {cargo} build for the job artifacts"))?;
    if !status.success() {
        bail!("cargo build of {} failed", artifacts.iter().map(|a| a.package).collect::<Vec<_>>().join(", "));
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
