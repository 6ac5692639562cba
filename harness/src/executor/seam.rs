//! The executor seam: what varies between executors (act, a registered runner) as
//! two traits, the failures a job log can name, and the deadline wrapper every executor's
//! command runs under.

use std::fmt;

use crate::config::RunnerConfig;

/// What executes workflows inside the runner container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// nektos/act: the engine forgejo-runner forked; does not apply `valid_volumes`.
    Act,
    /// A runner registered with a forge (forgejo-runner with Forgejo, Gitea's runner with
    /// Gitea): jobs are pushed, scheduled by the forge and run by its `daemon`.
    Runner,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Act => "act",
            Self::Runner => "runner",
        }
    }

    /// Whether bind sources are filtered through `container.valid_volumes`.
    pub fn applies_valid_volumes(self) -> bool {
        self == Self::Runner
    }
}

/// Something about the configuration an executor cannot reproduce, said out loud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deviation(pub String);

/// How an executor's job log reads.
pub trait LogFormat: Sync {
    /// The part of a line worth showing as progress (a step starting, the job's end).
    fn progress_line<'a>(&self, line: &'a str) -> Option<&'a str>;
    /// How the job ended; `exit_ok` is the executor's exit status.
    fn ending(&self, log: &str, exit_ok: bool) -> Ending;
    /// The first failure and what explains it.
    fn cause(&self, log: &str) -> Option<Cause>;
    /// The step a job cut short was in.
    fn last_step(&self, log: &str) -> Option<String>;
    /// Seconds the job's own steps took, without setup and teardown.
    fn step_seconds(&self, log: &str) -> f64;
    /// The executor's line saying it took no job for want of a label.
    fn no_runner(&self, log: &str) -> Option<String>;
}

/// One executor: what it needs in the runner container and how it runs a job there.
pub trait Executor: Send + Sync {
    fn kind(&self) -> Kind;
    /// Files to put into the runner container's `/usr/local/bin` before a job: (name, bytes).
    fn binaries(&self) -> Vec<(&'static str, &[u8])>;
    /// The command that runs `workflow` (a path inside the workspace) under `config`, jobs
    /// in `job_image` where a label names no image; and what it cannot reproduce.
    fn command(&self, config: &RunnerConfig, job_image: &str, workflow: &str) -> (Vec<String>, Vec<Deviation>);
    /// How the logs of the jobs it runs read.
    fn log(&self) -> &'static dyn LogFormat;
}

/// Why a job failed, as specific as its log allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// An image the job needs (its container, or a `docker://` step) could not be pulled.
    ImageUnpullable { image: String, step: String, error: String },
    /// An action (`uses:`) could not be fetched.
    ActionUnfetchable { action: String, error: String },
    /// A step exited non-zero; `tail` is the last lines it printed.
    StepFailed { step: String, exit_code: Option<i32>, tail: Vec<String> },
    /// The job ran past its deadline (the job's `timeout-minutes`, or the run's).
    Timeout { seconds: u64, step: Option<String> },
    /// The forge never scheduled the job although its needs succeeded (`forge` names it).
    NeverScheduled { forge: String, why: String },
    /// The job failed and its log says no more than this line.
    Unexplained { line: String },
}

/// How one job of act's log ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    Succeeded,
    Failed(Cause),
    /// act printed no end for it: its `if:` was false, or it was never planned.
    NotRun,
}

/// Whether `error` says no registry or forge could be reached at all (rather than a refusal).
pub fn unreachable(error: &str) -> bool {
    ["no such host", "dial tcp", "i/o timeout", "connection refused", "network is unreachable", "TLS handshake timeout"]
        .iter()
        .any(|s| error.contains(s))
}

