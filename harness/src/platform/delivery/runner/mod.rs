//! A runner registered with a forge, on either platform: the item's workspace pushed to
//! its repository (with a read-only token when the fault says so), the forge's jobs
//! watched until every one is final — at every poll the pod's containers looked at (DIND's
//! or the runner's death ends the watch) and a fault's action fired when the live log
//! shows its trigger — then every job's log is the evidence, judged by the same checks as
//! act's. A user's workflow is scheduled by the forge (`workflow.rs`). How the runner got
//! registered is the platform's: the harness plays the chart's part on Docker
//! (`docker.rs`), the chart registers it on kind (`kind.rs`).

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::Delivered;
use crate::executor::Kind;
use crate::fault::Hook;
use crate::forge::server::Server;
use crate::forge::{Task, push};
use crate::platform::conclude::Gathered;
use crate::platform::pod::{PodHandle, Switch, died, settled_death};
use crate::scenario::Evidence;

pub(in crate::platform) mod docker;
pub(in crate::platform) mod kind;
mod workflow;

/// The pod's containers are looked at most this often during a watch (on kind a look is
/// a `kubectl` process; the last look after the watch catches a late death).
const LOOK_EVERY: Duration = Duration::from_secs(1);

/// Where an item's jobs are pushed: a repository of `server`'s, whose runner is the pod's.
#[derive(Clone, Copy)]
pub(in crate::platform) struct Repository<'a> {
    pub(in crate::platform) server: &'a Server,
    pub(in crate::platform) owner: &'a str,
    pub(in crate::platform) repo: &'a str,
}

/// The item's job through the forge: pushed, watched, its jobs' logs the evidence.
pub(in crate::platform) async fn run_pushed(
    pod: &dyn PodHandle,
    to: Repository<'_>,
    job: Delivered<'_>,
    run: &mut Gathered,
) -> Result<()> {
    if let Some(plan) = job.plan {
        return run_workflow(pod, to, job, plan, run).await;
    }
    let Repository { server, owner, repo } = to;
    let api = &server.api;
    let fault = job.fault();
    let pusher = match fault.is_some_and(|f| f.forgejo_change().read_only_push) {
        true => server.read_only().await?,
        false => api.clone(),
    };
    let sha = push::push(&pusher, &server.spec.admin, owner, repo, job.workspace).await?;
    let pushed_at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs_f64();
    job.say(format!("pushed {} to {owner}/{repo}", &sha[..sha.len().min(12)]));
    let t = Instant::now();
    let before = pod.look().await?;
    let trigger = fault.and_then(|f| f.trigger()).map(|key| job.marker(key));
    let action = match fault.and_then(|f| f.hook()) {
        Some((_, hook)) => Some(Action::of(pod, server, hook).await?),
        None => None,
    };
    let (mut seen, mut looked) = (false, None::<Instant>);
    let during = async |tasks: &[Task]| -> Result<()> {
        if looked.is_none_or(|l| l.elapsed() >= LOOK_EVERY) {
            died(&before, &pod.look().await?, unfinished(tasks).as_deref())?;
            looked = Some(Instant::now());
        }
        let Some(marker) = trigger.as_deref().filter(|_| !seen) else { return Ok(()) };
        if push::printed(api, owner, repo, tasks, marker).await {
            seen = true;
            if let Some(action) = &action {
                job.say(format!("fault: {action} (the job printed its trigger)"));
                action.fire().await?;
            }
        }
        Ok(())
    };
    let watched = push::watch(api, owner, repo, &sha, job.deadlines.job, during).await;
    run.trigger_seen = seen;
    run.phases.push(("job".into(), t.elapsed().as_secs_f64()));
    let (log, succeeded) = workflow::watched(api, (owner, repo, &sha), watched, pushed_at, run).await?;
    let fired = seen && action.as_ref().is_some_and(Action::on_pod);
    settled_death(pod, &before, fired && !succeeded, Some("the job had ended")).await?;
    run.evidence = Some(Evidence {
        platform: pod.platform(),
        executor: Kind::Runner,
        dind: pod.mode(),
        nonce: job.nonce.to_owned(),
        job_succeeded: succeeded,
        log,
    });
    Ok(())
}

/// A user's workflow: scheduled by the forge where it lists the jobs nobody took, else job
/// by job (each job's own file pushed alone); one row per job either way.
async fn run_workflow(
    pod: &dyn PodHandle,
    to: Repository<'_>,
    job: Delivered<'_>,
    plan: &crate::workflow::plan::WorkflowPlan,
    run: &mut Gathered,
) -> Result<()> {
    let t = Instant::now();
    let target = workflow::Target { api: &to.server.api, owner: to.owner, repo: to.repo, workspace: job.workspace };
    let before = pod.look().await?;
    let looked = std::cell::Cell::new(None::<Instant>);
    let alive = async |tasks: &[Task]| {
        if looked.get().is_none_or(|l| l.elapsed() >= LOOK_EVERY) {
            died(&before, &pod.look().await?, unfinished(tasks).as_deref())?;
            looked.set(Some(Instant::now()));
        }
        Ok(())
    };
    let say = |m: String| job.say(m);
    let (workflow, config, deadline) = (&job.item.workflow, job.config, job.deadlines.job);
    let runs = workflow::run_workflow(target, workflow, plan, config, deadline, alive, say, &mut run.notes).await?;
    run.phases.push(("jobs".into(), t.elapsed().as_secs_f64()));
    let log = crate::platform::jobs::joined_log(&runs);
    run.logs.push(("job.log", log.clone()));
    died(&before, &pod.look().await?, Some("the jobs had ended"))?;
    run.evidence =
        Some(crate::platform::jobs::evidence(pod.platform(), Kind::Runner, pod.mode(), job.nonce, &runs, log));
    run.jobs = runs;
    Ok(())
}

/// A job the forge lists as not yet final, for a runner's death during it.
fn unfinished(tasks: &[Task]) -> Option<String> {
    let t = tasks.iter().find(|t| !t.status().is_final())?;
    Some(format!("the forge still lists job `{}` as {}", t.name, t.status))
}

/// A fault's action during a pushed job: on the pod, or the forge stopped.
enum Action<'a> {
    Pod(Hook, Switch),
    StopForge(&'a Server),
}

impl<'a> Action<'a> {
    async fn of(pod: &dyn PodHandle, server: &'a Server, hook: Hook) -> Result<Self> {
        Ok(match hook {
            Hook::StopForgejo => {
                // The run's forge serves every other item: only an item's own is stopped.
                anyhow::ensure!(server.spec.instance.is_some(), "the job runs on the run's forge, not one of its own");
                Action::StopForge(server)
            }
            hook => Action::Pod(hook, pod.switch(hook).await?),
        })
    }

    fn on_pod(&self) -> bool {
        matches!(self, Action::Pod(..))
    }

    async fn fire(&self) -> Result<()> {
        match self {
            Action::Pod(_, switch) => switch().await,
            Action::StopForge(server) => {
                server.stop(&crate::docker::connect().await?).await.context("stop the item's own forge")
            }
        }
    }
}

impl std::fmt::Display for Action<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Pod(hook, _) => write!(f, "{hook:?}"),
            Action::StopForge(_) => write!(f, "{:?}", Hook::StopForgejo),
        }
    }
}
