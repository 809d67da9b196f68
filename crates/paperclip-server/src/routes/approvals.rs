//! Approvals: created by agents or the board, decided by the board only.

use axum::extract::{Path, State};
use axum::Json;
use paperclip_api_types::approvals::*;
use paperclip_store::{
    self as store,
    approvals::{Approval, Decision, TYPES},
};
use serde_json::json;

use crate::auth::{check_company, require_board, Auth};
use crate::doc::Created;
use crate::extract::{path_id, JsonBody, Problems, QueryMap};
use crate::{ApiError, AppState};

const STATUSES: &[&str] = &[
    "pending",
    "revision_requested",
    "approved",
    "rejected",
    "cancelled",
];

async fn load(
    conn: &mut sqlx::PgConnection,
    actor: &store::Actor,
    raw: &str,
) -> Result<Approval, ApiError> {
    let a = store::approvals::get(conn, path_id(raw, "Approval")?)
        .await?
        .ok_or_else(|| ApiError::not_found("Approval"))?;
    check_company(actor, a.company_id, "Approval")?;
    Ok(a)
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn create(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(cid): Path<String>,
    JsonBody(b): JsonBody<CreateApproval>,
) -> Result<Created<Approval>, ApiError> {
    let payload = b.payload.unwrap_or_else(|| json!({}));
    let mut p = Problems::default();
    p.one_of("type", &b.kind, TYPES);
    if !payload.is_object() {
        p.add("payload", "invalid_type", "payload must be an object");
    }
    p.finish()?;
    if let (Some(me), Some(other)) = (actor.agent_id(), b.requested_by_agent_id) {
        if me != other {
            return Err(ApiError::Forbidden(
                "An agent can only request approvals for itself".into(),
            ));
        }
    }
    let mut tx = s.db.begin().await?;
    let c = super::company(&mut tx, &actor, &cid).await?;
    let a = store::approvals::create(
        &mut tx,
        &actor,
        c.id,
        &b.kind,
        b.requested_by_agent_id,
        &payload,
        &b.issue_ids,
    )
    .await?;
    tx.commit().await?;
    Ok(Created(a))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(cid): Path<String>,
    q: QueryMap<ApprovalListQuery>,
) -> Result<Json<Vec<Approval>>, ApiError> {
    let status = q.text("status");
    if let Some(st) = status {
        let mut p = Problems::default();
        p.one_of("status", st, STATUSES);
        p.finish()?;
    }
    let mut conn = s.db.session().await?;
    let c = super::company(&mut conn, &actor, &cid).await?;
    let v = store::approvals::list(&mut conn, c.id, status).await?;
    conn.close().await?;
    Ok(Json(v))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn get(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<Approval>, ApiError> {
    let mut conn = s.db.session().await?;
    let a = load(&mut conn, &actor, &id).await?;
    conn.close().await?;
    Ok(Json(a))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn issues(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<crate::views::IssueList>, ApiError> {
    let mut conn = s.db.session().await?;
    let a = load(&mut conn, &actor, &id).await?;
    let ids = store::approvals::issue_ids(&mut conn, a.id).await?;
    let issues = store::issues::get_many(&mut conn, &ids).await?;
    conn.close().await?;
    Ok(Json(crate::views::issue_list(issues)))
}

async fn decide(
    s: AppState,
    actor: store::Actor,
    id: String,
    d: Decision,
    b: DecisionBody,
) -> Result<Json<Approval>, ApiError> {
    if d != Decision::Resubmit {
        require_board(&actor, "decide approvals")?;
    }
    let mut p = Problems::default();
    p.opt_text("decisionNote", b.decision_note.as_deref(), 10_000);
    if b.payload.as_ref().is_some_and(|v| !v.is_object()) {
        p.add("payload", "invalid_type", "payload must be an object");
    }
    p.finish()?;
    let mut tx = s.db.begin().await?;
    let a = load(&mut tx, &actor, &id).await?;
    let a = store::approvals::decide(
        &mut tx,
        &actor,
        &a,
        d,
        b.decision_note.as_deref(),
        b.payload.as_ref(),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(a))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn approve(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<DecisionBody>,
) -> Result<Json<Approval>, ApiError> {
    decide(s, actor, id, Decision::Approve, b).await
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn reject(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<DecisionBody>,
) -> Result<Json<Approval>, ApiError> {
    decide(s, actor, id, Decision::Reject, b).await
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn request_revision(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<DecisionBody>,
) -> Result<Json<Approval>, ApiError> {
    decide(s, actor, id, Decision::RequestRevision, b).await
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn resubmit(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<DecisionBody>,
) -> Result<Json<Approval>, ApiError> {
    decide(s, actor, id, Decision::Resubmit, b).await
}
