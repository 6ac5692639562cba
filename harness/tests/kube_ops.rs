//! kube-rs calls against a mocked API server (tower-test): the requests the harness sends
//! (paths, methods and bodies, inspected) and how it reads the answers, including the error
//! cases and a terminating pod among several.
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
        // The second delete names the same Secret again, not some other path.
        assert_eq!(
            (req.method().as_str(), req.uri().path()),
            ("DELETE", "/api/v1/namespaces/runners/secrets/runner-forgejo-runner-config")
        );
        send.send_response(not_found("secrets \"runner-forgejo-runner-config\""));
    });
    assert!(delete_stale_runner_secret(&client, "runners", "runner-forgejo-runner-config").await.expect("delete"));
    assert!(
        !delete_stale_runner_secret(&client, "runners", "runner-forgejo-runner-config").await.expect("absent is fine")
    );
    server.await.expect("server");
}

/// The Secret in a request body: its name and its data keys with the decoded contents.
async fn secret_sent(req: Request<Body>) -> (String, std::collections::BTreeMap<String, String>) {
    use http_body_util::BodyExt;
    let bytes = req.into_body().collect().await.expect("body").to_bytes();
    let secret: k8s_openapi::api::core::v1::Secret = serde_json::from_slice(&bytes).expect("a Secret");
    let data = secret.data.unwrap_or_default();
    let name = secret.metadata.name.unwrap_or_default();
    (name, data.into_iter().map(|(k, v)| (k, String::from_utf8(v.0).expect("utf-8"))).collect())
}

#[tokio::test]
async fn an_existing_secret_is_replaced_with_the_whole_set_and_no_ca_key() {
    let set = harness::pki::generate(&Default::default()).expect("set");
    let (server_key, client_cert) = (set.server_key.clone(), set.client_cert.clone());
    let (client, mut handle) = client();
    let server = tokio::spawn(async move {
        let (req, send) = handle.next_request().await.expect("request");
        assert_eq!((req.method().as_str(), req.uri().path()), ("POST", "/api/v1/namespaces/runners/secrets"));
        let (name, created) = secret_sent(req).await;
        send.send_response(json(StatusCode::CONFLICT, serde_json::json!({"kind":"Status","apiVersion":"v1","status":"Failure","reason":"AlreadyExists","code":409,"message":"exists"})));
        let (req, send) = handle.next_request().await.expect("request");
        assert_eq!(
            (req.method().as_str(), req.uri().path()),
            ("PUT", "/api/v1/namespaces/runners/secrets/fe2e-dind-certs")
        );
        let (replaced_name, replaced) = secret_sent(req).await;
        send.send_response(json(StatusCode::OK, serde_json::json!({"apiVersion":"v1","kind":"Secret","metadata":{"name":"fe2e-dind-certs","namespace":"runners"}})));
        (name, created, replaced_name, replaced)
    });
    put_secret(&client, &harness::pki::to_secret(&set, "fe2e-dind-certs", "runners")).await.expect("put");
    let (name, created, replaced_name, replaced) = server.await.expect("server");
    assert_eq!((name.as_str(), replaced_name.as_str()), ("fe2e-dind-certs", "fe2e-dind-certs"));
    // The keys the DIND image copies into /certs (it sets the file modes itself: a Secret has none).
    let keys: Vec<&str> = created.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "ca-cert.pem",
            "client-ca.pem",
            "client-cert.pem",
            "client-key.pem",
            "server-ca.pem",
            "server-cert.pem",
            "server-key.pem"
        ]
    );
    assert_eq!(created["server-key.pem"], server_key);
    assert_eq!(created["client-cert.pem"], client_cert);
    assert!(created.values().all(|v| v.starts_with("-----BEGIN ")), "every value is PEM");
    assert!(!created.keys().any(|k| k.starts_with("ca-key")), "never the CA key");
    assert_eq!(created, replaced, "the replacement carries the same set");
}

fn pod(name: &str, ready: &[bool], waiting_reason: Option<&str>, terminating: bool) -> serde_json::Value {
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
    let mut metadata = serde_json::json!({"name": name});
    if terminating {
        metadata["deletionTimestamp"] = serde_json::json!("2026-11-28T04:00:00Z");
    }
    serde_json::json!({"metadata": metadata, "status": {"containerStatuses": statuses}})
}

fn pods(items: Vec<serde_json::Value>) -> serde_json::Value {
    serde_json::json!({"apiVersion":"v1","kind":"PodList","metadata":{},"items":items})
}

fn pod_list(ready: &[bool], waiting_reason: Option<&str>) -> serde_json::Value {
    pods(vec![pod("runner-0", ready, waiting_reason, false)])
}

#[tokio::test]
async fn a_terminating_pod_is_never_the_ready_one() {
    // During an upgrade the old pod is still Ready while it terminates; the new one is what counts.
    let (client, mut handle) = client();
    let server = tokio::spawn(async move {
        for new_ready in [[true, false], [true, true]] {
            let (_, send) = handle.next_request().await.expect("request");
            let items = vec![pod("runner-old", &[true, true], None, true), pod("runner-new", &new_ready, None, false)];
            send.send_response(json(StatusCode::OK, pods(items)));
        }
    });
    let name = wait_pod_ready(&client, "runners", "app.kubernetes.io/name=forgejo-runner", Duration::from_secs(20))
        .await
        .expect("ready");
    assert_eq!(name, "runner-new");
    server.await.expect("server");
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
