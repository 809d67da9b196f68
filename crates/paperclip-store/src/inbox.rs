//! Inbox state per reader: when a board user or an agent last read an issue, and which issues
//! they archived from their inbox.
//!
//! An issue is *unread* for a reader when someone else commented on it after the reader last
//! read it (or ever, if they never did). A new comment brings an archived issue back: archiving
//! hides what has been seen, not what comes next.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::issues::Issue;
use crate::{Actor, ActorKind, Result, StoreError};
use paperclip_postgres::pool::{q, qa, qs};

/// `user:<id>` or `agent:<uuid>`: whose inbox; `None` for actors without one.
pub fn reader_of(actor: &Actor) -> Option<String> {
    match &actor.kind {
        ActorKind::Board { user_id, .. } => Some(format!("user:{user_id}")),
        ActorKind::Agent { agent_id, .. } => Some(format!("agent:{agent_id}")),
        _ => None,
    }
}

/// A reader's state of one issue.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct ReadState {
    pub issue_id: Uuid,
    /// `user:<id>` or `agent:<uuid>`.
    pub reader: String,
    pub last_read_at: Option<DateTime<Utc>>,
    pub archived_at: Option<DateTime<Utc>>,
}

/// What a reader can set on an issue.
#[derive(Debug, Clone, Copy)]
pub enum Flag {
    /// Read now (`issue_read_states`).
    Read,
    /// Archived from the inbox (`issue_inbox_archives`).
    Archived,
}

/// Sets (`true`) or clears `flag` on `issue` for `reader`; answers the reader's whole state.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn set(
    conn: &mut PgConnection,
    reader: &str,
    issue: &Issue,
    flag: Flag,
    on: bool,
) -> Result<ReadState> {
    let (table, column) = match flag {
        Flag::Read => ("issue_read_states", "last_read_at"),
        Flag::Archived => ("issue_inbox_archives", "archived_at"),
    };
    let sql = if on {
        format!(
            "INSERT INTO {table} (issue_id, reader, company_id) VALUES ($1, $2, $3)
             ON CONFLICT (issue_id, reader) DO UPDATE SET {column} = now()"
        )
    } else {
        format!("DELETE FROM {table} WHERE issue_id = $1 AND reader = $2 AND company_id = $3")
    };
    q(&sql)
        .bind(issue.id)
        .bind(reader)
        .bind(issue.company_id)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot update the inbox state"))?;
    state(conn, reader, issue.id).await
}

async fn state(conn: &mut PgConnection, reader: &str, issue_id: Uuid) -> Result<ReadState> {
    qa("SELECT $1::uuid AS issue_id, $2::text AS reader,
            (SELECT last_read_at FROM issue_read_states WHERE issue_id = $1 AND reader = $2) AS last_read_at,
            (SELECT archived_at FROM issue_inbox_archives WHERE issue_id = $1 AND reader = $2) AS archived_at")
        .bind(issue_id)
        .bind(reader)
        .fetch_one(conn)
        .await
        .map_err(StoreError::sql("cannot read the read state"))
}

/// One issue of an agent's inbox with its read state (`GET /agents/me/inbox/mine`).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct MineItem {
    pub id: Uuid,
    pub identifier: String,
    pub title: String,
    pub status: String,
    pub priority: String,
    pub project_id: Option<Uuid>,
    pub checkout_run_id: Option<Uuid>,
    pub updated_at: DateTime<Utc>,
    pub last_read_at: Option<DateTime<Utc>>,
    /// Comments by others since the agent last read the issue.
    pub unread_comment_count: i64,
    pub is_unread: bool,
    pub last_comment_at: Option<DateTime<Utc>>,
}

/// Comments on `i` by someone other than reader `$2` (an agent's id in `$3`, a user's in `$4`)
/// since the reader's last read.
const UNREAD: &str = "(SELECT count(*) FROM issue_comments c
      WHERE c.issue_id = i.id
        AND c.created_at > COALESCE(rs.last_read_at, '-infinity')
        AND c.author_agent_id IS DISTINCT FROM $3
        AND (c.author_user_id IS NULL OR c.author_user_id IS DISTINCT FROM $4))";

