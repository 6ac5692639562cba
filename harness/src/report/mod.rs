//! Results of a run and the reports made from them: a summary table on stdout, JUnit XML
//! and JSON under `target/e2e/`, and a bundle of logs per failed scenario.

mod bundle;
mod junit;
mod table;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Serialize;

pub use bundle::write_bundle;
pub use junit::junit_xml;
pub use table::summary_table;

use crate::diagnose::Diagnosis;
use crate::scenario::{Check, Outcome};

/// How one scenario (or variant, or user workflow) came out.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    pub name: String,
    pub platform: String,
    pub dind: String,
    pub outcome: Outcome,
    pub checks: Vec<Check>,
    #[serde(serialize_with = "secs")]
    pub duration: Duration,
    /// Named phases (pod start, image load, job ...) and their durations in seconds.
    pub phases: Vec<(String, f64)>,
    /// Seconds the job's own steps took, as the executor reports them.
    pub job_steps_seconds: Option<f64>,
    pub diagnosis: Vec<Diagnosis>,
    pub bundle: Option<PathBuf>,
    pub notes: Vec<String>,
    /// A user workflow's rows, one per job or matrix combination, in the order they ran.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<ScenarioResult>,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

/// A whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub run_id: String,
    pub platform: String,
    pub executor: String,
    pub privilege: String,
    pub images: String,
    pub results: Vec<ScenarioResult>,
    /// Phases of the run before any scenario (images, artifacts) in seconds.
    pub setup_phases: Vec<(String, f64)>,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub wall_seconds: f64,
    /// Render findings the user accepted (`--allow-finding`): the run tested the chart with them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_findings: Vec<Finding>,
}

/// A render finding: the chart renders `config.yaml` or the pod otherwise than intended.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Finding {
    /// The chart, as the header names it.
    pub chart: String,
    /// What `--allow-finding` names it by (`runner.envs`, `pod.runner.env.DOCKER_HOST`).
    pub key: String,
    pub finding: String,
    /// Whether `--allow-finding` accepted it.
    pub allowed: bool,
}

impl Summary {
    pub fn new(
        run_id: &str,
        platform: &str,
        executor: &str,
        privilege: &str,
        images: &str,
        results: Vec<ScenarioResult>,
        wall: Duration,
    ) -> Self {
        let count = |f: fn(&Outcome) -> bool| results.iter().filter(|r| f(&r.outcome)).count();
        Self {
            run_id: run_id.to_owned(),
            platform: platform.to_owned(),
            executor: executor.to_owned(),
            privilege: privilege.to_owned(),
            images: images.to_owned(),
            passed: count(|o| matches!(o, Outcome::Pass)),
            failed: count(|o| matches!(o, Outcome::Fail(_))),
            skipped: count(|o| matches!(o, Outcome::Skip(_))),
            results,
            setup_phases: Vec::new(),
            wall_seconds: wall.as_secs_f64(),
            allowed_findings: Vec::new(),
        }
    }

    pub fn all_passed(&self) -> bool {
        self.failed == 0 && self.passed > 0
    }

    /// Writes `junit.xml` and `summary.json` into `dir`, redacted; returns their paths.
    pub fn write(&self, dir: &Path) -> Result<(PathBuf, PathBuf)> {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        let junit = dir.join("junit.xml");
        // Failure reasons quote job output: no secret may ride along into a report.
        std::fs::write(&junit, redact(&junit_xml(self))).with_context(|| format!("write {}", junit.display()))?;
        let json = dir.join("summary.json");
        std::fs::write(&json, redact(&serde_json::to_string_pretty(self)?))
            .with_context(|| format!("write {}", json.display()))?;
        Ok((junit, json))
    }
}

/// Removes secrets from text bound for a report: PEM private keys and token-like values.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_key = false;
    for line in text.split_inclusive('\n') {
        if line.contains("-----BEGIN") && line.contains("PRIVATE KEY-----") {
            in_key = true;
            out.push_str("[redacted private key]\n");
            continue;
        }
        if in_key {
            in_key = !(line.contains("-----END") && line.contains("PRIVATE KEY-----"));
            continue;
        }
        out.push_str(&redact_tokens(line));
    }
    out
}

