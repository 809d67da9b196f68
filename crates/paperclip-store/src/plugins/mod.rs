//! Installed plugins and their isolated database namespaces.
//!
//! Isolation is enforced by PostgreSQL, not by reading SQL text: each plugin with a `database`
//! block gets a schema and a **login role of its own** that owns only that schema and may only
//! `SELECT` (and reference) the core tables its manifest whitelists. Plugin SQL (migrations and
//! runtime `db.query` / `db.execute`) runs on connections that *log in as that role*, so there is
//! no more-privileged session user to `RESET ROLE` or `SET ROLE` back to; unqualified names
//! resolve in the plugin's schema; `db.query` runs in a read-only transaction; every statement has
//! a timeout; the extended protocol refuses multiple statements. Upstream's statement checks
//! (`paperclip_plugins::sql`) stay as a second wall. The role's password is derived from the
//! secrets master key, so every replica computes the same one and none is stored.
//!
//! When the database user may not create roles (some hosted providers), the namespace falls back
//! to `isolation = 'checked'`: statement checks only, reported by `doctor`.

use std::path::Path;

use chrono::{DateTime, Utc};
use paperclip_plugins::{manifest::Manifest, sql};
use paperclip_secrets::MasterKey;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use crate::{Result, StoreError};
use paperclip_postgres::pool::{q, qa, qs};
use paperclip_postgres::url::quote_ident;

mod data;
mod runtime;
pub use data::{
    ack_event, claim_events, config_get, fail_event, state_delete, state_get, state_set, StateKey,
};
pub use runtime::{
    execute, query, Runtime, MAX_QUERY_BYTES, MAX_QUERY_ROWS, ROLE_CONNECTION_LIMIT,
};

/// A plugin row.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Plugin {
    pub id: Uuid,
    pub plugin_key: String,
    pub version: String,
    pub display_name: Option<String>,
    pub status: String,
    pub install_path: String,
    pub manifest: Value,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A plugin's namespace row.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Namespace {
    pub plugin_id: Uuid,
    pub namespace_name: String,
    pub isolation: String,
    pub role_name: Option<String>,
    pub status: String,
}

const COLUMNS: &str = "id, plugin_key, version, display_name, status, install_path, manifest, last_error, created_at, updated_at";

/// All plugins (uninstalled ones too, with their status).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(conn: &mut PgConnection) -> Result<Vec<Plugin>> {
    qa(&format!(
        "SELECT {COLUMNS} FROM plugins ORDER BY plugin_key"
    ))
    .fetch_all(conn)
    .await
    .map_err(StoreError::sql("cannot list plugins"))
}

/// A plugin by UUID or key.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn get(conn: &mut PgConnection, id_or_key: &str) -> Result<Option<Plugin>> {
    let id = Uuid::parse_str(id_or_key).ok();
    qa(&format!(
        "SELECT {COLUMNS} FROM plugins WHERE id = $1 OR plugin_key = $2"
    ))
    .bind(id)
    .bind(id_or_key)
    .fetch_optional(conn)
    .await
    .map_err(StoreError::sql("cannot read the plugin"))
}

/// The namespace of a plugin, if it has one.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn namespace(conn: &mut PgConnection, plugin_id: Uuid) -> Result<Option<Namespace>> {
    qa("SELECT plugin_id, namespace_name, isolation, role_name, status FROM plugin_database_namespaces WHERE plugin_id = $1")
        .bind(plugin_id)
        .fetch_optional(conn)
        .await
        .map_err(StoreError::sql("cannot read the plugin namespace"))
}

/// How plugin SQL reaches the database: the direct (migration) URL and the master key from which
/// role passwords derive.
pub struct Access<'a> {
    pub url: &'a str,
    pub key: &'a MasterKey,
}

