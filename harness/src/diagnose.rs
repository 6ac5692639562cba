//! Known failure signatures: a log line that names a cause, and the fix. The signatures
//! are data (`fixtures/diagnosis/signatures.yaml`), tested against real log lines.

use serde::Deserialize;

/// One known failure.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    pub id: String,
    /// Every one of these substrings must appear in the log.
    #[serde(rename = "match")]
    pub patterns: Vec<String>,
    /// If given, at least one of these must appear too.
    #[serde(default)]
    pub any: Vec<String>,
    pub cause: String,
    pub fix: String,
}

/// A signature found in a log, with the line that matched first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnosis {
    pub id: String,
    pub cause: String,
    pub fix: String,
    pub evidence: String,
}

impl std::fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] cause: {}\n  fix: {}\n  seen: {}", self.id, self.cause, self.fix, self.evidence)
    }
}

/// The signatures shipped in `fixtures/diagnosis/signatures.yaml`.
pub fn signatures() -> anyhow::Result<Vec<Signature>> {
    let path = crate::fixtures_dir().join("diagnosis/signatures.yaml");
    let text = std::fs::read_to_string(&path)?;
    serde_yaml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Every signature whose patterns all occur in `log`, in the file's order.
pub fn diagnose(signatures: &[Signature], log: &str) -> Vec<Diagnosis> {
    signatures
        .iter()
        .filter(|s| s.patterns.iter().all(|p| log.contains(p.as_str())))
        .filter(|s| s.any.is_empty() || s.any.iter().any(|p| log.contains(p.as_str())))
        .map(|s| {
            // The line that shows it: the first `match` pattern's, else the `any` one seen.
            let seen = |p: &&String| log.contains(p.as_str());
            let first = s.patterns.first().or_else(|| s.any.iter().find(seen)).map_or("", String::as_str);
            let evidence = log.lines().find(|l| l.contains(first)).unwrap_or(first).trim().to_owned();
            Diagnosis { id: s.id.clone(), cause: s.cause.clone(), fix: s.fix.clone(), evidence }
        })
        .collect()
}
