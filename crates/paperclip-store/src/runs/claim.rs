//! Claiming queued runs under a lease, renewing and recovering leases, cancelling.

use paperclip_domain::heartbeat::{admit, Admission, HeartbeatPolicy};
use paperclip_domain::{AgentStatus, CompanyStatus, WakeupSource};
use serde_json::json;

use super::*;
use crate::activity::{self, Entry};
use crate::Actor;
use paperclip_postgres::pool::{q, qs};

/// A run this replica now owns, with what executing it needs.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub run: Run,
    pub agent: crate::agents::Agent,
}

/// Claims up to `limit` queued runs for `owner`, oldest first. Rows another replica is claiming
/// are skipped (`SKIP LOCKED`); each agent's running count is checked under its advisory lock,
/// so `maxConcurrentRuns` holds across replicas. A run whose agent can no longer work (paused,
/// terminated, over budget since it was queued) is cancelled with the reason instead.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn claim(
    conn: &mut PgConnection,
    owner: &str,
    lease: std::time::Duration,
    limit: i64,
) -> Result<Vec<Claimed>> {
    let mut candidates: Vec<(Uuid, Uuid)> = qa(
        // Agents at their limit are filtered out here (the check under the agent's lock below
        // is the one that counts), so their waiting runs never hide other agents' runs.
        "SELECT r.id, r.agent_id FROM heartbeat_runs r JOIN agents a ON a.id = r.agent_id
         WHERE r.status = 'queued' AND (r.scheduled_retry_at IS NULL OR r.scheduled_retry_at <= now())
           AND (SELECT count(*) FROM heartbeat_runs x WHERE x.agent_id = r.agent_id AND x.status = 'running')
               < COALESCE(CASE WHEN jsonb_typeof(a.runtime_config->'heartbeat'->'maxConcurrentRuns') = 'number'
                               THEN (a.runtime_config->'heartbeat'->>'maxConcurrentRuns')::numeric END, 1)
         ORDER BY r.created_at LIMIT $1 FOR UPDATE OF r SKIP LOCKED",
    )
    .bind(limit)
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot read the run queue"))?;
    // Agent locks in one global order: two claimers never wait on each other in a circle.
    candidates.sort_by_key(|&(_, agent)| agent);
    let mut locked = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (run_id, agent_id) in candidates {
        if locked.insert(agent_id) {
            lock_agent(conn, agent_id).await?;
        }
        let Some(agent) = crate::agents::get(conn, agent_id).await? else {
            continue;
        };
        // The agent was read under its lock, so its month-to-date spend is current.
        let spent = agent.spent_monthly_cents;
        let (company_status, running): (String, i64) = qa("SELECT c.status,
                    (SELECT count(*) FROM heartbeat_runs WHERE agent_id = $2 AND status = 'running')
             FROM companies c WHERE c.id = $1")
        .bind(agent.company_id)
        .bind(agent_id)
        .fetch_one(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot read the agent's runs"))?;
        let policy = HeartbeatPolicy::lenient(&agent.runtime_config);
        let admission = admit(&Admission {
            agent_status: StoreError::parse_stored::<AgentStatus>("status", &agent.status)?,
            company_status: StoreError::parse_stored::<CompanyStatus>("status", &company_status)?,
            spent_monthly_cents: spent,
            budget_monthly_cents: agent.budget_monthly_cents,
            // The source was admitted when the wakeup came; what may have changed is the agent.
            source: WakeupSource::OnDemand,
            policy: HeartbeatPolicy {
                wake_on_on_demand: true,
                ..policy
            },
        });
        if let Err(refusal) = admission {
            end_unstarted(
                conn,
                run_id,
                "cancelled",
                refusal.code(),
                &refusal.message(),
            )
            .await?;
            continue;
        }
        if running >= i64::from(policy.max_concurrent_runs) {
            continue;
        }
        q(
            "UPDATE heartbeat_runs SET status = 'running', started_at = now(), lease_owner = $2,
                  lease_expires_at = now() + make_interval(secs => $3)
           WHERE id = $1",
        )
        .bind(run_id)
        .bind(owner)
        .bind(lease.as_secs_f64())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot claim the run"))?;
        q(
            "UPDATE agent_wakeup_requests SET status = 'claimed', claimed_at = now()
           WHERE run_id = $1 AND status IN ('queued', 'coalesced')",
        )
        .bind(run_id)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot claim the wakeups"))?;
        q("UPDATE agents SET status = 'running' WHERE id = $1 AND status IN ('idle', 'active', 'error')")
            .bind(agent_id)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::sql("cannot mark the agent running"))?;
        let run = get(conn, run_id).await?.expect("locked");
        activity::record(
            conn,
            &run_actor(&run),
            Entry {
                company_id: run.company_id,
                action: "heartbeat.run_started",
                entity_type: "heartbeat_run",
                entity_id: run.id.to_string(),
                details: json!({"agentId": agent_id, "source": run.invocation_source}),
            },
        )
        .await?;
        announce(conn, run_id).await?;
        let agent = crate::agents::get(conn, agent_id).await?.expect("exists");
        out.push(Claimed { run, agent });
    }
    Ok(out)
}

/// The system acting for a run (activity rows of the engine name the run).
pub(crate) fn run_actor(run: &Run) -> Actor {
    Actor {
        run_id: Some(run.id),
        ..Actor::system()
    }
}

/// Ends a run that never started (`cancelled` by admission or the board).
async fn end_unstarted(
    conn: &mut PgConnection,
    run_id: Uuid,
    status: &str,
    code: &str,
    message: &str,
) -> Result<()> {
    q("UPDATE heartbeat_runs SET status = $2, finished_at = now(), error_code = $3, error = $4 WHERE id = $1")
        .bind(run_id)
        .bind(status)
        .bind(code)
        .bind(message)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot end the run"))?;
    q(
        "UPDATE agent_wakeup_requests SET status = 'cancelled', finished_at = now(), error = $2
       WHERE run_id = $1 AND status IN ('queued', 'coalesced', 'claimed')",
    )
    .bind(run_id)
    .bind(message)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot end the wakeups"))?;
    announce(conn, run_id).await
}

/// Extends the leases of `owner`'s running runs; answers the ids whose cancel was requested.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn renew(
    conn: &mut PgConnection,
    owner: &str,
    lease: std::time::Duration,
) -> Result<Vec<Uuid>> {
    let rows: Vec<(Uuid, bool)> = qa(
        "UPDATE heartbeat_runs SET lease_expires_at = now() + make_interval(secs => $2)
         WHERE lease_owner = $1 AND status = 'running'
         RETURNING id, cancel_requested_at IS NOT NULL",
    )
    .bind(owner)
    .bind(lease.as_secs_f64())
    .fetch_all(conn)
    .await
    .map_err(StoreError::sql("cannot renew the leases"))?;
    Ok(rows.into_iter().filter(|r| r.1).map(|r| r.0).collect())
}

