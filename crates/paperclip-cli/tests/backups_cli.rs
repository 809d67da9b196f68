//! Backups through the real binary on an embedded instance.

mod common;

use common::*;
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};

async fn company_names(server: &Server) -> Vec<String> {
    let v: Value = reqwest::get(server.url("/api/companies"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

async fn create_company(server: &Server, name: &str) {
    let res = reqwest::Client::new()
        .post(server.url("/api/companies"))
        .json(&json!({"name": name}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
}

#[tokio::test]
async fn backup_restore_round_trip_through_the_cli() {
    let inst = Instance::new();
    let server = inst.start();
    create_company(&server, "Kept").await;
    server.stop();

    let out = inst.output(&["db:backup", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    let file = result["backupFile"].as_str().unwrap().to_string();
    assert!(std::path::Path::new(&file).is_file());
    assert!(result["secretsKeyFingerprint"].is_string());
    let listing = String::from_utf8_lossy(&inst.output(&["db", "backups"]).stdout).into_owned();
    assert!(listing.contains(&file), "{listing}");
    let out = inst.output(&["db", "verify", &file]);
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("row counts match"),
        "{}",
        stderr(&out)
    );

    let server = inst.start();
    create_company(&server, "Made after the backup").await;
    // Restore refuses while the server owns the instance.
    let out = inst.output(&["db", "restore", &file, "--yes"]);
    assert!(
        !out.status.success() && stderr(&out).contains("already in use"),
        "{}",
        stderr(&out)
    );
    server.stop();
    // Without a terminal, restore needs --yes.
    let out = inst.output(&["db", "restore", &file]);
    assert!(
        !out.status.success() && stderr(&out).contains("--yes"),
        "{}",
        stderr(&out)
    );
    let out = inst.output(&["db", "restore", &file, "--yes"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("previous database is kept as paperclip_previous_"),
        "{text}{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("3/3"), "progress is shown");

    let server = inst.start();
    assert_eq!(company_names(&server).await, ["Kept"]);
    server.stop();

    // A corrupt file is refused and changes nothing.
    let corrupt = inst.home.path().join("corrupt.dump");
    std::fs::write(&corrupt, b"PGDMP not really").unwrap();
    let out = inst.output(&["db", "verify", corrupt.to_str().unwrap()]);
    assert!(!out.status.success());
    let out = inst.output(&["db", "restore", corrupt.to_str().unwrap(), "--yes"]);
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let server = inst.start();
    assert_eq!(company_names(&server).await, ["Kept"]);
    server.stop();
}

#[tokio::test]
async fn a_backup_is_taken_before_pending_migrations_are_applied() {
    let inst = Instance::new();
    let server = inst.start();
    create_company(&server, "Before upgrade").await;
    // Roll the schema back by one migration, as if this binary were an upgrade.
    let mut c = PgConnection::connect(&embedded_url(&inst.root()))
        .await
        .unwrap();
    sqlx::raw_sql(
        "DROP TABLE secrets_key_check, company_secret_versions, company_secrets CASCADE;
         ALTER TABLE projects DROP COLUMN env;
         DELETE FROM paperclip_migrations WHERE name = '0003_secrets';",
    )
    .execute(&mut c)
    .await
    .unwrap();
    c.close().await.unwrap();
    server.stop();
    let backups_dir = inst.root().join("data/backups");
    let before = std::fs::read_dir(&backups_dir).map_or(0, Iterator::count);

    let server = inst.start();
    let log = server.log();
    assert!(
        log.contains("Backing up before applying 1 migration"),
        "{log}"
    );
    assert!(log.contains("0003_secrets"), "{log}");
    assert_eq!(company_names(&server).await, ["Before upgrade"]);
    server.stop();
    let dumps = std::fs::read_dir(&backups_dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".dump"))
        .count();
    assert_eq!(dumps, before / 2 + 1);
}
