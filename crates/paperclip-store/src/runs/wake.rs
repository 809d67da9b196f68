//! Wakeups: admission (a refused wakeup is recorded as `skipped` with its reason), idempotency,
//! coalescing into the agent's queued run for the same task, and the queued run itself.

use paperclip_domain::heartbeat::{admit, Admission, HeartbeatPolicy, Refusal};
use paperclip_domain::{AgentStatus, CompanyStatus, WakeupSource, WakeupTrigger};
use serde_json::json;

use super::*;
use crate::activity::{self, Entry};
use crate::agents::Agent;
use crate::{Actor, IN_BUDGET_WINDOW};
use paperclip_postgres::pool::{q, qs};

/// A wakeup request as upstream serializes it.
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
    /// `queued`, `coalesced` (merged into `runId`), `skipped` (see `error`), `claimed`,
    /// `completed`, `failed` or `cancelled`.
    pub status: String,
    pub coalesced_count: i32,
    pub run_id: Option<Uuid>,
    pub claimed_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Why a skipped wakeup was not admitted.
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
}

const WAKE_COLS: &str =
    "id, company_id, agent_id, source, trigger_detail, reason, payload, idempotency_key, status,
    coalesced_count, run_id, claimed_at, finished_at, error, created_at";

/// What woke the agent, beyond the source: the task and the comment or approval behind it.
#[derive(Debug, Clone, Default)]
pub struct WakeContext {
    pub issue_id: Option<Uuid>,
    pub comment_id: Option<Uuid>,
    pub approval_id: Option<Uuid>,
    pub approval_status: Option<String>,
}

/// A wakeup to request.
#[derive(Debug, Clone)]
pub struct Wake {
    pub source: WakeupSource,
    pub trigger: Option<WakeupTrigger>,
    /// Upstream's wake reasons: `issue_assigned`, `issue_commented`, `issue_comment_mentioned`,
    /// `approval_approved`, `heartbeat_timer`, … (free text from API callers).
    pub reason: Option<String>,
    pub payload: Option<Value>,
    pub idempotency_key: Option<String>,
    pub context: WakeContext,
}

impl Wake {
    /// A system wakeup of `source` for `reason`.
    pub fn system(source: WakeupSource, reason: &str, context: WakeContext) -> Self {
        Self {
            source,
            trigger: Some(WakeupTrigger::System),
            reason: Some(reason.into()),
            payload: None,
            idempotency_key: None,
            context,
        }
    }
}

/// What became of a wakeup.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// A new queued run answers it.
    Queued(Box<Run>),
    /// It joined the agent's queued run for the same task.
    Coalesced(Box<Run>),
    /// Admission refused it; the wakeup is recorded as `skipped`.
    Skipped(Refusal),
    /// Its idempotency key was used before: the earlier wakeup stands.
    Duplicate,
}

/// A wakeup and what became of it.
#[derive(Debug, Clone)]
pub struct Enqueued {
    pub wakeup: Wakeup,
    pub outcome: Outcome,
}

impl Enqueued {
    /// The run that answers the wakeup, if one does.
    pub fn run(&self) -> Option<&Run> {
        match &self.outcome {
            Outcome::Queued(r) | Outcome::Coalesced(r) => Some(r),
            _ => None,
        }
    }
}

