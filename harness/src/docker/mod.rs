//! The Docker platform's plumbing: the engine connection, images, labels, the pod.

pub mod archive;
mod cleanup;
mod client;
mod exec;
pub mod images;
pub mod labels;
pub mod obtain;
mod pod;
mod privilege;
pub mod push;

pub use cleanup::{Leftovers, count_managed, sweep};
pub use client::connect;
pub use exec::{ExecOutput, ExecRequest, exec};
pub use pod::{DindMode, Pod, PodSpec, RUNNER_ENV};
pub use privilege::{Privilege, probe as probe_privilege};
