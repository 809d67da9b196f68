//! Plugin SQL at run time: `db.query` and `db.execute`, logged in as the plugin's own role,
//! in a transaction with a statement timeout and the namespace as search path, with the result
//! caps applied inside PostgreSQL.

use serde_json::Value;
use sqlx::{Connection, PgConnection};

use super::{Access, Namespace};
use crate::{Result, StoreError};
use paperclip_plugins::sql;
use paperclip_postgres::url::quote_ident;

/// Parameters travel as text; the SQL casts them where a type matters (`$1::uuid`).
fn text_params(params: &[Value]) -> Vec<Option<String>> {
    params
        .iter()
        .map(|p| match p {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        })
        .collect()
}

/// Opens the plugin's transaction on `conn` with plain statements (a timeout, the namespace as
/// search path, read-only for queries).
async fn begin_runtime(conn: &mut PgConnection, ns: &Namespace, read_only: bool) -> Result<()> {
    if ns.status != "active" {
        return Err(StoreError::invalid(
            "namespace",
            "Plugin database namespace is not active",
        ));
    }
    let setup = format!(
        "BEGIN{}; SET LOCAL statement_timeout = '5s'; SET LOCAL search_path = {};",
        if read_only { " READ ONLY" } else { "" },
        quote_ident(&ns.namespace_name)
    );
    sqlx::raw_sql(&setup)
        .execute(conn)
        .await
        .map_err(StoreError::sql("cannot prepare the plugin transaction"))?;
    Ok(())
}

fn plugin_error(what: &str, e: sqlx::Error) -> StoreError {
    StoreError::forbidden(format!(
        "{what}: {}",
        e.as_database_error()
            .map_or_else(|| e.to_string(), |d| d.message().to_string())
    ))
}

/// Everything a runtime call needs, owned, so the call's future is `'static` and `Send`.
#[derive(Debug, Clone)]
pub struct Runtime {
    url: String,
    ns: Namespace,
}

impl Access<'_> {
    /// The runtime handle of a namespace: connections log in as the plugin's role.
    pub fn runtime(&self, ns: &Namespace) -> Result<Runtime> {
        let url = match (&ns.isolation[..], &ns.role_name) {
            ("role", Some(role)) => self.role_url(role)?,
            _ => self.url.to_string(),
        };
        Ok(Runtime {
            url,
            ns: ns.clone(),
        })
    }
}

impl Runtime {
    /// `db.query`: one SELECT, read-only, as the plugin's role; rows as JSON objects.
    pub fn query(
        self,
        sql_text: String,
        params: Vec<Value>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<Value>>> + Send>> {
        Box::pin(paperclip_postgres::pool::run_unsend(move || async move {
            query_inner(&self.url, &self.ns, &sql_text, &params).await
        }))
    }

    /// `db.execute`: one INSERT/UPDATE/DELETE as the plugin's role → rows affected.
    pub fn execute(
        self,
        sql_text: String,
        params: Vec<Value>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<u64>> + Send>> {
        Box::pin(paperclip_postgres::pool::run_unsend(move || async move {
            execute_inner(&self.url, &self.ns, &sql_text, &params).await
        }))
    }
}

/// `db.query` (see [`Runtime::query`]).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn query(
    access: &Access<'_>,
    ns: &Namespace,
    sql_text: &str,
    params: &[Value],
) -> Result<Vec<Value>> {
    access
        .runtime(ns)?
        .query(sql_text.to_string(), params.to_vec())
        .await
}

/// `db.execute` (see [`Runtime::execute`]).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn execute(
    access: &Access<'_>,
    ns: &Namespace,
    sql_text: &str,
    params: &[Value],
) -> Result<u64> {
    access
        .runtime(ns)?
        .execute(sql_text.to_string(), params.to_vec())
        .await
}

/// Connections a plugin's role may hold at once, across every server (PostgreSQL enforces it).
pub const ROLE_CONNECTION_LIMIT: u32 = 8;

/// Most rows one `db.query` may return.
pub const MAX_QUERY_ROWS: i64 = 10_000;

/// Most bytes (as JSON text) one `db.query` may return.
pub const MAX_QUERY_BYTES: i64 = 8 << 20;

async fn query_inner(
    url: &str,
    ns: &Namespace,
    sql_text: &str,
    params: &[Value],
) -> Result<Vec<Value>> {
    sql::check_query(sql_text).map_err(StoreError::forbidden)?;
    let mut conn = paperclip_postgres::pool::connect_direct(url).await?;
    begin_runtime(&mut conn, ns, true).await?;
    // The caps are applied inside PostgreSQL: past either one, no row leaves the database, so
    // a plugin cannot grow this server's memory with a huge result.
    let wrapped = format!(
        "WITH r AS MATERIALIZED (SELECT to_jsonb(q) AS j FROM ({}) q LIMIT {}), \
              s AS (SELECT count(*) AS n, coalesce(sum(octet_length(j::text)), 0) AS bytes FROM r) \
         SELECT s.n, s.bytes, CASE WHEN s.n <= {MAX_QUERY_ROWS} AND s.bytes <= {MAX_QUERY_BYTES} \
                THEN (SELECT coalesce(jsonb_agg(j), '[]'::jsonb) FROM r) END FROM s",
        sql_text.trim().trim_end_matches(';'),
        MAX_QUERY_ROWS + 1,
    );
    let mut query = sqlx::query_as::<_, (i64, i64, Option<Value>)>(&wrapped).persistent(false);
    for p in text_params(params) {
        query = query.bind(p);
    }
    let result = query.fetch_one(&mut conn).await;
    let _ = sqlx::raw_sql("ROLLBACK").execute(&mut conn).await;
    let _ = conn.close().await;
    let (n, bytes, rows) = result.map_err(|e| plugin_error("plugin query failed", e))?;
    match rows {
        Some(rows) => Ok(rows.as_array().cloned().unwrap_or_default()),
        None if n > MAX_QUERY_ROWS => Err(StoreError::forbidden(format!(
            "plugin query returns more than {MAX_QUERY_ROWS} rows; add a LIMIT or page with OFFSET"
        ))),
        None => Err(StoreError::forbidden(format!(
            "plugin query returns {} MiB, more than {} MiB; select fewer columns or rows",
            bytes >> 20,
            MAX_QUERY_BYTES >> 20
        ))),
    }
}

async fn execute_inner(url: &str, ns: &Namespace, sql_text: &str, params: &[Value]) -> Result<u64> {
    sql::check_execute(sql_text).map_err(StoreError::forbidden)?;
    let mut conn = paperclip_postgres::pool::connect_direct(url).await?;
    begin_runtime(&mut conn, ns, false).await?;
    let mut query = sqlx::query(sql_text.trim().trim_end_matches(';')).persistent(false);
    for p in text_params(params) {
        query = query.bind(p);
    }
    let done = query.execute(&mut conn).await;
    let finish = if done.is_ok() { "COMMIT" } else { "ROLLBACK" };
    let ended = sqlx::raw_sql(finish).execute(&mut conn).await;
    let _ = conn.close().await;
    let done = done.map_err(|e| plugin_error("plugin statement failed", e))?;
    ended.map_err(|e| plugin_error("plugin statement failed", e))?;
    Ok(done.rows_affected())
}
