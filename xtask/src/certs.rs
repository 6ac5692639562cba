//! `cargo xtask certs --out DIR ... | --check DIR`

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use harness::pki::{self, ExistingCa, KeyAlgorithm, PkiOptions, WriteOptions};
use harness::user_error;

use crate::args::{Arg, Args, unexpected};

pub const HELP: &str = "\
cargo xtask certs --out DIR [--san NAME_OR_IP]... [--days N] [--key ecdsa|rsa]
                  [--ca-cert FILE --ca-key FILE] [--force]
cargo xtask certs --check DIR

Makes a TLS set for the DIND socket in docker:dind's layout (ca/cert.pem,
server/{ca,cert,key}.pem, client/{ca,cert,key}.pem) with rcgen. Server SANs are
127.0.0.1, ::1, localhost and docker plus every --san. The CA key is never written into
the set. --check reports chain, expiry, SANs, EKUs, key pairs and file modes, and exits 1
if anything is wrong.
";

pub fn run(mut args: Args) -> Result<ExitCode> {
    let (mut out, mut check, mut force) = (None, None, false);
    let mut opts = PkiOptions::default();
    let (mut ca_cert, mut ca_key) = (None, None);
    while let Some(arg) = args.next()? {
        match arg {
            Arg::Long("out") => out = Some(PathBuf::from(args.value("--out")?)),
            Arg::Long("check") => check = Some(PathBuf::from(args.value("--check")?)),
            Arg::Long("san") => opts.extra_sans.push(args.value("--san")?),
            Arg::Long("days") => {
                let text = args.value("--days")?;
                let days: u64 = text
                    .parse()
                    .ok()
                    .filter(|d| (1..=3650).contains(d))
                    .ok_or_else(|| user_error!("--days takes a whole number from 1 to 3650, not `{text}`"))?;
                opts.validity = Duration::from_secs(days * 86_400);
            }
            Arg::Long("key") => {
                opts.key = match args.value("--key")?.as_str() {
                    "ecdsa" => KeyAlgorithm::EcdsaP256,
                    "rsa" => KeyAlgorithm::Rsa2048,
                    other => return Err(user_error!("--key is `ecdsa` or `rsa`, not `{other}`")),
                }
            }
            Arg::Long("ca-cert") => ca_cert = Some(PathBuf::from(args.value("--ca-cert")?)),
            Arg::Long("ca-key") => ca_key = Some(PathBuf::from(args.value("--ca-key")?)),
            Arg::Long("force") => force = true,
            Arg::Long("help") | Arg::Short('h') => {
                print!("{HELP}");
                return Ok(ExitCode::SUCCESS);
            }
            other => return Err(unexpected("certs", other)),
        }
    }
    match (out, check) {
        (Some(_), Some(_)) => Err(user_error!("--out and --check do not go together: make a set, or check one")),
        (None, None) => {
            Err(user_error!("say --out DIR to make a set or --check DIR to check one; see cargo xtask certs --help"))
        }
        (None, Some(dir)) => {
            let lines = pki::check_dir(&dir);
            for line in &lines {
                println!("{line}");
            }
            let problems = lines.iter().filter(|l| !l.ok).count();
            println!("{} checks, {problems} problems", lines.len());
            Ok(if problems == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        (Some(dir), None) => {
            opts.ca = match (ca_cert, ca_key) {
                (Some(cert), Some(key)) => Some(ExistingCa { cert_pem: read(&cert)?, key_pem: read(&key)? }),
                (None, None) => None,
                _ => {
                    return Err(user_error!(
                        "--ca-cert and --ca-key go together: give both, or neither to generate a CA"
                    ));
                }
            };
            let occupied = std::fs::read_dir(&dir).map(|mut d| d.next().is_some()).unwrap_or(false);
            if occupied && !force {
                return Err(user_error!(
                    "{} already holds files; choose an empty directory or pass --force to overwrite the set's files",
                    dir.display()
                ));
            }
            let set = pki::generate(&opts)?;
            pki::write_dir(&dir, &set, WriteOptions::default())?;
            println!(
                "wrote a TLS set to {} (CA {}; keys 0600)",
                dir.display(),
                if opts.ca.is_some() { "given" } else { "generated, key discarded" }
            );
            println!(
                "use it: DOCKER_HOST=tcp://127.0.0.1:2376 DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH={}/client",
                dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn read(path: &PathBuf) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| user_error!("cannot read {}: {e}", path.display())).context("read CA")
}
