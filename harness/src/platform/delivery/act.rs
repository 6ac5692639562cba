//! act, the offline stand-in: the workspace and act's binary copied into the pod's runner
//! container (the job image, idle), act started there by exec with the runner's
//! configuration, its output streamed (a fault's hook on a marker) and read as act's log.
//! Nothing is pushed and no forge is asked.

use std::time::{Duration, Instant};

use anyhow::Result;
use futures_util::future::LocalBoxFuture;

use crate::config::RunnerConfig;
use crate::docker::images::ImageKind;
use crate::docker::{Pod, archive};
use crate::executor::{Executor, Kind};
use crate::platform::RunItem;
use crate::platform::docker::{Delivery, DockerPlatform, Job, PodRun, RunnerContainer};
use crate::scenario::{Evidence, Platform};

/// act in the runner container.
pub(in crate::platform) struct ActDelivery {
    pub(in crate::platform) act: Box<dyn Executor>,
}

impl Delivery for ActDelivery {
    fn kind(&self) -> Kind {
        self.act.kind()
    }

    /// The job image, idle: act is copied in and started by exec.
    fn runner(&self, p: &DockerPlatform, _config: &RunnerConfig) -> RunnerContainer {
        RunnerContainer { image: p.images.get(ImageKind::Job).to_owned(), script: None, network: None }
    }

    fn run<'a>(&'a self, p: &'a DockerPlatform, job: Job<'a>, run: &'a mut PodRun) -> LocalBoxFuture<'a, Result<()>> {
        Box::pin(self.run_act(p, job, run))
    }
}

impl ActDelivery {
    async fn run_act(&self, p: &DockerPlatform, job: Job<'_>, run: &mut PodRun) -> Result<()> {
        let Job { item, nonce, pod, config, workspace, plan } = job;
        let job_image = p.images.get(ImageKind::Job);
        pod.upload(&pod.runner, "/", archive::from_dir(workspace, "workspace")?).await?;
        let binaries = self.act.binaries();
        let entries: Vec<archive::Entry> =
            binaries.iter().map(|(path, contents)| archive::Entry { path, contents, mode: 0o755, uid: 0 }).collect();
        pod.upload(&pod.runner, "/usr/local/bin", archive::from_entries(&entries)?).await?;
        if let Some(plan) = plan {
            return self.run_jobs(p, item, nonce, pod, config, plan, run).await;
        }

        let (cmd, deviations) = self.act.command(config, job_image, &item.workflow);
        run.notes.extend(deviations.into_iter().map(|d| d.0));
        let t = Instant::now();
        let name = item.name.clone();
        let kill_on = match item.variant.and_then(|v| v.fault).and_then(|f| f.hook()) {
            Some((key, crate::fault::Hook::KillDind)) => Some(key),
            _ => None,
        };
        let kill_marker = kill_on.map(|key| format!("E2E-MARK {nonce} {key}="));
        let trigger = item.variant.and_then(|v| v.fault).and_then(|f| f.trigger());
        let trigger_marker = trigger.map(|key| format!("E2E-MARK {nonce} {key}="));
        let trigger_seen = std::sync::atomic::AtomicBool::new(false);
        let (docker, dind) = (p.docker.clone(), pod.dind.clone());
        let mut on_line = |line: &str| {
            if trigger_marker.as_ref().is_some_and(|m| line.contains(m.as_str())) {
                trigger_seen.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            if kill_marker.as_ref().is_some_and(|m| line.contains(m.as_str())) {
                let (docker, dind) = (docker.clone(), dind.clone());
                tokio::spawn(async move {
                    docker.kill_container(&dind, None::<bollard::query_parameters::KillContainerOptions>).await
                });
            }
            if let Some(shown) = self.act.log().progress_line(line) {
                p.say(&name, format!("job {shown}"));
            }
        };
        let out = pod.exec_runner_streaming(&cmd, Some("/workspace"), run.deadlines.job, &mut on_line).await;
        run.trigger_seen = trigger_seen.load(std::sync::atomic::Ordering::Relaxed);
        let out = out?;
        if !out.success() && out.output.contains("Cannot connect to the Docker daemon") {
            // The daemon vanished mid-job: Docker may not have recorded DIND's exit yet.
            let gone =
                crate::wait::until("DIND's exit", Duration::from_secs(10), Duration::from_millis(200), || async {
                    Ok(if pod.running(&pod.dind).await? {
                        crate::wait::Poll::NotYet("running".into())
                    } else {
                        crate::wait::Poll::Ready(())
                    })
                });
            let _ = gone.await;
        }
        if !pod.running(&pod.dind).await.unwrap_or(false) {
            let code = pod.exit_code(&pod.dind).await.unwrap_or(-1);
            run.logs.push(("job.log", out.output.clone()));
            return Err(crate::failure::Failed::DindDied { how: format!("exit code {code}") }.into());
        }
        run.phases.push(("job".into(), t.elapsed().as_secs_f64()));
        run.logs.push(("job.log", out.output.clone()));
        if out.exit_code.is_none() {
            return Err(crate::failure::Failed::JobDeadline { after: run.deadlines.job, state: String::new() }.into());
        }
        run.evidence = Some(Evidence {
            platform: Platform::Docker,
            executor: self.act.kind(),
            dind: pod.mode,
            nonce: nonce.to_owned(),
            job_succeeded: out.success(),
            log: out.output,
        });
        Ok(())
    }

    /// A user's workflow job by job (see `jobs.rs`): each job's own file through act.
    #[allow(clippy::too_many_arguments)]
    async fn run_jobs(
        &self,
        p: &DockerPlatform,
        item: &RunItem,
        nonce: &str,
        pod: &Pod,
        config: &RunnerConfig,
        plan: &crate::workflow::plan::WorkflowPlan,
        run: &mut PodRun,
    ) -> Result<()> {
        let job_image = p.images.get(ImageKind::Job);
        let (_, deviations) = self.act.command(config, job_image, &item.workflow);
        run.notes.extend(deviations.into_iter().map(|d| d.0));
        let t = Instant::now();
        let exec = async |job: &crate::workflow::plan::PlannedJob, limit: Duration| {
            let (cmd, _) = self.act.command(config, job_image, &job.file);
            let mut show = |line: &str| {
                if let Some(shown) = self.act.log().progress_line(line) {
                    p.say(&item.name, format!("{} {shown}", job.row));
                }
            };
            let cmd = crate::executor::with_deadline(&cmd, limit);
            let out = pod.exec_runner_streaming(&cmd, Some("/workspace"), limit + Duration::from_secs(15), &mut show);
            let out = out.await?;
            let finished = out.exit_code.is_some() && !out.output.contains(crate::executor::DEADLINE_PASSED);
            Ok(crate::platform::jobs::ActOut { exit_ok: out.success(), finished, text: out.output })
        };
        let say = |m| p.say(&item.name, m);
        let runs = crate::platform::jobs::run_jobs(plan, self.act.log(), run.deadlines.job, exec, say).await;
        run.phases.push(("jobs".into(), t.elapsed().as_secs_f64()));
        let log = crate::platform::jobs::joined_log(&runs);
        run.logs.push(("job.log", log.clone()));
        if !pod.running(&pod.dind).await.unwrap_or(false) {
            let code = pod.exit_code(&pod.dind).await.unwrap_or(-1);
            return Err(crate::failure::Failed::DindDied { how: format!("exit code {code}") }.into());
        }
        run.evidence =
            Some(crate::platform::jobs::evidence(Platform::Docker, self.act.kind(), pod.mode, nonce, &runs, log));
        run.jobs = runs;
        Ok(())
    }
}
