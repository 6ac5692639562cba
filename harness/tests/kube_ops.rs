//! kube-rs calls against a mocked API server (tower-test): the requests the harness sends
//! and how it reads the answers, including the error cases.
#![cfg(feature = "kube")]

use std::time::Duration;

use harness::kind::kube_ops::{delete_stale_runner_secret, put_secret, wait_pod_ready};
use http::{Request, Response, StatusCode};
use kube::Client;
use kube::client::Body;

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

fn client() -> (Client, Handle) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    (Client::new(service, "runners"), handle)
}

fn json(status: StatusCode, body: serde_json::Value) -> Response<Body> {
    Response::builder().status(status).body(Body::from(body.to_string().into_bytes())).expect("response")
}

fn not_found(what: &str) -> Response<Body> {
    json(
        StatusCode::NOT_FOUND,
        serde_json::json!({"kind":"Status","apiVersion":"v1","status":"Failure","message":format!("{what} not found"),"reason":"NotFound","code":404}),
    )
}

#[tokio::test]
async fn stale_runner_secret_is_deleted_and_absence_is_fine() {
    let (client, mut handle) = client();
    let server = tokio::spawn(async move {
        let (req, send) = handle.next_request().await.expect("request");
        assert_eq!(req.method(), http::Method::DELETE);
        assert_eq!(req.uri().path(), "/api/v1/namespaces/runners/secrets/runner-forgejo-runner-config");
        send.send_response(json(
            StatusCode::OK,
            serde_json::json!({"kind":"Status","apiVersion":"v1","status":"Success"}),
        ));
        let (req, send) = handle.next_request().await.expect("request");
        assert_eq!(req.method(), http::Method::DELETE);
        send.send_response(not_found("secrets \"runner-forgejo-runner-config\""));
    });
    assert!(delete_stale_runner_secret(&client, "runners", "runner-forgejo-runner-config").await.expect("delete"));
    assert!(
        !delete_stale_runner_secret(&client, "runners", "runner-forgejo-runner-config").await.expect("absent is fine")
    );
    server.await.expect("server");
}

#[tokio::test]
async fn an_existing_secret_is_replaced() {
    let (client, mut handle) = client();
    let server = tokio::spawn(async move {
        let (req, send) = handle.next_request().await.expect("request");
        assert_eq!((req.method().as_str(), req.uri().path()), ("POST", "/api/v1/namespaces/runners/secrets"));
        send.send_response(json(StatusCode::CONFLICT, serde_json::json!({"kind":"Status","apiVersion":"v1","status":"Failure","reason":"AlreadyExists","code":409,"message":"exists"})));
        let (req, send) = handle.next_request().await.expect("request");
        assert_eq!(
            (req.method().as_str(), req.uri().path()),
            ("PUT", "/api/v1/namespaces/runners/secrets/fe2e-dind-certs")
        );
        send.send_response(json(StatusCode::OK, serde_json::json!({"apiVersion":"v1","kind":"Secret","metadata":{"name":"fe2e-dind-certs","namespace":"runners"}})));
    });
    let set = harness::pki::generate(&Default::default()).expect("set");
    put_secret(&client, &harness::pki::to_secret(&set, "fe2e-dind-certs", "runners")).await.expect("put");
    server.await.expect("server");
}

fn pod_list(ready: &[bool], waiting_reason: Option<&str>) -> serde_json::Value {
    let statuses: Vec<serde_json::Value> = ready
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let state = match waiting_reason {
                Some(reason) if i == 1 => serde_json::json!({"waiting": {"reason": reason}}),
                _ => serde_json::json!({"running": {}}),
            };
            let name = ["runner", "dind"][i];
            serde_json::json!({"name": name, "ready": r, "restartCount": 0, "image": "x", "imageID": "", "state": state})
        })
        .collect();
    serde_json::json!({"apiVersion":"v1","kind":"PodList","metadata":{},"items":[{"metadata":{"name":"runner-0"},"status":{"containerStatuses":statuses}}]})
}

#[tokio::test]
async fn pod_readiness_is_polled_until_every_container_is_ready() {
    let (client, mut handle) = client();
    let server = tokio::spawn(async move {
        for ready in [[true, false], [true, true]] {
            let (req, send) = handle.next_request().await.expect("request");
            assert_eq!(req.uri().path(), "/api/v1/namespaces/runners/pods");
            assert!(
                req.uri()
                    .query()
                    .unwrap_or_default()
                    .contains("labelSelector=app.kubernetes.io%2Fname%3Dforgejo-runner"),
                "{:?}",
                req.uri()
            );
            send.send_response(json(StatusCode::OK, pod_list(&ready, None)));
        }
    });
    let name = wait_pod_ready(&client, "runners", "app.kubernetes.io/name=forgejo-runner", Duration::from_secs(20))
        .await
        .expect("ready");
    assert_eq!(name, "runner-0");
    server.await.expect("server");
}

#[tokio::test]
async fn a_crashlooping_dind_fails_at_once_naming_the_container() {
    let (client, mut handle) = client();
    let server = tokio::spawn(async move {
        let (_, send) = handle.next_request().await.expect("request");
        send.send_response(json(StatusCode::OK, pod_list(&[true, false], Some("CrashLoopBackOff"))));
    });
    let err = wait_pod_ready(&client, "runners", "app.kubernetes.io/name=forgejo-runner", Duration::from_secs(20))
        .await
        .expect_err("crashloop");
    assert!(err.to_string().contains("container dind is in CrashLoopBackOff"), "{err}");
    server.await.expect("server");
}
