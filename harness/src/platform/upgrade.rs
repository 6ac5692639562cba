//! Upgrade validation on the Docker platform: the pod at version A runs the scenarios, its
//! containers are replaced by version B on the same volumes, and B must find DIND's image
//! store and the certificates intact and pass the scenarios again.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Deserialize;

use super::RunItem;
use super::docker::{DockerPlatform, PodRun};
use crate::config::{RunnerConfig, load_values};
use crate::docker::images::ImageKind;
use crate::docker::{DindMode, Pod, PodSpec};
use crate::pki::{self, PkiOptions};
use crate::report::ScenarioResult;
use crate::scenario::{Check, Evidence, Outcome, Platform, overall};

/// One side of an upgrade.
#[derive(Debug, Clone)]
pub struct UpgradeSide {
    pub dind: ImageKind,
    pub values: String,
    pub config: RunnerConfig,
}

#[derive(Debug, Clone)]
pub struct UpgradePair {
    pub name: String,
    pub from: UpgradeSide,
    pub to: UpgradeSide,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Matrix {
    docker: Vec<PairSpec>,
    kind: Vec<KindPair>,
}

/// A kind pair: the chart at `from`, `helm upgrade`d to `to`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindPair {
    pub name: String,
    /// A version of the run's chart reference, or a chart directory (a path under
    /// `fixtures/` or anywhere).
    pub from: String,
    pub to: String,
    /// The runner values file (under `fixtures/`) B is installed with; A's otherwise.
    #[serde(default)]
    pub to_values: Option<String>,
    /// The forgejo-runner versions the two chart versions deploy, where known.
    #[serde(default)]
    pub runner: Option<RunnerVersions>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunnerVersions {
    pub from: String,
    pub to: String,
}

impl KindPair {
    /// `side` as helm takes it: a directory (as given, or under `fixtures/`) or a version.
    pub fn resolve(side: &str) -> String {
        let under_fixtures = crate::fixtures_dir().join(side);
        match (Path::new(side).is_dir(), side.contains('/') && under_fixtures.is_dir()) {
            (false, true) => under_fixtures.display().to_string(),
            _ => side.to_owned(),
        }
    }

    pub fn is_dirs(&self) -> bool {
        Path::new(&Self::resolve(&self.from)).is_dir() && Path::new(&Self::resolve(&self.to)).is_dir()
    }
}

fn read_matrix(path: &Path) -> Result<Matrix> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    serde_yaml::from_str(&text).map_err(|e| crate::user_error!("{}: {e}", path.display()))
}

