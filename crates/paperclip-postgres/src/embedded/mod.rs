//! The embedded ("zero-config") PostgreSQL cluster.
//!
//! Lifecycle of [`EmbeddedPostgres::start`]:
//! 1. find binaries (≥ 15) and, when root, the unprivileged account to run them as;
//! 2. classify the data directory: empty → `initdb`; our interrupted `initdb` → redo; a
//!    cluster → check its major version; anything else → refuse;
//! 3. settle any previous postmaster: a live one of this directory (left by a crashed
//!    Paperclip) is stopped cleanly, a stale lock file naming an unrelated live PID is set
//!    aside, anything unexplained fails closed;
//! 4. start `postgres` on 127.0.0.1 only (no Unix socket), on the configured port or, when it is
//!    taken, another free one;
//! 5. wait until it accepts our credentials, then ensure the `paperclip` database (UTF8, C).
//!
//! The caller must hold the instance's [`crate::InstanceLock`]: it is what guarantees that no
//! other Paperclip process starts or stops this cluster meanwhile.

pub mod cluster;
pub mod os_user;
pub mod postmaster;
pub mod supervise;

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};

use self::cluster::{Credentials, DataDirState};
use self::os_user::RunAs;
use self::postmaster::Existing;
use crate::binaries::PgBinaries;
use crate::{DbError, Result};

/// Name of the application database inside the cluster.
pub const DATABASE: &str = "paperclip";

/// What [`EmbeddedPostgres::start`] needs to know.
#[derive(Debug, Clone)]
pub struct StartOptions {
    /// Data directory.
    pub data_dir: PathBuf,
    /// Preferred port.
    pub port: u16,
    /// Explicit binaries folder.
    pub bin_dir: Option<PathBuf>,
    /// Where `paperclipai postgres install` puts builds (`<PAPERCLIP_HOME>/postgres`).
    pub installed: Option<PathBuf>,
    /// OS account to run as when root.
    pub os_user: Option<String>,
    /// Where the generated credentials live (0600).
    pub credentials_file: PathBuf,
    /// PostgreSQL's log file.
    pub log_file: PathBuf,
}

impl StartOptions {
    /// Options for an instance, from its settings.
    pub fn for_instance(
        paths: &paperclip_config::InstancePaths,
        e: &paperclip_config::EmbeddedSettings,
    ) -> Self {
        Self {
            data_dir: e.data_dir.clone(),
            port: e.port,
            bin_dir: e.bin_dir.clone(),
            installed: Some(paths.postgres_dir()),
            os_user: e.os_user.clone(),
            credentials_file: paths.secrets_dir().join("embedded-postgres.json"),
            log_file: paths.logs_dir().join("postgres.log"),
        }
    }
}

/// A running embedded cluster. Dropping it stops PostgreSQL if this handle started it.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    child: Option<Child>,
    /// Postmaster PID.
    pub pid: i32,
    /// TCP port on 127.0.0.1.
    pub port: u16,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Binaries in use.
    pub bins: PgBinaries,
    /// `initdb` ran during this start.
    pub initialized_now: bool,
    /// The `paperclip` database was created during this start.
    pub database_created: bool,
    creds: Credentials,
}

