//! Cost events, monthly summaries and the budget hard stop.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::activity::{self, Entry};
use crate::{Actor, IN_BUDGET_WINDOW, MONTH_START};
use crate::{Result, StoreError};
use paperclip_domain::rules::budget_exhausted;
use paperclip_domain::AgentStatus;
use paperclip_postgres::pool::{q, qa, qs};

/// A recorded cost.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct CostEvent {
    pub id: Uuid,
    pub company_id: Uuid,
    pub agent_id: Uuid,
    pub issue_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    pub goal_id: Option<Uuid>,
    pub billing_code: Option<String>,
    pub provider: String,
    pub model: String,
    pub input_tokens: i64,
    pub cached_input_tokens: i64,
    pub output_tokens: i64,
    pub cost_cents: i64,
    pub occurred_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// A cost to record.
#[derive(Debug, Clone)]
pub struct NewCost {
    pub agent_id: Uuid,
    pub issue_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    pub goal_id: Option<Uuid>,
    pub billing_code: Option<String>,
    pub provider: String,
    pub model: String,
    pub input_tokens: i64,
    pub cached_input_tokens: i64,
    pub output_tokens: i64,
    pub cost_cents: i64,
    pub occurred_at: Option<DateTime<Utc>>,
    /// The heartbeat run that spent it.
    pub heartbeat_run_id: Option<Uuid>,
}

/// Records a cost, then enforces the agent's monthly budget in the same transaction: at 80 % a
/// warning activity (once a month), at 100 % the agent is paused (`budget`) and can no longer
/// check out work.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn record(
    conn: &mut PgConnection,
    actor: &Actor,
    company_id: Uuid,
    c: &NewCost,
) -> Result<CostEvent> {
    use crate::issues::check_ref;
    check_ref(conn, "agents", "agentId", company_id, c.agent_id).await?;
    if let Some(i) = c.issue_id {
        check_ref(conn, "issues", "issueId", company_id, i).await?;
    }
    if let Some(p) = c.project_id {
        check_ref(conn, "projects", "projectId", company_id, p).await?;
    }
    if let Some(g) = c.goal_id {
        check_ref(conn, "goals", "goalId", company_id, g).await?;
    }
    let e: CostEvent = qa(
        "INSERT INTO cost_events (company_id, agent_id, issue_id, project_id, goal_id, billing_code, provider, model,
                                  input_tokens, cached_input_tokens, output_tokens, cost_cents, occurred_at, heartbeat_run_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, COALESCE($13, now()), $14)
         RETURNING id, company_id, agent_id, issue_id, project_id, goal_id, billing_code, provider, model,
                   input_tokens, cached_input_tokens, output_tokens, cost_cents, occurred_at, created_at",
    )
    .bind(company_id)
    .bind(c.agent_id)
    .bind(c.issue_id)
    .bind(c.project_id)
    .bind(c.goal_id)
    .bind(&c.billing_code)
    .bind(&c.provider)
    .bind(&c.model)
    .bind(c.input_tokens)
    .bind(c.cached_input_tokens)
    .bind(c.output_tokens)
    .bind(c.cost_cents)
    .bind(c.occurred_at)
    .bind(c.heartbeat_run_id)
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot record the cost"))?;
    activity::record(conn, actor, Entry {
        company_id,
        action: "cost.reported",
        entity_type: "cost_event",
        entity_id: e.id.to_string(),
        details: json!({"agentId": c.agent_id, "costCents": c.cost_cents, "provider": c.provider, "model": c.model}),
    })
    .await?;
    enforce_agent_budget(conn, company_id, c.agent_id).await?;
    Ok(e)
}

