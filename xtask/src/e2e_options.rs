//! The parsed flags of `cargo xtask e2e`, shared by the Docker and kind runs.

use std::path::PathBuf;

use harness::docker::DindMode;
use harness::docker::images::ImageSource;
use harness::kind::{CertMode, Registration};
use harness::platform::docker::Deadlines;
use harness::scenario::Platform;

/// Every flag of `cargo xtask e2e` (parsed in `e2e.rs`).
pub struct Options {
    pub(crate) scenarios: Vec<String>,
    pub(crate) workflows: Vec<PathBuf>,
    /// Jobs of the `--workflow`s that are meant to fail.
    pub(crate) expect_failure: Vec<String>,
    pub(crate) list: bool,
    pub(crate) keep: bool,
    pub(crate) negative: bool,
    pub(crate) dind: DindMode,
    pub(crate) jobs: usize,
    pub(crate) values: PathBuf,
    pub(crate) image_source: ImageSource,
    pub(crate) deadlines: Deadlines,
    pub(crate) apply_sysctl: bool,
    pub(crate) platform: Platform,
    pub(crate) dry_run: bool,
    pub(crate) reuse: bool,
    pub(crate) keep_on_failure: bool,
    pub(crate) registry_mirror: Option<String>,
    pub(crate) node_image: Option<String>,
    pub(crate) cluster: String,
    /// `--platform kubernetes`: `--kubeconfig`, `--context`, `--namespace`.
    pub(crate) existing: harness::cluster::existing::ExistingOptions,
    pub(crate) chart: Option<String>,
    pub(crate) chart_version: Option<String>,
    /// Render findings (by key) the run accepts instead of failing on them.
    pub(crate) allow_findings: Vec<String>,
    pub(crate) render: bool,
    pub(crate) certs: CertMode,
    pub(crate) registration: Registration,
    pub(crate) upgrade_matrix: bool,
    pub(crate) upgrade_from: Option<String>,
    pub(crate) upgrade_to: Option<String>,
    /// `--executor`, `--runner-image`, `--forgejo-image`.
    pub(crate) executor: harness::executor::choice::Request,
    /// Change nothing on the machine: name what is missing instead of installing it.
    pub(crate) no_provision: bool,
}
