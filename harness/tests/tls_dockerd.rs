//! A real dockerd with `--tlsverify` on loopback, serving an rcgen-made set: bollard and
//! the docker CLI get in with the client set; every other client is refused, each for its
//! own reason, asserted on both the client's error and the daemon's log.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, PortBinding};
use bollard::query_parameters::{CreateContainerOptionsBuilder, UploadToContainerOptionsBuilder};
use harness::docker::images::{ImageKind, planned_reference};
use harness::docker::{archive, labels};
use harness::pki::{self, PkiOptions, TlsSet, WriteOptions};
use harness::wait::{self, Poll};

/// A DIND container of the test's own (the harness's rootful DIND image) with the set at
/// /certs, its TLS port published on loopback only: 127.0.0.1 (a SAN) and 127.0.0.2 (not).
/// A second dockerd on the host itself is no option: started with `--bridge=none` it
/// deletes the host engine's docker0.
struct TestDind {
    name: String,
    port: u16,
    alt_port: u16,
}

impl TestDind {
    async fn start(docker: &Docker, certs: &TlsSet) -> TestDind {
        let image = planned_reference(ImageKind::Dind).expect("dind");
        docker
            .inspect_image(&image)
            .await
            .unwrap_or_else(|_| panic!("{image} is missing: run cargo xtask images first"));
        let name = format!("fe2e-tls-test-{}", std::process::id());
        let mut host = harness::docker::Privilege::CapabilitySet.host_config(None);
        let loopback = |ip: &str| PortBinding { host_ip: Some(ip.into()), host_port: Some(String::new()) };
        host.port_bindings =
            Some(HashMap::from([("2376/tcp".to_owned(), Some(vec![loopback("127.0.0.1"), loopback("127.0.0.2")]))]));
        let body = ContainerCreateBody {
            image: Some(image),
            env: Some(vec!["DOCKER_TLS_CERTDIR=/certs".into()]),
            labels: Some(labels::for_pod(&format!("tls-test-{}", std::process::id()), "tls-test")),
            host_config: Some(host),
            ..Default::default()
        };
        let opts = CreateContainerOptionsBuilder::default().name(&name).build();
        docker.create_container(Some(opts), body).await.expect("create DIND");
        let mut dind = TestDind { name, port: 0, alt_port: 0 };
        let files = pki::files(certs, WriteOptions::default());
        let entries: Vec<archive::Entry<'_>> = files
            .iter()
            .map(|f| archive::Entry { path: f.path, contents: f.contents.as_bytes(), mode: f.mode, uid: 0 })
            .collect();
        let tar = archive::from_entries(&entries).expect("tar");
        let mut prefixed = tar::Builder::new(Vec::new());
        let mut archive = tar::Archive::new(&tar[..]);
        for entry in archive.entries().expect("entries") {
            let mut entry = entry.expect("entry");
            let mut header = entry.header().clone();
            let path = format!("certs/{}", entry.path().expect("path").display());
            prefixed.append_data(&mut header, path, &mut entry).expect("append");
        }
        let upload = UploadToContainerOptionsBuilder::default().path("/").build();
        let body = bollard::body_full(prefixed.into_inner().expect("tar").into());
        docker.upload_to_container(&dind.name, Some(upload), body).await.expect("upload certs");
        docker.start_container(&dind.name, None).await.expect("start DIND");
        let info = docker.inspect_container(&dind.name, None).await.expect("inspect");
        let ports = info
            .network_settings
            .and_then(|n| n.ports)
            .and_then(|p| p.get("2376/tcp").cloned().flatten())
            .expect("ports");
        let port_of = |ip: &str| {
            ports
                .iter()
                .find(|b| b.host_ip.as_deref() == Some(ip))
                .and_then(|b| b.host_port.as_ref())
                .and_then(|p| p.parse().ok())
                .expect("published port")
        };
        (dind.port, dind.alt_port) = (port_of("127.0.0.1"), port_of("127.0.0.2"));
        dind
    }

    fn log(&self) -> String {
        let out = Command::new("docker").args(["logs", &self.name]).output().expect("docker logs");
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    }

    /// Waits until the daemon's log has a line containing `needle`.
    async fn log_shows(&self, needle: &str) -> String {
        wait::until(
            &format!("dockerd log line {needle:?}"),
            Duration::from_secs(10),
            Duration::from_millis(100),
            || async {
                Ok(match self.log().lines().find(|l| l.contains(needle)) {
                    Some(line) => Poll::Ready(line.to_owned()),
                    None => Poll::NotYet("no such line yet".into()),
                })
            },
        )
        .await
        .expect("daemon logs the refusal")
    }
}

