//! The scenario model both platforms share: a workspace with a workflow, what the scenario
//! needs, and assertions over the evidence a job leaves (its log and conclusion).

use crate::config::RunnerConfig;
use crate::docker::DindMode;

/// Where scenarios run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// The runner pod on a plain Docker engine.
    Docker,
    /// kind + Helm + Forgejo + the wrenix chart.
    Kind,
}

/// What executes workflows inside the runner container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Executor {
    /// nektos/act: the engine forgejo-runner forked; does not apply `valid_volumes`.
    Act,
    /// forgejo-runner itself (`exec` locally, `daemon` against Forgejo).
    ForgejoRunner,
}

impl Executor {
    pub fn name(self) -> &'static str {
        match self {
            Self::Act => "act",
            Self::ForgejoRunner => "forgejo-runner",
        }
    }

    /// Whether bind sources are filtered through `container.valid_volumes`.
    pub fn applies_valid_volumes(self) -> bool {
        self == Self::ForgejoRunner
    }
}

/// What a scenario requires; where unmet it is skipped with the reason.
#[derive(Debug, Clone, Copy, Default)]
pub struct Needs {
    /// Empty: every platform.
    pub platforms: &'static [Platform],
    /// Empty: both DIND modes.
    pub dind: &'static [DindMode],
}

/// How the pod is set up for a scenario, beyond the configured defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PodSetup {
    #[default]
    Standard,
    /// Rootless DIND twice: first under a seccomp profile that denies unprivileged user
    /// namespaces like Ubuntu 24.04's AppArmor restriction (it must fail, diagnosed), then
    /// with the fix (it must start and run the workflow).
    UsernsRestriction,
}

/// A deliberately broken copy of a scenario, kept as a negative test (or a control run):
/// it passes only when the scenario fails and a failure text or diagnosis id contains `expect`.
#[derive(Debug, Clone, Copy)]
pub struct Variant {
    pub name: &'static str,
    /// Files under `fixtures/workspaces/` laid over the scenario's workspace ("" for none).
    pub overlay: &'static str,
    /// A change to the runner configuration for this variant.
    pub config: Option<fn(&mut RunnerConfig)>,
    /// Extra dockerd flags for DIND (appended last, so they win): fault injection.
    pub dind_args: &'static [&'static str],
    pub expect: &'static str,
    /// Run on every run (a control that belongs to the scenario's claim), not only with
    /// `--negative`.
    pub always: bool,
    /// A fault the platform injects into the pod.
    pub fault: Option<Fault>,
}

/// Faults the Docker platform can inject; each must end in a failed scenario within a
/// bounded time, with a report that names the cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The TLS set expired ten days ago.
    ExpiredCerts,
    /// dockerd never starts (DIND's entrypoint only sleeps).
    DindNeverReady,
    /// The job hangs past its deadline (the variant's workflow sleeps).
    JobHangs,
    /// DIND is killed while the job runs (when the job prints `E2E-MARK sleeping=`).
    DindKilled,
    /// DIND's data root is a 64 MB tmpfs: loading the job image fills it.
    DiskFull,
}

/// A binary of this workspace the harness builds and puts into the job's workspace.
#[derive(Debug, Clone, Copy)]
pub struct Artifact {
    pub package: &'static str,
    pub bin: &'static str,
    /// Path inside the workspace.
    pub dest: &'static str,
}

/// One scenario, written once, run on every platform that meets its needs.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    pub name: &'static str,
    pub description: &'static str,
    pub needs: Needs,
    pub setup: PodSetup,
    /// Folder under `fixtures/workspaces/`: the repository the job checks out.
    pub workspace: &'static str,
    /// Workflow file inside the workspace.
    pub workflow: &'static str,
    /// Programs built from this workspace and shipped into the job's workspace.
    pub artifacts: &'static [Artifact],
    /// A scenario-specific change to the configured runner configuration.
    pub config: Option<fn(&mut RunnerConfig)>,
    pub check: fn(&Evidence) -> Vec<Check>,
    pub variants: &'static [Variant],
}

/// What a job left behind, the same on every platform.
#[derive(Debug, Clone)]
pub struct Evidence {
    pub platform: Platform,
    pub executor: Executor,
    pub dind: DindMode,
    /// Written into the workspace as `.e2e-nonce`; markers echo it so a line of script
    /// text can never pass for a result.
    pub nonce: String,
    pub job_succeeded: bool,
    pub log: String,
}

/// The prefix of result lines jobs print: `E2E-MARK key=value`.
pub const MARK: &str = "E2E-MARK ";

impl Evidence {
    /// The first failing step and the last lines it printed, from act's log format
    /// (`❌  Failure - Main <step>` after `  | <output>` lines).
    pub fn failure_excerpt(&self) -> Option<String> {
        let lines: Vec<&str> = self.log.lines().collect();
        let at = lines.iter().position(|l| l.contains("Failure - Main "))?;
        let step = lines[at].split("Failure - Main ").nth(1).unwrap_or_default();
        let step = step.rsplit_once(" [").map_or(step, |(s, _)| s).trim();
        let output: Vec<&str> = lines[..at]
            .iter()
            .rev()
            .filter_map(|l| l.split_once("  | ").map(|(_, o)| o.trim()))
            .filter(|o| !o.is_empty())
            .take(3)
            .collect();
        let tail: Vec<&str> = output.into_iter().rev().collect();
        Some(format!("step `{step}` failed: {}", tail.join(" / ")))
    }

