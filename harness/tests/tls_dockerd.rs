//! A real dockerd with `--tlsverify` on loopback, serving an rcgen-made set: bollard and
//! the docker CLI get in with the client set; every other client is refused, each for its
//! own reason, asserted on both the client's error and the daemon's log.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bollard::Docker;
use harness::pki::{self, PkiOptions, WriteOptions};
use harness::wait::{self, Poll};

/// A dockerd of the test's own: TCP only, no bridge or iptables, its own data root.
struct HostDockerd {
    child: Child,
    dir: PathBuf,
    port: u16,
    alt_port: u16,
}

impl HostDockerd {
    fn start(dir: &Path, certs: &Path) -> HostDockerd {
        let free = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .expect("port")
        };
        let (port, alt_port) = (free(), free());
        let log = std::fs::File::create(dir.join("dockerd.log")).expect("log");
        let child = Command::new("dockerd")
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("dockerd.pid"))
            .args(["--bridge=none", "--iptables=false", "--ip-masq=false"])
            .arg(format!("--host=tcp://127.0.0.1:{port}"))
            // A second listener on an address that is not among the server's SANs.
            .arg(format!("--host=tcp://127.0.0.2:{alt_port}"))
            .arg("--tlsverify")
            .arg("--tlscacert")
            .arg(certs.join("server/ca.pem"))
            .arg("--tlscert")
            .arg(certs.join("server/cert.pem"))
            .arg("--tlskey")
            .arg(certs.join("server/key.pem"))
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("dockerd starts (run as root with docker.io installed)");
        HostDockerd {
            child,
            dir: dir.to_owned(),
            port,
            alt_port,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default()
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

impl Drop for HostDockerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// bollard over TLS trusting `ca`, presenting `client/{cert,key}.pem`.
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
    cmd.arg("-H")
        .arg(host)
        .arg("--tlsverify")
        .arg("--tlscacert")
        .arg(ca);
    if let Some(dir) = cert_key {
        cmd.arg("--tlscert")
            .arg(dir.join("cert.pem"))
            .arg("--tlskey")
            .arg(dir.join("key.pem"));
    }
    let out = cmd
        .args(["version", "--format", "{{.Server.Version}}"])
        .stdin(Stdio::null())
        .output()
        .expect("docker CLI");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
#[ignore = "needs root and Debian's docker.io (dockerd, docker); cargo xtask ci runs it"]
async fn dockerd_accepts_the_client_set_and_refuses_everything_else() {
    let dir = std::env::temp_dir().join(format!("forgejo-e2e-tls-dockerd-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (certs, other) = (dir.join("certs"), dir.join("other"));
    pki::write_dir(
        &certs,
        &pki::generate(&PkiOptions::default()).expect("set"),
        WriteOptions::default(),
    )
    .expect("write");
    pki::write_dir(
        &other,
        &pki::generate(&PkiOptions::default()).expect("other set"),
        WriteOptions::default(),
    )
    .expect("write");
    let daemon = HostDockerd::start(&dir, &certs);
    let addr = format!("tcp://127.0.0.1:{}", daemon.port);

    // Accepted: bollard over TLS with the client set (waited for by condition).
    let version = wait::until(
        "dockerd over TLS",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || async {
            Ok(
                match bollard_tls(&addr, &certs.join("client/ca.pem"), &certs.join("client"))
                    .version()
                    .await
                {
                    Ok(v) => Poll::Ready(v.version.unwrap_or_default()),
                    Err(e) => Poll::NotYet(e.to_string()),
                },
            )
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}\n{}", daemon.log()));
    assert!(!version.is_empty());

    // Accepted: the docker CLI with --tlsverify and the client set.
    let (ok, err) = cli(
        &addr,
        &certs.join("client/ca.pem"),
        Some(&certs.join("client")),
    );
    assert!(ok, "docker --tlsverify with the client set: {err}");

    // Refused: no client certificate.
    let (ok, err) = cli(&addr, &certs.join("client/ca.pem"), None);
    assert!(!ok && err.contains("tls: bad certificate"), "{err}");
    daemon
        .log_shows("tls: client didn't provide a certificate")
        .await;

    // Refused: a client certificate from another CA.
    let (ok, err) = cli(
        &addr,
        &certs.join("client/ca.pem"),
        Some(&other.join("client")),
    );
    assert!(!ok && err.contains("tls: bad certificate"), "{err}");
    daemon
        .log_shows(
            "failed to verify client certificate: x509: certificate signed by unknown authority",
        )
        .await;
    let refused = bollard_tls(&addr, &certs.join("client/ca.pem"), &other.join("client"))
        .version()
        .await
        .expect_err("bollard with a foreign client cert");
    assert!(
        format!("{refused:?}").contains("BadCertificate")
            || refused.to_string().contains("bad certificate"),
        "{refused:?}"
    );

    // Refused: plain HTTP to the TLS port.
    let plain =
        Docker::connect_with_http(&addr, 10, bollard::API_DEFAULT_VERSION).expect("http client");
    let refused = plain.version().await.expect_err("plain HTTP is refused");
    assert!(
        refused
            .to_string()
            .contains("Client sent an HTTP request to an HTTPS server"),
        "{refused}"
    );

    // Refused: a server name that is not among the SANs (127.0.0.2 is loopback, not a SAN).
    let alt = format!("tcp://127.0.0.2:{}", daemon.alt_port);
    let (ok, err) = cli(
        &alt,
        &certs.join("client/ca.pem"),
        Some(&certs.join("client")),
    );
    assert!(
        !ok && err.contains("x509: certificate is valid for 127.0.0.1, ::1, not 127.0.0.2"),
        "{err}"
    );
    let refused = bollard_tls(&alt, &certs.join("client/ca.pem"), &certs.join("client"))
        .version()
        .await
        .expect_err("bollard to a name outside the SANs");
    assert!(
        format!("{refused:?}").contains("NotValidForName"),
        "{refused:?}"
    );
}
