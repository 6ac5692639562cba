//! How a job reaches the Docker platform's pod and how its result comes back: the seam
//! between the platform, which makes the pod (`docker.rs`), and who runs the jobs in it.
//! `act.rs` starts act in the runner container (no server); `forge.rs` pushes to the run's
//! forge, whose runner — the pod's runner container, registered to the item's repository —
//! takes the job. The platform asks only this trait; which one a run has is decided once
//! (`docker_setup::prepare`).

mod act;
pub mod forge;

use std::path::Path;

use anyhow::Result;
use futures_util::future::LocalBoxFuture;

pub(super) use act::ActDelivery;
pub(super) use forge::ForgeDelivery;

use super::RunItem;
use super::docker::{DockerPlatform, PodRun};
use crate::config::RunnerConfig;
use crate::docker::Pod;
use crate::executor::Kind;
use crate::workflow::plan::WorkflowPlan;

/// One item's job, once its pod is up, DIND answers and its workspace is laid out.
pub(crate) struct Job<'a> {
    pub(crate) item: &'a RunItem,
    pub(crate) nonce: &'a str,
    pub(crate) pod: &'a Pod,
    pub(crate) config: &'a RunnerConfig,
    pub(crate) workspace: &'a Path,
    /// A user's workflow, job by job; `None` for a scenario.
    pub(crate) plan: Option<&'a WorkflowPlan>,
}

/// What the pod's runner container is.
pub(crate) struct RunnerContainer {
    pub(crate) image: String,
    /// Its command (`sh -c SCRIPT`), or `None` to idle until the harness execs into it.
    pub(crate) script: Option<String>,
    /// A network the pod joins (the forge's), or `None` for the engine's default.
    pub(crate) network: Option<String>,
}

/// Who runs a Docker pod's jobs, and how a job gets to them.
pub(crate) trait Delivery: Send + Sync {
    /// Who runs the jobs (for the evidence, the reports and the items it cannot run).
    fn kind(&self) -> Kind;
    /// The runner container a pod needs for `config`.
    fn runner(&self, p: &DockerPlatform, config: &RunnerConfig) -> RunnerContainer;
    /// Runs `job` in its pod; the job's log and conclusion go into `run`.
    fn run<'a>(&'a self, p: &'a DockerPlatform, job: Job<'a>, run: &'a mut PodRun) -> LocalBoxFuture<'a, Result<()>>;
}
