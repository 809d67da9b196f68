//! The one migration engine, shared by the server and the CLI. The migrations themselves belong
//! to `paperclip-store`; this module only knows how to apply a list of them safely.
//!
//! Migrations are SQL files embedded in the binary, numbered and append-only. The ledger table
//! `paperclip_migrations` records each applied migration's version, name and SHA-256. Identity is
//! (version, checksum): no timestamps, no row counts, no guessing from existing DDL.
//!
//! Rules, checked under a session advisory lock on a direct connection:
//! - empty database → apply everything;
//! - an applied migration whose file changed → refuse, showing both checksums;
//! - applied migrations this binary does not know (a newer Paperclip) → refuse;
//! - tables but no ledger → refuse;
//! - pending migrations on a non-empty database → apply if the caller approves (upstream's
//!   auto-apply / prompt / no-terminal rules live in [`Approval`]).
//!
//! Each migration runs in its own transaction together with its ledger row, so a failure leaves
//! the database at the previous version, never in between.

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use sqlx::{Connection, PgConnection};

use crate::{DbError, Result};

/// One embedded migration.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Strictly increasing number.
    pub version: i64,
    /// File name without `.sql`.
    pub name: &'static str,
    /// The SQL, run as one simple-protocol batch.
    pub sql: &'static str,
}

impl Migration {
    /// SHA-256 of the SQL text, hex.
    pub fn checksum(&self) -> String {
        checksum(self.sql)
    }
}

/// SHA-256 hex of a migration's text.
pub fn checksum(sql: &str) -> String {
    hex::encode(Sha256::digest(sql.as_bytes()))
}

/// Advisory lock key held while migrating ("paperclip" in ASCII, truncated).
const LOCK_KEY: i64 = 0x7061_7065_7263_6c69;

const LEDGER_DDL: &str = "CREATE TABLE IF NOT EXISTS paperclip_migrations (
    version bigint PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    execution_ms integer NOT NULL,
    applied_by text NOT NULL
)";

/// A ledger row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Applied {
    pub version: i64,
    pub name: String,
    pub checksum: String,
    pub applied_at: chrono::DateTime<chrono::Utc>,
}

/// Where a database stands relative to this binary's migrations.
#[derive(Debug, Clone)]
pub struct Status {
    /// Whether the ledger table exists.
    pub ledger_exists: bool,
    /// Tables in `public` other than the ledger.
    pub table_count: i64,
    /// Ledger rows, by version.
    pub applied: Vec<Applied>,
    /// Known migrations not yet applied, in order.
    pub pending: Vec<Migration>,
}

impl Status {
    /// No ledger and no tables: a brand-new database.
    pub fn is_empty_database(&self) -> bool {
        !self.ledger_exists && self.table_count == 0
    }

    /// Names of the pending migrations.
    pub fn pending_names(&self) -> Vec<&'static str> {
        self.pending.iter().map(|m| m.name).collect()
    }
}

/// Reads the state of the database and checks the ledger against `known` (the caller's
/// migrations). Errors for drift, newer schema and tables-without-ledger.
pub async fn inspect_with(conn: &mut PgConnection, known: &[Migration]) -> Result<Status> {
    let ledger_exists: bool =
        sqlx::query_scalar("SELECT to_regclass('public.paperclip_migrations') IS NOT NULL")
            .persistent(false)
            .fetch_one(&mut *conn)
            .await
            .map_err(DbError::sql("cannot inspect the schema"))?;
    let table_count: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE'
           AND table_name <> 'paperclip_migrations'",
    )
    .persistent(false)
    .fetch_one(&mut *conn)
    .await
    .map_err(DbError::sql("cannot inspect the schema"))?;
    if !ledger_exists && table_count > 0 {
        return Err(DbError::NoLedger {
            tables: table_count,
        });
    }
    let applied: Vec<Applied> = if ledger_exists {
        sqlx::query_as(
            "SELECT version, name, checksum, applied_at FROM paperclip_migrations ORDER BY version",
        )
        .persistent(false)
        .fetch_all(&mut *conn)
        .await
        .map_err(DbError::sql("cannot read the migration ledger"))?
    } else {
        Vec::new()
    };
    let unknown: Vec<&str> = applied
        .iter()
        .filter(|a| !known.iter().any(|m| m.version == a.version))
        .map(|a| a.name.as_str())
        .collect();
    if !unknown.is_empty() {
        return Err(DbError::NewerSchema {
            names: unknown.join(", "),
        });
    }
    for a in &applied {
        let m = known
            .iter()
            .find(|m| m.version == a.version)
            .expect("checked above");
        let expected = m.checksum();
        if a.checksum != expected {
            return Err(DbError::ChecksumMismatch {
                name: m.name.to_string(),
                recorded: a.checksum.clone(),
                expected,
            });
        }
    }
    let pending = known
        .iter()
        .filter(|m| !applied.iter().any(|a| a.version == m.version))
        .copied()
        .collect();
    Ok(Status {
        ledger_exists,
        table_count,
        applied,
        pending,
    })
}

