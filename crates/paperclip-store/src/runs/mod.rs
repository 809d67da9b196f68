//! Heartbeat runs: the wakeup queue and the runs it feeds, their events, the lease that lets a
//! replica's claims expire with it, recovery, and the timer.
//!
//! PostgreSQL is the only coordinator. A wakeup becomes (or joins) a `queued` run in the
//! transaction that asked for it; any replica claims queued runs with `FOR UPDATE SKIP LOCKED`,
//! under a per-agent advisory lock that makes `maxConcurrentRuns` hold across replicas; a claimed
//! run carries a lease its owner renews, and an expired lease is recovered by whoever sees it.

mod claim;
mod events;
mod finish;
mod sessions;
mod timer;
mod wake;

pub use claim::*;
pub use events::*;
pub use finish::*;
pub use sessions::*;
pub use timer::*;
pub use wake::*;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{Result, StoreError};
use paperclip_postgres::pool::qa;

/// The channel a queued run is announced on (payload: the run id).
pub const QUEUED_CHANNEL: &str = "paperclip_runs_queued";
/// The channel a cancel request is announced on (payload: the run id).
pub const CANCEL_CHANNEL: &str = "paperclip_runs_cancel";

/// Advisory lock class of the engine (the second key is per agent, or 0 for the timer).
const LOCK_CLASS: i32 = 0x0070_6872; // "phr"

/// A heartbeat run as upstream serializes it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    pub id: Uuid,
    pub company_id: Uuid,
    pub agent_id: Uuid,
    pub invocation_source: String,
    pub trigger_detail: Option<String>,
    pub status: String,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    pub wakeup_request_id: Option<Uuid>,
    pub exit_code: Option<i32>,
    pub signal: Option<String>,
    pub usage_json: Option<Value>,
    pub session_id_before: Option<String>,
    pub session_id_after: Option<String>,
    pub log_store: Option<String>,
    pub log_ref: Option<String>,
    pub log_bytes: Option<i64>,
    pub log_sha256: Option<String>,
    pub log_compressed: bool,
    pub stdout_excerpt: Option<String>,
    pub stderr_excerpt: Option<String>,
    pub error_code: Option<String>,
    pub external_run_id: Option<String>,
    pub process_pid: Option<i32>,
    pub process_group_id: Option<i32>,
    pub process_started_at: Option<DateTime<Utc>>,
    pub last_output_at: Option<DateTime<Utc>>,
    pub last_output_seq: i32,
    pub last_output_stream: Option<String>,
    pub last_output_bytes: Option<i64>,
    pub retry_of_run_id: Option<Uuid>,
    pub process_loss_retry_count: i32,
    pub scheduled_retry_at: Option<DateTime<Utc>>,
    pub scheduled_retry_attempt: i32,
    pub scheduled_retry_reason: Option<String>,
    pub liveness_state: Option<String>,
    pub liveness_reason: Option<String>,
    pub continuation_attempt: i32,
    pub last_useful_action_at: Option<DateTime<Utc>>,
    pub next_action: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub context_snapshot: Option<Value>,
    pub result_json: Option<Value>,
    /// Wakeups merged into this run after the first (0 when it answers one wakeup).
    pub coalesced_count: i32,
}

/// The columns of [`Run`] (the coalesced count comes from the run's first wakeup).
pub(crate) const RUN_COLS: &str = "r.id, r.company_id, r.agent_id, r.invocation_source, r.trigger_detail, r.status,
    r.started_at, r.finished_at, r.error, r.wakeup_request_id, r.exit_code, r.signal, r.usage_json,
    r.session_id_before, r.session_id_after, r.log_store, r.log_ref, r.log_bytes, r.log_sha256, r.log_compressed,
    r.stdout_excerpt, r.stderr_excerpt, r.error_code, r.external_run_id, r.process_pid, r.process_group_id,
    r.process_started_at, r.last_output_at, r.last_output_seq, r.last_output_stream, r.last_output_bytes,
    r.retry_of_run_id, r.process_loss_retry_count, r.scheduled_retry_at, r.scheduled_retry_attempt,
    r.scheduled_retry_reason, r.liveness_state, r.liveness_reason, r.continuation_attempt,
    r.last_useful_action_at, r.next_action, r.created_at, r.updated_at, r.context_snapshot, r.result_json,
    COALESCE((SELECT w.coalesced_count FROM agent_wakeup_requests w WHERE w.id = r.wakeup_request_id), 0) AS coalesced_count";

/// One run.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn get(conn: &mut PgConnection, id: Uuid) -> Result<Option<Run>> {
    qa(&format!(
        "SELECT {RUN_COLS} FROM heartbeat_runs r WHERE r.id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
    .map_err(StoreError::sql("cannot read the run"))
}

/// Filters of `GET /companies/:id/heartbeat-runs`.
#[derive(Debug, Default)]
pub struct Filter {
    pub agent_id: Option<Uuid>,
    pub statuses: Vec<String>,
    pub issue_id: Option<Uuid>,
    pub limit: i64,
}

/// A company's runs, newest first.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(conn: &mut PgConnection, company_id: Uuid, f: &Filter) -> Result<Vec<Run>> {
    let mut qb = sqlx::QueryBuilder::<sqlx::Postgres>::new(format!(
        "SELECT {RUN_COLS} FROM heartbeat_runs r WHERE r.company_id = "
    ));
    qb.push_bind(company_id);
    if let Some(a) = f.agent_id {
        qb.push(" AND r.agent_id = ").push_bind(a);
    }
    if !f.statuses.is_empty() {
        qb.push(" AND r.status = ANY(")
            .push_bind(f.statuses.clone())
            .push(")");
    }
    if let Some(i) = f.issue_id {
        qb.push(" AND r.task_key = ").push_bind(i.to_string());
    }
    qb.push(" ORDER BY r.created_at DESC, r.id DESC LIMIT ")
        .push_bind(f.limit);
    qb.build_query_as()
        .persistent(paperclip_postgres::pool::named_statements())
        .fetch_all(conn)
        .await
        .map_err(StoreError::sql("cannot list runs"))
}