/// Requests a wakeup of `agent` in the caller's transaction. Never drops it silently: it is
/// queued as a run, merged into one, or recorded as skipped with the reason. Queued runs are
/// announced on [`QUEUED_CHANNEL`] when the transaction commits.
#[tracing::instrument(level = "debug", skip_all, fields(agent = %agent.id))]
pub async fn enqueue(
    conn: &mut PgConnection,
    actor: &Actor,
    agent: &Agent,
    w: &Wake,
) -> Result<Enqueued> {
    lock_agent(conn, agent.id).await?;
    if let Some(key) = &w.idempotency_key {
        let existing: Option<Wakeup> = qa(&format!(
            "SELECT {WAKE_COLS} FROM agent_wakeup_requests WHERE agent_id = $1 AND idempotency_key = $2"
        ))
        .bind(agent.id)
        .bind(key)
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot read the wakeup"))?;
        if let Some(wakeup) = existing {
            return Ok(Enqueued {
                wakeup,
                outcome: Outcome::Duplicate,
            });
        }
    }
    // Re-read what admission looks at under the lock: the caller's copy may be stale.
    let (status, runtime_config, budget, company_status): (String, Value, i64, String) = qa(
        "SELECT a.status, a.runtime_config, a.budget_monthly_cents, c.status
         FROM agents a JOIN companies c ON c.id = a.company_id WHERE a.id = $1",
    )
    .bind(agent.id)
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot read the agent"))?;
    let spent: i64 = if budget > 0 {
        qs(&format!(
            "SELECT COALESCE(sum(t.cost_cents), 0)::bigint FROM cost_monthly_totals t
             WHERE t.company_id = $1 AND t.agent_id = $2 AND {IN_BUDGET_WINDOW}"
        ))
        .bind(agent.company_id)
        .bind(agent.id)
        .fetch_one(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot sum costs"))?
    } else {
        0
    };
    let admission = admit(&Admission {
        agent_status: StoreError::parse_stored::<AgentStatus>("status", &status)?,
        company_status: StoreError::parse_stored::<CompanyStatus>("status", &company_status)?,
        spent_monthly_cents: spent,
        budget_monthly_cents: budget,
        source: w.source,
        policy: HeartbeatPolicy::lenient(&runtime_config),
    });
    let task_key = w.context.issue_id.map(|i| i.to_string());
    let (status, error, coalesce_into) = match admission {
        Err(refusal) => ("skipped", Some(refusal.message()), None),
        Ok(()) => {
            let queued: Option<Uuid> = qs(
                "SELECT id FROM heartbeat_runs WHERE agent_id = $1 AND status = 'queued'
                   AND task_key IS NOT DISTINCT FROM $2 ORDER BY created_at LIMIT 1",
            )
            .bind(agent.id)
            .bind(&task_key)
            .fetch_optional(&mut *conn)
            .await
            .map_err(StoreError::sql("cannot read the queue"))?;
            match queued {
                Some(run) => ("coalesced", None, Some(run)),
                None => ("queued", None, None),
            }
        }
    };
    let mut payload = w.payload.clone();
    if let Some(issue) = w.context.issue_id {
        let p = payload.get_or_insert_with(|| json!({}));
        if let Some(o) = p.as_object_mut() {
            o.entry("issueId").or_insert(json!(issue));
        }
    }
    let inserted: Option<Wakeup> = qa(&format!(
        "INSERT INTO agent_wakeup_requests (company_id, agent_id, source, trigger_detail, reason, payload, idempotency_key,
                                            requested_by_actor_type, requested_by_actor_id, status, error, run_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (agent_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
         RETURNING {WAKE_COLS}"
    ))
    .bind(agent.company_id)
    .bind(agent.id)
    .bind(w.source.as_str())
    .bind(w.trigger.map(WakeupTrigger::as_str))
    .bind(&w.reason)
    .bind(&payload)
    .bind(&w.idempotency_key)
    .bind(actor.actor_type())
    .bind(actor.actor_id())
    .bind(status)
    .bind(&error)
    .bind(coalesce_into)
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot queue the wakeup"))?;
    let Some(mut wakeup) = inserted else {
        // Only a concurrent request with the same key gets here (the lock makes it rare).
        let wakeup = qa(&format!(
            "SELECT {WAKE_COLS} FROM agent_wakeup_requests WHERE agent_id = $1 AND idempotency_key = $2"
        ))
        .bind(agent.id)
        .bind(&w.idempotency_key)
        .fetch_one(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot read the wakeup"))?;
        return Ok(Enqueued {
            wakeup,
            outcome: Outcome::Duplicate,
        });
    };
    let mut details = json!({"wakeupRequestId": wakeup.id, "source": w.source, "reason": w.reason});
    let outcome = match (admission, coalesce_into) {
        (Err(refusal), _) => {
            details["skipped"] = json!(refusal.code());
            activity_row(conn, actor, agent, "agent.wakeup_skipped", details).await?;
            Outcome::Skipped(refusal)
        }
        (Ok(()), Some(run_id)) => {
            q(
                "UPDATE agent_wakeup_requests SET coalesced_count = coalesced_count + 1
               WHERE id = (SELECT wakeup_request_id FROM heartbeat_runs WHERE id = $1)",
            )
            .bind(run_id)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::sql("cannot coalesce the wakeup"))?;
            details["coalescedIntoRunId"] = json!(run_id);
            activity_row(conn, actor, agent, "agent.wakeup_requested", details).await?;
            let run = get(conn, run_id)
                .await?
                .expect("locked under the agent lock");
            Outcome::Coalesced(Box::new(run))
        }
        (Ok(()), None) => {
            let context = json!({
                "issueId": w.context.issue_id, "taskId": w.context.issue_id, "taskKey": task_key,
                "wakeReason": w.reason, "wakeSource": w.source, "wakeTriggerDetail": w.trigger,
                "wakeCommentId": w.context.comment_id, "approvalId": w.context.approval_id,
                "approvalStatus": w.context.approval_status, "wakeupRequestId": wakeup.id,
                "forceFreshSession": w.payload.as_ref().and_then(|p| p.get("forceFreshSession")).filter(|v| v.is_boolean()),
            });
            let run_id: Uuid = qs(
                "INSERT INTO heartbeat_runs (company_id, agent_id, invocation_source, trigger_detail, task_key,
                                             wakeup_request_id, context_snapshot)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            )
            .bind(agent.company_id)
            .bind(agent.id)
            .bind(w.source.as_str())
            .bind(w.trigger.map(WakeupTrigger::as_str))
            .bind(&task_key)
            .bind(wakeup.id)
            .bind(strip_nulls(context))
            .fetch_one(&mut *conn)
            .await
            .map_err(StoreError::sql("cannot queue the run"))?;
            q("UPDATE agent_wakeup_requests SET run_id = $2 WHERE id = $1")
                .bind(wakeup.id)
                .bind(run_id)
                .execute(&mut *conn)
                .await
                .map_err(StoreError::sql("cannot link the wakeup"))?;
            wakeup.run_id = Some(run_id);
            q("SELECT pg_notify($1, $2::text)")
                .bind(QUEUED_CHANNEL)
                .bind(run_id)
                .execute(&mut *conn)
                .await
                .map_err(StoreError::sql("cannot announce the run"))?;
            crate::live::publish(conn, agent.company_id, "heartbeat.run.queued",
                json!({"runId": run_id, "agentId": agent.id, "wakeupRequestId": wakeup.id, "source": w.source,
                       "reason": w.reason, "issueId": w.context.issue_id})).await?;
            details["runId"] = json!(run_id);
            activity_row(conn, actor, agent, "agent.wakeup_requested", details).await?;
            let run = get(conn, run_id).await?.expect("inserted above");
            Outcome::Queued(Box::new(run))
        }
    };
    Ok(Enqueued { wakeup, outcome })
}

async fn activity_row(
    conn: &mut PgConnection,
    actor: &Actor,
    agent: &Agent,
    action: &str,
    details: Value,
) -> Result<()> {
    activity::record(
        conn,
        actor,
        Entry {
            company_id: agent.company_id,
            action,
            entity_type: "agent",
            entity_id: agent.id.to_string(),
            details,
        },
    )
    .await
}

fn strip_nulls(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.retain(|_, v| !v.is_null());
    }
    v
}

