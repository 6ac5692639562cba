//! The Forgejo API client against a local HTTP server that implements the documented
//! endpoints with their quirks (a fake, named as such: no real Forgejo can be built here).
//! It honours what it is sent: tokens only by basic auth and returned in `sha1`, 403 while
//! an account must change its password, repositories named and made public or private by
//! the request body (409 on a duplicate), runs listed under `workflow_runs` with the
//! documented status values, job logs on a web route that serves public repositories only,
//! several jobs per run. For the real runner's path it grows a real `git http-backend`
//! behind it (pushes need basic auth with the token; a repository named `locked` refuses
//! them), and every push that moves `main` creates a run with one job per job of the
//! pushed workflows, read from the pushed commit, whose statuses advance as they are
//! polled and whose logs name the job and the commit. For the real path's faults: a
//! repository named `nobody*` has runs no runner ever takes (no tasks, but the run's web
//! page), a job named `*sleep*` runs until the deadline printing its `sleeping` marker,
//! and the whole fake can be stopped mid-run (its connections refused from then on); in a
//! repository named `late*` a runner takes a job only at the third poll.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use harness::fault::{FORGEJO_GONE, PUSH_REJECTED, RUNNER_DIED};
use harness::forgejo::{Auth, Forgejo, RunStatus, Task, push};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};

const SHA: &str = "4f1c0ffee";
const TOKEN: &str = "0123456789abcdef0123456789abcdef01234567";
/// `Basic` of `e2e-admin:TOKEN`: how git must authenticate a push.
const PUSH_AUTH: &str = "Basic ZTJlLWFkbWluOjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc=";

/// What the fake remembers: repositories (name → private), how often runs were polled,
/// where its bare repositories live, and the runs pushes created.
#[derive(Default)]
struct State {
    repos: HashMap<String, bool>,
    polls: usize,
    git_root: std::path::PathBuf,
    /// Per repository: runs in push order (run number = index + 1).
    pushed: HashMap<String, Vec<PushedRunState>>,
    next_task: i64,
    /// `Authorization` headers pushes came with.
    push_auth: Vec<String>,
    /// The accept loop and every connection: aborted when the fake "stops".
    tasks: Vec<tokio::task::AbortHandle>,
}

/// A run a push created: its commit and its jobs (task id, job id, polls seen).
struct PushedRunState {
    sha: String,
    jobs: Vec<(i64, String, usize)>,
}

type Shared = Arc<Mutex<State>>;

