//! A user's workflow as the runner would meet it: one entry per job and matrix
//! combination, in `needs:` order, each with the labels it asks for evaluated and whether
//! this runner would pick it. Forgejo hands a runner one job at a time; so does the
//! harness: each entry gets a workflow file of its own holding just that job.

use std::collections::HashMap;
use std::time::Duration;

use serde_yaml::{Mapping, Value};

use super::matrix::{self, Combo};

/// When a job runs, from the status function of its `if:` (`success()` when it has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Success,
    Always,
    Failure,
}

/// One job, or one matrix combination of it.
#[derive(Debug, Clone)]
pub struct PlannedJob {
    /// `build`, or `test (os=debian, node=20)`.
    pub row: String,
    /// The job's id in the workflow.
    pub job: String,
    pub needs: Vec<String>,
    pub when: When,
    /// The job's `timeout-minutes`.
    pub timeout: Option<Duration>,
    /// `Err(why)` when no runner with these labels would ever pick it.
    pub picked: Result<(), String>,
    /// The workflow file holding just this job (path inside the workspace) and its text.
    pub file: String,
    pub contents: String,
    /// What the harness could not decide or reproduce for this job, said out loud.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct WorkflowPlan {
    pub jobs: Vec<PlannedJob>,
    /// Why the workflow would not run at all on a push (its `on:`).
    pub not_triggered: Option<String>,
}

/// Where the one-job workflow files go inside the workspace.
pub const JOBS_DIR: &str = ".forgejo-e2e/jobs";

/// The plan of workflow `text` for a runner with `runner_labels` (`name` or
/// `name:docker://image`). Errors are the user's: they name what is wrong in the file.
pub fn plan(text: &str, runner_labels: &[String]) -> Result<WorkflowPlan, String> {
    let doc: Value = serde_yaml::from_str(text).map_err(|e| format!("not YAML: {e}"))?;
    let jobs = doc.get("jobs").and_then(Value::as_mapping).ok_or("it has no `jobs:`")?;
    let names: Vec<&str> = runner_labels.iter().map(|l| l.split_once(':').map_or(l.as_str(), |(n, _)| n)).collect();
    let order = needs_order(jobs)?;
    let mut planned = Vec::new();
    for id in order {
        let body = jobs.get(id.as_str()).and_then(Value::as_mapping).ok_or(format!("job `{id}` is not a mapping"))?;
        let needs = needs_of(body);
        let condition = body.get("if").map(matrix::show).unwrap_or_default();
        let when = if condition.contains("always()") {
            When::Always
        } else if condition.contains("failure()") {
            When::Failure
        } else {
            When::Success
        };
        let timeout = body.get("timeout-minutes").and_then(Value::as_f64).map(|m| Duration::from_secs_f64(m * 60.0));
        let mut notes = Vec::new();
        if serde_yaml::to_string(body).unwrap_or_default().contains("needs.") {
            notes.push("each job runs on its own here, as a runner gets it: outputs of `needs` jobs are empty".into());
        }
        let combos: Vec<Option<Combo>> = match body.get("strategy").and_then(|s| s.get("matrix")) {
            None => vec![None],
            Some(m) => match matrix::expand(m) {
                Ok(c) => c.into_iter().map(Some).collect(),
                Err(why) => {
                    notes.push(format!("matrix not expanded before the run ({why}): act runs it whole"));
                    vec![None]
                }
            },
        };
        for combo in combos {
            let row = combo.as_ref().map_or_else(|| id.clone(), |c| matrix::row_name(&id, c));
            let mut job_notes = notes.clone();
            let picked = match picked(body.get("runs-on"), combo.as_ref(), &names) {
                Pick::Yes => Ok(()),
                Pick::AtRunTime(why) => {
                    job_notes.push(why);
                    Ok(())
                }
                Pick::Never(why) => Err(why),
            };
            let file = format!("{JOBS_DIR}/{:02}-{}.yml", planned.len() + 1, file_safe(&row));
            let contents = one_job(&doc, &id, body, combo.as_ref(), &condition);
            planned.push(PlannedJob {
                row,
                job: id.clone(),
                needs: needs.clone(),
                when,
                timeout,
                picked,
                file,
                contents,
                notes: job_notes,
            });
        }
    }
    Ok(WorkflowPlan {
        jobs: planned,
        not_triggered: not_triggered(doc.get("on").or_else(|| doc.as_mapping().and_then(|m| m.get(Value::Bool(true))))),
    })
}

/// Whether a runner picks a job, as far as it can be known before the run.
enum Pick {
    Yes,
    /// Only the runner can tell (`decided by the runner: …`, said in a note).
    AtRunTime(String),
    /// `never picked: …`.
    Never(String),
}