    /// The value of the last `E2E-MARK key=value` line for `key`.
    pub fn marker(&self, key: &str) -> Option<&str> {
        self.log
            .lines()
            .filter_map(|l| l.split_once(MARK).map(|(_, rest)| rest))
            .filter_map(|rest| rest.split_once('='))
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v.trim())
            .next_back()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "result", content = "reason", rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail(String),
    Skip(String),
}

/// One assertion and how it came out.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Check {
    pub name: String,
    #[serde(flatten)]
    pub outcome: Outcome,
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.outcome {
            Outcome::Pass => write!(f, "PASS {}", self.name),
            Outcome::Fail(why) => write!(f, "FAIL {}: {why}", self.name),
            Outcome::Skip(why) => write!(f, "SKIP {}: {why}", self.name),
        }
    }
}

impl Check {
    pub fn pass(name: impl Into<String>) -> Self {
        Self { name: name.into(), outcome: Outcome::Pass }
    }

    pub fn fail(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { name: name.into(), outcome: Outcome::Fail(reason.into()) }
    }

    pub fn skip(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { name: name.into(), outcome: Outcome::Skip(reason.into()) }
    }

    /// Passes when `cond`, else fails with `reason`.
    pub fn that(name: impl Into<String>, cond: bool, reason: impl Into<String>) -> Self {
        if cond { Self::pass(name) } else { Self::fail(name, reason) }
    }

    /// The job's conclusion was success; on failure the reason quotes the failing step.
    pub fn job_succeeded(ev: &Evidence) -> Self {
        let why = match ev.failure_excerpt() {
            Some(excerpt) => format!("the job failed: {excerpt}"),
            None => "the job failed; see the job log".to_owned(),
        };
        Self::that("job succeeded", ev.job_succeeded, why)
    }

    /// Marker `key` equals `want`.
    pub fn marker_is(ev: &Evidence, key: &str, want: &str) -> Self {
        match ev.marker(key) {
            Some(v) if v == want => Self::pass(format!("{key} = {want}")),
            Some(v) => Self::fail(format!("{key} = {want}"), format!("the job reported {key}={v}, expected {want}")),
            None => Self::fail(format!("{key} = {want}"), format!("the job never reported {key}")),
        }
    }
}

/// A scenario's overall result from its checks: any failure fails it; no pass at all
/// (every check skipped) skips it; otherwise it passed.
pub fn overall(checks: &[Check]) -> Outcome {
    if let Some(fail) = checks.iter().find_map(|c| match &c.outcome {
        Outcome::Fail(r) => Some(format!("{}: {r}", c.name)),
        _ => None,
    }) {
        return Outcome::Fail(fail);
    }
    if checks.iter().any(|c| c.outcome == Outcome::Pass) {
        return Outcome::Pass;
    }
    let reasons: Vec<String> = checks
        .iter()
        .filter_map(|c| match &c.outcome {
            Outcome::Skip(r) => Some(r.clone()),
            _ => None,
        })
        .collect();
    Outcome::Skip(if reasons.is_empty() { "no assertion ran".to_owned() } else { reasons.join("; ") })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(log: &str) -> Evidence {
        Evidence {
            platform: Platform::Docker,
            executor: Executor::Act,
            dind: DindMode::Rootful,
            nonce: "n1".into(),
            job_succeeded: true,
            log: log.into(),
        }
    }

    #[test]
    fn markers_take_the_last_value_and_ignore_other_lines() {
        let e = ev("[wf/j] | E2E-MARK built=old\nnoise key=v\n[wf/j] | E2E-MARK built=n1 \n");
        assert_eq!(e.marker("built"), Some("n1"));
        assert_eq!(e.marker("missing"), None);
    }

    #[test]
    fn a_failed_job_quotes_its_failing_step() {
        let mut e = ev(
            "[w/j]   | Step 3/3 : RUN exit 3\n[w/j]   | The command '/bin/sh -c exit 3' returned a non-zero code: 3\n[w/j]   ❌  Failure - Main docker build [381ms]\n",
        );
        e.job_succeeded = false;
        let Outcome::Fail(why) = Check::job_succeeded(&e).outcome else { panic!("must fail") };
        assert_eq!(
            why,
            "the job failed: step `docker build` failed: Step 3/3 : RUN exit 3 / The command '/bin/sh -c exit 3' returned a non-zero code: 3"
        );
    }

    #[test]
    fn overall_needs_one_pass_and_no_failure() {
        assert_eq!(overall(&[Check::pass("a"), Check::skip("b", "why")]), Outcome::Pass);
        assert_eq!(overall(&[Check::skip("b", "why")]), Outcome::Skip("why".into()));
        assert_eq!(overall(&[]), Outcome::Skip("no assertion ran".into()));
        assert_eq!(overall(&[Check::pass("a"), Check::fail("c", "bad")]), Outcome::Fail("c: bad".into()));
    }
}
