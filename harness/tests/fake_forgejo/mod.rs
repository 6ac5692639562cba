//! A fake Forgejo (named as such: no real Forgejo can be built here), shared by the tests
//! of the API client, the push and watch, and the kind platform's Forgejo install. See
//! `forgejo_api.rs` for what it honours.
#![allow(dead_code)]

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub const SHA: &str = "4f1c0ffee";
pub const TOKEN: &str = "0123456789abcdef0123456789abcdef01234567";
/// `Basic` of `e2e-admin:TOKEN`: how git must authenticate a push.
pub const PUSH_AUTH: &str = "Basic ZTJlLWFkbWluOjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc=";

/// What the fake remembers: repositories (name → private), how often runs were polled,
/// where its bare repositories live, and the runs pushes created.
#[derive(Default)]
pub struct State {
    pub repos: HashMap<String, bool>,
    pub polls: usize,
    git_root: std::path::PathBuf,
    /// Per repository: runs in push order (run number = index + 1).
    pushed: HashMap<String, Vec<PushedRunState>>,
    next_task: i64,
    /// `Authorization` headers pushes came with.
    pub push_auth: Vec<String>,
    /// The accept loop and every connection: aborted when the fake "stops".
    tasks: Vec<tokio::task::AbortHandle>,
    orgs: std::collections::HashSet<String>,
}

/// A run a push created: its commit and its jobs (task id, job id, polls seen, first seen).
struct PushedRunState {
    sha: String,
    jobs: Vec<(i64, String, usize, Option<std::time::Instant>)>,
}

pub type Shared = Arc<Mutex<State>>;

/// A fake Forgejo with `repos` already present; returns its URL and its state.
pub async fn fake_forgejo(repos: &[(&str, bool)]) -> (String, Shared) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let state: Shared = Arc::default();
    {
        let mut s = state.lock().expect("state");
        s.repos.extend(repos.iter().map(|(n, p)| (n.to_string(), *p)));
        s.git_root = std::env::temp_dir().join(format!("fe2e-fake-forgejo-{}-{}", std::process::id(), addr.port()));
        s.next_task = 200;
    }
    let shared = state.clone();
    let accepting = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (state, handles) = (state.clone(), state.clone());
            let conn = tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let state = state.clone();
                    async move { Ok::<_, std::convert::Infallible>(route(req, &state).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
            handles.lock().expect("state").tasks.push(conn.abort_handle());
        }
    });
    shared.lock().expect("state").tasks.push(accepting.abort_handle());
    (format!("http://{addr}"), shared)
}

/// Forgejo stops: nothing answers on its port any more.
pub fn stop(state: &Shared) {
    for t in state.lock().expect("state").tasks.drain(..) {
        t.abort();
    }
}

fn reply(status: StatusCode, body: serde_json::Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("response")
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    Response::builder().status(status).body(Full::new(Bytes::from(body))).expect("response")
}

/// `/{owner}/{repo}/actions/runs/{run}` → (repo, run).
fn run_page(path: &str) -> Option<(&str, &str)> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["e2e-admin", repo, "actions", "runs", run] => Some((repo, run)),
        _ => None,
    }
}

/// `/{owner}/{repo}/actions/runs/{run}/jobs/{job}/logs` → (repo, run, job).
fn log_route(path: &str) -> Option<(&str, &str, &str)> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["e2e-admin", repo, "actions", "runs", run, "jobs", job, "logs"] => Some((repo, run, job)),
        _ => None,
    }
}

