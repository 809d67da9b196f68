//! Routine database care from the CLI: `VACUUM` and `ANALYZE` of the Paperclip database, with
//! what they changed. Autovacuum does this continuously; these are for after a bulk import or
//! delete, or when a user wants the space back now (upstream's users moved to a system
//! PostgreSQL just to run VACUUM).

use std::time::Instant;

use sqlx::{Connection, PgConnection};

use crate::{DbError, Result};

/// What to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Care {
    /// `ANALYZE`: fresh planner statistics.
    Analyze,
    /// `VACUUM (ANALYZE)`: dead rows' space reusable, statistics fresh; runs beside writes.
    Vacuum,
    /// `VACUUM (FULL, ANALYZE)`: tables rewritten and space returned to the OS; each table is
    /// locked while it is rewritten.
    VacuumFull,
}

/// A table's size and dead rows.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TableState {
    pub table: String,
    pub bytes: i64,
    pub dead_rows: i64,
    pub live_rows: i64,
}

/// What a run changed.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub database_bytes_before: i64,
    pub database_bytes_after: i64,
    pub dead_rows_before: i64,
    pub dead_rows_after: i64,
    pub took_ms: u64,
    /// The largest tables after the run.
    pub largest: Vec<TableState>,
}

async fn totals(conn: &mut PgConnection) -> Result<(i64, i64)> {
    sqlx::query_as(
        "SELECT pg_database_size(current_database()),
                COALESCE((SELECT sum(n_dead_tup) FROM pg_stat_user_tables), 0)::bigint",
    )
    .fetch_one(conn)
    .await
    .map_err(|e| DbError::Maintenance(format!("cannot read the database's size: {e}")))
}

/// Runs `care` on the database at `url` (one connection; `VACUUM` cannot run in a transaction).
pub async fn run(url: &str, care: Care) -> Result<Report> {
    let opts = crate::pool::connect_options(url)?;
    let mut conn = PgConnection::connect_with(&opts.statement_cache_capacity(0))
        .await
        .map_err(|e| DbError::Maintenance(format!("cannot connect: {e}")))?;
    let (bytes_before, dead_before) = totals(&mut conn).await?;
    let statement = match care {
        Care::Analyze => "ANALYZE",
        Care::Vacuum => "VACUUM (ANALYZE)",
        Care::VacuumFull => "VACUUM (FULL, ANALYZE)",
    };
    let started = Instant::now();
    sqlx::raw_sql(statement)
        .execute(&mut conn)
        .await
        .map_err(|e| DbError::Maintenance(format!("{statement} failed: {e}")))?;
    let took = started.elapsed();
    // The statistics collector reports asynchronously; a snapshot read after the command shows
    // its counts once they are flushed.
    let _ = sqlx::raw_sql("SELECT pg_stat_clear_snapshot()")
        .execute(&mut conn)
        .await;
    let (bytes_after, dead_after) = totals(&mut conn).await?;
    let largest: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "SELECT relname::text, pg_total_relation_size(relid), n_dead_tup, n_live_tup
         FROM pg_stat_user_tables ORDER BY 2 DESC LIMIT 10",
    )
    .fetch_all(&mut conn)
    .await
    .map_err(|e| DbError::Maintenance(format!("cannot read table sizes: {e}")))?;
    let _ = conn.close().await;
    Ok(Report {
        database_bytes_before: bytes_before,
        database_bytes_after: bytes_after,
        dead_rows_before: dead_before,
        dead_rows_after: dead_after,
        took_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
        largest: largest
            .into_iter()
            .map(|(table, bytes, dead_rows, live_rows)| TableState {
                table,
                bytes,
                dead_rows,
                live_rows,
            })
            .collect(),
    })
}
