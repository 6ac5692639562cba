//! The machine (or Kubernetes node) DIND runs on: the kernel knobs that decide whether
//! rootless DIND can start, read and flipped under a root path that tests can fake; what a
//! run needs installed and running on it (`provision`).

mod doctor;
pub mod provision;
mod sysctl;

pub use doctor::{Finding, Verdict, engine_finding, host_findings};
pub use sysctl::{ApplyOutcome, Knob, RestoreOutcome, Sysctl, UNCONFINED_KNOB, USERNS_KNOB, daemonset_manifest};