async fn route(req: Request<hyper::body::Incoming>, state: &Shared) -> Response<Full<Bytes>> {
    let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let (method, path) = (req.method().as_str().to_owned(), req.uri().path().to_owned());
    let req_query = req.uri().query().map(str::to_owned);
    let content_type = req.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let token_ok = auth == format!("token {TOKEN}");
    if let Some((repo, rest)) = git_route(&path) {
        let query = req_query.unwrap_or_default();
        return git_http(state, &repo, &rest, &method, &query, &auth, content_type, body.to_vec());
    }
    let mut state = state.lock().expect("state");
    if let Some((repo, run)) = run_page(&path) {
        // The web page of a run: there once a push created it, whether or not a runner took it.
        let there =
            state.pushed.get(repo).is_some_and(|runs| run.parse::<usize>().is_ok_and(|n| n >= 1 && n <= runs.len()));
        return text(if there { StatusCode::OK } else { StatusCode::NOT_FOUND }, String::new());
    }
    if let Some((repo, run, job)) = log_route(&path)
        && let Some(runs) = state.pushed.get(repo)
    {
        let found = run.parse::<usize>().ok().and_then(|n| runs.get(n.wrapping_sub(1)));
        return match found.and_then(|r| job.parse::<usize>().ok().and_then(|j| r.jobs.get(j).map(|x| (r, x)))) {
            Some((r, (_, name, _, _))) => {
                let mut log = format!("2026-12-02T13:00:00Z E2E-MARK n job={name} sha={}\n", r.sha);
                if name.contains("sleep") {
                    log.push_str("2026-12-02T13:00:01Z E2E-MARK n sleeping=600\n");
                }
                text(StatusCode::OK, log)
            }
            None => text(StatusCode::NOT_FOUND, "Not Found".into()),
        };
    }
    if let Some((repo, run, job)) = log_route(&path) {
        // The web route: no token auth; a private repository is invisible without a session.
        return match (state.repos.get(repo), run, job) {
            (Some(false), "7", "0") => {
                text(StatusCode::OK, format!("2026-11-27T21:00:02Z E2E-MARK n built_image_says=hello from {repo}\n"))
            }
            (Some(false), "7", "1") => text(StatusCode::OK, "2026-11-27T21:00:03Z E2E-MARK n second_job=yes\n".into()),
            _ => text(StatusCode::NOT_FOUND, "Not Found".into()),
        };
    }
    match (method.as_str(), path.as_str()) {
        ("GET", "/api/v1/version") => reply(StatusCode::OK, serde_json::json!({"version": "12.0.1+gitea-1.22.0"})),
        ("POST", "/api/v1/users/e2e-admin/tokens") => {
            // "e2e-admin:secret" — tokens are created with basic auth only.
            if auth != "Basic ZTJlLWFkbWluOnNlY3JldA==" {
                return reply(StatusCode::UNAUTHORIZED, serde_json::json!({"message": "auth required"}));
            }
            let req: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            if req["scopes"].as_array().is_none_or(|s| s.is_empty()) {
                return reply(StatusCode::UNPROCESSABLE_ENTITY, serde_json::json!({"message": "scopes are required"}));
            }
            reply(
                StatusCode::CREATED,
                serde_json::json!({"id": 1, "name": req["name"], "sha1": TOKEN, "token_last_eight": "01234567"}),
            )
        }
        ("POST", "/api/v1/users/fresh-admin/tokens") => reply(
            StatusCode::FORBIDDEN,
            serde_json::json!({"message": "You must change your password. Change it at: /user/change_password"}),
        ),
        ("POST", "/api/v1/user/repos") if token_ok => {
            let req: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let Some(name) = req["name"].as_str().filter(|n| !n.is_empty()) else {
                return reply(StatusCode::UNPROCESSABLE_ENTITY, serde_json::json!({"message": "name is required"}));
            };
            if state.repos.contains_key(name) {
                return reply(
                    StatusCode::CONFLICT,
                    serde_json::json!({"message": "The repository with the same name already exists."}),
                );
            }
            let private = req["private"].as_bool().unwrap_or(false);
            state.repos.insert(name.to_owned(), private);
            bare_repo(&state, name);
            reply(
                StatusCode::CREATED,
                serde_json::json!({"id": 3, "name": name, "full_name": format!("e2e-admin/{name}"), "private": private}),
            )
        }
        // Organisations: 422 for one that exists, as Forgejo answers.
        ("POST", "/api/v1/orgs") if token_ok => {
            let req: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let org = req["username"].as_str().unwrap_or_default().to_owned();
            match state.orgs.insert(org) {
                true => reply(StatusCode::CREATED, serde_json::json!({"username": req["username"]})),
                false => reply(StatusCode::UNPROCESSABLE_ENTITY, serde_json::json!({"message": "user already exists"})),
            }
        }
        ("POST", p) if token_ok && p.starts_with("/api/v1/orgs/") && p.ends_with("/repos") => {
            let org = p.trim_start_matches("/api/v1/orgs/").trim_end_matches("/repos").to_owned();
            if !state.orgs.contains(&org) {
                return reply(StatusCode::NOT_FOUND, serde_json::json!({"message": "organisation not found"}));
            }
            let req: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let key = format!("{org}/{}", req["name"].as_str().unwrap_or_default());
            state.repos.insert(key.clone(), false);
            bare_repo(&state, &key);
            reply(StatusCode::CREATED, serde_json::json!({"full_name": key}))
        }
        ("GET", "/api/v1/admin/runners/registration-token") if token_ok => {
            reply(StatusCode::OK, serde_json::json!({"token": "REGISTRATION-TOKEN"}))
        }
        ("GET", p)
            if token_ok && p.ends_with("/actions/runners/registration-token") && p.starts_with("/api/v1/repos/") =>
        {
            let repo = p
                .trim_start_matches("/api/v1/repos/e2e-admin/")
                .trim_end_matches("/actions/runners/registration-token");
            match state.repos.contains_key(repo) {
                true => reply(StatusCode::OK, serde_json::json!({"token": format!("REPO-TOKEN-{repo}")})),
                false => reply(StatusCode::NOT_FOUND, serde_json::json!({"message": "repository not found"})),
            }
        }
        ("GET", p) if token_ok && p.starts_with("/api/v1/repos/e2e-admin/") && p.ends_with("/actions/tasks") => {
            let repo = p.trim_start_matches("/api/v1/repos/e2e-admin/").trim_end_matches("/actions/tasks");
            if let Some(runs) = state.pushed.get_mut(repo) {
                return reply(StatusCode::OK, pushed_tasks(repo, runs));
            }
            if !state.repos.contains_key(repo) {
                return reply(StatusCode::NOT_FOUND, serde_json::json!({"message": "repository not found"}));
            }
            state.polls += 1;
            let n = state.polls;
            let status = ["waiting", "running", "success"].get(n.saturating_sub(2)).copied().unwrap_or("success");
            let mut runs = vec![
                serde_json::json!({"id": 90, "name": "old", "head_branch": "main", "head_sha": "0ld", "run_number": 6, "event": "push", "status": "failure", "workflow_id": "docker-build.yml"}),
            ];
            if n > 1 {
                runs.insert(0, serde_json::json!({"id": 91, "name": "build", "head_branch": "main", "head_sha": SHA, "run_number": 7, "event": "push", "display_title": "e2e workspace", "status": status, "workflow_id": "docker-build.yml", "url": format!("http://x/e2e-admin/{repo}/actions/runs/7"), "created_at": "2026-11-27T21:00:00Z", "updated_at": "2026-11-27T21:00:05Z", "run_started_at": "2026-11-27T21:00:01Z"}));
            }
            let total = runs.len();
            reply(StatusCode::OK, serde_json::json!({"workflow_runs": runs, "total_count": total}))
        }
        _ if !token_ok && path.starts_with("/api/v1/") => {
            reply(StatusCode::UNAUTHORIZED, serde_json::json!({"message": "token is required"}))
        }
        _ => reply(StatusCode::NOT_FOUND, serde_json::json!({"message": "not found"})),
    }
}

