//! `certs --check`: is a directory a usable DIND TLS set? One line per finding.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use x509_parser::extensions::GeneralName;
use x509_parser::pem::parse_x509_pem;
use x509_parser::prelude::X509Certificate;

/// One finding of a check. `ok == false` is a problem the user has to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckLine {
    pub ok: bool,
    pub text: String,
}

impl std::fmt::Display for CheckLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:<8} {}", if self.ok { "ok" } else { "problem" }, self.text)
    }
}

struct Lines(Vec<CheckLine>);

impl Lines {
    fn ok(&mut self, text: impl Into<String>) {
        self.0.push(CheckLine { ok: true, text: text.into() });
    }
    fn problem(&mut self, text: impl Into<String>) {
        self.0.push(CheckLine { ok: false, text: text.into() });
    }
}

/// Checks chain, validity window, SANs, EKUs, key pairs and file modes of a set in `dir`.
pub fn check_dir(dir: &Path) -> Vec<CheckLine> {
    let mut out = Lines(Vec::new());
    if dir.join("ca/key.pem").exists() {
        out.problem(
            "ca/key.pem: the CA key sits beside the set; docker:dind then regenerates the leaf \
             certificates on start and any container mounting the set can mint certificates; \
             move it elsewhere",
        );
    }
    let Some(ca_pem) = read(&mut out, dir, "ca/cert.pem") else {
        return out.0;
    };
    let Some(ca_der) = pem_der(&mut out, "ca/cert.pem", &ca_pem) else {
        return out.0;
    };
    let Some(ca) = parse(&mut out, "ca/cert.pem", &ca_der) else {
        return out.0;
    };
    validity(&mut out, "ca/cert.pem", &ca);
    if !ca.is_ca() {
        out.problem("ca/cert.pem: not a CA certificate (basicConstraints CA:FALSE)");
    }
    for (role, eku_name) in [("server", "serverAuth"), ("client", "clientAuth")] {
        let ca_copy = format!("{role}/ca.pem");
        match std::fs::read_to_string(dir.join(&ca_copy)) {
            Ok(text) if text.trim() == ca_pem.trim() => out.ok(format!("{ca_copy}: same CA as ca/cert.pem")),
            Ok(_) => out.problem(format!("{ca_copy}: differs from ca/cert.pem; copy ca/cert.pem there")),
            Err(e) => out.problem(format!("{ca_copy}: {e}")),
        }
        let cert_name = format!("{role}/cert.pem");
        let Some(pem) = read(&mut out, dir, &cert_name) else {
            continue;
        };
        let Some(der) = pem_der(&mut out, &cert_name, &pem) else {
            continue;
        };
        let Some(cert) = parse(&mut out, &cert_name, &der) else {
            continue;
        };
        match cert.verify_signature(Some(ca.public_key())) {
            Ok(()) => out.ok(format!("{cert_name}: signed by ca/cert.pem")),
            Err(_) => out.problem(format!("{cert_name}: not signed by ca/cert.pem; regenerate the set")),
        }
        validity(&mut out, &cert_name, &cert);
        eku(&mut out, &cert_name, &cert, role == "server", eku_name);
        if role == "server" {
            sans(&mut out, &cert_name, &cert);
        }
        key_matches(&mut out, dir, role, &cert);
    }
    out.0
}

/// A certificate's notAfter in RFC 3339, UTC, to the second: as Go's TLS client names it
/// when it refuses the certificate as expired.
pub fn not_after(pem: &str) -> Option<String> {
    let (_, pem) = parse_x509_pem(pem.as_bytes()).ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(&pem.contents).ok()?;
    let t = time::OffsetDateTime::from_unix_timestamp(cert.validity().not_after.timestamp()).ok()?;
    Some(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    ))
}

fn read(out: &mut Lines, dir: &Path, name: &str) -> Option<String> {
    match std::fs::read_to_string(dir.join(name)) {
        Ok(text) => Some(text),
        Err(e) => {
            out.problem(format!("{name}: cannot read ({e}); make a set with cargo xtask certs --out DIR"));
            None
        }
    }
}

