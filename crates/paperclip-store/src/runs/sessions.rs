//! What coding agents keep between heartbeats: a session per task (resumed next time), runtime
//! totals, and the agent's instructions bundle.

use serde_json::json;

use super::*;
use crate::activity::{self, Entry};
use crate::Actor;
use paperclip_postgres::pool::q;

/// The session key of a run with no task.
pub const NO_TASK: &str = "default";

/// One task session as upstream serializes it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct TaskSession {
    pub id: Uuid,
    pub company_id: Uuid,
    pub agent_id: Uuid,
    pub adapter_type: String,
    pub task_key: String,
    pub session_params_json: Option<Value>,
    pub session_display_id: Option<String>,
    pub last_run_id: Option<Uuid>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const SESSION_COLS: &str =
    "id, company_id, agent_id, adapter_type, task_key, session_params_json, session_display_id,
    last_run_id, last_error, created_at, updated_at";

/// The session id to resume for `task_key`, if the agent has one with this adapter.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn session_for(
    conn: &mut PgConnection,
    agent_id: Uuid,
    adapter_type: &str,
    task_key: &str,
) -> Result<Option<String>> {
    let v: Option<(Option<Value>,)> = qa(
        "SELECT session_params_json FROM agent_task_sessions WHERE agent_id = $1 AND adapter_type = $2 AND task_key = $3",
    )
    .bind(agent_id)
    .bind(adapter_type)
    .bind(task_key)
    .fetch_optional(conn)
    .await
    .map_err(StoreError::sql("cannot read the task session"))?;
    Ok(v.and_then(|(p,)| p).and_then(|p| {
        p.get("sessionId")
            .and_then(Value::as_str)
            .map(str::to_string)
    }))
}

/// A run's effect on its task session, written with the run's end.
#[derive(Debug, Clone)]
pub enum SessionWrite {
    Set { id: String, display: Option<String> },
    Clear,
}

/// Records the session a run ended with (or clears it), the run's session ids, and the agent's
/// runtime totals. Called inside [`super::finish`]'s transaction.
pub(crate) async fn record_session(
    conn: &mut PgConnection,
    run: &Run,
    adapter_type: &str,
    session: Option<&SessionWrite>,
    cost: Option<&RunCost>,
    status: &str,
    error: Option<&str>,
) -> Result<()> {
    let task_key = run
        .context_snapshot
        .as_ref()
        .and_then(|c| c.get("taskKey"))
        .and_then(Value::as_str)
        .unwrap_or(NO_TASK)
        .to_string();
    let before = session_for(conn, run.agent_id, adapter_type, &task_key).await?;
    let after = match session {
        Some(SessionWrite::Set { id, display }) => {
            q("INSERT INTO agent_task_sessions (company_id, agent_id, adapter_type, task_key, session_params_json,
                                                session_display_id, last_run_id, last_error)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
               ON CONFLICT (company_id, agent_id, adapter_type, task_key) DO UPDATE
               SET session_params_json = EXCLUDED.session_params_json, session_display_id = EXCLUDED.session_display_id,
                   last_run_id = EXCLUDED.last_run_id, last_error = EXCLUDED.last_error")
            .bind(run.company_id)
            .bind(run.agent_id)
            .bind(adapter_type)
            .bind(&task_key)
            .bind(json!({"sessionId": id}))
            .bind(display)
            .bind(run.id)
            .bind(error)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::sql("cannot record the task session"))?;
            Some(id.clone())
        }
        Some(SessionWrite::Clear) => {
            q("DELETE FROM agent_task_sessions WHERE agent_id = $1 AND adapter_type = $2 AND task_key = $3")
                .bind(run.agent_id)
                .bind(adapter_type)
                .bind(&task_key)
                .execute(&mut *conn)
                .await
                .map_err(StoreError::sql("cannot clear the task session"))?;
            None
        }
        None => before.clone(),
    };
    if session.is_some() {
        q("UPDATE heartbeat_runs SET session_id_before = $2, session_id_after = $3 WHERE id = $1")
            .bind(run.id)
            .bind(&before)
            .bind(&after)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::sql("cannot record the run's session"))?;
    }
    let (i, c, o, cents) = cost.map_or((0, 0, 0, 0), |c| {
        (
            c.input_tokens,
            c.cached_input_tokens,
            c.output_tokens,
            c.cost_cents,
        )
    });
    q("INSERT INTO agent_runtime_state (agent_id, company_id, adapter_type, session_id, last_run_id, last_run_status,
                                        total_input_tokens, total_cached_input_tokens, total_output_tokens, total_cost_cents, last_error)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
       ON CONFLICT (agent_id) DO UPDATE
       SET adapter_type = EXCLUDED.adapter_type,
           session_id = CASE WHEN $12 THEN EXCLUDED.session_id ELSE agent_runtime_state.session_id END,
           last_run_id = EXCLUDED.last_run_id, last_run_status = EXCLUDED.last_run_status,
           total_input_tokens = agent_runtime_state.total_input_tokens + EXCLUDED.total_input_tokens,
           total_cached_input_tokens = agent_runtime_state.total_cached_input_tokens + EXCLUDED.total_cached_input_tokens,
           total_output_tokens = agent_runtime_state.total_output_tokens + EXCLUDED.total_output_tokens,
           total_cost_cents = agent_runtime_state.total_cost_cents + EXCLUDED.total_cost_cents,
           last_error = EXCLUDED.last_error")
    .bind(run.agent_id)
    .bind(run.company_id)
    .bind(adapter_type)
    .bind(&after)
    .bind(run.id)
    .bind(status)
    .bind(i)
    .bind(c)
    .bind(o)
    .bind(cents)
    .bind(error)
    .bind(session.is_some())
    .execute(conn)
    .await
    .map_err(StoreError::sql("cannot record the runtime state"))?;
    Ok(())
}

