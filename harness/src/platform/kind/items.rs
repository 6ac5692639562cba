//! One item on kind: in the run's shared install, or — when its fault changes the pod — in
//! an install of its own; act in the runner container through `kubectl exec`; the logs a
//! bundle needs from the cluster; the shared pod brought back after a fault hit it.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::release::{NeverReady, Release, exec_args};
use super::{KindPlatform, RELEASE, one_line};
use crate::config::RunnerConfig;
use crate::docker::archive;
use crate::fault::{Deadlines, Hook, PodChange, deadlines_for};
use crate::platform::RunItem;
use crate::platform::conclude::{Gathered, Judge, path_safe};
use crate::report::ScenarioResult;
use crate::scenario::{Check, Evidence, Platform, PodSetup};
use crate::wait::{Poll, until};

impl KindPlatform {
    /// Why `item` is not carried out on kind, if it is not.
    pub(super) fn not_here(&self, item: &RunItem) -> Option<String> {
        if let Some(reason) = crate::platform::unmet_needs_on(item, Platform::Kind, self.dind, self.executor.kind()) {
            return Some(reason);
        }
        if item.scenario.is_some_and(|s| s.setup == PodSetup::UsernsRestriction) {
            return Some("starts pods of its own under an injected seccomp profile: Docker platform only".into());
        }
        let v = item.variant?;
        (!v.dind_args.is_empty()).then(|| "changes dockerd's flags, which the chart has no value for".into())
    }

    /// Runs `item` (in the run's install, or in one of its own) and judges it.
    pub(super) async fn run_item(&self, item: &RunItem) -> ScenarioResult {
        let start = Instant::now();
        let fault = item.variant.and_then(|v| v.fault);
        let change = fault.map(|f| f.pod_change()).unwrap_or_default();
        // The real runner registered otherwise than the run's: an install of its own too.
        let registers_otherwise = fault.is_some_and(|f| {
            let c = f.forgejo_change();
            c.wrong_registration_token || c.runner_label.is_some()
        });
        let deadlines = deadlines_for(fault, self.deadlines);
        let config = item.config(&self.values.runner.config.file);
        // A registered runner reads the config.yaml its chart rendered: an item that changes
        // the configuration gets a chart install of its own with it (act takes it per job).
        let configured_otherwise = self.real.is_some() && config != self.values.runner.config.file;
        let mut run = Gathered::default();
        let mut own = None;
        let checks = if let Some(why) = item.label_mismatch(&config) {
            run.jobs = super::super::jobs::none_picked(item, &config);
            vec![Check::never_ran(why)]
        } else {
            let result = match change == PodChange::default() && !registers_otherwise && !configured_otherwise {
                true => match self.shared().await {
                    Ok(shared) => self.run_job(item, shared, &config, deadlines, &mut run).await,
                    Err(e) => Err(e),
                },
                false => self.in_own_install(item, change, &config, deadlines, &mut run, &mut own).await,
            };
            if let Err(e) = result {
                run.error = Some(e);
            }
            run.evidence.as_ref().map(|ev| item.checks(ev)).unwrap_or_default()
        };
        let failed = run.error.is_some() || run.evidence.as_ref().is_some_and(|e| !e.job_succeeded);
        let shared = self.shared.get().and_then(|r| r.as_ref().ok());
        if failed || item.variant.is_some() {
            let (namespace, pod) = match &own {
                Some((ns, r)) => (ns.clone(), r.as_ref().map(|r| r.pod.clone())),
                None => (self.shared_namespace.clone(), shared.map(|r| r.pod.clone())),
            };
            self.collect_logs(&namespace, pod.as_deref(), &mut run).await;
        }
        if let Some((ns, _)) = &own {
            let t = Instant::now();
            match self.remove(ns).await {
                Ok(()) => {
                    self.progress.say(format!("{}: removed {ns} in {:.1}s", item.name, t.elapsed().as_secs_f64()))
                }
                Err(e) => run.notes.push(format!("cleanup of {ns}: {e:#}")),
            }
        } else if let (true, Some(shared)) = (failed, shared)
            && let Err(e) = self.recover(shared).await
        {
            run.notes.push(format!("the shared pod did not recover: {e:#}"));
        }
        let judge = Judge {
            platform: Platform::Kind,
            dind: self.dind,
            signatures: &self.signatures,
            deadlines: self.deadlines,
            out_dir: &self.out_dir,
            progress: &self.progress,
        };
        judge.conclude(item, run, checks, Vec::new(), start)
    }

