//! A user's workflow job by job through a Forgejo, for the real runner on either platform:
//! each job's own workflow file committed as the repository's only workflow and pushed, its
//! run watched, and the same rows as act's (`jobs.rs`).

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::executor::{Cause, Ending, LogFormat};
use crate::failure::Failed;
use crate::forge::push::{JobLog, PushedRun};
use crate::forge::{Forge, RunStatus, Task, push};
use crate::platform::jobs::{ActOut, JobEnding, JobRun};
use crate::workflow::plan::{PlannedJob, WorkflowPlan};

/// Said on every such row: what this way of running does not exercise.
pub(super) const NOTE: &str = "jobs pushed one at a time in `needs:` order, as the harness runs them with act: \
                               Forgejo's own scheduling of `needs:` is not exercised";

/// Where the jobs are pushed: `owner/repo` through `api`, from the committed `workspace`.
pub(super) struct Target<'a> {
    pub(super) api: &'a Forge,
    pub(super) owner: &'a str,
    pub(super) repo: &'a str,
    pub(super) workspace: &'a Path,
}

/// Every job of `plan` that runs, in turn, pushed to `to` and watched (with `alive` at
/// every poll: the runner's or the pod's death ends the watch). `say` reports each step.
pub(super) async fn run_jobs<A>(
    to: Target<'_>,
    plan: &WorkflowPlan,
    log: &dyn LogFormat,
    deadline: Duration,
    alive: A,
    say: impl Fn(String),
) -> Vec<JobRun>
where
    A: AsyncFn(&[Task]) -> Result<()>,
{
    let exec = async |job: &PlannedJob, limit: Duration| {
        push::commit_one_job(to.workspace, &job.file, &job.row).await?;
        let sha = push::push(to.api, to.owner, to.owner, to.repo, to.workspace).await?;
        say(format!("job `{}`: pushed {}", job.row, &sha[..sha.len().min(12)]));
        match push::watch(to.api, to.owner, to.repo, &sha, limit, async |t: &[Task]| alive(t).await).await {
            Ok(p) => Ok(ActOut { exit_ok: p.succeeded(), finished: true, text: p.joined_log() }),
            // Past its deadline: a timeout row, as act's.
            Err(e) if matches!(Failed::of(&e), Some(Failed::JobDeadline { after, .. }) if *after == limit) => {
                Ok(ActOut { exit_ok: false, finished: false, text: format!("{e:#}") })
            }
            Err(e) => Err(e),
        }
    };
    crate::platform::jobs::run_jobs(plan, log, deadline, exec, &say).await
}

/// Said on every row of a workflow the forge scheduled.
pub(super) const SCHEDULED_NOTE: &str = "the workflow pushed whole: the forge scheduled its jobs (`needs:` with their \
                                         outputs, matrices, `if:`) and the runner ran them";

