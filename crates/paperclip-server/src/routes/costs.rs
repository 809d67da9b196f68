//! Cost events and month-to-date summaries.

use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use paperclip_api_types::costs::*;
use paperclip_store::{
    self as store,
    costs::{CostEvent, NewCost},
};

use crate::auth::Auth;
use crate::doc::Created;
use crate::extract::{JsonBody, Problems};
use crate::{ApiError, AppState};

#[tracing::instrument(level = "debug", skip_all)]
pub async fn create(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(cid): Path<String>,
    JsonBody(b): JsonBody<CreateCost>,
) -> Result<Created<CostEvent>, ApiError> {
    let mut p = Problems::default();
    p.text("provider", &b.provider, 200);
    p.text("model", &b.model, 200);
    p.non_negative("inputTokens", b.input_tokens);
    p.non_negative("cachedInputTokens", b.cached_input_tokens);
    p.non_negative("outputTokens", b.output_tokens);
    p.non_negative("costCents", b.cost_cents);
    if let Some(at) = b.occurred_at {
        // Cost history starts with the epoch and cannot be in the future (a day of clock skew
        // aside): anything else is a typo or an attempt to hide spend from a month's total.
        let latest = Utc::now() + chrono::Duration::days(1);
        if at < DateTime::UNIX_EPOCH || at > latest {
            p.add(
                "occurredAt",
                "invalid_date",
                "must be between 1970-01-01 and now",
            );
        }
    }
    p.finish()?;
    // An agent reports its own spend only: a fake cost on a sibling would pause it (budget).
    if let store::ActorKind::Agent { agent_id, .. } = actor.kind {
        if agent_id != b.agent_id {
            return Err(ApiError::Forbidden(
                "Agents may report only their own costs (agentId must be the calling agent)".into(),
            ));
        }
    }
    let mut tx = s.db.begin().await?;
    let c = super::company(&mut tx, &actor, &cid).await?;
    let e = store::costs::record(
        &mut tx,
        &actor,
        c.id,
        &NewCost {
            agent_id: b.agent_id,
            issue_id: b.issue_id,
            project_id: b.project_id,
            goal_id: b.goal_id,
            billing_code: b.billing_code,
            provider: b.provider,
            model: b.model,
            input_tokens: b.input_tokens,
            cached_input_tokens: b.cached_input_tokens,
            output_tokens: b.output_tokens,
            cost_cents: b.cost_cents,
            occurred_at: b.occurred_at,
            // A cost reported by an agent inside a heartbeat belongs to that run.
            heartbeat_run_id: actor.run_id,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Created(e))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn summary(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(cid): Path<String>,
) -> Result<Json<CostSummary>, ApiError> {
    let mut conn = s.db.session().await?;
    let c = super::company(&mut conn, &actor, &cid).await?;
    let t = store::costs::totals(&mut conn, c.id).await?;
    conn.close().await?;
    let budget = c.budget_monthly_cents;
    Ok(Json(CostSummary {
        company_id: c.id,
        spend_cents: t.spent_cents,
        budget_cents: budget,
        utilization_percent: paperclip_domain::rules::utilization_percent(t.spent_cents, budget),
        input_tokens: t.input_tokens,
        output_tokens: t.output_tokens,
        event_count: t.event_count,
    }))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn by_agent(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(cid): Path<String>,
) -> Result<Json<Vec<AgentSpend>>, ApiError> {
    let mut conn = s.db.session().await?;
    let c = super::company(&mut conn, &actor, &cid).await?;
    let v = store::costs::by(&mut conn, c.id, false).await?;
    conn.close().await?;
    Ok(Json(
        v.into_iter()
            .map(|r| AgentSpend {
                agent_id: r.id,
                agent_name: r.name,
                cost_cents: r.cost_cents,
                input_tokens: r.input_tokens,
                output_tokens: r.output_tokens,
            })
            .collect(),
    ))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn by_project(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(cid): Path<String>,
) -> Result<Json<Vec<ProjectSpend>>, ApiError> {
    let mut conn = s.db.session().await?;
    let c = super::company(&mut conn, &actor, &cid).await?;
    let v = store::costs::by(&mut conn, c.id, true).await?;
    conn.close().await?;
    Ok(Json(
        v.into_iter()
            .map(|r| ProjectSpend {
                project_id: r.id,
                project_name: r.name,
                cost_cents: r.cost_cents,
                input_tokens: r.input_tokens,
                output_tokens: r.output_tokens,
            })
            .collect(),
    ))
}
