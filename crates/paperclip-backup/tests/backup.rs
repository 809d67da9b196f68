//! Backups and restores against a real PostgreSQL with real pg_dump / pg_restore.

use paperclip_backup::{self as backup, restore, retention::Retention, Options};
use paperclip_store::migrate::{self, Approval};
use paperclip_testkit::{cluster, TestDb};
use sqlx::{Connection, PgConnection};

async fn populated() -> TestDb {
    let db = cluster().create_database().await;
    migrate::run(&db.url, "test", Approval::Apply)
        .await
        .unwrap();
    db.execute(
        "INSERT INTO companies (name, issue_prefix) VALUES ('Acme', 'ACM'), ('Beta', 'BET');
         INSERT INTO issues (company_id, title, issue_number, identifier)
           SELECT id, 'issue ' || g, g, 'ACM-' || g FROM companies, generate_series(1, 50) g WHERE name = 'Acme';
         -- A plugin-style namespace with its own table, function and trigger.
         CREATE SCHEMA plugin_smoke_0123456789;
         CREATE TABLE plugin_smoke_0123456789.rows (id serial PRIMARY KEY, note text, touched int DEFAULT 0);
         CREATE FUNCTION plugin_smoke_0123456789.bump() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN NEW.touched := NEW.touched + 1; RETURN NEW; END $$;
         CREATE TRIGGER bump BEFORE UPDATE ON plugin_smoke_0123456789.rows FOR EACH ROW EXECUTE FUNCTION plugin_smoke_0123456789.bump();
         INSERT INTO plugin_smoke_0123456789.rows (note) SELECT 'n' || g FROM generate_series(1, 10) g;",
    )
    .await;
    db
}

fn opts<'a>(db: &'a TestDb, dir: &'a std::path::Path) -> Options<'a> {
    Options {
        url: &db.url,
        dir,
        retention: Retention::with_days(7),
        bin_dir: None,
        key_fingerprint: Some("abc123def456".into()),
        trigger: "test",
    }
}

async fn scalar(url: &str, sql: &str) -> i64 {
    let mut c = PgConnection::connect(url).await.unwrap();
    let v: i64 = sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap();
    c.close().await.unwrap();
    v
}

#[tokio::test]
async fn backup_then_lose_data_then_restore_gives_identical_rows() {
    let db = populated().await;
    let dir = tempfile::tempdir().unwrap();
    let out = backup::create(&opts(&db, dir.path())).await.unwrap();
    assert!(out
        .backup_file
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("paperclip-"));
    assert_eq!(out.meta.row_counts["public.issues"], 50);
    assert_eq!(
        out.meta.secrets_key_fingerprint.as_deref(),
        Some("abc123def456")
    );
    assert_eq!(backup::list(dir.path()).unwrap().len(), 1);
    let before = scalar(&db.url, "SELECT count(*) FROM issues").await;

    // Disaster.
    db.execute("DELETE FROM issues; DROP SCHEMA plugin_smoke_0123456789 CASCADE;")
        .await;

    let admin = cluster().url_for("postgres");
    let restored = format!("{}_restore", db.name);
    restore::restore_into(&admin, &restored, &out.backup_file, None)
        .await
        .unwrap();
    let restored_url = cluster().url_for(&restored);
    let verified = restore::verify(&restored_url, Some(&out.meta))
        .await
        .unwrap();
    assert_eq!(verified.counts_match, Some(true));
    let previous = restore::swap(&admin, &db.name, &restored).await.unwrap();
    assert_eq!(scalar(&db.url, "SELECT count(*) FROM issues").await, before);
    assert_eq!(
        scalar(&db.url, "SELECT count(*) FROM plugin_smoke_0123456789.rows").await,
        10
    );
    // Functions and triggers came back too.
    db.execute("UPDATE plugin_smoke_0123456789.rows SET note = 'x' WHERE id = 1")
        .await;
    assert_eq!(
        scalar(
            &db.url,
            "SELECT touched::bigint FROM plugin_smoke_0123456789.rows WHERE id = 1"
        )
        .await,
        1
    );
    // The previous database is kept, untouched.
    assert_eq!(
        scalar(&cluster().url_for(&previous), "SELECT count(*) FROM issues").await,
        0
    );
}

#[tokio::test]
async fn a_corrupt_backup_fails_cleanly_and_the_live_database_is_untouched() {
    let db = populated().await;
    let dir = tempfile::tempdir().unwrap();
    let out = backup::create(&opts(&db, dir.path())).await.unwrap();
    let mut bytes = std::fs::read(&out.backup_file).unwrap();
    let len = bytes.len();
    bytes.truncate(len / 2);
    std::fs::write(&out.backup_file, &bytes).unwrap();
    let admin = cluster().url_for("postgres");
    let scratch = format!("{}_corrupt", db.name);
    let err = restore::restore_into(&admin, &scratch, &out.backup_file, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("pg_restore"), "{err}");
    let exists = scalar(
        &admin,
        &format!("SELECT count(*) FROM pg_database WHERE datname = '{scratch}'"),
    )
    .await;
    assert_eq!(exists, 0, "the half-restored database was dropped");
    assert_eq!(scalar(&db.url, "SELECT count(*) FROM issues").await, 50);
}

#[tokio::test]
async fn a_failed_or_interrupted_backup_leaves_nothing_behind() {
    let db = populated().await;
    let dir = tempfile::tempdir().unwrap();
    // A killed earlier run left its temporary file.
    std::fs::write(
        dir.path().join(".paperclip-20260101-000000.dump.partial"),
        b"half",
    )
    .unwrap();
    let missing = TestDb {
        name: "nope".into(),
        url: cluster().url_for("no_such_database"),
    };
    assert!(backup::create(&opts(&missing, dir.path())).await.is_err());
    backup::create(&opts(&db, dir.path())).await.unwrap();
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".partial")), "{names:?}");
    assert_eq!(
        names.iter().filter(|n| n.ends_with(".dump")).count(),
        1,
        "{names:?}"
    );
}

#[tokio::test]
async fn health_reports_missing_then_present_backups() {
    let db = populated().await;
    let dir = tempfile::tempdir().unwrap();
    let h = serde_json::to_value(backup::health(dir.path(), true, 60)).unwrap();
    assert_eq!(h["warnings"][0]["code"], "database_backup_missing");
    backup::create(&opts(&db, dir.path())).await.unwrap();
    let h = serde_json::to_value(backup::health(dir.path(), true, 60)).unwrap();
    assert_eq!(h["status"], "ok", "{h}");
    backup::record_failure(dir.path(), Some("disk full"));
    let h = serde_json::to_value(backup::health(dir.path(), true, 60)).unwrap();
    assert_eq!(h["warnings"][0]["code"], "database_backup_last_failure");
}

#[tokio::test]
async fn backups_are_owner_only_and_old_ones_are_tightened() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let db = populated().await;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("backups");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    // A file left world-readable by an older version.
    let old = dir.join("operator-notes.txt");
    std::fs::write(&old, b"old").unwrap();
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = backup::create(&opts(&db, &dir)).await.unwrap();
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&out.backup_file), 0o600);
    assert_eq!(mode(&out.backup_file.with_extension("json")), 0o600);
    assert_eq!(mode(&old), 0o600);
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(backup::tighten(&dir).unwrap(), vec![old.clone()]);
    assert_eq!(mode(&old), 0o600);
}