/// Removes the fake's bare repositories (a test's last line).
pub fn forget(state: &Shared) {
    let _ = std::fs::remove_dir_all(&state.lock().expect("state").git_root);
}

/// `/e2e-admin/{repo}.git/{rest}` → (repo, rest); an organisation's repository is known
/// as `{org}/{repo}`.
fn git_route(path: &str) -> Option<(String, String)> {
    let (owner, rest) = path.trim_start_matches('/').split_once('/')?;
    let (repo, rest) = rest.split_once(".git/")?;
    let key = if owner == "e2e-admin" { repo.to_owned() } else { format!("{owner}/{repo}") };
    Some((key, rest.to_owned()))
}

/// A bare repository for `key` (`name`, or `org/name`) that accepts pushes.
fn bare_repo(state: &State, key: &str) {
    let bare = state.git_root.join(format!("{key}.git"));
    std::fs::create_dir_all(bare.parent().expect("parent")).expect("git root");
    git(&state.git_root, &["init", "--quiet", "--bare", "--initial-branch=main", &bare.to_string_lossy()]);
    git(&bare, &["config", "http.receivepack", "true"]);
}

/// `git ARGS` in `dir`, for the fake's own bookkeeping; its stdout.
pub fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git").arg("-C").arg(dir).args(args).output().expect("git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Smart HTTP through a real `git http-backend` (CGI); a push that moves `main` creates a run.
#[allow(clippy::too_many_arguments)]
fn git_http(
    state: &Shared,
    repo: &str,
    rest: &str,
    method: &str,
    query: &str,
    auth: &str,
    content_type: String,
    body: Vec<u8>,
) -> Response<Full<Bytes>> {
    let pushing = rest == "git-receive-pack" || query.contains("service=git-receive-pack");
    let root = {
        let mut s = state.lock().expect("state");
        if !s.repos.contains_key(repo) {
            return text(StatusCode::NOT_FOUND, "Repository not found".into());
        }
        if pushing {
            s.push_auth.push(auth.to_owned());
            if auth != PUSH_AUTH {
                return Response::builder()
                    .status(StatusCode::UNAUTHORIZED)
                    .header("www-authenticate", "Basic realm=\"Gitea\"")
                    .body(Full::new(Bytes::from("Unauthorized")))
                    .expect("response");
            }
            if repo == "locked" {
                return text(StatusCode::FORBIDDEN, "User permission denied for writing.".into());
            }
        }
        s.git_root.clone()
    };
    let mut child = std::process::Command::new("git")
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", &root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", format!("/{repo}.git/{rest}"))
        .env("REQUEST_METHOD", method)
        .env("QUERY_STRING", query)
        .env("CONTENT_TYPE", content_type)
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("REMOTE_USER", "e2e-admin")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("git http-backend");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), &body).expect("feed http-backend");
    let out = child.wait_with_output().expect("http-backend output");
    // CGI: headers, a blank line, the body.
    let split = out.stdout.windows(4).position(|w| w == b"\r\n\r\n").map(|i| (i, 4));
    let split = split.or_else(|| out.stdout.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let (end, gap) = split.expect("CGI headers");
    let mut resp = Response::builder().status(StatusCode::OK);
    for line in String::from_utf8_lossy(&out.stdout[..end]).lines() {
        let Some((k, v)) = line.split_once(':') else { continue };
        if k.eq_ignore_ascii_case("status") {
            let code = v.trim().split(' ').next().and_then(|c| c.parse().ok()).unwrap_or(500);
            resp = resp.status(StatusCode::from_u16(code).expect("status"));
        } else {
            resp = resp.header(k.trim(), v.trim());
        }
    }
    if rest == "git-receive-pack" {
        record_push(state, repo, &root.join(format!("{repo}.git")));
    }
    resp.body(Full::new(Bytes::from(out.stdout[end + gap..].to_vec()))).expect("response")
}

