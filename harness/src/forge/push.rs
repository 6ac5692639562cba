//! A workspace as the real runner meets it: pushed to a forge's repository with git over
//! HTTP, the run for that commit watched through the API until every job is final, and
//! each job's log fetched (where the dialect says it is).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

use super::client::{Forge, RunStatus, Task};
use crate::failure::Failed;

/// One job of a run, as the forge reports it, with its log.
#[derive(Debug, Clone)]
pub struct JobLog {
    /// The job's name (`jobs.<id>.name`, or its id).
    pub name: String,
    pub status: RunStatus,
    /// The step the forge marked failed, where it says.
    pub failed_step: Option<String>,
    /// The labels it asked a runner for, where the forge says.
    pub labels: Vec<String>,
    /// The runner that took it, where the forge says (Gitea).
    pub runner: Option<String>,
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

    /// All jobs' logs, each under a `== job NAME (status) ==` line, for the checks (and for
    /// `executor::forgejo_log`, which reads how each ended from it).
    pub fn joined_log(&self) -> String {
        let mut out = String::new();
        for j in &self.jobs {
            let header = crate::executor::forgejo_log::job_header(&j.name, j.status.word());
            out.push_str(&header);
            out.push('\n');
            if let Some(step) = &j.failed_step {
                out.push_str(&crate::executor::forgejo_log::failed_step_line(step));
                out.push('\n');
            }
            out.push_str(&format!("{}\n", j.log.trim_end()));
        }
        out
    }
}

/// The repository an item's workspace is pushed to (Forgejo's names: [a-zA-Z0-9._-]).
pub fn repo_name(item: &str) -> String {
    let safe: String =
        item.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '-' }).collect();
    safe.trim_matches(['-', '.']).to_owned()
}

/// Pushes the committed `workspace` (its `HEAD`) to `owner/repo`'s `main` as `user`
/// (basic auth with the client's token; the header goes through git's environment, never
/// its command line). Returns the pushed commit.
pub async fn push(api: &Forge, user: &str, owner: &str, repo: &str, workspace: &Path) -> Result<String> {
    push_refs(api, user, owner, repo, workspace, &["HEAD:refs/heads/main"]).await
}

/// [`push`] to the given refspecs (`HEAD:refs/tags/v4` for an action's version).
pub async fn push_refs(
    api: &Forge,
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
            // What the forge answers these credentials at receive-pack is the fact; git's
            // own words (a 401 makes it ask for a user name it may not) are only shown.
            let said = format!("{e:#}");
            match api.receive_pack_status(owner, repo, user).await.map(|s| s.as_u16()) {
                Ok(status @ (401 | 403)) => Err(Failed::PushRejected { url, status, said }.into()),
                Ok(status) => {
                    bail!("git push to {url} failed, though the forge answers receive-pack with {status}: {said}")
                }
                Err(asked) => bail!("git push to {url} failed ({said}), and the forge did not say why: {asked:#}"),
            }
        }
    }
}

/// Commits, on top of the workspace's `HEAD`, a tree whose only workflow is `job_file` (a
/// path inside `workspace`) as `.forgejo/workflows/forgejo-e2e-job.yml`: the next push
/// starts that one job. `row` names it in the commit message.
pub async fn commit_one_job(workspace: &Path, job_file: &str, row: &str) -> Result<()> {
    let contents = std::fs::read(workspace.join(job_file)).with_context(|| format!("read {job_file}"))?;
    git(workspace, &["rm", "-r", "-q", "--ignore-unmatch", "--", ".forgejo/workflows", ".github/workflows"], None)
        .await?;
    let dir = workspace.join(".forgejo/workflows");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("forgejo-e2e-job.yml"), contents)?;
    git(workspace, &["add", "-A"], None).await?;
    let message = format!("forgejo-e2e: job {row}");
    let who = ["-c", "user.name=forgejo-e2e", "-c", "user.email=e2e@localhost"];
    git(workspace, &[&who[..], &["commit", "--quiet", "--allow-empty", "-m", &message]].concat(), None).await?;
    Ok(())
}

/// Waits until the run for `sha` exists and every one of its jobs is final, at most
/// `deadline`, then fetches each job's log.
pub async fn run_of(api: &Forge, owner: &str, repo: &str, sha: &str, deadline: Duration) -> Result<PushedRun> {
    watch(api, owner, repo, sha, deadline, async |_: &[Task]| Ok(())).await
}

/// When a watch ends.
#[derive(Debug, Clone)]
pub enum Until {
    /// Every job of the run is final.
    AllFinal,
    /// Every job is final, or nothing can move any more for [`SETTLE`]: no job runs, and
    /// each job left waits for a label no runner here has (`served` are the runner's
    /// labels) or is blocked. For a forge that lists jobs nobody took.
    Settled { served: Vec<String> },
}