    /// A fault that changes the pod (or, with a registered runner, an item that changes the
    /// configuration) gets a chart install of its own, removed afterwards.
    async fn in_own_install(
        &self,
        item: &RunItem,
        change: PodChange,
        config: &RunnerConfig,
        deadlines: Deadlines,
        run: &mut Gathered,
        own: &mut Option<(String, Option<Release>)>,
    ) -> Result<()> {
        let variant = item.variant.map_or("item", |v| v.name);
        let mut namespace = format!("fe2e-{}-{variant}", self.run_id);
        namespace.truncate(63);
        *own = Some((namespace.clone(), None));
        let t = Instant::now();
        let forgejo = item.variant.and_then(|v| v.fault).map(|f| f.forgejo_change()).unwrap_or_default();
        let mut base = self.values.clone();
        if self.real.is_some() {
            base.runner.config.file = config.clone();
        }
        let values = super::real::registered_otherwise(&base, forgejo, &self.job_image);
        let release = self.install(&namespace, &self.chart, &values, change, deadlines).await;
        let release = match release {
            // The chart's registration (the test chart's `register` init container) ending
            // in error is the refusal; its last lines say the forge's words.
            Err(e)
                if forgejo.wrong_registration_token
                    && e.downcast_ref::<NeverReady>().is_some_and(|n| n.stuck.container == "register") =>
            {
                let pod = e.downcast_ref::<NeverReady>().map(|n| n.pod.clone()).unwrap_or_default();
                let args = ["--namespace", namespace.as_str(), "logs", pod.as_str(), "-c", "register", "--tail", "3"];
                let said = self.kubectl().run(&args, Duration::from_secs(20)).await.unwrap_or_default();
                anyhow::bail!(
                    "{}: the runner's registration in pod {pod} failed: {}",
                    crate::fault::REGISTRATION_REFUSED,
                    one_line(&self.redacted(said))
                )
            }
            r => r?,
        };
        run.phases.push(("install to ready".into(), t.elapsed().as_secs_f64()));
        let result = self.run_job(item, &release, config, deadlines, run).await;
        *own = Some((namespace, Some(release)));
        result
    }

    /// The workspace into the runner container, then act there through `kubectl exec`.
    pub(super) async fn run_job(
        &self,
        item: &RunItem,
        r: &Release,
        config: &RunnerConfig,
        deadlines: Deadlines,
        run: &mut Gathered,
    ) -> Result<()> {
        if let Some(real) = &self.real {
            return self.run_job_real(item, r, real, config, deadlines, run).await;
        }
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
            return self.run_jobs(item, r, config, &plan, (&nonce, &dir), deadlines, run).await;
        }