impl EmbeddedPostgres {
    /// Starts (initializing if needed) the cluster. See the module docs for the steps.
    pub async fn start(opts: &StartOptions) -> Result<Self> {
        let bins = locate(opts)?;
        let run_as = os_user::resolve(opts.os_user.as_deref())?;
        let data_dir = &opts.data_dir;
        if let Some(parent) = data_dir.parent() {
            fs::create_dir_all(parent).map_err(DbError::io("cannot create", parent))?;
        }
        if let Some(r) = &run_as {
            // The binaries too: an installed build lives under the Paperclip home.
            let postgres = bins.tool("postgres");
            for dir in r
                .ensure_traversable(data_dir)?
                .into_iter()
                .chain(r.ensure_traversable(&postgres)?)
            {
                tracing::warn!(
                    "added the search (x) permission for others on {dir} so the {} account can reach the data directory and binaries",
                    r.name
                );
            }
        }

        let mut initialized_now = false;
        let creds = match cluster::classify(data_dir)? {
            DataDirState::Foreign => {
                return Err(DbError::ForeignDataDir {
                    path: data_dir.clone(),
                })
            }
            DataDirState::Cluster { major } => {
                if major != bins.major {
                    return Err(DbError::VersionMismatch {
                        data_dir: data_dir.clone(),
                        data_major: major,
                        bin_dir: bins.dir.clone(),
                        bin_major: bins.major,
                    });
                }
                existing_credentials(&opts.credentials_file)?
            }
            state @ (DataDirState::Empty | DataDirState::Incomplete) => {
                if state == DataDirState::Incomplete {
                    tracing::warn!(
                        "{} holds an initdb of ours that never finished; starting it over",
                        data_dir.display()
                    );
                    cluster::clear_incomplete(data_dir)?;
                }
                tracing::info!(
                    "Initializing PostgreSQL {} cluster in {} (initdb)…",
                    bins.version,
                    data_dir.display()
                );
                let creds = Credentials::generate();
                creds.save(&opts.credentials_file)?;
                cluster::initdb(&bins, data_dir, &creds, run_as.as_ref())?;
                initialized_now = true;
                creds
            }
        };
        if let Some(r) = &run_as {
            r.ensure_owner(data_dir)?;
        }

        settle_previous(data_dir, &creds).await?;

        let log = LogFile::open(&opts.log_file)?;
        let mut port = opts.port;
        let mut attempt = 0;
        let (child, port) = loop {
            attempt += 1;
            if !port_is_free(port) {
                let free = any_free_port()?;
                tracing::warn!(
                    "port {port} on 127.0.0.1 is in use; starting the embedded PostgreSQL on port {free} instead"
                );
                port = free;
            }
            let offset = log.len();
            let child = spawn_postgres(&bins, data_dir, port, &log, run_as.as_ref())?;
            match wait_ready(child, port, &creds, &log, offset).await {
                Ok(child) => break (child, port),
                Err(StartError::PortTaken) if attempt < 4 => {
                    port = any_free_port()?;
                    continue;
                }
                Err(StartError::PortTaken) => {
                    return Err(DbError::Process {
                        what: "starting PostgreSQL (no free port)".into(),
                        log: log.tail_from(offset),
                    })
                }
                Err(StartError::Failed(e)) => return Err(e),
            }
        };

        let mut pg = Self {
            pid: child.id() as i32,
            child: Some(child),
            port,
            data_dir: data_dir.clone(),
            bins,
            initialized_now,
            database_created: false,
            creds,
        };
        pg.database_created = pg.ensure_database().await?;
        Ok(pg)
    }

    /// Connects to the cluster a running Paperclip owns (for CLI commands run beside a
    /// server), after proving it serves this data directory.
    pub async fn attach(opts: &StartOptions) -> Result<Self> {
        let bins = locate(opts)?;
        let creds = existing_credentials(&opts.credentials_file)?;
        let Existing::Live {
            pid,
            port: Some(port),
        } = postmaster::inspect(&opts.data_dir)
        else {
            return Err(DbError::Unsafe {
                data_dir: opts.data_dir.clone(),
                reason: "another Paperclip owns this instance but its PostgreSQL is not running"
                    .into(),
            });
        };
        verify_identity(&opts.data_dir, port, &creds, Duration::from_secs(30)).await?;
        Ok(Self {
            child: None,
            pid,
            port,
            data_dir: opts.data_dir.clone(),
            bins,
            initialized_now: false,
            database_created: false,
            creds,
        })
    }

    /// URL of the `paperclip` database.
    pub fn url(&self) -> String {
        self.url_for(DATABASE)
    }

    /// URL of another database in this cluster.
    pub fn url_for(&self, database: &str) -> String {
        format!(
            "postgres://{}:{}@127.0.0.1:{}/{}",
            self.creds.user, self.creds.password, self.port, database
        )
    }

    async fn ensure_database(&self) -> Result<bool> {
        let mut conn = connect(self.port, &self.creds, "postgres")
            .await
            .map_err(DbError::sql("cannot connect to the embedded PostgreSQL"))?;
        let exists: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
                .bind(DATABASE)
                .fetch_optional(&mut conn)
                .await
                .map_err(DbError::sql("cannot list databases"))?;
        if exists.is_some() {
            return Ok(false);
        }
        sqlx::raw_sql(
            "CREATE DATABASE paperclip ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0",
        )
        .execute(&mut conn)
        .await
        .map_err(DbError::sql("cannot create the paperclip database"))?;
        tracing::info!("Created database {DATABASE} (UTF8)");
        Ok(true)
    }

