//! A workspace as the real runner meets it: pushed to a Forgejo repository with git over
//! HTTP, the run for that commit watched through the API until every job is final, and
//! each job's log fetched from the web route.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::client::{Forgejo, RunStatus, Task};
use crate::wait::{self, Poll};

/// One job of a run, as Forgejo reports it, with its log.
#[derive(Debug, Clone)]
pub struct JobLog {
    /// The job's name (`jobs.<id>.name`, or its id).
    pub name: String,
    pub status: RunStatus,
    pub log: String,
}

/// The run a push started, every job final.
#[derive(Debug, Clone)]
pub struct PushedRun {
    pub sha: String,
    pub run_number: i64,
    /// In the order of the run's jobs (the web route's job index).
    pub jobs: Vec<JobLog>,
}

impl PushedRun {
    /// Whether every job succeeded (a skipped job counts as not failed).
    pub fn succeeded(&self) -> bool {
        self.jobs.iter().all(|j| matches!(j.status, RunStatus::Success | RunStatus::Skipped))
    }

    /// All jobs' logs, each under a `== job NAME (status) ==` line, for the checks.
    pub fn joined_log(&self) -> String {
        let mut out = String::new();
        for j in &self.jobs {
            out.push_str(&format!("== job {} ({:?}) ==\n{}\n", j.name, j.status, j.log.trim_end()));
        }
        out
    }
}

/// Pushes the committed `workspace` (its `HEAD`) to `owner/repo`'s `main` as `user`
/// (basic auth with the client's token; the header goes through git's environment, never
/// its command line). Returns the pushed commit.
pub async fn push(api: &Forgejo, user: &str, owner: &str, repo: &str, workspace: &Path) -> Result<String> {
    push_refs(api, user, owner, repo, workspace, &["HEAD:refs/heads/main"]).await
}

/// [`push`] to the given refspecs (`HEAD:refs/tags/v4` for an action's version).
pub async fn push_refs(
    api: &Forgejo,
    user: &str,
    owner: &str,
    repo: &str,
    workspace: &Path,
    refspecs: &[&str],
) -> Result<String> {
    let sha = git(workspace, &["rev-parse", "HEAD"], None).await?.trim().to_owned();
    let url = format!("{}/{owner}/{repo}.git", api.base());
    let header = api.git_auth(user).map(|h| format!("Authorization: {h}"));
    let mut args = vec!["push", "--quiet", url.as_str()];
    args.extend(refspecs);
    let out = git(workspace, &args, header.as_deref()).await;
    match out {
        Ok(_) => Ok(sha),
        Err(e) => {
            let why = format!("{e:#}");
            // git answers a 401 by asking for a user name, which it may not here.
            let hint = if why.contains("401") || why.contains("could not read Username") {
                ": Forgejo refused the credentials (a wrong or expired token)"
            } else if why.contains("403") {
                ": the token may lack `write:repository`, or the repository refuses pushes"
            } else {
                ""
            };
            bail!("git push to {url} was rejected{hint} ({why})")
        }
    }
}

/// Waits until the run for `sha` exists and every one of its jobs is final, at most
/// `deadline`, then fetches each job's log.
pub async fn run_of(api: &Forgejo, owner: &str, repo: &str, sha: &str, deadline: Duration) -> Result<PushedRun> {
    let what = format!("the run of {owner}/{repo} for {}", &sha[..sha.len().min(12)]);
    let tasks = wait::until(&what, deadline, Duration::from_secs(2), || async {
        let tasks: Vec<Task> = api.tasks(owner, repo).await?.into_iter().filter(|t| t.head_sha == sha).collect();
        Ok(match tasks.iter().find(|t| !t.status().is_final()) {
            _ if tasks.is_empty() => Poll::NotYet("no run for that commit yet (is a runner registered?)".into()),
            Some(t) => Poll::NotYet(format!("job `{}` is {}", t.name, t.status)),
            None => Poll::Ready(tasks),
        })
    })
    .await?;
    // One task per job of the run; their ids are in the run's job order.
    let mut tasks = tasks;
    tasks.sort_by_key(|t| t.id);
    let run_number = tasks[0].run_number();
    let mut jobs = Vec::new();
    for (index, t) in tasks.iter().enumerate() {
        let log = api.job_log(owner, repo, run_number, index).await?;
        jobs.push(JobLog { name: t.name.clone(), status: t.status(), log });
    }
    Ok(PushedRun { sha: sha.to_owned(), run_number, jobs })
}

/// `git ARGS` in `dir`, with an `Authorization` header from the environment when given.
async fn git(dir: &Path, args: &[&str], auth_header: Option<&str>) -> Result<String> {
    let mut cmd = tokio::process::Command::new("git");
    cmd.arg("-C").arg(dir).args(args);
    // Never ask on a terminal; a credential helper must not answer for another host.
    cmd.env("GIT_TERMINAL_PROMPT", "0").env("GIT_CONFIG_NOSYSTEM", "1");
    if let Some(h) = auth_header {
        cmd.env("GIT_CONFIG_COUNT", "1").env("GIT_CONFIG_KEY_0", "http.extraHeader").env("GIT_CONFIG_VALUE_0", h);
    }
    let what = format!("git {}", args.first().copied().unwrap_or_default());
    let out = crate::process::run(cmd, &what, Duration::from_secs(120), None)
        .await
        .with_context(|| format!("{what} in {}", dir.display()))?;
    if !out.success {
        bail!("{what}: {}", out.tail(3));
    }
    Ok(out.text)
}