fn pem_der(out: &mut Lines, name: &str, text: &str) -> Option<Vec<u8>> {
    match parse_x509_pem(text.as_bytes()) {
        Ok((_, pem)) => Some(pem.contents),
        Err(e) => {
            out.problem(format!("{name}: not a PEM certificate ({e})"));
            None
        }
    }
}

fn parse<'a>(out: &mut Lines, name: &str, der: &'a [u8]) -> Option<X509Certificate<'a>> {
    match x509_parser::parse_x509_certificate(der) {
        Ok((_, cert)) => Some(cert),
        Err(e) => {
            out.problem(format!("{name}: not an X.509 certificate ({e})"));
            None
        }
    }
}

fn validity(out: &mut Lines, name: &str, cert: &X509Certificate<'_>) {
    let v = cert.validity();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let (from, until) = (v.not_before.timestamp(), v.not_after.timestamp());
    if now > until {
        out.problem(format!("{name}: expired on {}; make a new set", v.not_after));
    } else if now < from {
        out.problem(format!("{name}: not valid before {}; check the clock", v.not_before));
    } else {
        out.ok(format!("{name}: valid until {} ({} days left)", v.not_after, (until - now) / 86_400));
    }
}

fn eku(out: &mut Lines, name: &str, cert: &X509Certificate<'_>, server: bool, want: &str) {
    let Ok(Some(ext)) = cert.extended_key_usage() else {
        out.problem(format!("{name}: no extendedKeyUsage; it needs {want}"));
        return;
    };
    let has = if server { ext.value.server_auth } else { ext.value.client_auth };
    if has {
        out.ok(format!("{name}: extendedKeyUsage {want}"));
    } else {
        out.problem(format!(
            "{name}: extendedKeyUsage lacks {want}; dockerd refuses it as a {} certificate",
            if server { "server" } else { "client" }
        ));
    }
}

fn sans(out: &mut Lines, name: &str, cert: &X509Certificate<'_>) {
    let names: Vec<String> = match cert.subject_alternative_name() {
        Ok(Some(ext)) => ext
            .value
            .general_names
            .iter()
            .map(|g| match g {
                GeneralName::DNSName(d) => d.to_string(),
                GeneralName::IPAddress(b) => ip_text(b),
                other => format!("{other:?}"),
            })
            .collect(),
        _ => Vec::new(),
    };
    if names.iter().any(|n| n == "127.0.0.1") {
        out.ok(format!("{name}: SANs {}", names.join(", ")));
    } else {
        out.problem(format!(
            "{name}: SANs [{}] lack 127.0.0.1, the address DOCKER_HOST uses in the pod",
            names.join(", ")
        ));
    }
}

fn ip_text(bytes: &[u8]) -> String {
    match bytes.len() {
        4 => std::net::Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).to_string(),
        16 => {
            let arr: [u8; 16] = bytes.try_into().unwrap_or([0; 16]);
            std::net::Ipv6Addr::from(arr).to_string()
        }
        _ => format!("{bytes:?}"),
    }
}

fn key_matches(out: &mut Lines, dir: &Path, role: &str, cert: &X509Certificate<'_>) {
    let name = format!("{role}/key.pem");
    let path = dir.join(&name);
    let Some(text) = read(out, dir, &name) else {
        return;
    };
    match rcgen::KeyPair::from_pem(&text) {
        Ok(key) if key.public_key_raw() == cert.public_key().subject_public_key.data.as_ref() => {
            out.ok(format!("{name}: matches {role}/cert.pem"))
        }
        Ok(_) => out.problem(format!("{name}: does not belong to {role}/cert.pem")),
        Err(e) => out.problem(format!("{name}: not a private key ({e})")),
    }
    if let Ok(meta) = std::fs::metadata(&path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 == 0 {
            out.ok(format!("{name}: mode {mode:04o}"));
        } else {
            out.problem(format!(
                "{name}: mode {mode:04o} lets other users read a private key; chmod 600 {}",
                path.display()
            ));
        }
    }
}