/// Whether a runner with label `names` picks a job with this `runs-on`.
fn picked(runs_on: Option<&Value>, combo: Option<&Combo>, names: &[&str]) -> Pick {
    let empty = Vec::new();
    let combo = combo.unwrap_or(&empty);
    let raw: Vec<String> = match runs_on {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Sequence(seq)) => seq.iter().map(matrix::show).collect(),
        Some(other) => return Pick::AtRunTime(format!("decided by the runner: runs-on is `{}`", matrix::show(other))),
        None => return Pick::Never("never picked: the job has no `runs-on`".into()),
    };
    let mut labels = Vec::new();
    for r in raw {
        match matrix::evaluate(&r, combo) {
            Ok(l) => labels.push(l),
            Err(why) => return Pick::AtRunTime(format!("decided by the runner: runs-on {why}")),
        }
    }
    match labels.iter().find(|l| !names.contains(&l.as_str())) {
        None => Pick::Yes,
        Some(missing) => Pick::Never(format!(
            "never picked: no runner has label `{missing}` (this runner: {})",
            if names.is_empty() { "no labels".to_owned() } else { names.join(", ") }
        )),
    }
}

/// The workflow with only job `id`: no `needs` (the harness orders jobs), no status `if`
/// (the harness decides it), and the matrix cut down to `combo`.
fn one_job(doc: &Value, id: &str, body: &Mapping, combo: Option<&Combo>, condition: &str) -> String {
    let mut body = body.clone();
    body.remove("needs");
    if ["always()", "success()", "failure()", "cancelled()", "needs."].iter().any(|s| condition.contains(s)) {
        body.remove("if");
    }
    if let Some(combo) = combo {
        let entry: Mapping = combo.iter().map(|(k, v)| (Value::from(k.as_str()), v.clone())).collect();
        let mut strategy = body.get("strategy").and_then(Value::as_mapping).cloned().unwrap_or_default();
        let mut m = Mapping::new();
        m.insert("include".into(), Value::Sequence(vec![Value::Mapping(entry)]));
        strategy.insert("matrix".into(), Value::Mapping(m));
        body.insert("strategy".into(), Value::Mapping(strategy));
    }
    let mut doc = doc.clone();
    if let Some(map) = doc.as_mapping_mut() {
        let mut jobs = Mapping::new();
        jobs.insert(Value::from(id), Value::Mapping(body));
        map.insert("jobs".into(), Value::Mapping(jobs));
    }
    serde_yaml::to_string(&doc).unwrap_or_default()
}

fn needs_of(body: &Mapping) -> Vec<String> {
    match body.get("needs") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Sequence(seq)) => seq.iter().filter_map(|v| v.as_str().map(String::from)).collect(),
        _ => Vec::new(),
    }
}

/// Job ids with every job after the jobs it needs (file order otherwise).
fn needs_order(jobs: &Mapping) -> Result<Vec<String>, String> {
    let ids: Vec<String> = jobs.keys().filter_map(|k| k.as_str().map(String::from)).collect();
    let needs: HashMap<&str, Vec<String>> = ids
        .iter()
        .map(|id| (id.as_str(), jobs.get(id.as_str()).and_then(Value::as_mapping).map(needs_of).unwrap_or_default()))
        .collect();
    for (id, wanted) in &needs {
        if let Some(missing) = wanted.iter().find(|n| !ids.contains(n)) {
            return Err(format!("job `{id}` needs `{missing}`, which is not in the workflow"));
        }
    }
    let mut order: Vec<String> = Vec::new();
    while order.len() < ids.len() {
        let next = ids.iter().find(|id| !order.contains(id) && needs[id.as_str()].iter().all(|n| order.contains(n)));
        match next {
            Some(id) => order.push(id.clone()),
            None => {
                let stuck: Vec<&str> = ids.iter().filter(|i| !order.contains(i)).map(String::as_str).collect();
                return Err(format!("the `needs` of jobs {} form a cycle", stuck.join(", ")));
            }
        }
    }
    Ok(order)
}

/// Why a push does not start this workflow (`on:` without `push`), or `None`.
fn not_triggered(on: Option<&Value>) -> Option<String> {
    let pushes = match on {
        Some(Value::String(s)) => s == "push",
        Some(Value::Sequence(seq)) => seq.iter().any(|v| v.as_str() == Some("push")),
        Some(Value::Mapping(m)) => m.contains_key("push"),
        _ => false,
    };
    (!pushes).then(|| {
        let shown = on.map(|v| serde_yaml::to_string(v).unwrap_or_default().trim().replace('\n', " "));
        format!(
            "not started by a push (its `on:` is {}); the harness pushes",
            shown.unwrap_or_else(|| "missing".into())
        )
    })
}

fn file_safe(row: &str) -> String {
    row.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

/// How a job that ran (or did not) counts for the jobs that need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Succeeded,
    Failed,
    Skipped,
    NeverPicked,
}

/// Whether `job` runs, given how the jobs before it ended (`Err(why)`: skipped).
pub fn decide(job: &PlannedJob, done: &HashMap<String, Status>) -> Result<(), String> {
    let failed: Vec<&String> = job.needs.iter().filter(|n| done.get(*n) != Some(&Status::Succeeded)).collect();
    match job.when {
        When::Always => Ok(()),
        When::Failure if failed.iter().any(|n| matches!(done.get(*n), Some(Status::Failed))) => Ok(()),
        When::Failure => Err("its `if: failure()` is false: no job it needs failed".into()),
        When::Success => match failed.first() {
            None => Ok(()),
            Some(n) => Err(format!(
                "needs `{n}`, which {}",
                match done.get(*n) {
                    Some(Status::Failed) => "failed",
                    Some(Status::NeverPicked) => "was never picked",
                    _ => "was skipped",
                }
            )),
        },
    }
}

