//! Live events: written in the changing transaction, announced on [`CHANNEL`] at commit, read by
//! every server in one order that never skips a late commit (see the migration).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{Result, StoreError};
use paperclip_postgres::pool::{q, qa};

/// Announced (empty payload) when events were committed.
pub const CHANNEL: &str = "paperclip_live";

/// Where a reader stands: after `(xid, seq)`. Clients see it as `"<xid>-<seq>"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    pub xid: i64,
    pub seq: i64,
}

impl Cursor {
    pub fn parse(text: &str) -> Option<Self> {
        let (x, s) = text.split_once('-')?;
        Some(Self {
            xid: x.parse().ok()?,
            seq: s.parse().ok()?,
        })
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.xid, self.seq)
    }
}

/// One live event as clients receive it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LiveEvent {
    /// Resume after this with `?after=`.
    pub cursor: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub company_id: Uuid,
    pub payload: Value,
    pub created_at: DateTime<Utc>,
}

/// Records an event in the caller's transaction.
pub async fn publish(
    conn: &mut PgConnection,
    company_id: Uuid,
    event_type: &str,
    payload: Value,
) -> Result<()> {
    q("WITH e AS (INSERT INTO live_events (company_id, event_type, payload) VALUES ($1, $2, $3) RETURNING 1)
       SELECT pg_notify($4, '') FROM e")
    .bind(company_id)
    .bind(event_type)
    .bind(payload)
    .bind(CHANNEL)
    .execute(conn)
    .await
    .map_err(StoreError::sql("cannot publish the live event"))?;
    Ok(())
}

/// Events after `after` (one company's, or all), oldest first, only from finished transactions.
pub async fn read(
    conn: &mut PgConnection,
    after: Cursor,
    company_id: Option<Uuid>,
    limit: i64,
) -> Result<Vec<(Cursor, LiveEvent)>> {
    let rows: Vec<(i64, i64, Uuid, String, Value, DateTime<Utc>)> = qa(
        "SELECT xid::text::bigint, seq, company_id, event_type, payload, created_at FROM live_events
         WHERE (xid, seq) > ($1::text::xid8, $2)
           AND xid < pg_snapshot_xmin(pg_current_snapshot())
           AND ($3::uuid IS NULL OR company_id = $3)
         ORDER BY xid, seq LIMIT $4",
    )
    .bind(after.xid)
    .bind(after.seq)
    .bind(company_id)
    .bind(limit)
    .fetch_all(conn)
    .await
    .map_err(StoreError::sql("cannot read live events"))?;
    Ok(rows
        .into_iter()
        .map(|(xid, seq, company_id, event_type, payload, created_at)| {
            let c = Cursor { xid, seq };
            (
                c,
                LiveEvent {
                    cursor: c.to_string(),
                    event_type,
                    company_id,
                    payload,
                    created_at,
                },
            )
        })
        .collect())
}

/// The cursor of "now": everything already finished is behind it.
pub async fn head(conn: &mut PgConnection) -> Result<Cursor> {
    let (xid, seq): (i64, i64) = qa(
        "SELECT COALESCE(max(xid::text::bigint), 0), COALESCE(max(seq), 0) FROM live_events
         WHERE xid < pg_snapshot_xmin(pg_current_snapshot())
           AND xid = (SELECT max(xid) FROM live_events WHERE xid < pg_snapshot_xmin(pg_current_snapshot()))",
    )
    .fetch_one(conn)
    .await
    .map_err(StoreError::sql("cannot read the live head"))?;
    Ok(Cursor { xid, seq })
}

/// Forgets events older than `days` (clients further behind reload instead of resuming).
pub async fn prune(conn: &mut PgConnection, days: i32) -> Result<u64> {
    Ok(
        q("DELETE FROM live_events WHERE created_at < now() - make_interval(days => $1)")
            .bind(days)
            .execute(conn)
            .await
            .map_err(StoreError::sql("cannot prune live events"))?
            .rows_affected(),
    )
}