impl Access<'_> {
    fn role_url(&self, role: &str) -> Result<String> {
        let mut u =
            url::Url::parse(self.url).map_err(|e| StoreError::invalid("url", e.to_string()))?;
        u.set_username(role)
            .map_err(|_| StoreError::invalid("url", "cannot set the user"))?;
        u.set_password(Some(&self.key.derive_hex(&format!("plugin-role:{role}"))))
            .map_err(|_| StoreError::invalid("url", "cannot set the password"))?;
        Ok(u.to_string())
    }

    /// A connection logged in as the plugin's role (or, in checked mode, the main user). Public so
    /// tests can prove what PostgreSQL itself refuses, beneath the statement checks.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn connect(&self, ns: &Namespace) -> Result<PgConnection> {
        match (&ns.isolation[..], &ns.role_name) {
            ("role", Some(role)) => {
                Ok(paperclip_postgres::pool::connect_direct(&self.role_url(role)?).await?)
            }
            _ => Ok(paperclip_postgres::pool::connect_direct(self.url).await?),
        }
    }
}

/// Installs (or re-installs) the plugin in `dir`: registers it, creates its namespace and role,
/// and applies its migrations. A plugin whose migrations fail is recorded with status `error`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn install(admin: &mut PgConnection, access: &Access<'_>, dir: &Path) -> Result<Plugin> {
    // The folder comes from the caller (board API or CLI): a missing one is their input error.
    let dir = std::fs::canonicalize(dir).map_err(|e| {
        StoreError::invalid(
            "path",
            format!("cannot find the plugin folder {}: {e}", dir.display()),
        )
    })?;
    let manifest =
        Manifest::load(&dir).map_err(|e| StoreError::invalid("manifest", e.to_string()))?;
    let manifest_json = serde_json::to_value(&manifest).expect("serializable");
    let plugin: Plugin = qa(&format!(
        "INSERT INTO plugins (plugin_key, version, display_name, install_path, manifest, status)
         VALUES ($1, $2, $3, $4, $5, 'installed')
         ON CONFLICT (plugin_key) DO UPDATE SET version = EXCLUDED.version, display_name = EXCLUDED.display_name,
             install_path = EXCLUDED.install_path, manifest = EXCLUDED.manifest, status = 'installed', last_error = NULL
         RETURNING {COLUMNS}"
    ))
    .bind(&manifest.id)
    .bind(&manifest.version)
    .bind(&manifest.display_name)
    .bind(dir.display().to_string())
    .bind(&manifest_json)
    .fetch_one(&mut *admin)
    .await
    .map_err(StoreError::sql("cannot register the plugin"))?;
    prepare(admin, access, &plugin, &manifest, &dir, "installed").await
}

/// Enables a plugin: re-applies its migrations (new files run, changed ones are refused) and marks
/// it `ready`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn enable(
    admin: &mut PgConnection,
    access: &Access<'_>,
    plugin: &Plugin,
) -> Result<Plugin> {
    if plugin.status == "uninstalled" {
        return Err(StoreError::conflict(
            "Plugin is uninstalled; install it again",
            serde_json::json!({"pluginId": plugin.id}),
        ));
    }
    let dir = std::path::PathBuf::from(&plugin.install_path);
    let manifest =
        Manifest::load(&dir).map_err(|e| StoreError::invalid("manifest", e.to_string()))?;
    prepare(admin, access, plugin, &manifest, &dir, "ready").await
}

async fn prepare(
    admin: &mut PgConnection,
    access: &Access<'_>,
    plugin: &Plugin,
    manifest: &Manifest,
    dir: &Path,
    ok_status: &str,
) -> Result<Plugin> {
    let outcome = match &manifest.database {
        Some(db) => match ensure_namespace(admin, access, plugin, manifest).await {
            Ok(ns) => apply_migrations(admin, access, plugin, &ns, &dir.join(&db.migrations_dir))
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        },
        None => Ok(()),
    };
    let (status, error) = match &outcome {
        Ok(()) => (ok_status, None),
        Err(e) => ("error", Some(e.to_string())),
    };
    q("UPDATE plugins SET status = $2, last_error = $3 WHERE id = $1")
        .bind(plugin.id)
        .bind(status)
        .bind(&error)
        .execute(&mut *admin)
        .await
        .map_err(StoreError::sql("cannot update the plugin"))?;
    notify_changed(admin, plugin.id).await?;
    outcome?;
    Ok(get(admin, &plugin.id.to_string()).await?.expect("exists"))
}

