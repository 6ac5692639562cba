//! The three ways a pinned tool is built: `go install PACKAGE@VERSION`; for modules whose
//! go.mod carries replace directives, which `go install` refuses (Kubernetes replaces its
//! staging modules with folders, etcd its sibling modules), `go build` inside a small
//! generated module that requires the pinned one; and, for a module that cannot even be
//! required under its own path (Gitea's go.mod declares `module gitea.dev`), `go build` in
//! a writable copy of the module as the proxy serves it.

use std::path::Path;

use anyhow::{Context, Result};
use tokio::process::Command;

use super::{Tool, cache_dir};

/// A `go` command with the module and build caches under the tools cache.
fn go() -> Command {
    let mut cmd = Command::new("go");
    let go = cache_dir().join("go");
    cmd.env("GOMODCACHE", go.join("mod")).env("GOCACHE", go.join("build")).env("CGO_ENABLED", "0");
    cmd
}

/// `go install PACKAGE@VERSION` into `bin_dir`.
pub(super) fn install(tool: &Tool, bin_dir: &Path) -> Command {
    let mut cmd = go();
    cmd.arg("install").arg(format!("{}@{}", tool.package, tool.version)).env("GOBIN", bin_dir);
    cmd
}

/// Writes (or rewrites) the generated module for `module` at the tool's version and returns
/// the `go build` of the tool's package into `out`.
pub(super) async fn build_in_generated_module(tool: &Tool, module: &str, out: &Path) -> Result<Command> {
    let dir = cache_dir().join("modules").join(format!("{}@{}", module.replace('/', "_"), tool.version));
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let upstream = upstream_go_mod(module, &tool.version).await?;
    std::fs::write(dir.join("go.mod"), generated_go_mod(module, &tool.version, &upstream))?;
    // Imports every package of the module the pins build, so go.sum covers them all.
    let packages: Vec<String> = super::pinned()?
        .into_iter()
        .filter(|t| t.module.as_deref() == Some(module) && t.version == tool.version)
        .map(|t| t.package)
        .collect();
    std::fs::write(dir.join("tools.go"), tools_go(&packages))?;
    let mut cmd = go();
    cmd.current_dir(&dir)
        .env("GOFLAGS", "-mod=mod")
        .args(["build", "-trimpath", "-ldflags"])
        .arg(ldflags(module, &tool.version))
        .arg("-o")
        .arg(out)
        .arg(&tool.package);
    Ok(cmd)
}

/// Copies the pinned module (downloaded through the module cache, which is read-only) to
/// `<cache>/modules/<module>@<version>-src` once, and returns the `go build` of its main
/// package into `out`, with the tool's version flags.
pub(super) async fn build_in_own_module(tool: &Tool, out: &Path) -> Result<Command> {
    let src = cache_dir().join("modules").join(format!("{}@{}-src", tool.package.replace('/', "_"), tool.version));
    if !src.join("go.mod").is_file() {
        let from = download(&tool.package, &tool.version).await?.dir.context("go mod download named no folder")?;
        let _ = std::fs::remove_dir_all(&src);
        copy_writable(Path::new(&from), &src)?;
    }
    let mut cmd = go();
    let flags = format!("-s -w {}", tool.ldflags.as_deref().unwrap_or_default());
    cmd.current_dir(&src).env("GOFLAGS", "-mod=mod").args(["build", "-trimpath", "-ldflags"]).arg(flags.trim());
    cmd.arg("-o").arg(out).arg(".");
    Ok(cmd)
}

/// A copy of `from` at `to` whose files the owner may write (the module cache's are 0444).
fn copy_writable(from: &Path, to: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(to).with_context(|| format!("create {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("read {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_writable(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target).with_context(|| format!("copy {}", entry.path().display()))?;
            let mode = entry.metadata()?.permissions().mode() | 0o200;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode))?;
        }
    }
    Ok(())
}

/// The pinned module's own go.mod, from the module proxy (through the module cache).
async fn upstream_go_mod(module: &str, version: &str) -> Result<String> {
    let path = download(module, version).await?.go_mod.context("go mod download named no go.mod")?;
    std::fs::read_to_string(&path).with_context(|| format!("read {path}"))
}

#[derive(serde::Deserialize)]
pub(super) struct Download {
    #[serde(rename = "Dir")]
    pub(super) dir: Option<String>,
    #[serde(rename = "GoMod")]
    go_mod: Option<String>,
    #[serde(rename = "Error")]
    error: Option<String>,
}

