//! The TLS PKI for the DIND socket, in docker:dind's `DOCKER_TLS_CERTDIR` layout:
//! `ca/cert.pem`, `server/{ca,cert,key}.pem`, `client/{ca,cert,key}.pem`.
//!
//! No `ca/key.pem` is ever written into a set: with it present docker:dind regenerates the
//! leaf certificates on start, and the CA key must not reach runner or job containers.

mod check;
mod generate;
#[cfg(feature = "kube")]
mod secret;
mod write;

pub use check::{CheckLine, check_dir, not_after};
pub use generate::{DEFAULT_SANS, ExistingCa, KeyAlgorithm, PkiOptions, TlsSet, generate, generate_at};
#[cfg(feature = "kube")]
pub use secret::to_secret;

/// Secret keys (no `/` allowed in them) and the path each takes in the set's layout.
pub const SECRET_ITEMS_PATHS: [(&str, &str); 7] = [
    ("ca-cert.pem", "ca/cert.pem"),
    ("server-ca.pem", "server/ca.pem"),
    ("server-cert.pem", "server/cert.pem"),
    ("server-key.pem", "server/key.pem"),
    ("client-ca.pem", "client/ca.pem"),
    ("client-cert.pem", "client/cert.pem"),
    ("client-key.pem", "client/key.pem"),
];
pub use write::{FileSpec, WriteOptions, files, secret_data, write_dir};
