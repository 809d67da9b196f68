//! `/companies`: create, list, read, patch, archive, dashboard, org tree, activity.

use axum::extract::{Path, State};
use axum::Json;
use paperclip_api_types::companies::*;
use paperclip_store::{
    self as store,
    companies::{Company, CompanyPatch, NewCompany},
};

use paperclip_domain::rules::utilization_percent;

use crate::auth::{require_board, Auth};
use crate::doc::Created;
use crate::extract::{JsonBody, Problems, QueryMap};
use crate::{ApiError, AppState};

const STATUSES: &[&str] = &["active", "paused", "archived"];

#[tracing::instrument(level = "debug", skip_all)]
pub async fn create(
    State(s): State<AppState>,
    Auth(actor): Auth,
    JsonBody(b): JsonBody<CreateCompany>,
) -> Result<Created<Company>, ApiError> {
    require_board(&actor, "create companies")?;
    crate::auth::require_instance_admin(&actor, "create companies")?;
    let mut p = Problems::default();
    let name = p.required("name", b.name.as_deref(), 200);
    p.opt_text("description", b.description.as_deref(), 10_000);
    p.non_negative("budgetMonthlyCents", b.budget_monthly_cents);
    p.finish()?;
    let mut tx = s.db.begin().await?;
    let c = store::companies::create(
        &mut tx,
        &actor,
        &NewCompany {
            name,
            description: b.description,
            budget_monthly_cents: b.budget_monthly_cents,
            require_board_approval_for_new_agents: b.require_board_approval_for_new_agents,
        },
    )
    .await?;
    super::access::own_new_company(&mut tx, &actor, c.id).await?;
    tx.commit().await?;
    Ok(Created(c))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(
    State(s): State<AppState>,
    Auth(actor): Auth,
) -> Result<Json<Vec<Company>>, ApiError> {
    let mut conn = s.db.session().await?;
    let mut all = store::companies::list(&mut conn).await?;
    conn.close().await?;
    all.retain(|c| crate::auth::can_see(&actor, c.id));
    Ok(Json(all))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn get(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<Company>, ApiError> {
    let mut conn = s.db.session().await?;
    let c = super::company(&mut conn, &actor, &id).await?;
    conn.close().await?;
    Ok(Json(c))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn patch(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<PatchCompany>,
) -> Result<Json<Company>, ApiError> {
    require_board(&actor, "update companies")?;
    let mut p = Problems::default();
    if let Some(n) = &b.name {
        p.text("name", n, 200);
    }
    if let Some(st) = &b.status {
        p.one_of("status", st, STATUSES);
    }
    if let Some(c) = b.budget_monthly_cents {
        p.non_negative("budgetMonthlyCents", c);
    }
    p.finish()?;
    let mut tx = s.db.begin().await?;
    let c = super::company(&mut tx, &actor, &id).await?;
    let patch = CompanyPatch {
        name: b.name.map(|n| n.trim().to_string()),
        description: b.description,
        status: b.status,
        budget_monthly_cents: b.budget_monthly_cents,
        require_board_approval_for_new_agents: b.require_board_approval_for_new_agents,
    };
    let c = store::companies::update(&mut tx, &actor, c.id, &patch, "company.updated")
        .await?
        .ok_or_else(|| ApiError::not_found("Company"))?;
    tx.commit().await?;
    Ok(Json(c))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn archive(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<Company>, ApiError> {
    require_board(&actor, "archive companies")?;
    let mut tx = s.db.begin().await?;
    let c = super::company(&mut tx, &actor, &id).await?;
    let patch = CompanyPatch {
        status: Some("archived".into()),
        ..Default::default()
    };
    let c = store::companies::update(&mut tx, &actor, c.id, &patch, "company.archived")
        .await?
        .ok_or_else(|| ApiError::not_found("Company"))?;
    tx.commit().await?;
    Ok(Json(c))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn dashboard(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<Dashboard<store::activity::Activity>>, ApiError> {
    let mut conn = s.db.session().await?;
    let c = super::company(&mut conn, &actor, &id).await?;
    let d = store::companies::dashboard(&mut conn, &c).await?;
    conn.close().await?;
    Ok(Json(Dashboard {
        company_id: c.id,
        agents: d.agents_by_status.into_iter().collect(),
        tasks: d.issues_by_status.into_iter().collect(),
        costs: DashboardCosts {
            month_spend_cents: c.spent_monthly_cents,
            month_budget_cents: c.budget_monthly_cents,
            month_utilization_percent: utilization_percent(
                c.spent_monthly_cents,
                c.budget_monthly_cents,
            ),
        },
        pending_approvals: d.pending_approvals,
        recent_activity: d.recent_activity,
    }))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn org(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<Vec<OrgNode>>, ApiError> {
    let mut conn = s.db.session().await?;
    let c = super::company(&mut conn, &actor, &id).await?;
    let members = store::agents::org_members(&mut conn, c.id).await?;
    conn.close().await?;
    Ok(Json(crate::views::org_forest(members)))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn activity(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    q: QueryMap<ActivityQuery>,
) -> Result<Json<Vec<store::activity::Activity>>, ApiError> {
    let filter = store::activity::Filter {
        agent_id: q.uuid("agentId")?,
        entity_type: q.text("entityType").map(str::to_string),
        entity_id: q.text("entityId").map(str::to_string),
        action: q.text("action").map(str::to_string),
        limit: q.int("limit", 100, 1, 500)?,
        offset: q.int("offset", 0, 0, i64::from(i32::MAX))?,
    };
    let mut conn = s.db.session().await?;
    let c = super::company(&mut conn, &actor, &id).await?;
    let rows = store::activity::list(&mut conn, c.id, &filter).await?;
    conn.close().await?;
    Ok(Json(rows))
}
