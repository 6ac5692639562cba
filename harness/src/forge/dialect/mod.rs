//! Where Forgejo's and Gitea's APIs and servers differ, as one trait with one
//! implementation per file: the client (`client.rs`), the watch (`push.rs`) and the server
//! (`server.rs`) ask the dialect and never branch on the forge themselves. Requests are
//! described (method and path) and answers parsed here without I/O, so each dialect is
//! unit-tested on responses recorded from the real server (`fixtures/forge-responses/`).

mod forgejo;
mod gitea;

use anyhow::Result;
use hyper::Method;

pub use forgejo::Forgejo;
pub use gitea::Gitea;

use super::job::Task;

/// Who may register a runner with a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    /// Every repository of the instance.
    Instance,
    /// Every repository of one organisation (the kind platform's chart-registered runner:
    /// one organisation per chart install, so installs never take each other's jobs).
    Org(&'a str),
    /// One repository: its runner takes only its jobs, so parallel pods never take each other's.
    Repo { owner: &'a str, repo: &'a str },
}

/// How one job's log is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRoute {
    pub path: String,
    /// Whether the request carries the API token (a web route of a public repository
    /// needs none and takes no token scheme).
    pub with_token: bool,
}

/// One forge's API and server, where they differ from the other's.
pub trait Dialect: Send + Sync + std::fmt::Debug {
    /// The forge's name in headers and messages (`Forgejo`, `Gitea`).
    fn name(&self) -> &'static str;
    /// The request that issues a registration token for `scope`.
    fn registration_token(&self, scope: Scope<'_>) -> (Method, String);
    /// The path listing the repository's jobs, newest runs included.
    fn jobs_path(&self, owner: &str, repo: &str) -> String;
    /// The jobs in an answer to [`Dialect::jobs_path`], in the forge's words mapped to
    /// [`super::RunStatus`]'s.
    fn parse_jobs(&self, body: &str) -> Result<Vec<Task>>;
    /// Whether a job no runner took is listed (waiting); where it is not, an empty list
    /// cannot tell a waiting run from no run, and the run's page is asked.
    fn lists_waiting_jobs(&self) -> bool;
    /// Where the log of `task`, the `index`-th job of its run, is read.
    fn log_route(&self, owner: &str, repo: &str, task: &Task, index: usize) -> LogRoute;

    /// The server's own command-line program (`forgejo`, `gitea`).
    fn binary(&self) -> &'static str;
    /// The prefix of `SECTION__KEY` variables the server's image turns into `app.ini`.
    fn env_prefix(&self) -> &'static str;
    /// `[actions] DEFAULT_ACTIONS_URL` that makes `uses: owner/name@ref` come from the
    /// instance itself at `root_url`.
    fn actions_from_self(&self, root_url: &str) -> String;
    /// `app.ini` settings only this forge needs: (section, key, value).
    fn extra_settings(&self) -> Vec<(&'static str, &'static str, String)>;
}

/// The dialect called `name` (`forgejo`, `gitea`), for `--forge`.
pub fn named(name: &str) -> Option<&'static dyn Dialect> {
    match name {
        "forgejo" => Some(&Forgejo),
        "gitea" => Some(&Gitea),
        _ => None,
    }
}
