//! A user's workflow run job by job, as Forgejo hands jobs to a runner: in `needs:` order,
//! a job whose needs failed skipped, a job no runner label matches never picked, each
//! with its own deadline (`timeout-minutes`). The same on every platform: a platform only
//! says how to execute one job's workflow file in its runner container.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::RunItem;
use crate::diagnose::Diagnosis;
use crate::executor::{Cause, Ending, LogFormat};
use crate::report::ScenarioResult;
use crate::scenario::{Check, Outcome, overall};
use crate::workflow::plan::{self, PlannedJob, Status, WorkflowPlan};

/// What executing one job's workflow file gave back.
pub(super) struct ActOut {
    /// act's exit status was 0.
    pub(super) exit_ok: bool,
    /// It ended before its deadline.
    pub(super) finished: bool,
    pub(super) text: String,
}

/// How one job (or matrix combination) came out.
#[derive(Debug, Clone)]
pub(super) enum JobEnding {
    Succeeded,
    Failed(Cause),
    NeverPicked(String),
    Skipped(String),
}

#[derive(Debug, Clone)]
pub(super) struct JobRun {
    pub(super) planned: PlannedJob,
    pub(super) ending: JobEnding,
    pub(super) log: String,
    pub(super) seconds: f64,
}

impl JobRun {
    fn status(&self) -> Status {
        match self.ending {
            JobEnding::Succeeded => Status::Succeeded,
            JobEnding::Failed(_) => Status::Failed,
            JobEnding::NeverPicked(_) => Status::NeverPicked,
            JobEnding::Skipped(_) => Status::Skipped,
        }
    }
}

/// Runs every job of `plan` that would be picked and whose needs allow it, through `exec`
/// (one job's workflow file, its deadline), reading each job's end from the executor's
/// `log` format. `say` reports each job's end.
pub(super) async fn run_jobs<F>(
    plan: &WorkflowPlan,
    log: &dyn LogFormat,
    deadline: Duration,
    mut exec: F,
    say: impl Fn(String),
) -> Vec<JobRun>
where
    F: AsyncFnMut(&PlannedJob, Duration) -> anyhow::Result<ActOut>,
{
    let mut done: HashMap<String, Status> = HashMap::new();
    let mut runs = Vec::new();
    for job in &plan.jobs {
        let t = Instant::now();
        let (ending, text) = match (&job.picked, plan::decide(job, &done)) {
            (Err(why), _) => (JobEnding::NeverPicked(why.clone()), String::new()),
            (Ok(()), Err(why)) => (JobEnding::Skipped(why), String::new()),
            (Ok(()), Ok(())) => {
                let limit = job.timeout.map_or(deadline, |t| t.min(deadline));
                match exec(job, limit).await {
                    Ok(out) if !out.finished => {
                        let step = log.last_step(&out.text);
                        (JobEnding::Failed(Cause::Timeout { seconds: limit.as_secs(), step }), out.text)
                    }
                    Ok(out) => match log.ending(&out.text, out.exit_ok) {
                        Ending::Succeeded => (JobEnding::Succeeded, out.text),
                        Ending::Failed(cause) => (JobEnding::Failed(cause), out.text),
                        Ending::NotRun => {
                            (JobEnding::Skipped("act did not start it (its `if:` is false)".into()), out.text)
                        }
                    },
                    Err(e) => (JobEnding::Failed(Cause::Unexplained { line: format!("{e:#}") }), String::new()),
                }
            }
        };
        let run = JobRun { planned: job.clone(), ending, log: text, seconds: t.elapsed().as_secs_f64() };
        say(format!("job `{}`: {}", job.row, run.ending));
        done.insert(job.job.clone(), plan::merge(done.get(&job.job).copied(), run.status()));
        runs.push(run);
    }
    runs
}

/// What a user's workflow run job by job (or as the forge scheduled it) left to judge:
/// the joined log, succeeded only when every job did.
pub(super) fn evidence(
    platform: crate::scenario::Platform,
    executor: crate::executor::Kind,
    dind: crate::docker::DindMode,
    nonce: &str,
    runs: &[JobRun],
    log: String,
) -> crate::scenario::Evidence {
    crate::scenario::Evidence {
        platform,
        executor,
        dind,
        nonce: nonce.to_owned(),
        job_succeeded: runs.iter().all(|r| matches!(r.ending, JobEnding::Succeeded)),
        log,
    }
}

/// The rows of a workflow no job of which any runner here would pick: no pod started.
pub(super) fn none_picked(item: &RunItem, config: &crate::config::RunnerConfig) -> Vec<JobRun> {
    let Some(Ok(plan)) = item.job_plan(config) else { return Vec::new() };
    let mut done: HashMap<String, Status> = HashMap::new();
    let mut runs = Vec::new();
    for job in &plan.jobs {
        let ending = match (&job.picked, plan::decide(job, &done)) {
            (Err(why), _) => JobEnding::NeverPicked(why.clone()),
            (Ok(()), Err(why)) => JobEnding::Skipped(why),
            // Another job of this workflow is picked after all: nothing to say without running it.
            (Ok(()), Ok(())) => JobEnding::Skipped("no pod was started".into()),
        };
        let run = JobRun { planned: job.clone(), ending, log: String::new(), seconds: 0.0 };
        done.insert(job.job.clone(), plan::merge(done.get(&job.job).copied(), run.status()));
        runs.push(run);
    }
    runs
}

