//! An image the harness does not build (the real runner's, Forgejo's): already on the
//! engine, loaded from a `docker save` tarball, or pulled — and, when none of these works,
//! why, in words a user can act on.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use bollard::Docker;
use bollard::query_parameters::{CreateImageOptionsBuilder, ImportImageOptionsBuilder};
use futures_util::StreamExt;

/// Where an image comes from: a reference (`REGISTRY/REPO:TAG`) or a tarball file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSpec {
    Reference(String),
    Tarball(PathBuf),
}

impl std::str::FromStr for ImageSpec {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        if s.trim().is_empty() {
            return Err(crate::user_error!(
                "an image is a reference (REGISTRY/REPO:TAG) or a `docker save` tarball (FILE.tar), not empty"
            ));
        }
        let path = Path::new(s);
        if s.ends_with(".tar") || s.ends_with(".tar.gz") || path.is_file() {
            return Ok(Self::Tarball(path.to_path_buf()));
        }
        Ok(Self::Reference(s.to_owned()))
    }
}

impl std::fmt::Display for ImageSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Reference(r) => f.write_str(r),
            Self::Tarball(p) => write!(f, "{}", p.display()),
        }
    }
}

/// How an image was had, or why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Obtained {
    /// On the engine under this reference (found, loaded or pulled).
    Here {
        reference: String,
        how: &'static str,
    },
    Missing {
        why: String,
    },
}

/// Makes `spec` present on the engine if it can, within `pull_deadline` for a pull.
pub async fn obtain(docker: &Docker, spec: &ImageSpec, pull_deadline: Duration) -> Obtained {
    match spec {
        ImageSpec::Tarball(path) => match load(docker, path).await {
            Ok(reference) => Obtained::Here { reference, how: "loaded from its tarball" },
            Err(e) => Obtained::Missing { why: format!("{e:#}") },
        },
        ImageSpec::Reference(r) => {
            if docker.inspect_image(r).await.is_ok() {
                return Obtained::Here { reference: r.clone(), how: "on this engine" };
            }
            match pull(docker, r, pull_deadline).await {
                Ok(()) => Obtained::Here { reference: r.clone(), how: "pulled" },
                Err(why) => Obtained::Missing { why },
            }
        }
    }
}

/// A pull, after asking this machine's resolver for the registry: offline that answers at
/// once, where the engine's own lookup takes seconds. (An engine behind a proxy the
/// host does not use would still pull: an explicit reference skips nothing but time.)
async fn pull(docker: &Docker, reference: &str, deadline: Duration) -> std::result::Result<(), String> {
    let host = registry_host(reference);
    let lookup = tokio::time::timeout(Duration::from_secs(5), tokio::net::lookup_host((host.as_str(), 443))).await;
    match lookup {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(format!("not on this engine, and its registry {host} does not resolve here ({e})")),
        Err(_) => return Err(format!("not on this engine, and its registry {host} did not resolve within 5s")),
    }
    let opts = CreateImageOptionsBuilder::default().from_image(reference).build();
    let pulled = tokio::time::timeout(deadline, async {
        let mut stream = docker.create_image(Some(opts), None, None);
        while let Some(item) = stream.next().await {
            item.map_err(|e| format!("not on this engine, and the pull failed: {e}"))?;
        }
        Ok(())
    });
    pulled.await.unwrap_or_else(|_| Err(format!("not on this engine, and the pull took over {}s", deadline.as_secs())))
}

/// `docker load` of a tarball; the reference it loaded (`Loaded image: …`).
async fn load(docker: &Docker, path: &Path) -> Result<String> {
    let file = tokio::fs::File::open(path).await.with_context(|| format!("open {}", path.display()))?;
    let body = tokio_util::io::ReaderStream::new(file);
    let opts = ImportImageOptionsBuilder::default().quiet(true).build();
    let mut stream = docker.import_image_stream(opts, body, None);
    let mut loaded = None;
    while let Some(item) = stream.next().await {
        let info = item.with_context(|| format!("docker load {}", path.display()))?;
        let said = info.stream.unwrap_or_default();
        if let Some(r) = said.lines().find_map(|l| l.trim().strip_prefix("Loaded image: ")) {
            loaded = Some(r.to_owned());
        }
    }
    loaded.with_context(|| format!("{} holds no tagged image (docker save IMAGE:TAG > FILE.tar)", path.display()))
}

/// The registry part of a reference: `docker.io` when it has none.
pub fn registry_host(reference: &str) -> String {
    match reference.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first.split(':').next().unwrap_or(first).to_owned()
        }
        _ => "registry-1.docker.io".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_and_tarballs() {
        let parse = |s: &str| s.parse::<ImageSpec>().expect("parse");
        assert_eq!(
            parse("code.forgejo.org/forgejo/runner:7.0.0"),
            ImageSpec::Reference("code.forgejo.org/forgejo/runner:7.0.0".into())
        );
        assert_eq!(parse("runner.tar"), ImageSpec::Tarball("runner.tar".into()));
        assert!("".parse::<ImageSpec>().is_err());
        assert_eq!(registry_host("code.forgejo.org/forgejo/runner:7.0.0"), "code.forgejo.org");
        assert_eq!(registry_host("localhost:5000/x:1"), "localhost");
        assert_eq!(registry_host("library/docker:28"), "registry-1.docker.io");
        assert_eq!(registry_host("docker:28"), "registry-1.docker.io");
    }
}
