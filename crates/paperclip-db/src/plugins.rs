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

use crate::backup::quote_ident;
use crate::pool::{q, qa, qs};
use crate::{DbError, Result};

/// A plugin row.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
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
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
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
pub async fn list(conn: &mut PgConnection) -> Result<Vec<Plugin>> {
    qa(&format!(
        "SELECT {COLUMNS} FROM plugins ORDER BY plugin_key"
    ))
    .fetch_all(conn)
    .await
    .map_err(DbError::sql("cannot list plugins"))
}

/// A plugin by UUID or key.
pub async fn get(conn: &mut PgConnection, id_or_key: &str) -> Result<Option<Plugin>> {
    let id = Uuid::parse_str(id_or_key).ok();
    qa(&format!(
        "SELECT {COLUMNS} FROM plugins WHERE id = $1 OR plugin_key = $2"
    ))
    .bind(id)
    .bind(id_or_key)
    .fetch_optional(conn)
    .await
    .map_err(DbError::sql("cannot read the plugin"))
}

/// The namespace of a plugin, if it has one.
pub async fn namespace(conn: &mut PgConnection, plugin_id: Uuid) -> Result<Option<Namespace>> {
    qa("SELECT plugin_id, namespace_name, isolation, role_name, status FROM plugin_database_namespaces WHERE plugin_id = $1")
        .bind(plugin_id)
        .fetch_optional(conn)
        .await
        .map_err(DbError::sql("cannot read the plugin namespace"))
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
            url::Url::parse(self.url).map_err(|e| DbError::invalid("url", e.to_string()))?;
        u.set_username(role)
            .map_err(|_| DbError::invalid("url", "cannot set the user"))?;
        u.set_password(Some(&self.key.derive_hex(&format!("plugin-role:{role}"))))
            .map_err(|_| DbError::invalid("url", "cannot set the password"))?;
        Ok(u.to_string())
    }

    /// A connection logged in as the plugin's role (or, in checked mode, the main user). Public so
    /// tests can prove what PostgreSQL itself refuses, beneath the statement checks.
    pub async fn connect(&self, ns: &Namespace) -> Result<PgConnection> {
        match (&ns.isolation[..], &ns.role_name) {
            ("role", Some(role)) => crate::pool::connect_direct(&self.role_url(role)?).await,
            _ => crate::pool::connect_direct(self.url).await,
        }
    }
}

/// Installs (or re-installs) the plugin in `dir`: registers it, creates its namespace and role,
/// and applies its migrations. A plugin whose migrations fail is recorded with status `error`.
pub async fn install(admin: &mut PgConnection, access: &Access<'_>, dir: &Path) -> Result<Plugin> {
    // The folder comes from the caller (board API or CLI): a missing one is their input error.
    let dir = std::fs::canonicalize(dir).map_err(|e| {
        DbError::invalid(
            "path",
            format!("cannot find the plugin folder {}: {e}", dir.display()),
        )
    })?;
    let manifest = Manifest::load(&dir).map_err(|e| DbError::invalid("manifest", e.to_string()))?;
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
    .map_err(DbError::sql("cannot register the plugin"))?;
    prepare(admin, access, &plugin, &manifest, &dir, "installed").await
}

/// Enables a plugin: re-applies its migrations (new files run, changed ones are refused) and marks
/// it `ready`.
pub async fn enable(
    admin: &mut PgConnection,
    access: &Access<'_>,
    plugin: &Plugin,
) -> Result<Plugin> {
    if plugin.status == "uninstalled" {
        return Err(DbError::Conflict {
            message: "Plugin is uninstalled; install it again".into(),
            details: serde_json::json!({"pluginId": plugin.id}),
        });
    }
    let dir = std::path::PathBuf::from(&plugin.install_path);
    let manifest = Manifest::load(&dir).map_err(|e| DbError::invalid("manifest", e.to_string()))?;
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
        .map_err(DbError::sql("cannot update the plugin"))?;
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
        .map_err(DbError::sql("cannot notify servers of the plugin change"))?;
    Ok(())
}

/// Records (or clears) a plugin's runtime error; a crashed worker shows as `error`.
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
        .map_err(DbError::sql("cannot update the plugin"))?;
    Ok(())
}

/// Claims up to `limit` queued events of a plugin (skipping rows another replica holds) on `conn`,
/// which must be inside a transaction; delete each with [`ack_event`] once the worker confirms.
pub async fn claim_events(
    conn: &mut PgConnection,
    plugin_id: Uuid,
    limit: i64,
) -> Result<Vec<(i64, Value)>> {
    qa("SELECT o.id, jsonb_build_object('id', a.id, 'type', a.action, 'companyId', a.company_id, 'entityType', a.entity_type,
               'entityId', a.entity_id, 'actorType', a.actor_type, 'actorId', a.actor_id, 'details', a.details,
               'occurredAt', a.created_at)
        FROM plugin_event_outbox o JOIN activity_log a ON a.id = o.activity_id
        WHERE o.plugin_id = $1 ORDER BY o.id LIMIT $2 FOR UPDATE OF o SKIP LOCKED")
    .bind(plugin_id)
    .bind(limit)
    .fetch_all(conn)
    .await
    .map_err(DbError::sql("cannot claim plugin events"))
}

