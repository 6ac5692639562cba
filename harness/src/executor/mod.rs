//! Executors that run workflows inside the runner container. What varies between them —
//! what must be copied into the container, the command that runs a job, what it cannot
//! reproduce of the configuration, how its log reads — is the [`Executor`] trait; act is
//! its first implementation. Platforms and the judge see only the trait: nothing outside
//! this folder parses an executor's output.

pub mod act;
pub mod act_log;

use crate::config::RunnerConfig;
use crate::scenario::Executor as Kind;

pub use act_log::{Cause, Ending};

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
    fn log(&self) -> &'static dyn LogFormat {
        log_format(self.kind())
    }
}

/// How the logs of jobs run by `kind` read. forgejo-runner runs jobs with its fork of act,
/// whose logger writes the same step lines.
pub fn log_format(kind: Kind) -> &'static dyn LogFormat {
    match kind {
        Kind::Act | Kind::ForgejoRunner => &act_log::ActLog,
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
