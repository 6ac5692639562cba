//! Forgejo's API (versions noted where a route appeared): registration tokens by GET
//! (>= 7.0), the jobs a runner took in `/actions/tasks` (>= 8.0), logs only on the web
//! route (0-based job index, no token scheme: public repositories).

use anyhow::{Context, Result};
use hyper::Method;
use serde::Deserialize;

use super::{Dialect, LogRoute, Scope};
use crate::forge::job::Task;

#[derive(Debug, Clone, Copy)]
pub struct Forgejo;

#[derive(Deserialize)]
struct Tasks {
    #[serde(default)]
    workflow_runs: Vec<Task>,
}

impl Dialect for Forgejo {
    fn name(&self) -> &'static str {
        "Forgejo"
    }

    fn registration_token(&self, scope: Scope<'_>) -> (Method, String) {
        let path = match scope {
            Scope::Instance => "/api/v1/admin/runners/registration-token".to_owned(),
            Scope::Org(org) => format!("/api/v1/orgs/{org}/actions/runners/registration-token"),
            Scope::Repo { owner, repo } => format!("/api/v1/repos/{owner}/{repo}/actions/runners/registration-token"),
        };
        (Method::GET, path)
    }

    fn jobs_path(&self, owner: &str, repo: &str) -> String {
        format!("/api/v1/repos/{owner}/{repo}/actions/tasks?page=1&limit=50")
    }

    /// One task per job a runner took; the status words are [`crate::forge::RunStatus`]'s.
    fn parse_jobs(&self, body: &str) -> Result<Vec<Task>> {
        let tasks: Tasks = serde_json::from_str(body).with_context(|| format!("not a tasks list: {body}"))?;
        Ok(tasks.workflow_runs)
    }

    fn lists_waiting_jobs(&self) -> bool {
        false
    }

    fn log_route(&self, owner: &str, repo: &str, task: &Task, index: usize) -> LogRoute {
        LogRoute {
            path: format!("/{owner}/{repo}/actions/runs/{}/jobs/{index}/logs", task.run_number),
            with_token: false,
        }
    }

    fn binary(&self) -> &'static str {
        "forgejo"
    }

    fn env_prefix(&self) -> &'static str {
        "FORGEJO"
    }

    /// Forgejo takes a URL.
    fn actions_from_self(&self, root_url: &str) -> String {
        root_url.trim_end_matches('/').to_owned()
    }

    /// Forgejo reads `.forgejo/workflows` first by default.
    fn extra_settings(&self) -> Vec<(&'static str, &'static str, String)> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forge::RunStatus;

    #[test]
    fn tokens_by_get_and_logs_on_the_web_route() {
        let (method, path) = Forgejo.registration_token(Scope::Repo { owner: "o", repo: "r" });
        assert_eq!((method, path.as_str()), (Method::GET, "/api/v1/repos/o/r/actions/runners/registration-token"));
        assert_eq!(Forgejo.registration_token(Scope::Instance).1, "/api/v1/admin/runners/registration-token");
        let body = r#"{"workflow_runs":[{"id":7,"name":"build","head_sha":"abc","run_number":3,"status":"running"}],"total_count":1}"#;
        let tasks = Forgejo.parse_jobs(body).expect("tasks");
        assert_eq!((tasks[0].id, tasks[0].status()), (7, RunStatus::Running));
        let route = Forgejo.log_route("o", "r", &tasks[0], 1);
        assert_eq!(route, LogRoute { path: "/o/r/actions/runs/3/jobs/1/logs".into(), with_token: false });
    }
}
