use std::path::PathBuf;

/// Everything that can go wrong with secrets. No variant ever carries a secret value.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("Invalid PAPERCLIP_SECRETS_MASTER_KEY (expected 32-byte base64, 64-char hex, or raw 32-char string)")]
    InvalidEnvKey,

    #[error("Invalid secrets master key at {0} (expected 32-byte base64, 64-char hex, or raw 32-char string)")]
    InvalidKeyFile(PathBuf),

    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("Invalid local_encrypted secret material")]
    InvalidMaterial,

    #[error(
        "Secret decryption failed (master key fingerprint: {fingerprint}). This usually means the master key does not match the key used to encrypt the secret"
    )]
    Decrypt { fingerprint: String },

    #[error("{0}")]
    Binding(String),
}
