//! A chart upgrade on kind, the twin of the Docker platform's: the chart at A runs the
//! scenarios, `helm upgrade` takes it to B, what must survive is compared (the registration
//! Secret, the certificates, the runner's identity) and B runs the scenarios again.

use std::time::{Duration, Instant};

use anyhow::Result;

use super::release::{Release, exec_args};
use super::{KindPlatform, RELEASE};
use crate::config::ChartValues;
use crate::fault::PodChange;
use crate::kind::ChartSource;
use crate::platform::RunItem;
use crate::platform::conclude::Gathered;
use crate::platform::upgrade::{side_check, upgrade_row};
use crate::report::ScenarioResult;
use crate::scenario::{Check, Outcome, Platform, overall};

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
    registration: String,
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
        let mut namespace = format!("fe2e-{}-upgrade", self.run_id);
        namespace.truncate(63);
        let error = self.upgrade_steps(&name, up, &namespace, items, &mut checks, &mut logs).await.err();
        let mut outcome = match &error {
            Some(e) => Outcome::Fail(format!("{e:#}")),
            None => overall(&checks),
        };
        let bundle = match &outcome {
            Outcome::Fail(_) => {
                let mut run = Gathered::default();
                self.collect_logs(&namespace, None, &mut run).await;
                let mut files: Vec<(&str, String)> =
                    logs.iter().map(|(n, l): &(String, String)| (n.as_str(), l.clone())).collect();
                files.extend(run.logs.iter().map(|(n, l)| (*n, l.clone())));
                let dir = self.out_dir.join("bundles").join(name.replace(':', "_"));
                crate::report::write_bundle(&dir, &files).ok()
            }
            _ => None,
        };
        if let Err(e) = self.remove(&namespace).await {
            outcome = Outcome::Fail(format!("cleanup of {namespace}: {e:#}"));
        }
        let word = if matches!(outcome, Outcome::Pass) { "passed" } else { "FAILED" };
        self.progress.say(format!("{name}: {word} in {:.1}s", start.elapsed().as_secs_f64()));
        self.row(name, outcome, checks, bundle, up, start)
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
        upgrade_row(name, Platform::Kind, self.dind, outcome, checks, bundle, up.note.clone(), start)
    }

    async fn upgrade_steps(
        &self,
        name: &str,
        up: &KindUpgrade,
        namespace: &str,
        items: &[RunItem],
        checks: &mut Vec<Check>,
        logs: &mut Vec<(String, String)>,
    ) -> Result<()> {
        self.progress.say(format!("{name}: A: install {}", describe(&up.from)));
        let a = self.install(namespace, &up.from, &self.values, PodChange::default(), self.deadlines).await?;
        self.side_jobs(name, "A", &a, &self.values, items, checks, logs).await;
        let before = self.survivors(&a).await?;

        self.progress.say(format!("{name}: helm upgrade to {}", describe(&up.to)));
        let t = Instant::now();
        let b = self.upgrade(namespace, &up.to, &up.to_values, self.deadlines).await?;
        for (step, secs) in &b.timings {
            self.phase(&format!("upgrade: {step}"), *secs);
        }
        let revision = self.revision(namespace).await;
        checks.push(Check::that(
            "upgrade: helm upgrade to B, pod Ready",
            revision.as_deref() == Some("2"),
            format!("release revision {revision:?}, expected 2"),
        ));
        let replaced = if b.pod == a.pod { "the same pod (its template did not change)" } else { "a new pod" };
        self.progress.say(format!("{name}: upgraded in {:.1}s: {replaced} {}", t.elapsed().as_secs_f64(), b.pod));
        let after = self.survivors(&b).await?;
        let same =
            |what: &str, x: &str, y: &str| Check::that(what, x == y && !x.is_empty(), format!("before {x}, after {y}"));
        checks.push(same(
            "upgrade: registration Secret kept (same .runner)",
            &before.registration,
            &after.registration,
        ));
        checks.push(same(
            "upgrade: certificates survived (same server and client certificates)",
            &before.certs,
            &after.certs,
        ));
        checks.push(same(
            "upgrade: the runner's identity (uuid in its data dir) unchanged",
            &before.identity,
            &after.identity,
        ));
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
            self.progress.say(format!("{name}: {side}: {}", item.name));
            let mut run = Gathered::default();
            let config = item.config(&values.runner.config.file);
            let result = self.run_job(item, r, &config, self.deadlines, &mut run).await;
            logs.extend(run.logs.drain(..).map(|(n, l)| (format!("{side}-{}-{n}", item.name), l)));
            checks.push(side_check(format!("{side}: {}", item.name), result, run.evidence.as_ref(), item));
        }
    }

    /// SHA-256 of what must survive: the registration Secret's data, the certificates the
    /// runner container sees, and the `.runner` in the runner's data dir.
    async fn survivors(&self, r: &Release) -> Result<Survivors> {
        let k = self.kubectl();
        let secret = format!("{}-registration", self.kind_opts.cluster);
        let registration = k
            .run(
                &["--namespace", &r.namespace, "get", "secret", &secret, "-o", "jsonpath={.data}"],
                Duration::from_secs(20),
            )
            .await?;
        let sum = |files: &'static [&'static str]| async move {
            let mut argv = vec!["sha256sum"];
            argv.extend_from_slice(files);
            let out = k.run(&exec_args(r, "runner", &argv), Duration::from_secs(20)).await?;
            Ok::<_, anyhow::Error>(out.split_whitespace().step_by(2).collect::<Vec<_>>().join(","))
        };
        Ok(Survivors {
            registration: sha(&registration),
            certs: sum(&["/certs/server/cert.pem", "/certs/client/cert.pem"]).await?,
            // Where both charts' init container puts it (the runner's working directory).
            identity: sum(&["/data/.runner"]).await?,
        })
    }

    async fn revision(&self, namespace: &str) -> Option<String> {
        let mut cmd = tokio::process::Command::new(&self.helm);
        cmd.args(["status", RELEASE, "--namespace", namespace, "-o", "json", "--kubeconfig"])
            .arg(&self.kubectl().kubeconfig);
        let out = crate::process::run(cmd, "helm status", Duration::from_secs(30), None).await.ok()?;
        let doc: serde_json::Value = serde_json::from_str(&out.text).ok()?;
        doc["version"].as_u64().map(|v| v.to_string())
    }
}

fn describe(chart: &ChartSource) -> String {
    match &chart.version {
        Some(v) => format!("{} {v}", chart.reference),
        None => chart.reference.clone(),
    }
}

fn sha(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}