/// A run whose owner was lost, as recovery found it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Lost {
    pub id: Uuid,
    pub agent_id: Uuid,
    pub company_id: Uuid,
    pub process_group_id: Option<i32>,
    pub process_host: Option<String>,
    pub process_start_ticks: Option<i64>,
    /// The retry queued for it, if it gets one.
    #[sqlx(skip)]
    pub retry_run_id: Option<Uuid>,
}

/// Fails running runs whose owner is gone (`errorCode: process_lost`) and queues one retry for
/// each run that is not itself a retry. `all_but` recovers every running run not owned by that
/// owner (a server that owns the database alone, at startup); otherwise only expired leases.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn recover(conn: &mut PgConnection, all_but: Option<&str>) -> Result<Vec<Lost>> {
    let mut lost: Vec<Lost> = qa(
        "SELECT id, agent_id, company_id, process_group_id, process_host, process_start_ticks
         FROM heartbeat_runs
         WHERE status = 'running'
           AND (CASE WHEN $1::text IS NULL THEN lease_expires_at < now() ELSE lease_owner <> $1 END)
         FOR UPDATE SKIP LOCKED",
    )
    .bind(all_but)
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot find lost runs"))?;
    for l in &mut lost {
        lock_agent(conn, l.agent_id).await?;
        let retry: i32 = qs(
            "UPDATE heartbeat_runs SET status = 'failed', finished_at = now(), error_code = 'process_lost',
                    error = 'The server running this heartbeat stopped before it finished'
             WHERE id = $1 RETURNING process_loss_retry_count",
        )
        .bind(l.id)
        .fetch_one(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot fail the lost run"))?;
        if retry == 0 {
            let id: Uuid = qs(
                "INSERT INTO heartbeat_runs (company_id, agent_id, invocation_source, trigger_detail, task_key,
                                             wakeup_request_id, context_snapshot, retry_of_run_id, process_loss_retry_count)
                 SELECT company_id, agent_id, invocation_source, trigger_detail, task_key, wakeup_request_id,
                        context_snapshot, id, process_loss_retry_count + 1
                 FROM heartbeat_runs WHERE id = $1 RETURNING id",
            )
            .bind(l.id)
            .fetch_one(&mut *conn)
            .await
            .map_err(StoreError::sql("cannot queue the retry"))?;
            q("UPDATE agent_wakeup_requests SET run_id = $2, status = 'queued' WHERE run_id = $1")
                .bind(l.id)
                .bind(id)
                .execute(&mut *conn)
                .await
                .map_err(StoreError::sql("cannot move the wakeups"))?;
            q("SELECT pg_notify($1, $2::text)")
                .bind(QUEUED_CHANNEL)
                .bind(id)
                .execute(&mut *conn)
                .await
                .map_err(StoreError::sql("cannot announce the retry"))?;
            l.retry_run_id = Some(id);
        } else {
            q("UPDATE agent_wakeup_requests SET status = 'failed', finished_at = now(), error = 'process lost'
               WHERE run_id = $1")
            .bind(l.id)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::sql("cannot fail the wakeups"))?;
        }
        settle_agent(conn, l.agent_id, Some("process_lost")).await?;
        announce(conn, l.id).await?;
        activity::record(
            conn,
            &Actor {
                run_id: Some(l.id),
                ..Actor::system()
            },
            Entry {
                company_id: l.company_id,
                action: "heartbeat.run_process_lost",
                entity_type: "heartbeat_run",
                entity_id: l.id.to_string(),
                details: json!({"agentId": l.agent_id, "retryRunId": l.retry_run_id}),
            },
        )
        .await?;
    }
    Ok(lost)
}