/// The kind pairs of an upgrade matrix file (`fixtures/upgrades.yaml`).
pub fn kind_pairs(path: &Path) -> Result<Vec<KindPair>> {
    Ok(read_matrix(path)?.kind)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PairSpec {
    name: String,
    from: SideSpec,
    to: SideSpec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SideSpec {
    dind: String,
    values: String,
}

/// The Docker-platform pairs of an upgrade matrix file (`fixtures/upgrades.yaml`).
pub fn docker_pairs(path: &Path) -> Result<Vec<UpgradePair>> {
    let matrix = read_matrix(path)?;
    let side = |s: SideSpec| -> Result<UpgradeSide> {
        let dind = match s.dind.as_str() {
            "dind" => ImageKind::Dind,
            "dind-rootless" => ImageKind::DindRootless,
            other => {
                return Err(crate::user_error!("{}: dind is `dind` or `dind-rootless`, not `{other}`", path.display()));
            }
        };
        let values = load_values(&crate::fixtures_dir().join(&s.values)).map_err(|e| crate::user_error!("{e}"))?;
        Ok(UpgradeSide { dind, values: s.values, config: values.runner.config.file })
    };
    matrix.docker.into_iter().map(|p| Ok(UpgradePair { name: p.name, from: side(p.from)?, to: side(p.to)? })).collect()
}

impl DockerPlatform {
    /// Runs `items` at A, upgrades in place to B, asserts what must survive, runs them again.
    pub async fn run_upgrade(&self, pair: &UpgradePair, items: &[RunItem]) -> ScenarioResult {
        let start = Instant::now();
        let name = format!("upgrade:{}", pair.name);
        let mut checks = Vec::new();
        let mut logs = Vec::new();
        let error = self.upgrade_steps(&name, pair, items, &mut checks, &mut logs).await.err();
        let outcome = match &error {
            Some(e) => Outcome::Fail(format!("{e:#}")),
            None => overall(&checks),
        };
        let bundle = match &outcome {
            Outcome::Fail(_) => {
                let dir = self.out_dir.join("bundles").join(name.replace(':', "_"));
                let files: Vec<(&str, String)> =
                    logs.iter().map(|(n, l): &(String, String)| (n.as_str(), l.clone())).collect();
                crate::report::write_bundle(&dir, &files).ok()
            }
            _ => None,
        };
        let note =
            format!("{} ({}) -> {} ({})", pair.from.values, pair.from.dind.dir(), pair.to.values, pair.to.dind.dir());
        upgrade_row(name, Platform::Docker, self.dind, outcome, checks, bundle, note, start)
    }

    async fn upgrade_steps(
        &self,
        name: &str,
        pair: &UpgradePair,
        items: &[RunItem],
        checks: &mut Vec<Check>,
        logs: &mut Vec<(String, String)>,
    ) -> Result<()> {
        let tls = pki::generate(&PkiOptions::default())?;
        let base = format!("fe2e-{}-{}", self.run_id, name.replace(':', "-"));
        let (certs, data) = (format!("{base}-certs"), format!("{base}-data"));
        let result = async {
            self.say(name, format!("A: {} with {}", pair.from.dind.dir(), pair.from.values));
            let a = self.side_pod(name, "a", &pair.from, Some(&tls), &certs, &data).await?;
            let before = fingerprint(&a).await;
            self.side_jobs(name, "A", &a, &pair.from.config, items, checks, logs).await;
            logs.push(("a-dind.log".into(), a.logs(&a.dind).await));
            a.remove().await?;

            self.say(
                name,
                format!(
                    "upgrade: replace the pod's containers with {} and {}, keeping its volumes",
                    pair.to.dind.dir(),
                    pair.to.values
                ),
            );
            let b = self.side_pod(name, "b", &pair.to, None, &certs, &data).await?;
            let after = fingerprint(&b).await;
            checks.push(Check::that(
                "upgrade: certificates survived (same server and client certificates)",
                before.is_some() && before == after,
                format!("before {before:?}, after {after:?}"),
            ));
            let mut run = self.empty_run();
            let loaded = self.prepare(name, &b, &mut run).await?;
            checks.push(Check::that(
                "upgrade: DIND's image store survived (job image present without loading)",
                !loaded,
                "B had to load the job image again: the image-store volume lost it",
            ));
            self.side_jobs(name, "B", &b, &pair.to.config, items, checks, logs).await;
            logs.push(("b-dind.log".into(), b.logs(&b.dind).await));
            b.remove().await
        }
        .await;
        for volume in [&certs, &data] {
            let opts = bollard::query_parameters::RemoveVolumeOptionsBuilder::default().force(true).build();
            let _ = self.docker.remove_volume(volume, Some(opts)).await;
        }
        result
    }

    async fn side_pod(
        &self,
        name: &str,
        side: &str,
        s: &UpgradeSide,
        tls: Option<&pki::TlsSet>,
        certs: &str,
        data: &str,
    ) -> Result<Pod> {
        let mode = if s.dind == ImageKind::DindRootless { DindMode::Rootless } else { DindMode::Rootful };
        let spec = PodSpec {
            run_id: &self.run_id,
            scenario: &format!("{}-{side}", name.replace(':', "-")),
            dind_image: self.images.get(s.dind),
            runner_image: self.images.get(ImageKind::Job),
            mode,
            privilege: self.privilege,
            seccomp: None,
            tls,
            certs_volume: Some(certs.to_owned()),
            data_volume: Some(data.to_owned()),
            dind_args: Vec::new(),
            dind_entrypoint: None,
            data_tmpfs: None,
            network: None,
            runner_script: None,
        };
        let pod = Pod::create(&self.docker, &spec).await?;
        pod.start().await?;
        if side == "a" {
            self.prepare(name, &pod, &mut self.empty_run()).await?;
        }
        Ok(pod)
    }

    #[allow(clippy::too_many_arguments)]
    async fn side_jobs(
        &self,
        name: &str,
        side: &str,
        pod: &Pod,
        config: &RunnerConfig,
        items: &[RunItem],
        checks: &mut Vec<Check>,
        logs: &mut Vec<(String, String)>,
    ) {
        for item in items {
            let nonce = format!("{}-{}-{side}", self.run_id, item.name);
            let mut run = self.empty_run();
            self.say(name, format!("{side}: {}", item.name));
            let result = self.run_job(item, &nonce, pod, &item.config(config), &mut run).await;
            logs.extend(run.logs.drain(..).map(|(n, l)| (format!("{side}-{}-{n}", item.name), l)));
            checks.push(side_check(format!("{side}: {}", item.name), result, run.evidence.as_ref(), item));
        }
    }
}

impl DockerPlatform {
    pub(super) fn empty_run(&self) -> PodRun {
        PodRun { gathered: super::conclude::Gathered::default(), dind_exit: None, deadlines: self.deadlines }
    }
}

/// SHA-256 of the server and client certificates as the runner container sees them.
async fn fingerprint(pod: &Pod) -> Option<String> {
    let cmd = ["sha256sum", "/certs/server/cert.pem", "/certs/client/cert.pem"].map(String::from);
    let out = pod.exec_runner(&cmd, &[], None, std::time::Duration::from_secs(20)).await.ok()?;
    out.success().then(|| out.output.split_whitespace().step_by(2).collect::<Vec<_>>().join(","))
}

/// The row of one upgrade, on any platform: its assertions and each side's items as checks.
#[allow(clippy::too_many_arguments)]
pub(super) fn upgrade_row(
    name: String,
    platform: Platform,
    dind: DindMode,
    outcome: Outcome,
    checks: Vec<Check>,
    bundle: Option<std::path::PathBuf>,
    note: String,
    start: Instant,
) -> ScenarioResult {
    ScenarioResult {
        name,
        platform: super::conclude::platform_name(platform).into(),
        dind: dind.name().into(),
        outcome,
        checks,
        duration: start.elapsed(),
        phases: Vec::new(),
        job_steps_seconds: None,
        diagnosis: Vec::new(),
        bundle,
        notes: vec![note],
        jobs: Vec::new(),
    }
}

/// One item's job on one side of an upgrade, as a check of the upgrade's row.
pub(super) fn side_check(label: String, result: Result<()>, evidence: Option<&Evidence>, item: &RunItem) -> Check {
    match (result, evidence) {
        (Err(e), _) => Check::fail(label, format!("{e:#}")),
        (Ok(()), Some(ev)) => match overall(&item.checks(ev)) {
            Outcome::Pass => Check::pass(label),
            Outcome::Fail(why) => Check::fail(label, why),
            Outcome::Skip(why) => Check::skip(label, why),
        },
        (Ok(()), None) => Check::fail(label, "the job left no evidence"),
    }
}