/// The agent's assigned open issues, not archived (or archived before a newer comment), in
/// pick order, with their read state.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn agent_mine(conn: &mut PgConnection, agent_id: Uuid) -> Result<Vec<MineItem>> {
    let reader = format!("agent:{agent_id}");
    qa(&format!(
        "SELECT i.id, i.identifier, i.title, i.status, i.priority, i.project_id, i.checkout_run_id,
                i.updated_at, rs.last_read_at, {UNREAD} AS unread_comment_count,
                {UNREAD} > 0 AS is_unread,
                (SELECT max(created_at) FROM issue_comments c WHERE c.issue_id = i.id) AS last_comment_at
         FROM issues i
         LEFT JOIN issue_read_states rs ON rs.issue_id = i.id AND rs.reader = $2
         LEFT JOIN issue_inbox_archives ar ON ar.issue_id = i.id AND ar.reader = $2
         WHERE i.assignee_agent_id = $1 AND i.hidden_at IS NULL
           AND i.status IN ('backlog', 'todo', 'in_progress', 'in_review', 'blocked')
           AND (ar.archived_at IS NULL OR EXISTS (
                SELECT 1 FROM issue_comments c WHERE c.issue_id = i.id AND c.created_at > ar.archived_at
                  AND c.author_agent_id IS DISTINCT FROM $3))
         ORDER BY CASE i.status WHEN 'in_progress' THEN 0 WHEN 'in_review' THEN 1 WHEN 'todo' THEN 2
                                WHEN 'blocked' THEN 3 ELSE 4 END,
                  CASE i.priority WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END,
                  i.updated_at
         LIMIT 500"
    ))
    .bind(agent_id)
    .bind(&reader)
    .bind(agent_id)
    .bind(None::<String>)
    .fetch_all(conn)
    .await
    .map_err(StoreError::sql("cannot read the inbox"))
}

/// How many issues of `company_id` have comments someone other than `user_id` (a board user)
/// wrote after the user last read them, and after they archived them.
///
/// It reads one row per commented issue (`issue_comment_marks`, kept by a trigger on comments):
/// the newest comment by anyone but the reader is the mark's `other_at` when the reader wrote
/// the latest comment, and its `last_at` otherwise.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn unread_count(conn: &mut PgConnection, company_id: Uuid, user_id: &str) -> Result<i64> {
    let reader = format!("user:{user_id}");
    qs("SELECT count(*) FROM issue_comment_marks m
        JOIN issues i ON i.id = m.issue_id AND i.hidden_at IS NULL
        LEFT JOIN issue_read_states rs ON rs.issue_id = m.issue_id AND rs.reader = $2
        LEFT JOIN issue_inbox_archives ar ON ar.issue_id = m.issue_id AND ar.reader = $2
        WHERE m.company_id = $1
          AND CASE WHEN m.last_author = $2 THEN m.other_at ELSE m.last_at END
              > greatest(rs.last_read_at, ar.archived_at, '-infinity')")
    .bind(company_id)
    .bind(&reader)
    .fetch_one(conn)
    .await
    .map_err(StoreError::sql("cannot count unread issues"))
}

/// The board's other badge counts.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BadgeCounts {
    pub pending_approvals: i64,
    /// Runs that failed or timed out in the last 24 hours.
    pub failed_runs: i64,
}

/// Pending approvals and recent failed runs of `company_id`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn badge_counts(conn: &mut PgConnection, company_id: Uuid) -> Result<BadgeCounts> {
    qa("SELECT (SELECT count(*) FROM approvals WHERE company_id = $1 AND status = 'pending') AS pending_approvals,
               (SELECT count(*) FROM heartbeat_runs WHERE company_id = $1 AND status IN ('failed', 'timed_out')
                   AND finished_at > now() - interval '24 hours') AS failed_runs")
        .bind(company_id)
        .fetch_one(conn)
        .await
        .map_err(StoreError::sql("cannot count badges"))
}
