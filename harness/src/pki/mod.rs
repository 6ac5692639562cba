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

pub use check::{CheckLine, check_dir};
pub use generate::{
    DEFAULT_SANS, ExistingCa, KeyAlgorithm, PkiOptions, TlsSet, generate, generate_at,
};
#[cfg(feature = "kube")]
pub use secret::{SECRET_ITEMS, to_secret};
pub use write::{FileSpec, WriteOptions, files, write_dir};
