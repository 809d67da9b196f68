//! The append-only audit log.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::Actor;
use crate::{Result, StoreError};
use paperclip_postgres::pool::q;

/// One activity row, as upstream serializes it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    pub id: Uuid,
    pub company_id: Uuid,
    pub actor_type: String,
    pub actor_id: String,
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    pub agent_id: Option<Uuid>,
    pub run_id: Option<Uuid>,
    #[sqlx(skip)]
    pub responsible_user_id: Option<String>,
    pub details: Option<Value>,
    pub created_at: DateTime<Utc>,
}

/// What is being recorded.
pub struct Entry<'a> {
    pub company_id: Uuid,
    pub action: &'a str,
    pub entity_type: &'a str,
    pub entity_id: String,
    pub details: Value,
}

/// Writes one activity row on `conn` (the mutation's transaction).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn record(conn: &mut PgConnection, actor: &Actor, mut e: Entry<'_>) -> Result<()> {
    // Plugin mutations name the plugin and whoever triggered it.
    if let crate::ActorKind::Plugin {
        plugin_id,
        plugin_key,
        initiating_type,
        initiating_id,
        initiating_agent_id,
    } = &actor.kind
    {
        if !e.details.is_object() {
            e.details = serde_json::json!({});
        }
        let d = e.details.as_object_mut().expect("object");
        d.insert("sourcePluginId".into(), serde_json::json!(plugin_id));
        d.insert("sourcePluginKey".into(), serde_json::json!(plugin_key));
        d.insert(
            "initiatingActorType".into(),
            serde_json::json!(initiating_type),
        );
        d.insert("initiatingActorId".into(), serde_json::json!(initiating_id));
        d.insert(
            "initiatingAgentId".into(),
            serde_json::json!(initiating_agent_id),
        );
        d.insert("initiatingRunId".into(), serde_json::json!(actor.run_id));
    }
    // The activity row and, in the same statement, one outbox row per ready plugin subscribed to
    // this action (manifest `events` plus the `events.subscribe` capability).
    // ... and the live event every connected board sees (`activity.logged`), announced at commit.
    q("WITH a AS (
           INSERT INTO activity_log (company_id, actor_type, actor_id, action, entity_type, entity_id, agent_id, run_id, details)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id, created_at
       ), o AS (
           INSERT INTO plugin_event_outbox (plugin_id, activity_id)
           SELECT p.id, a.id FROM a, plugins p
           WHERE p.status = 'ready' AND p.manifest->'events' ? $4 AND p.manifest->'capabilities' ? 'events.subscribe'
           RETURNING 1
       ), l AS (
           INSERT INTO live_events (company_id, event_type, payload)
           SELECT $1, 'activity.logged', jsonb_build_object('id', a.id, 'actorType', $2::text, 'actorId', $3::text,
                  'action', $4::text, 'entityType', $5::text, 'entityId', $6::text, 'agentId', $7::uuid, 'runId', $8::uuid,
                  'details', $9::jsonb, 'createdAt', a.created_at)
           FROM a RETURNING 1
       )
       SELECT pg_notify('paperclip_live', '')")
    .bind(e.company_id)
    .bind(actor.actor_type())
    .bind(actor.actor_id())
    .bind(e.action)
    .bind(e.entity_type)
    .bind(e.entity_id)
    .bind(actor.agent_id())
    .bind(actor.run_id)
    .bind(e.details)
    .execute(conn)
    .await
    .map_err(StoreError::sql("cannot write the activity log"))?;
    Ok(())
}

/// Filters of `GET /companies/:id/activity`.
#[derive(Debug, Default)]
pub struct Filter {
    pub agent_id: Option<Uuid>,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub action: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// Newest first. Like the issue list, the SQL names only the filters in use, so each shape is
/// planned against its index instead of a generic full scan.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(conn: &mut PgConnection, company_id: Uuid, f: &Filter) -> Result<Vec<Activity>> {
    let mut qb = sqlx::QueryBuilder::<sqlx::Postgres>::new(
        "SELECT id, company_id, actor_type, actor_id, action, entity_type, entity_id, agent_id, run_id, details, created_at
         FROM activity_log WHERE company_id = ",
    );
    qb.push_bind(company_id);
    if let Some(a) = f.agent_id {
        qb.push(" AND agent_id = ").push_bind(a);
    }
    if let Some(t) = &f.entity_type {
        qb.push(" AND entity_type = ").push_bind(t.clone());
    }
    if let Some(e) = &f.entity_id {
        qb.push(" AND entity_id = ").push_bind(e.clone());
    }
    if let Some(a) = &f.action {
        qb.push(" AND action = ").push_bind(a.clone());
    }
    qb.push(" ORDER BY created_at DESC, id DESC LIMIT ")
        .push_bind(f.limit)
        .push(" OFFSET ")
        .push_bind(f.offset);
    let mut rows: Vec<Activity> = qb
        .build_query_as()
        .persistent(paperclip_postgres::pool::named_statements())
        .fetch_all(conn)
        .await
        .map_err(StoreError::sql("cannot list activity"))?;
    for r in &mut rows {
        r.responsible_user_id = Some("local-board".into());
    }
    Ok(rows)
}
