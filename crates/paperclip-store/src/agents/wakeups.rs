//! The wakeup queue: requests with their reason, deduplicated by idempotency key.

use super::*;

/// A queued wakeup request.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Wakeup {
    pub id: Uuid,
    pub company_id: Uuid,
    pub agent_id: Uuid,
    pub source: String,
    pub trigger_detail: Option<String>,
    pub reason: Option<String>,
    pub payload: Option<Value>,
    pub idempotency_key: Option<String>,
    pub status: String,
    pub created_at: DateTime<Utc>,
}

/// What a wakeup asks for.
#[derive(Debug, Clone)]
pub struct NewWakeup {
    pub source: String,
    pub trigger_detail: Option<String>,
    pub reason: Option<String>,
    pub payload: Option<Value>,
    pub idempotency_key: Option<String>,
}

/// Queues a wakeup; a request whose idempotency key was already used returns the existing one
/// (`false`) instead of queueing twice, even when both arrive at once.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn request_wakeup(
    conn: &mut PgConnection,
    actor: &Actor,
    agent: &Agent,
    w: &NewWakeup,
) -> Result<(Wakeup, bool)> {
    const COLS: &str = "id, company_id, agent_id, source, trigger_detail, reason, payload, idempotency_key, status, created_at";
    let inserted: Option<Wakeup> = qa(&format!(
        "INSERT INTO agent_wakeup_requests (company_id, agent_id, source, trigger_detail, reason, payload, idempotency_key,
                                            requested_by_actor_type, requested_by_actor_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (agent_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
         RETURNING {COLS}"
    ))
    .bind(agent.company_id)
    .bind(agent.id)
    .bind(&w.source)
    .bind(&w.trigger_detail)
    .bind(&w.reason)
    .bind(&w.payload)
    .bind(&w.idempotency_key)
    .bind(actor.actor_type())
    .bind(actor.actor_id())
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot queue the wakeup"))?;
    match inserted {
        Some(row) => {
            activity::record(conn, actor, Entry {
                company_id: agent.company_id,
                action: "agent.wakeup_requested",
                entity_type: "agent",
                entity_id: agent.id.to_string(),
                details: json!({"wakeupRequestId": row.id, "source": w.source, "reason": w.reason}),
            })
            .await?;
            Ok((row, true))
        }
        None => {
            let existing: Wakeup = qa(&format!(
                "SELECT {COLS} FROM agent_wakeup_requests WHERE agent_id = $1 AND idempotency_key = $2"
            ))
            .bind(agent.id)
            .bind(&w.idempotency_key)
            .fetch_one(conn)
            .await
            .map_err(StoreError::sql("cannot read the wakeup"))?;
            Ok((existing, false))
        }
    }
}
