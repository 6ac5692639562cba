//! Small facts about the machine the harness runs on.

/// Whether this process runs as root (effective uid 0).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("Uid:")).and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// Every `program` on PATH, in PATH order (files only).
pub fn on_path(program: &str) -> Vec<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|d| d.join(program)).filter(|p| p.is_file()).collect()
}

/// The first `program` on PATH, as a shell would find it.
pub fn which(program: &str) -> Option<std::path::PathBuf> {
    on_path(program).into_iter().next()
}

/// `bytes` bytes of hex, fresh for this moment and this process (`salt` tells callers
/// apart): run ids, per-run passwords.
pub fn fresh_hex(salt: &str, bytes: usize) -> String {
    use sha2::Digest;
    let seed = format!("{salt}{:?}{}", std::time::SystemTime::now(), std::process::id());
    sha2::Sha256::digest(seed.as_bytes()).iter().take(bytes).map(|b| format!("{b:02x}")).collect()
}

/// `name` as it is when it fits in `max` characters; else its head and a hash of the whole
/// (8 hex), `max` long at most, so two long names stay two names (a Helm release, a forge's
/// user name).
pub fn within(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_owned();
    }
    use sha2::Digest;
    let hash: String = sha2::Sha256::digest(name.as_bytes()).iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("{}-{hash}", name[..max.saturating_sub(9)].trim_end_matches('-'))
}

/// A test's scratch folder under the temp dir, removed when it goes out of scope (the
/// integration tests use it too).
pub struct Scratch(std::path::PathBuf);

impl Scratch {
    /// `<temp>/<prefix>-<pid>`, empty.
    pub fn new(prefix: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }
}

impl std::ops::Deref for Scratch {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
