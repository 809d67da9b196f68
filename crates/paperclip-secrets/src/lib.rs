//! Company secrets.
//!
//! Context: agents need credentials (API keys, tokens) in their environment. Upstream stores
//! them encrypted with a local master key (`local_encrypted`), refers to them from env maps with
//! `{"type":"secret_ref"}` bindings, and can refuse inline credentials (strict mode).
//!
//! Design: this crate has no I/O but the key file. [`MasterKey`] finds, decodes, creates and
//! fingerprints the key; [`cipher`] reads and writes upstream's `local_encrypted_v1` material
//! byte-for-byte, so existing upstream rows and key files keep working; [`env`] validates and
//! normalizes env bindings. The database rows live in `paperclip_store::secrets`.
//!
//! Invariants: key bytes and decrypted values live in zeroizing buffers and are never printed;
//! an error message never contains a secret value.

pub mod cipher;
pub mod env;
mod error;
mod key;
pub mod webhook;

pub use error::SecretsError;
pub use key::{KeySource, MasterKey};

/// `Result` with this crate's error.
pub type Result<T, E = SecretsError> = std::result::Result<T, E>;

/// Providers upstream knows; only `local_encrypted` is available in this build.
pub const PROVIDERS: &[&str] = &[
    "local_encrypted",
    "aws_secrets_manager",
    "gcp_secret_manager",
    "vault",
];

/// A server's secrets configuration: the verified key and the policy.
#[derive(Debug)]
pub struct SecretsState {
    /// The `local_encrypted` master key, verified against the database at startup.
    pub key: MasterKey,
    /// Strict mode: no new inline values for sensitive env keys.
    pub strict: bool,
}