/// `go mod download -json MODULE@VERSION` into the tools' module cache.
pub(super) async fn download(module: &str, version: &str) -> Result<Download> {
    let out = go()
        .args(["mod", "download", "-json"])
        .arg(format!("{module}@{version}"))
        .current_dir(std::env::temp_dir())
        .output()
        .await
        .context("run go mod download")?;
    let d: Download = serde_json::from_slice(&out.stdout).with_context(|| {
        format!("go mod download {module}@{version}: {}", String::from_utf8_lossy(&out.stderr).trim())
    })?;
    if let Some(e) = d.error {
        return Err(crate::user_error!(
            "the Go module proxy did not serve {module}@{version}: {e}; check GOPROXY and the network"
        ));
    }
    Ok(d)
}

/// The generated go.mod: requires `module` and, for each of its replaces that points into
/// its own tree (`k8s.io/api => ./staging/src/k8s.io/api`), the published module instead at
/// the matching version (Kubernetes v1.34.4 publishes its staging modules as v0.34.4).
fn generated_go_mod(module: &str, version: &str, upstream: &str) -> String {
    let staging_version = version.strip_prefix("v1.").map(|rest| format!("v0.{rest}"));
    let mut replaces = Vec::new();
    for line in upstream.lines().map(str::trim) {
        let line = line.strip_prefix("replace ").unwrap_or(line);
        if let (Some((path, target)), Some(v)) = (line.split_once(" => "), &staging_version)
            && target.trim().starts_with("./staging/")
        {
            replaces.push(format!("replace {} => {} {v}\n", path.trim(), path.trim()));
        }
    }
    let godebug = upstream.lines().find(|l| l.starts_with("godebug ")).map(|l| format!("{l}\n\n")).unwrap_or_default();
    format!(
        "// Generated by forgejo-e2e (cargo xtask tools): builds pinned binaries of {module}.\nmodule forgejo-e2e/tools\n\ngo 1.24.0\n\n{godebug}require {module} {version}\n\n{}",
        replaces.concat()
    )
}

fn tools_go(packages: &[String]) -> String {
    let imports: String = packages.iter().map(|p| format!("\t_ \"{p}\"\n")).collect();
    format!("//go:build tools\n\npackage tools\n\nimport (\n{imports})\n")
}

/// `-s -w`, and for Kubernetes the version its binaries report (kubeadm compares them; built
/// outside its own build scripts they would say v0.0.0).
fn ldflags(module: &str, version: &str) -> String {
    let mut flags = "-s -w".to_owned();
    if module == "k8s.io/kubernetes" {
        let minor = version.split('.').nth(1).unwrap_or_default();
        for pkg in ["k8s.io/component-base/version", "k8s.io/client-go/pkg/version"] {
            flags.push_str(&format!(
                " -X {pkg}.gitVersion={version} -X {pkg}.gitMajor=1 -X {pkg}.gitMinor={minor} -X {pkg}.gitTreeState=clean"
            ));
        }
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_staging_replaces_become_published_versions() {
        let upstream = "module k8s.io/kubernetes\n\ngo 1.24.0\n\ngodebug default=go1.24\n\nreplace (\n\tk8s.io/api => ./staging/src/k8s.io/api\n\tk8s.io/client-go => ./staging/src/k8s.io/client-go\n)\n\nreplace github.com/x/y => github.com/x/z v1.0.0\n";
        let generated = generated_go_mod("k8s.io/kubernetes", "v1.34.4", upstream);
        assert!(generated.contains("godebug default=go1.24\n"), "{generated}");
        assert!(generated.contains("require k8s.io/kubernetes v1.34.4\n"), "{generated}");
        assert!(generated.contains("replace k8s.io/api => k8s.io/api v0.34.4\n"), "{generated}");
        assert!(generated.contains("replace k8s.io/client-go => k8s.io/client-go v0.34.4\n"), "{generated}");
        assert!(!generated.contains("github.com/x"), "only replaces into its own tree: {generated}");
    }

    #[test]
    fn a_module_with_sibling_replaces_is_only_required() {
        let generated = generated_go_mod(
            "go.etcd.io/etcd/server/v3",
            "v3.6.5",
            "module go.etcd.io/etcd/server/v3\nreplace (\n\tgo.etcd.io/etcd/api/v3 => ../api\n)\n",
        );
        assert!(generated.contains("require go.etcd.io/etcd/server/v3 v3.6.5\n"), "{generated}");
        assert!(!generated.contains("replace"), "{generated}");
    }

    #[test]
    fn kubernetes_binaries_report_their_version() {
        let flags = ldflags("k8s.io/kubernetes", "v1.34.4");
        assert!(flags.contains("-X k8s.io/component-base/version.gitVersion=v1.34.4"), "{flags}");
        assert!(flags.contains("-X k8s.io/client-go/pkg/version.gitMinor=34"), "{flags}");
        assert_eq!(ldflags("go.etcd.io/etcd/server/v3", "v3.6.5"), "-s -w");
        assert_eq!(tools_go(&["a/b".into()]), "//go:build tools\n\npackage tools\n\nimport (\n\t_ \"a/b\"\n)\n");
    }
}
