//! Tools the harness builds from their Go modules: helm and kind (`go install
//! PACKAGE@VERSION`), and Kubernetes, etcd and the CNI plugins for the offline kind node
//! image (in a generated module, [`gomod`]). Pinned in `fixtures/kind/versions.yaml`, cached
//! by package and version outside the work tree, so a second call builds nothing; the Go
//! module and build caches live there too, so every clone and CI on the machine share them.

mod gomod;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::kind::Versions;
use crate::{Progress, user_error};

/// One pinned tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tool {
    /// The binary's name (kube-apiserver, bridge, ...).
    pub name: String,
    pub package: String,
    pub version: String,
    /// Set when the package's module cannot be `go install`ed (its go.mod has replace
    /// directives): the tool is built in a generated module that requires this one.
    pub module: Option<String>,
    /// Built in a copy of its own module instead (see `gomod::build_in_own_module`).
    pub own_module: bool,
    /// `-X` flags that make it report its version.
    pub ldflags: Option<String>,
}

/// Where a tool was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// On PATH at the pinned version.
    Path(PathBuf),
    /// Built earlier, in the cache.
    Cache(PathBuf),
    Missing,
}

impl Found {
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::Path(p) | Self::Cache(p) => Some(p),
            Self::Missing => None,
        }
    }
}

/// The pinned tools, by name.
pub fn pinned() -> Result<Vec<Tool>> {
    let versions = Versions::load()?;
    Ok(versions
        .builds
        .into_iter()
        .map(|(name, b)| Tool {
            name,
            package: b.package,
            version: b.version,
            module: b.module,
            own_module: b.own_module,
            ldflags: b.ldflags,
        })
        .collect())
}

/// The pinned tools called `names`, in that order; a name not pinned is an error.
pub fn named(names: &[&str]) -> Result<Vec<Tool>> {
    let all = pinned()?;
    names
        .iter()
        .map(|n| {
            all.iter().find(|t| t.name == *n).cloned().with_context(|| format!("{n} is not pinned in versions.yaml"))
        })
        .collect()
}

/// `$FORGEJO_E2E_TOOLS_DIR`, else `$XDG_CACHE_HOME/forgejo-e2e/tools`, else
/// `~/.cache/forgejo-e2e/tools`: outside the work tree, shared by every clone.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FORGEJO_E2E_TOOLS_DIR") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("forgejo-e2e/tools")
}

impl Tool {
    /// `<cache>/<package with / as _>@<version>/<name>`.
    pub fn cached(&self) -> PathBuf {
        cache_dir().join(format!("{}@{}", self.package.replace('/', "_"), self.version)).join(&self.name)
    }

    /// The pinned version on PATH (helm, kind), else the cached build, else missing.
    pub fn locate(&self) -> Found {
        // Only helm and kind are asked their version: `kube-apiserver version` would start a server.
        let on_path = || crate::sys::on_path(&self.name).into_iter().find(|p| self.reports_version(p));
        if let Some(p) = (self.module.is_none() && !self.own_module).then(on_path).flatten() {
            return Found::Path(p);
        }
        let cached = self.cached();
        if cached.is_file() { Found::Cache(cached) } else { Found::Missing }
    }

    /// Whether `<binary> version` names the pinned version (`v3.22.0+g…`, `kind v0.33.0 …`).
    fn reports_version(&self, binary: &Path) -> bool {
        let out = std::process::Command::new(binary).arg("version").output();
        out.is_ok_and(|o| version_matches(&String::from_utf8_lossy(&o.stdout), &self.version))
    }

    /// The tool's binary: found, or built now (minutes the first time, with progress).
    pub async fn ensure(&self, progress: &Progress) -> Result<PathBuf> {
        if let Some(p) = self.locate().path() {
            return Ok(p.to_owned());
        }
        self.build(progress).await
    }

    async fn build(&self, progress: &Progress) -> Result<PathBuf> {
        let go = std::process::Command::new("go").arg("version").output();
        if !go.is_ok_and(|o| o.status.success()) {
            return Err(user_error!(
                "go is not on PATH: {} {} is built from its Go module (install Go 1.24 or newer), or put {} {} on PATH",
                self.name,
                self.version,
                self.name,
                self.version
            ));
        }
        let target = self.cached();
        let dir = target.parent().context("cache path has a folder")?;
        // Built into a fresh folder, then moved: an interrupted build never looks finished.
        let staging = dir.with_extension(format!("building-{}", std::process::id()));
        std::fs::create_dir_all(&staging).with_context(|| format!("create {}", staging.display()))?;
        let what = format!("build {} {} from {}", self.name, self.version, self.package);
        progress.say(format!("{what} (minutes on a fresh machine) ..."));
        let t = Instant::now();
        let command = match &self.module {
            None if self.own_module => gomod::build_in_own_module(self, &staging.join(&self.name)).await?,
            None => gomod::install(self, &staging),
            Some(module) => gomod::build_in_generated_module(self, module, &staging.join(&self.name)).await?,
        };
        let result = run_go(command, &what, t, progress).await;
        let errors = match result {
            Ok(()) => None,
            Err(GoFailure::Failed(stderr)) => Some(build_error(self, &stderr)),
            Err(GoFailure::Other(e)) => Some(e),
        };
        if let Some(e) = errors {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
        let _ = std::fs::remove_dir_all(dir);
        std::fs::rename(&staging, dir).with_context(|| format!("move the build to {}", dir.display()))?;
        progress.say(format!("{what}: {:.1}s", t.elapsed().as_secs_f64()));
        Ok(target)
    }
}

enum GoFailure {
    /// go ran and failed: its stderr.
    Failed(String),
    Other(anyhow::Error),
}

/// Runs a go command with a heartbeat every 15 s and a 30-minute deadline.
async fn run_go(
    mut command: tokio::process::Command,
    what: &str,
    t: Instant,
    progress: &Progress,
) -> std::result::Result<(), GoFailure> {
    let mut child = command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("run go")
        .map_err(GoFailure::Other)?;
    let mut stderr = child.stderr.take().context("go's stderr").map_err(GoFailure::Other)?;
    let reader = tokio::spawn(async move {
        let mut text = String::new();
        let _ = tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut text).await;
        text
    });
    let deadline = Duration::from_secs(30 * 60);
    let status = loop {
        match tokio::time::timeout(Duration::from_secs(15), child.wait()).await {
            Ok(status) => break status.context("wait for go").map_err(GoFailure::Other)?,
            Err(_) if t.elapsed() > deadline => {
                let _ = child.kill().await;
                return Err(GoFailure::Other(anyhow::anyhow!(
                    "{what}: not done after {} minutes",
                    deadline.as_secs() / 60
                )));
            }
            Err(_) => progress.say(format!("{what}: {:.0}s", t.elapsed().as_secs_f64())),
        }
    };
    let errors = reader.await.unwrap_or_default();
    if status.success() { Ok(()) } else { Err(GoFailure::Failed(errors)) }
}

