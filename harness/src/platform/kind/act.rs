//! act on kind, the offline stand-in: the workspace copied into the chart's runner
//! container (the job image, idle, act copied in when the pod was readied), act started
//! there through `kubectl exec` with the run's configuration, its output streamed (a
//! fault's hook on a marker: DIND killed through containerd, the API server stopped) and
//! read as act's log. Nothing is pushed and no forge is asked.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures_util::future::LocalBoxFuture;

use super::release::{Release, exec_args};
use super::{Delivery, Job, KindPlatform, one_line};
use crate::config::{ChartValues, RunnerConfig};
use crate::docker::archive;
use crate::executor::{Executor, Kind};
use crate::fault::{Deadlines, Hook};
use crate::platform::RunItem;
use crate::platform::conclude::{Gathered, path_safe};
use crate::scenario::{Evidence, Platform};
use crate::wait::{Poll, until};

/// act in the chart's runner container.
pub(super) struct ActDelivery {
    pub(super) act: Box<dyn Executor>,
}

impl Delivery for ActDelivery {
    fn kind(&self) -> Kind {
        self.act.kind()
    }

    /// The job image: act is copied in and started by exec.
    fn runner_image<'a>(&'a self, p: &'a KindPlatform) -> &'a str {
        &p.job_image
    }

    fn binaries(&self) -> Vec<(&'static str, &[u8])> {
        self.act.binaries()
    }

    /// No forge: the chart gets a `.runner` made offline.
    fn registration_token<'a>(&'a self, _namespace: &'a str) -> LocalBoxFuture<'a, Result<String>> {
        Box::pin(async { Ok(String::new()) })
    }

    fn shape_values(&self, _p: &KindPlatform, _namespace: &str, _values: &mut ChartValues) {}

    /// act has no forge (`Fault::not_on` keeps the faults that stop one off it).
    fn own_forge<'a>(&'a self, _namespace: &'a str) -> LocalBoxFuture<'a, Result<String>> {
        Box::pin(async { anyhow::bail!("act has no forge to give an install of its own") })
    }

    fn own_forge_done<'a>(&'a self, _namespace: &'a str) -> LocalBoxFuture<'a, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    /// act takes each item's configuration on its command line.
    fn reads_chart_config(&self) -> bool {
        false
    }

