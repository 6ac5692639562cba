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
    /// The chart on a cluster the user already has, reached through its kubeconfig.
    Kubernetes,
}

impl Platform {
    /// Whether the chart runs on Kubernetes here (kind, or a cluster of the user's).
    pub fn is_kubernetes(self) -> bool {
        matches!(self, Platform::Kind | Platform::Kubernetes)
    }
}

impl std::str::FromStr for Platform {
    type Err = anyhow::Error;

    /// `--platform docker|kind|kubernetes`; anything else is one line naming them.
    fn from_str(s: &str) -> anyhow::Result<Self> {
        match s {
            "docker" => Ok(Self::Docker),
            "kind" => Ok(Self::Kind),
            "kubernetes" => Ok(Self::Kubernetes),
            other => Err(crate::user_error!("--platform is `docker`, `kind` or `kubernetes`, not `{other}`")),
        }
    }
}

/// What executes workflows inside the runner container (declared with the executors).
pub use crate::executor::Kind as Executor;

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

/// A deliberately broken copy of a scenario, kept as a negative test, or a control run that
/// belongs to the scenario's claim.
#[derive(Debug, Clone, Copy)]
pub struct Variant {
    pub name: &'static str,
    /// Files under `fixtures/workspaces/` laid over the scenario's workspace ("" for none).
    pub overlay: &'static str,
    /// A change to the runner configuration for this variant.
    pub config: Option<fn(&mut RunnerConfig)>,
    /// Extra dockerd flags for DIND (appended last, so they win): fault injection.
    pub dind_args: &'static [&'static str],
    /// What must be seen for the variant to pass.
    pub expect: Expect,
    /// A fault the platform injects into the pod.
    pub fault: Option<Fault>,
    /// What the breakage must not touch: checks that must pass in the same job, so a
    /// negative variant passes only on a setup that is healthy everywhere else.
    pub healthy: fn(&Evidence) -> Vec<Check>,
    /// The failure attributed to the breakage itself (the build output names the
    /// Dockerfile's failing step, ...), beyond the wrong value.
    pub caused: fn(&Evidence) -> Vec<Check>,
}

/// No checks: for variants whose breakage leaves nothing else in the job to look at.
pub fn no_checks(_: &Evidence) -> Vec<Check> {
    Vec::new()
}

impl Variant {
    /// Controls run on every run; negative tests only with `--negative`.
    pub fn always(&self) -> bool {
        matches!(self.expect, Expect::Control(_))
    }
}

/// What a variant must show. A negative test passes only when the run reached the point
/// where its breakage shows and failed there: a probe that reported nothing proves nothing.
#[derive(Debug, Clone, Copy)]
pub enum Expect {
    /// The check on marker `key` ran and saw a value other than the passing one.
    WrongValue(&'static str),
    /// The variant's fault ended the run in the failure the fault declares
    /// ([`Fault::failure`]), worded with the fault's own deadlines.
    Fault,
    /// A control: judged by its own checks, which must pass like a scenario's.
    Control(fn(&Evidence) -> Vec<Check>),
}

pub use crate::fault::Fault;

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

/// The marker protocol's prefix for a probe that could not find out (`key=error: why`):
/// never a value, so never the wrong value a negative variant looks for.
pub const PROBE_FAILED: &str = "error:";

/// Whether a marker's value says its probe failed (see [`PROBE_FAILED`]).
pub fn probe_failed(value: &str) -> bool {
    value.starts_with(PROBE_FAILED)
}

/// The name of the check that stands in for all others when a job never reached its probes.
pub const NEVER_RAN: &str = "the job never ran";

#[cfg(test)]
impl Evidence {
    /// A failed job's evidence with nonce `n1` on the Docker platform, for unit tests.
    pub(crate) fn for_test(log: &str) -> Self {
        Self {
            platform: Platform::Docker,
            executor: Executor::Act,
            dind: DindMode::Rootful,
            nonce: "n1".into(),
            job_succeeded: false,
            log: log.into(),
        }
    }
}

/// The prefix of result lines jobs print: `E2E-MARK <nonce> key=value`.
pub const MARK: &str = "E2E-MARK ";

impl Evidence {
    /// The value of the last `E2E-MARK <nonce> key=value` line for `key`. Lines without this
    /// run's nonce are ignored: script text or an earlier run can never pass for a result.
    pub fn marker(&self, key: &str) -> Option<&str> {
        self.markers().filter(|(k, _)| *k == key).map(|(_, v)| v).next_back()
    }

    /// Every `(key, value)` this run's job reported, in order.
    pub fn markers(&self) -> impl DoubleEndedIterator<Item = (&str, &str)> {
        let prefix = format!("{MARK}{} ", self.nonce);
        self.log
            .lines()
            .filter_map(move |l| l.split_once(prefix.as_str()).map(|(_, rest)| rest))
            .filter_map(|rest| rest.split_once('='))
            .map(|(k, v)| (k, v.trim()))
    }

    /// Why no probe of the job ran, or `None` when at least one reported a marker.
    pub fn never_ran(&self) -> Option<String> {
        if self.markers().next().is_some() {
            return None;
        }
        let why = if let Some(line) = crate::executor::log_format(self.executor).no_runner(&self.log) {
            format!("no runner took it ({line})")
        } else if let Some(excerpt) = self.failure_excerpt() {
            format!("a step before the probes failed: {excerpt}")
        } else if !self.job_succeeded {
            "the job failed before any probe reported; see the job log".to_owned()
        } else {
            "no step printed a result marker with this run's nonce".to_owned()
        };
        Some(why)
    }

