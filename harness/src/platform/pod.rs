//! **The pod handle**: what a job's delivery may do to the chart's pod, whichever platform
//! made it — copy files in, run a command in a container, read a container's log, look at
//! its containers, kill one on a fault's trigger. The Docker platform implements it over
//! the engine (`docker_pod.rs`), kind over `kubectl` and the nodes (`kind/pod.rs`); the
//! deliveries in `delivery/` (act, a registered runner) use nothing else of the pod, so
//! each is written once for both platforms.

use std::time::Duration;

use anyhow::Result;
use futures_util::future::{BoxFuture, LocalBoxFuture};

use crate::docker::{DindMode, ExecOutput};
use crate::failure::Failed;
use crate::fault::Hook;
use crate::scenario::Platform;
use crate::wait::{Poll, until};

/// A container of the chart's pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodContainer {
    Dind,
    Runner,
}

impl PodContainer {
    /// Its name in the chart's pod.
    pub fn name(self) -> &'static str {
        match self {
            PodContainer::Dind => "dind",
            PodContainer::Runner => "runner",
        }
    }
}

/// One look at a container of the pod.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerLook {
    pub container: PodContainer,
    pub running: bool,
    /// How often it was restarted (the kubelet restarts; Docker's pod never does).
    pub restarts: u64,
    /// The exit code of its last end.
    pub last_exit: Option<i64>,
}

/// A command for [`PodHandle::exec`].
pub struct PodExec<'a> {
    pub argv: &'a [String],
    pub env: &'a [String],
    pub cwd: Option<&'a str>,
    /// How long the harness waits; past it the result has no exit code.
    pub deadline: Duration,
}

/// A fault's action made ready before the job and fired from a log line's callback.
pub type Switch = Box<dyn Fn() -> BoxFuture<'static, Result<()>> + Send + Sync>;

/// The chart's pod, as a delivery reaches it.
pub trait PodHandle: Sync {
    fn platform(&self) -> Platform;
    fn mode(&self) -> DindMode;
    /// Unpacks the tar archive `tar` at `dir` in `c`.
    fn copy_in<'a>(&'a self, c: PodContainer, dir: &'a str, tar: Vec<u8>) -> LocalBoxFuture<'a, Result<()>>;
    /// Runs a command in `c`, each output line to `on_line` as it comes; a command still
    /// running at its deadline has no exit code.
    fn exec<'a>(
        &'a self,
        c: PodContainer,
        cmd: PodExec<'a>,
        on_line: &'a mut (dyn FnMut(&str) + Send),
    ) -> LocalBoxFuture<'a, Result<ExecOutput>>;
    /// Everything `c` printed so far.
    fn logs(&self, c: PodContainer) -> LocalBoxFuture<'_, String>;
    /// The pod's containers now.
    fn look(&self) -> LocalBoxFuture<'_, Result<Vec<ContainerLook>>>;
    /// `hook` made ready to fire: a container killed, the cluster's API server stopped. A
    /// hook that is not the pod's (the forge stopped) is the delivery's own.
    fn switch(&self, hook: Hook) -> LocalBoxFuture<'_, Result<Switch>>;
    /// After a failed command: an outage of the platform that explains it (the cluster's
    /// API down), once it is over.
    fn outage(&self) -> LocalBoxFuture<'_, Option<Failed>> {
        Box::pin(async { None })
    }
}

/// How long a platform may take to report a container a fault killed, and how often it is asked.
const KILL_REPORTED: Duration = Duration::from_secs(20);
const POLL_KILL: Duration = Duration::from_millis(500);

/// An error naming DIND's or the runner's end since `before` (not running now, or
/// restarted in between). `unfinished` is a job the forge lists as not final: a runner
/// that dies with none is an error, not the runner's death during a job.
pub fn died(before: &[ContainerLook], now: &[ContainerLook], unfinished: Option<&str>) -> Result<()> {
    for c in now {
        let restarts = before.iter().find(|b| b.container == c.container).map_or(0, |b| b.restarts);
        let restarted = c.restarts > restarts;
        if c.running && !restarted {
            continue;
        }
        let code = c.last_exit.map_or("unknown".into(), |e| e.to_string());
        let mut how = format!("container {}, exit code {code}", c.container.name());
        if restarted {
            how.push_str("; restarted since");
        }
        return Err(match (c.container, unfinished) {
            (PodContainer::Dind, _) => Failed::DindDied { how }.into(),
            (PodContainer::Runner, Some(job)) => Failed::RunnerDied { how: format!("{how}; {job}") }.into(),
            (PodContainer::Runner, None) => anyhow::anyhow!("the runner container ended before it took a job ({how})"),
        });
    }
    Ok(())
}

/// After the job: a container that ended since `before`, waited for when a fault killed
/// one and the job failed (the platform may report it after the job's end).
pub async fn settled_death(
    pod: &dyn PodHandle,
    before: &[ContainerLook],
    fired: bool,
    unfinished: Option<&str>,
) -> Result<()> {
    if !fired {
        return died(before, &pod.look().await?, unfinished);
    }
    let reported = until("the pod reports the killed container", KILL_REPORTED, POLL_KILL, || async {
        Ok(match died(before, &pod.look().await?, unfinished) {
            Err(e) => Poll::Ready(e),
            Ok(()) => Poll::NotYet("every container still running".into()),
        })
    });
    match reported.await {
        Ok(e) => Err(e),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn look(container: PodContainer, running: bool, restarts: u64) -> ContainerLook {
        ContainerLook { container, running, restarts, last_exit: Some(137) }
    }

    #[test]
    fn a_container_that_ended_or_restarted_since_the_job_began_is_named() {
        let before = [look(PodContainer::Dind, true, 0), look(PodContainer::Runner, true, 0)];
        assert!(died(&before, &before, None).is_ok());
        let restarted = [look(PodContainer::Dind, true, 1), look(PodContainer::Runner, true, 0)];
        let err = died(&before, &restarted, None).expect_err("restarted");
        let how = "container dind, exit code 137; restarted since".to_owned();
        assert_eq!(Failed::of(&err), Some(&Failed::DindDied { how }));
        let stopped = [look(PodContainer::Dind, true, 0), look(PodContainer::Runner, false, 0)];
        let err = died(&before, &stopped, Some("job `build` running")).expect_err("not running");
        assert!(matches!(Failed::of(&err), Some(Failed::RunnerDied { .. })), "{err}");
        let err = died(&before, &stopped, None).expect_err("not running, no job");
        assert_eq!(Failed::of(&err), None, "a runner gone before any job is not a death during one: {err}");
    }
}
