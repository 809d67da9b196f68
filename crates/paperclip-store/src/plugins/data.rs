//! A plugin's runtime data: its event outbox (claimed with SKIP LOCKED, deleted on
//! acknowledgement), its scoped key-value state, and its configuration.

use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{Result, StoreError};
use paperclip_postgres::pool::{q, qa, qs};

/// Claims up to `limit` queued events of a plugin (skipping rows another replica holds) on `conn`,
/// which must be inside a transaction; delete each with [`ack_event`] once the worker confirms.
#[tracing::instrument(level = "debug", skip_all)]
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
    .map_err(StoreError::sql("cannot claim plugin events"))
}

/// Removes an acknowledged event from the outbox.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn ack_event(conn: &mut PgConnection, outbox_id: i64) -> Result<()> {
    q("DELETE FROM plugin_event_outbox WHERE id = $1")
        .bind(outbox_id)
        .execute(conn)
        .await
        .map_err(StoreError::sql("cannot acknowledge the event"))?;
    Ok(())
}

/// Counts a failed delivery attempt.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn fail_event(conn: &mut PgConnection, outbox_id: i64) -> Result<()> {
    q("UPDATE plugin_event_outbox SET attempts = attempts + 1 WHERE id = $1")
        .bind(outbox_id)
        .execute(conn)
        .await
        .map_err(StoreError::sql("cannot update the event"))?;
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
#[tracing::instrument(level = "debug", skip_all)]
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
    .map_err(StoreError::sql("cannot read plugin state"))
}

/// `state.set` (upsert).
#[tracing::instrument(level = "debug", skip_all)]
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
    .map_err(StoreError::sql("cannot write plugin state"))?;
    Ok(())
}

/// `state.delete`.
#[tracing::instrument(level = "debug", skip_all)]
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
        .map_err(StoreError::sql("cannot delete plugin state"))?;
    Ok(done.rows_affected() > 0)
}

/// `config.get`: the company's config merged over the instance-wide one.
#[tracing::instrument(level = "debug", skip_all)]
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
        .map_err(StoreError::sql("cannot read plugin config"))?;
    let mut merged = serde_json::Map::new();
    for (_, config) in rows {
        if let Value::Object(m) = config {
            merged.extend(m);
        }
    }
    Ok(Value::Object(merged))
}
