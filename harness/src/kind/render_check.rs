//! `helm template` against intent: the runner `config.yaml` the chart renders is compared
//! key by key with the configuration the harness meant to deploy.

use serde_yaml::Value;

/// A difference between what was meant and what the chart renders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenderFinding {
    Added {
        key: String,
        value: String,
    },
    Dropped {
        key: String,
        value: String,
    },
    Changed {
        key: String,
        intended: String,
        rendered: String,
    },
    /// No document of the rendered chart holds a `config.yaml`.
    NoConfig,
    /// The rendered Deployment differs from the intended pod in `what`.
    Pod {
        what: String,
        intended: String,
        rendered: String,
    },
}

impl RenderFinding {
    /// What `--allow-finding` names it by: the `config.yaml` key (`runner.envs`), or
    /// `config.yaml` when none was rendered, or `pod.` and the pod's part with dots
    /// (`pod.runner.env.DOCKER_HOST`).
    pub fn key(&self) -> String {
        match self {
            Self::Added { key, .. } | Self::Dropped { key, .. } | Self::Changed { key, .. } => key.clone(),
            Self::NoConfig => "config.yaml".into(),
            Self::Pod { what, .. } => format!("pod.{}", what.replace(' ', ".")),
        }
    }
}

impl std::fmt::Display for RenderFinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Added { key, value } => write!(f, "the chart adds {key} = {value}"),
            Self::Dropped { key, value } => write!(f, "the chart drops {key} (intended {value})"),
            Self::Changed { key, intended, rendered } => {
                write!(f, "the chart changes {key}: intended {intended}, rendered {rendered}")
            }
            Self::NoConfig => write!(f, "no rendered ConfigMap or Secret holds config.yaml"),
            Self::Pod { what, intended, rendered } => {
                write!(f, "the pod differs in {what}: intended {intended}, rendered {rendered}")
            }
        }
    }
}

/// Compares the `config.yaml` found in `rendered` (multi-document `helm template` output)
/// with `intended` (the runner configuration as YAML).
pub fn compare_rendered(rendered: &str, intended: &Value) -> Vec<RenderFinding> {
    let Some(config) = find_config(rendered) else {
        return vec![RenderFinding::NoConfig];
    };
    let mut out = Vec::new();
    diff("", intended, &config, &mut out);
    out
}

/// Helm's merge of user values over a chart's defaults: maps key by key, anything else
/// (lists included) replaced, and a key set to null in the values removes the default.
pub fn helm_merge(defaults: &Value, values: &Value) -> Value {
    match (defaults, values) {
        (Value::Mapping(d), Value::Mapping(v)) => {
            let mut out = d.clone();
            for (k, val) in v {
                if val.is_null() {
                    out.remove(k);
                } else {
                    let merged = match d.get(k) {
                        Some(dv) => helm_merge(dv, val),
                        None => super::without_nulls(val),
                    };
                    out.insert(k.clone(), merged);
                }
            }
            Value::Mapping(out)
        }
        (_, v) => super::without_nulls(v),
    }
}

fn find_config(rendered: &str) -> Option<Value> {
    for doc in serde_yaml::Deserializer::from_str(rendered) {
        let Ok(value) = Value::deserialize(doc) else {
            continue;
        };
        let kind = value.get("kind").and_then(Value::as_str).unwrap_or_default();
        if kind != "ConfigMap" && kind != "Secret" {
            continue;
        }
        for field in ["data", "stringData"] {
            let Some(text) = value.get(field).and_then(|d| d.get("config.yaml")).and_then(Value::as_str) else {
                continue;
            };
            let decoded = if kind == "Secret" && field == "data" { base64_decode(text)? } else { text.to_owned() };
            return serde_yaml::from_str(&decoded).ok();
        }
    }
    None
}

use serde::Deserialize;

fn diff(path: &str, intended: &Value, rendered: &Value, out: &mut Vec<RenderFinding>) {
    let show = |v: &Value| serde_yaml::to_string(v).unwrap_or_default().trim().replace('\n', " ");
    match (intended, rendered) {
        (Value::Mapping(a), Value::Mapping(b)) => {
            for (k, va) in a {
                let key = join(path, k);
                match b.get(k) {
                    Some(vb) => diff(&key, va, vb, out),
                    None => out.push(RenderFinding::Dropped { key, value: show(va) }),
                }
            }
            for (k, vb) in b {
                if !a.contains_key(k) {
                    out.push(RenderFinding::Added { key: join(path, k), value: show(vb) });
                }
            }
        }
        // forgejo-runner reads envs as strings: 1 and "1" are the same to it.
        (a, b) if scalar(a).is_some() && scalar(a) == scalar(b) => {}
        (a, b) if a == b => {}
        (a, b) => out.push(RenderFinding::Changed { key: path.to_owned(), intended: show(a), rendered: show(b) }),
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(_) | Value::Number(_) | Value::Bool(_) => Some(crate::config::scalar_to_env(v)),
        _ => None,
    }
}