/// Removes an acknowledged event from the outbox.
pub async fn ack_event(conn: &mut PgConnection, outbox_id: i64) -> Result<()> {
    q("DELETE FROM plugin_event_outbox WHERE id = $1")
        .bind(outbox_id)
        .execute(conn)
        .await
        .map_err(DbError::sql("cannot acknowledge the event"))?;
    Ok(())
}

/// Counts a failed delivery attempt.
pub async fn fail_event(conn: &mut PgConnection, outbox_id: i64) -> Result<()> {
    q("UPDATE plugin_event_outbox SET attempts = attempts + 1 WHERE id = $1")
        .bind(outbox_id)
        .execute(conn)
        .await
        .map_err(DbError::sql("cannot update the event"))?;
    Ok(())
}

/// Where a state value lives.
#[derive(Debug, Clone)]
pub struct StateKey {
    pub scope_kind: String,
    pub scope_id: Option<String>,
    pub namespace: String,
    pub key: String,
}

/// `state.get`.
pub async fn state_get(
    conn: &mut PgConnection,
    plugin_id: Uuid,
    k: &StateKey,
) -> Result<Option<Value>> {
    qs("SELECT value FROM plugin_state WHERE plugin_id = $1 AND scope_kind = $2 AND scope_id IS NOT DISTINCT FROM $3
        AND namespace = $4 AND state_key = $5")
    .bind(plugin_id)
    .bind(&k.scope_kind)
    .bind(&k.scope_id)
    .bind(&k.namespace)
    .bind(&k.key)
    .fetch_optional(conn)
    .await
    .map_err(DbError::sql("cannot read plugin state"))
}

/// `state.set` (upsert).
pub async fn state_set(
    conn: &mut PgConnection,
    plugin_id: Uuid,
    k: &StateKey,
    value: &Value,
) -> Result<()> {
    q("INSERT INTO plugin_state (plugin_id, scope_kind, scope_id, namespace, state_key, value) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (plugin_id, scope_kind, scope_id, namespace, state_key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()")
    .bind(plugin_id)
    .bind(&k.scope_kind)
    .bind(&k.scope_id)
    .bind(&k.namespace)
    .bind(&k.key)
    .bind(value)
    .execute(conn)
    .await
    .map_err(DbError::sql("cannot write plugin state"))?;
    Ok(())
}

/// `state.delete`.
pub async fn state_delete(conn: &mut PgConnection, plugin_id: Uuid, k: &StateKey) -> Result<bool> {
    let done = q("DELETE FROM plugin_state WHERE plugin_id = $1 AND scope_kind = $2 AND scope_id IS NOT DISTINCT FROM $3
                  AND namespace = $4 AND state_key = $5")
        .bind(plugin_id)
        .bind(&k.scope_kind)
        .bind(&k.scope_id)
        .bind(&k.namespace)
        .bind(&k.key)
        .execute(conn)
        .await
        .map_err(DbError::sql("cannot delete plugin state"))?;
    Ok(done.rows_affected() > 0)
}

/// `config.get`: the company's config merged over the instance-wide one.
pub async fn config_get(
    conn: &mut PgConnection,
    plugin_id: Uuid,
    company_id: Option<Uuid>,
) -> Result<Value> {
    let rows: Vec<(Option<Uuid>, Value)> = qa("SELECT company_id, config FROM plugin_config WHERE plugin_id = $1 AND (company_id IS NULL OR company_id = $2)
                                               ORDER BY company_id NULLS FIRST")
        .bind(plugin_id)
        .bind(company_id)
        .fetch_all(conn)
        .await
        .map_err(DbError::sql("cannot read plugin config"))?;
    let mut merged = serde_json::Map::new();
    for (_, config) in rows {
        if let Value::Object(m) = config {
            merged.extend(m);
        }
    }
    Ok(Value::Object(merged))
}

/// Disables a plugin (its data stays).
pub async fn disable(admin: &mut PgConnection, plugin: &Plugin) -> Result<Plugin> {
    q("UPDATE plugins SET status = 'disabled' WHERE id = $1 AND status <> 'uninstalled'")
        .bind(plugin.id)
        .execute(&mut *admin)
        .await
        .map_err(DbError::sql("cannot disable the plugin"))?;
    notify_changed(admin, plugin.id).await?;
    Ok(get(admin, &plugin.id.to_string()).await?.expect("exists"))
}

/// Uninstalls a plugin: status `uninstalled`, its role can no longer log in. Its schema and data
/// are kept (and included in backups) so a re-install finds them; drop the schema by hand to
/// remove them for good.
pub async fn uninstall(admin: &mut PgConnection, plugin: &Plugin) -> Result<Plugin> {
    if let Some(ns) = namespace(admin, plugin.id).await? {
        if let Some(role) = ns.role_name {
            sqlx::raw_sql(&format!("ALTER ROLE {} NOLOGIN", quote_ident(&role)))
                .execute(&mut *admin)
                .await
                .map_err(DbError::sql("cannot disable the plugin role"))?;
        }
    }
    q("UPDATE plugins SET status = 'uninstalled' WHERE id = $1")
        .bind(plugin.id)
        .execute(&mut *admin)
        .await
        .map_err(DbError::sql("cannot uninstall the plugin"))?;
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
        .map_err(DbError::sql("cannot read the database"))?;
    let role = paperclip_plugins::role_name(&format!("{database}/{}", manifest.id));
    let password = access.key.derive_hex(&format!("plugin-role:{role}"));
    let mut tx = admin.begin().await.map_err(DbError::sql("cannot begin"))?;
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
                .map_err(DbError::sql("cannot roll back"))?;
            tx = admin.begin().await.map_err(DbError::sql("cannot begin"))?;
            "checked"
        }
        Err(e) => return Err(DbError::sql("cannot create the plugin role")(e)),
    };
    let mut ddl = Vec::new();
    if isolation == "role" {
        let r = quote_ident(&role);
        let me: String = qs("SELECT current_user")
            .fetch_one(&mut *tx)
            .await
            .map_err(DbError::sql("cannot read the user"))?;
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
            .map_err(DbError::sql(format!(
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
    .map_err(DbError::sql("cannot record the plugin namespace"))?;
    tx.commit().await.map_err(DbError::sql("cannot commit"))?;
    Ok(row)
}

/// What a migration run did.
#[derive(Debug, Default, Serialize)]
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
        Err(e) => return Err(DbError::io("cannot read plugin migrations", migrations_dir)(e)),
    };
    files.sort();
    q("SELECT pg_advisory_lock($1)")
        .bind(lock_key(plugin.id))
        .execute(&mut *admin)
        .await
        .map_err(DbError::sql("cannot lock"))?;
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
        let text = std::fs::read_to_string(file).map_err(DbError::io("cannot read", file))?;
        let checksum = hex::encode(Sha256::digest(text.as_bytes()));
        let recorded: Option<(String, String)> = qa("SELECT checksum, status FROM plugin_migrations WHERE plugin_id = $1 AND migration_key = $2")
            .bind(plugin.id)
            .bind(&name)
            .fetch_optional(&mut *admin)
            .await
            .map_err(DbError::sql("cannot read plugin migrations"))?;
        match recorded {
            Some((c, s)) if s == "applied" && c == checksum => {
                out.skipped.push(name);
                continue;
            }
            Some((c, s)) if s == "applied" => {
                return Err(DbError::Conflict {
                    message: format!("Plugin migration checksum mismatch for {name}: it changed after it was applied"),
                    details: serde_json::json!({"migration": name, "recorded": c, "found": checksum}),
                });
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
                    .map_err(DbError::sql("cannot mark the namespace"))?;
                return Err(DbError::invalid(
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
    .map_err(DbError::sql("cannot record the plugin migration"))?;
    Ok(())
}

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
        return Err(DbError::invalid(
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
        .map_err(DbError::sql("cannot prepare the plugin transaction"))?;
    Ok(())
}

fn plugin_error(what: &str, e: sqlx::Error) -> DbError {
    DbError::Forbidden(format!(
        "{what}: {}",
        e.as_database_error()
            .map(|d| d.message().to_string())
            .unwrap_or_else(|| e.to_string())
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
        Box::pin(run_unsend(move || async move {
            query_inner(&self.url, &self.ns, &sql_text, &params).await
        }))
    }

    /// `db.execute`: one INSERT/UPDATE/DELETE as the plugin's role → rows affected.
    pub fn execute(
        self,
        sql_text: String,
        params: Vec<Value>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<u64>> + Send>> {
        Box::pin(run_unsend(move || async move {
            execute_inner(&self.url, &self.ns, &sql_text, &params).await
        }))
    }
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

/// `db.query` (see [`Runtime::query`]).
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
    sql::check_query(sql_text).map_err(DbError::Forbidden)?;
    let mut conn = crate::pool::connect_direct(url).await?;
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
        None if n > MAX_QUERY_ROWS => Err(DbError::Forbidden(format!(
            "plugin query returns more than {MAX_QUERY_ROWS} rows; add a LIMIT or page with OFFSET"
        ))),
        None => Err(DbError::Forbidden(format!(
            "plugin query returns {} MiB, more than {} MiB; select fewer columns or rows",
            bytes >> 20,
            MAX_QUERY_BYTES >> 20
        ))),
    }
}

async fn execute_inner(url: &str, ns: &Namespace, sql_text: &str, params: &[Value]) -> Result<u64> {
    sql::check_execute(sql_text).map_err(DbError::Forbidden)?;
    let mut conn = crate::pool::connect_direct(url).await?;
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