    /// The runner container is the job image, with the docker CLI and the chart's TLS env.
    fn cli<'a>(&self, r: &'a Release, argv: &[&'a str]) -> Vec<&'a str> {
        exec_args(r, "runner", argv)
    }

    fn run<'a>(&'a self, p: &'a KindPlatform, job: Job<'a>, run: &'a mut Gathered) -> LocalBoxFuture<'a, Result<()>> {
        Box::pin(p.run_act(self.act.as_ref(), job, run))
    }
}

impl KindPlatform {
    /// The workspace into the runner container, then act there through `kubectl exec`.
    async fn run_act(&self, act: &dyn Executor, job: Job<'_>, run: &mut Gathered) -> Result<()> {
        let Job { item, release: r, config, deadlines } = job;
        let nonce = format!("{}-{}", self.run_id, crate::sys::fresh_hex("", 3));
        let dir = path_safe(&item.name);
        let workspace = self.out_dir.join("workspaces").join(&dir);
        let plan = item.job_plan(config).transpose()?;
        item.lay_workspace(&workspace, &nonce, &self.job_image, &self.artifacts, plan.as_ref())?;
        let t = Instant::now();
        let tar = archive::from_dir(&workspace, &dir)?;
        let unpack = ["sh", "-c", "mkdir -p /work && tar -x -C /work"];
        self.exec_stdin(r, &unpack, tar, Duration::from_secs(60))
            .await
            .context("copy the workspace into the runner container")?;
        run.phases.push(("workspace upload".into(), t.elapsed().as_secs_f64()));
        if let Some(plan) = plan {
            return self.run_jobs(act, item, r, config, &plan, (&nonce, &dir), deadlines, run).await;
        }

        let (cmd, deviations) = act.command(config, &self.job_image, &item.workflow);
        run.notes.extend(deviations.into_iter().map(|d| d.0));
        let cwd = format!("/work/{dir}");
        // The deadline holds inside the container too: a killed kubectl leaves act running.
        let secs = (deadlines.job.as_secs() + 5).to_string();
        let mut argv = vec!["env", "-C", cwd.as_str(), "timeout", "-k", "5", secs.as_str()];
        argv.extend(cmd.iter().map(String::as_str));
        let args = exec_args(r, "runner", &argv);
        let hook = item.variant.and_then(|v| v.fault).and_then(|f| f.hook());
        let marker = hook.map(|(key, _)| format!("E2E-MARK {nonce} {key}="));
        let dind_before = match hook {
            Some((_, Hook::KillDind)) => Some(self.dind_container(r).await?),
            _ => None,
        };
        let control_plane = format!("{}-control-plane", self.cluster.name);
        let trigger = item.variant.and_then(|v| v.fault).and_then(|f| f.trigger());
        let trigger_marker = trigger.map(|key| format!("E2E-MARK {nonce} {key}="));
        let trigger_seen = std::sync::atomic::AtomicBool::new(false);
        let name = item.name.clone();
        let show = |line: &str| {
            if trigger_marker.as_ref().is_some_and(|m| line.contains(m.as_str())) {
                trigger_seen.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            if let (Some(marker), Some((_, action))) = (&marker, hook)
                && line.contains(marker.as_str())
            {
                let (node, id) = match (action, &dind_before) {
                    (Hook::KillDind, Some(dind)) => (dind.node.clone(), Some(dind.id.clone())),
                    _ => (control_plane.clone(), None),
                };
                tokio::spawn(async move { super::node::inject(&node, id.as_deref()).await });
            }
            if let Some(shown) = act.log().progress_line(line) {
                self.progress.say(format!("{name}: job {shown}"));
            }
        };
        let t = Instant::now();
        let out = run_with_deadline(self, &args, &name, deadlines.job, show).await;
        run.trigger_seen = trigger_seen.load(std::sync::atomic::Ordering::Relaxed);
        if let Some(before) = &dind_before {
            // Whether DIND's container ended during the job: the kubelet counts its restarts.
            let after = self.dind_restarted(r, before.restarts).await;
            if let Some(code) = after {
                if let Ok(o) = &out {
                    run.logs.push(("job.log", o.text.clone()));
                }
                let how = format!("exit code {code}; the kubelet restarts it");
                return Err(crate::failure::Failed::DindDied { how }.into());
            }
        }
        if out.as_ref().map_or(true, |o| !o.success)
            && let Some(outage) = self.api_outage().await
        {
            if let Ok(o) = &out {
                run.logs.push(("job.log", o.text.clone()));
            }
            return Err(crate::failure::Failed::ApiOutage { outage }.into());
        }
        let out = out?;
        run.phases.push(("job".into(), t.elapsed().as_secs_f64()));
        run.logs.push(("job.log", out.text.clone()));
        run.evidence = Some(Evidence {
            platform: Platform::Kind,
            executor: act.kind(),
            dind: self.dind,
            nonce,
            job_succeeded: out.success,
            log: out.text,
        });
        Ok(())
    }

    /// DIND's container as the kubelet reports it: node, containerd id, restarts so far.
    async fn dind_container(&self, r: &Release) -> Result<DindContainer> {
        let pod = self.kubectl().json(&["--namespace", &r.namespace, "get", "pod", &r.pod]).await?;
        let status = pod["status"]["containerStatuses"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["name"] == "dind")
            .context("the pod has no container named dind")?;
        Ok(DindContainer {
            node: pod["spec"]["nodeName"].as_str().context("the pod has no node")?.to_owned(),
            id: status["containerID"].as_str().unwrap_or_default().trim_start_matches("containerd://").to_owned(),
            restarts: status["restartCount"].as_u64().unwrap_or(0),
        })
    }

    /// After a failed `kubectl exec`: whether the cluster's API was down, and for how long
    /// it stayed down once seen (waited for, so the bundle and the next item find it back).
    async fn api_outage(&self) -> Option<String> {
        let k = self.kubectl();
        let readyz = || k.run(&["get", "--raw", "/readyz"], Duration::from_secs(5));
        let first = readyz().await.err()?;
        let t = Instant::now();
        let back = until("the cluster API answers again", Duration::from_secs(180), Duration::from_secs(2), || async {
            Ok(match readyz().await {
                Ok(_) => Poll::Ready(()),
                Err(e) => Poll::NotYet(one_line(&format!("{e:#}"))),
            })
        })
        .await;
        let seen = one_line(&format!("{first:#}"));
        Some(match back {
            Ok(()) => format!("{seen}; back after {:.0}s", t.elapsed().as_secs_f64()),
            Err(e) => format!("{seen}; {e:#}"),
        })
    }

    /// `Some(exit code)` once DIND's container has ended since it had `restarts` restarts.
    async fn dind_restarted(&self, r: &Release, restarts: u64) -> Option<i64> {
        let k = self.kubectl();
        until("DIND's restart", Duration::from_secs(20), Duration::from_millis(500), || async {
            let pod = k.json(&["--namespace", &r.namespace, "get", "pod", &r.pod]).await?;
            let dind =
                pod["status"]["containerStatuses"].as_array().into_iter().flatten().find(|c| c["name"] == "dind");
            let now = dind
                .map(|c| (c["restartCount"].as_u64().unwrap_or(0), c["lastState"]["terminated"]["exitCode"].as_i64()));
            Ok(match now {
                Some((n, code)) if n > restarts => Poll::Ready(code.unwrap_or(-1)),
                _ => Poll::NotYet("no restart".into()),
            })
        })
        .await
        .ok()
    }
}

struct DindContainer {
    node: String,
    id: String,
    restarts: u64,
}

/// `kubectl exec` of the job with its deadline; a missed deadline is the item's error.
impl KindPlatform {
    /// A user's workflow job by job (see `jobs.rs`), each through `kubectl exec`.
    #[allow(clippy::too_many_arguments)]
    async fn run_jobs(
        &self,
        act: &dyn Executor,
        item: &RunItem,
        r: &Release,
        config: &RunnerConfig,
        plan: &crate::workflow::plan::WorkflowPlan,
        (nonce, dir): (&str, &str),
        deadlines: Deadlines,
        run: &mut Gathered,
    ) -> Result<()> {
        let (_, deviations) = act.command(config, &self.job_image, &item.workflow);
        run.notes.extend(deviations.into_iter().map(|d| d.0));
        let cwd = format!("/work/{dir}");
        let t = Instant::now();
        let exec = async |job: &crate::workflow::plan::PlannedJob, limit: Duration| {
            let (cmd, _) = act.command(config, &self.job_image, &job.file);
            let mut argv = vec!["env".to_owned(), "-C".to_owned(), cwd.clone()];
            argv.extend(crate::executor::with_deadline(&cmd, limit));
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            let args = exec_args(r, "runner", &argv);
            let show = |line: &str| {
                if let Some(shown) = act.log().progress_line(line) {
                    self.progress.say(format!("{}: {} {shown}", item.name, job.row));
                }
            };
            let out = run_with_deadline(self, &args, &item.name, limit + Duration::from_secs(15), show).await?;
            let finished = !out.text.contains(crate::executor::DEADLINE_PASSED);
            Ok(super::super::jobs::ActOut { exit_ok: out.success, finished, text: out.text })
        };
        let say = |m: String| self.progress.say(format!("{}: {m}", item.name));
        let runs = super::super::jobs::run_jobs(plan, act.log(), deadlines.job, exec, say).await;
        run.phases.push(("jobs".into(), t.elapsed().as_secs_f64()));
        let log = super::super::jobs::joined_log(&runs);
        run.logs.push(("job.log", log.clone()));
        run.evidence = Some(Evidence {
            platform: Platform::Kind,
            executor: act.kind(),
            dind: self.dind,
            nonce: nonce.to_owned(),
            job_succeeded: runs.iter().all(|r| matches!(r.ending, super::super::jobs::JobEnding::Succeeded)),
            log,
        });
        run.jobs = runs;
        Ok(())
    }
}

async fn run_with_deadline(
    env: &KindPlatform,
    args: &[&str],
    name: &str,
    deadline: Duration,
    show: impl FnMut(&str),
) -> Result<crate::process::Output> {
    let cmd = env.kubectl().command(args);
    match crate::process::run_with(cmd, &format!("{name}: act"), deadline, None, show, Some(&env.progress)).await {
        Ok(o) => Ok(o),
        Err(e) => {
            let state = one_line(&format!("{e:#}"));
            Err(crate::failure::Failed::JobDeadline { after: deadline, state }.into())
        }
    }
}