/// An agent's task sessions, most recently used first.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn task_sessions(conn: &mut PgConnection, agent_id: Uuid) -> Result<Vec<TaskSession>> {
    qa(&format!("SELECT {SESSION_COLS} FROM agent_task_sessions WHERE agent_id = $1 ORDER BY updated_at DESC"))
        .bind(agent_id)
        .fetch_all(conn)
        .await
        .map_err(StoreError::sql("cannot list task sessions"))
}

/// Forgets an agent's sessions (one task's, or all): the next heartbeat starts fresh.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn reset_sessions(
    conn: &mut PgConnection,
    actor: &Actor,
    agent: &crate::agents::Agent,
    task_key: Option<&str>,
) -> Result<u64> {
    let done = q("DELETE FROM agent_task_sessions WHERE agent_id = $1 AND ($2::text IS NULL OR task_key = $2)")
        .bind(agent.id)
        .bind(task_key)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot reset the sessions"))?
        .rows_affected();
    if task_key.is_none() {
        q("UPDATE agent_runtime_state SET session_id = NULL WHERE agent_id = $1")
            .bind(agent.id)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::sql("cannot reset the runtime state"))?;
    }
    activity::record(
        conn,
        actor,
        Entry {
            company_id: agent.company_id,
            action: "agent.session_reset",
            entity_type: "agent",
            entity_id: agent.id.to_string(),
            details: json!({"taskKey": task_key, "sessionsCleared": done}),
        },
    )
    .await?;
    Ok(done)
}

/// `GET /agents/:id/runtime-state` as upstream serializes it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeState {
    pub agent_id: Uuid,
    pub company_id: Uuid,
    pub adapter_type: String,
    pub session_id: Option<String>,
    pub state_json: Option<Value>,
    pub last_run_id: Option<Uuid>,
    pub last_run_status: Option<String>,
    pub total_input_tokens: i64,
    pub total_output_tokens: i64,
    pub total_cached_input_tokens: i64,
    pub total_cost_cents: i64,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An agent's runtime state (`None` before its first run).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn runtime_state(
    conn: &mut PgConnection,
    agent_id: Uuid,
) -> Result<Option<RuntimeState>> {
    qa("SELECT agent_id, company_id, adapter_type, session_id, state_json, last_run_id, last_run_status,
               total_input_tokens, total_output_tokens, total_cached_input_tokens, total_cost_cents, last_error,
               created_at, updated_at
        FROM agent_runtime_state WHERE agent_id = $1")
    .bind(agent_id)
    .fetch_optional(conn)
    .await
    .map_err(StoreError::sql("cannot read the runtime state"))
}

/// One file of an agent's instructions bundle.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct InstructionFile {
    pub path: String,
    pub content: String,
    pub updated_at: DateTime<Utc>,
}

/// The bundle's files (`AGENTS.md` first).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn instruction_files(
    conn: &mut PgConnection,
    agent_id: Uuid,
) -> Result<Vec<InstructionFile>> {
    qa(
        "SELECT path, content, updated_at FROM agent_instruction_files WHERE agent_id = $1
        ORDER BY path <> 'AGENTS.md', path",
    )
    .bind(agent_id)
    .fetch_all(conn)
    .await
    .map_err(StoreError::sql("cannot read the instructions"))
}

/// Writes one file of the bundle.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn put_instruction_file(
    conn: &mut PgConnection,
    actor: &Actor,
    agent: &crate::agents::Agent,
    path: &str,
    content: &str,
) -> Result<InstructionFile> {
    let f: InstructionFile = qa(
        "INSERT INTO agent_instruction_files (agent_id, company_id, path, content) VALUES ($1, $2, $3, $4)
         ON CONFLICT (agent_id, path) DO UPDATE SET content = EXCLUDED.content
         RETURNING path, content, updated_at",
    )
    .bind(agent.id)
    .bind(agent.company_id)
    .bind(path)
    .bind(content)
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot write the instructions"))?;
    activity::record(
        conn,
        actor,
        Entry {
            company_id: agent.company_id,
            action: "agent.instructions_updated",
            entity_type: "agent",
            entity_id: agent.id.to_string(),
            details: json!({"path": path, "bytes": content.len()}),
        },
    )
    .await?;
    Ok(f)
}

/// Deletes one file of the bundle; `false` when there was none.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn delete_instruction_file(
    conn: &mut PgConnection,
    actor: &Actor,
    agent: &crate::agents::Agent,
    path: &str,
) -> Result<bool> {
    let gone = q("DELETE FROM agent_instruction_files WHERE agent_id = $1 AND path = $2")
        .bind(agent.id)
        .bind(path)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot delete the instructions"))?
        .rows_affected()
        == 1;
    if gone {
        activity::record(
            conn,
            actor,
            Entry {
                company_id: agent.company_id,
                action: "agent.instructions_deleted",
                entity_type: "agent",
                entity_id: agent.id.to_string(),
                details: json!({"path": path}),
            },
        )
        .await?;
    }
    Ok(gone)
}

/// The bundle as one text for a run (files in order, each under its path), or `None`.
pub async fn instructions_text(conn: &mut PgConnection, agent_id: Uuid) -> Result<Option<String>> {
    let files = instruction_files(conn, agent_id).await?;
    if files.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        files
            .iter()
            .map(|f| format!("<!-- {} -->\n{}", f.path, f.content))
            .collect::<Vec<_>>()
            .join("\n\n"),
    ))
}
