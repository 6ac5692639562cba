//! `tls-enforced`: from inside a job, DIND's socket refuses plaintext, a client without a
//! certificate and a certificate from another CA — each by its own reason, as the TLS
//! handshake shows it — and accepts the mounted client set. The `verify-off` variant starts dockerd without client
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

/// What one TLS 1.2 handshake from the job showed (openssl's message trace, as markers).
#[derive(Debug, PartialEq)]
struct Handshake {
    /// The server sent a CertificateRequest.
    cert_requested: bool,
    /// Bytes of the client's Certificate message, if it sent one.
    client_certificate: Option<u32>,
    /// The server's fatal alert, if it sent one.
    server_alert: Option<String>,
    /// The client's own verification of the server (`Verify return code`; 0 is ok).
    server_verify: Option<u32>,
}

/// An empty Certificate message: the 4-byte handshake header and a 3-byte zero list length.
const EMPTY_CERTIFICATE: u32 = 7;

impl Handshake {
    fn of(ev: &Evidence, name: &str) -> Option<Self> {
        let get = |k: &str| ev.marker(&format!("{name}_{k}")).filter(|v| !v.is_empty());
        Some(Self {
            cert_requested: get("cert_request")? == "yes",
            client_certificate: get("client_certificate_length").and_then(|v| u32::from_str_radix(v, 16).ok()),
            server_alert: get("server_alert").map(str::to_owned),
            server_verify: get("server_verify").and_then(|v| v.parse().ok()),
        })
    }

    fn shown(&self) -> String {
        format!(
            "certificate request {}, client certificate message {}, server alert {}, client's verification of the server {}",
            if self.cert_requested { "sent" } else { "not sent" },
            self.client_certificate.map_or("not sent".into(), |n| format!("{n} bytes")),
            self.server_alert.as_deref().unwrap_or("none"),
            self.server_verify.map_or("not reported".into(), |c| c.to_string()),
        )
    }
}

/// A refusal passes only for its own reason, as the handshake shows it: the server asked for
/// a client certificate, the client sent none (`no_client_cert`) or one from another CA
/// (`foreign_ca`, which then verified the server itself: the refusal is the server's), and
/// the server ended the handshake with a fatal alert naming a certificate problem.
fn refused(ev: &Evidence, name: &str, sends_certificate: bool, alerts: &[&str]) -> Vec<Check> {
    let mut checks = vec![Check::marker_is(ev, &format!("{name}_result"), "refused")];
    let Some(h) = Handshake::of(ev, name) else {
        checks.push(Check::fail(format!("{name}: the handshake's trace"), "the job never reported it"));
        return checks;
    };
    let shown = h.shown();
    checks.push(Check::that(format!("{name}: the server asked for a client certificate"), h.cert_requested, &shown));
    let sent = h.client_certificate.map(|n| n > EMPTY_CERTIFICATE);
    checks.push(match sends_certificate {
        false => Check::that(format!("{name}: the client answered with no certificate"), sent == Some(false), &shown),
        true => Check::that(
            format!("{name}: the client sent its certificate and verified the server"),
            sent == Some(true) && h.server_verify == Some(0),
            &shown,
        ),
    });
    checks.push(Check::that(
        format!("{name}: the server's fatal alert is {}", alerts.join(" or ")),
        h.server_alert.as_deref().is_some_and(|a| alerts.contains(&a)),
        &shown,
    ));
    checks
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
    // Go's TLS server (dockerd) alerts bad_certificate for both in TLS 1.2: what the client
    // sent tells the two reasons apart.
    checks.extend(refused(ev, "no_client_cert", false, &["bad_certificate", "certificate_required"]));
    checks.extend(refused(ev, "foreign_ca", true, &["bad_certificate", "unknown_ca"]));
    checks.push(Check::marker_is(ev, "client_set_result", "accepted:OK"));
    checks.push(Check::job_succeeded(ev));
    checks
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness::scenario::{Executor, Outcome, Platform};

    fn evidence(markers: &[(&str, &str)]) -> Evidence {
        let log: String = markers.iter().map(|(k, v)| format!("E2E-MARK n1 {k}={v}\n")).collect();
        Evidence {
            platform: Platform::Docker,
            executor: Executor::Act,
            dind: harness::docker::DindMode::Rootful,
            nonce: "n1".into(),
            job_succeeded: true,
            log,
        }
    }

    fn handshake(name: &str, length: &str, alert: &str) -> Vec<(String, String)> {
        [
            ("result", "refused"),
            ("cert_request", "yes"),
            ("client_certificate_length", length),
            ("server_alert", alert),
            ("server_verify", "0"),
        ]
        .iter()
        .map(|(k, v)| (format!("{name}_{k}"), v.to_string()))
        .collect()
    }

    fn failed(checks: &[Check]) -> Vec<String> {
        checks.iter().filter(|c| matches!(c.outcome, Outcome::Fail(_))).map(|c| c.name.clone()).collect()
    }

    #[test]
    fn each_refusal_passes_only_for_its_own_reason() {
        let markers = |no_cert_len: &str, foreign_len: &str| {
            let mut m = handshake("no_client_cert", no_cert_len, "bad_certificate");
            m.extend(handshake("foreign_ca", foreign_len, "bad_certificate"));
            m
        };
        let ev =
            |m: &[(String, String)]| evidence(&m.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<Vec<_>>());
        // As dockerd refuses them: the same alert, told apart by what the client sent.
        let right = markers("0007", "019f");
        assert!(failed(&refused(&ev(&right), "no_client_cert", false, &["bad_certificate"])).is_empty());
        assert!(failed(&refused(&ev(&right), "foreign_ca", true, &["bad_certificate"])).is_empty());
        // Swapped: each refusal happened for the other's reason, and fails.
        let swapped = markers("019f", "0007");
        assert_eq!(
            failed(&refused(&ev(&swapped), "no_client_cert", false, &["bad_certificate"])),
            ["no_client_cert: the client answered with no certificate"]
        );
        assert_eq!(
            failed(&refused(&ev(&swapped), "foreign_ca", true, &["bad_certificate"])),
            ["foreign_ca: the client sent its certificate and verified the server"]
        );
        // A handshake the server never alerted on is no refusal.
        let accepted = handshake("foreign_ca", "019f", "");
        assert_eq!(
            failed(&refused(&ev(&accepted), "foreign_ca", true, &["bad_certificate"])),
            ["foreign_ca: the server's fatal alert is bad_certificate"]
        );
    }
}
