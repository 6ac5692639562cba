//! Preparing the repository a job checks out: fixture folders laid over each other, the
//! run's nonce, and a git commit (act copies the tree; Forgejo receives it by push).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::user_error;

/// File the nonce is written to, at the workspace root.
pub const NONCE_FILE: &str = ".e2e-nonce";
/// File naming an image present in DIND that Dockerfiles may build FROM: the job image on
/// the Docker platform (no registry), a pullable Debian image on a cluster with internet.
pub const BASE_IMAGE_FILE: &str = ".e2e-base-image";

/// A file the harness writes into a workspace.
pub struct Generated<'a> {
    pub path: &'a str,
    pub bytes: &'a [u8],
    pub executable: bool,
}

impl<'a> Generated<'a> {
    pub fn text(path: &'a str, text: &'a str) -> Self {
        Self { path, bytes: text.as_bytes(), executable: false }
    }
}

/// Copies `sources` in order into a fresh `dest`, writes the `generated` files and
/// commits it all.
pub fn prepare(sources: &[PathBuf], dest: &Path, generated: &[Generated<'_>]) -> Result<()> {
    if dest.exists() {
        std::fs::remove_dir_all(dest).with_context(|| format!("clear {}", dest.display()))?;
    }
    std::fs::create_dir_all(dest)?;
    for src in sources {
        for rel in files_of(src)? {
            let to = dest.join(&rel);
            std::fs::create_dir_all(to.parent().unwrap_or(dest))?;
            std::fs::copy(src.join(&rel), &to).with_context(|| format!("copy {}", src.join(&rel).display()))?;
        }
    }
    for g in generated {
        use std::os::unix::fs::PermissionsExt;
        let path = dest.join(g.path);
        std::fs::create_dir_all(path.parent().unwrap_or(dest))?;
        std::fs::write(&path, g.bytes).with_context(|| format!("write {}", path.display()))?;
        let mode = if g.executable { 0o755 } else { 0o644 };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
    }
    git(dest, &["init", "--quiet", "--initial-branch=main"])?;
    // Stored and pushed uncompressed: zlib on a shipped binary (the 51 MB probe) cost 0.5 s
    // at add and 1.4 s at every push, over a loopback where size costs nothing.
    git(dest, &["config", "core.compression", "0"])?;
    git(dest, &["add", "--all"])?;
    git(
        dest,
        &["-c", "user.name=forgejo-e2e", "-c", "user.email=e2e@localhost", "commit", "--quiet", "-m", "e2e workspace"],
    )?;
    Ok(())
}

/// Files under `src`: what git tracks if it is a repository (so build outputs stay out),
/// otherwise everything but `.git` and `target`.
fn files_of(src: &Path) -> Result<Vec<PathBuf>> {
    if !src.is_dir() {
        bail!("{} is not a directory", src.display());
    }
    let tracked = Command::new("git")
        .arg("-C")
        .arg(src)
        .args(["ls-files", "-z", "--cached", "--others", "--exclude-standard"])
        .output();
    if let Ok(out) = tracked
        && out.status.success()
    {
        let files = out
            .stdout
            .split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| PathBuf::from(String::from_utf8_lossy(s).into_owned()));
        return Ok(files.filter(|p| src.join(p).is_file()).collect());
    }
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for entry in std::fs::read_dir(src.join(&rel))? {
            let entry = entry?;
            let name = entry.file_name();
            if name == ".git" || name == "target" {
                continue;
            }
            let child = rel.join(&name);
            if entry.file_type()?.is_dir() { stack.push(child) } else { out.push(child) }
        }
    }
    Ok(out)
}

fn git(dir: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new("git").arg("-C").arg(dir).args(args).output().map_err(|_| {
        user_error!("git is missing: apt-get install git (workspaces are committed for the job to check out)")
    })?;
    if !out.status.success() {
        bail!("git {} in {}: {}", args.join(" "), dir.display(), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}
