//! Pinned tool, image and chart versions (`fixtures/kind/versions.yaml`).

use anyhow::{Context, Result};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Versions {
    pub tools: Tools,
    /// Tools built from their Go modules, by name.
    pub builds: std::collections::BTreeMap<String, Build>,
    pub kind_node_image: String,
    pub runner_chart: Chart,
    pub kubectl_image: String,
    pub upstream_dind_image: String,
    /// The images `--executor forgejo-runner` runs by default.
    pub real_images: RealImages,
}

/// The runner's and Forgejo's image references, pinned.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealImages {
    pub runner: String,
    pub forgejo: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tools {
    pub kind: String,
    pub helm: String,
    pub kubectl: String,
}

/// A Go package built at a pinned version: `go install`ed, or built in a generated module
/// that requires `module` when that module's go.mod has replace directives.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Build {
    pub package: String,
    pub version: String,
    #[serde(default)]
    pub module: Option<String>,
    /// Built inside a copy of its own module (its go.mod declares another module path or
    /// replaces that resolve only inside it): Gitea and its runner.
    #[serde(default)]
    pub own_module: bool,
    /// `-X` flags that make the binary report its version.
    #[serde(default)]
    pub ldflags: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chart {
    pub reference: String,
    pub version: String,
}

impl Versions {
    pub fn load() -> Result<Versions> {
        let path = crate::fixtures_dir().join("kind/versions.yaml");
        let text = std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
        serde_yaml::from_str(&text).with_context(|| format!("parse {}", path.display()))
    }
}
