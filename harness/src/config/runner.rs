//! forgejo-runner's `config.yaml`, typed: every key of the v12 `config.example.yaml`.
//!
//! All fields are optional so that a file states only what it sets, exactly like the
//! runner (and Helm's merge) treats it; unknown keys are rejected so a typo cannot pass.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The whole runner configuration file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunnerConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<LogSection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner: Option<RunnerSection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<CacheSection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerSection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostSection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerSection>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_level: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunnerSection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u32>,
    /// Kept as YAML scalars: `DOCKER_TLS_VERIFY: 1` and `"1"` are different YAML and the
    /// harness reports how each reaches a job (see [`crate::config::tls_verify`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envs: Option<BTreeMap<String, serde_yaml::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shutdown_timeout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetch_timeout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetch_interval: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_interval: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_server: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions_cache_url_override: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerSection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_ipv6: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir_parent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_volumes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_pull: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_rebuild: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir_parent: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<serde_yaml::Value>,
}

impl RunnerConfig {
    /// The `runner.envs` map with every value as the string a job sees.
    pub fn job_envs(&self) -> BTreeMap<String, String> {
        let envs = self.runner.as_ref().and_then(|r| r.envs.as_ref());
        envs.into_iter().flatten().map(|(k, v)| (k.clone(), super::scalar_to_env(v))).collect()
    }

    pub fn labels(&self) -> Vec<String> {
        let labels = self.runner.as_ref().and_then(|r| r.labels.clone());
        labels.unwrap_or_default()
    }

    pub fn container(&self) -> ContainerSection {
        self.container.clone().unwrap_or_default()
    }
}
