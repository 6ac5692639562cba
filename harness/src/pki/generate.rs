//! Making a CA, a server and a client certificate with rcgen.

use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SanType,
};
use time::OffsetDateTime;

/// SANs every server certificate carries: how the runner and jobs address DIND in a pod.
pub const DEFAULT_SANS: [&str; 4] = ["127.0.0.1", "::1", "localhost", "docker"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyAlgorithm {
    #[default]
    EcdsaP256,
    /// RSA 2048; ring cannot generate RSA keys, so `openssl genpkey` makes them.
    Rsa2048,
}

/// A CA a team already has, used instead of a generated one.
#[derive(Debug, Clone)]
pub struct ExistingCa {
    pub cert_pem: String,
    pub key_pem: String,
}

#[derive(Debug, Clone)]
pub struct PkiOptions {
    /// Added to [`DEFAULT_SANS`]: pod IP, service DNS name, ...
    pub extra_sans: Vec<String>,
    pub validity: Duration,
    pub key: KeyAlgorithm,
    pub ca: Option<ExistingCa>,
}

impl Default for PkiOptions {
    fn default() -> Self {
        // Short on purpose: a test PKI that leaks is worthless within days.
        let validity = Duration::from_secs(2 * 24 * 3600);
        Self { extra_sans: Vec::new(), validity, key: KeyAlgorithm::default(), ca: None }
    }
}

/// A complete certificate set, PEM encoded.
#[derive(Clone)]
pub struct TlsSet {
    pub ca_cert: String,
    pub server_cert: String,
    pub server_key: String,
    pub client_cert: String,
    pub client_key: String,
}

impl std::fmt::Debug for TlsSet {
    // Keys stay out of logs and reports.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSet").field("keys", &"<redacted>").finish_non_exhaustive()
    }
}

/// Generates a set: a fresh CA (or `opts.ca`), a server and a client certificate.
pub fn generate(opts: &PkiOptions) -> Result<TlsSet> {
    generate_at(opts, OffsetDateTime::now_utc())
}

/// [`generate`] as if the clock said `now`: how tests make expired or future sets.
pub fn generate_at(opts: &PkiOptions, now: OffsetDateTime) -> Result<TlsSet> {
    // Five minutes back: a container's clock may lag the host's a little.
    let not_before = now - time::Duration::minutes(5);
    let not_after = now + time::Duration::try_from(opts.validity).context("validity too long")?;

    let (ca_cert, ca_key) = match &opts.ca {
        Some(ca) => (ca.cert_pem.clone(), KeyPair::from_pem(&ca.key_pem).context("read CA key")?),
        None => {
            let key = new_key(opts.key)?;
            let mut params = CertificateParams::default();
            params.distinguished_name.push(DnType::CommonName, "forgejo-e2e DIND CA");
            params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            (params.not_before, params.not_after) = (not_before, not_after);
            (params.self_signed(&key).context("self-sign CA")?.pem(), key)
        }
    };
    let issuer = Issuer::from_ca_cert_pem(&ca_cert, &ca_key).context("use CA certificate")?;

    let mut sans: Vec<String> = DEFAULT_SANS.iter().map(|s| s.to_string()).collect();
    for san in &opts.extra_sans {
        if !sans.contains(san) {
            sans.push(san.clone());
        }
    }
    let mut server = leaf("docker-dind", ExtendedKeyUsagePurpose::ServerAuth, opts.key);
    server.subject_alt_names = sans.iter().map(|s| san(s)).collect::<Result<_>>()?;
    (server.not_before, server.not_after) = (not_before, not_after);
    let server_key = new_key(opts.key)?;
    let server_cert = server.signed_by(&server_key, &issuer).context("sign server cert")?;

    let mut client = leaf("client", ExtendedKeyUsagePurpose::ClientAuth, opts.key);
    (client.not_before, client.not_after) = (not_before, not_after);
    let client_key = new_key(opts.key)?;
    let client_cert = client.signed_by(&client_key, &issuer).context("sign client cert")?;

    Ok(TlsSet {
        ca_cert,
        server_cert: server_cert.pem(),
        server_key: server_key.serialize_pem(),
        client_cert: client_cert.pem(),
        client_key: client_key.serialize_pem(),
    })
}

fn leaf(cn: &str, eku: ExtendedKeyUsagePurpose, alg: KeyAlgorithm) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.extended_key_usages = vec![eku];
    params.use_authority_key_identifier_extension = true;
    // keyEncipherment is an RSA key-exchange usage; an ECDSA key only signs.
    params.key_usages = match alg {
        KeyAlgorithm::EcdsaP256 => vec![KeyUsagePurpose::DigitalSignature],
        KeyAlgorithm::Rsa2048 => {
            vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment]
        }
    };
    params
}

fn san(name: &str) -> Result<SanType> {
    Ok(match name.parse::<IpAddr>() {
        Ok(ip) => SanType::IpAddress(ip),
        Err(_) => SanType::DnsName(name.to_owned().try_into().with_context(|| format!("invalid SAN {name:?}"))?),
    })
}

fn new_key(alg: KeyAlgorithm) -> Result<KeyPair> {
    match alg {
        KeyAlgorithm::EcdsaP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).context("generate ECDSA key"),
        KeyAlgorithm::Rsa2048 => {
            let out = std::process::Command::new("openssl")
                .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"])
                .output()
                .context("RSA keys need the openssl command: apt-get install openssl")?;
            if !out.status.success() {
                bail!("openssl genpkey failed: {}", String::from_utf8_lossy(&out.stderr).trim());
            }
            let pem = String::from_utf8(out.stdout).context("openssl output")?;
            KeyPair::from_pem_and_sign_algo(&pem, &rcgen::PKCS_RSA_SHA256).context("read RSA key")
        }
    }
}