impl std::fmt::Display for JobEnding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobEnding::Succeeded => write!(f, "succeeded"),
            JobEnding::Failed(cause) => write!(f, "failed: {cause}"),
            JobEnding::NeverPicked(why) => write!(f, "{why}"),
            JobEnding::Skipped(why) => write!(f, "skipped: {why}"),
        }
    }
}

/// Whether `expected` (`--expect-failure` names: a job id or a row) names this job.
fn expected(item: &RunItem, job: &PlannedJob) -> Option<String> {
    item.expect_failure.iter().find(|e| **e == job.job || **e == job.row).cloned()
}

/// One result row per job, judged with the item's expectations, and the checks of the
/// workflow's own row (one per job).
pub(super) fn rows(
    item: &RunItem,
    runs: &[JobRun],
    log: &dyn LogFormat,
    platform: &str,
    dind: &str,
) -> (Vec<ScenarioResult>, Vec<Check>) {
    let mut rows = Vec::new();
    let mut summary = Vec::new();
    for run in runs {
        let check = match &run.ending {
            JobEnding::Succeeded => Check::pass("job succeeded"),
            JobEnding::Failed(cause) => Check::fail("job succeeded", cause.to_string()),
            JobEnding::NeverPicked(why) => Check::fail("job picked by a runner", why.clone()),
            JobEnding::Skipped(why) => Check::skip("job succeeded", why.clone()),
        };
        let mut notes = run.planned.notes.clone();
        let outcome = match (expected(item, &run.planned), &run.ending) {
            (Some(_), JobEnding::Failed(_) | JobEnding::NeverPicked(_)) => {
                notes.insert(0, format!("failed as expected: {}", run.ending));
                Outcome::Pass
            }
            (Some(name), JobEnding::Succeeded) => {
                Outcome::Fail(format!("expected to fail (--expect-failure {name}), but it succeeded"))
            }
            _ => overall(std::slice::from_ref(&check)),
        };
        summary.push(match &outcome {
            Outcome::Pass => Check::pass(run.planned.row.clone()),
            Outcome::Fail(why) => Check::fail(run.planned.row.clone(), why.clone()),
            Outcome::Skip(why) => Check::skip(run.planned.row.clone(), why.clone()),
        });
        let diagnosis = match &run.ending {
            JobEnding::Failed(cause) => Some(Diagnosis {
                id: cause.kind().into(),
                cause: cause.to_string(),
                fix: cause.fix(),
                evidence: format!("job `{}` in the bundle's job.log", run.planned.row),
            }),
            JobEnding::NeverPicked(why) => Some(Diagnosis {
                id: "never-picked".into(),
                cause: why.clone(),
                fix: "add the label to the runner's `labels` (with its image: `NAME:docker://IMAGE`), or change \
                      the job's `runs-on`; a real runner leaves such a job waiting forever"
                    .into(),
                evidence: format!("job `{}` in the bundle's job.log", run.planned.row),
            }),
            _ => None,
        };
        rows.push(ScenarioResult {
            name: run.planned.row.clone(),
            platform: platform.to_owned(),
            dind: dind.to_owned(),
            outcome,
            checks: vec![check],
            duration: Duration::from_secs_f64(run.seconds),
            phases: Vec::new(),
            job_steps_seconds: (!run.log.is_empty()).then(|| log.step_seconds(&run.log)),
            diagnosis: diagnosis.into_iter().collect(),
            bundle: None,
            notes,
            jobs: Vec::new(),
        });
    }
    (rows, summary)
}

/// The workflow's own row: failed when a job failed (naming them; their rows say why),
/// passed when a job passed and none failed, else skipped.
pub(super) fn outcome(rows: &[ScenarioResult]) -> Outcome {
    let failed: Vec<(&str, &str)> = rows
        .iter()
        .filter_map(|r| match &r.outcome {
            Outcome::Fail(why) => Some((r.name.as_str(), why.as_str())),
            _ => None,
        })
        .collect();
    if !failed.is_empty() {
        let names: Vec<String> = failed.iter().map(|(name, _)| format!("`{name}`")).collect();
        return Outcome::Fail(format!("{} of {} jobs failed: {}", failed.len(), rows.len(), names.join(", ")));
    }
    if rows.iter().any(|r| r.outcome == Outcome::Pass) {
        return Outcome::Pass;
    }
    Outcome::Skip("no job ran".into())
}

