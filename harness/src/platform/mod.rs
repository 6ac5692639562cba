//! Platforms that run scenarios: a Docker engine (a pod per item, made of containers), and
//! a kind cluster (the chart installed with helm).

pub mod conclude;
mod delivery;
pub mod docker;
mod docker_ahead;
mod docker_pod;
pub mod docker_setup;
mod jobs;
pub mod judge;
pub mod kind;
pub mod pod;
pub mod seam;
pub mod upgrade;
mod userns;

use std::path::PathBuf;

use futures_util::StreamExt;

use crate::Progress;
use crate::docker::DindMode;
use crate::executor::Kind;
use crate::report::ScenarioResult;
use crate::scenario::{Check, Evidence, Expect, Outcome, Platform, Scenario, Variant};

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
    /// Jobs of a user's workflow that are meant to fail (`--expect-failure`): a job id
    /// (all of its matrix rows) or one row's name.
    pub expect_failure: Vec<String>,
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
            expect_failure: Vec::new(),
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
            expect_failure: Vec::new(),
        }
    }

    /// A user's workflow file or folder, run in a copy of the repository around it.
    pub fn user_workflow(repo: PathBuf, workflow: String) -> Self {
        Self {
            name: format!("workflow:{workflow}"),
            sources: vec![repo],
            workflow,
            scenario: None,
            variant: None,
            expect_failure: Vec::new(),
        }
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

    /// The assertions: the scenario's own (a control variant's own), or "the job
    /// succeeded" for a user workflow. A scenario job that never reached its probes gets
    /// one failed check saying why, instead of a list of "never reported".
    pub fn checks(&self, ev: &Evidence) -> Vec<Check> {
        let Some(scenario) = &self.scenario else {
            return vec![Check::job_succeeded(ev)];
        };
        if let Some(why) = ev.never_ran() {
            return vec![Check::never_ran(why)];
        }
        match self.variant.map(|v| v.expect) {
            Some(Expect::Control(check)) => check(ev),
            _ => (scenario.check)(ev),
        }
    }

    /// Lays the item's workspace out at `dest` (a committed repository): its sources, the
    /// run's `nonce`, the image Dockerfiles may build FROM, and the scenario's artifacts.
    pub fn lay_workspace(
        &self,
        dest: &std::path::Path,
        nonce: &str,
        base_image: &str,
        artifacts: &std::collections::HashMap<&'static str, Vec<u8>>,
        plan: Option<&crate::workflow::plan::WorkflowPlan>,
    ) -> anyhow::Result<()> {
        use crate::workspace::{BASE_IMAGE_FILE, Generated, NONCE_FILE};
        use anyhow::Context;
        let (nonce_line, image_line) = (format!("{nonce}\n"), format!("{base_image}\n"));
        let mut generated =
            vec![Generated::text(NONCE_FILE, &nonce_line), Generated::text(BASE_IMAGE_FILE, &image_line)];
        for a in self.scenario.iter().flat_map(|s| s.artifacts) {
            let bytes = artifacts.get(a.bin).with_context(|| format!("artifact {} was not built", a.bin))?;
            generated.push(Generated { path: a.dest, bytes, executable: true });
        }
        // A user workflow's jobs, each in a workflow file of its own (see `workflow::plan`).
        for job in plan.iter().flat_map(|p| &p.jobs) {
            generated.push(Generated::text(&job.file, &job.contents));
        }
        crate::workspace::prepare(&self.sources, dest, &generated)
    }

    /// Why no job of this item's workflow would be picked by a runner with `config`'s
    /// labels, or `None`. Read from the workspace's sources before any pod starts.
    pub fn label_mismatch(&self, config: &crate::config::RunnerConfig) -> Option<String> {
        let labels = config.labels();
        let why: Vec<Option<String>> = crate::workflow::files(&self.sources, &self.workflow)
            .iter()
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .map(|text| crate::workflow::unmatched(&labels, &text))
            .collect();
        if why.iter().any(Option::is_none) {
            return None;
        }
        why.into_iter().flatten().next()
    }

    /// A user's workflow as the runner meets it, job by job, for a runner with `config`'s
    /// labels; `None` for scenarios (their checks judge the whole run). `Err` is the
    /// user's mistake in the file, with the file named.
    pub fn job_plan(
        &self,
        config: &crate::config::RunnerConfig,
    ) -> Option<anyhow::Result<crate::workflow::plan::WorkflowPlan>> {
        if self.scenario.is_some() {
            return None;
        }
        let file = crate::workflow::files(&self.sources, &self.workflow).into_iter().next()?;
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => return Some(Err(anyhow::anyhow!("read {}: {e}", file.display()))),
        };
        Some(
            crate::workflow::plan::plan(&text, &config.labels())
                .map_err(|why| crate::user_error!("{}: {why}", file.display())),
        )
    }
}