/// How a job id came out over its rows: failed if any row failed, and so on.
pub fn merge(a: Option<Status>, b: Status) -> Status {
    use Status::*;
    match (a, b) {
        (None, s) => s,
        (Some(Failed), _) | (_, Failed) => Failed,
        (Some(NeverPicked), _) | (_, NeverPicked) => NeverPicked,
        (Some(Skipped), _) | (_, Skipped) => Skipped,
        _ => Succeeded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = crate::fixtures_dir().join("user-workflows/.forgejo/workflows").join(name);
        std::fs::read_to_string(path).expect("fixture")
    }

    fn labels() -> Vec<String> {
        vec!["self-hosted".into(), "default".into()]
    }

    #[test]
    fn a_matrix_runs_on_is_evaluated_and_unmatched_combinations_are_never_picked() {
        let plan = plan(&fixture("matrix-labels.yml"), &labels()).expect("plan");
        let rows: Vec<(&str, bool)> = plan.jobs.iter().map(|j| (j.row.as_str(), j.picked.is_ok())).collect();
        assert_eq!(
            rows,
            [
                ("test (os=self-hosted, node=20)", true),
                ("test (os=ubuntu-18.04, node=20)", false),
                ("test (os=macos-latest, node=20)", false),
                ("report", true)
            ]
        );
        assert_eq!(
            plan.jobs[1].picked.as_ref().expect_err("never picked"),
            "never picked: no runner has label `ubuntu-18.04` (this runner: self-hosted, default)"
        );
        // Each entry's file holds just its job, its matrix cut to one combination.
        let one: Value = serde_yaml::from_str(&plan.jobs[0].contents).expect("yaml");
        assert_eq!(one["jobs"].as_mapping().map(|m| m.len()), Some(1));
        assert_eq!(one["jobs"]["test"]["strategy"]["matrix"]["include"][0]["os"], Value::from("self-hosted"));
        assert!(one["jobs"]["report"].is_null());
        assert!(plan.not_triggered.is_none());
    }

    #[test]
    fn jobs_come_after_what_they_need_and_lose_their_needs() {
        let plan = plan(&fixture("pipeline.yml"), &labels()).expect("plan");
        let rows: Vec<&str> = plan.jobs.iter().map(|j| j.row.as_str()).collect();
        assert_eq!(
            rows,
            ["build", "lint", "test (os=self-hosted, node=20)", "test (os=self-hosted, node=22)", "package"]
        );
        assert_eq!(plan.jobs[4].needs, ["test", "lint"]);
        assert!(!plan.jobs[4].contents.contains("needs"), "{}", plan.jobs[4].contents);
    }

    #[test]
    fn a_job_runs_only_when_what_it_needs_succeeded_unless_its_if_says_otherwise() {
        let plan = plan(&fixture("step-exit.yml"), &labels()).expect("plan");
        let publish = &plan.jobs[1];
        let mut done = HashMap::new();
        done.insert("check".to_owned(), Status::Failed);
        assert_eq!(decide(publish, &done), Err("needs `check`, which failed".into()));
        assert_eq!(decide(&PlannedJob { when: When::Always, ..publish.clone() }, &done), Ok(()));
        assert_eq!(decide(&PlannedJob { when: When::Failure, ..publish.clone() }, &done), Ok(()));
        done.insert("check".to_owned(), Status::Succeeded);
        assert_eq!(decide(publish, &done), Ok(()));
        assert_eq!(merge(Some(Status::Succeeded), Status::NeverPicked), Status::NeverPicked);
    }

    #[test]
    fn files_the_runner_would_not_start_or_cannot_order() {
        let p = plan("on: pull_request\njobs: {a: {runs-on: x, steps: []}}", &labels()).expect("plan");
        assert!(p.not_triggered.expect("not triggered").contains("pull_request"));
        let e = plan("on: push\njobs: {a: {runs-on: x, needs: b}}", &labels()).expect_err("a user error");
        assert_eq!(e, "job `a` needs `b`, which is not in the workflow");
        let e = plan("on: push\njobs: {a: {needs: b}, b: {needs: a}}", &labels()).expect_err("a user error");
        assert!(e.contains("cycle"), "{e}");
        let p = plan("on: push\njobs: {a: {runs-on: '${{ github.x }}'}}", &labels()).expect("plan");
        assert!(p.jobs[0].picked.is_ok() && p.jobs[0].notes[0].contains("decided by the runner"));
        let p = plan("on: [push]\njobs: {a: {runs-on: [self-hosted], timeout-minutes: 0.1}}", &labels()).expect("plan");
        assert_eq!(p.jobs[0].timeout, Some(Duration::from_secs(6)));
    }
}
