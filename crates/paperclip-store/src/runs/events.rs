//! Run events: a per-run sequence (lifecycle, adapter events, stderr notices) any replica can read.

use super::*;

/// One run event as upstream serializes it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct RunEvent {
    pub id: i64,
    pub company_id: Uuid,
    pub run_id: Uuid,
    pub agent_id: Uuid,
    pub seq: i32,
    pub event_type: String,
    pub stream: Option<String>,
    pub level: Option<String>,
    pub color: Option<String>,
    pub message: Option<String>,
    pub payload: Option<Value>,
    pub created_at: DateTime<Utc>,
}

/// An event to append.
#[derive(Debug, Clone, Default)]
pub struct NewEvent {
    pub event_type: String,
    pub stream: Option<String>,
    pub level: Option<String>,
    pub message: Option<String>,
    pub payload: Option<Value>,
}

impl NewEvent {
    /// A lifecycle event (`event_type: lifecycle`) at `level` with a message.
    pub fn lifecycle(level: &str, message: impl Into<String>) -> Self {
        Self {
            event_type: "lifecycle".into(),
            level: Some(level.into()),
            message: Some(message.into()),
            ..Self::default()
        }
    }
}

/// Appends an event; the sequence comes from the run row, so writers on any replica (the
/// executor, a cancel, recovery) never reuse a number.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn append_event(conn: &mut PgConnection, run_id: Uuid, e: &NewEvent) -> Result<i32> {
    paperclip_postgres::pool::qs(
        // The event, and its live copy (`heartbeat.run.event`), in one statement.
        "WITH s AS (UPDATE heartbeat_runs SET event_seq = event_seq + 1 WHERE id = $1
                    RETURNING company_id, agent_id, event_seq),
              e AS (INSERT INTO heartbeat_run_events (company_id, run_id, agent_id, seq, event_type, stream, level, message, payload)
                    SELECT company_id, $1, agent_id, event_seq, $2, $3, $4, $5, $6 FROM s
                    RETURNING company_id, agent_id, seq, created_at),
              l AS (INSERT INTO live_events (company_id, event_type, payload)
                    SELECT company_id, 'heartbeat.run.event', jsonb_build_object('runId', $1::uuid, 'agentId', agent_id,
                           'seq', seq, 'eventType', $2::text, 'stream', $3::text, 'level', $4::text, 'message', $5::text,
                           'payload', $6::jsonb, 'createdAt', created_at)
                    FROM e RETURNING 1)
         SELECT e.seq FROM e, (SELECT pg_notify('paperclip_live', '')) AS n",
    )
    .bind(run_id)
    .bind(&e.event_type)
    .bind(&e.stream)
    .bind(&e.level)
    .bind(&e.message)
    .bind(&e.payload)
    .fetch_one(conn)
    .await
    .map_err(StoreError::sql("cannot record the run event"))
}

/// Events after `after_seq`, in order.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn events(
    conn: &mut PgConnection,
    run_id: Uuid,
    after_seq: i32,
    limit: i64,
) -> Result<Vec<RunEvent>> {
    qa("SELECT id, company_id, run_id, agent_id, seq, event_type, stream, level, color, message, payload, created_at
        FROM heartbeat_run_events WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3")
    .bind(run_id)
    .bind(after_seq)
    .bind(limit)
    .fetch_all(conn)
    .await
    .map_err(StoreError::sql("cannot read the run events"))
}
