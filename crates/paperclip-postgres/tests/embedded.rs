//! The embedded cluster's lifecycle against real PostgreSQL processes.

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use paperclip_postgres::embedded::{postmaster, EmbeddedPostgres, StartOptions};
use paperclip_postgres::DbError;
use paperclip_testkit::free_port;
use sqlx::{Connection, PgConnection};

fn options(root: &Path, port: u16) -> StartOptions {
    StartOptions {
        data_dir: root.join("db"),
        port,
        bin_dir: None,
        os_user: None,
        installed: None,
        credentials_file: root.join("secrets").join("embedded-postgres.json"),
        log_file: root.join("logs").join("postgres.log"),
    }
}

async fn query_one(pg: &EmbeddedPostgres, sql: &str) -> String {
    let mut c = PgConnection::connect(&pg.url()).await.unwrap();
    let v: String = sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap();
    c.close().await.unwrap();
    v
}

#[tokio::test]
async fn first_start_initializes_and_restart_keeps_data() {
    let root = tempfile::tempdir().unwrap();
    let opts = options(root.path(), free_port());
    let mut pg = EmbeddedPostgres::start(&opts).await.unwrap();
    assert!(pg.initialized_now && pg.database_created);
    assert_eq!(query_one(&pg, "SHOW server_encoding").await, "UTF8");
    let mut c = PgConnection::connect(&pg.url()).await.unwrap();
    sqlx::raw_sql("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')")
        .execute(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();
    pg.stop().unwrap();
    assert!(postmaster::postmasters_in(&opts.data_dir).is_empty());

    let pg = EmbeddedPostgres::start(&opts).await.unwrap();
    assert!(!pg.initialized_now && !pg.database_created);
    assert_eq!(query_one(&pg, "SELECT v FROM kept").await, "still here");
}

#[tokio::test]
async fn credentials_are_generated_not_the_well_known_default() {
    let root = tempfile::tempdir().unwrap();
    let opts = options(root.path(), free_port());
    let pg = EmbeddedPostgres::start(&opts).await.unwrap();
    let guess = format!(
        "postgres://paperclip:paperclip@127.0.0.1:{}/paperclip",
        pg.port
    );
    assert!(
        PgConnection::connect(&guess).await.is_err(),
        "default password refused"
    );
    let text = std::fs::read_to_string(&opts.credentials_file).unwrap();
    assert!(text.contains("\"password\""));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&opts.credentials_file)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test]
async fn an_orphaned_postmaster_of_a_crashed_owner_is_stopped_then_restarted_once() {
    let root = tempfile::tempdir().unwrap();
    let opts = options(root.path(), free_port());
    let pg = EmbeddedPostgres::start(&opts).await.unwrap();
    let orphan = pg.pid;
    // A crash: the owner vanishes without stopping PostgreSQL.
    std::mem::forget(pg);
    let pg = EmbeddedPostgres::start(&opts).await.unwrap();
    assert_ne!(pg.pid, orphan);
    assert_eq!(postmaster::postmasters_in(&opts.data_dir), vec![pg.pid]);
}

#[tokio::test]
async fn a_stale_lock_file_naming_a_live_unrelated_pid_does_not_block_start() {
    let root = tempfile::tempdir().unwrap();
    let opts = options(root.path(), free_port());
    let mut pg = EmbeddedPostgres::start(&opts).await.unwrap();
    pg.stop().unwrap();
    let mut unrelated = Command::new("sleep").arg("30").spawn().unwrap();
    std::fs::write(
        opts.data_dir.join("postmaster.pid"),
        format!(
            "{}\n{}\n0\n{}\n\n127.0.0.1\n0 0\nready\n",
            unrelated.id(),
            opts.data_dir.display(),
            opts.port
        ),
    )
    .unwrap();
    let pg = EmbeddedPostgres::start(&opts).await.unwrap();
    assert_eq!(query_one(&pg, "SELECT 'ok'").await, "ok");
    assert!(
        unrelated.try_wait().unwrap().is_none(),
        "the unrelated process was not touched"
    );
    let set_aside = std::fs::read_dir(&opts.data_dir)
        .unwrap()
        .flatten()
        .any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("postmaster.pid.stale-")
        });
    assert!(set_aside, "the stale lock file is kept aside, not deleted");
    unrelated.kill().unwrap();
}

#[tokio::test]
async fn a_taken_port_moves_the_cluster_to_a_free_one() {
    let root = tempfile::tempdir().unwrap();
    let blocker = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = blocker.local_addr().unwrap().port();
    let pg = EmbeddedPostgres::start(&options(root.path(), taken))
        .await
        .unwrap();
    assert_ne!(pg.port, taken);
    assert_eq!(query_one(&pg, "SELECT 'ok'").await, "ok");
}

#[tokio::test]
async fn a_non_empty_foreign_directory_is_never_initialized() {
    let root = tempfile::tempdir().unwrap();
    let opts = options(root.path(), free_port());
    std::fs::create_dir_all(&opts.data_dir).unwrap();
    std::fs::write(opts.data_dir.join("thesis.tex"), "precious").unwrap();
    let err = EmbeddedPostgres::start(&opts).await.unwrap_err();
    assert!(matches!(err, DbError::ForeignDataDir { .. }), "{err}");
    assert_eq!(
        std::fs::read_to_string(opts.data_dir.join("thesis.tex")).unwrap(),
        "precious"
    );
}

#[tokio::test]
async fn a_data_directory_of_another_major_version_is_refused_untouched() {
    let root = tempfile::tempdir().unwrap();
    let opts = options(root.path(), free_port());
    std::fs::create_dir_all(&opts.data_dir).unwrap();
    std::fs::write(opts.data_dir.join("PG_VERSION"), "14\n").unwrap();
    let err = EmbeddedPostgres::start(&opts).await.unwrap_err();
    assert!(
        matches!(err, DbError::VersionMismatch { data_major: 14, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("PostgreSQL 14"));
}

#[tokio::test]
async fn an_interrupted_initdb_of_ours_is_redone() {
    let root = tempfile::tempdir().unwrap();
    let opts = options(root.path(), free_port());
    std::fs::create_dir_all(&opts.data_dir).unwrap();
    std::fs::write(opts.data_dir.join("PG_VERSION"), "15\n").unwrap();
    std::fs::write(
        paperclip_postgres::embedded::cluster::initdb_marker(&opts.data_dir),
        "initdb started by paperclip\n",
    )
    .unwrap();
    let pg = EmbeddedPostgres::start(&opts).await.unwrap();
    assert!(pg.initialized_now);
}