/// A fake Forgejo with `repos` already present; returns its URL and its state.
async fn fake_forgejo(repos: &[(&str, bool)]) -> (String, Shared) {
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
fn stop(state: &Shared) {
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
            Some((r, (_, name, _))) => {
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
            let bare = state.git_root.join(format!("{name}.git"));
            std::fs::create_dir_all(&state.git_root).expect("git root");
            git(&state.git_root, &["init", "--quiet", "--bare", "--initial-branch=main", &bare.to_string_lossy()]);
            git(&bare, &["config", "http.receivepack", "true"]);
            reply(
                StatusCode::CREATED,
                serde_json::json!({"id": 3, "name": name, "full_name": format!("e2e-admin/{name}"), "private": private}),
            )
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
fn forget(state: &Shared) {
    let _ = std::fs::remove_dir_all(&state.lock().expect("state").git_root);
}

/// `/e2e-admin/{repo}.git/{rest}` → (repo, rest).
fn git_route(path: &str) -> Option<(String, String)> {
    let rest = path.strip_prefix("/e2e-admin/")?;
    let (repo, rest) = rest.split_once(".git/")?;
    Some((repo.to_owned(), rest.to_owned()))
}

/// `git ARGS` in `dir`, for the fake's own bookkeeping; its stdout.
fn git(dir: &std::path::Path, args: &[&str]) -> String {
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
    let jobs = jobs.into_iter().enumerate().map(|(i, name)| (first + i as i64, name, 0)).collect();
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
        for (id, name, polls) in &mut run.jobs {
            *polls += 1;
            // A runner takes these only at the third poll.
            let late = if repo.starts_with("late") { 2 } else { 0 };
            if *polls <= late {
                continue;
            }
            let end = match name.as_str() {
                n if n.contains("sleep") => "running",
                n if n.contains("fail") => "failure",
                _ => "success",
            };
            let status = ["waiting", "running"].get(*polls - late - 1).copied().unwrap_or(end);
            out.push(serde_json::json!({"id": *id, "name": name, "head_branch": "main", "head_sha": run.sha,
                "run_number": i + 1, "event": "push", "status": status, "workflow_id": "ci.yml",
                "url": format!("http://x/e2e-admin/{repo}/actions/runs/{}", i + 1)}));
        }
    }
    out.reverse();
    let total = out.len();
    serde_json::json!({"workflow_runs": out, "total_count": total})
}

#[tokio::test]
async fn admin_token_repo_registration_run_and_logs_of_two_jobs() {
    let (base, state) = fake_forgejo(&[]).await;
    let anon = Forgejo::new(&base, Auth::None);
    assert_eq!(anon.wait_ready(Duration::from_secs(10)).await.expect("ready"), "12.0.1+gitea-1.22.0");

    let basic = anon.with_auth(Auth::Basic { user: "e2e-admin".into(), password: "secret".into() });
    let token =
        basic.create_token("e2e-admin", "forgejo-e2e", &["write:repository", "write:admin"]).await.expect("token");
    assert_eq!(token, TOKEN);

    let api = anon.with_auth(Auth::Token(token));
    assert_eq!(api.create_repo("docker-build").await.expect("repo"), "e2e-admin/docker-build");
    // The fake stored what the body asked for: that name, public.
    assert_eq!(state.lock().expect("state").repos.get("docker-build"), Some(&false));
    assert_eq!(api.registration_token().await.expect("registration"), "REGISTRATION-TOKEN");

    // No run yet, then it walks waiting -> running -> success; another commit's run is ignored.
    let run = api.wait_for_run("e2e-admin", "docker-build", SHA, Duration::from_secs(30)).await.expect("run");
    assert_eq!((run.id, run.run_number(), run.status()), (91, 7, RunStatus::Success));
    assert!(state.lock().expect("state").polls >= 4, "polled through every state");
    let first = api.job_log("e2e-admin", "docker-build", run.run_number(), 0).await.expect("log 0");
    assert!(first.contains("E2E-MARK n built_image_says=hello from docker-build"), "{first}");
    let second = api.job_log("e2e-admin", "docker-build", run.run_number(), 1).await.expect("log 1");
    assert!(second.contains("second_job=yes") && !second.contains("built_image_says"), "{second}");
    let err = api.job_log("e2e-admin", "docker-build", run.run_number(), 2).await.expect_err("no third job");
    assert!(err.to_string().contains("HTTP 404"), "{err}");
    forget(&state);
}

#[tokio::test]
async fn a_duplicate_repository_and_a_private_repositorys_log_are_clear_errors() {
    let (base, _) = fake_forgejo(&[("volumes", false), ("secret-repo", true)]).await;
    let api = Forgejo::new(&base, Auth::Token(TOKEN.into()));
    let err = api.create_repo("volumes").await.expect_err("409");
    assert!(err.to_string().starts_with("repository volumes already exists on this Forgejo"), "{err}");
    let err = api.job_log("e2e-admin", "secret-repo", 7, 0).await.expect_err("private");
    assert!(err.to_string().contains("not public"), "{err}");
    let err = api.tasks("e2e-admin", "no-such-repo").await.expect_err("unknown repo");
    assert!(err.to_string().contains("HTTP 404"), "{err}");
}

#[tokio::test]
async fn must_change_password_and_missing_token_are_clear_errors() {
    let (base, _) = fake_forgejo(&[]).await;
    let basic = Forgejo::new(&base, Auth::Basic { user: "fresh-admin".into(), password: "x".into() });
    let err = basic.create_token("fresh-admin", "t", &["write:repository"]).await.expect_err("403");
    assert!(err.to_string().contains("must change its password first"), "{err}");
    let anon = Forgejo::new(&base, Auth::None);
    let err = anon.registration_token().await.expect_err("401");
    assert!(err.to_string().contains("HTTP 401"), "{err}");
}

#[test]
fn status_values_are_the_documented_ones() {
    for s in ["unknown", "waiting", "running", "success", "failure", "cancelled", "skipped", "blocked"] {
        assert!(!matches!(RunStatus::parse(s), RunStatus::Other(_)), "{s}");
    }
    assert_eq!(RunStatus::parse("paused"), RunStatus::Other("paused".into()));
    assert!(RunStatus::Cancelled.is_final() && !RunStatus::Blocked.is_final() && !RunStatus::Waiting.is_final());
}

/// A committed repository with one workflow of `jobs` (ids; a job named `*fail*` fails on
/// the fake), as `workspace::prepare` leaves one.
fn workspace(name: &str, jobs: &[&str]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("fe2e-push-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join(".forgejo/workflows")).expect("dir");
    let body: String =
        jobs.iter().map(|j| format!("  {j}:\n    runs-on: docker\n    steps: [{{run: 'true'}}]\n")).collect();
    std::fs::write(dir.join(".forgejo/workflows/ci.yml"), format!("on: push\njobs:\n{body}")).expect("workflow");
    commit(&dir, "e2e workspace", true);
    dir
}

fn commit(dir: &std::path::Path, message: &str, init: bool) {
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

#[tokio::test]
async fn a_pushed_workspace_runs_and_every_jobs_log_comes_back() {
    let (base, state) = fake_forgejo(&[]).await;
    let api = Forgejo::new(&base, Auth::Token(TOKEN.into()));
    api.create_repo("docker-build").await.expect("repo");
    assert_eq!(
        api.repo_registration_token("e2e-admin", "docker-build").await.expect("scoped token"),
        "REPO-TOKEN-docker-build"
    );
    let ws = workspace("two-jobs", &["build", "fail-lint"]);
    let sha = push::push(&api, "e2e-admin", "e2e-admin", "docker-build", &ws).await.expect("push");
    let run = push::run_of(&api, "e2e-admin", "docker-build", &sha, Duration::from_secs(30)).await.expect("run");
    assert_eq!((run.sha.as_str(), run.run_number), (sha.as_str(), 1));
    let jobs: Vec<(&str, RunStatus)> = run.jobs.iter().map(|j| (j.name.as_str(), j.status.clone())).collect();
    assert_eq!(jobs, [("build", RunStatus::Success), ("fail-lint", RunStatus::Failure)]);
    assert!(!run.succeeded());
    // Each job's own log, fetched by its index in the run.
    assert!(run.jobs[0].log.contains(&format!("job=build sha={sha}")), "{}", run.jobs[0].log);
    assert!(run.jobs[1].log.contains("job=fail-lint"), "{}", run.jobs[1].log);
    assert!(run.joined_log().contains("== job build (Success) =="), "{}", run.joined_log());

    // A second push is a second run; the first commit's run is not mistaken for it.
    std::fs::write(ws.join("README"), "again\n").expect("write");
    commit(&ws, "second", false);
    let again = push::push(&api, "e2e-admin", "e2e-admin", "docker-build", &ws).await.expect("push 2");
    assert_ne!(again, sha);
    let run2 = push::run_of(&api, "e2e-admin", "docker-build", &again, Duration::from_secs(30)).await.expect("run 2");
    assert_eq!(run2.run_number, 2);
    // git authenticated every push request with the token, from its environment.
    let seen = state.lock().expect("state").push_auth.clone();
    assert!(!seen.is_empty() && seen.iter().all(|a| a == PUSH_AUTH), "{seen:?}");
    let _ = std::fs::remove_dir_all(ws);
    forget(&state);
}

#[tokio::test]
async fn a_rejected_push_a_wrong_token_and_no_runner_are_named_failures() {
    let (base, state) = fake_forgejo(&[]).await;
    let api = Forgejo::new(&base, Auth::Token(TOKEN.into()));
    api.create_repo("locked").await.expect("repo");
    api.create_repo("idle").await.expect("repo");
    let ws = workspace("rejected", &["build"]);
    let err = push::push(&api, "e2e-admin", "e2e-admin", "locked", &ws).await.expect_err("403");
    let err = format!("{err:#}");
    assert!(err.starts_with(&format!("git push to {base}/e2e-admin/locked.git: {PUSH_REJECTED}")), "{err}");
    assert!(err.contains("403") && err.contains("may lack `write:repository`"), "{err}");

    let wrong = Forgejo::new(&base, Auth::Token("not-the-token".into()));
    let err = format!("{:#}", push::push(&wrong, "e2e-admin", "e2e-admin", "idle", &ws).await.expect_err("401"));
    assert!(err.contains("rejected: Forgejo refused the credentials (a wrong or expired token)"), "{err}");
    assert!(!err.contains("not-the-token"), "a token in an error: {err}");

    // Pushed, but no run ever appears (a workflow without jobs): bounded by the deadline,
    // and says what it waited for.
    std::fs::write(ws.join(".forgejo/workflows/ci.yml"), "on: push\njobs: {}\n").expect("write");
    commit(&ws, "no jobs", false);
    let sha = push::push(&api, "e2e-admin", "e2e-admin", "idle", &ws).await.expect("push");
    let started = std::time::Instant::now();
    let err = push::run_of(&api, "e2e-admin", "idle", &sha, Duration::from_secs(3)).await.expect_err("no run");
    assert!(started.elapsed() < Duration::from_secs(10), "bounded: {:?}", started.elapsed());
    let err = format!("{err:#}");
    assert!(err.starts_with("Forgejo started no run for the pushed commit within 3s (are Actions on for"), "{err}");
    let _ = std::fs::remove_dir_all(ws);
    forget(&state);
}

#[tokio::test]
async fn an_unreachable_forgejo_is_an_error_at_once_not_a_wait() {
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let api = Forgejo::new(&base, Auth::Token(TOKEN.into()));
    let started = std::time::Instant::now();
    let err = push::run_of(&api, "e2e-admin", "x", "abc", Duration::from_secs(60)).await.expect_err("refused");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert!(format!("{err:#}").contains("/actions/tasks"), "{err:#}");
}

#[tokio::test]
async fn a_job_no_runner_takes_is_named_within_the_deadline() {
    let (base, state) = fake_forgejo(&[]).await;
    let api = Forgejo::new(&base, Auth::Token(TOKEN.into()));
    api.create_repo("nobody-takes").await.expect("repo");
    let ws = workspace("nobody", &["build"]);
    let sha = push::push(&api, "e2e-admin", "e2e-admin", "nobody-takes", &ws).await.expect("push");
    let started = std::time::Instant::now();
    let err = push::run_of(&api, "e2e-admin", "nobody-takes", &sha, Duration::from_secs(3)).await.expect_err("waits");
    assert!(started.elapsed() < Duration::from_secs(10), "bounded: {:?}", started.elapsed());
    let err = format!("{err:#}");
    // The run's page is there: a job waits for a runner, which is the fault's failure.
    assert!(err.starts_with("no runner took a job of the pushed commit within 3s (its run is there"), "{err}");
    let d = harness::fault::Fault::NoRunnerTakes.deadlines(Default::default());
    assert!(harness::fault::Fault::NoRunnerTakes.failure().seen(Some(&err), &[], d).is_some(), "{err}");
    let _ = std::fs::remove_dir_all(ws);
    forget(&state);
}

#[tokio::test]
async fn forgejo_stopped_mid_run_is_named_soon_after_its_hook_fired_once() {
    let (base, state) = fake_forgejo(&[]).await;
    let api = Forgejo::new(&base, Auth::Token(TOKEN.into()));
    api.create_repo("stopped").await.expect("repo");
    let ws = workspace("stopped", &["sleep-build"]);
    let sha = push::push(&api, "e2e-admin", "e2e-admin", "stopped", &ws).await.expect("push");
    let (mut fired, mut seen_running) = (0, false);
    let during = async |tasks: &[Task]| -> anyhow::Result<()> {
        let Some(t) = tasks.iter().find(|t| t.status() == RunStatus::Running) else { return Ok(()) };
        seen_running = true;
        // The hook: the job's live log shows its trigger, and Forgejo is stopped.
        let log = api.job_log("e2e-admin", "stopped", t.run_number(), 0).await?;
        if log.contains("E2E-MARK n sleeping=") && fired == 0 {
            fired += 1;
            stop(&state);
        }
        Ok(())
    };
    let started = std::time::Instant::now();
    let err = push::watch(&api, "e2e-admin", "stopped", &sha, Duration::from_secs(60), during).await.expect_err("gone");
    assert!(started.elapsed() < Duration::from_secs(20), "named well before the deadline: {:?}", started.elapsed());
    assert!(seen_running && fired == 1, "running seen: {seen_running}, hook fired {fired} times");
    let err = format!("{err:#}");
    assert!(err.starts_with(&format!("{FORGEJO_GONE}: 3 polls in a row failed")), "{err}");
    let _ = std::fs::remove_dir_all(ws);
    forget(&state);
}

#[tokio::test]
async fn a_runner_that_died_ends_the_watch_and_a_job_past_its_deadline_is_named() {
    let (base, state) = fake_forgejo(&[]).await;
    let api = Forgejo::new(&base, Auth::Token(TOKEN.into()));
    api.create_repo("hangs").await.expect("repo");
    let ws = workspace("hangs", &["sleep-build"]);
    let sha = push::push(&api, "e2e-admin", "e2e-admin", "hangs", &ws).await.expect("push");
    // What the platform's check of the runner container says, once the job is under way.
    let died = async |_: &[Task]| -> anyhow::Result<()> { anyhow::bail!("{RUNNER_DIED} (exit code 137)") };
    let err = push::watch(&api, "e2e-admin", "hangs", &sha, Duration::from_secs(60), died).await.expect_err("died");
    assert_eq!(format!("{err:#}"), format!("{RUNNER_DIED} (exit code 137)"));
    // Nothing ends it: the job deadline, naming the job still running.
    let started = std::time::Instant::now();
    let err = push::run_of(&api, "e2e-admin", "hangs", &sha, Duration::from_secs(4)).await.expect_err("deadline");
    assert!(started.elapsed() < Duration::from_secs(10), "bounded: {:?}", started.elapsed());
    let err = format!("{err:#}");
    assert_eq!(err, "the job did not finish within 4s (job `sleep-build` is running)");
    let _ = std::fs::remove_dir_all(ws);
    forget(&state);
}

#[tokio::test]
async fn a_users_workflow_goes_job_by_job_each_push_starting_only_that_job() {
    let (base, state) = fake_forgejo(&[]).await;
    let api = Forgejo::new(&base, Auth::Token(TOKEN.into()));
    api.create_repo("jobs").await.expect("repo");
    let ws = workspace("job-by-job", &["build", "lint"]);
    // The one-job files `lay_workspace` writes, and a GitHub-style folder Forgejo would
    // otherwise also read.
    std::fs::create_dir_all(ws.join(".forgejo-e2e/jobs")).expect("dir");
    for job in ["build", "lint"] {
        let one = format!("on: push\njobs:\n  {job}:\n    runs-on: docker\n    steps: [{{run: 'true'}}]\n");
        std::fs::write(ws.join(format!(".forgejo-e2e/jobs/{job}.yml")), one).expect("job file");
    }
    std::fs::create_dir_all(ws.join(".github/workflows")).expect("dir");
    std::fs::write(ws.join(".github/workflows/other.yml"), "on: push\njobs: {}\n").expect("write");
    commit(&ws, "jobs", false);
    let mut ran = Vec::new();
    for job in ["lint", "build"] {
        push::commit_one_job(&ws, &format!(".forgejo-e2e/jobs/{job}.yml"), job).await.expect("commit");
        let sha = push::push(&api, "e2e-admin", "e2e-admin", "jobs", &ws).await.expect("push");
        let run = push::run_of(&api, "e2e-admin", "jobs", &sha, Duration::from_secs(30)).await.expect("run");
        ran.push((run.run_number, run.jobs.iter().map(|j| j.name.clone()).collect::<Vec<_>>()));
    }
    assert_eq!(ran, [(1, vec!["lint".to_owned()]), (2, vec!["build".to_owned()])]);
    let tree = git(&ws, &["ls-files"]);
    assert!(tree.contains(".forgejo/workflows/forgejo-e2e-job.yml") && !tree.contains(".github/workflows"), "{tree}");
    assert!(!tree.contains(".forgejo/workflows/ci.yml"), "{tree}");
    let _ = std::fs::remove_dir_all(ws);
    forget(&state);
}

#[tokio::test]
async fn the_deadline_bounds_the_wait_for_a_runner_and_then_the_job_from_its_start() {
    let (base, state) = fake_forgejo(&[]).await;
    let api = Forgejo::new(&base, Auth::Token(TOKEN.into()));
    api.create_repo("late").await.expect("repo");
    let ws = workspace("late", &["build"]);
    let sha = push::push(&api, "e2e-admin", "e2e-admin", "late", &ws).await.expect("push");
    // Taken after about 4 s, then about 6 s to finish: more than 5 s in all, each part less.
    let started = std::time::Instant::now();
    let run = push::run_of(&api, "e2e-admin", "late", &sha, Duration::from_secs(5)).await.expect("run");
    assert!(started.elapsed() > Duration::from_secs(5), "the whole took {:?}", started.elapsed());
    assert_eq!(run.jobs[0].status, RunStatus::Success);
    let _ = std::fs::remove_dir_all(ws);
    forget(&state);
}
