//! How a job reaches the chart's pod and how its result comes back, written once for both
//! platforms over the pod handle (`pod.rs`): `act.rs` starts act in the runner container
//! (no server, the stand-in); `forge.rs` pushes to a forge whose runner — the pod's runner
//! container, registered with it — takes the job, and watches it there. Each platform asks
//! its delivery through its own seam (`docker::Delivery`, `kind::Delivery`: what differs is
//! how a pod is made and how a runner gets registered, not how a job runs); which delivery
//! a run has is decided once (`docker_setup::prepare`, `kind::prepare`).

mod act;
pub(super) mod forge;

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