/// Who decides whether pending migrations on a non-empty database are applied.
pub enum Approval<'a> {
    /// Apply (an explicit `db migrate`, or `PAPERCLIP_MIGRATION_AUTO_APPLY=true`).
    Apply,
    /// Never apply; report them as an error (`PAPERCLIP_MIGRATION_PROMPT=never`).
    Refuse,
    /// Ask (a terminal prompt); gets the pending names.
    Ask(&'a (dyn Fn(&[&str]) -> bool + Sync)),
}

/// What [`run`] did.
#[derive(Debug, Clone)]
pub struct Report {
    /// Migrations applied by this call (empty when another process got there first).
    pub applied: Vec<&'static str>,
    /// The database was empty before.
    pub was_empty: bool,
    /// Total migrations now applied.
    pub total_applied: usize,
}

/// Brings the database at `url` up to date with `known` under the migration lock. `label`
/// names the database in messages ("Embedded PostgreSQL", "PostgreSQL").
pub async fn run_with(
    url: &str,
    label: &str,
    approval: Approval<'_>,
    known: &[Migration],
) -> Result<Report> {
    let opts = crate::pool::connect_options(url)?
        .application_name("paperclip-migrate")
        .statement_cache_capacity(0);
    let mut conn = PgConnection::connect_with(&opts)
        .await
        .map_err(DbError::sql(format!(
            "cannot connect to {} for migrations",
            crate::url::redact(url)
        )))?;
    lock(&mut conn).await?;
    let result = run_locked(&mut conn, label, approval, known).await;
    // Unlock explicitly; closing the session would release it too.
    let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
        .persistent(false)
        .bind(LOCK_KEY)
        .execute(&mut conn)
        .await;
    let _ = conn.close().await;
    result
}

async fn lock(conn: &mut PgConnection) -> Result<()> {
    let patience = Duration::from_secs(600);
    let start = Instant::now();
    let mut told = false;
    loop {
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .persistent(false)
            .bind(LOCK_KEY)
            .fetch_one(&mut *conn)
            .await
            .map_err(DbError::sql("cannot take the migration lock"))?;
        if got {
            return Ok(());
        }
        if start.elapsed() > patience {
            return Err(DbError::MigrationLockTimeout {
                seconds: patience.as_secs(),
            });
        }
        if !told {
            tracing::info!("Waiting for another process to finish migrating…");
            told = true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn run_locked(
    conn: &mut PgConnection,
    label: &str,
    approval: Approval<'_>,
    known: &[Migration],
) -> Result<Report> {
    let status = inspect_with(conn, known).await?;
    let was_empty = status.is_empty_database();
    if status.pending.is_empty() {
        return Ok(Report {
            applied: Vec::new(),
            was_empty,
            total_applied: status.applied.len(),
        });
    }
    if !was_empty {
        let names = status.pending_names();
        let approved = match approval {
            Approval::Apply => true,
            Approval::Refuse => false,
            Approval::Ask(ask) => ask(&names),
        };
        if !approved {
            return Err(DbError::PendingMigrations {
                label: label.to_string(),
                pending: names.join(", "),
            });
        }
    }
    let mut applied = Vec::new();
    let total = status.pending.len();
    for (i, m) in status.pending.iter().enumerate() {
        tracing::info!("Applying migration {}/{total}: {}", i + 1, m.name);
        apply_one(conn, m).await?;
        applied.push(m.name);
    }
    Ok(Report {
        applied,
        was_empty,
        total_applied: status.applied.len() + total,
    })
}

async fn apply_one(conn: &mut PgConnection, m: &Migration) -> Result<()> {
    let started = Instant::now();
    let mut tx = conn
        .begin()
        .await
        .map_err(DbError::sql("cannot begin a migration transaction"))?;
    sqlx::raw_sql(LEDGER_DDL)
        .execute(&mut *tx)
        .await
        .map_err(DbError::sql("cannot create the migration ledger"))?;
    sqlx::raw_sql(m.sql)
        .execute(&mut *tx)
        .await
        .map_err(DbError::sql(format!(
            "migration {} failed (rolled back)",
            m.name
        )))?;
    sqlx::query(
        "INSERT INTO paperclip_migrations (version, name, checksum, execution_ms, applied_by)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .persistent(false)
    .bind(m.version)
    .bind(m.name)
    .bind(m.checksum())
    .bind(started.elapsed().as_millis() as i32)
    .bind(concat!("paperclip ", env!("CARGO_PKG_VERSION")))
    .execute(&mut *tx)
    .await
    .map_err(DbError::sql("cannot record the migration"))?;
    tx.commit()
        .await
        .map_err(DbError::sql(format!("cannot commit migration {}", m.name)))?;
    Ok(())
}

/// Inspects the database at `url` against `known` without changing it.
pub async fn status_with(url: &str, known: &[Migration]) -> Result<Status> {
    let opts = crate::pool::connect_options(url)?.statement_cache_capacity(0);
    let mut conn = PgConnection::connect_with(&opts)
        .await
        .map_err(DbError::sql(format!(
            "cannot connect to {}",
            crate::url::redact(url)
        )))?;
    let s = inspect_with(&mut conn, known).await;
    let _ = conn.close().await;
    s
}