/// How long nothing may move before a [`Until::Settled`] watch ends: a job whose needs
/// just finished is blocked for a moment before the forge queues it.
const SETTLE: Duration = Duration::from_secs(4);

impl Until {
    fn stuck(&self, tasks: &[Task]) -> bool {
        let Until::Settled { served } = self else { return false };
        let unserved = |t: &Task| t.labels.iter().any(|l| !served.contains(l));
        !tasks.is_empty()
            && tasks.iter().all(|t| match t.status() {
                RunStatus::Waiting => unserved(t),
                RunStatus::Blocked => true,
                status => status.is_final(),
            })
    }
}

/// Consecutive failed polls after which the forge counts as gone (a poll a second).
const GONE_AFTER: usize = 3;
/// Between two looks at the jobs: a job's end is seen at most this late (a look is one
/// request on the forge's API).
pub(crate) const POLL: Duration = Duration::from_millis(250);

/// [`run_of`], calling `during` at every poll until the run is over (with its tasks in
/// job order, none before a runner took one): an error from it ends the watch (the runner
/// died), and it may act on a job's live log (a fault's hook). `deadline` bounds the wait
/// for a runner, then the run from the moment one took it. Every way this ends unfinished is named:
/// the forge gone, a job no runner took, a job past the deadline (each a [`Failed`]), no run
/// at all.
pub async fn watch<F>(
    api: &Forge,
    owner: &str,
    repo: &str,
    sha: &str,
    deadline: Duration,
    during: F,
) -> Result<PushedRun>
where
    F: AsyncFnMut(&[Task]) -> Result<()>,
{
    watch_until(api, owner, repo, sha, deadline, Until::AllFinal, during).await
}

/// [`watch`] ending as `until` says; jobs that never started come back without a log.
pub async fn watch_until<F>(
    api: &Forge,
    owner: &str,
    repo: &str,
    sha: &str,
    deadline: Duration,
    until: Until,
    mut during: F,
) -> Result<PushedRun>
where
    F: AsyncFnMut(&[Task]) -> Result<()>,
{
    // `deadline` bounds the wait for a runner to take the run, then again the run from
    // then on: a job's time counts from its start, as act's does.
    let mut start = Instant::now();
    let mut taken = false;
    let (mut answered, mut failed) = (false, 0);
    let mut tasks: Vec<Task> = Vec::new();
    let mut repo_had_tasks = false;
    let mut quiet: Option<Instant> = None;
    loop {
        match api.tasks(owner, repo).await {
            // Never answered: a wrong URL or a forge that is not there, said at once.
            Err(e) if !answered => return Err(e),
            Err(e) => {
                failed += 1;
                if failed >= GONE_AFTER {
                    return Err(Failed::ForgeGone { polls: failed, last: format!("{e:#}") }.into());
                }
            }
            Ok(all) => {
                (answered, failed) = (true, 0);
                repo_had_tasks |= all.iter().any(|t| t.head_sha != sha);
                tasks = all.into_iter().filter(|t| t.head_sha == sha).collect();
                // One task per job of the run; their ids are in the run's job order.
                tasks.sort_by_key(|t| t.id);
                if !tasks.is_empty() && tasks.iter().all(|t| t.status().is_final()) {
                    break;
                }
                quiet = until.stuck(&tasks).then(|| quiet.unwrap_or_else(Instant::now));
                if quiet.is_some_and(|q| q.elapsed() >= SETTLE) {
                    break;
                }
                // Taken once a job left the queue; a forge that lists only the jobs a runner
                // took (Forgejo's tasks) says so by listing one.
                let queued = |t: &Task| matches!(t.status(), RunStatus::Waiting | RunStatus::Blocked);
                let lists_queued = api.dialect().lists_waiting_jobs();
                if !taken && tasks.iter().any(|t| !lists_queued || !queued(t)) {
                    (taken, start) = (true, Instant::now());
                }
                // Also before a runner took it: a runner that died at start is named at once.
                during(&tasks).await?;
            }
        }
        let pause = if failed > 0 { Duration::from_secs(1) } else { POLL };
        if start.elapsed() + pause > deadline {
            return Err(unfinished(api, owner, repo, &tasks, repo_had_tasks, deadline).await);
        }
        tokio::time::sleep(pause).await;
    }
    let run_number = tasks[0].run_number();
    let mut jobs = Vec::new();
    for (index, t) in tasks.iter().enumerate() {
        // A job skipped by its `if:` or its needs, or never taken, never started: no log.
        let log = match t.status() {
            RunStatus::Skipped | RunStatus::Waiting | RunStatus::Blocked => String::new(),
            _ => api.job_log(owner, repo, t, index).await?,
        };
        jobs.push(JobLog {
            name: t.name.clone(),
            status: t.status(),
            failed_step: t.failed_step.clone(),
            labels: t.labels.clone(),
            runner: t.runner.clone(),
            log,
        });
    }
    Ok(PushedRun { sha: sha.to_owned(), run_number, jobs })
}

