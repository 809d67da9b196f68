//! A run's end: one transaction for the run row, its wakeups, its cost, its session, the agent.

use paperclip_domain::RunStatus;
use serde_json::json;

use super::claim::{run_actor, settle_agent};
use super::*;
use crate::activity::{self, Entry};
use crate::costs::{self, NewCost};
use paperclip_postgres::pool::{q, qs};

/// How a run ended, as its executor saw it.
#[derive(Debug, Clone)]
pub struct Finish {
    pub status: RunStatus,
    pub exit_code: Option<i32>,
    pub signal: Option<String>,
    pub error: Option<String>,
    pub error_code: Option<String>,
    pub usage: Option<Value>,
    pub result: Option<Value>,
    pub log_bytes: i64,
    pub log_sha256: String,
    pub stdout_excerpt: Option<String>,
    pub stderr_excerpt: Option<String>,
    pub external_run_id: Option<String>,
    /// What the run reported it cost (recorded in the same transaction).
    pub cost: Option<RunCost>,
    /// What it did to its task session (adapters with sessions).
    pub session: Option<SessionWrite>,
}

/// Usage a run reported.
#[derive(Debug, Clone)]
pub struct RunCost {
    pub provider: String,
    pub model: String,
    pub input_tokens: i64,
    pub cached_input_tokens: i64,
    pub output_tokens: i64,
    pub cost_cents: i64,
}

/// Ends `owner`'s run in one transaction: the run row, its wakeups, its cost event (with the
/// budget warning and hard stop), the agent's status and heartbeat time, the issue's execution
/// lock, and the activity row. `false` when the run is no longer `owner`'s (its lease expired
/// and recovery took it): then nothing is written.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn finish(
    conn: &mut PgConnection,
    run_id: Uuid,
    owner: &str,
    f: &Finish,
) -> Result<bool> {
    let run: Option<Run> = qa(&format!(
        "SELECT {RUN_COLS} FROM heartbeat_runs r WHERE r.id = $1 AND r.lease_owner = $2 AND r.status = 'running' FOR UPDATE"
    ))
    .bind(run_id)
    .bind(owner)
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot read the run"))?;
    let Some(run) = run else { return Ok(false) };
    lock_agent(conn, run.agent_id).await?;
    q("UPDATE heartbeat_runs SET status = $2, finished_at = now(), exit_code = $3, signal = $4, error = $5,
            error_code = $6, usage_json = $7, result_json = $8, log_bytes = $9, log_sha256 = $10,
            stdout_excerpt = $11, stderr_excerpt = $12, external_run_id = $13, lease_expires_at = NULL
       WHERE id = $1")
    .bind(run_id)
    .bind(f.status.as_str())
    .bind(f.exit_code)
    .bind(&f.signal)
    .bind(&f.error)
    .bind(&f.error_code)
    .bind(&f.usage)
    .bind(&f.result)
    .bind(f.log_bytes)
    .bind(&f.log_sha256)
    .bind(&f.stdout_excerpt)
    .bind(&f.stderr_excerpt)
    .bind(&f.external_run_id)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot finish the run"))?;
    let wakeup_status = match f.status {
        RunStatus::Succeeded => "completed",
        RunStatus::Cancelled => "cancelled",
        _ => "failed",
    };
    q("UPDATE agent_wakeup_requests SET status = $2, finished_at = now(), error = $3 WHERE run_id = $1")
        .bind(run_id)
        .bind(wakeup_status)
        .bind(&f.error)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot finish the wakeups"))?;
    q("UPDATE issues SET execution_run_id = NULL WHERE execution_run_id = $1")
        .bind(run_id)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot release the execution lock"))?;
    let actor = run_actor(&run);
    if let Some(c) = &f.cost {
        let issue_id = run
            .context_snapshot
            .as_ref()
            .and_then(|c| c.get("issueId"))
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok());
        let (project_id, goal_id): (Option<Uuid>, Option<Uuid>) = match issue_id {
            Some(i) => {
                qa("SELECT project_id, goal_id FROM issues WHERE id = $1 AND company_id = $2")
                    .bind(i)
                    .bind(run.company_id)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(StoreError::sql("cannot read the run's issue"))?
                    .unwrap_or_default()
            }
            None => (None, None),
        };
        costs::record(
            conn,
            &actor,
            run.company_id,
            &NewCost {
                agent_id: run.agent_id,
                issue_id,
                project_id,
                goal_id,
                billing_code: None,
                provider: c.provider.clone(),
                model: c.model.clone(),
                input_tokens: c.input_tokens,
                cached_input_tokens: c.cached_input_tokens,
                output_tokens: c.output_tokens,
                cost_cents: c.cost_cents,
                occurred_at: None,
                heartbeat_run_id: Some(run_id),
            },
        )
        .await?;
    }
    // A slot of this agent is free: any replica may claim its next run now.
    q("SELECT pg_notify($1, $2::text)")
        .bind(QUEUED_CHANNEL)
        .bind(run.agent_id)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot announce the free slot"))?;
    let adapter_type: String = qs("SELECT adapter_type FROM agents WHERE id = $1")
        .bind(run.agent_id)
        .fetch_one(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot read the agent"))?;
    record_session(
        conn,
        &run,
        &adapter_type,
        f.session.as_ref(),
        f.cost.as_ref(),
        f.status.as_str(),
        f.error.as_deref(),
    )
    .await?;
    let failed = matches!(f.status, RunStatus::Failed | RunStatus::TimedOut);
    settle_agent(
        conn,
        run.agent_id,
        failed.then(|| f.error_code.as_deref().unwrap_or("run_failed")),
    )
    .await?;
    announce(conn, run_id).await?;
    activity::record(
        conn,
        &actor,
        Entry {
            company_id: run.company_id,
            action: "heartbeat.run_finished",
            entity_type: "heartbeat_run",
            entity_id: run_id.to_string(),
            details: json!({"agentId": run.agent_id, "status": f.status, "exitCode": f.exit_code,
                        "errorCode": f.error_code}),
        },
    )
    .await?;
    Ok(true)
}
