//! The application connection pool, safe behind transaction poolers.
//!
//! In transaction pooling (pgbouncer `pool_mode=transaction`, Supavisor on port 6543) the pooler
//! may hand each *protocol round trip* outside a transaction to a different server connection.
//! Two things break:
//! - named prepared statements: sqlx names a statement whenever a query is "persistent" (its
//!   default), even with the statement cache disabled, so pooler mode needs both
//!   `statement_cache_capacity(0)` and `.persistent(false)` (the store's [`q`], [`qa`], [`qs`] apply it);
//! - unnamed statements too: sqlx sends Parse+Describe+Sync, then Bind+Execute+Sync. Between the
//!   two Syncs the pooler may switch server connections, so the Bind fails ("unnamed prepared
//!   statement does not exist") or, worse, binds another client's unnamed statement and returns
//!   a wrong answer. Our pgbouncer test caught both. The fix is to pin the server connection:
//!   in pooler mode every [`Session`] is a transaction, which the pooler never splits.
//!
//! So: run statements on a [`Session`] (`db.session()`, then `session.close()`) or in an explicit
//! transaction (`db.pool().begin()`), never on the bare pool.

use std::str::FromStr;

use paperclip_config::PoolSettings;
use std::ops::{Deref, DerefMut};

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{FromRow, PgConnection, PgPool, Postgres, Transaction};

use crate::{DbError, Result};

/// Named (cached) statements are allowed in this process until any pool behind a transaction
/// pooler is opened; from then on every statement is unnamed. Sticky on purpose: a direct pool
/// only loses its statement cache, while the reverse would break the pooled one.
static NAMED_STATEMENTS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Whether statements may be named (prepared and cached) in this process.
pub fn named_statements() -> bool {
    NAMED_STATEMENTS.load(std::sync::atomic::Ordering::Relaxed)
}

/// A query for the store layer, named or not as [`named_statements`] says.
pub fn q(sql: &str) -> sqlx::query::Query<'_, Postgres, PgArguments> {
    sqlx::query(sql).persistent(named_statements())
}

/// A typed query for the store layer.
pub fn qa<T>(sql: &str) -> sqlx::query::QueryAs<'_, Postgres, T, PgArguments>
where
    T: for<'r> FromRow<'r, PgRow>,
{
    sqlx::query_as(sql).persistent(named_statements())
}

/// A scalar query for the store layer.
pub fn qs<T>(sql: &str) -> sqlx::query::QueryScalar<'_, Postgres, T, PgArguments>
where
    (T,): for<'r> FromRow<'r, PgRow>,
{
    sqlx::query_scalar(sql).persistent(named_statements())
}

/// The application's handle on the database: a pool plus how to issue statements on it.
#[derive(Debug, Clone)]
pub struct Db {
    pool: PgPool,
    prepared_statements: bool,
    /// False while the database is known to be down (the embedded postmaster died and is being
    /// restarted): requests then fail at once with [`DbError::Unavailable`] instead of waiting
    /// for the pool's acquire timeout.
    available: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// One connection of its own for health checks, so a saturated pool cannot make a healthy
    /// database look unreachable.
    probe: PgPool,
}

/// How busy the application pool is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolState {
    pub size: u32,
    pub idle: usize,
    pub max: u32,
}

impl PoolState {
    /// Every connection is open and in use: requests are queueing.
    pub fn saturated(&self) -> bool {
        self.size >= self.max && self.idle == 0
    }
}

impl Db {
    /// Connects a pool to `url`. Prepared statements follow `DATABASE_PREPARED_STATEMENTS`, or
    /// are turned off automatically for URLs that are obviously transaction poolers.
    pub async fn connect(url: &str, settings: &PoolSettings) -> Result<Self> {
        let prepared_statements = settings
            .prepared_statements
            .unwrap_or_else(|| !looks_like_transaction_pooler(url));
        let opts = app_options(url, prepared_statements)?;
        if !prepared_statements {
            NAMED_STATEMENTS.store(false, std::sync::atomic::Ordering::Relaxed);
        }
        let probe = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .acquire_timeout(std::time::Duration::from_secs(2))
            .idle_timeout(Some(settings.idle_timeout))
            .connect_lazy_with(opts.clone().application_name("paperclip-health"));
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .min_connections(0)
            .acquire_timeout(settings.connect_timeout)
            .idle_timeout(Some(settings.idle_timeout))
            // A pooler may hand us a reset connection; checking costs a round trip per acquire,
            // so only do it where it matters.
            .test_before_acquire(!prepared_statements)
            .connect_with(opts)
            .await
            .map_err(DbError::sql(format!(
                "cannot connect to {}",
                crate::url::redact(url)
            )))?;
        let mut db = Self::from_pool(pool, prepared_statements);
        db.probe = probe;
        Ok(db)
    }