/// Whether a running job of the run (`tasks`, in job order) has printed `marker` so far:
/// its live log, from the web route. A log that cannot be read yet counts as not printed.
pub async fn printed(api: &Forge, owner: &str, repo: &str, tasks: &[Task], marker: &str) -> bool {
    for (index, t) in tasks.iter().enumerate().filter(|(_, t)| t.status() == RunStatus::Running) {
        if api.job_log(owner, repo, t, index).await.is_ok_and(|log| log.contains(marker)) {
            return true;
        }
    }
    false
}

/// What the first job of the run for `sha` printed so far, if the forge still answers: for
/// the bundle of a run that did not finish.
pub async fn log_so_far(api: &Forge, owner: &str, repo: &str, sha: &str) -> Option<String> {
    let mut tasks: Vec<Task> = api.tasks(owner, repo).await.ok()?.into_iter().filter(|t| t.head_sha == sha).collect();
    tasks.sort_by_key(|t| t.id);
    let first = tasks.first()?;
    api.job_log(owner, repo, first, 0).await.ok()
}

/// Why the run of a pushed commit is not over at the deadline, named.
async fn unfinished(
    api: &Forge,
    owner: &str,
    repo: &str,
    tasks: &[Task],
    repo_had_tasks: bool,
    deadline: Duration,
) -> anyhow::Error {
    if let Some(t) = tasks.iter().find(|t| t.status() == RunStatus::Waiting) {
        return Failed::NotPicked { job: Some(t.name.clone()), within: deadline }.into();
    }
    if let Some(t) = tasks.iter().find(|t| t.status() == RunStatus::Blocked) {
        return anyhow!(
            "job `{}` stayed blocked for {}s: {} never scheduled it (its needs did not all finish, or it asks for \
             what this forge does not do, such as a matrix computed from another job's outputs)",
            t.name,
            deadline.as_secs(),
            api.dialect().name()
        );
    }
    if let Some(t) = tasks.iter().find(|t| !t.status().is_final()) {
        let state = format!("job `{}` is {}", t.name, t.status);
        return Failed::JobDeadline { after: deadline, state }.into();
    }
    // Forgejo lists a job only once a runner took it: a first run's web page tells a job
    // that waits from no run at all. A forge that lists waiting jobs has no run.
    let page = match (api.dialect().lists_waiting_jobs(), repo_had_tasks) {
        (true, _) => Some(false),
        (false, false) => api.run_page_exists(owner, repo, 1).await.ok(),
        (false, true) => None,
    };
    match page {
        Some(true) => Failed::NotPicked { job: None, within: deadline }.into(),
        Some(false) => anyhow!(
            "{} started no run for the pushed commit within {}s (are Actions on for {owner}/{repo}, and does the \
             workflow start on push?)",
            api.dialect().name(),
            deadline.as_secs()
        ),
        // Not known whether a run waits: not the failure of a job no runner takes.
        None => anyhow!(
            "no runner took a job of the pushed commit within {}s, or the forge started no run for it",
            deadline.as_secs()
        ),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn task(status: &str, labels: &[&str]) -> Task {
        Task {
            id: 1,
            name: "j".into(),
            head_sha: "s".into(),
            run_number: 1,
            status: status.into(),
            failed_step: None,
            labels: labels.iter().map(|l| l.to_string()).collect(),
            runner: None,
        }
    }

    #[test]
    fn a_settled_run_has_nothing_left_that_can_move() {
        let until = Until::Settled { served: vec!["self-hosted".into()] };
        let never = task("waiting", &["macos-latest"]);
        let blocked = task("blocked", &["self-hosted"]);
        assert!(until.stuck(&[task("success", &[]), never.clone(), blocked.clone()]));
        // A job a runner here serves may still be taken; a running job may still end.
        assert!(!until.stuck(&[never.clone(), task("waiting", &["self-hosted"])]));
        assert!(!until.stuck(&[blocked.clone(), task("running", &["self-hosted"])]));
        assert!(!until.stuck(&[]));
        assert!(!Until::AllFinal.stuck(&[never, blocked]));
    }

    #[test]
    fn item_names_become_repository_names() {
        assert_eq!(repo_name("docker-build"), "docker-build");
        assert_eq!(repo_name("docker-build:broken"), "docker-build-broken");
        assert_eq!(repo_name("workflow:.forgejo/workflows/ci.yml"), "workflow-.forgejo-workflows-ci.yml");
    }
}