async fn enforce_agent_budget(
    conn: &mut PgConnection,
    company_id: Uuid,
    agent_id: Uuid,
) -> Result<()> {
    // Lock the agent row so concurrent cost reports decide the hard stop once.
    let (budget, status): (i64, String) =
        qa("SELECT budget_monthly_cents, status FROM agents WHERE id = $1 FOR UPDATE")
            .bind(agent_id)
            .fetch_one(&mut *conn)
            .await
            .map_err(StoreError::sql("cannot read the agent budget"))?;
    if budget <= 0 {
        return Ok(());
    }
    let spent: i64 = qs(&format!(
        "SELECT COALESCE(sum(t.cost_cents), 0)::bigint FROM cost_monthly_totals t
         WHERE t.company_id = $1 AND t.agent_id = $2 AND {IN_BUDGET_WINDOW}"
    ))
    .bind(company_id)
    .bind(agent_id)
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot sum costs"))?;
    let system = Actor::system();
    let status: AgentStatus = StoreError::parse_stored("status", &status)?;
    if budget_exhausted(spent, budget, status) {
        q("UPDATE agents SET status = 'paused', pause_reason = 'budget', paused_at = now() WHERE id = $1")
            .bind(agent_id)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::sql("cannot pause the agent"))?;
        let cancelled = crate::runs::cancel_queued_for_agent(
            conn,
            agent_id,
            "budget_exhausted",
            "the agent's monthly budget is spent",
        )
        .await?;
        activity::record(conn, &system, Entry {
            company_id,
            action: "agent.budget_hard_stop",
            entity_type: "agent",
            entity_id: agent_id.to_string(),
            details: json!({"spentMonthlyCents": spent, "budgetMonthlyCents": budget, "priority": "high",
                            "cancelledQueuedRuns": cancelled}),
        })
        .await?;
    } else if spent * 100 >= budget * 80 && spent < budget {
        let warned: bool = qs(&format!(
            "SELECT EXISTS (SELECT 1 FROM activity_log WHERE company_id = $1 AND agent_id IS NULL AND entity_type = 'agent'
                AND entity_id = $2 AND action = 'agent.budget_warning' AND created_at >= {MONTH_START})"
        ))
        .bind(company_id)
        .bind(agent_id.to_string())
        .fetch_one(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot read warnings"))?;
        if !warned {
            activity::record(conn, &system, Entry {
                company_id,
                action: "agent.budget_warning",
                entity_type: "agent",
                entity_id: agent_id.to_string(),
                details: json!({"spentMonthlyCents": spent, "budgetMonthlyCents": budget, "percent": spent * 100 / budget}),
            })
            .await?;
        }
    }
    Ok(())
}

/// Month-to-date totals of a company's cost events.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Totals {
    pub spent_cents: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub event_count: i64,
}

/// Month-to-date totals of a company.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn totals(conn: &mut PgConnection, company_id: Uuid) -> Result<Totals> {
    qa(&format!(
        "SELECT COALESCE(sum(t.cost_cents), 0)::bigint AS spent_cents,
                COALESCE(sum(t.input_tokens), 0)::bigint AS input_tokens,
                COALESCE(sum(t.output_tokens), 0)::bigint AS output_tokens,
                COALESCE(sum(t.event_count), 0)::bigint AS event_count
         FROM cost_monthly_totals t WHERE t.company_id = $1 AND {IN_BUDGET_WINDOW}"
    ))
    .bind(company_id)
    .fetch_one(conn)
    .await
    .map_err(StoreError::sql("cannot sum costs"))
}

/// Month-to-date spend of one agent or project (`id` is `None` for costs without a project).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Spend {
    pub id: Option<Uuid>,
    pub name: Option<String>,
    pub cost_cents: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
}

/// Month-to-date spend grouped by agent or project, largest first.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn by(conn: &mut PgConnection, company_id: Uuid, by_project: bool) -> Result<Vec<Spend>> {
    let sql = if by_project {
        format!("SELECT t.project_id AS id, p.name, sum(t.cost_cents)::bigint AS cost_cents,
                        sum(t.input_tokens)::bigint AS input_tokens, sum(t.output_tokens)::bigint AS output_tokens
                 FROM cost_monthly_totals t LEFT JOIN projects p ON p.id = t.project_id
                 WHERE t.company_id = $1 AND {IN_BUDGET_WINDOW}
                 GROUP BY t.project_id, p.name HAVING sum(t.event_count) > 0 ORDER BY 3 DESC")
    } else {
        format!("SELECT t.agent_id AS id, a.name, sum(t.cost_cents)::bigint AS cost_cents,
                        sum(t.input_tokens)::bigint AS input_tokens, sum(t.output_tokens)::bigint AS output_tokens
                 FROM cost_monthly_totals t JOIN agents a ON a.id = t.agent_id
                 WHERE t.company_id = $1 AND {IN_BUDGET_WINDOW}
                 GROUP BY t.agent_id, a.name HAVING sum(t.event_count) > 0 ORDER BY 3 DESC")
    };
    qa(&sql)
        .bind(company_id)
        .fetch_all(conn)
        .await
        .map_err(StoreError::sql("cannot group costs"))
}
