//! How a job reaches the chart's pod and how its result comes back: one folder per
//! executor, its job written once for both platforms over the pod handle (`pod.rs`), in
//! its `mod.rs` — `act/` starts act in the runner container (no server, the stand-in);
//! `runner/` pushes to a forge whose runner, the pod's runner container registered with
//! it, takes the job, and watches it there — and, in its `docker.rs` and `kind.rs`, what
//! each platform's seam (`docker::Delivery`, `kind::Delivery`) asks of it: how its pod is
//! made and how a runner gets registered. Which delivery a run has is decided once
//! (`docker_setup::prepare`, `kind::prepare`).

pub(super) mod act;
pub(super) mod runner;

use std::path::Path;

use crate::Progress;
use crate::config::RunnerConfig;
use crate::fault::{Deadlines, Fault};
use crate::platform::RunItem;
use crate::workflow::plan::WorkflowPlan;

pub(super) use act::ActDelivery;

/// One item's job, once its pod is up, DIND answers and its workspace is laid out.
#[derive(Clone, Copy)]
pub(super) struct Delivered<'a> {
    pub(super) item: &'a RunItem,
    pub(super) nonce: &'a str,
    pub(super) config: &'a RunnerConfig,
    pub(super) workspace: &'a Path,
    /// A user's workflow, job by job; `None` for a scenario.
    pub(super) plan: Option<&'a WorkflowPlan>,
    /// The image bare labels run in (loaded into DIND).
    pub(super) job_image: &'a str,
    pub(super) deadlines: Deadlines,
    pub(super) progress: &'a Progress,
}

impl Delivered<'_> {
    pub(super) fn say(&self, msg: impl AsRef<str>) {
        self.progress.say(format!("{}: {}", self.item.name, msg.as_ref()));
    }

    pub(super) fn fault(&self) -> Option<Fault> {
        self.item.variant.and_then(|v| v.fault)
    }

    /// `E2E-MARK <nonce> <key>=`: how a job's marker line starts.
    pub(super) fn marker(&self, key: &str) -> String {
        format!("E2E-MARK {} {key}=", self.nonce)
    }
}
