//! A chart upgrade on kind, the twin of the Docker platform's: the chart at A runs the
//! scenarios, `helm upgrade` takes it to B, what must survive is compared (the registration
//! Secret, the certificates, the runner's identity) and B runs the scenarios again.

use std::time::{Duration, Instant};

use anyhow::Result;

use super::KindPlatform;
use super::place::Place;
use super::release::{Release, exec_args};
use crate::config::ChartValues;
use crate::fault::PodChange;
use crate::kind::ChartSource;
use crate::platform::RunItem;
use crate::platform::conclude::Gathered;
use crate::platform::upgrade::{side_check, upgrade_row};
use crate::report::ScenarioResult;
use crate::scenario::{Check, Outcome, overall};

/// One upgrade to carry out.
#[derive(Debug, Clone)]
pub struct KindUpgrade {
    pub name: String,
    pub from: ChartSource,
    pub to: ChartSource,
    /// The values B is installed with (A's when the pair names none).
    pub to_values: ChartValues,
    /// Said in the row: the versions, the runner they deploy, the values.
    pub note: String,
    /// Why it cannot be carried out here, if it cannot.
    pub skip: Option<String>,
}

/// What must be the same after the upgrade, read from the cluster and the pod.
#[derive(Debug, PartialEq, Eq)]
struct Survivors {
    /// The registration Secret's data, where the chart is given a `.runner` made offline.
    registration: Option<String>,
    certs: String,
    identity: String,
}

impl KindPlatform {
    pub(super) async fn run_upgrade(&self, up: &KindUpgrade, items: &[RunItem]) -> ScenarioResult {
        let start = Instant::now();
        let name = format!("upgrade:{}", up.name);
        if let Some(why) = &up.skip {
            self.progress.say(format!("{name}: skipped: {why}"));
            return self.row(name, Outcome::Skip(why.clone()), Vec::new(), None, up, start);
        }
        self.progress.say(format!("{name}: start ({})", up.note));
        let mut checks = Vec::new();
        let mut logs = Vec::new();
        let place = self.places.place("upgrade");
        let mut facts = Vec::new();
        let steps = self.upgrade_steps(&name, up, &place, items, &mut checks, (&mut logs, &mut facts));
        let error = steps.await.err();
        let mut outcome = match &error {
            Some(e) => Outcome::Fail(format!("{e:#}")),
            None => overall(&checks),
        };
        let bundle = match &outcome {
            Outcome::Fail(_) => {
                let mut run = Gathered::default();
                self.collect_logs(&place, None, &mut run).await;
                let mut files: Vec<(&str, String)> =
                    logs.iter().map(|(n, l): &(String, String)| (n.as_str(), l.clone())).collect();
                files.extend(run.logs.iter().map(|(n, l)| (*n, l.clone())));
                let dir = self.out_dir.join("bundles").join(name.replace(':', "_"));
                crate::report::write_bundle(&dir, &files).ok()
            }
            _ => None,
        };
        if let Err(e) = self.remove(&place).await {
            outcome = Outcome::Fail(format!("cleanup of {}: {e:#}", place.release));
        }
        let word = if matches!(outcome, Outcome::Pass) { "passed" } else { "FAILED" };
        self.progress.say(format!("{name}: {word} in {:.1}s", start.elapsed().as_secs_f64()));
        let mut up = up.clone();
        for fact in facts {
            up.note.push_str(&format!("; {fact}"));
        }
        self.row(name, outcome, checks, bundle, &up, start)
    }

    fn row(
        &self,
        name: String,
        outcome: Outcome,
        checks: Vec<Check>,
        bundle: Option<std::path::PathBuf>,
        up: &KindUpgrade,
        start: Instant,
    ) -> ScenarioResult {
        upgrade_row(name, self.cluster.platform(), self.dind, outcome, checks, bundle, up.note.clone(), start)
    }

