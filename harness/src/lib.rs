//! The harness: the only crate that talks to Docker and Kubernetes.
//!
//! Scenarios describe workflows and assertions ([`scenario`]); the platforms run them
//! ([`docker`] today, the kind platform behind the `kube` feature); results become reports
//! ([`report`]). See ARCHITECTURE.md for the map.

pub mod artifacts;
mod base64;
pub mod cluster;
pub mod config;
pub mod diagnose;
pub mod docker;
mod error;
pub mod executor;
pub mod failure;
pub mod fault;
pub mod forge;
pub mod kind;
pub mod node;
pub mod pki;
pub mod platform;
pub mod process;
mod progress;
pub mod report;
pub mod run;
pub mod scenario;
pub mod signal;
pub mod sys;
pub mod tools;
pub mod wait;
pub mod workflow;
pub mod workspace;

pub use error::UserError;
pub use progress::Progress;

use std::path::PathBuf;

/// The repository's `fixtures/` directory: workflows, Dockerfiles, values, signatures.
pub fn fixtures_dir() -> PathBuf {
    workspace_root().join("fixtures")
}

/// The repository's root (the workspace this crate was built in).
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// The workspace's `target/e2e/` directory, where reports and bundles go.
pub fn output_dir() -> PathBuf {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace_root().join("target"));
    target.join("e2e")
}
