//! Restores into a new database, proves it, then swaps it in atomically.
//!
//! The live database is never modified: it is renamed aside (`paperclip_previous_<time>`) in the
//! same transaction that renames the restored one into place, and kept until the user drops it.

use std::path::Path;
use std::process::{Command, Stdio};

use chrono::Utc;
use sqlx::Connection;

use paperclip_postgres::pool::{q, qs};
use paperclip_postgres::url::quote_ident;
use paperclip_postgres::{binaries, DbError, Result};

use crate::{split_password, Meta};

/// The database name in a URL.
pub fn database_of(url: &str) -> Result<String> {
    let u = url::Url::parse(url).map_err(|e| DbError::BadUrl(e.to_string()))?;
    let name = u.path().trim_start_matches('/').to_string();
    if name.is_empty() {
        return Err(DbError::BadUrl("the database URL names no database".into()));
    }
    Ok(name)
}

/// Creates `name` and restores `file` into it with `pg_restore` (stopping at the first error).
/// On failure the half-restored database is dropped.
pub async fn restore_into(
    admin_url: &str,
    name: &str,
    file: &Path,
    bin_dir: Option<&Path>,
) -> Result<()> {
    let mut admin = paperclip_postgres::pool::connect_direct(admin_url).await?;
    let major: String = qs("SELECT current_setting('server_version_num')")
        .fetch_one(&mut admin)
        .await
        .map_err(DbError::sql("cannot read the server version"))?;
    let major = major.parse::<u32>().unwrap_or(0) / 10000;
    sqlx::raw_sql(&format!(
        "CREATE DATABASE {} ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0",
        quote_ident(name)
    ))
    .execute(&mut admin)
    .await
    .map_err(DbError::sql(format!("cannot create database {name}")))?;
    let bins = binaries::locate_client(bin_dir, major, "pg_restore")?;
    let target = paperclip_postgres::url::with_database(admin_url, name);
    let (url, password) = split_password(&target);
    let mut cmd = Command::new(bins.tool("pg_restore"));
    cmd.args([
        "--exit-on-error",
        "--no-owner",
        "--no-privileges",
        "--single-transaction",
    ])
    .arg(format!("--dbname={url}"))
    .arg(file)
    .env("PGAPPNAME", "paperclip-restore")
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    if let Some(pw) = password {
        cmd.env("PGPASSWORD", pw);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .map_err(|e| DbError::io("pg_restore", file)(std::io::Error::other(e)))?
        .map_err(DbError::io("cannot run", bins.tool("pg_restore")))?;
    if !out.status.success() {
        let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {}", quote_ident(name)))
            .execute(&mut admin)
            .await;
        let _ = admin.close().await;
        return Err(DbError::Process {
            what: format!("pg_restore of {}", file.display()),
            log: String::from_utf8_lossy(&out.stderr)
                .lines()
                .take(20)
                .collect::<Vec<_>>()
                .join("\n"),
        });
    }
    let _ = admin.close().await;
    Ok(())
}

/// What verification found.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verified {
    pub migrations_applied: usize,
    pub tables: usize,
    pub rows: i64,
    pub counts_match: Option<bool>,
}

/// Proves a restored database: its migration ledger reads and matches this build's migrations,
/// and its row counts equal those recorded when the backup was taken (when a sidecar exists).
pub async fn verify(url: &str, meta: Option<&Meta>) -> Result<Verified> {
    let status = paperclip_store::migrate::status(url).await?;
    let (_, _, _, _, counts) = crate::inspect(url).await?;
    let counts_match = meta.map(|m| m.row_counts == counts);
    if counts_match == Some(false) {
        let diff: Vec<String> = meta
            .expect("some")
            .row_counts
            .iter()
            .filter(|(t, n)| counts.get(*t) != Some(n))
            .map(|(t, n)| {
                format!(
                    "{t}: expected {n}, restored {}",
                    counts.get(t).copied().unwrap_or(-1)
                )
            })
            .take(10)
            .collect();
        return Err(DbError::Unsafe {
            data_dir: Default::default(),
            reason: format!(
                "the restored row counts differ from the backup's: {}",
                diff.join("; ")
            ),
        });
    }
    Ok(Verified {
        migrations_applied: status.applied.len(),
        tables: counts.len(),
        rows: counts.values().sum(),
        counts_match,
    })
}

/// Connections to `database` other than ours (a running Paperclip, psql sessions…).
pub async fn other_sessions(admin_url: &str, database: &str) -> Result<Vec<String>> {
    let mut admin = paperclip_postgres::pool::connect_direct(admin_url).await?;
    let rows: Vec<String> = qs("SELECT coalesce(nullif(application_name, ''), 'unnamed') || ' (pid ' || pid || ')' FROM pg_stat_activity
                                WHERE datname = $1 AND pid <> pg_backend_pid()")
        .bind(database)
        .fetch_all(&mut admin)
        .await
        .map_err(DbError::sql("cannot list sessions"))?;
    let _ = admin.close().await;
    Ok(rows)
}

/// In one transaction: `live` → `<live>_previous_<time>`, `restored` → `live`. Returns the name
/// the previous database now has.
pub async fn swap(admin_url: &str, live: &str, restored: &str) -> Result<String> {
    let previous = format!("{live}_previous_{}", Utc::now().format("%Y%m%d%H%M%S"));
    let mut admin = paperclip_postgres::pool::connect_direct(admin_url).await?;
    let mut tx = admin.begin().await.map_err(DbError::sql("cannot begin"))?;
    q(&format!(
        "ALTER DATABASE {} RENAME TO {}",
        quote_ident(live),
        quote_ident(&previous)
    ))
    .execute(&mut *tx)
    .await
    .map_err(DbError::sql(format!("cannot rename {live}")))?;
    q(&format!(
        "ALTER DATABASE {} RENAME TO {}",
        quote_ident(restored),
        quote_ident(live)
    ))
    .execute(&mut *tx)
    .await
    .map_err(DbError::sql(format!("cannot rename {restored}")))?;
    tx.commit()
        .await
        .map_err(DbError::sql("cannot commit the swap"))?;
    let _ = admin.close().await;
    Ok(previous)
}

/// Drops a scratch database.
pub async fn drop_database(admin_url: &str, name: &str) -> Result<()> {
    let mut admin = paperclip_postgres::pool::connect_direct(admin_url).await?;
    sqlx::raw_sql(&format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        quote_ident(name)
    ))
    .execute(&mut admin)
    .await
    .map_err(DbError::sql(format!("cannot drop {name}")))?;
    let _ = admin.close().await;
    Ok(())
}
