use std::path::PathBuf;

/// Everything that can be wrong with the configuration. Each variant names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// An environment variable holds a value we cannot use.
    #[error("{var} {expected}, got: {value:?}")]
    InvalidEnv {
        var: &'static str,
        expected: &'static str,
        value: String,
    },
    /// `local_trusted` mode asked to listen beyond loopback: it has no login.
    #[error(
        "local_trusted mode has no login, so it only listens on loopback, but HOST (the bind address) is {host}.\n\
         To serve other machines, use authenticated mode: PAPERCLIP_DEPLOYMENT_MODE=authenticated \
         (then `paperclipai auth bootstrap-ceo` for the first admin). Or bind 127.0.0.1."
    )]
    LocalTrustedExposed { host: String },
    /// A key of `config.json` holds a value we cannot use.
    #[error("Invalid Paperclip config at {path}: {key} {message}")]
    InvalidKey {
        path: PathBuf,
        key: String,
        message: String,
    },
    /// `config.json` is not valid JSON.
    #[error("Invalid Paperclip config at {path}: {message}")]
    Parse { path: PathBuf, message: String },
    /// Reading or writing a file failed.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// The home directory could not be determined.
    #[error("cannot find the home directory: set PAPERCLIP_HOME or HOME")]
    NoHome,
}
