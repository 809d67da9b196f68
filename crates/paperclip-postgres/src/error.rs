use std::path::PathBuf;

/// Everything that can go wrong in the PostgreSQL layer (cluster, pool, migrations). Messages say what happened and what to
/// do about it, because they are shown to users as they are.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(
        "PostgreSQL server binaries (initdb, postgres) were not found; searched: {searched}.\n\
         Install them, either:\n  \
         - with this system's package manager: {system_hint}\n  \
         - or as Paperclip's own copy (PostgreSQL 17, no root needed): paperclipai postgres install\n\
         Or set PAPERCLIP_PG_BIN_DIR to the folder holding initdb and postgres, or set DATABASE_URL to use an external PostgreSQL."
    )]
    BinariesNotFound {
        searched: String,
        system_hint: String,
    },

    #[error("PostgreSQL {version} in {dir} is too old: Paperclip needs PostgreSQL 15 or newer")]
    BinariesTooOld { dir: PathBuf, version: String },

    #[error(
        "the data directory {data_dir} was created by PostgreSQL {data_major}, but the binaries in {bin_dir} are PostgreSQL {bin_major}.\n\
         Point PAPERCLIP_PG_BIN_DIR at PostgreSQL {data_major} binaries (e.g. /usr/lib/postgresql/{data_major}/bin); the data was not touched"
    )]
    VersionMismatch {
        data_dir: PathBuf,
        data_major: u32,
        bin_dir: PathBuf,
        bin_major: u32,
    },

    #[error(
        "{path} is not empty and is not a PostgreSQL data directory; Paperclip will not initialize a cluster over existing files.\n\
         Move its contents away, or set database.embeddedPostgresDataDir to an empty folder"
    )]
    ForeignDataDir { path: PathBuf },

    #[error(
        "running as root, but the OS user {user:?} that should run PostgreSQL does not exist (PostgreSQL refuses to run as root).\n\
         Create it (`useradd --system --home-dir /nonexistent {user}`) or set PAPERCLIP_EMBEDDED_POSTGRES_OS_USER to an existing unprivileged user"
    )]
    NoServiceUser { user: String },

    /// A database URL that cannot be used.
    #[error("invalid database URL: {0}")]
    BadUrl(String),

    /// The database is known to be down (fail fast, HTTP 503).
    #[error("{0}")]
    Unavailable(String),

    /// A client tool (`pg_dump`, `pg_restore`, `psql`) able to talk to the server is missing.
    #[error(
        "{tool} for PostgreSQL {major} or newer was not found; searched: {searched}.\n\
             Install the client tools: {hint}"
    )]
    ClientToolNotFound {
        tool: String,
        major: u32,
        searched: String,
        hint: String,
    },

    /// `db vacuum` / `db analyze` could not run.
    #[error("{0}")]
    Maintenance(String),

    /// `postgres install` could not fetch, verify or unpack a build.
    #[error("{0}")]
    Provision(String),

    #[error(transparent)]
    Sandbox(#[from] paperclip_sandbox::SandboxError),

    #[error("instance {path} is already in use by another Paperclip process{pid}; stop it first", pid = .pid.map(|p| format!(" (PID {p})")).unwrap_or_default())]
    InstanceLocked { path: PathBuf, pid: Option<u32> },

    #[error("refusing to start PostgreSQL on {data_dir}: {reason}")]
    Unsafe { data_dir: PathBuf, reason: String },

    #[error("{what} failed{detail}", detail = format_log(.log))]
    Process { what: String, log: String },

    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("{context}: {source}")]
    Sql {
        context: String,
        source: sqlx::Error,
    },

    #[error(
        "migration {name} was changed after it was applied (recorded checksum {recorded}, this build has {expected}).\n\
         Applied migrations are immutable; restore the original file or use the Paperclip version that applied it"
    )]
    ChecksumMismatch {
        name: String,
        recorded: String,
        expected: String,
    },

    #[error(
        "the database has migrations this Paperclip does not know ({names}); it was upgraded by a newer Paperclip.\n\
         Run that newer version (downgrading the schema is not supported)"
    )]
    NewerSchema { names: String },

    #[error(
        "the database has {tables} table(s) but no Paperclip migration ledger; automatic migration is unsafe.\n\
         Point DATABASE_URL at an empty database (or a Paperclip database)"
    )]
    NoLedger { tables: i64 },

    #[error(
        "{label} has pending migrations ({pending}). Refusing to start against a stale schema.\n\
         Run `paperclipai db migrate` or set PAPERCLIP_MIGRATION_AUTO_APPLY=true"
    )]
    PendingMigrations { label: String, pending: String },

    #[error("timed out after {seconds}s waiting for another process to finish migrating (advisory lock held)")]
    MigrationLockTimeout { seconds: u64 },
}

fn format_log(log: &str) -> String {
    if log.trim().is_empty() {
        String::new()
    } else {
        format!(":\n{}", log.trim_end())
    }
}

impl DbError {
    /// Wraps a sqlx error with what we were doing.
    pub fn sql(context: impl Into<String>) -> impl FnOnce(sqlx::Error) -> Self {
        let context = context.into();
        move |source| Self::Sql { context, source }
    }

    /// Wraps an I/O error with the action and path.
    pub fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io {
            action,
            path,
            source,
        }
    }
}