/// A push moved `main`: a run with one job per job of the pushed commit's workflows.
fn record_push(state: &Shared, repo: &str, bare: &std::path::Path) {
    let sha = git(bare, &["rev-parse", "refs/heads/main"]).trim().to_owned();
    let files = git(bare, &["ls-tree", "--name-only", &sha, ".forgejo/workflows/"]);
    let mut jobs = Vec::new();
    for file in files.lines().filter(|f| f.ends_with(".yml") || f.ends_with(".yaml")) {
        let doc: serde_yaml::Value =
            serde_yaml::from_str(&git(bare, &["show", &format!("{sha}:{file}")])).expect("yaml");
        for (id, job) in doc["jobs"].as_mapping().into_iter().flatten() {
            let name = job["name"].as_str().or(id.as_str()).unwrap_or_default().to_owned();
            jobs.push(name);
        }
    }
    let mut s = state.lock().expect("state");
    let runs = s.pushed.entry(repo.to_owned()).or_default();
    // A workflow without jobs starts no run.
    if jobs.is_empty() || runs.iter().any(|r| r.sha == sha) {
        return;
    }
    let first = s.next_task;
    s.next_task += jobs.len() as i64;
    let jobs = jobs.into_iter().enumerate().map(|(i, name)| (first + i as i64, name, 0, None)).collect();
    s.pushed.entry(repo.to_owned()).or_default().push(PushedRunState { sha, jobs });
}