/// The channel every server listens on to reconcile its workers at once (not at the next poll).
pub const CHANGED_CHANNEL: &str = "paperclip_plugins_changed";

/// Tells every server that a plugin's status changed (delivered at commit).
async fn notify_changed(conn: &mut PgConnection, plugin_id: Uuid) -> Result<()> {
    q("SELECT pg_notify($1, $2)")
        .bind(CHANGED_CHANNEL)
        .bind(plugin_id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql(
            "cannot notify servers of the plugin change",
        ))?;
    Ok(())
}

/// Records (or clears) a plugin's runtime error; a crashed worker shows as `error`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn set_last_error(
    conn: &mut PgConnection,
    plugin_id: Uuid,
    error: Option<&str>,
) -> Result<()> {
    q("UPDATE plugins SET last_error = $2 WHERE id = $1 AND last_error IS DISTINCT FROM $2")
        .bind(plugin_id)
        .bind(error)
        .execute(conn)
        .await
        .map_err(StoreError::sql("cannot update the plugin"))?;
    Ok(())
}

/// Disables a plugin (its data stays).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn disable(admin: &mut PgConnection, plugin: &Plugin) -> Result<Plugin> {
    q("UPDATE plugins SET status = 'disabled' WHERE id = $1 AND status <> 'uninstalled'")
        .bind(plugin.id)
        .execute(&mut *admin)
        .await
        .map_err(StoreError::sql("cannot disable the plugin"))?;
    notify_changed(admin, plugin.id).await?;
    Ok(get(admin, &plugin.id.to_string()).await?.expect("exists"))
}

/// Uninstalls a plugin: status `uninstalled`, its role can no longer log in. Its schema and data
/// are kept (and included in backups) so a re-install finds them; drop the schema by hand to
/// remove them for good.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn uninstall(admin: &mut PgConnection, plugin: &Plugin) -> Result<Plugin> {
    if let Some(ns) = namespace(admin, plugin.id).await? {
        if let Some(role) = ns.role_name {
            sqlx::raw_sql(&format!("ALTER ROLE {} NOLOGIN", quote_ident(&role)))
                .execute(&mut *admin)
                .await
                .map_err(StoreError::sql("cannot disable the plugin role"))?;
        }
    }
    q("UPDATE plugins SET status = 'uninstalled' WHERE id = $1")
        .bind(plugin.id)
        .execute(&mut *admin)
        .await
        .map_err(StoreError::sql("cannot uninstall the plugin"))?;
    notify_changed(admin, plugin.id).await?;
    Ok(get(admin, &plugin.id.to_string()).await?.expect("exists"))
}

