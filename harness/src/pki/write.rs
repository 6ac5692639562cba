//! Laying a set out as files: paths, modes and owners, on disk or for a tar upload.

use std::os::unix::fs::{PermissionsExt, chown};
use std::path::Path;

use anyhow::{Context, Result};

use super::TlsSet;

/// Who must read the keys besides root.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteOptions {
    /// Owner of both keys: rootless dockerd runs as uid 1000 and reads the server key, and
    /// its jobs (uid 0 in its user namespace is 1000 outside) read the client key.
    pub key_uid: Option<u32>,
}

/// One file of a set, relative to the certs directory.
#[derive(Debug, Clone)]
pub struct FileSpec {
    pub path: &'static str,
    pub contents: String,
    pub mode: u32,
    pub uid: u32,
}

/// The files of a set in docker:dind's layout. Private keys are 0600.
pub fn files(set: &TlsSet, opts: WriteOptions) -> Vec<FileSpec> {
    let public = |path, contents: &str| FileSpec { path, contents: contents.to_owned(), mode: 0o644, uid: 0 };
    let secret = |path, contents: &str, uid| FileSpec { path, contents: contents.to_owned(), mode: 0o600, uid };
    vec![
        public("ca/cert.pem", &set.ca_cert),
        public("server/ca.pem", &set.ca_cert),
        public("server/cert.pem", &set.server_cert),
        secret("server/key.pem", &set.server_key, opts.key_uid.unwrap_or(0)),
        public("client/ca.pem", &set.ca_cert),
        public("client/cert.pem", &set.client_cert),
        secret("client/key.pem", &set.client_key, opts.key_uid.unwrap_or(0)),
    ]
}

/// Writes the set under `dir` (created if missing). Owners are set only when running as root.
pub fn write_dir(dir: &Path, set: &TlsSet, opts: WriteOptions) -> Result<()> {
    let is_root = current_uid() == 0;
    for f in files(set, opts) {
        let path = dir.join(f.path);
        let parent = path.parent().context("set path has a parent")?;
        std::fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
        // Create with the final mode so a key is never briefly world-readable.
        std::fs::write(&path, "").with_context(|| format!("create {}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(f.mode))?;
        std::fs::write(&path, &f.contents).with_context(|| format!("write {}", path.display()))?;
        if is_root && f.uid != 0 {
            chown(&path, Some(f.uid), None).with_context(|| format!("chown {}", path.display()))?;
        }
    }
    Ok(())
}

fn current_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(u32::MAX)
}

/// The set as a Secret's `data` (key → base64 PEM), keyed as [`super::SECRET_ITEMS_PATHS`]
/// names them; no CA key, like every set.
pub fn secret_data(set: &TlsSet) -> serde_json::Map<String, serde_json::Value> {
    let by_path: std::collections::BTreeMap<&str, String> =
        files(set, WriteOptions::default()).into_iter().map(|f| (f.path, f.contents)).collect();
    super::SECRET_ITEMS_PATHS
        .iter()
        .map(|(key, path)| {
            let pem = by_path.get(path).map(String::as_bytes).unwrap_or_default();
            ((*key).to_owned(), serde_json::Value::from(crate::base64::encode(pem)))
        })
        .collect()
}