/// The item loop of every platform: an item that cannot run here is a skipped row with
/// `not_here`'s reason; the others run through `run_one`, `jobs` at a time, each between
/// a start and an end line.
pub async fn each_item<F>(
    items: &[RunItem],
    jobs: usize,
    platform: Platform,
    dind: DindMode,
    not_here: impl Fn(&RunItem) -> Option<String>,
    run_one: F,
    progress: &Progress,
) -> Vec<ScenarioResult>
where
    F: AsyncFn(&RunItem) -> ScenarioResult,
{
    let one = async |item: &RunItem| {
        if let Some(reason) = not_here(item) {
            progress.say(format!("{}: skipped: {reason}", item.name));
            return crate::platform::conclude::skipped(item, platform, dind, reason);
        }
        progress.say(format!("{}: start", item.name));
        let result = run_one(item).await;
        progress.say(format!("{}: {} in {:.1}s", item.name, word(&result.outcome), result.duration.as_secs_f64()));
        result
    };
    futures_util::stream::iter(items).map(one).buffered(jobs.max(1)).collect().await
}

pub(crate) fn word(o: &Outcome) -> &'static str {
    match o {
        Outcome::Pass => "passed",
        Outcome::Fail(_) => "FAILED",
        Outcome::Skip(_) => "skipped",
    }
}

/// Why `item` cannot run on `platform` with `dind` and `executor`, if it cannot.
pub fn unmet_needs_on(item: &RunItem, platform: Platform, dind: DindMode, executor: Kind) -> Option<String> {
    if let Some(why) = item.variant.and_then(|v| v.fault).and_then(|f| f.not_on(platform, executor)) {
        return Some(why.to_owned());
    }
    let needs = item.scenario.as_ref()?.needs;
    if !needs.platforms.is_empty() && !needs.platforms.contains(&platform) {
        let want: Vec<&str> = needs.platforms.iter().map(|p| crate::platform::conclude::platform_name(*p)).collect();
        return Some(match platform {
            Platform::Docker => "needs the kind platform (a Kubernetes cluster)".into(),
            Platform::Kind | Platform::Kubernetes => format!("needs the {} platform", want.join(" or ")),
        });
    }
    if !needs.dind.is_empty() && !needs.dind.contains(&dind) {
        let want: Vec<&str> = needs.dind.iter().map(|d| d.name()).collect();
        return Some(format!("needs {} DIND (run with --dind {})", want.join(" or "), want[0]));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ARTICLE_VALUES, load_values};

    #[test]
    fn a_user_workflow_no_label_matches_is_named_before_any_pod() {
        let config = load_values(&crate::fixtures_dir().join(ARTICLE_VALUES)).expect("values").runner.config.file;
        let repo = std::env::temp_dir().join(format!("fe2e-labels-{}", std::process::id()));
        std::fs::create_dir_all(repo.join(".forgejo/workflows")).expect("dir");
        std::fs::write(
            repo.join(".forgejo/workflows/ci.yml"),
            "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps: [{run: make}]\n",
        )
        .expect("write");
        let item = RunItem::user_workflow(repo.clone(), ".forgejo/workflows".into());
        assert_eq!(
            item.label_mismatch(&config).as_deref(),
            Some("no runner has label `ubuntu-latest` (this runner: self-hosted, default)")
        );
        let _ = std::fs::remove_dir_all(repo);
        // The scenarios' own workflows run on the article's labels.
        let scenario = RunItem {
            name: "s".into(),
            sources: vec![crate::fixtures_dir().join("workspaces/docker-build")],
            workflow: ".forgejo/workflows/docker-build.yml".into(),
            scenario: None,
            variant: None,
            expect_failure: Vec::new(),
        };
        assert_eq!(scenario.label_mismatch(&config), None);
    }
}