/// Creates (or refreshes) the plugin's schema, role and grants.
async fn ensure_namespace(
    admin: &mut PgConnection,
    access: &Access<'_>,
    plugin: &Plugin,
    manifest: &Manifest,
) -> Result<Namespace> {
    let db = manifest.database.as_ref().expect("has a database block");
    let ns = paperclip_plugins::namespace_name(&manifest.id, db.namespace_slug.as_deref());
    // Roles are cluster-wide: include the database so two instances sharing a cluster never
    // share (and fight over) a plugin role.
    let database: String = qs("SELECT current_database()")
        .fetch_one(&mut *admin)
        .await
        .map_err(StoreError::sql("cannot read the database"))?;
    let role = paperclip_plugins::role_name(&format!("{database}/{}", manifest.id));
    let password = access.key.derive_hex(&format!("plugin-role:{role}"));
    let mut tx = admin
        .begin()
        .await
        .map_err(StoreError::sql("cannot begin"))?;
    let role_ddl = format!(
        "DO $$ BEGIN
           IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
             CREATE ROLE {r} LOGIN NOINHERIT NOCREATEDB NOCREATEROLE CONNECTION LIMIT {limit} PASSWORD '{password}';
           ELSE
             ALTER ROLE {r} LOGIN NOINHERIT NOCREATEDB NOCREATEROLE CONNECTION LIMIT {limit} PASSWORD '{password}';
           END IF;
         END $$;",
        r = quote_ident(&role),
        limit = ROLE_CONNECTION_LIMIT,
    );
    // Role names and passwords here are hex derived by us, never user input.
    let isolation = match sqlx::raw_sql(&role_ddl).execute(&mut *tx).await {
        Ok(_) => "role",
        Err(sqlx::Error::Database(d)) if d.code().as_deref() == Some("42501") => {
            tracing::warn!(
                "the database user may not create roles; plugin {} runs with statement checks only",
                manifest.id
            );
            tx.rollback()
                .await
                .map_err(StoreError::sql("cannot roll back"))?;
            tx = admin
                .begin()
                .await
                .map_err(StoreError::sql("cannot begin"))?;
            "checked"
        }
        Err(e) => return Err(StoreError::sql("cannot create the plugin role")(e)),
    };
    let mut ddl = Vec::new();
    if isolation == "role" {
        let r = quote_ident(&role);
        let me: String = qs("SELECT current_user")
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::sql("cannot read the user"))?;
        ddl.push(format!("GRANT {r} TO {}", quote_ident(&me)));
        ddl.push(format!(
            "CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {r}",
            quote_ident(&ns)
        ));
        ddl.push(format!(
            "REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {r}"
        ));
        for t in &db.core_read_tables {
            ddl.push(format!(
                "GRANT SELECT, REFERENCES ON public.{} TO {r}",
                quote_ident(t)
            ));
        }
        ddl.push(format!(
            "ALTER ROLE {r} SET search_path = {}",
            quote_ident(&ns)
        ));
        ddl.push(format!("ALTER ROLE {r} SET statement_timeout = '30s'"));
    } else {
        ddl.push(format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(&ns)));
    }
    for stmt in ddl {
        sqlx::raw_sql(&stmt)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::sql(format!(
                "cannot prepare the plugin namespace ({stmt})"
            )))?;
    }
    let row: Namespace = qa(
        "INSERT INTO plugin_database_namespaces (plugin_id, plugin_key, namespace_name, isolation, role_name, status)
         VALUES ($1, $2, $3, $4, $5, 'active')
         ON CONFLICT (plugin_id) DO UPDATE SET namespace_name = EXCLUDED.namespace_name, isolation = EXCLUDED.isolation,
             role_name = EXCLUDED.role_name, status = 'active'
         RETURNING plugin_id, namespace_name, isolation, role_name, status",
    )
    .bind(plugin.id)
    .bind(&manifest.id)
    .bind(&ns)
    .bind(isolation)
    .bind((isolation == "role").then_some(&role))
    .fetch_one(&mut *tx)
    .await
    .map_err(StoreError::sql("cannot record the plugin namespace"))?;
    tx.commit()
        .await
        .map_err(StoreError::sql("cannot commit"))?;
    Ok(row)
}

/// What a migration run did.
#[derive(Debug, Default, Serialize, schemars::JsonSchema)]
pub struct Applied {
    pub applied: Vec<String>,
    pub skipped: Vec<String>,
}

fn lock_key(plugin_id: Uuid) -> i64 {
    let h = Sha256::digest(plugin_id.as_bytes());
    i64::from_be_bytes(h[..8].try_into().expect("8 bytes"))
}

/// Applies `migrations_dir/*.sql` in name order, as the plugin's role, each file in a transaction,
/// under an advisory lock: applied and unchanged → skipped; applied and changed → refused; a
/// failure is recorded and marks the namespace `migration_failed`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn apply_migrations(
    admin: &mut PgConnection,
    access: &Access<'_>,
    plugin: &Plugin,
    ns: &Namespace,
    migrations_dir: &Path,
) -> Result<Applied> {
    let mut files: Vec<std::path::PathBuf> = match std::fs::read_dir(migrations_dir) {
        Ok(entries) => entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "sql"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            return Err(paperclip_postgres::DbError::io(
                "cannot read plugin migrations",
                migrations_dir,
            )(e)
            .into())
        }
    };
    files.sort();
    q("SELECT pg_advisory_lock($1)")
        .bind(lock_key(plugin.id))
        .execute(&mut *admin)
        .await
        .map_err(StoreError::sql("cannot lock"))?;
    let result = apply_locked(admin, access, plugin, ns, &files).await;
    let _ = q("SELECT pg_advisory_unlock($1)")
        .bind(lock_key(plugin.id))
        .execute(&mut *admin)
        .await;
    result
}

