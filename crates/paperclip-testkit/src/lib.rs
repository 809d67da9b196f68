//! Test harness: one throwaway PostgreSQL cluster per test process, one database per test.
//!
//! The cluster is started with the very code that runs users' embedded clusters
//! ([`paperclip_postgres::embedded`]), in a temporary folder, on a free port. A small watchdog process
//! stops it and removes the folder when the test process exits, however it exits, so no
//! postmaster outlives `cargo test`.

mod s3;
pub use s3::{s3_server, S3Server};

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use paperclip_postgres::embedded::{EmbeddedPostgres, StartOptions};
use sqlx::{Connection, PgConnection};

/// The process-wide throwaway cluster.
pub struct TestCluster {
    pg: EmbeddedPostgres,
}

/// A fresh, empty database of the test cluster.
#[derive(Debug, Clone)]
pub struct TestDb {
    /// Database name.
    pub name: String,
    /// Superuser URL of this database.
    pub url: String,
}

static CLUSTER: OnceLock<TestCluster> = OnceLock::new();

/// The cluster, started on first use.
pub fn cluster() -> &'static TestCluster {
    CLUSTER.get_or_init(|| {
        // Started on a thread with its own runtime so this works from sync and async tests alike;
        // the handle owns no runtime resources.
        std::thread::spawn(start_cluster)
            .join()
            .expect("test cluster thread panicked")
    })
}

fn start_cluster() -> TestCluster {
    let root = tempfile::Builder::new()
        .prefix("paperclip-test-")
        .tempdir()
        .expect("temp dir")
        .keep();
    let opts = StartOptions {
        data_dir: root.join("db"),
        port: free_port(),
        bin_dir: None,
        os_user: None,
        installed: None,
        credentials_file: root.join("secrets").join("embedded-postgres.json"),
        log_file: root.join("postgres.log"),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let pg = rt
        .block_on(EmbeddedPostgres::start(&opts))
        .unwrap_or_else(|e| panic!("cannot start the test PostgreSQL cluster: {e}"));
    spawn_watchdog(pg.pid, &root);
    TestCluster { pg }
}

/// Stops the postmaster and removes the folder once this test process is gone.
#[expect(
    clippy::zombie_processes,
    reason = "the watchdog must outlive this process; init reaps it"
)]
fn spawn_watchdog(pg_pid: i32, root: &Path) {
    let script = format!(
        "while kill -0 {me} 2>/dev/null; do sleep 0.2; done; kill -INT {pg_pid} 2>/dev/null; \
         for i in $(seq 1 100); do kill -0 {pg_pid} 2>/dev/null || break; sleep 0.1; done; rm -rf '{root}'",
        me = std::process::id(),
        root = root.display()
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn watchdog");
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl TestCluster {
    /// Superuser URL of a database of this cluster.
    pub fn url_for(&self, database: &str) -> String {
        self.pg.url_for(database)
    }

    /// The cluster's port.
    pub fn port(&self) -> u16 {
        self.pg.port
    }

    /// Creates an empty database with a unique name.
    pub async fn create_database(&self) -> TestDb {
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        self.execute(&format!("CREATE DATABASE {name}")).await;
        TestDb {
            url: self.url_for(&name),
            name,
        }
    }

    /// Runs SQL as superuser on the `postgres` database.
    pub async fn execute(&self, sql: &str) {
        let mut conn = PgConnection::connect(&self.url_for("postgres"))
            .await
            .expect("connect to test cluster");
        sqlx::raw_sql(sql)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let _ = conn.close().await;
    }
}

impl TestDb {
    /// A URL of this database for another role.
    pub fn url_as(&self, user: &str, password: &str) -> String {
        let mut u = url_parts(&self.url);
        u.0 = format!("{user}:{password}");
        format!("postgres://{}@{}", u.0, u.1)
    }

    /// Runs SQL as superuser on this database.
    pub async fn execute(&self, sql: &str) {
        let mut conn = PgConnection::connect(&self.url).await.expect("connect");
        sqlx::raw_sql(sql)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let _ = conn.close().await;
    }

    /// A superuser connection to this database.
    pub async fn connect(&self) -> PgConnection {
        PgConnection::connect(&self.url).await.expect("connect")
    }
}

fn url_parts(url: &str) -> (String, String) {
    let rest = url.trim_start_matches("postgres://");
    let (userinfo, hostpart) = rest.split_once('@').expect("url has credentials");
    (userinfo.to_string(), hostpart.to_string())
}

/// Live (not zombie) processes whose command line contains `cmdline` and whose working folder
/// ends with `cwd`: how tests find plugin workers without knowing their pids.
pub fn live_processes(cmdline: &str, cwd: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    dir.flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse::<u32>().ok()?;
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            let dir = std::fs::read_link(e.path().join("cwd")).ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let zombie = stat
                .rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'));
            (String::from_utf8_lossy(&cmd).contains(cmdline) && dir.ends_with(cwd) && !zombie)
                .then_some(pid)
        })
        .collect()
}