/// Values of secret-looking keys become [redacted]: `token=…`, `--token …`, `secret: …`,
/// `password …`, `Authorization: token …`, JSON fields of a `.runner` file or an API answer
/// (`"token"`, `"uuid"`, `"sha1"`), and the password in a URL (`http://user:…@host`).
fn redact_tokens(line: &str) -> String {
    let line = redact_url_passwords(line);
    let lower = line.to_ascii_lowercase();
    let keys = [
        "--token ",
        "token=",
        "token: ",
        "--secret ",
        "secret=",
        "secret: ",
        "--password ",
        "password=",
        "password: ",
        "authorization: token ",
        "authorization: basic ",
        "\"token\": \"",
        "\"token\":\"",
        "\"uuid\": \"",
        "\"uuid\":\"",
        "\"sha1\": \"",
        "\"sha1\":\"",
    ];
    // The earliest secret first; the rest of the line is redacted the same way.
    let first = keys.iter().filter_map(|k| lower.find(k).map(|pos| pos + k.len())).min();
    if let Some(start) = first {
        let end = line[start..]
            .find(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == ',')
            .map_or(line.len(), |e| start + e);
        if end > start {
            return format!("{}[redacted]{}", &line[..start], redact_tokens(&line[end..]));
        }
    }
    line
}

/// `scheme://user:password@host` → `scheme://user:[redacted]@host`.
fn redact_url_passwords(line: &str) -> String {
    let Some(at) = line.find("://") else { return line.to_owned() };
    let rest = &line[at + 3..];
    let authority_end = rest.find(|c: char| c == '/' || c.is_whitespace()).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match (authority.rfind('@'), authority.find(':')) {
        (Some(amp), Some(colon)) if colon < amp && !authority[colon + 1..amp].starts_with("[redacted]") => {
            format!("{}://{}:[redacted]{}", &line[..at], &authority[..colon], redact_url_passwords(&rest[amp..]))
        }
        _ => format!("{}://{}", &line[..at], redact_url_passwords(rest)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_keys_and_tokens() {
        let text = "a\n-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\nforgejo-runner register --token abc123 --name r\nAuthorization: token 0123abcd\n";
        let red = redact(text);
        assert_eq!(
            red,
            "a\n[redacted private key]\nforgejo-runner register --token [redacted] --name r\nAuthorization: token [redacted]\n"
        );
    }

    #[test]
    fn reports_are_redacted() {
        let result = ScenarioResult {
            name: "x".into(),
            platform: "docker".into(),
            dind: "rootful".into(),
            outcome: Outcome::Fail("step failed: git push http://e2e-admin:0123abcd@f:3000/x.git".into()),
            checks: Vec::new(),
            duration: Duration::from_secs(1),
            phases: Vec::new(),
            job_steps_seconds: None,
            diagnosis: Vec::new(),
            bundle: None,
            notes: vec!["registered with --token abc123".into()],
            jobs: Vec::new(),
        };
        let summary = Summary::new("r", "docker", "act", "privileged", "built", vec![result], Duration::from_secs(1));
        let dir = std::env::temp_dir().join(format!("fe2e-redact-{}", std::process::id()));
        let (junit, json) = summary.write(&dir).expect("write");
        for path in [junit, json] {
            let text = std::fs::read_to_string(&path).expect("read");
            assert!(!text.contains("0123abcd") && !text.contains("abc123"), "{}: {text}", path.display());
            assert!(text.contains("[redacted]"), "{}", path.display());
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn redaction_hides_passwords_runner_files_api_tokens_and_url_credentials() {
        let text = concat!(
            "forgejo admin user create --username e2e-admin --password s3cret --email a@b\n",
            "{\"id\": 3, \"uuid\": \"6f1c-22\", \"name\": \"r\", \"token\": \"abc123\", \"address\": \"http://f:3000\"}\n",
            "{\"id\":1,\"sha1\":\"0123abcd\",\"token_last_eight\":\"0123abcd\"}\n",
            "git push http://e2e-admin:0123abcd@127.0.0.1:3000/e2e-admin/x.git HEAD:main\n",
            "see https://example.org/a@b and ssh://git@host/repo\n",
        );
        assert_eq!(
            redact(text),
            concat!(
                "forgejo admin user create --username e2e-admin --password [redacted] --email a@b\n",
                "{\"id\": 3, \"uuid\": \"[redacted]\", \"name\": \"r\", \"token\": \"[redacted]\", \"address\": \"http://f:3000\"}\n",
                "{\"id\":1,\"sha1\":\"[redacted]\",\"token_last_eight\":\"0123abcd\"}\n",
                "git push http://e2e-admin:[redacted]@127.0.0.1:3000/e2e-admin/x.git HEAD:main\n",
                "see https://example.org/a@b and ssh://git@host/repo\n",
            )
        );
    }
}