/// Whether `go install`'s failure is the module proxy refusing or unreachable (a user
/// matter: one line saying what to do) or a build failure (an error with go's last lines).
fn build_error(tool: &Tool, stderr: &str) -> anyhow::Error {
    let refusal = [
        "403 Forbidden",
        "404 Not Found",
        "410 Gone",
        "dial tcp",
        "no such host",
        "i/o timeout",
        "not permitted",
        "disabled by GOPROXY",
    ];
    if let Some(line) = stderr.lines().find(|l| refusal.iter().any(|r| l.contains(r))) {
        return user_error!(
            "the Go module proxy did not serve {}@{}: {}; check GOPROXY and the network, or put {} {} on PATH",
            tool.package,
            tool.version,
            line.trim(),
            tool.name,
            tool.version
        );
    }
    let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
    anyhow::anyhow!(
        "go install {}@{} failed: {}",
        tool.package,
        tool.version,
        tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
    )
}

/// The source folder of `module@version` in the tools' module cache (downloaded if needed):
/// kind's node files come from there.
pub async fn module_dir(module: &str, version: &str) -> Result<PathBuf> {
    let d = gomod::download(module, version).await?;
    d.dir.map(PathBuf::from).with_context(|| format!("go mod download {module}@{version} named no folder"))
}

/// A helm for rendering charts: the pinned one (PATH or cache), else any helm on PATH.
pub fn helm() -> Option<PathBuf> {
    let pinned = pinned().ok()?.into_iter().find(|t| t.name == "helm");
    if let Some(p) = pinned.and_then(|t| t.locate().path().map(Path::to_path_buf)) {
        return Some(p);
    }
    crate::sys::which("helm")
}

/// `helm version` prints `v3.22.0+g…`, `kind version` prints `kind v0.33.0 go1.26 …`:
/// the pinned version must appear as a whole word (v3.22.0 is not v3.22.01).
fn version_matches(output: &str, version: &str) -> bool {
    output.split(|c: char| c.is_whitespace() || c == '+' || c == '"').any(|w| w == version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_match_as_whole_words() {
        assert!(version_matches("v3.22.0+g1a2b3c4\n", "v3.22.0"));
        assert!(version_matches("kind v0.33.0 go1.26.8 linux/amd64\n", "v0.33.0"));
        assert!(!version_matches("v3.22.01+gabc\n", "v3.22.0"));
        assert!(!version_matches("", "v3.22.0"));
    }

    #[test]
    fn the_pinned_tools_cache_by_package_and_version() {
        let tools = pinned().expect("versions.yaml");
        let helm = tools.iter().find(|t| t.name == "helm").expect("helm is pinned");
        assert_eq!(helm.package, "helm.sh/helm/v3/cmd/helm");
        let path = helm.cached().display().to_string();
        assert!(path.ends_with(&format!("helm.sh_helm_v3_cmd_helm@{}/helm", helm.version)), "{path}");
        // By path components: a cache at /tmp/x-tools is outside a work tree at /tmp/x.
        assert!(!helm.cached().starts_with(crate::workspace_root()), "outside the work tree: {path}");
    }

    #[test]
    fn a_refusing_proxy_is_one_line_saying_what_to_do() {
        let tool = Tool {
            name: "helm".into(),
            package: "helm.sh/helm/v3/cmd/helm".into(),
            version: "v3.22.0".into(),
            module: None,
            own_module: false,
            ldflags: None,
        };
        let err = build_error(
            &tool,
            "go: downloading x\ngo: helm.sh/helm/v3/cmd/helm@v3.22.0: reading https://proxy.golang.org/helm.sh/helm/v3/@v/v3.22.0.info: 403 Forbidden\n",
        );
        assert!(err.is::<crate::UserError>());
        assert!(
            err.to_string().starts_with("the Go module proxy did not serve helm.sh/helm/v3/cmd/helm@v3.22.0: go: "),
            "{err}"
        );
        assert!(!err.to_string().contains('\n'));
        let off = build_error(&tool, "go: helm.sh/helm/v3/cmd/helm@v3.22.0: module lookup disabled by GOPROXY=off\n");
        assert!(off.is::<crate::UserError>(), "{off}");
    }
}