    /// How the postmaster ended, if it has (only for a cluster this process started).
    pub fn exited(&mut self) -> Option<String> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => {
                self.child = None;
                Some(status.to_string())
            }
            Ok(None) => None,
            Err(e) => Some(e.to_string()),
        }
    }

    /// Fast shutdown (SIGINT), escalating to SIGQUIT and SIGKILL, and waits for the process.
    pub fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let pid = Pid::from_raw(child.id() as i32);
        for (signal, wait) in [
            (Signal::SIGINT, Duration::from_secs(30)),
            (Signal::SIGQUIT, Duration::from_secs(5)),
            (Signal::SIGKILL, Duration::from_secs(5)),
        ] {
            let _ = kill(pid, signal);
            let deadline = Instant::now() + wait;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            tracing::warn!("PostgreSQL (PID {pid}) did not stop after {signal:?}; escalating");
        }
        Err(DbError::Unsafe {
            data_dir: self.data_dir.clone(),
            reason: format!("PostgreSQL (PID {pid}) did not stop"),
        })
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::error!("{e}");
        }
    }
}

/// Credentials of an existing cluster. A cluster created by upstream Paperclip has the fixed
/// `paperclip/paperclip` superuser; it keeps working, with a warning.
fn existing_credentials(path: &Path) -> Result<Credentials> {
    match Credentials::load(path)? {
        Some(c) => Ok(c),
        None => {
            tracing::warn!(
                "no credentials file at {}; trying the default paperclip/paperclip superuser of clusters made by upstream Paperclip",
                path.display()
            );
            Ok(Credentials {
                user: cluster::SUPERUSER.into(),
                password: "paperclip".into(),
            })
        }
    }
}