async fn apply_locked(
    admin: &mut PgConnection,
    access: &Access<'_>,
    plugin: &Plugin,
    ns: &Namespace,
    files: &[std::path::PathBuf],
) -> Result<Applied> {
    let mut out = Applied::default();
    let mut conn: Option<PgConnection> = None;
    for file in files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = std::fs::read_to_string(file)
            .map_err(paperclip_postgres::DbError::io("cannot read", file))?;
        let checksum = hex::encode(Sha256::digest(text.as_bytes()));
        let recorded: Option<(String, String)> = qa("SELECT checksum, status FROM plugin_migrations WHERE plugin_id = $1 AND migration_key = $2")
            .bind(plugin.id)
            .bind(&name)
            .fetch_optional(&mut *admin)
            .await
            .map_err(StoreError::sql("cannot read plugin migrations"))?;
        match recorded {
            Some((c, s)) if s == "applied" && c == checksum => {
                out.skipped.push(name);
                continue;
            }
            Some((c, s)) if s == "applied" => {
                return Err(StoreError::conflict(format!("Plugin migration checksum mismatch for {name}: it changed after it was applied"), serde_json::json!({"migration": name, "recorded": c, "found": checksum})));
            }
            _ => {}
        }
        let run = async {
            if text.trim().is_empty() {
                return Err(format!("Plugin migration {name} is empty"));
            }
            sql::check_migration(&text)?;
            if conn.is_none() {
                conn = Some(access.connect(ns).await.map_err(|e| e.to_string())?);
            }
            let c = conn.as_mut().expect("connected");
            let mut tx = c.begin().await.map_err(|e| e.to_string())?;
            if ns.isolation == "checked" {
                sqlx::raw_sql(&format!(
                    "SET LOCAL search_path = {}",
                    quote_ident(&ns.namespace_name)
                ))
                .execute(&mut *tx)
                .await
                .map_err(|e| e.to_string())?;
            }
            sqlx::raw_sql(&text)
                .execute(&mut *tx)
                .await
                .map_err(|e| e.to_string())?;
            tx.commit().await.map_err(|e| e.to_string())
        };
        match run.await {
            Ok(()) => {
                record(admin, plugin, ns, &name, &checksum, "applied", None).await?;
                out.applied.push(name);
            }
            Err(message) => {
                record(
                    admin,
                    plugin,
                    ns,
                    &name,
                    &checksum,
                    "failed",
                    Some(&message),
                )
                .await?;
                q("UPDATE plugin_database_namespaces SET status = 'migration_failed' WHERE plugin_id = $1")
                    .bind(plugin.id)
                    .execute(&mut *admin)
                    .await
                    .map_err(StoreError::sql("cannot mark the namespace"))?;
                return Err(StoreError::invalid(
                    "migration",
                    format!("plugin migration {name} failed: {message}"),
                ));
            }
        }
    }
    if let Some(c) = conn {
        let _ = c.close().await;
    }
    Ok(out)
}

async fn record(
    admin: &mut PgConnection,
    plugin: &Plugin,
    ns: &Namespace,
    name: &str,
    checksum: &str,
    status: &str,
    error: Option<&str>,
) -> Result<()> {
    q("INSERT INTO plugin_migrations (plugin_id, plugin_key, namespace_name, migration_key, checksum, plugin_version, status, applied_at, error_message)
       VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $7 = 'applied' THEN now() END, $8)
       ON CONFLICT (plugin_id, migration_key) DO UPDATE SET checksum = EXCLUDED.checksum, plugin_version = EXCLUDED.plugin_version,
           status = EXCLUDED.status, applied_at = EXCLUDED.applied_at, error_message = EXCLUDED.error_message")
    .bind(plugin.id)
    .bind(&plugin.plugin_key)
    .bind(&ns.namespace_name)
    .bind(name)
    .bind(checksum)
    .bind(&plugin.version)
    .bind(status)
    .bind(error)
    .execute(admin)
    .await
    .map_err(StoreError::sql("cannot record the plugin migration"))?;
    Ok(())
}
