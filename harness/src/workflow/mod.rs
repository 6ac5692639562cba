//! What a workflow file asks of a runner: the labels its jobs run on. Checked before a
//! pod starts, so a job no runner can take fails at once, saying why, instead of at a
//! deadline (or, with act, being skipped while the run looks green).

use std::path::Path;

pub mod matrix;
pub mod plan;

/// Why a runner with `runner_labels` (`name` or `name:docker://image`) picks no job of
/// workflow `text`, or `None` when it picks at least one (or the file cannot be read as a
/// workflow: the runner will say so). Expressions and matrices in `runs-on` are evaluated.
pub fn unmatched(runner_labels: &[String], text: &str) -> Option<String> {
    let plan = plan::plan(text, runner_labels).ok()?;
    // A job runs when it is picked and what it needs would let it (all assumed to pass).
    let mut done = std::collections::HashMap::new();
    for job in &plan.jobs {
        let status = match (&job.picked, plan::decide(job, &done)) {
            (Ok(()), Ok(())) => return None,
            (Err(_), _) => plan::Status::NeverPicked,
            (Ok(()), Err(_)) => plan::Status::Skipped,
        };
        done.insert(job.job.clone(), plan::merge(done.get(&job.job).copied(), status));
    }
    plan.jobs.iter().find_map(|j| j.picked.clone().err()).map(|why| why.trim_start_matches("never picked: ").to_owned())
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
    fn a_workflow_no_label_matches_is_named_with_the_runners_labels() {
        let one = "on: push\njobs:\n  a: {runs-on: self-hosted}\n";
        assert_eq!(unmatched(&labels(&["self-hosted", "default"]), one), None);
        assert_eq!(
            unmatched(&labels(&["nomatch", "x:docker://debian:12"]), one).as_deref(),
            Some("no runner has label `self-hosted` (this runner: nomatch, x)")
        );
        // One job a runner takes is enough; a job needs all of its labels.
        let two = "on: push\njobs:\n  a: {runs-on: [self-hosted, big]}\n  b: {runs-on: default}\n";
        assert_eq!(unmatched(&labels(&["default"]), two), None);
        assert!(unmatched(&labels(&["self-hosted"]), two).is_some());
        // Matrix expressions are evaluated, not skipped.
        let matrix =
            "on: push\njobs:\n  a:\n    strategy: {matrix: {os: [ubuntu-18.04]}}\n    runs-on: ${{ matrix.os }}\n";
        assert!(unmatched(&labels(&["self-hosted"]), matrix).expect("unmatched").contains("ubuntu-18.04"));
        // A job that needs a job no runner picks never runs either.
        let after = format!("{matrix}  b: {{runs-on: self-hosted, needs: a}}\n");
        assert!(unmatched(&labels(&["self-hosted"]), &after).is_some());
    }
}