    /// Wraps an existing pool (tests, tools).
    pub fn from_pool(pool: PgPool, prepared_statements: bool) -> Self {
        Self {
            prepared_statements,
            available: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true)),
            probe: pool.clone(),
            pool,
        }
    }

    /// Size, idle connections and maximum of the application pool.
    pub fn pool_state(&self) -> PoolState {
        PoolState {
            size: self.pool.size(),
            idle: self.pool.num_idle(),
            max: self.pool.options().get_max_connections(),
        }
    }

    /// False while the database is marked down (a restart is under way).
    pub fn is_available(&self) -> bool {
        self.available.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Marks the database down (requests fail fast) or up again.
    pub fn set_available(&self, up: bool) {
        self.available
            .store(up, std::sync::atomic::Ordering::SeqCst);
    }

    fn check_available(&self) -> Result<()> {
        if self.available.load(std::sync::atomic::Ordering::SeqCst) {
            Ok(())
        } else {
            Err(DbError::Unavailable(
                "the database is restarting; retry in a moment".into(),
            ))
        }
    }

    /// Closes the idle connections (after the server restarted, they are all dead) and points
    /// new ones at `url` (the port may have changed).
    pub async fn reconnect_to(&self, url: &str) -> Result<()> {
        let opts = app_options(url, self.prepared_statements)?;
        self.probe
            .set_connect_options(opts.clone().application_name("paperclip-health"));
        self.pool.set_connect_options(opts);
        for _ in 0..self.pool.num_idle() {
            match self.pool.try_acquire() {
                Some(conn) => {
                    let _ = conn.close().await;
                }
                None => break,
            }
        }
        Ok(())
    }

    /// The underlying pool (transactions: `db.pool().begin()`).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Whether named prepared statements are in use (false behind a transaction pooler).
    pub fn prepared_statements(&self) -> bool {
        self.prepared_statements
    }

    /// A scalar query that is safe for this pool's mode.
    pub fn query_scalar<'q, T>(
        &self,
        sql: &'q str,
    ) -> sqlx::query::QueryScalar<'q, Postgres, T, PgArguments>
    where
        (T,): for<'r> FromRow<'r, PgRow>,
    {
        sqlx::query_scalar(sql).persistent(self.prepared_statements && named_statements())
    }

    /// A connection to run statements on: a plain pooled connection, or behind a transaction
    /// pooler a transaction that pins one server connection (see the module docs).
    pub async fn session(&self) -> Result<Session> {
        self.check_available()?;
        let session = if self.prepared_statements {
            Session::Direct(
                self.pool
                    .acquire()
                    .await
                    .map_err(DbError::sql("cannot get a database connection"))?,
            )
        } else {
            Session::Pinned(
                self.pool
                    .begin()
                    .await
                    .map_err(DbError::sql("cannot get a database connection"))?,
            )
        };
        Ok(session)
    }

    /// A write transaction (always a transaction, in every mode). Dropped without `commit` (an
    /// early `?`), it rolls back: handlers need no explicit rollback.
    pub async fn begin(&self) -> Result<Transaction<'static, Postgres>> {
        self.check_available()?;
        self.pool
            .begin()
            .await
            .map_err(DbError::sql("cannot begin a transaction"))
    }

    /// `SELECT 1` with a short timeout on the health connection (not the application pool), in a
    /// transaction like every pooled session (see the module docs on poolers).
    pub async fn ping(&self) -> bool {
        if !self.is_available() {
            return false;
        }
        let check = async {
            let mut tx = self.probe.begin().await.ok()?;
            let v = self
                .query_scalar::<i32>("SELECT 1")
                .fetch_one(&mut *tx)
                .await
                .ok()?;
            tx.commit().await.ok()?;
            Some(v)
        };
        matches!(
            tokio::time::timeout(std::time::Duration::from_secs(3), check).await,
            Ok(Some(1))
        )
    }

    /// Closes every connection (on shutdown, so no backend outlives us).
    pub async fn close(&self) {
        self.probe.close().await;
        self.pool.close().await;
    }
}

/// Connect options of the application's connections (the pool's and the health probe's).
fn app_options(url: &str, prepared_statements: bool) -> Result<PgConnectOptions> {
    let opts = connect_options(url)?.application_name("paperclip");
    Ok(if prepared_statements {
        opts
    } else {
        opts.statement_cache_capacity(0)
    })
}