    async fn upgrade_steps(
        &self,
        name: &str,
        up: &KindUpgrade,
        place: &Place,
        items: &[RunItem],
        checks: &mut Vec<Check>,
        (logs, facts): (&mut Vec<(String, String)>, &mut Vec<String>),
    ) -> Result<()> {
        self.progress.say(format!("{name}: A: install {}", up.from.describe()));
        let a = self.install(place, &up.from, &self.values, PodChange::default(), self.deadlines).await?;
        self.side_jobs(name, "A", &a, &self.values, items, checks, logs).await;
        let before = self.survivors(&a).await?;

        // A job in flight while the pod rolls (where jobs go through a forge).
        let in_flight = match items.iter().find(|i| i.scenario.is_some() && i.variant.is_none()) {
            Some(item) => self.delivery.start(self, item, &a).await?,
            None => None,
        };
        self.progress.say(format!("{name}: helm upgrade to {}", up.to.describe()));
        let t = Instant::now();
        let b = self.upgrade(place, &up.to, &up.to_values, self.deadlines).await?;
        for (step, secs) in &b.timings {
            self.phase(&format!("upgrade: {step}"), *secs);
        }
        let revision = self.revision(place).await;
        checks.push(Check::that(
            "upgrade: helm upgrade to B, pod Ready",
            revision.as_deref() == Some("2"),
            format!("release revision {revision:?}, expected 2"),
        ));
        let replaced = if b.pod == a.pod { "the same pod (its template did not change)" } else { "a new pod" };
        self.progress.say(format!("{name}: upgraded in {:.1}s: {replaced} {}", t.elapsed().as_secs_f64(), b.pod));
        if let Some(job) = &in_flight {
            let fate = self.delivery.fate(job, Duration::from_secs(180)).await?;
            // A job that did not succeed because its pod was replaced is what users would meet.
            let finding = if fate == super::Fate::Finished("success".into()) { "" } else { "FINDING " };
            let fact = format!("{finding}the job in flight on {} during the rollout: {fate}", job.runner);
            self.progress.say(format!("{name}: {fact}"));
            facts.push(fact);
            // It ended in a way the forge reports; a job the forge still holds as running
            // for minutes after its runner is gone is what a user would see as hung.
            checks.push(Check::that(
                "upgrade: the job in flight during the rollout came to an end the forge reports",
                !matches!(fate, super::Fate::Lost(_)),
                format!("the job on {} while helm upgrade rolled the pod: {fate}", job.runner),
            ));
        }
        if b.pod != a.pod {
            // B's jobs go to B's pod only once A's is gone: until then A's runner still asks
            // the forge for jobs.
            let outlived = self.replaced_pod_gone(&a).await?;
            if outlived > 2.0 {
                let fact = format!(
                    "FINDING the replaced pod's runner kept asking for jobs {outlived:.0}s after its DIND had \
                     stopped (its container's shell ignores SIGTERM): a job the forge handed it then failed with \
                     `Cannot connect to the Docker daemon`"
                );
                self.progress.say(format!("{name}: {fact}"));
                facts.push(fact);
            }
        }
        let after = self.survivors(&b).await?;
        let same =
            |what: &str, x: &str, y: &str| Check::that(what, x == y && !x.is_empty(), format!("before {x}, after {y}"));
        if let (Some(x), Some(y)) = (&before.registration, &after.registration) {
            checks.push(same("upgrade: registration Secret kept (same .runner)", x, y));
        }
        checks.push(same(
            "upgrade: certificates survived (same server and client certificates)",
            &before.certs,
            &after.certs,
        ));
        match self.delivery.reads_chart_config() {
            // A registered runner: the chart decides whether it keeps its identity (the test
            // chart registers per pod); B's jobs below show the runner B runs took them.
            true => {
                let fact = format!(
                    "the runner {} (its uuid {} -> {})",
                    if before.identity == after.identity { "kept its identity" } else { "re-registered" },
                    &before.identity[..before.identity.len().min(12)],
                    &after.identity[..after.identity.len().min(12)]
                );
                self.progress.say(format!("{name}: {fact}"));
                facts.push(fact);
            }
            false => checks.push(same(
                "upgrade: the runner's identity (uuid in its data dir) unchanged",
                &before.identity,
                &after.identity,
            )),
        }
        self.side_jobs(name, "B", &b, &up.to_values, items, checks, logs).await;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn side_jobs(
        &self,
        name: &str,
        side: &str,
        r: &Release,
        values: &ChartValues,
        items: &[RunItem],
        checks: &mut Vec<Check>,
        logs: &mut Vec<(String, String)>,
    ) {
        for item in items {
            let config = item.config(&values.runner.config.file);
            if self.delivery.reads_chart_config() && config != values.runner.config.file {
                let why = "its configuration is not the release's, and the runner reads only what the chart rendered \
                           (it runs in an install of its own in the plain run)";
                checks.push(Check::skip(format!("{side}: {}", item.name), why));
                continue;
            }
            self.progress.say(format!("{name}: {side}: {}", item.name));
            let mut run = Gathered::default();
            let result = self.run_job(item, r, &config, self.deadlines, &mut run).await;
            logs.extend(run.logs.drain(..).map(|(n, l)| (format!("{side}-{}-{n}", item.name), l)));
            checks.push(side_check(format!("{side}: {}", item.name), result, run.evidence.as_ref(), item));
        }
    }

    /// Waits for the replaced pod of `a` to be gone; returns for how long its runner
    /// container was seen running after its DIND container had stopped.
    async fn replaced_pod_gone(&self, a: &Release) -> Result<f64> {
        let k = self.kubectl();
        let dind_stopped: std::cell::Cell<Option<Instant>> = std::cell::Cell::new(None);
        let outlived = std::cell::Cell::new(0.0);
        let gone =
            crate::wait::until("the replaced pod is gone", Duration::from_secs(120), Duration::from_secs(1), || {
                let (dind_stopped, outlived) = (&dind_stopped, &outlived);
                async move {
                    let found = k
                        .run(
                            &[
                                "--namespace",
                                &a.place.namespace,
                                "get",
                                "pod",
                                &a.pod,
                                "-o",
                                "json",
                                "--ignore-not-found",
                            ],
                            Duration::from_secs(20),
                        )
                        .await?;
                    if found.trim().is_empty() {
                        return Ok(crate::wait::Poll::Ready(()));
                    }
                    let pod: serde_json::Value = serde_json::from_str(&found)?;
                    let running = |name: &str| {
                        pod["status"]["containerStatuses"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|c| c["name"] == name && !c["state"]["running"].is_null())
                    };
                    if !running("dind") && running("runner") {
                        let since = dind_stopped.get().unwrap_or_else(Instant::now);
                        dind_stopped.set(Some(since));
                        outlived.set(since.elapsed().as_secs_f64());
                    }
                    Ok(crate::wait::Poll::NotYet(format!("pod {} still there", a.pod)))
                }
            });
        gone.await?;
        Ok(outlived.get())
    }

    /// SHA-256 of what must survive: the registration Secret's data, the certificates the
    /// runner container sees, and the `.runner` in the runner's data dir.
    async fn survivors(&self, r: &Release) -> Result<Survivors> {
        let k = self.kubectl();
        let secret = r.place.secrets().registration;
        let registration = match self.kind_opts.registration {
            crate::kind::Registration::OfflineSecret => Some(sha(&k
                .run(
                    &["--namespace", &r.place.namespace, "get", "secret", &secret, "-o", "jsonpath={.data}"],
                    Duration::from_secs(20),
                )
                .await?)),
            crate::kind::Registration::Token => None,
        };
        let sum = |files: &'static [&'static str]| async move {
            let mut argv = vec!["sha256sum"];
            argv.extend_from_slice(files);
            let out = k.run(&exec_args(r, "runner", &argv), Duration::from_secs(20)).await?;
            Ok::<_, anyhow::Error>(out.split_whitespace().step_by(2).collect::<Vec<_>>().join(","))
        };
        Ok(Survivors {
            registration,
            certs: sum(&["/certs/server/cert.pem", "/certs/client/cert.pem"]).await?,
            identity: identity(
                &k.run(&exec_args(r, "runner", &["cat", "/data/.runner"]), Duration::from_secs(20)).await?,
            ),
        })
    }

