//! A user's workflow job by job through a Forgejo, for the real runner on either platform:
//! each job's own workflow file committed as the repository's only workflow and pushed, its
//! run watched, and the same rows as act's (`jobs.rs`).

use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use super::jobs::{ActOut, JobRun};
use crate::executor::LogFormat;
use crate::fault::did_not_finish;
use crate::forge::{Forge, Task, push};
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
            Err(e) if format!("{e:#}").starts_with(&did_not_finish(limit)) => {
                Ok(ActOut { exit_ok: false, finished: false, text: format!("{e:#}") })
            }
            Err(e) => Err(e),
        }
    };
    super::jobs::run_jobs(plan, log, deadline, exec, &say).await
}
