//! The PKI against real parsers and a real TLS handshake: openssl, rustls, `check_dir`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use harness::pki::{self, ExistingCa, KeyAlgorithm, PkiOptions, TlsSet, WriteOptions};
use rcgen::{CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};
use rstest::rstest;
use tokio_rustls::rustls::{self, pki_types::pem::PemObject};

/// An empty folder of the test's own, removed when the test ends (also on a failure).
fn tempdir(name: &str) -> harness::sys::Scratch {
    let dir = harness::sys::Scratch::new(&format!("forgejo-e2e-test-{name}"));
    std::fs::create_dir_all(&*dir).expect("tempdir");
    dir
}

fn problems(dir: &Path) -> Vec<String> {
    pki::check_dir(dir).into_iter().filter(|l| !l.ok).map(|l| l.text).collect()
}

fn openssl_verify(dir: &Path, leaf: &str) -> std::process::Output {
    Command::new("openssl")
        .arg("verify")
        .arg("-CAfile")
        .arg(dir.join("ca/cert.pem"))
        .arg(dir.join(leaf))
        .output()
        .expect("openssl runs")
}

#[rstest]
#[case::ecdsa(KeyAlgorithm::EcdsaP256)]
#[case::rsa(KeyAlgorithm::Rsa2048)]
fn generated_set_is_valid_for_openssl_and_check(#[case] key: KeyAlgorithm) {
    let dir = tempdir(&format!("valid-{key:?}"));
    let opts = PkiOptions { key, extra_sans: vec!["10.1.2.3".into(), "dind.ci.svc".into()], ..Default::default() };
    let set = pki::generate(&opts).expect("generate");
    pki::write_dir(&dir, &set, WriteOptions::default()).expect("write");
    for leaf in ["server/cert.pem", "client/cert.pem"] {
        let out = openssl_verify(&dir, leaf);
        assert!(out.status.success(), "{leaf}: {}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(problems(&dir), Vec::<String>::new());
    let lines: Vec<String> = pki::check_dir(&dir).iter().map(|l| l.text.clone()).collect();
    assert!(
        lines.iter().any(|l| l.contains("SANs 127.0.0.1, ::1, localhost, docker, 10.1.2.3, dind.ci.svc")),
        "{lines:?}"
    );
    assert!(!dir.join("ca/key.pem").exists(), "the CA key never lands in the set");
    for key in ["server/key.pem", "client/key.pem"] {
        let mode = std::fs::metadata(dir.join(key)).expect("key").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{key}");
    }
}

#[test]
fn check_names_an_expired_certificate() {
    let dir = tempdir("expired");
    let ten_days_ago = time::OffsetDateTime::now_utc() - time::Duration::days(10);
    let set = pki::generate_at(&PkiOptions::default(), ten_days_ago).expect("generate");
    pki::write_dir(&dir, &set, WriteOptions::default()).expect("write");
    let found = problems(&dir);
    assert!(found.iter().any(|p| p.starts_with("server/cert.pem: expired on")), "{found:?}");
    assert!(found.iter().any(|p| p.starts_with("client/cert.pem: expired on")), "{found:?}");
}

/// A CA of the test's own, so it can also sign a deliberately wrong client certificate.
fn own_ca() -> (ExistingCa, KeyPair) {
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::default();
    params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).expect("ca");
    (ExistingCa { cert_pem: cert.pem(), key_pem: key.serialize_pem() }, key)
}

#[test]
fn existing_ca_signs_the_set_and_check_flags_a_client_cert_without_client_auth() {
    let dir = tempdir("existing-ca");
    let (ca, ca_key) = own_ca();
    let set = pki::generate(&PkiOptions { ca: Some(ca.clone()), ..Default::default() }).expect("generate");
    assert_eq!(set.ca_cert, ca.cert_pem, "the given CA is used as it is");
    pki::write_dir(&dir, &set, WriteOptions::default()).expect("write");
    assert_eq!(problems(&dir), Vec::<String>::new());

    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, &ca_key).expect("issuer");
    let mut params = CertificateParams::default();
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().expect("key");
    let wrong = params.signed_by(&key, &issuer).expect("sign");
    std::fs::write(dir.join("client/cert.pem"), wrong.pem()).expect("write");
    std::fs::write(dir.join("client/key.pem"), key.serialize_pem()).expect("write");
    let found = problems(&dir);
    assert_eq!(
        found,
        ["client/cert.pem: extendedKeyUsage lacks clientAuth; dockerd refuses it as a client certificate"]
    );
}

