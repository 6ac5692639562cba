//! A client for the parts of a forge's API the real runner's path uses, over plain HTTP
//! (the forge's published port: on loopback for the Docker platform, on the kind nodes'
//! gateway beside a cluster). What is common to Forgejo and Gitea is here; where they
//! differ the client asks its [`Dialect`].

use std::time::Duration;

use anyhow::{Context, Result, bail};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

use super::dialect::{Dialect, Scope};
pub use super::job::{RunStatus, Task};
use crate::wait::{self, Poll};

/// How requests authenticate.
#[derive(Clone)]
pub enum Auth {
    None,
    Basic { user: String, password: String },
    Token(String),
}

/// A forge at `base` (e.g. `http://127.0.0.1:40123`), spoken to in its dialect.
#[derive(Clone)]
pub struct Forge {
    base: String,
    auth: Auth,
    dialect: &'static dyn Dialect,
    http: Client<HttpConnector, Full<Bytes>>,
}

impl Forge {
    pub fn new(dialect: &'static dyn Dialect, base: &str, auth: Auth) -> Self {
        let http = Client::builder(TokioExecutor::new()).build_http();
        Self { base: base.trim_end_matches('/').to_owned(), auth, dialect, http }
    }

    /// Whose API this is.
    pub fn dialect(&self) -> &'static dyn Dialect {
        self.dialect
    }

    pub fn with_auth(&self, auth: Auth) -> Self {
        Self { auth, ..self.clone() }
    }

    async fn call(&self, method: Method, path: &str, body: Option<serde_json::Value>) -> Result<(StatusCode, String)> {
        let mut req = Request::builder()
            .method(method.clone())
            .uri(format!("{}{path}", self.base))
            .header("accept", "application/json");
        match &self.auth {
            Auth::None => {}
            Auth::Basic { user, password } => {
                req = req.header(
                    "authorization",
                    format!("Basic {}", crate::base64::encode(format!("{user}:{password}").as_bytes())),
                )
            }
            Auth::Token(t) => req = req.header("authorization", format!("token {t}")),
        }
        let body = match body {
            Some(json) => {
                req = req.header("content-type", "application/json");
                Full::new(Bytes::from(json.to_string()))
            }
            None => Full::new(Bytes::new()),
        };
        let resp = tokio::time::timeout(Duration::from_secs(30), self.http.request(req.body(body)?))
            .await
            .with_context(|| format!("{method} {path}: no answer within 30s"))?
            .with_context(|| format!("{method} {path}"))?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await.context("read response")?.to_bytes();
        Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
        want: StatusCode,
    ) -> Result<T> {
        let (status, text) = self.call(method.clone(), path, body).await?;
        if status != want {
            bail!("{method} {path}: HTTP {status}: {}", text.trim());
        }
        serde_json::from_str(&text).with_context(|| format!("{method} {path}: unexpected answer {text}"))
    }

    /// `GET /api/v1/version`.
    pub async fn version(&self) -> Result<String> {
        #[derive(Deserialize)]
        struct V {
            version: String,
        }
        Ok(self.json::<V>(Method::GET, "/api/v1/version", None, StatusCode::OK).await?.version)
    }

    /// Waits until the API answers, at most `deadline`.
    pub async fn wait_ready(&self, deadline: Duration) -> Result<String> {
        wait::until("Forgejo's API", deadline, Duration::from_secs(1), || async {
            Ok(match self.version().await {
                Ok(v) => Poll::Ready(v),
                Err(e) => Poll::NotYet(format!("{e:#}")),
            })
        })
        .await
    }

    /// `POST /api/v1/users/{user}/tokens` with basic auth; returns the token (`sha1`).
    pub async fn create_token(&self, user: &str, name: &str, scopes: &[&str]) -> Result<String> {
        #[derive(Deserialize)]
        struct T {
            sha1: String,
        }
        let body = serde_json::json!({ "name": name, "scopes": scopes });
        let (status, text) = self.call(Method::POST, &format!("/api/v1/users/{user}/tokens"), Some(body)).await?;
        if status == StatusCode::FORBIDDEN && text.contains("must change") {
            bail!(
                "Forgejo refuses basic auth for {user}: the account must change its password first (create it with must_change_password=false)"
            );
        }
        if status != StatusCode::CREATED {
            bail!("POST /api/v1/users/{user}/tokens: HTTP {status}: {}", text.trim());
        }
        Ok(serde_json::from_str::<T>(&text).with_context(|| format!("token answer {text}"))?.sha1)
    }

    /// `POST /api/v1/user/repos`: a public repository of the authenticated user (public,
    /// so job logs can be read from the web route without a session). Returns its full name.
    pub async fn create_repo(&self, name: &str) -> Result<String> {
        #[derive(Deserialize)]
        struct R {
            full_name: String,
        }
        let body = serde_json::json!({ "name": name, "private": false, "auto_init": false, "default_branch": "main" });
        let (status, text) = self.call(Method::POST, "/api/v1/user/repos", Some(body)).await?;
        if status == StatusCode::CONFLICT {
            bail!(
                "repository {name} already exists on this Forgejo (left by a kept run?): delete it or use a fresh instance"
            );
        }
        if status != StatusCode::CREATED {
            bail!("POST /api/v1/user/repos: HTTP {status}: {}", text.trim());
        }
        Ok(serde_json::from_str::<R>(&text).with_context(|| format!("repository answer {text}"))?.full_name)
    }

    /// `POST /api/v1/orgs`: a public organisation, or the one of that name already there (a
    /// second run against a kept instance).
    pub async fn create_org(&self, org: &str) -> Result<()> {
        let body = serde_json::json!({ "username": org, "visibility": "public" });
        let (status, text) = self.call(Method::POST, "/api/v1/orgs", Some(body)).await?;
        if status != StatusCode::CREATED && status != StatusCode::UNPROCESSABLE_ENTITY {
            bail!("POST /api/v1/orgs: HTTP {status}: {}", text.trim());
        }
        Ok(())
    }

    /// [`Forge::create_org`] then `POST /api/v1/orgs/{org}/repos`: a public repository of an
    /// organisation (the `actions` organisation serves `uses: actions/NAME@REF`).
    pub async fn create_org_repo(&self, org: &str, name: &str) -> Result<String> {
        #[derive(Deserialize)]
        struct R {
            full_name: String,
        }
        self.create_org(org).await?;
        let body = serde_json::json!({ "name": name, "private": false, "auto_init": false, "default_branch": "main" });
        let path = format!("/api/v1/orgs/{org}/repos");
        Ok(self.json::<R>(Method::POST, &path, Some(body), StatusCode::CREATED).await?.full_name)
    }

    /// A registration token for `scope` (Forgejo >= 7.0 by GET, Gitea by POST). A runner
    /// registered with a repository's takes only that repository's jobs, so parallel pods
    /// never take each other's.
    pub async fn registration_token(&self, scope: Scope<'_>) -> Result<String> {
        #[derive(Deserialize)]
        struct T {
            token: String,
        }
        let (method, path) = self.dialect.registration_token(scope);
        Ok(self.json::<T>(method, &path, None, StatusCode::OK).await?.token)
    }

    /// The instance's URL, as given.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The `Authorization` header value git sends when pushing: basic auth with the
    /// token as password (Forgejo's git HTTP takes no `token` scheme).
    pub(crate) fn git_auth(&self, user: &str) -> Option<String> {
        match &self.auth {
            Auth::None => None,
            Auth::Basic { user, password } => {
                Some(format!("Basic {}", crate::base64::encode(format!("{user}:{password}").as_bytes())))
            }
            Auth::Token(t) => Some(format!("Basic {}", crate::base64::encode(format!("{user}:{t}").as_bytes()))),
        }
    }

    /// The HTTP status git's push meets at the start of receive-pack on `owner/repo`, with
    /// the credentials git sends: what a failed push was refused with, if it was.
    pub async fn receive_pack_status(&self, owner: &str, repo: &str, user: &str) -> Result<StatusCode> {
        let auth = match &self.auth {
            Auth::Token(t) => Auth::Basic { user: user.to_owned(), password: t.clone() },
            other => other.clone(),
        };
        let path = format!("/{owner}/{repo}.git/info/refs?service=git-receive-pack");
        Ok(self.with_auth(auth).call(Method::GET, &path, None).await?.0)
    }

    /// The repository's jobs (see [`Dialect::jobs_path`]).
    pub async fn tasks(&self, owner: &str, repo: &str) -> Result<Vec<Task>> {
        let path = self.dialect.jobs_path(owner, repo);
        let (status, text) = self.call(Method::GET, &path, None).await?;
        if status != StatusCode::OK {
            bail!("GET {path}: HTTP {status}: {}", text.trim());
        }
        self.dialect.parse_jobs(&text).with_context(|| format!("GET {path}"))
    }

    /// Waits until the run for commit `sha` reaches a final status, at most `deadline`.
    pub async fn wait_for_run(&self, owner: &str, repo: &str, sha: &str, deadline: Duration) -> Result<Task> {
        wait::until(&format!("the run of {owner}/{repo} for {sha}"), deadline, Duration::from_secs(2), || async {
            let tasks = self.tasks(owner, repo).await?;
            Ok(match tasks.into_iter().find(|t| t.head_sha == sha) {
                Some(t) if t.status().is_final() => Poll::Ready(t),
                Some(t) => Poll::NotYet(format!("status {}", t.status)),
                None => Poll::NotYet("no run for that commit yet".into()),
            })
        })
        .await
    }

    /// The log of `task`, the `index`-th job of its run (Forgejo has no REST route for it:
    /// its web route needs no session for a public repository).
    pub async fn job_log(&self, owner: &str, repo: &str, task: &Task, index: usize) -> Result<String> {
        let route = self.dialect.log_route(owner, repo, task, index);
        let client = if route.with_token { self.clone() } else { self.with_auth(Auth::None) };
        let (status, text) = client.call(Method::GET, &route.path, None).await?;
        let path = route.path;
        match status {
            StatusCode::OK => Ok(text),
            StatusCode::NOT_FOUND if !route.with_token => {
                bail!(
                    "GET {path}: HTTP 404: no such job, or the repository is not public (the log route has no token auth)"
                )
            }
            _ => bail!("GET {path}: HTTP {status}: {}", text.trim()),
        }
    }

    /// Whether the web page of run `run` exists (a public repository's, no session): a run
    /// whose jobs no runner took has no tasks in the API, but has its page.
    pub async fn run_page_exists(&self, owner: &str, repo: &str, run: i64) -> Result<bool> {
        let path = format!("/{owner}/{repo}/actions/runs/{run}");
        let (status, _) = self.with_auth(Auth::None).call(Method::GET, &path, None).await?;
        match status {
            s if s.is_success() || s.is_redirection() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => bail!("GET {path}: HTTP {status}"),
        }
    }
}