impl Cause {
    /// A short name for the kind of failure (the id of its diagnosis).
    pub fn kind(&self) -> &'static str {
        match self {
            Cause::ImageUnpullable { .. } => "image-unpullable",
            Cause::ActionUnfetchable { .. } => "action-unfetchable",
            Cause::StepFailed { .. } => "step-failed",
            Cause::Timeout { .. } => "job-timeout",
            Cause::NeverScheduled { .. } => "never-scheduled",
            Cause::Unexplained { .. } => "job-failed",
        }
    }

    /// What a user can do about it.
    pub fn fix(&self) -> String {
        match self {
            Cause::ImageUnpullable { error, .. } if unreachable(error) => {
                "no registry is reachable from DIND: map the \
                job's label to an image DIND already has (`labels: [\"NAME:docker://LOCAL-IMAGE\"]` in the runner's \
                config), or load the image into DIND's store before the job (`docker save IMAGE | docker load` \
                against DIND)"
                    .into()
            }
            Cause::ImageUnpullable { .. } => {
                "check the image's name and tag, and that DIND holds credentials for its registry".into()
            }
            Cause::ActionUnfetchable { action, .. } => format!(
                "make `{action}` reachable: offline, point the instance's `[actions] DEFAULT_ACTIONS_URL` at a forge \
                 that mirrors it, or keep a copy in the repository and use `uses: ./.forgejo/actions/NAME`"
            ),
            Cause::Timeout { .. } => {
                "raise the job's `timeout-minutes` (or --job-timeout), or see in the bundle's job.log what the step \
                 waited for"
                    .into()
            }
            Cause::StepFailed { .. } => {
                "the step's own output says why: its last lines are above, all of it in the bundle's job.log".into()
            }
            Cause::NeverScheduled { .. } => {
                "compute the values before the run (a matrix written out), or run this workflow on a forge that \
                 schedules it (Forgejo)"
                    .into()
            }
            Cause::Unexplained { .. } => "see the bundle's job.log: the log says no more than this".into(),
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::ImageUnpullable { image, step, error } => {
                write!(f, "image `{image}` cannot be pulled (step `{step}`): {error}")
            }
            Cause::ActionUnfetchable { action, error } => write!(f, "action `{action}` cannot be fetched: {error}"),
            Cause::StepFailed { step, exit_code, tail } => {
                match exit_code {
                    Some(code) => write!(f, "step `{step}` exited with code {code}")?,
                    None => write!(f, "step `{step}` failed")?,
                }
                if !tail.is_empty() {
                    write!(f, "; its last output: {}", tail.join(" / "))?;
                }
                Ok(())
            }
            Cause::Timeout { seconds, step } => {
                write!(f, "the job did not finish within {seconds}s")?;
                if let Some(step) = step {
                    write!(f, " (still in step `{step}`)")?;
                }
                Ok(())
            }
            Cause::NeverScheduled { forge, why } => write!(f, "{forge} never scheduled the job: {why}"),
            Cause::Unexplained { line } => write!(f, "the job failed; its log's last words: {line}"),
        }
    }
}

/// What [`with_deadline`] prints when the job's deadline ended it.
pub const DEADLINE_PASSED: &str = "forgejo-e2e: deadline passed, the job was stopped";

/// `cmd` ended by coreutils `timeout` after `limit` inside the runner container (a killed
/// `docker exec` or `kubectl exec` would leave act running), saying so when it does.
pub fn with_deadline(cmd: &[String], limit: std::time::Duration) -> Vec<String> {
    let script = format!(
        "timeout -k 5 \"$0\" \"$@\"; rc=$?; if [ $rc = 124 ] || [ $rc = 137 ]; then echo '{DEADLINE_PASSED}'; fi; exit $rc"
    );
    let secs = limit.as_secs_f64().ceil().max(1.0) as u64;
    let mut argv = vec!["sh".to_owned(), "-c".to_owned(), script, secs.to_string()];
    argv.extend(cmd.iter().cloned());
    argv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_wrapper_says_when_it_stopped_the_job() {
        let run = |cmd: &[&str], secs: u64| {
            let cmd: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
            let argv = with_deadline(&cmd, std::time::Duration::from_secs(secs));
            let out = std::process::Command::new(&argv[0]).args(&argv[1..]).output().expect("sh");
            (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
        };
        let (code, text) = run(&["sh", "-c", "echo 'it is fine'; exit 3"], 5);
        assert_eq!((code, text.as_str()), (Some(3), "it is fine\n"));
        let (code, text) = run(&["sleep", "5"], 1);
        assert_eq!(code, Some(124));
        assert!(text.contains(DEADLINE_PASSED), "{text}");
    }
}
