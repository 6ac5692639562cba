//! Executors that run workflows inside the runner container. What varies between them —
//! what must be copied into the container, the command that runs a job, what it cannot
//! reproduce of the configuration, how its log reads — is the seam (`seam.rs`: the
//! [`Executor`] and [`LogFormat`] traits); act is its first implementation. Platforms and
//! the judge see only the seam: nothing outside this folder parses an executor's output.

pub mod act;
pub mod act_log;
pub mod choice;
pub mod forgejo_log;
pub mod forgejo_runner;
mod seam;

pub use seam::*;

/// How the logs of jobs run by `kind` read: act's terminal output, or forgejo-runner's
/// rows as Forgejo stores them (its fork of act writes the rows, its reporter keeps only some).
pub fn log_format(kind: Kind) -> &'static dyn LogFormat {
    match kind {
        Kind::Act => &act_log::ActLog,
        Kind::Runner => &forgejo_log::ForgejoLog,
    }
}
