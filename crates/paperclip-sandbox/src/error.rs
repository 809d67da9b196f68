use std::path::PathBuf;

/// Why a process could not be confined.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error(
        "the OS account {name} does not exist; create it (useradd --system {name}) or name another"
    )]
    NoAccount { name: String },
    #[error("the OS account {name} is root; confined processes must run unprivileged")]
    RootAccount { name: String },
    #[error("cannot create the OS account {name}: {detail}")]
    CreateAccount { name: String, detail: String },
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot build the Landlock ruleset: {0}")]
    Landlock(String),
}

impl SandboxError {
    pub(crate) fn io<'a>(
        action: &'static str,
        path: &'a std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> Self + 'a {
        move |source| Self::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

pub type Result<T, E = SandboxError> = std::result::Result<T, E>;