/// `/actions/tasks` for pushed runs, newest first: each job waits, runs, then ends —
/// `failure` when its name says `fail`.
fn pushed_tasks(repo: &str, runs: &mut [PushedRunState]) -> serde_json::Value {
    let mut out = Vec::new();
    for (i, run) in runs.iter_mut().enumerate() {
        // Forgejo lists a job once a runner took it: nobody takes these.
        if repo.starts_with("nobody") {
            continue;
        }
        for (id, name, polls, seen) in &mut run.jobs {
            *polls += 1;
            let end = match name.as_str() {
                n if n.contains("sleep") => "running",
                n if n.contains("fail") => "failure",
                _ => "success",
            };
            let status = if repo.starts_with("late") {
                // A runner takes these about 4 s after the first look, and runs them 3 s.
                let since = seen.get_or_insert_with(std::time::Instant::now).elapsed().as_secs_f64();
                match since {
                    s if s < 4.0 => continue,
                    s if s < 7.0 => "running",
                    _ => end,
                }
            } else {
                ["waiting", "running"].get(*polls - 1).copied().unwrap_or(end)
            };
            out.push(serde_json::json!({"id": *id, "name": name, "head_branch": "main", "head_sha": run.sha,
                "run_number": i + 1, "event": "push", "status": status, "workflow_id": "ci.yml",
                "url": format!("http://x/e2e-admin/{repo}/actions/runs/{}", i + 1)}));
        }
    }
    out.reverse();
    let total = out.len();
    serde_json::json!({"workflow_runs": out, "total_count": total})
}

/// A committed repository with one workflow of `jobs` (ids; a job named `*fail*` fails on
/// the fake), as `workspace::prepare` leaves one.
pub fn workspace(name: &str, jobs: &[&str]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("fe2e-push-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join(".forgejo/workflows")).expect("dir");
    let body: String =
        jobs.iter().map(|j| format!("  {j}:\n    runs-on: docker\n    steps: [{{run: 'true'}}]\n")).collect();
    std::fs::write(dir.join(".forgejo/workflows/ci.yml"), format!("on: push\njobs:\n{body}")).expect("workflow");
    commit(&dir, "e2e workspace", true);
    dir
}

pub fn commit(dir: &std::path::Path, message: &str, init: bool) {
    let run = |args: &[&str]| {
        let out = std::process::Command::new("git").arg("-C").arg(dir).args(args).output().expect("git");
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    if init {
        run(&["init", "--quiet", "--initial-branch=main"]);
    }
    run(&["add", "-A"]);
    run(&["-c", "user.name=e2e", "-c", "user.email=e2e@example.invalid", "commit", "--quiet", "-m", message]);
}
