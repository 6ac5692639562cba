//! The Forgejo API client against a local HTTP server that implements the documented
//! endpoints with their quirks: tokens only by basic auth and returned in `sha1`, 403 while
//! an account must change its password, runs listed under `workflow_runs` with the
//! documented status values, job logs on a web route.
#![cfg(feature = "kube")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use harness::kind::forgejo::{Auth, Forgejo, RunStatus};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};

const SHA: &str = "4f1c0ffee";

/// A fake Forgejo; `polls` counts `/actions/tasks` calls to walk a run through its states.
async fn fake_forgejo() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let polls = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let polls = polls.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let polls = polls.clone();
                    async move { Ok::<_, std::convert::Infallible>(route(req, &polls).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

fn reply(status: StatusCode, body: serde_json::Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("response")
}

async fn route(req: Request<hyper::body::Incoming>, polls: &AtomicUsize) -> Response<Full<Bytes>> {
    let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let (method, path) = (req.method().as_str().to_owned(), req.uri().path().to_owned());
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let token_ok = auth == "token 0123456789abcdef0123456789abcdef01234567";
    match (method.as_str(), path.as_str()) {
        ("GET", "/api/v1/version") => reply(StatusCode::OK, serde_json::json!({"version": "12.0.1+gitea-1.22.0"})),
        ("POST", "/api/v1/users/e2e-admin/tokens") => {
            // "e2e-admin:secret" — tokens are created with basic auth only.
            if auth != "Basic ZTJlLWFkbWluOnNlY3JldA==" {
                return reply(StatusCode::UNAUTHORIZED, serde_json::json!({"message": "auth required"}));
            }
            let req: serde_json::Value = serde_json::from_slice(&body).expect("json body");
            assert!(req["scopes"].as_array().is_some_and(|s| !s.is_empty()), "scopes are required: {req}");
            reply(
                StatusCode::CREATED,
                serde_json::json!({"id": 1, "name": req["name"], "sha1": "0123456789abcdef0123456789abcdef01234567", "token_last_eight": "01234567"}),
            )
        }
        ("POST", "/api/v1/users/fresh-admin/tokens") => reply(
            StatusCode::FORBIDDEN,
            serde_json::json!({"message": "You must change your password. Change it at: /user/change_password"}),
        ),
        ("POST", "/api/v1/user/repos") if token_ok => {
            reply(StatusCode::CREATED, serde_json::json!({"id": 3, "full_name": "e2e-admin/docker-build"}))
        }
        ("GET", "/api/v1/admin/runners/registration-token") if token_ok => {
            reply(StatusCode::OK, serde_json::json!({"token": "REGISTRATION-TOKEN"}))
        }
        ("GET", "/api/v1/repos/e2e-admin/docker-build/actions/tasks") if token_ok => {
            let n = polls.fetch_add(1, Ordering::SeqCst);
            let status = ["waiting", "running", "success"].get(n.saturating_sub(1)).copied().unwrap_or("success");
            let mut runs = vec![
                serde_json::json!({"id": 90, "name": "old", "head_branch": "main", "head_sha": "0ld", "run_number": 6, "event": "push", "status": "failure", "workflow_id": "docker-build.yml"}),
            ];
            if n > 0 {
                runs.insert(0, serde_json::json!({"id": 91, "name": "build", "head_branch": "main", "head_sha": SHA, "run_number": 7, "event": "push", "display_title": "e2e workspace", "status": status, "workflow_id": "docker-build.yml", "url": "http://x/e2e-admin/docker-build/actions/runs/7", "created_at": "2026-11-27T21:00:00Z", "updated_at": "2026-11-27T21:00:05Z", "run_started_at": "2026-11-27T21:00:01Z"}));
            }
            let total = runs.len();
            reply(StatusCode::OK, serde_json::json!({"workflow_runs": runs, "total_count": total}))
        }
        ("GET", "/e2e-admin/docker-build/actions/runs/7/jobs/0/logs") => Response::builder()
            .status(StatusCode::OK)
            .body(Full::new(Bytes::from("2026-11-27T21:00:02Z E2E-MARK built_image_says=hello\n")))
            .expect("response"),
        _ if !token_ok && path.starts_with("/api/v1/") => {
            reply(StatusCode::UNAUTHORIZED, serde_json::json!({"message": "token is required"}))
        }
        _ => reply(StatusCode::NOT_FOUND, serde_json::json!({"message": "not found"})),
    }
}

#[tokio::test]
async fn admin_token_repo_registration_run_and_log() {
    let base = fake_forgejo().await;
    let anon = Forgejo::new(&base, Auth::None);
    assert_eq!(anon.wait_ready(Duration::from_secs(10)).await.expect("ready"), "12.0.1+gitea-1.22.0");

    let basic = anon.with_auth(Auth::Basic { user: "e2e-admin".into(), password: "secret".into() });
    let token =
        basic.create_token("e2e-admin", "forgejo-e2e", &["write:repository", "write:admin"]).await.expect("token");
    assert_eq!(token, "0123456789abcdef0123456789abcdef01234567");

    let api = anon.with_auth(Auth::Token(token));
    api.create_repo("docker-build").await.expect("repo");
    assert_eq!(api.registration_token().await.expect("registration"), "REGISTRATION-TOKEN");

    // The run appears, then walks waiting -> running -> success; another commit's run is ignored.
    let run = api.wait_for_run("e2e-admin", "docker-build", SHA, Duration::from_secs(30)).await.expect("run");
    assert_eq!((run.id, run.run_number(), run.status()), (91, 7, RunStatus::Success));
    let log = api.job_log("e2e-admin", "docker-build", run.run_number(), 0).await.expect("log");
    assert!(log.contains("E2E-MARK built_image_says=hello"));
}

#[tokio::test]
async fn must_change_password_and_missing_token_are_clear_errors() {
    let base = fake_forgejo().await;
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