/// A user's workflow as the forge schedules it, for a forge that lists the jobs no runner
/// took: the file pushed whole as the repository's only workflow, every job the forge
/// makes of it (matrix combinations, `needs:` with outputs, `if:`) watched until each is
/// final or can no longer move, one row per job. A job's `timeout-minutes` is the
/// harness's to enforce, as with act (the runner does not): past it, that job's row is a
/// timeout and the watch ends. `served` are the runner's labels.
#[allow(clippy::too_many_arguments)]
pub(super) async fn run_scheduled<A>(
    to: Target<'_>,
    workflow: &str,
    plan: &WorkflowPlan,
    served: Vec<String>,
    log: &dyn LogFormat,
    deadline: Duration,
    alive: A,
    say: impl Fn(String),
) -> Result<Vec<JobRun>>
where
    A: AsyncFn(&[Task]) -> Result<()>,
{
    push::commit_one_job(to.workspace, workflow, "the whole workflow").await?;
    let sha = push::push(to.api, to.owner, to.owner, to.repo, to.workspace).await?;
    say(format!("pushed {} with the whole workflow: the forge schedules its jobs", &sha[..sha.len().min(12)]));
    let mut started: HashMap<i64, Instant> = HashMap::new();
    // The job past its `timeout-minutes`, and that limit.
    let mut late: Option<(String, Duration)> = None;
    let mut last: Vec<Task> = Vec::new();
    let during = async |tasks: &[Task]| -> Result<()> {
        alive(tasks).await?;
        last = tasks.to_vec();
        for t in tasks.iter().filter(|t| t.status() == RunStatus::Running) {
            let since = *started.entry(t.id).or_insert_with(Instant::now);
            let limit = planned_for(plan, &t.name).and_then(|p| p.timeout);
            if let Some(limit) = limit.filter(|l| since.elapsed() > *l) {
                late = Some((t.name.clone(), limit));
                return Err(Failed::JobDeadline { after: limit, state: String::new() }.into());
            }
        }
        Ok(())
    };
    let until = push::Until::Settled { served: served.clone() };
    let watched = push::watch_until(to.api, to.owner, to.repo, &sha, deadline, until, during).await;
    let forge = to.api.dialect().name();
    let jobs: Vec<JobLog> = match (watched, &late) {
        (Ok(run), _) => run.jobs,
        // Past a job's `timeout-minutes`: the others as last seen.
        (Err(_), Some(_)) => last
            .iter()
            .map(|t| JobLog {
                name: t.name.clone(),
                status: t.status(),
                failed_step: None,
                labels: t.labels.clone(),
                runner: t.runner.clone(),
                log: String::new(),
            })
            .collect(),
        (Err(e), None) => return Err(e),
    };
    let mut runs = Vec::new();
    for job in &jobs {
        let mut planned = planned_for(plan, &job.name).cloned().unwrap_or_else(|| unplanned(&job.name));
        planned.notes = vec![SCHEDULED_NOTE.to_owned()];
        let one = PushedRun { sha: sha.clone(), run_number: 0, jobs: vec![job.clone()] }.joined_log();
        let ending = match &job.status {
            _ if late.as_ref().is_some_and(|(name, _)| *name == job.name) => {
                let seconds = late.as_ref().map_or(0, |(_, limit)| limit.as_secs());
                JobEnding::Failed(Cause::Timeout { seconds, step: None })
            }
            RunStatus::Success => JobEnding::Succeeded,
            RunStatus::Skipped => {
                JobEnding::Skipped(format!("{forge} skipped it (its `if:`, or its needs did not all succeed)"))
            }
            // The plan's words for it where it has them (the same `runs-on` evaluated).
            RunStatus::Waiting if job.labels.iter().any(|l| !served.contains(l)) => {
                JobEnding::NeverPicked(planned.picked.clone().err().unwrap_or_else(|| {
                    format!(
                        "never picked: no runner has its labels {:?} (this runner: {})",
                        job.labels,
                        served.join(", ")
                    )
                }))
            }
            RunStatus::Blocked => blocked(forge, &planned, plan, &jobs),
            RunStatus::Waiting | RunStatus::Running => JobEnding::Skipped("not finished when the watch ended".into()),
            _ => match log.ending(&one, false) {
                Ending::Failed(cause) => JobEnding::Failed(cause),
                _ => JobEnding::Failed(Cause::Unexplained { line: format!("{forge} says {}", job.status.word()) }),
            },
        };
        say(format!("job `{}`: {ending}", planned.row));
        let seconds = if job.log.is_empty() { 0.0 } else { log.step_seconds(&one) };
        runs.push(JobRun { planned, ending, log: one, seconds });
    }
    Ok(runs)
}

/// A job the forge left blocked: skipped when a need did not succeed (as the forge would
/// skip it), else the forge never scheduled it although it could (Gitea 1.27.3 leaves a
/// matrix computed from another job's outputs blocked).
fn blocked(forge: &str, planned: &PlannedJob, plan: &WorkflowPlan, jobs: &[JobLog]) -> JobEnding {
    let failed_need = |need: &String| {
        jobs.iter()
            .filter(|j| planned_for(plan, &j.name).is_some_and(|p| p.job == *need))
            .any(|j| j.status != RunStatus::Success)
    };
    match planned.needs.iter().find(|n| failed_need(n)) {
        Some(need) => JobEnding::Skipped(format!("needs `{need}`, which did not succeed or was never picked")),
        None => JobEnding::Failed(Cause::NeverScheduled {
            forge: forge.to_owned(),
            why: "it stayed blocked although its needs succeeded: it asks for what this forge does not schedule (a \
                  matrix computed from another job's outputs?)"
                .into(),
        }),
    }
}

/// The planned job a job of the forge is: by row or id, or a matrix combination by its
/// values (the forge names it `test (self-hosted, 20)`, the plan `test (os=self-hosted, node=20)`).
fn planned_for<'a>(plan: &'a WorkflowPlan, forge_name: &str) -> Option<&'a PlannedJob> {
    if let Some(p) = plan.jobs.iter().find(|p| p.row == forge_name || p.job == forge_name) {
        return Some(p);
    }
    let (base, values) = split_row(forge_name)?;
    let mut want: Vec<&str> = values.split(", ").collect();
    want.sort_unstable();
    let combination = plan.jobs.iter().find(|p| {
        let Some((pbase, pvalues)) = split_row(&p.row) else { return false };
        let mut got: Vec<&str> = pvalues.split(", ").map(|kv| kv.split_once('=').map_or(kv, |(_, v)| v)).collect();
        got.sort_unstable();
        (pbase == base || p.job == base) && got == want
    });
    // A matrix the plan could not expand (an expression) is one row under the job's id.
    combination.or_else(|| plan.jobs.iter().find(|p| p.job == base && p.row == p.job))
}

/// `test (a, b)` as (`test`, `a, b`).
fn split_row(row: &str) -> Option<(&str, &str)> {
    row.strip_suffix(')')?.split_once(" (")
}

/// A job the plan has no row for (a matrix expanded only at run time): named as the forge names it.
fn unplanned(name: &str) -> PlannedJob {
    PlannedJob {
        row: name.to_owned(),
        job: split_row(name).map_or(name, |(base, _)| base).to_owned(),
        needs: Vec::new(),
        when: crate::workflow::plan::When::Success,
        timeout: None,
        picked: Ok(()),
        file: String::new(),
        contents: String::new(),
        notes: Vec::new(),
    }
}