    /// The first failure of the job and what explains it (the executor reads its log).
    pub fn failure_excerpt(&self) -> Option<String> {
        crate::executor::log_format(self.executor).cause(&self.log).map(|c| c.to_string())
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
    /// For a marker check: the key and the value the job reported (absent when it reported
    /// nothing). A negative test needs this: a wrong value seen, not a value missing.
    #[serde(skip)]
    pub observed: Option<(String, String)>,
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
        Self { name: name.into(), outcome: Outcome::Pass, observed: None }
    }

    pub fn fail(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { name: name.into(), outcome: Outcome::Fail(reason.into()), observed: None }
    }

    pub fn skip(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { name: name.into(), outcome: Outcome::Skip(reason.into()), observed: None }
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

    /// Marker `key` equals `want`. A value starting with `error:` is a probe that could not
    /// find out; it fails like any other wrong value, quoting the error.
    pub fn marker_is(ev: &Evidence, key: &str, want: &str) -> Self {
        let name = format!("{key} = {want}");
        let Some(v) = ev.marker(key) else {
            return Self::fail(name, format!("the job never reported {key}"));
        };
        let check = if v == want {
            Self::pass(name)
        } else if let Some(error) = v.strip_prefix(PROBE_FAILED) {
            Self::fail(name, format!("the probe for {key} failed: {}", error.trim()))
        } else {
            Self::fail(name, format!("the job reported {key}={v}, expected {want}"))
        };
        Self { observed: Some((key.to_owned(), v.to_owned())), ..check }
    }

    /// The job never ran (`why`): the one failed check that stands in for all of a
    /// scenario's, reported as `the job never ran: <why>`.
    pub fn never_ran(why: String) -> Self {
        Self::fail(NEVER_RAN, why)
    }
}

/// A scenario's overall result from its checks: any failure fails it; no pass at all
/// (every check skipped) skips it; otherwise it passed.
pub fn overall(checks: &[Check]) -> Outcome {
    if let Some(fail) = checks.iter().find_map(|c| match &c.outcome {
        // "the job never ran: why" is a statement; any other check is named as one.
        Outcome::Fail(r) if c.name == NEVER_RAN => Some(format!("{NEVER_RAN}: {r}")),
        Outcome::Fail(r) => Some(format!("check `{}` failed: {r}", c.name)),
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
        Evidence { job_succeeded: true, ..Evidence::for_test(log) }
    }

    #[test]
    fn markers_need_this_runs_nonce_and_take_the_last_value() {
        let e = ev("[wf/j] | E2E-MARK n1 built=old\nnoise key=v\n[wf/j] | E2E-MARK n1 built=new \n\
                    E2E-MARK built=forged\nE2E-MARK n0 built=earlier-run\n");
        assert_eq!(e.marker("built"), Some("new"));
        assert_eq!(e.marker("missing"), None);
        assert_eq!(e.never_ran(), None);
    }

    #[test]
    fn a_marker_check_records_what_it_saw_and_fails_on_probe_errors() {
        let e = ev("E2E-MARK n1 a=yes\nE2E-MARK n1 b=no\nE2E-MARK n1 c=error: openssl failed\n");
        let a = Check::marker_is(&e, "a", "yes");
        assert_eq!((a.outcome, a.observed), (Outcome::Pass, Some(("a".into(), "yes".into()))));
        let b = Check::marker_is(&e, "b", "yes");
        assert_eq!(b.outcome, Outcome::Fail("the job reported b=no, expected yes".into()));
        let c = Check::marker_is(&e, "c", "yes");
        assert_eq!(c.outcome, Outcome::Fail("the probe for c failed: openssl failed".into()));
        let d = Check::marker_is(&e, "d", "yes");
        assert_eq!((d.outcome, d.observed), (Outcome::Fail("the job never reported d".into()), None));
    }

    #[test]
    fn a_job_without_this_runs_markers_never_ran_and_says_why() {
        let skipped = ev("[w/j] 🚧  Skipping unsupported platform -- Try running with `-P self-hosted=...`\n");
        assert_eq!(
            skipped.never_ran().as_deref(),
            Some("no runner took it (🚧  Skipping unsupported platform -- Try running with `-P self-hosted=...`)")
        );
        let mut checkout =
            ev("[w/j]   | fatal: repository not found\n[w/j]   ❌  Failure - Main actions/checkout@v4 [1s]\n");
        checkout.job_succeeded = false;
        assert_eq!(
            checkout.never_ran().as_deref(),
            Some(
                "a step before the probes failed: step `actions/checkout@v4` failed; its last output: fatal: repository not found"
            )
        );
        assert!(ev("E2E-MARK built=script-text\n").never_ran().is_some());
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
            "the job failed: step `docker build` failed; its last output: Step 3/3 : RUN exit 3 / The command '/bin/sh -c exit 3' returned a non-zero code: 3"
        );
    }

    #[test]
    fn overall_needs_one_pass_and_no_failure() {
        assert_eq!(overall(&[Check::pass("a"), Check::skip("b", "why")]), Outcome::Pass);
        assert_eq!(overall(&[Check::skip("b", "why")]), Outcome::Skip("why".into()));
        assert_eq!(overall(&[]), Outcome::Skip("no assertion ran".into()));
        assert_eq!(
            overall(&[Check::pass("a"), Check::fail("c", "bad")]),
            Outcome::Fail("check `c` failed: bad".into())
        );
    }
}
