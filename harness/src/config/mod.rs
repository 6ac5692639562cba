//! The one typed runner configuration both platforms read: chart values whose
//! `runner.config.file` is forgejo-runner's `config.yaml`.

mod load;
mod runner;
mod tls_verify;
mod values;

pub use load::{ConfigError, load_values, parse_values};
pub use runner::{CacheSection, ContainerSection, HostSection, LogSection, RunnerConfig, RunnerSection, ServerSection};
pub use tls_verify::{TlsVerifyFinding, check_tls_verify};
pub use values::{
    ChartRunner, ChartRunnerConfig, ChartValues, ImageHolder, ImageValues, SecurityContextValues, ServiceAccountValues,
};

/// The article's documented values, the default configuration of every run.
pub const ARTICLE_VALUES: &str = "runner/values.yaml";

/// How forgejo-runner turns a YAML scalar in `runner.envs` into an environment string:
/// Go's YAML decoder reads `1`, `true` and `"1"` into a `map[string]string` as their text.
pub fn scalar_to_env(value: &serde_yaml::Value) -> String {
    match value {
        serde_yaml::Value::String(s) => s.clone(),
        serde_yaml::Value::Bool(b) => b.to_string(),
        serde_yaml::Value::Number(n) => n.to_string(),
        serde_yaml::Value::Null => String::new(),
        other => serde_yaml::to_string(other).unwrap_or_default().trim().to_owned(),
    }
}
