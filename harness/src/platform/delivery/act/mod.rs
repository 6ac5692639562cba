//! act, the offline stand-in, on either platform: act's binary copied into the pod's runner
//! container (the job image, idle) once the pod is ready; per item the workspace copied
//! in, act started there with the item's configuration, its output streamed (a fault's
//! action on its trigger) and read as act's log. Nothing is pushed and no forge is asked.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures_util::future::LocalBoxFuture;

use super::Delivered;
use crate::config::RunnerConfig;
use crate::docker::archive;
use crate::executor::{DEADLINE_PASSED, Executor, Kind, with_deadline};
use crate::failure::Failed;
use crate::platform::conclude::{Gathered, path_safe};
use crate::platform::jobs::{self, ActOut};
use crate::platform::pod::{PodContainer, PodExec, PodHandle, settled_death};
use crate::scenario::Evidence;

mod docker;
mod kind;

/// act in the runner container.
pub(in crate::platform) struct ActDelivery {
    pub(in crate::platform) act: Box<dyn Executor>,
}

/// How long the harness waits for `docker exec`/`kubectl exec` beyond the in-container deadline.
const EXEC_GRACE: Duration = Duration::from_secs(15);

impl ActDelivery {
    pub(in crate::platform) fn kind(&self) -> Kind {
        self.act.kind()
    }

    /// act's binaries into the runner container, once per pod.
    pub(in crate::platform) fn ready<'a>(&'a self, pod: &'a dyn PodHandle) -> LocalBoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let binaries = self.act.binaries();
            let entries: Vec<archive::Entry> = binaries
                .iter()
                .map(|(path, contents)| archive::Entry { path, contents, mode: 0o755, uid: 0 })
                .collect();
            let tar = archive::from_entries(&entries)?;
            pod.copy_in(PodContainer::Runner, "/usr/local/bin", tar).await.context("copy act into the runner container")
        })
    }

    /// The item's workspace into the runner container, then act there.
    pub(in crate::platform) fn run<'a>(
        &'a self,
        pod: &'a dyn PodHandle,
        job: Delivered<'a>,
        run: &'a mut Gathered,
    ) -> LocalBoxFuture<'a, Result<()>> {
        Box::pin(self.run_act(pod, job, run))
    }

    async fn run_act(&self, pod: &dyn PodHandle, job: Delivered<'_>, run: &mut Gathered) -> Result<()> {
        let dir = format!("work/{}", path_safe(&job.item.name));
        let t = Instant::now();
        let tar = archive::from_dir(job.workspace, &dir)?;
        pod.copy_in(PodContainer::Runner, "/", tar).await.context("copy the workspace into the runner container")?;
        run.phases.push(("workspace upload".into(), t.elapsed().as_secs_f64()));
        let cwd = format!("/{dir}");
        let (_, deviations) = self.act.command(job.config, job.job_image, &job.item.workflow);
        run.notes.extend(deviations.into_iter().map(|d| d.0));
        if let Some(plan) = job.plan {
            return self.run_jobs(pod, job, plan, &cwd, run).await;
        }

        let limit = job.deadlines.job;
        let cmd = self.command(job.config, job.job_image, &job.item.workflow, limit);
        let fault = job.fault();
        let trigger = fault.and_then(|f| f.trigger()).map(|key| job.marker(key));
        let switch = match fault.and_then(|f| f.hook()) {
            Some((key, hook)) => Some((job.marker(key), pod.switch(hook).await?)),
            None => None,
        };
        let before = pod.look().await?;
        let (seen, fired) = (AtomicBool::new(false), AtomicBool::new(false));
        let mut actions = Vec::new();
        let mut on_line = |line: &str| {
            if trigger.as_ref().is_some_and(|m| line.contains(m.as_str())) {
                seen.store(true, Ordering::Relaxed);
            }
            if let Some((marker, switch)) = &switch
                && line.contains(marker.as_str())
                && !fired.swap(true, Ordering::Relaxed)
            {
                job.say("fault: fired (the job printed its trigger)");
                actions.push(tokio::spawn(switch()));
            }
            if let Some(shown) = self.act.log().progress_line(line) {
                job.say(format!("job {shown}"));
            }
        };
        let t = Instant::now();
        let exec = PodExec { argv: &cmd, env: &[], cwd: Some(&cwd), deadline: limit + EXEC_GRACE };
        let out = pod.exec(PodContainer::Runner, exec, &mut on_line).await;
        run.trigger_seen = seen.load(Ordering::Relaxed);
        for action in actions {
            if let Ok(Err(e)) = action.await {
                run.notes.push(format!("fault: {e:#}"));
            }
        }
        let out = out?;
        run.logs.push(("job.log", out.output.clone()));
        if !out.success()
            && let Some(failed) = pod.outage().await
        {
            return Err(failed.into());
        }
        settled_death(pod, &before, fired.load(Ordering::Relaxed) && !out.success(), None).await?;
        if out.exit_code.is_none() || out.output.contains(DEADLINE_PASSED) {
            let state = out.output.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default().to_owned();
            return Err(Failed::JobDeadline { after: limit, state }.into());
        }
        run.phases.push(("job".into(), t.elapsed().as_secs_f64()));
        run.evidence = Some(Evidence {
            platform: pod.platform(),
            executor: self.act.kind(),
            dind: pod.mode(),
            nonce: job.nonce.to_owned(),
            job_succeeded: out.success(),
            log: out.output,
        });
        Ok(())
    }

    /// A user's workflow job by job (see `jobs.rs`): each job's own file through act.
    async fn run_jobs(
        &self,
        pod: &dyn PodHandle,
        job: Delivered<'_>,
        plan: &crate::workflow::plan::WorkflowPlan,
        cwd: &str,
        run: &mut Gathered,
    ) -> Result<()> {
        let before = pod.look().await?;
        let t = Instant::now();
        let exec = async |planned: &crate::workflow::plan::PlannedJob, limit: Duration| {
            let cmd = self.command(job.config, job.job_image, &planned.file, limit);
            let mut show = |line: &str| {
                if let Some(shown) = self.act.log().progress_line(line) {
                    job.say(format!("{} {shown}", planned.row));
                }
            };
            let exec = PodExec { argv: &cmd, env: &[], cwd: Some(cwd), deadline: limit + EXEC_GRACE };
            let out = pod.exec(PodContainer::Runner, exec, &mut show).await?;
            let finished = out.exit_code.is_some() && !out.output.contains(DEADLINE_PASSED);
            Ok(ActOut { exit_ok: out.success(), finished, text: out.output })
        };
        let say = |m: String| job.say(m);
        let runs = jobs::run_jobs(plan, self.act.log(), job.deadlines.job, exec, say).await;
        run.phases.push(("jobs".into(), t.elapsed().as_secs_f64()));
        let log = jobs::joined_log(&runs);
        run.logs.push(("job.log", log.clone()));
        settled_death(pod, &before, false, None).await?;
        run.evidence = Some(jobs::evidence(pod.platform(), self.act.kind(), pod.mode(), job.nonce, &runs, log));
        run.jobs = runs;
        Ok(())
    }

    /// act's command line for `workflow`, ended inside the container at `limit`.
    fn command(&self, config: &RunnerConfig, job_image: &str, workflow: &str, limit: Duration) -> Vec<String> {
        with_deadline(&self.act.command(config, job_image, workflow).0, limit)
    }
}