/// A user's workflow through the forge, on either platform: scheduled by the forge where it
/// lists the jobs nobody took (a job no runner serves is seen waiting), else job by job,
/// each job's file pushed alone; the way taken goes into `notes`.
#[allow(clippy::too_many_arguments)]
pub(super) async fn run_workflow<A>(
    to: Target<'_>,
    workflow: &str,
    plan: &WorkflowPlan,
    config: &crate::config::RunnerConfig,
    deadline: Duration,
    alive: A,
    say: impl Fn(String),
    notes: &mut Vec<String>,
) -> Result<Vec<JobRun>>
where
    A: AsyncFn(&[Task]) -> Result<()>,
{
    let log = crate::executor::log_format(crate::executor::Kind::Runner);
    if to.api.dialect().lists_waiting_jobs() {
        notes.push(SCHEDULED_NOTE.into());
        let served: Vec<String> = config.labels().iter().map(|l| l.split(':').next().unwrap_or(l).to_owned()).collect();
        return run_scheduled(to, workflow, plan, served, log, deadline, alive, say).await;
    }
    notes.push(NOTE.into());
    Ok(run_jobs(to, plan, log, deadline, alive, say).await)
}

/// The end of one pushed commit's watch, on either platform: on error the job's log so far
/// goes to the bundle (the forge may be gone); else the time from the push to the runner's
/// first row (stamped when it took the job, by the forge's clock on this machine) becomes a
/// phase, and the joined log is the bundle's `job.log`. Returns that log and whether every
/// job succeeded.
pub(super) async fn watched(
    api: &Forge,
    (owner, repo, sha): (&str, &str, &str),
    watched: Result<PushedRun>,
    pushed_at: f64,
    run: &mut crate::platform::conclude::Gathered,
) -> Result<(String, bool)> {
    let pushed = match watched {
        Ok(p) => p,
        Err(e) => {
            if let Some(log) = push::log_so_far(api, owner, repo, sha).await {
                run.logs.push(("job.log", log));
            }
            return Err(e);
        }
    };
    let first_row = pushed.jobs.iter().find_map(|j| crate::executor::forgejo_log::first_row_at(&j.log));
    if let Some(at) = first_row {
        run.phases.push(("push to job start".into(), at - pushed_at));
    }
    // Which runner took the job, in the row: on kind the chart's pod (the test chart names
    // its runner after the pod).
    let runners: Vec<&str> = pushed.jobs.iter().filter_map(|j| j.runner.as_deref()).collect();
    if !runners.is_empty() {
        run.notes.push(format!("taken by runner {}", runners.join(", ")));
    }
    let log = pushed.joined_log();
    run.logs.push(("job.log", log.clone()));
    Ok((log, pushed.succeeded()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_of(file: &str) -> WorkflowPlan {
        let path = crate::fixtures_dir().join("user-workflows/.forgejo/workflows").join(file);
        let text = std::fs::read_to_string(path).expect("fixture");
        crate::workflow::plan::plan(&text, &["self-hosted".into(), "default".into()]).expect("plan")
    }

    #[test]
    fn the_forges_jobs_are_the_plans_rows() {
        let pipeline = plan_of("pipeline.yml");
        // Gitea names a combination by its values in the matrix's order; the plan by key=value.
        let row = |name: &str| planned_for(&pipeline, name).map(|p| p.row.clone());
        assert_eq!(row("test (self-hosted, 22)").as_deref(), Some("test (os=self-hosted, node=22)"));
        assert_eq!(row("test (22, self-hosted)").as_deref(), Some("test (os=self-hosted, node=22)"));
        assert_eq!(row("build").as_deref(), Some("build"));
        assert_eq!(row("test (self-hosted, 18)"), None);
        // A matrix the plan could not expand is the job's one row.
        let runtime = plan_of("runtime-matrix.yml");
        let name = "build (${{ fromJSON(needs.targets.outputs.list) }})";
        assert_eq!(planned_for(&runtime, name).map(|p| p.row.as_str()), Some("build"));
        assert_eq!(unplanned("deploy (eu)").job, "deploy");
    }

    #[test]
    fn a_blocked_job_is_skipped_after_a_failed_need_and_never_scheduled_after_good_ones() {
        let plan = plan_of("runtime-matrix.yml");
        let build = planned_for(&plan, "build").expect("planned").clone();
        let job = |name: &str, status: RunStatus| JobLog {
            name: name.into(),
            status,
            failed_step: None,
            labels: Vec::new(),
            runner: None,
            log: String::new(),
        };
        let ok = [job("targets", RunStatus::Success), job("build", RunStatus::Blocked)];
        let JobEnding::Failed(cause) = blocked("Gitea", &build, &plan, &ok) else { panic!("not failed") };
        assert_eq!(cause.kind(), "never-scheduled", "{cause}");
        let failed = [job("targets", RunStatus::Failure), job("build", RunStatus::Blocked)];
        assert!(matches!(blocked("Gitea", &build, &plan, &failed), JobEnding::Skipped(_)));
    }
}