    async fn revision(&self, place: &Place) -> Option<String> {
        let args = ["status", place.release.as_str(), "--namespace", place.namespace.as_str(), "-o", "json"];
        let cmd = self.kubectl().helm(&self.helm, &args);
        let out = crate::process::run(cmd, "helm status", Duration::from_secs(30), None).await.ok()?;
        let doc: serde_json::Value = serde_json::from_str(&out.text).ok()?;
        doc["version"].as_u64().map(|v| v.to_string())
    }
}

/// The runner's identity in its `.runner` (where both charts' init container puts it, the
/// runner's working directory): its uuid — the daemon rewrites the rest (its labels) at
/// start — or, for a file without one, a hash of the whole.
fn identity(runner_file: &str) -> String {
    serde_json::from_str::<serde_json::Value>(runner_file)
        .ok()
        .and_then(|v| v["uuid"].as_str().map(str::to_owned))
        .unwrap_or_else(|| sha(runner_file))
}

fn sha(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runner_is_known_by_the_uuid_in_its_runner_file() {
        let a = r#"{"id": 3, "uuid": "5c1e0a2e-1b8f-4c6a-9d1e-2f0e3b7a9c11", "labels": ["self-hosted"]}"#;
        let relabelled =
            r#"{"id": 3, "uuid": "5c1e0a2e-1b8f-4c6a-9d1e-2f0e3b7a9c11", "labels": ["self-hosted:docker://x"]}"#;
        assert_eq!(identity(a), identity(relabelled));
        assert_eq!(identity(a), "5c1e0a2e-1b8f-4c6a-9d1e-2f0e3b7a9c11");
        assert_eq!(identity("not json").len(), 64);
    }
}