/// Step 3 of the lifecycle: make sure no previous postmaster is, or will be mistaken for, ours.
async fn settle_previous(data_dir: &Path, creds: &Credentials) -> Result<()> {
    match postmaster::inspect(data_dir) {
        Existing::None => Ok(()),
        Existing::Stale {
            pid_alive: false, ..
        } => Ok(()), // PostgreSQL overwrites it itself.
        Existing::Stale {
            pid,
            pid_alive: true,
        } => {
            let moved = postmaster::set_aside_stale(data_dir)?;
            tracing::warn!(
                "postmaster.pid named PID {pid}, which is alive but not a PostgreSQL of this data directory (a recycled PID); moved it to {}",
                moved.display()
            );
            Ok(())
        }
        Existing::Live { pid, port } => {
            if let Some(port) = port {
                // Best effort: if it answers, it must be this very cluster.
                match verify_identity(data_dir, port, creds, Duration::from_secs(5)).await {
                    Ok(()) | Err(DbError::Sql { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            tracing::warn!(
                "PostgreSQL (PID {pid}) of this data directory was left running by a previous Paperclip; stopping it cleanly"
            );
            postmaster::stop_pid(pid, Duration::from_secs(60))
        }
        Existing::Unknown { reason } => Err(DbError::Unsafe {
            data_dir: data_dir.to_path_buf(),
            reason,
        }),
    }
}

/// Proves that the server on `port` serves `data_dir`: same `data_directory` and the same system
/// identifier as the data directory's `pg_control`.
async fn verify_identity(
    data_dir: &Path,
    port: u16,
    creds: &Credentials,
    patience: Duration,
) -> Result<()> {
    let deadline = Instant::now() + patience;
    let mut conn = loop {
        match connect(port, creds, "postgres").await {
            Ok(c) => break c,
            Err(e) if Instant::now() < deadline && is_transient(&e) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => {
                return Err(DbError::sql(format!(
                    "cannot connect to PostgreSQL on port {port}"
                ))(e))
            }
        }
    };
    let (dir, sysid): (String, i64) = sqlx::query_as(
        "SELECT current_setting('data_directory'), (SELECT system_identifier FROM pg_control_system())",
    )
    .fetch_one(&mut conn)
    .await
    .map_err(DbError::sql("cannot read the server's identity"))?;
    let ours = fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    let theirs = fs::canonicalize(&dir).unwrap_or_else(|_| PathBuf::from(&dir));
    let expected = cluster::system_identifier(data_dir);
    if theirs != ours || expected.is_some_and(|id| id != sysid) {
        return Err(DbError::Unsafe {
            data_dir: data_dir.to_path_buf(),
            reason: format!(
                "the PostgreSQL on port {port} serves {dir} (system identifier {sysid}), not this data directory"
            ),
        });
    }
    Ok(())
}

fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => true,
        // 57P03: the database system is starting up / in recovery.
        sqlx::Error::Database(d) => d.code().as_deref() == Some("57P03"),
        _ => false,
    }
}

async fn connect(
    port: u16,
    creds: &Credentials,
    database: &str,
) -> Result<PgConnection, sqlx::Error> {
    let opts = PgConnectOptions::new()
        .host("127.0.0.1")
        .port(port)
        .username(&creds.user)
        .password(&creds.password)
        .database(database)
        .application_name("paperclip-embedded")
        .statement_cache_capacity(0)
        .disable_statement_logging();
    PgConnection::connect_with(&opts).await
}

fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

fn any_free_port() -> Result<u16> {
    let l = TcpListener::bind(("127.0.0.1", 0))
        .map_err(DbError::io("cannot find a free port on", "127.0.0.1"))?;
    Ok(l.local_addr()
        .map_err(DbError::io("cannot find a free port on", "127.0.0.1"))?
        .port())
}

fn spawn_postgres(
    bins: &PgBinaries,
    data_dir: &Path,
    port: u16,
    log: &LogFile,
    run_as: Option<&RunAs>,
) -> Result<Child> {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(bins.tool("postgres"));
    cmd.arg("-D")
        .arg(data_dir)
        .arg("-p")
        .arg(port.to_string())
        .args([
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "unix_socket_directories=",
            // POSIX shared memory is reaped by systemd's RemoveIPC; mmap files are not.
            "-c",
            "dynamic_shared_memory_type=mmap",
            "-c",
            "logging_collector=off",
        ])
        .current_dir("/")
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(log.handle()?)
        .stderr(log.handle()?)
        // Its own process group: a terminal's Ctrl-C reaches Paperclip only, which then drains
        // requests before stopping PostgreSQL.
        .process_group(0);
    if let Some(r) = run_as {
        r.apply(&mut cmd);
    }
    cmd.spawn()
        .map_err(DbError::io("cannot run", bins.tool("postgres")))
}

enum StartError {
    PortTaken,
    Failed(DbError),
}

async fn wait_ready(
    mut child: Child,
    port: u16,
    creds: &Credentials,
    log: &LogFile,
    offset: u64,
) -> Result<Child, StartError> {
    // Crash recovery after a kill -9 can take a while on a big WAL; be patient but bounded.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let tail = log.tail_from(offset);
            if tail.contains("could not bind") || tail.contains("Address already in use") {
                return Err(StartError::PortTaken);
            }
            return Err(StartError::Failed(DbError::Process {
                what: format!("starting PostgreSQL on port {port} ({status})"),
                log: tail,
            }));
        }
        match connect(port, creds, "postgres").await {
            Ok(conn) => {
                let _ = conn.close().await;
                return Ok(child);
            }
            Err(e) if Instant::now() > deadline => {
                let _ = child.kill();
                return Err(StartError::Failed(DbError::Process {
                    what: format!("waiting for PostgreSQL on port {port}: {e}"),
                    log: log.tail_from(offset),
                }));
            }
            Err(sqlx::Error::Database(d)) if d.code().as_deref() == Some("28P01") => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(StartError::Failed(DbError::Unsafe {
                    data_dir: PathBuf::new(),
                    reason: "PostgreSQL rejected the stored credentials (password authentication failed); the credentials file does not belong to this cluster".into(),
                }));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// PostgreSQL's log file: stderr goes straight to a file (not a pipe), so logging keeps working
/// even if Paperclip dies, and errors can quote what PostgreSQL said.
struct LogFile {
    path: PathBuf,
}

impl LogFile {
    fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(DbError::io("cannot create", dir))?;
        }
        // Keep the log bounded: start over past 10 MiB, keeping one previous file.
        if fs::metadata(path).is_ok_and(|m| m.len() > 10 << 20) {
            let _ = fs::rename(path, path.with_extension("log.1"));
        }
        Ok(Self {
            path: path.to_path_buf(),
        })
    }

    fn handle(&self) -> Result<File> {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(DbError::io("cannot open", &self.path))
    }

    fn len(&self) -> u64 {
        fs::metadata(&self.path).map_or(0, |m| m.len())
    }

    fn tail_from(&self, offset: u64) -> String {
        let mut text = String::new();
        if let Ok(mut f) = File::open(&self.path) {
            let _ = f.seek(SeekFrom::Start(offset));
            let _ = f.read_to_string(&mut text);
        }
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

/// The binaries for this cluster: of its major version when it exists.
fn locate(opts: &StartOptions) -> Result<PgBinaries> {
    let want = match cluster::classify(&opts.data_dir) {
        Ok(DataDirState::Cluster { major }) => Some(major),
        _ => None,
    };
    PgBinaries::locate(opts.bin_dir.as_deref(), opts.installed.as_deref(), want)
}
