//! The migration engine against a real PostgreSQL.

use paperclip_postgres::DbError;
use paperclip_store::migrate::{self, Approval, Migration, MIGRATIONS};
use paperclip_testkit::cluster;

const EXTRA: Migration = Migration {
    version: 9000,
    name: "9000_test_extra",
    sql: "CREATE TABLE test_extra (id int PRIMARY KEY);",
};

fn with_extra() -> Vec<Migration> {
    let mut v = MIGRATIONS.to_vec();
    v.push(EXTRA);
    v
}

#[tokio::test]
async fn an_empty_database_gets_every_migration_once() {
    let db = cluster().create_database().await;
    let first = migrate::run(&db.url, "test", Approval::Refuse)
        .await
        .unwrap();
    assert!(first.was_empty);
    assert_eq!(first.applied.len(), MIGRATIONS.len());
    let second = migrate::run(&db.url, "test", Approval::Refuse)
        .await
        .unwrap();
    assert!(second.applied.is_empty());
    let status = migrate::status(&db.url).await.unwrap();
    assert!(status.pending.is_empty());
    assert_eq!(status.applied.len(), MIGRATIONS.len());
}

#[tokio::test]
async fn concurrent_migrators_apply_each_migration_exactly_once() {
    let db = cluster().create_database().await;
    // Four migrators on four connections, polled concurrently.
    let list = with_extra();
    let run = || migrate::run_with(&db.url, "test", Approval::Apply, &list);
    let (a, b, c, d) = tokio::join!(run(), run(), run(), run());
    let mut applied = 0;
    for r in [a, b, c, d] {
        applied += r.expect("every migrator succeeds").applied.len();
    }
    assert_eq!(
        applied,
        MIGRATIONS.len() + 1,
        "exactly one applies each migration"
    );
    let mut conn = db.connect().await;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM paperclip_migrations")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(rows as usize, MIGRATIONS.len() + 1);
}

#[tokio::test]
async fn a_changed_migration_is_refused_with_both_checksums() {
    let db = cluster().create_database().await;
    migrate::run(&db.url, "test", Approval::Refuse)
        .await
        .unwrap();
    db.execute("UPDATE paperclip_migrations SET checksum = 'deadbeef' WHERE version = 1")
        .await;
    let err = migrate::run(&db.url, "test", Approval::Apply)
        .await
        .unwrap_err();
    assert!(matches!(err, DbError::ChecksumMismatch { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("deadbeef") && text.contains(&MIGRATIONS[0].checksum()),
        "{text}"
    );
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_paperclip_is_refused() {
    let db = cluster().create_database().await;
    migrate::run_with(&db.url, "test", Approval::Apply, &with_extra())
        .await
        .unwrap();
    let err = migrate::run(&db.url, "test", Approval::Apply)
        .await
        .unwrap_err();
    assert!(matches!(err, DbError::NewerSchema { .. }), "{err}");
    assert!(err.to_string().contains("9000_test_extra"));
}

#[tokio::test]
async fn tables_without_a_ledger_are_refused() {
    let db = cluster().create_database().await;
    db.execute("CREATE TABLE someone_elses (id int)").await;
    let err = migrate::run(&db.url, "test", Approval::Apply)
        .await
        .unwrap_err();
    assert!(matches!(err, DbError::NoLedger { tables: 1 }), "{err}");
}

#[tokio::test]
async fn pending_migrations_on_a_used_database_follow_the_approval() {
    let db = cluster().create_database().await;
    migrate::run(&db.url, "test", Approval::Refuse)
        .await
        .unwrap();
    let err = migrate::run_with(
        &db.url,
        "Embedded PostgreSQL",
        Approval::Refuse,
        &with_extra(),
    )
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("9000_test_extra") && text.contains("Refusing"),
        "{text}"
    );
    let asked = |names: &[&str]| names == ["9000_test_extra"];
    let report = migrate::run_with(&db.url, "test", Approval::Ask(&asked), &with_extra())
        .await
        .unwrap();
    assert_eq!(report.applied, vec!["9000_test_extra"]);
}

#[tokio::test]
async fn a_failing_migration_is_rolled_back_whole() {
    let db = cluster().create_database().await;
    migrate::run(&db.url, "test", Approval::Refuse)
        .await
        .unwrap();
    let mut list = MIGRATIONS.to_vec();
    list.push(Migration {
        version: 9001,
        name: "9001_broken",
        sql: "CREATE TABLE half_done (id int); SELECT * FROM no_such_table;",
    });
    let err = migrate::run_with(&db.url, "test", Approval::Apply, &list)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("9001_broken"), "{err}");
    let mut conn = db.connect().await;
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('public.half_done') IS NOT NULL")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(!exists, "the failed migration left no trace");
    let status = migrate::status(&db.url).await.unwrap();
    assert!(status.pending.is_empty(), "earlier migrations stay applied");
}
