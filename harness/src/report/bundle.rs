//! The failure bundle: every log a person needs to understand a failed scenario.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::redact;

/// Writes `files` (name, contents), redacted, into `dir`; returns `dir`.
pub fn write_bundle(dir: &Path, files: &[(&str, String)]) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    for (name, contents) in files {
        let path = dir.join(name);
        std::fs::write(&path, redact(contents)).with_context(|| format!("write {}", path.display()))?;
    }
    Ok(dir.to_path_buf())
}
