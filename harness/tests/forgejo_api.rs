//! The Forgejo API client against a local HTTP server that implements the documented
//! endpoints with their quirks (a fake, named as such: no real Forgejo can be built here).
//! It honours what it is sent: tokens only by basic auth and returned in `sha1`, 403 while
//! an account must change its password, repositories named and made public or private by
//! the request body (409 on a duplicate), runs listed under `workflow_runs` with the
//! documented status values, job logs on a web route that serves public repositories only,
//! several jobs per run.
#![cfg(feature = "forgejo")]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use harness::kind::forgejo::{Auth, Forgejo, RunStatus};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};

const SHA: &str = "4f1c0ffee";
const TOKEN: &str = "0123456789abcdef0123456789abcdef01234567";

/// What the fake remembers: repositories (name → private) and how often runs were polled.
#[derive(Default)]
struct State {
    repos: HashMap<String, bool>,
    polls: usize,
}

type Shared = Arc<Mutex<State>>;

/// A fake Forgejo with `repos` already present; returns its URL and its state.
async fn fake_forgejo(repos: &[(&str, bool)]) -> (String, Shared) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let state: Shared = Arc::default();
    state.lock().expect("state").repos.extend(repos.iter().map(|(n, p)| (n.to_string(), *p)));
    let shared = state.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let state = state.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let state = state.clone();
                    async move { Ok::<_, std::convert::Infallible>(route(req, &state).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (format!("http://{addr}"), shared)
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
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let token_ok = auth == format!("token {TOKEN}");
    let mut state = state.lock().expect("state");
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
            reply(
                StatusCode::CREATED,
                serde_json::json!({"id": 3, "name": name, "full_name": format!("e2e-admin/{name}"), "private": private}),
            )
        }
        ("GET", "/api/v1/admin/runners/registration-token") if token_ok => {
            reply(StatusCode::OK, serde_json::json!({"token": "REGISTRATION-TOKEN"}))
        }
        ("GET", p) if token_ok && p.starts_with("/api/v1/repos/e2e-admin/") && p.ends_with("/actions/tasks") => {
            let repo = p.trim_start_matches("/api/v1/repos/e2e-admin/").trim_end_matches("/actions/tasks");
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
