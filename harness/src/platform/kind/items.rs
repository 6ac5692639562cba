//! One item on kind: in the run's shared install, or — when its fault changes the pod — in
//! an install of its own; act in the runner container through `kubectl exec`; the logs a
//! bundle needs from the cluster; the shared pod brought back after a fault hit it.

use std::time::{Duration, Instant};

use anyhow::Result;

use super::place::Place;
use super::release::{HELM_INSTALL, Release};
use super::{KindPlatform, one_line};
use crate::config::RunnerConfig;
use crate::failure::Failed;
use crate::fault::{Deadlines, PodChange, deadlines_for};
use crate::platform::RunItem;
use crate::platform::conclude::{Gathered, Judge};
use crate::report::ScenarioResult;
use crate::scenario::{Check, PodSetup};
use crate::wait::{Poll, until};

impl KindPlatform {
    /// Why `item` is not carried out on kind, if it is not.
    pub(super) fn not_here(&self, item: &RunItem) -> Option<String> {
        if let Some(reason) =
            crate::platform::unmet_needs_on(item, self.cluster.platform(), self.dind, self.delivery.kind())
        {
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
        // The real runner registered otherwise than the run's (a wrong token, another label,
        // a forge of its own to stop): an install of its own too.
        let registers_otherwise = fault.is_some_and(|f| {
            let c = f.forgejo_change();
            c.wrong_registration_token || c.runner_label.is_some() || c.own_instance
        });
        let deadlines = deadlines_for(fault, self.deadlines);
        let config = item.config(&self.values.runner.config.file);
        // A registered runner reads the config.yaml its chart rendered: an item that changes
        // the configuration gets a chart install of its own with it (act takes it per job).
        let configured_otherwise = self.delivery.reads_chart_config() && config != self.values.runner.config.file;
        let mut run = Gathered::default();
        let mut own = None;
        // A slot (one of the run's shared installs) for as long as the item runs.
        let slot = self.slots.take().await;
        let checks = if let Some(why) = item.label_mismatch(&config) {
            run.jobs = super::super::jobs::none_picked(item, &config);
            vec![Check::never_ran(why)]
        } else {
            let result = match change == PodChange::default() && !registers_otherwise && !configured_otherwise {
                true => match self.shared(slot.index).await {
                    Ok(shared) => self.run_job(item, shared, &config, deadlines, &mut run).await,
                    Err(e) => Err(e),
                },
                false => self.in_own_install(item, change, &config, deadlines, &mut run, &mut own).await,
            };
            if let Err(e) = result {
                run.error = Some(e);
            }
            if fault.is_some_and(|f| f.at_start().is_some()) {
                let place = own.as_ref().map_or(&self.slots.all[slot.index].place, |(p, _)| p);
                let (reached, causes) = self.start_facts(place, change, run.error.as_ref()).await;
                (run.reached, run.causes) = (reached, causes);
            }
            run.evidence.as_ref().map(|ev| item.checks(ev)).unwrap_or_default()
        };
        let failed = run.error.is_some() || run.evidence.as_ref().is_some_and(|e| !e.job_succeeded);
        let shared = self.slots.made(slot.index);
        if failed || item.variant.is_some() {
            let (place, pod) = match &own {
                Some((p, r)) => (p.clone(), r.as_ref().map(|r| r.pod.clone())),
                None => (self.slots.all[slot.index].place.clone(), shared.map(|r| r.pod.clone())),
            };
            self.collect_logs(&place, pod.as_deref(), &mut run).await;
        }
        if let Some((place, _)) = &own {
            let name = &place.release;
            // What the install reached was read above, if it was needed.
            self.reached.lock().unwrap_or_else(|e| e.into_inner()).remove(name);
            let t = Instant::now();
            if let Err(e) = self.delivery.own_forge_done(name).await {
                run.notes.push(format!("cleanup of {name}'s forge: {e:#}"));
            }
            match self.remove(place).await {
                Ok(()) => {
                    self.progress.say(format!("{}: removed {name} in {:.1}s", item.name, t.elapsed().as_secs_f64()))
                }
                Err(e) => run.notes.push(format!("cleanup of {name}: {e:#}")),
            }
        } else if let (true, Some(shared)) = (failed, shared)
            && let Err(e) = self.recover(shared).await
        {
            run.notes.push(format!("the shared pod did not recover: {e:#}"));
        }
        let judge = Judge {
            platform: self.cluster.platform(),
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
        own: &mut Option<(Place, Option<Release>)>,
    ) -> Result<()> {
        // Named for the item: two items with installs of their own may run at once.
        let place = self.places.place(&item.name);
        *own = Some((place.clone(), None));
        let t = Instant::now();
        let forgejo = item.variant.and_then(|v| v.fault).map(|f| f.forgejo_change()).unwrap_or_default();
        let mut base = self.values.clone();
        if self.delivery.reads_chart_config() {
            base.runner.config.file = config.clone();
        }
        let values = crate::platform::delivery::runner::kind::registered_otherwise(&base, forgejo, &self.job_image);
        if forgejo.own_instance {
            let t = Instant::now();
            let container = self.delivery.own_forge(&place.release).await?;
            run.phases.push(("own forge".into(), t.elapsed().as_secs_f64()));
            self.progress.say(format!("{}: a forge of its own beside the cluster: {container}", item.name));
        }
        let install = self.install(&place, &self.chart, &values, change, deadlines);
        // A registration the fault makes fail is named as soon as the registering container
        // ends in error, not after helm's timeout (a hook Job's other container waits on).
        let release = match forgejo.wrong_registration_token {
            true => tokio::select! {
                r = install => r,
                Some(failed) = self.registration_fails(&place) => return Err(failed),
            },
            false => install.await,
        };
        let release = match release {
            // The chart's registration ending in error is the refusal, in the words of the
            // registering container.
            Err(e) if forgejo.wrong_registration_token => match self.registration_failed(&place).await {
                Some(failed) => return Err(failed),
                None => return Err(e),
            },
            r => r?,
        };
        run.phases.push(("install to ready".into(), t.elapsed().as_secs_f64()));
        let result = self.run_job(item, &release, config, deadlines, run).await;
        *own = Some((place, Some(release)));
        result
    }

    /// [`Self::registration_failed`] once it has (polled every 2 s, for as long as helm may
    /// take); `None` if it never did.
    async fn registration_fails(&self, place: &Place) -> Option<anyhow::Error> {
        let failed = until("the chart's registration ends in error", HELM_INSTALL, Duration::from_secs(2), || async {
            Ok(match self.registration_failed(place).await {
                Some(said) => Poll::Ready(said),
                None => Poll::NotYet("no registering container ended in error".into()),
            })
        });
        failed.await.ok()
    }

    /// Where and how the chart's registration failed, if that is what the install ended in:
    /// a container of the install's pods that exited in error — the test chart's `register`
    /// init container, the wrenix chart's hook Job's `generate-config` — with its last words,
    /// a [`Failed::RegistrationRefused`] when they show the forge's refusal.
    async fn registration_failed(&self, place: &Place) -> Option<anyhow::Error> {
        let k = self.kubectl();
        let namespace = place.namespace.as_str();
        let pods = k.json(&["--namespace", namespace, "get", "pods", "-l", &place.selector()]).await.ok()?;
        let (pod, container) = pods["items"].as_array()?.iter().find_map(|p| {
            let statuses = ["initContainerStatuses", "containerStatuses"]
                .into_iter()
                .flat_map(|key| p["status"][key].as_array().into_iter().flatten());
            let failed = statuses.into_iter().find(|c| {
                [&c["state"]["terminated"], &c["lastState"]["terminated"]]
                    .iter()
                    .any(|t| t["exitCode"].as_i64().is_some_and(|code| code != 0))
            })?;
            Some((p["metadata"]["name"].as_str()?.to_owned(), failed["name"].as_str()?.to_owned()))
        })?;
        let args = ["--namespace", namespace, "logs", pod.as_str(), "-c", container.as_str(), "--tail", "3"];
        let said = self.redacted(k.run(&args, Duration::from_secs(20)).await.unwrap_or_default());
        // A refusal only when the forge answered the register call; any other end is not.
        Some(match crate::executor::forgejo_runner::registration_refusal(&said) {
            Some(refusal) => {
                Failed::RegistrationRefused { said: format!("{refusal} (container {container} of pod {pod})") }.into()
            }
            None => anyhow::anyhow!(
                "container {container} of pod {pod} failed without an answer from the forge: {}",
                one_line(&said)
            ),
        })
    }

    /// The job to the chart's pod the run's way (see [`super::Delivery`]); its log and
    /// conclusion go into `run`.
    pub(super) async fn run_job(
        &self,
        item: &RunItem,
        r: &Release,
        config: &RunnerConfig,
        deadlines: Deadlines,
        run: &mut Gathered,
    ) -> Result<()> {
        let nonce = format!("{}-{}", self.run_id, crate::sys::fresh_hex("", 3));
        let workspace = self.out_dir.join("workspaces").join(crate::platform::conclude::path_safe(&item.name));
        let plan = item.job_plan(config).transpose()?;
        item.lay_workspace(&workspace, &nonce, &self.job_image, &self.artifacts, plan.as_ref())?;
        let job = crate::platform::delivery::Delivered {
            item,
            nonce: &nonce,
            config,
            workspace: &workspace,
            plan: plan.as_ref(),
            job_image: &self.job_image,
            deadlines,
            progress: &self.progress,
        };
        self.delivery.run(self, &self.pod(r), job, run).await
    }

    /// After a failed item in the shared pod: DIND answering again (a killed container is
    /// restarted by the kubelet), no job containers left, the job image still there.
    async fn recover(&self, r: &Release) -> Result<()> {
        let ready = self.ready(&r.place, self.deadlines).await?;
        anyhow::ensure!(ready.pod == r.pod, "the pod was replaced ({} now): the run's install is gone", ready.pod);
        let rm = ["sh", "-c", "ids=$(docker ps -aq); [ -z \"$ids\" ] || docker rm -f $ids >/dev/null"];
        self.kubectl().run(&self.cli_args(r, &rm), Duration::from_secs(60)).await?;
        Ok(())
    }

    /// What a failure bundle needs from the cluster: both containers' logs, the pod, events,
    /// the release's status and rendered manifests.
    pub(super) async fn collect_logs(&self, place: &Place, pod: Option<&str>, run: &mut Gathered) {
        let (ns, release, selector) = (place.namespace.as_str(), place.release.as_str(), place.selector());
        let mut calls: Vec<(&'static str, Vec<&str>)> = Vec::new();
        // An install that never got Ready has no release pod: its newest pod tells.
        let newest = match pod {
            Some(pod) => Some(pod.to_owned()),
            None => self.newest_pod(place).await.map(|(name, _)| name),
        };
        if let Some(pod) = newest.as_deref() {
            calls.push(("dind.log", vec!["--namespace", ns, "logs", pod, "-c", "dind", "--tail", "300"]));
            calls.push(("runner.log", vec!["--namespace", ns, "logs", pod, "-c", "runner", "--tail", "300"]));
            // A runner that exited and restarts said why before its last end.
            let previous = ["--namespace", ns, "logs", pod, "-c", "runner", "--previous", "--tail", "300"];
            if let Ok(text) = self.kubectl().run(&previous, Duration::from_secs(30)).await {
                run.logs.push(("runner-previous.log", self.redacted(text)));
            }
        }
        calls.push(("pods-describe.txt", vec!["--namespace", ns, "describe", "pods", "-l", &selector]));
        calls.push(("events.txt", vec!["--namespace", ns, "get", "events", "--sort-by=.lastTimestamp"]));
        for (file, args) in calls {
            let mut text =
                self.kubectl().run(&args, Duration::from_secs(30)).await.unwrap_or_else(|e| format!("{e:#}"));
            if file == "events.txt" && place.theirs {
                // The user's namespace: only the events of the release's objects (their names
                // start with it), under the table's head.
                let lines = text.lines().enumerate().filter(|(i, l)| *i == 0 || l.contains(release));
                text = lines.map(|(_, l)| format!("{l}\n")).collect();
            }
            run.logs.push((file, self.redacted(text)));
        }
        for (file, verb) in [("helm-status.txt", "status"), ("helm-manifest.yaml", "manifest")] {
            let mut args = if verb == "status" { vec![verb] } else { vec!["get", verb] };
            args.extend([release, "--namespace", ns]);
            let cmd = self.kubectl().helm(&self.helm, &args);
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
        self.delivery.redact(text)
    }
}
