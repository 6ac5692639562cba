//! `tls-enforced`: from inside a job, DIND's socket refuses plaintext, a client without a
//! certificate and a certificate from another CA — each asserted by its error — and accepts
//! the mounted client set. The `verify-off` variant starts dockerd without client
//! verification and must be caught.

use harness::scenario::{Check, Evidence, Expect, Needs, PodSetup, Scenario, Variant};

pub fn scenario() -> Scenario {
    Scenario {
        name: "tls-enforced",
        description: "DIND refuses plaintext, no client cert and a foreign CA from inside a job; accepts the client set",
        needs: Needs::default(),
        setup: PodSetup::Standard,
        workspace: "tls-enforced",
        workflow: ".forgejo/workflows/tls-enforced.yml",
        artifacts: &[],
        config: None,
        check,
        variants: &[Variant {
            name: "verify-off",
            overlay: "",
            config: None,
            // The last flag wins: TLS stays on, client certificates are no longer required.
            dind_args: &["--tlsverify=false"],
            expect: Expect::WrongValue("no_client_cert_result"),
            fault: None,
            healthy: tls_still_on,
            caused: verification_was_off,
        }],
    }
}

/// A refusal passes only with the error that names its cause.
fn refused(ev: &Evidence, name: &str, error_contains: &[&str]) -> Vec<Check> {
    let error = ev.marker(&format!("{name}_error")).unwrap_or_default();
    vec![
        Check::marker_is(ev, &format!("{name}_result"), "refused"),
        Check::that(
            format!("{name} refused because: {}", error_contains.join(" or ")),
            error_contains.iter().any(|e| error.contains(e)),
            format!("curl said: {error}"),
        ),
    ]
}

/// With verification off the socket still speaks only TLS and accepts the client set.
fn tls_still_on(ev: &Evidence) -> Vec<Check> {
    let plain = ev.marker("plaintext_result").unwrap_or_default();
    vec![
        Check::that(
            "plaintext refused: Client sent an HTTP request to an HTTPS server",
            plain.contains("Client sent an HTTP request to an HTTPS server"),
            format!("plain HTTP got: {plain}"),
        ),
        Check::marker_is(ev, "client_set_result", "accepted:OK"),
    ]
}

/// The server really ran without client verification: a client with no certificate was
/// served an answer.
fn verification_was_off(ev: &Evidence) -> Vec<Check> {
    let seen = ev.marker("no_client_cert_result").unwrap_or("never reported");
    vec![Check::that(
        "a client without a certificate was served (no client verification)",
        seen.starts_with("accepted:"),
        format!("no_client_cert_result={seen}"),
    )]
}

fn check(ev: &Evidence) -> Vec<Check> {
    let mut checks = Vec::new();
    // dockerd answers plain HTTP on its TLS port with this exact sentence (HTTP 400).
    let plain = ev.marker("plaintext_result").unwrap_or_default();
    checks.push(Check::that(
        "plaintext refused: Client sent an HTTP request to an HTTPS server",
        plain.contains("Client sent an HTTP request to an HTTPS server"),
        format!("plain HTTP got: {plain}"),
    ));
    // The server's TLS alert ends the handshake: curl reports the alert it received.
    checks.extend(refused(ev, "no_client_cert", &["alert certificate required", "alert bad certificate"]));
    checks.extend(refused(ev, "foreign_ca", &["alert unknown ca", "alert bad certificate"]));
    checks.push(Check::marker_is(ev, "client_set_result", "accepted:OK"));
    checks.push(Check::job_succeeded(ev));
    checks
}
