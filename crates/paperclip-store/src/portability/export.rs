//! Exporting a company: its rows streamed as bundle lines from one consistent snapshot.

use std::collections::HashMap;
use std::future::Future;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use futures_util::TryStreamExt;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Manifest, Omission, Record, FORMAT, OMITTED, TABLES, VERSION};
use crate::{Result, StoreError};
use paperclip_postgres::pool::qs;

/// Where an export's lines go (a file, an HTTP response).
pub trait Sink: Send {
    /// Takes one line (without its newline).
    fn line(&mut self, line: Vec<u8>) -> impl Future<Output = Result<()>> + Send;
}

/// The bytes of a company's files, wherever the instance keeps them.
pub trait Blobs: Sync {
    fn read(&self, key: &str) -> impl Future<Output = std::result::Result<Vec<u8>, String>> + Send;
    fn write(
        &self,
        key: &str,
        bytes: Vec<u8>,
    ) -> impl Future<Output = std::result::Result<(), String>> + Send;
}

/// What an export wrote: rows per table.
pub type Counts = HashMap<String, u64>;

async fn send(sink: &mut impl Sink, r: &Record) -> Result<()> {
    let line = serde_json::to_vec(r).map_err(|e| StoreError::invalid("bundle", e.to_string()))?;
    sink.line(line).await
}

/// The manifest of `company_id` (what an export of it holds), without its rows.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn manifest(conn: &mut PgConnection, company_id: Uuid) -> Result<Manifest> {
    let company: Value = qs("SELECT to_jsonb(c) FROM companies c WHERE c.id = $1")
        .bind(company_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot read the company"))?
        .ok_or_else(|| StoreError::not_found("Company not found"))?;
    let schema_version: i64 = qs("SELECT COALESCE(max(version), 0) FROM paperclip_migrations")
        .fetch_one(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot read the schema version"))?;
    Ok(Manifest {
        format: FORMAT.into(),
        version: VERSION,
        schema_version,
        exported_at: chrono::Utc::now(),
        company,
        tables: TABLES.iter().map(|(t, _, _)| (*t).to_string()).collect(),
        omitted: OMITTED
            .iter()
            .map(|(t, why)| Omission {
                table: (*t).into(),
                why: (*why).into(),
            })
            .collect(),
    })
}

/// Rows per table an export of `company_id` would hold (the export preview).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn counts(conn: &mut PgConnection, company_id: Uuid) -> Result<Counts> {
    let mut out = Counts::new();
    for (table, filter, _) in TABLES {
        let n: i64 = qs(&format!("SELECT count(*) FROM {table} WHERE {filter}"))
            .bind(company_id)
            .fetch_one(&mut *conn)
            .await
            .map_err(StoreError::sql("cannot count the company's rows"))?;
        out.insert((*table).into(), u64::try_from(n).unwrap_or_default());
    }
    Ok(out)
}

/// Writes `company_id` as a bundle to `sink`. Run it in a `REPEATABLE READ` transaction so every
/// table comes from one snapshot. Rows stream (memory does not grow with the company); env
/// bindings are written as reads show them (secret references, never values); each asset's
/// bytes follow its row.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn export(
    conn: &mut PgConnection,
    company_id: Uuid,
    blobs: &impl Blobs,
    sink: &mut impl Sink,
) -> Result<Counts> {
    send(sink, &Record::Manifest(manifest(conn, company_id).await?)).await?;
    let mut counts = Counts::new();
    for (table, filter, order) in TABLES {
        let sql = format!(
            "SELECT to_jsonb(t) - 'company_id' FROM {table} t WHERE {filter} ORDER BY {order}"
        );
        let mut rows = qs::<Value>(&sql).bind(company_id).fetch(&mut *conn);
        let mut n = 0u64;
        while let Some(mut row) = rows
            .try_next()
            .await
            .map_err(StoreError::sql("cannot read the company's rows"))?
        {
            redact(table, &mut row);
            let asset = (*table == "assets").then(|| {
                (
                    row["id"].as_str().and_then(|i| Uuid::parse_str(i).ok()),
                    row["object_key"].as_str().map(str::to_string),
                )
            });
            send(
                sink,
                &Record::Row {
                    table: (*table).into(),
                    row,
                },
            )
            .await?;
            if let Some((Some(asset_id), Some(key))) = asset {
                let bytes = blobs.read(&key).await.map_err(|e| {
                    StoreError::invalid("assets", format!("cannot read file {key}: {e}"))
                })?;
                send(
                    sink,
                    &Record::Blob {
                        asset_id,
                        base64: B64.encode(bytes),
                    },
                )
                .await?;
            }
            n += 1;
        }
        counts.insert((*table).into(), n);
    }
    send(
        sink,
        &Record::End {
            counts: counts.clone(),
        },
    )
    .await?;
    Ok(counts)
}

/// Env bindings as reads show them: secret references stay, values that look like credentials
/// are masked.
fn redact(table: &str, row: &mut Value) {
    let env = match table {
        "agents" => row.get_mut("adapter_config").and_then(|c| c.get_mut("env")),
        "projects" => row.get_mut("env"),
        _ => None,
    };
    if let Some(env) = env {
        *env = paperclip_secrets::env::redact(env);
    }
}