/// The run that holds an issue now: its checkout's run while that is live, else the newest live
/// run for the issue.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn active_for_issue(conn: &mut PgConnection, issue_id: Uuid) -> Result<Option<Run>> {
    qa(&format!(
        "SELECT {RUN_COLS} FROM heartbeat_runs r
         WHERE r.status IN ('queued', 'running')
           AND (r.id = (SELECT checkout_run_id FROM issues WHERE id = $1) OR r.task_key = $1::text)
         ORDER BY (r.status = 'running') DESC, r.created_at DESC LIMIT 1"
    ))
    .bind(issue_id)
    .fetch_optional(conn)
    .await
    .map_err(StoreError::sql("cannot read the issue's run"))
}

/// Whose a run is and where it stands: (agent, company, status). What `X-Paperclip-Run-Id` and
/// run tokens are checked against.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn owner_of(
    conn: &mut PgConnection,
    run_id: Uuid,
) -> Result<Option<(Uuid, Uuid, String)>> {
    qa("SELECT agent_id, company_id, status FROM heartbeat_runs WHERE id = $1")
        .bind(run_id)
        .fetch_optional(conn)
        .await
        .map_err(StoreError::sql("cannot read the run"))
}

/// Whether a run exists (a board request naming a run must name a real one).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn exists(conn: &mut PgConnection, run_id: Uuid) -> Result<bool> {
    paperclip_postgres::pool::qs("SELECT EXISTS (SELECT 1 FROM heartbeat_runs WHERE id = $1)")
        .bind(run_id)
        .fetch_one(conn)
        .await
        .map_err(StoreError::sql("cannot read the run"))
}

/// Whether an agent may still act with a run token (not terminated, not pending approval).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn agent_may_act(conn: &mut PgConnection, agent_id: Uuid) -> Result<bool> {
    paperclip_postgres::pool::qs(
        "SELECT EXISTS (SELECT 1 FROM agents WHERE id = $1 AND status NOT IN ('terminated', 'pending_approval'))",
    )
    .bind(agent_id)
    .fetch_one(conn)
    .await
    .map_err(StoreError::sql("cannot read the agent"))
}

/// Publishes a run's status and its agent's (`heartbeat.run.status`, `agent.status`) to live
/// clients, in the caller's transaction.
pub(crate) async fn announce(conn: &mut PgConnection, run_id: Uuid) -> Result<()> {
    let row: Option<(Uuid, Uuid, String, Option<String>, String)> = qa(
        "SELECT r.company_id, r.agent_id, r.status, r.error_code, a.status FROM heartbeat_runs r
         JOIN agents a ON a.id = r.agent_id WHERE r.id = $1",
    )
    .bind(run_id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot read the run"))?;
    let Some((company, agent, status, code, agent_status)) = row else {
        return Ok(());
    };
    crate::live::publish(
        conn,
        company,
        "heartbeat.run.status",
        serde_json::json!({"runId": run_id, "agentId": agent, "status": status, "errorCode": code}),
    )
    .await?;
    crate::live::publish(
        conn,
        company,
        "agent.status",
        serde_json::json!({"agentId": agent, "status": agent_status}),
    )
    .await
}

/// A per-agent transaction lock: wakeups and claims of one agent are serialized, so coalescing
/// and `maxConcurrentRuns` are decided once, whichever replica asks.
pub(crate) async fn lock_agent(conn: &mut PgConnection, agent_id: Uuid) -> Result<()> {
    paperclip_postgres::pool::q("SELECT pg_advisory_xact_lock($1, hashtext($2::text))")
        .bind(LOCK_CLASS)
        .bind(agent_id)
        .execute(conn)
        .await
        .map_err(StoreError::sql("cannot lock the agent's queue"))?;
    Ok(())
}

/// One issue of an agent's inbox (`GET /agents/me/inbox-lite`).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct InboxItem {
    pub id: Uuid,
    pub identifier: String,
    pub title: String,
    pub status: String,
    pub priority: String,
    pub project_id: Option<Uuid>,
    pub goal_id: Option<Uuid>,
    pub parent_id: Option<Uuid>,
    /// The run holding the checkout, if one does.
    pub checkout_run_id: Option<Uuid>,
    pub updated_at: DateTime<Utc>,
}

/// The agent's open work, in the order the heartbeat protocol picks it: in progress, then in
/// review, then to do, then blocked; most urgent first within each.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn inbox(conn: &mut PgConnection, agent_id: Uuid) -> Result<Vec<InboxItem>> {
    qa("SELECT id, identifier, title, status, priority, project_id, goal_id, parent_id, checkout_run_id, updated_at
        FROM issues
        WHERE assignee_agent_id = $1 AND status IN ('todo', 'in_progress', 'in_review', 'blocked') AND hidden_at IS NULL
        ORDER BY CASE status WHEN 'in_progress' THEN 0 WHEN 'in_review' THEN 1 WHEN 'todo' THEN 2 ELSE 3 END,
                 CASE priority WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END,
                 updated_at
        LIMIT 500")
    .bind(agent_id)
    .fetch_all(conn)
    .await
    .map_err(StoreError::sql("cannot read the inbox"))
}
