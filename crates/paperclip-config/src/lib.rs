//! Paperclip's configuration, resolved once at the edge.
//!
//! Context: upstream reads its settings from three places (the instance's `config.json`, the
//! `.env` beside it, and process environment variables) with a fixed precedence. Users and
//! existing instance folders depend on those names, so we keep them.
//!
//! Design: [`Env`] is a snapshot of the environment (process variables plus non-overriding `.env`
//! files), [`ConfigFile`] is the parsed `config.json` (unknown keys preserved on write), and
//! [`Settings::resolve`] turns both into typed settings. Nothing below the binary reads
//! `std::env` itself, which keeps tests hermetic and errors pointed at the offending key.
//!
//! Invariant: an invalid value never falls back silently to a default; it stops startup with a
//! [`ConfigError`] naming the variable or config key.

mod env;
mod error;
mod file;
mod paths;
mod server;
mod settings;
mod storage;

pub use env::Env;
pub use error::ConfigError;
pub use file::ConfigFile;
pub use paths::InstancePaths;
pub use server::{AuthSettings, ServerSettings};
pub use settings::{
    BackupSettings, DatabaseTarget, EmbeddedSettings, EnvKey, MigrationPolicy, PoolSettings,
    SecretsSettings, Settings, SECRET_PROVIDERS,
};
pub use storage::{StorageProvider, StorageSettings, DEFAULT_ATTACHMENT_MAX_BYTES};

/// `Result` with this crate's error.
pub type Result<T, E = ConfigError> = std::result::Result<T, E>;
