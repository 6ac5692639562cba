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
        }
    }

    pub fn all_passed(&self) -> bool {
        self.failed == 0 && self.passed > 0
    }

    /// Writes `junit.xml` and `summary.json` into `dir`; returns their paths.
    pub fn write(&self, dir: &Path) -> Result<(PathBuf, PathBuf)> {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        let junit = dir.join("junit.xml");
        std::fs::write(&junit, junit_xml(self)).with_context(|| format!("write {}", junit.display()))?;
        let json = dir.join("summary.json");
        std::fs::write(&json, serde_json::to_string_pretty(self)?)
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

/// `token=…`, `--token …`, `secret: …` and `Authorization: token …` values become [redacted].
fn redact_tokens(line: &str) -> String {
    let lower = line.to_ascii_lowercase();
    for key in [
        "--token ",
        "token=",
        "token: ",
        "--secret ",
        "secret=",
        "secret: ",
        "authorization: token ",
        "authorization: basic ",
    ] {
        if let Some(pos) = lower.find(key) {
            let start = pos + key.len();
            let end = line[start..]
                .find(|c: char| c.is_whitespace() || c == '"' || c == '\'')
                .map_or(line.len(), |e| start + e);
            if end > start {
                return format!("{}[redacted]{}", &line[..start], redact_tokens(&line[end..]));
            }
        }
    }
    line.to_owned()
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
}
