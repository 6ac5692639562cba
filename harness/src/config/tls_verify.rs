//! The DOCKER_TLS_VERIFY pitfall: the Go docker client verifies TLS for any non-empty value,
//! testcontainers-rs only for exactly "1", so `true` or `yes` silently turns TLS off there.

use std::collections::BTreeMap;

use super::scalar_to_env;

/// What a job's Docker clients make of the configured `runner.envs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsVerifyFinding {
    /// The YAML as written (`1`, `"1"`, `true`, absent).
    pub yaml: String,
    /// The string the job's environment receives.
    pub env: Option<String>,
    pub go_client_verifies: bool,
    pub testcontainers_rs_verifies: bool,
    /// Set when the configuration would silently disable TLS for some client.
    pub warning: Option<String>,
}

/// Judges `DOCKER_TLS_VERIFY` in `runner.envs` against a TLS `DOCKER_HOST`.
pub fn check_tls_verify(envs: Option<&BTreeMap<String, serde_yaml::Value>>) -> TlsVerifyFinding {
    let raw = envs.and_then(|e| e.get("DOCKER_TLS_VERIFY"));
    let yaml = match raw {
        None => "absent".to_owned(),
        Some(v) => serde_yaml::to_string(v).unwrap_or_default().trim().to_owned(),
    };
    let env = raw.map(scalar_to_env);
    let value = env.as_deref().unwrap_or("");
    let go_client_verifies = !value.is_empty();
    let testcontainers_rs_verifies = value == "1";
    let host = envs.and_then(|e| e.get("DOCKER_HOST")).map(scalar_to_env).unwrap_or_default();
    let tls_port = host.starts_with("tcp://") && host.ends_with(":2376");
    let warning = match (go_client_verifies, testcontainers_rs_verifies) {
        (true, true) => None,
        (true, false) => Some(format!(
            "runner.envs.DOCKER_TLS_VERIFY is {value:?}: the docker CLI verifies TLS but \
             testcontainers-rs turns TLS on only for exactly \"1\" and talks plain HTTP to the \
             TLS socket; set DOCKER_TLS_VERIFY: \"1\""
        )),
        (false, _) if tls_port => Some(format!(
            "runner.envs.DOCKER_TLS_VERIFY is unset but DOCKER_HOST is {host}: jobs' Docker \
             clients will not use TLS; set DOCKER_TLS_VERIFY: \"1\""
        )),
        (false, _) => None,
    };
    TlsVerifyFinding { yaml, env, go_client_verifies, testcontainers_rs_verifies, warning }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn envs(yaml: &str) -> BTreeMap<String, serde_yaml::Value> {
        serde_yaml::from_str(yaml).expect("test yaml")
    }

    #[rstest]
    #[case::unquoted_one("DOCKER_TLS_VERIFY: 1", "1", true, true, false)]
    #[case::quoted_one("DOCKER_TLS_VERIFY: \"1\"", "1", true, true, false)]
    #[case::boolean_true("DOCKER_TLS_VERIFY: true", "true", true, false, true)]
    #[case::yes_string("DOCKER_TLS_VERIFY: \"yes\"", "yes", true, false, true)]
    fn values_as_each_client_reads_them(
        #[case] yaml: &str,
        #[case] env: &str,
        #[case] go: bool,
        #[case] tc: bool,
        #[case] warns: bool,
    ) {
        let e = envs(&format!("DOCKER_HOST: tcp://127.0.0.1:2376\n{yaml}"));
        let f = check_tls_verify(Some(&e));
        assert_eq!(f.env.as_deref(), Some(env));
        assert_eq!((f.go_client_verifies, f.testcontainers_rs_verifies), (go, tc));
        assert_eq!(f.warning.is_some(), warns, "{:?}", f.warning);
    }

    #[test]
    fn unset_on_a_tls_port_warns() {
        let e = envs("DOCKER_HOST: tcp://127.0.0.1:2376");
        let f = check_tls_verify(Some(&e));
        assert_eq!(f.yaml, "absent");
        assert!(f.warning.expect("warning").contains("will not use TLS"));
    }
}
