//! What a workflow file asks of a runner: the labels its jobs run on. Checked before a
//! pod starts, so a job no runner can take fails at once, saying why, instead of at a
//! deadline (or, with act, being skipped while the run looks green).

use std::path::Path;

use anyhow::{Context, Result};

/// Each job's `runs-on` labels, in file order. A job whose `runs-on` is an expression has
/// no entry: only the runner can tell where it goes.
pub fn runs_on(text: &str) -> Result<Vec<(String, Vec<String>)>> {
    let doc: serde_yaml::Value = serde_yaml::from_str(text).context("parse the workflow")?;
    let mut out = Vec::new();
    for (name, job) in doc.get("jobs").and_then(|j| j.as_mapping()).into_iter().flatten() {
        let name = name.as_str().unwrap_or_default().to_owned();
        let labels: Vec<String> = match job.get("runs-on") {
            Some(serde_yaml::Value::String(s)) => vec![s.clone()],
            Some(serde_yaml::Value::Sequence(seq)) => seq.iter().filter_map(|v| v.as_str().map(String::from)).collect(),
            _ => continue,
        };
        if labels.iter().any(|l| l.contains("${{")) {
            continue;
        }
        out.push((name, labels));
    }
    Ok(out)
}

/// Why a runner with `runner_labels` (`name` or `name:docker://image`) takes no job of
/// the workflow, or `None` when it takes at least one. A job needs every label it names.
pub fn unmatched(runner_labels: &[String], jobs: &[(String, Vec<String>)]) -> Option<String> {
    let names: Vec<&str> = runner_labels.iter().map(|l| l.split_once(':').map_or(l.as_str(), |(n, _)| n)).collect();
    let missing: Vec<&str> = jobs
        .iter()
        .filter_map(|(_, labels)| labels.iter().find(|l| !names.contains(&l.as_str())).map(String::as_str))
        .collect();
    if jobs.is_empty() || missing.len() < jobs.len() {
        return None;
    }
    let mut wanted = missing;
    wanted.dedup();
    Some(format!(
        "no runner has label {} (this runner: {})",
        wanted.iter().map(|l| format!("`{l}`")).collect::<Vec<_>>().join(", "),
        if names.is_empty() { "no labels".to_owned() } else { names.join(", ") }
    ))
}

/// The workflow files at `rel` (a file or a folder) in the first of `sources`, searched
/// from the last: overlays win, as when the workspace is laid out.
pub fn files(sources: &[impl AsRef<Path>], rel: &str) -> Vec<std::path::PathBuf> {
    let Some(path) = sources.iter().rev().map(|s| s.as_ref().join(rel)).find(|p| p.exists()) else {
        return Vec::new();
    };
    if path.is_file() {
        return vec![path];
    }
    let mut found: Vec<_> = std::fs::read_dir(&path)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(l: &[&str]) -> Vec<String> {
        l.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn runs_on_reads_strings_lists_and_leaves_expressions_out() {
        let jobs = runs_on(
            "jobs:\n  a: {runs-on: self-hosted}\n  b: {runs-on: [docker, big]}\n  c: {runs-on: '${{ matrix.os }}'}\n",
        )
        .expect("parse");
        assert_eq!(jobs, [("a".into(), labels(&["self-hosted"])), ("b".into(), labels(&["docker", "big"]))]);
    }

    #[test]
    fn a_job_no_label_matches_is_named_with_the_runners_labels() {
        let jobs = vec![("a".to_owned(), labels(&["self-hosted"]))];
        assert_eq!(unmatched(&labels(&["self-hosted", "default"]), &jobs), None);
        assert_eq!(
            unmatched(&labels(&["nomatch", "x:docker://debian:12"]), &jobs).as_deref(),
            Some("no runner has label `self-hosted` (this runner: nomatch, x)")
        );
        // One job a runner takes is enough; a job needs all of its labels.
        let two = vec![("a".to_owned(), labels(&["self-hosted", "big"])), ("b".to_owned(), labels(&["default"]))];
        assert_eq!(unmatched(&labels(&["default"]), &two), None);
        assert!(unmatched(&labels(&["self-hosted"]), &two).is_some());
    }
}