/// A connection that is safe to run several statements on, whatever the pool mode.
#[derive(Debug)]
pub enum Session {
    /// A pooled connection (direct connections to PostgreSQL).
    Direct(PoolConnection<Postgres>),
    /// A transaction (behind a transaction pooler).
    Pinned(Transaction<'static, Postgres>),
}

impl Session {
    /// Ends the session; in pinned mode commits the transaction. Always call it: a pinned session
    /// dropped without it rolls back.
    pub async fn close(self) -> Result<()> {
        match self {
            Session::Direct(_) => Ok(()),
            Session::Pinned(tx) => tx
                .commit()
                .await
                .map_err(DbError::sql("cannot end the database session")),
        }
    }
}

impl Deref for Session {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        match self {
            Session::Direct(c) => c,
            Session::Pinned(t) => t,
        }
    }
}

impl DerefMut for Session {
    fn deref_mut(&mut self) -> &mut PgConnection {
        match self {
            Session::Direct(c) => c,
            Session::Pinned(t) => t,
        }
    }
}

/// A single direct connection (no pool, unnamed statements): CLI tools and maintenance.
pub async fn connect_direct(url: &str) -> Result<PgConnection> {
    use sqlx::Connection;
    let opts = connect_options(url)?.statement_cache_capacity(0);
    PgConnection::connect_with(&opts)
        .await
        .map_err(DbError::sql(format!(
            "cannot connect to {}",
            crate::url::redact(url)
        )))
}

/// `SHOW server_version` over a one-off connection (status and diagnostics).
pub async fn server_version(url: &str) -> Result<String, String> {
    use sqlx::Connection;
    let opts = connect_options(url).map_err(|e| e.to_string())?;
    let mut conn = PgConnection::connect_with(&opts.statement_cache_capacity(0))
        .await
        .map_err(|e| e.to_string())?;
    let v: Result<String, _> = sqlx::query_scalar("SHOW server_version")
        .persistent(false)
        .fetch_one(&mut conn)
        .await;
    let _ = conn.close().await;
    v.map_err(|e| e.to_string())
}

/// Parses a URL into connect options, dropping the `pgbouncer=true` hint some hosts add (it is
/// not a libpq parameter and sqlx would reject it).
pub fn connect_options(url: &str) -> Result<PgConnectOptions> {
    let cleaned = strip_param(url, "pgbouncer");
    PgConnectOptions::from_str(&cleaned)
        .map(sqlx::ConnectOptions::disable_statement_logging)
        .map_err(|e| DbError::Sql {
            context: format!("invalid database URL {}", crate::url::redact(url)),
            source: e,
        })
}

/// Heuristic for transaction poolers: Supavisor's port 6543, a `pgbouncer=true` parameter, or a
/// host name saying "pooler"/"pgbouncer".
pub fn looks_like_transaction_pooler(url: &str) -> bool {
    let Ok(u) = url::Url::parse(url) else {
        return false;
    };
    let host = u.host_str().unwrap_or_default().to_ascii_lowercase();
    u.port() == Some(6543)
        || host.contains("pooler")
        || host.contains("pgbouncer")
        || u.query_pairs()
            .any(|(k, v)| k == "pgbouncer" && v.eq_ignore_ascii_case("true"))
}

/// The URL without query parameter `name`.
pub fn strip_param(raw: &str, name: &str) -> String {
    let Ok(mut u) = url::Url::parse(raw) else {
        return raw.to_string();
    };
    if !u.query_pairs().any(|(k, _)| k == name) {
        return raw.to_string();
    }
    let kept: Vec<(String, String)> = u
        .query_pairs()
        .filter(|(k, _)| k != name)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if kept.is_empty() {
        u.set_query(None);
    } else {
        u.query_pairs_mut().clear().extend_pairs(kept);
    }
    u.to_string()
}

/// Runs a future that rustc cannot prove `Send` (sqlx's simple-protocol calls trip its
/// higher-ranked lifetime analysis) on a blocking thread of the same runtime, so callers in
/// spawned tasks still get a `Send` future.
pub async fn run_unsend<F, Fut, T>(make: F) -> T
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T>,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(move || tokio::runtime::Handle::current().block_on(make()))
        .await
        .expect("plugin database task panicked")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooler_urls_are_recognised() {
        assert!(looks_like_transaction_pooler(
            "postgres://u:p@aws-0-eu.pooler.supabase.com:6543/postgres"
        ));
        assert!(looks_like_transaction_pooler(
            "postgres://u:p@db:5432/x?pgbouncer=true"
        ));
        assert!(looks_like_transaction_pooler(
            "postgres://u:p@pgbouncer.internal/x"
        ));
        assert!(!looks_like_transaction_pooler(
            "postgres://u:p@localhost:5432/x"
        ));
    }

    #[test]
    fn the_pgbouncer_hint_is_removed_before_parsing() {
        assert!(connect_options("postgres://u:p@h:6543/x?pgbouncer=true&sslmode=disable").is_ok());
        assert_eq!(
            strip_param("postgres://u:p@h/x?pgbouncer=true", "pgbouncer"),
            "postgres://u:p@h/x"
        );
    }
}