        let (cmd, deviations) = self.executor.command(config, &self.job_image, &item.workflow);
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
            if let Some(shown) = self.executor.log().progress_line(line) {
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
                anyhow::bail!("{} (exit code {code}; the kubelet restarts it)", crate::fault::DIND_DIED);
            }
        }
        if out.as_ref().map_or(true, |o| !o.success)
            && let Some(outage) = self.api_outage().await
        {
            if let Ok(o) = &out {
                run.logs.push(("job.log", o.text.clone()));
            }
            anyhow::bail!("{} ({outage}): kubectl exec lost the job", crate::fault::API_OUTAGE);
        }
        let out = out?;
        run.phases.push(("job".into(), t.elapsed().as_secs_f64()));
        run.logs.push(("job.log", out.text.clone()));
        run.evidence = Some(Evidence {
            platform: Platform::Kind,
            executor: self.executor.kind(),
            dind: self.dind,
            nonce,
            job_succeeded: out.success,
            log: out.text,
        });
        Ok(())
    }

    /// After a failed item in the shared pod: DIND answering again (a killed container is
    /// restarted by the kubelet), no job containers left, the job image still there.
    async fn recover(&self, r: &Release) -> Result<()> {
        let ready = self.ready(&r.namespace, self.deadlines).await?;
        anyhow::ensure!(ready.pod == r.pod, "the pod was replaced ({} now): the run's install is gone", ready.pod);
        let rm = ["sh", "-c", "ids=$(docker ps -aq); [ -z \"$ids\" ] || docker rm -f $ids >/dev/null"];
        self.kubectl().run(&self.cli_args(r, &rm), Duration::from_secs(60)).await?;
        Ok(())
    }

    /// What a failure bundle needs from the cluster: both containers' logs, the pod, events,
    /// the release's status and rendered manifests.
    pub(super) async fn collect_logs(&self, ns: &str, pod: Option<&str>, run: &mut Gathered) {
        let mut calls: Vec<(&'static str, Vec<&str>)> = Vec::new();
        if let Some(pod) = pod {
            calls.push(("dind.log", vec!["--namespace", ns, "logs", pod, "-c", "dind", "--tail", "300"]));
            calls.push(("runner.log", vec!["--namespace", ns, "logs", pod, "-c", "runner", "--tail", "300"]));
        }
        calls.push(("pods-describe.txt", vec!["--namespace", ns, "describe", "pods"]));
        calls.push(("events.txt", vec!["--namespace", ns, "get", "events", "--sort-by=.lastTimestamp"]));
        for (file, args) in calls {
            let text = self.kubectl().run(&args, Duration::from_secs(30)).await.unwrap_or_else(|e| format!("{e:#}"));
            run.logs.push((file, self.redacted(text)));
        }
        for (file, verb) in [("helm-status.txt", ["status", RELEASE]), ("helm-manifest.yaml", ["get", "manifest"])] {
            let mut cmd = tokio::process::Command::new(&self.helm);
            cmd.args(verb).args(if verb[0] == "get" { vec![RELEASE] } else { vec![] });
            cmd.args(["--namespace", ns, "--kubeconfig"]).arg(&self.kubectl().kubeconfig);
            let text = match crate::process::run(cmd, "helm", Duration::from_secs(30), None).await {
                Ok(o) => o.text,
                Err(e) => format!("{e:#}"),
            };
            run.logs.push((file, self.redacted(text)));
        }
    }

    /// `text` without the run's registration token, plain or base64 (the rendered
    /// manifests and the hook's logs carry it): a bundle never holds a secret.
    fn redacted(&self, text: String) -> String {
        match self.real.as_ref() {
            Some(forge) => forge.redact(text),
            None => text,
        }
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
        item: &RunItem,
        r: &Release,
        config: &RunnerConfig,
        plan: &crate::workflow::plan::WorkflowPlan,
        (nonce, dir): (&str, &str),
        deadlines: Deadlines,
        run: &mut Gathered,
    ) -> Result<()> {
        let (_, deviations) = self.executor.command(config, &self.job_image, &item.workflow);
        run.notes.extend(deviations.into_iter().map(|d| d.0));
        let cwd = format!("/work/{dir}");
        let t = Instant::now();
        let exec = async |job: &crate::workflow::plan::PlannedJob, limit: Duration| {
            let (cmd, _) = self.executor.command(config, &self.job_image, &job.file);
            let mut argv = vec!["env".to_owned(), "-C".to_owned(), cwd.clone()];
            argv.extend(crate::executor::with_deadline(&cmd, limit));
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            let args = exec_args(r, "runner", &argv);
            let show = |line: &str| {
                if let Some(shown) = self.executor.log().progress_line(line) {
                    self.progress.say(format!("{}: {} {shown}", item.name, job.row));
                }
            };
            let out = run_with_deadline(self, &args, &item.name, limit + Duration::from_secs(15), show).await?;
            let finished = !out.text.contains(crate::executor::DEADLINE_PASSED);
            Ok(super::super::jobs::ActOut { exit_ok: out.success, finished, text: out.text })
        };
        let say = |m: String| self.progress.say(format!("{}: {m}", item.name));
        let runs = super::super::jobs::run_jobs(plan, self.executor.log(), deadlines.job, exec, say).await;
        run.phases.push(("jobs".into(), t.elapsed().as_secs_f64()));
        let log = super::super::jobs::joined_log(&runs);
        run.logs.push(("job.log", log.clone()));
        run.evidence = Some(Evidence {
            platform: Platform::Kind,
            executor: self.executor.kind(),
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
            anyhow::bail!("{}: {}", crate::fault::did_not_finish(deadline), one_line(&format!("{e:#}")))
        }
    }
}