#[test]
fn check_flags_a_world_readable_key_and_a_ca_key_beside_the_set() {
    let dir = tempdir("modes");
    let set = pki::generate(&PkiOptions::default()).expect("generate");
    pki::write_dir(&dir, &set, WriteOptions::default()).expect("write");
    std::fs::set_permissions(dir.join("client/key.pem"), std::fs::Permissions::from_mode(0o644)).expect("chmod");
    std::fs::write(dir.join("ca/key.pem"), "x").expect("write");
    let found = problems(&dir);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].starts_with("ca/key.pem: the CA key sits beside the set"));
    assert!(found[1].starts_with("client/key.pem: mode 0644 lets other users read a private key"));
}

#[test]
fn debug_output_redacts_keys() {
    let set = pki::generate(&PkiOptions::default()).expect("generate");
    let shown = format!("{set:?}");
    assert!(!shown.contains("PRIVATE KEY") && shown.contains("redacted"), "{shown}");
}

// --- a real TLS handshake with client authentication (rustls on loopback) ---

fn server_config(set: &TlsSet) -> Arc<rustls::ServerConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls::pki_types::CertificateDer::from_pem_slice(set.ca_cert.as_bytes()).expect("ca")).expect("root");
    let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots)).build().expect("verifier");
    let cert = rustls::pki_types::CertificateDer::from_pem_slice(set.server_cert.as_bytes()).expect("cert");
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(set.server_key.as_bytes()).expect("key");
    Arc::new(
        rustls::ServerConfig::builder()
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![cert], key)
            .expect("server config"),
    )
}

fn client_config(set: &TlsSet, with_cert: bool) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls::pki_types::CertificateDer::from_pem_slice(set.ca_cert.as_bytes()).expect("ca")).expect("root");
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    Arc::new(if with_cert {
        let cert = rustls::pki_types::CertificateDer::from_pem_slice(set.client_cert.as_bytes()).expect("cert");
        let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(set.client_key.as_bytes()).expect("key");
        builder.with_client_auth_cert(vec![cert], key).expect("client auth")
    } else {
        builder.with_no_client_auth()
    })
}

/// Runs one handshake plus a one-byte echo; returns the server side's result.
async fn handshake(set: &TlsSet, with_cert: bool) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let acceptor = tokio_rustls::TlsAcceptor::from(server_config(set));
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.map_err(|e| e.to_string())?;
        let mut tls = acceptor.accept(tcp).await.map_err(|e| e.to_string())?;
        let mut byte = [0u8; 1];
        tls.read_exact(&mut byte).await.map_err(|e| e.to_string())?;
        tls.write_all(&byte).await.map_err(|e| e.to_string())
    });
    let connector = tokio_rustls::TlsConnector::from(client_config(set, with_cert));
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    if let Ok(mut tls) = connector.connect(name, tcp).await {
        let _ = tls.write_all(b"x").await;
        let mut byte = [0u8; 1];
        let _ = tls.read_exact(&mut byte).await;
    }
    tokio::time::timeout(Duration::from_secs(10), server).await.expect("server finishes").expect("join")
}

#[tokio::test]
async fn tls_handshake_with_client_authentication() {
    let set = pki::generate(&PkiOptions::default()).expect("generate");
    handshake(&set, true).await.expect("handshake with the client set succeeds");
    let refused = handshake(&set, false).await.expect_err("a client without a certificate is refused");
    assert!(refused.contains("peer sent no certificates"), "{refused}");
}
