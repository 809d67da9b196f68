use paperclip_postgres::DbError;
use paperclip_store::StoreError;

/// What can go wrong in the engine besides a run's own failure (which is its outcome).
#[derive(Debug, thiserror::Error)]
pub enum RunsError {
    /// A store call failed.
    #[error(transparent)]
    Store(#[from] StoreError),

    /// The database layer failed (connect, pool).
    #[error(transparent)]
    Db(#[from] DbError),

    /// A run log could not be written or read.
    #[error("run log: {0}")]
    Io(#[from] std::io::Error),
}

/// `Result` with this crate's error.
pub type Result<T, E = RunsError> = std::result::Result<T, E>;