/// After a run ends: the agent is `running` while another run of it is, otherwise `idle`, or
/// `error` with the reason when this run failed. Paused and terminated agents stay so.
pub(crate) async fn settle_agent(
    conn: &mut PgConnection,
    agent_id: Uuid,
    error: Option<&str>,
) -> Result<()> {
    q("UPDATE agents SET last_heartbeat_at = now(),
            status = CASE
                WHEN status NOT IN ('running', 'idle', 'active', 'error') THEN status
                WHEN EXISTS (SELECT 1 FROM heartbeat_runs WHERE agent_id = $1 AND status = 'running') THEN 'running'
                WHEN $2::text IS NOT NULL THEN 'error'
                ELSE 'idle' END,
            error_reason = CASE WHEN status IN ('running', 'idle', 'active', 'error') THEN $2 ELSE error_reason END
       WHERE id = $1")
    .bind(agent_id)
    .bind(error)
    .execute(conn)
    .await
    .map_err(StoreError::sql("cannot update the agent"))?;
    Ok(())
}

/// Where the run's process lives (so a restarted server on that host can kill exactly it).
#[derive(Debug, Clone)]
pub struct Spawned {
    pub pid: i32,
    pub host: String,
    pub start_ticks: Option<i64>,
    pub log_ref: String,
}

/// Records the started process.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn mark_spawned(conn: &mut PgConnection, run_id: Uuid, s: &Spawned) -> Result<()> {
    q("UPDATE heartbeat_runs SET process_pid = $2, process_group_id = $2, process_started_at = now(),
            process_host = $3, process_start_ticks = $4, log_store = 'local_file', log_ref = $5
       WHERE id = $1")
    .bind(run_id)
    .bind(s.pid)
    .bind(&s.host)
    .bind(s.start_ticks)
    .bind(&s.log_ref)
    .execute(conn)
    .await
    .map_err(StoreError::sql("cannot record the process"))?;
    Ok(())
}

/// The latest output of a running run.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn record_output(
    conn: &mut PgConnection,
    run_id: Uuid,
    seq: i32,
    stream: &str,
    bytes: i64,
) -> Result<()> {
    q("UPDATE heartbeat_runs SET last_output_at = now(), last_output_seq = $2, last_output_stream = $3,
            last_output_bytes = $4 WHERE id = $1 AND status = 'running'")
    .bind(run_id)
    .bind(seq)
    .bind(stream)
    .bind(bytes)
    .execute(conn)
    .await
    .map_err(StoreError::sql("cannot record the output"))?;
    Ok(())
}

/// Cancels a run: a queued run ends at once; a running one is marked and its owner (whichever
/// replica) is told on [`CANCEL_CHANNEL`] and kills the process group. Final runs are left alone.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn cancel(conn: &mut PgConnection, actor: &Actor, run: &Run) -> Result<Run> {
    lock_agent(conn, run.agent_id).await?;
    let status: String = qs("SELECT status FROM heartbeat_runs WHERE id = $1 FOR UPDATE")
        .bind(run.id)
        .fetch_one(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot read the run"))?;
    match status.as_str() {
        "queued" => {
            end_unstarted(
                conn,
                run.id,
                "cancelled",
                "cancelled",
                "Cancelled by the board",
            )
            .await?;
        }
        "running" => {
            q("UPDATE heartbeat_runs SET cancel_requested_at = COALESCE(cancel_requested_at, now()) WHERE id = $1")
                .bind(run.id)
                .execute(&mut *conn)
                .await
                .map_err(StoreError::sql("cannot request the cancel"))?;
            q("SELECT pg_notify($1, $2::text)")
                .bind(CANCEL_CHANNEL)
                .bind(run.id)
                .execute(&mut *conn)
                .await
                .map_err(StoreError::sql("cannot announce the cancel"))?;
        }
        _ => return Ok(get(conn, run.id).await?.expect("exists")),
    }
    activity::record(
        conn,
        actor,
        Entry {
            company_id: run.company_id,
            action: "heartbeat.run_cancel_requested",
            entity_type: "heartbeat_run",
            entity_id: run.id.to_string(),
            details: json!({"agentId": run.agent_id, "previousStatus": status}),
        },
    )
    .await?;
    Ok(get(conn, run.id).await?.expect("exists"))
}

/// Cancels the queued runs of one task (an issue being deleted, say); answers how many.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn cancel_queued_for_task(
    conn: &mut PgConnection,
    company_id: Uuid,
    task_key: &str,
    code: &str,
    message: &str,
) -> Result<u64> {
    let ids: Vec<(Uuid,)> = qa(
        "SELECT id FROM heartbeat_runs WHERE company_id = $1 AND task_key = $2 AND status = 'queued' FOR UPDATE",
    )
    .bind(company_id)
    .bind(task_key)
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot read the queue"))?;
    for (id,) in &ids {
        end_unstarted(conn, *id, "cancelled", code, message).await?;
    }
    Ok(ids.len() as u64)
}

/// Cancels an agent's queued runs (the budget hard stop): they would only be refused at claim.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn cancel_queued_for_agent(
    conn: &mut PgConnection,
    agent_id: Uuid,
    code: &str,
    message: &str,
) -> Result<u64> {
    let ids: Vec<(Uuid,)> =
        qa("SELECT id FROM heartbeat_runs WHERE agent_id = $1 AND status = 'queued' FOR UPDATE")
            .bind(agent_id)
            .fetch_all(&mut *conn)
            .await
            .map_err(StoreError::sql("cannot read the queue"))?;
    for (id,) in &ids {
        end_unstarted(conn, *id, "cancelled", code, message).await?;
    }
    Ok(ids.len() as u64)
}