fn join(path: &str, key: &Value) -> String {
    let k = key.as_str().map(str::to_owned).unwrap_or_else(|| format!("{key:?}"));
    if path.is_empty() { k } else { format!("{path}.{k}") }
}

fn base64_decode(text: &str) -> Option<String> {
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in text.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(v);
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTENDED: &str = "runner:\n  labels: [self-hosted, default]\n  envs:\n    DOCKER_TLS_VERIFY: 1\ncontainer:\n  network: host\n  valid_volumes: [/certs/client]\n";

    #[test]
    fn identical_config_yields_no_findings_and_1_equals_quoted_1() {
        let rendered = "---\nkind: Deployment\n---\napiVersion: v1\nkind: ConfigMap\ndata:\n  config.yaml: |\n    runner:\n      labels: [self-hosted, default]\n      envs:\n        DOCKER_TLS_VERIFY: \"1\"\n    container:\n      network: host\n      valid_volumes: [/certs/client]\n";
        let intended: Value = serde_yaml::from_str(INTENDED).expect("yaml");
        assert_eq!(compare_rendered(rendered, &intended), Vec::new());
    }

    #[test]
    fn a_finding_is_allowed_by_the_key_its_line_names() {
        let intended: Value = serde_yaml::from_str(INTENDED).expect("yaml");
        let rendered = "kind: ConfigMap\ndata:\n  config.yaml: |\n    runner:\n      labels: [self-hosted, default]\n    container:\n      network: host\n      valid_volumes: [/certs/client]\n";
        let keys: Vec<String> = compare_rendered(rendered, &intended).iter().map(RenderFinding::key).collect();
        assert_eq!(keys, ["runner.envs"]);
        let pod =
            RenderFinding::Pod { what: "runner env DOCKER_HOST".into(), intended: "x".into(), rendered: "".into() };
        assert_eq!(pod.key(), "pod.runner.env.DOCKER_HOST");
        assert_eq!(compare_rendered("kind: Deployment\n", &intended)[0].key(), "config.yaml");
    }

    #[test]
    fn added_dropped_and_changed_keys_are_findings() {
        // Helm merges maps key by key but replaces lists: a chart default can sneak in.
        let rendered = "kind: Secret\nstringData:\n  config.yaml: |\n    runner:\n      labels: [ubuntu-latest]\n      envs:\n        DOCKER_TLS_VERIFY: 1\n      capacity: 1\n    container: {}\n";
        let intended: Value = serde_yaml::from_str(INTENDED).expect("yaml");
        let found: Vec<String> = compare_rendered(rendered, &intended).iter().map(|f| f.to_string()).collect();
        assert_eq!(
            found,
            [
                "the chart changes runner.labels: intended - self-hosted - default, rendered - ubuntu-latest",
                "the chart adds runner.capacity = 1",
                "the chart drops container.network (intended host)",
                "the chart drops container.valid_volumes (intended - /certs/client)",
            ]
        );
    }

    #[test]
    fn helm_merge_merges_maps_replaces_lists_and_drops_nulls() {
        let defaults: Value = serde_yaml::from_str(
            "runner: {capacity: 1, labels: [], envs: {A_TEST_ENV_NAME_1: a, A_TEST_ENV_NAME_2: b}}\nlog: {level: info}\n",
        )
        .expect("yaml");
        let values: Value = serde_yaml::from_str(
            "runner: {labels: [self-hosted], envs: {DOCKER_HOST: x, A_TEST_ENV_NAME_1: null, A_TEST_ENV_NAME_2: null}}\n",
        )
        .expect("yaml");
        let want: Value = serde_yaml::from_str(
            "runner: {capacity: 1, labels: [self-hosted], envs: {DOCKER_HOST: x}}\nlog: {level: info}\n",
        )
        .expect("yaml");
        assert_eq!(helm_merge(&defaults, &values), want);
    }

    #[test]
    fn a_secret_with_base64_data_is_read_and_no_config_is_a_finding() {
        let encoded = "cnVubmVyOgogIGNhcGFjaXR5OiAyCg=="; // "runner:\n  capacity: 2\n"
        let rendered = format!("kind: Secret\ndata:\n  config.yaml: {encoded}\n");
        let intended: Value = serde_yaml::from_str("runner:\n  capacity: 2\n").expect("yaml");
        assert_eq!(compare_rendered(&rendered, &intended), Vec::new());
        assert_eq!(compare_rendered("kind: Deployment\n", &intended), vec![RenderFinding::NoConfig]);
    }
}
