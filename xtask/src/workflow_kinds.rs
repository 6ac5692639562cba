//! The user-workflow fixtures (one small workflow per failure kind, and a pipeline that
//! passes) judged row by row against `fixtures/user-workflows/expected.yaml`: what
//! `cargo xtask ci` asks of `--workflow` on both platforms.

use std::collections::BTreeMap;

use harness::Progress;

/// The folder `cargo xtask ci` passes to `--workflow`.
pub const FOLDER: &str = "fixtures/user-workflows/.forgejo/workflows";

/// Whether the last run's summary has every expected row, each come out as expected.
pub fn held(progress: &Progress) -> bool {
    let expected_path = harness::fixtures_dir().join("user-workflows/expected.yaml");
    let summary_path = harness::run::reports_dir().join("summary.json");
    let expected: Option<Expected> =
        std::fs::read_to_string(&expected_path).ok().and_then(|t| serde_yaml::from_str(&t).ok());
    let summary: Option<serde_json::Value> =
        std::fs::read_to_string(&summary_path).ok().and_then(|t| serde_json::from_str(&t).ok());
    let (Some(expected), Some(summary)) = (expected, summary) else {
        progress.say(format!("ci: cannot read {} or {}", expected_path.display(), summary_path.display()));
        return false;
    };
    let mismatches = compare(&expected, &summary);
    for m in &mismatches {
        progress.say(format!("ci: --workflow fixtures: {m}"));
    }
    mismatches.is_empty()
}

/// What each job of each file must come to: one word, or one per executor where they
/// differ (`{act: step-failed, runner: pass}`: act runs each job on its own, a forge the
/// whole workflow).
type Expected = BTreeMap<String, BTreeMap<String, Want>>;

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Want {
    Always(String),
    ByExecutor(BTreeMap<String, String>),
}

impl Want {
    fn for_executor(&self, executor: &str) -> Option<&str> {
        match self {
            Want::Always(w) => Some(w),
            Want::ByExecutor(by) => by.get(executor).map(String::as_str),
        }
    }
}

/// One line per row that is missing or came out otherwise than `expected` says for the
/// summary's executor.
fn compare(expected: &Expected, summary: &serde_json::Value) -> Vec<String> {
    let executor = summary["executor"].as_str().unwrap_or("act");
    let results = summary["results"].as_array().cloned().unwrap_or_default();
    let mut out = Vec::new();
    for (file, jobs) in expected {
        let Some(item) = results.iter().find(|r| r["name"].as_str().is_some_and(|n| n.ends_with(&format!("/{file}"))))
        else {
            out.push(format!("{file}: no result"));
            continue;
        };
        let rows = item["jobs"].as_array().cloned().unwrap_or_default();
        for (row, want) in jobs {
            let Some(want) = want.for_executor(executor) else {
                out.push(format!("{file}: `{row}` has no expectation for executor {executor}"));
                continue;
            };
            let Some(got) = rows.iter().find(|r| r["name"] == row.as_str()) else {
                out.push(format!("{file}: no row `{row}`"));
                continue;
            };
            let seen = match got["outcome"]["result"].as_str() {
                Some("fail") => got["diagnosis"][0]["id"].as_str().unwrap_or("fail without a named cause"),
                Some(other) => other,
                None => "no outcome",
            };
            if seen != want {
                out.push(format!("{file}: `{row}` came out `{seen}`, expected `{want}`"));
            }
        }
        if rows.len() != jobs.len() {
            out.push(format!("{file}: {} rows, expected {}", rows.len(), jobs.len()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_is_compared_and_a_wrong_cause_is_named() {
        let expected: Expected =
            serde_yaml::from_str("a.yml: {j: image-unpullable, k: {act: step-failed, runner: pass}}").expect("yaml");
        let summary = serde_json::json!({"executor": "runner", "results": [{"name": "workflow:w/a.yml", "jobs": [
            {"name": "j", "outcome": {"result": "fail"}, "diagnosis": [{"id": "step-failed"}]},
            {"name": "k", "outcome": {"result": "pass"}}
        ]}]});
        assert_eq!(compare(&expected, &summary), ["a.yml: `j` came out `step-failed`, expected `image-unpullable`"]);
        assert_eq!(compare(&expected, &serde_json::json!({"results": []})), ["a.yml: no result"]);
        // The same rows under act: `k` must have failed its step there.
        let mut act = summary.clone();
        act["executor"] = "act".into();
        assert_eq!(
            compare(&expected, &act),
            [
                "a.yml: `j` came out `step-failed`, expected `image-unpullable`",
                "a.yml: `k` came out `pass`, expected `step-failed`"
            ]
        );
        // The real expectations name every fixture workflow.
        let real = std::fs::read_to_string(harness::fixtures_dir().join("user-workflows/expected.yaml")).expect("read");
        let real: Expected = serde_yaml::from_str(&real).expect("yaml");
        let files = harness::workflow::files(&[harness::workspace_root()], FOLDER);
        assert_eq!(real.len(), files.len(), "one entry per fixture workflow");
    }
}
