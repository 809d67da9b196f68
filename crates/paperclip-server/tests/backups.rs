//! `POST /api/instance/database-backups` and backup health.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn a_manual_backup_is_single_flight_and_shows_in_health() {
    let app = TestApp::spawn().await;
    let (_, health) = app.get("/health").await;
    assert_eq!(
        health["databaseBackup"]["warnings"][0]["code"],
        "database_backup_missing"
    );
    assert_eq!(health["warnings"][0]["code"], "database_backup_missing");

    // Another process holds the backup lock: this one is refused, not queued.
    let mut other = app.db.connect().await;
    sqlx::query("SELECT pg_advisory_lock(8098424725361620336)")
        .execute(&mut other)
        .await
        .unwrap();
    let (s, body) = app.post("/instance/database-backups", json!({})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    sqlx::query("SELECT pg_advisory_unlock(8098424725361620336)")
        .execute(&mut other)
        .await
        .unwrap();

    let (s, body) = app.post("/instance/database-backups", json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert!(body["sizeBytes"].as_u64().unwrap() > 0);
    assert_eq!(body["secretsKeyFingerprint"], test_key().fingerprint());
    let (_, health) = app.get("/health").await;
    assert_eq!(health["databaseBackup"]["status"], "ok", "{health}");
    assert_eq!(
        health["databaseBackup"]["latestBackup"]["file"],
        body["backupFile"]
    );
    let _ = std::fs::remove_dir_all(health["databaseBackup"]["backupDir"].as_str().unwrap());
}
