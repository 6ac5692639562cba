//! The wrenix `forgejo-runner` chart values the harness reads or sets (chart 0.4.38 names).
//!
//! `runner.config.file` is the runner's `config.yaml` ([`RunnerConfig`]); the chart writes
//! it verbatim after Helm merges it with the chart default (maps key by key, lists replace).

use serde::{Deserialize, Serialize};

use super::RunnerConfig;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ChartValues {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_count: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageValues>,
    #[serde(default)]
    pub runner: ChartRunner,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dind: Option<ImageHolder>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubectl: Option<ImageHolder>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<ServiceAccountValues>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<SecurityContextValues>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<serde_yaml::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_mounts: Option<Vec<serde_yaml::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_env_vars: Option<Vec<serde_yaml::Value>>,
    /// The pod's `nodeSelector` (the harness pins a `--jobs` slot's pod to a node with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ChartRunner {
    #[serde(default)]
    pub config: ChartRunnerConfig,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ChartRunnerConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub existing_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub existing_init_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(default)]
    pub file: RunnerConfig,
}

/// An image as the chart's templates read it: `registry/repository:tag` from a map, for
/// `image`, `dind.image` and `kubectl.image` alike (a plain string there does not render).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ImageValues {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_policy: Option<String>,
}

impl ImageValues {
    /// Splits a reference the way Docker names it: the first part is a registry only when
    /// it has a `.` or `:` or is `localhost`; otherwise the registry is `docker.io`
    /// (so `forgejo-e2e/dind:T`, loaded with `kind load`, is `docker.io/forgejo-e2e/dind:T`).
    pub fn from_reference(reference: &str) -> Self {
        let (first, rest) = reference.split_once('/').unwrap_or(("", reference));
        let (registry, path) = if first.contains(['.', ':']) || first == "localhost" {
            (first.to_owned(), rest.to_owned())
        } else {
            ("docker.io".to_owned(), reference.to_owned())
        };
        let (repository, tag) = match path.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo.to_owned(), tag.to_owned()),
            _ => (path.clone(), "latest".to_owned()),
        };
        Self { registry: Some(registry), repository: Some(repository), tag: Some(tag), pull_policy: None }
    }

    /// `registry/repository:tag`, as the chart's templates write it.
    pub fn reference(&self) -> String {
        let part = |p: &Option<String>| p.clone().unwrap_or_default();
        format!("{}/{}:{}", part(&self.registry), part(&self.repository), part(&self.tag))
    }
}

/// `dind` and `kubectl`: `{image: {registry, repository, tag, pullPolicy}}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageHolder {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageValues>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccountValues {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automount: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityContextValues {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::ImageValues;

    #[test]
    fn references_split_like_docker_names_them() {
        for (reference, want) in [
            ("forgejo-e2e/dind:T", "docker.io/forgejo-e2e/dind:T"),
            ("docker.io/alpine/k8s:1.33.1", "docker.io/alpine/k8s:1.33.1"),
            ("localhost:5000/x/y:2", "localhost:5000/x/y:2"),
            ("code.forgejo.org/forgejo/runner:12.0.0", "code.forgejo.org/forgejo/runner:12.0.0"),
            ("debian", "docker.io/debian:latest"),
        ] {
            assert_eq!(ImageValues::from_reference(reference).reference(), want, "{reference}");
        }
        let dind = ImageValues::from_reference("forgejo-e2e/dind:T");
        assert_eq!(dind.repository.as_deref(), Some("forgejo-e2e/dind"));
    }
}
