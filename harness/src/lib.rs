//! The harness: the only crate that talks to Docker and Kubernetes.
//!
//! Scenarios describe workflows and assertions ([`scenario`]); the platforms run them
//! ([`docker`] today, the kind platform behind the `kube` feature); results become reports
//! ([`report`]). See ARCHITECTURE.md for the map.

pub mod config;
pub mod docker;
mod error;
pub mod pki;
mod progress;
pub mod sys;

pub use error::UserError;
pub use progress::Progress;

use std::path::PathBuf;

/// The repository's `fixtures/` directory: workflows, Dockerfiles, values, signatures.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

/// The workspace's `target/e2e/` directory, where reports and bundles go.
pub fn output_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("e2e")
}
