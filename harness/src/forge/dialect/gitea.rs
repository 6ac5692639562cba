//! Gitea's API (1.27, read from its source and recorded from a real instance): registration
//! tokens by POST (a GET matches `runners/{id}` and is 404), the instance's under
//! `/admin/actions/`; every job of a run in `/actions/jobs`, GitHub-shaped (`queued`,
//! `in_progress`, `completed` with a conclusion), those no runner took included; logs on a
//! REST route by job id, with the token.

use anyhow::{Context, Result};
use hyper::Method;
use serde::Deserialize;

use super::{Dialect, LogRoute, Scope};
use crate::forge::job::Task;

#[derive(Debug, Clone, Copy)]
pub struct Gitea;

#[derive(Deserialize)]
struct Jobs {
    #[serde(default)]
    jobs: Vec<Job>,
}

#[derive(Deserialize)]
struct Job {
    id: i64,
    run_id: i64,
    #[serde(default)]
    name: String,
    #[serde(default)]
    head_sha: String,
    status: String,
    #[serde(default)]
    conclusion: Option<String>,
    #[serde(default)]
    steps: Vec<Step>,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    runner_name: Option<String>,
}

#[derive(Deserialize)]
struct Step {
    name: String,
    #[serde(default)]
    conclusion: Option<String>,
}

/// Gitea's GitHub-shaped pair as the status words runs use (`services/convert`'s
/// `ToActionsStatus`, read backwards): `queued` is a job waiting for a runner, `waiting` one
/// blocked on its needs.
fn status(status: &str, conclusion: Option<&str>) -> String {
    match (status, conclusion) {
        ("queued", _) => "waiting".into(),
        ("waiting", _) => "blocked".into(),
        ("in_progress", _) => "running".into(),
        ("completed", Some(c)) if !c.is_empty() => c.into(),
        (other, _) => other.into(),
    }
}

impl Dialect for Gitea {
    fn name(&self) -> &'static str {
        "Gitea"
    }

    fn registration_token(&self, scope: Scope<'_>) -> (Method, String) {
        let path = match scope {
            Scope::Instance => "/api/v1/admin/actions/runners/registration-token".to_owned(),
            Scope::Org(org) => format!("/api/v1/orgs/{org}/actions/runners/registration-token"),
            Scope::Repo { owner, repo } => format!("/api/v1/repos/{owner}/{repo}/actions/runners/registration-token"),
        };
        (Method::POST, path)
    }

    fn jobs_path(&self, owner: &str, repo: &str) -> String {
        format!("/api/v1/repos/{owner}/{repo}/actions/jobs?page=1&limit=50&sort=id&order=desc")
    }

    fn parse_jobs(&self, body: &str) -> Result<Vec<Task>> {
        let jobs: Jobs = serde_json::from_str(body).with_context(|| format!("not a jobs list: {body}"))?;
        Ok(jobs
            .jobs
            .into_iter()
            .map(|j| Task {
                id: j.id,
                name: j.name,
                head_sha: j.head_sha,
                run_number: j.run_id,
                status: status(&j.status, j.conclusion.as_deref()),
                failed_step: j.steps.into_iter().find(|s| s.conclusion.as_deref() == Some("failure")).map(|s| s.name),
                labels: j.labels,
                runner: j.runner_name.filter(|n| !n.is_empty()),
            })
            .collect())
    }

    fn lists_waiting_jobs(&self) -> bool {
        true
    }

    fn log_route(&self, owner: &str, repo: &str, task: &Task, _index: usize) -> LogRoute {
        LogRoute { path: format!("/api/v1/repos/{owner}/{repo}/actions/jobs/{}/logs", task.id), with_token: true }
    }

    fn binary(&self) -> &'static str {
        "gitea"
    }

    fn env_prefix(&self) -> &'static str {
        "GITEA"
    }

    /// Gitea takes `github` or `self`, not a URL.
    fn actions_from_self(&self, _root_url: &str) -> String {
        "self".into()
    }

    /// Gitea reads `.gitea/workflows` and `.github/workflows`, and only the first listed
    /// folder a commit has: `.forgejo/workflows` goes first.
    fn extra_settings(&self) -> Vec<(&'static str, &'static str, String)> {
        vec![("actions", "WORKFLOW_DIRS", ".forgejo/workflows,.gitea/workflows,.github/workflows".into())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forge::RunStatus;

    fn recorded(name: &str) -> String {
        let path = crate::fixtures_dir().join("forge-responses/gitea-1.27.3").join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn tokens_by_post_the_instances_under_admin_actions() {
        let (method, path) = Gitea.registration_token(Scope::Repo { owner: "o", repo: "r" });
        assert_eq!((method, path.as_str()), (Method::POST, "/api/v1/repos/o/r/actions/runners/registration-token"));
        assert_eq!(Gitea.registration_token(Scope::Instance).1, "/api/v1/admin/actions/runners/registration-token");
    }

    #[test]
    fn recorded_jobs_read_as_run_statuses_waiting_and_blocked_included() {
        // Two pushes: a run whose matrix comes from a job's outputs (Gitea 1.27 leaves that
        // job blocked), and a `needs:` pair that ran.
        let jobs = Gitea.parse_jobs(&recorded("jobs.json")).expect("jobs");
        let seen: Vec<(i64, i64, RunStatus)> = jobs.iter().map(|t| (t.id, t.run_number, t.status())).collect();
        assert_eq!(
            seen,
            [
                (1, 1, RunStatus::Success),
                (2, 1, RunStatus::Blocked),
                (3, 1, RunStatus::Blocked),
                (4, 2, RunStatus::Success),
                (5, 2, RunStatus::Success),
            ]
        );
        assert_eq!(jobs[4].name, "second");
        assert_eq!(jobs[4].labels, ["self-hosted"]);
        // Who took it; a job nobody took names no runner.
        assert_eq!((jobs[4].runner.as_deref(), jobs[1].runner.as_deref()), (Some("host1"), None));
        assert!(jobs[4].head_sha.starts_with("bbe12e73"), "{}", jobs[4].head_sha);
        assert_eq!(status("queued", None), "waiting");
        assert_eq!(status("in_progress", None), "running");
        let route = Gitea.log_route("e2e-admin", "r1", &jobs[4], 1);
        assert_eq!(route, LogRoute { path: "/api/v1/repos/e2e-admin/r1/actions/jobs/5/logs".into(), with_token: true });
    }

    #[test]
    fn the_recorded_log_is_timestamped_rows() {
        let log = recorded("job-log.txt");
        assert!(log.lines().all(|l| l.split_once(' ').is_some_and(|(t, _)| t.ends_with('Z'))), "{log}");
        assert!(log.contains("second got hello"), "{log}");
    }
}