/// Wakes the assignee of an issue that was just assigned (or checked out for an agent by the
/// board): `assignment` source, the issue as the task.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn wake_assignee(
    conn: &mut PgConnection,
    actor: &Actor,
    agent_id: Uuid,
    issue_id: Uuid,
    reason: &str,
) -> Result<Option<Enqueued>> {
    // An agent assigning work to itself is already awake.
    if actor.agent_id() == Some(agent_id) {
        return Ok(None);
    }
    let Some(agent) = crate::agents::get(conn, agent_id).await? else {
        return Ok(None);
    };
    let wake = Wake::system(
        WakeupSource::Assignment,
        reason,
        WakeContext {
            issue_id: Some(issue_id),
            ..WakeContext::default()
        },
    );
    enqueue(conn, actor, &agent, &wake).await.map(Some)
}

/// Wakes the agents a new comment concerns: the issue's assignee (`issue_commented`) and every
/// agent of the company it `@mentions` (`issue_comment_mentioned`). The author never wakes
/// itself.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn wake_for_comment(
    conn: &mut PgConnection,
    actor: &Actor,
    issue: &crate::issues::Issue,
    comment_id: Uuid,
    body: &str,
) -> Result<Vec<Enqueued>> {
    // Only agents the text could name (or the assignee) are read; the domain rule decides.
    let ids: Vec<Uuid> = qa::<(Uuid,)>(
        "SELECT id FROM agents WHERE company_id = $1 AND status <> 'terminated'
           AND (id IS NOT DISTINCT FROM $2 OR strpos(lower($3), '@' || lower(name)) > 0
                OR strpos(lower($3), '@' || lower(url_key)) > 0)
         ORDER BY id",
    )
    .bind(issue.company_id)
    .bind(issue.assignee_agent_id)
    .bind(body)
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot read the mentioned agents"))?
    .into_iter()
    .map(|(id,)| id)
    .collect();
    let mut agents = Vec::new();
    for id in ids {
        agents.extend(crate::agents::get(conn, id).await?);
    }
    let mut out = Vec::new();
    for agent in &agents {
        if actor.agent_id() == Some(agent.id) || agent.status == "terminated" {
            continue;
        }
        let reason = if paperclip_domain::heartbeat::mentions(body, &agent.name)
            || paperclip_domain::heartbeat::mentions(body, &agent.url_key)
        {
            "issue_comment_mentioned"
        } else if issue.assignee_agent_id == Some(agent.id) {
            "issue_commented"
        } else {
            continue;
        };
        let wake = Wake::system(
            WakeupSource::Automation,
            reason,
            WakeContext {
                issue_id: Some(issue.id),
                comment_id: Some(comment_id),
                ..WakeContext::default()
            },
        );
        out.push(enqueue(conn, actor, agent, &wake).await?);
    }
    Ok(out)
}

/// Wakes the agent that requested an approval once the board decides it.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn wake_for_approval(
    conn: &mut PgConnection,
    actor: &Actor,
    agent_id: Uuid,
    approval_id: Uuid,
    status: &str,
) -> Result<Option<Enqueued>> {
    let Some(agent) = crate::agents::get(conn, agent_id).await? else {
        return Ok(None);
    };
    let wake = Wake::system(
        WakeupSource::Automation,
        &format!("approval_{status}"),
        WakeContext {
            approval_id: Some(approval_id),
            approval_status: Some(status.into()),
            ..WakeContext::default()
        },
    );
    enqueue(conn, actor, &agent, &wake).await.map(Some)
}
