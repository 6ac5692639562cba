//! The platform seam: what the run loop (`run.rs`) asks of a platform once it is prepared.
//! A platform is prepared by its own constructor (`docker_setup::prepare`,
//! `kind::prepare`: images, cluster, header); the loop then builds the job artifacts, runs
//! the items (or the upgrades) and tears the platform down, on either platform alike.

use std::collections::HashMap;

use anyhow::Result;

use super::RunItem;
use crate::docker::DindMode;
use crate::report::ScenarioResult;
use crate::scenario::Platform;

/// One prepared platform of one run.
// Not object-safe on purpose: the loop is generic over it, and only this crate implements it.
#[allow(async_fn_in_trait)]
pub trait PlatformRun {
    /// What the reports call this platform.
    fn platform(&self) -> Platform;
    fn dind(&self) -> DindMode;
    /// How many items run at once.
    fn concurrency(&self) -> usize;
    /// The programs scenarios ship into jobs, built once the platform is up.
    fn set_artifacts(&mut self, artifacts: HashMap<&'static str, Vec<u8>>);
    /// Why `item` cannot run here, if it cannot: its row is skipped with this reason.
    fn not_here(&self, item: &RunItem) -> Option<String>;
    async fn run_item(&self, item: &RunItem) -> ScenarioResult;
    /// Chart upgrades to validate instead of the plain items, if any were asked for.
    fn has_upgrades(&self) -> bool;
    /// One row per upgrade, each running `items` before and after it.
    async fn run_upgrades(&self, items: &[RunItem]) -> Vec<ScenarioResult>;
    /// Removes what the run made unless it is to be kept; `failed` says an item failed
    /// (logs are then exported first, and `--keep-on-failure` keeps everything).
    async fn teardown(&self, failed: bool) -> Result<()>;
    /// The summary's header facts: executor, privilege, where the images came from.
    fn facts(&self) -> Facts;
    /// Seconds per setup phase so far, for the summary and the bench.
    fn phases(&self) -> &Phases;
}

/// Seconds per setup phase, in the order they ran; items add theirs concurrently.
#[derive(Default)]
pub struct Phases(std::sync::Mutex<Vec<(String, f64)>>);

impl Phases {
    pub fn new(first: Vec<(String, f64)>) -> Self {
        Self(std::sync::Mutex::new(first))
    }

    pub fn add(&self, name: &str, seconds: f64) {
        self.0.lock().expect("setup phases").push((name.to_owned(), seconds));
    }

    pub fn all(&self) -> Vec<(String, f64)> {
        self.0.lock().expect("setup phases").clone()
    }
}

/// What a summary says about the platform it ran on.
pub struct Facts {
    pub executor: &'static str,
    pub privilege: String,
    pub images: String,
    /// Render findings the user accepted (`--allow-finding`).
    pub allowed_findings: Vec<crate::report::Finding>,
}