impl Drop for TestDind {
    fn drop(&mut self) {
        // Also on a failed assertion: remove the container and its anonymous data volume.
        let _ = Command::new("docker").args(["rm", "--force", "--volumes", &self.name]).output();
    }
}

fn bollard_tls(addr: &str, ca: &Path, client: &Path) -> Docker {
    Docker::connect_with_ssl(
        addr,
        &client.join("key.pem"),
        &client.join("cert.pem"),
        ca,
        10,
        bollard::API_DEFAULT_VERSION,
    )
    .expect("bollard TLS client")
}

/// The docker CLI with `--tlsverify` and the given files; returns (success, stderr).
fn cli(host: &str, ca: &Path, cert_key: Option<&Path>) -> (bool, String) {
    let mut cmd = Command::new("docker");
    cmd.arg("-H").arg(host).arg("--tlsverify").arg("--tlscacert").arg(ca);
    if let Some(dir) = cert_key {
        cmd.arg("--tlscert").arg(dir.join("cert.pem")).arg("--tlskey").arg(dir.join("key.pem"));
    }
    let out =
        cmd.args(["version", "--format", "{{.Server.Version}}"]).stdin(Stdio::null()).output().expect("docker CLI");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test]
#[ignore = "needs a Docker engine, the docker CLI and the DIND image (cargo xtask images); cargo xtask ci runs it"]
async fn dockerd_accepts_the_client_set_and_refuses_everything_else() {
    let dir = harness::sys::Scratch::new("forgejo-e2e-tls-dockerd");
    let (certs, other) = (dir.join("certs"), dir.join("other"));
    let set = pki::generate(&PkiOptions::default()).expect("set");
    pki::write_dir(&certs, &set, WriteOptions::default()).expect("write");
    let other_set = pki::generate(&PkiOptions::default()).expect("other set");
    pki::write_dir(&other, &other_set, WriteOptions::default()).expect("write");
    let host = harness::docker::connect().await.expect("a Docker engine");
    let daemon = TestDind::start(&host, &set).await;
    let addr = format!("tcp://127.0.0.1:{}", daemon.port);

    // Accepted: bollard over TLS with the client set (waited for by condition).
    let version = wait::until("dockerd over TLS", Duration::from_secs(60), Duration::from_millis(200), || async {
        Ok(match bollard_tls(&addr, &certs.join("client/ca.pem"), &certs.join("client")).version().await {
            Ok(v) => Poll::Ready(v.version.unwrap_or_default()),
            Err(e) => Poll::NotYet(e.to_string()),
        })
    })
    .await
    .unwrap_or_else(|e| panic!("{e:#}\n{}", daemon.log()));
    assert!(!version.is_empty());

    // Accepted: the docker CLI with --tlsverify and the client set.
    let (ok, err) = cli(&addr, &certs.join("client/ca.pem"), Some(&certs.join("client")));
    assert!(ok, "docker --tlsverify with the client set: {err}");

    // Refused: no client certificate.
    let (ok, err) = cli(&addr, &certs.join("client/ca.pem"), None);
    assert!(!ok && err.contains("tls: bad certificate"), "{err}");
    daemon.log_shows("tls: client didn't provide a certificate").await;

    // Refused: a client certificate from another CA.
    let (ok, err) = cli(&addr, &certs.join("client/ca.pem"), Some(&other.join("client")));
    assert!(!ok && err.contains("tls: bad certificate"), "{err}");
    daemon.log_shows("failed to verify client certificate: x509: certificate signed by unknown authority").await;
    let refused = bollard_tls(&addr, &certs.join("client/ca.pem"), &other.join("client"))
        .version()
        .await
        .expect_err("bollard with a foreign client cert");
    assert!(
        format!("{refused:?}").contains("BadCertificate") || refused.to_string().contains("bad certificate"),
        "{refused:?}"
    );

    // Refused: plain HTTP to the TLS port.
    let plain = Docker::connect_with_http(&addr, 10, bollard::API_DEFAULT_VERSION).expect("http client");
    let refused = plain.version().await.expect_err("plain HTTP is refused");
    assert!(refused.to_string().contains("Client sent an HTTP request to an HTTPS server"), "{refused}");

    // Refused: a server name that is not among the SANs (127.0.0.2 is loopback, not a SAN).
    let alt = format!("tcp://127.0.0.2:{}", daemon.alt_port);
    let (ok, err) = cli(&alt, &certs.join("client/ca.pem"), Some(&certs.join("client")));
    assert!(!ok && err.contains("x509: certificate is valid for 127.0.0.1, ::1, not 127.0.0.2"), "{err}");
    let refused = bollard_tls(&alt, &certs.join("client/ca.pem"), &certs.join("client"))
        .version()
        .await
        .expect_err("bollard to a name outside the SANs");
    assert!(format!("{refused:?}").contains("NotValidForName"), "{refused:?}");
}
