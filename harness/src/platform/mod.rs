//! Platforms that run scenarios: the Docker engine today; kind behind the `kube` feature.

pub mod docker;
pub mod upgrade;
mod userns;

use std::path::PathBuf;

use crate::scenario::{Check, Evidence, Scenario, Variant};

/// One thing to run: a scenario, one of its negative variants, or a user's workflow.
#[derive(Debug, Clone)]
pub struct RunItem {
    /// Report name: `docker-build`, `docker-build:broken`, `workflow:ci.yml`.
    pub name: String,
    /// Folders laid over each other to make the workspace.
    pub sources: Vec<PathBuf>,
    /// Workflow file (or folder) inside the workspace.
    pub workflow: String,
    pub scenario: Option<Scenario>,
    pub variant: Option<Variant>,
}

impl RunItem {
    pub fn scenario(s: Scenario) -> Self {
        let ws = crate::fixtures_dir().join("workspaces");
        Self {
            name: s.name.to_owned(),
            sources: vec![ws.join(s.workspace)],
            workflow: s.workflow.to_owned(),
            scenario: Some(s),
            variant: None,
        }
    }

    pub fn variant(s: Scenario, v: Variant) -> Self {
        let ws = crate::fixtures_dir().join("workspaces");
        let mut sources = vec![ws.join(s.workspace)];
        if !v.overlay.is_empty() {
            sources.push(ws.join(v.overlay));
        }
        Self {
            name: format!("{}:{}", s.name, v.name),
            sources,
            workflow: s.workflow.to_owned(),
            scenario: Some(s),
            variant: Some(v),
        }
    }

    /// A user's workflow file or folder, run in a copy of the repository around it.
    pub fn user_workflow(repo: PathBuf, workflow: String) -> Self {
        Self { name: format!("workflow:{workflow}"), sources: vec![repo], workflow, scenario: None, variant: None }
    }

    /// The runner configuration for this item: `base` with the scenario's and the
    /// variant's changes applied.
    pub fn config(&self, base: &crate::config::RunnerConfig) -> crate::config::RunnerConfig {
        let mut config = base.clone();
        if let Some(patch) = self.scenario.and_then(|s| s.config) {
            patch(&mut config);
        }
        if let Some(patch) = self.variant.and_then(|v| v.config) {
            patch(&mut config);
        }
        config
    }

    /// The assertions: the scenario's own, or "the job succeeded" for a user workflow.
    pub fn checks(&self, ev: &Evidence) -> Vec<Check> {
        match &self.scenario {
            Some(s) => (s.check)(ev),
            None => vec![Check::job_succeeded(ev)],
        }
    }
}