/// Every job's log, one after another with a header each: the bundle's `job.log`.
pub(super) fn joined_log(runs: &[JobRun]) -> String {
    runs.iter().map(|r| format!("=== job `{}`: {}\n{}", r.planned.row, r.ending, r.log)).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACT: crate::executor::act_log::ActLog = crate::executor::act_log::ActLog;

    fn plan_of(name: &str) -> WorkflowPlan {
        let path = crate::fixtures_dir().join("user-workflows/.forgejo/workflows").join(name);
        let text = std::fs::read_to_string(path).expect("fixture");
        plan::plan(&text, &["self-hosted".to_owned()]).expect("plan")
    }

    fn log(name: &str) -> String {
        std::fs::read_to_string(crate::fixtures_dir().join("user-workflows/act-logs").join(name)).expect("log")
    }

    /// Runs workflow fixture `name` with every executed job ending as recorded act log
    /// `log_name`; returns the rows executed and the runs.
    async fn every_job_ends_as(name: &str, exit_ok: bool, log_name: &str) -> (Vec<String>, Vec<JobRun>) {
        let plan = plan_of(name);
        let mut executed = Vec::new();
        let exec = async |job: &PlannedJob, _| {
            executed.push(job.row.clone());
            Ok(ActOut { exit_ok, finished: true, text: log(log_name) })
        };
        let runs = run_jobs(&plan, &ACT, Duration::from_secs(60), exec, |_| {}).await;
        (executed, runs)
    }

    /// Jobs run in order, a failed one's dependants are skipped, a never-picked one is
    /// not executed at all, and each row says which.
    #[tokio::test]
    async fn needs_failures_and_labels_decide_what_runs() {
        let (executed, runs) = every_job_ends_as("step-exit.yml", false, "step-exit.log").await;
        assert_eq!(executed, ["check"]);
        assert_eq!(runs[0].ending.to_string(), "failed: step `exits` exited with code 4; its last output: last words");
        assert_eq!(runs[1].ending.to_string(), "skipped: needs `check`, which failed");

        let (executed, runs) = every_job_ends_as("matrix-labels.yml", true, "succeeded.log").await;
        assert_eq!(executed, ["test (os=self-hosted, node=20)"]);
        assert!(matches!(&runs[1].ending, JobEnding::NeverPicked(w) if w.contains("`ubuntu-18.04`")));
        assert_eq!(runs[3].ending.to_string(), "skipped: needs `test`, which was never picked");
    }

    #[tokio::test]
    async fn a_job_past_its_timeout_minutes_names_the_step_it_was_in() {
        let plan = plan_of("timeout.yml");
        let mut limits = Vec::new();
        let runs = run_jobs(
            &plan,
            &ACT,
            Duration::from_secs(600),
            async |_: &PlannedJob, limit| {
                limits.push(limit);
                let text = "[timeout/slow] ⭐ Run Main echo started; sleep 120\n[timeout/slow]   | started\n";
                Ok(ActOut { exit_ok: false, finished: false, text: text.into() })
            },
            |_| {},
        )
        .await;
        assert_eq!(limits, [Duration::from_secs(6)]);
        assert_eq!(
            runs[0].ending.to_string(),
            "failed: the job did not finish within 6s (still in step `echo started; sleep 120`)"
        );
    }

    #[test]
    fn an_expected_failure_passes_and_an_expected_failure_that_succeeded_fails() {
        let plan = plan_of("step-exit.yml");
        let cause = Cause::StepFailed { step: "exits".into(), exit_code: Some(4), tail: vec![] };
        let runs = vec![
            JobRun {
                planned: plan.jobs[0].clone(),
                ending: JobEnding::Failed(cause),
                log: String::new(),
                seconds: 1.0,
            },
            JobRun {
                planned: plan.jobs[1].clone(),
                ending: JobEnding::Skipped("needs `check`, which failed".into()),
                log: String::new(),
                seconds: 0.0,
            },
        ];
        let mut item = RunItem::user_workflow(".".into(), "w.yml".into());
        let (rows, summary) = super::rows(&item, &runs, &ACT, "docker", "rootful");
        assert!(
            matches!(&rows[0].outcome, Outcome::Fail(w) if w.starts_with("check `job succeeded` failed: step `exits`"))
        );
        assert!(matches!(rows[1].outcome, Outcome::Skip(_)));
        assert!(matches!(overall(&summary), Outcome::Fail(w) if w.starts_with("check `check` failed")));
        assert!(
            matches!(outcome(&rows), Outcome::Fail(w) if w == "1 of 2 jobs failed: `check`"),
            "{:?}",
            outcome(&rows)
        );

        item.expect_failure = vec!["check".into()];
        let (rows, summary) = super::rows(&item, &runs, &ACT, "docker", "rootful");
        assert_eq!(rows[0].outcome, Outcome::Pass);
        assert!(rows[0].notes[0].starts_with("failed as expected: failed: step `exits`"), "{:?}", rows[0].notes);
        assert_eq!(overall(&summary), Outcome::Pass);
        assert_eq!(outcome(&rows), Outcome::Pass);

        let ok = vec![JobRun { ending: JobEnding::Succeeded, ..runs[0].clone() }];
        let (rows, _) = super::rows(&item, &ok, &ACT, "docker", "rootful");
        assert_eq!(
            rows[0].outcome,
            Outcome::Fail("expected to fail (--expect-failure check), but it succeeded".into())
        );
    }
}
