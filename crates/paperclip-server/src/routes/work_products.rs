//! An issue's deliverables: `GET|POST /issues/{issueId}/work-products`,
//! `PATCH|DELETE /work-products/{workProductId}`.

use axum::extract::{Path, State};
use axum::Json;
use paperclip_api_types::common::Ok as Done;
use paperclip_api_types::work::{CreateWorkProduct, PatchWorkProduct};
use paperclip_domain::work::{
    WORK_PRODUCT_HEALTH, WORK_PRODUCT_REVIEW_STATES, WORK_PRODUCT_STATUSES, WORK_PRODUCT_TYPES,
};
use paperclip_store::work_products::{self, Fields, WorkProduct};
use serde_json::{Map, Value};

use crate::auth::{check_company, Auth};
use crate::doc::Created;
use crate::extract::{path_id, JsonBody, Problems};
use crate::{ApiError, AppState};

/// Largest `metadata`, serialized.
const METADATA_BYTES: usize = 16 << 10;

fn check_url(p: &mut Problems, url: Option<&str>) {
    if let Some(u) = url {
        let ok = u.len() <= 2048
            && url::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
        if !ok {
            p.add(
                "url",
                "invalid_string",
                "url must be an http(s) URL of at most 2048 characters",
            );
        }
    }
}

fn check_metadata(p: &mut Problems, m: Option<&Map<String, Value>>) {
    if let Some(m) = m {
        if serde_json::to_vec(m).map_or(true, |v| v.len() > METADATA_BYTES) {
            p.add(
                "metadata",
                "too_big",
                "metadata must be at most 16 KiB of JSON",
            );
        }
    }
}

fn no_workspaces(p: &mut Problems, ws: Option<uuid::Uuid>, svc: Option<uuid::Uuid>) {
    if ws.is_some() {
        p.add(
            "executionWorkspaceId",
            "unsupported",
            "this server runs no execution workspaces; send null",
        );
    }
    if svc.is_some() {
        p.add(
            "runtimeServiceId",
            "unsupported",
            "this server runs no runtime services; send null",
        );
    }
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(iid): Path<String>,
) -> Result<Json<Vec<WorkProduct>>, ApiError> {
    let mut conn = s.db.session().await?;
    let issue = super::issue(&mut conn, &actor, &iid).await?;
    let v = work_products::list(&mut conn, issue.id).await?;
    conn.close().await?;
    Ok(Json(v))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn create(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(iid): Path<String>,
    JsonBody(b): JsonBody<CreateWorkProduct>,
) -> Result<Created<WorkProduct>, ApiError> {
    let mut p = Problems::default();
    let kind = p.required("type", b.kind.as_deref(), 40);
    if !kind.is_empty() {
        p.one_of("type", &kind, WORK_PRODUCT_TYPES);
    }
    let provider = p.required("provider", b.provider.as_deref(), 100);
    let title = p.required("title", b.title.as_deref(), 500);
    p.opt_text("externalId", b.external_id.as_deref(), 500);
    check_url(&mut p, b.url.as_deref());
    let status = b.status.unwrap_or_else(|| "active".into());
    p.one_of("status", &status, WORK_PRODUCT_STATUSES);
    let review_state = b.review_state.unwrap_or_else(|| "none".into());
    p.one_of("reviewState", &review_state, WORK_PRODUCT_REVIEW_STATES);
    let health_status = b.health_status.unwrap_or_else(|| "unknown".into());
    p.one_of("healthStatus", &health_status, WORK_PRODUCT_HEALTH);
    p.opt_text("summary", b.summary.as_deref(), 10_000);
    check_metadata(&mut p, b.metadata.as_ref());
    no_workspaces(&mut p, b.execution_workspace_id, b.runtime_service_id);
    p.finish()?;
    let mut tx = s.db.begin().await?;
    let issue = super::issue(&mut tx, &actor, &iid).await?;
    let f = Fields {
        kind,
        provider,
        external_id: b.external_id,
        title,
        url: b.url,
        status,
        review_state,
        is_primary: b.is_primary.unwrap_or(false),
        health_status,
        summary: b.summary,
        metadata: b.metadata,
        project_id: b.project_id.or(issue.project_id),
        created_by_run_id: b.created_by_run_id.or(actor.run_id),
    };
    let w = work_products::create(&mut tx, &actor, &issue, &f).await?;
    tx.commit().await?;
    Ok(Created(w))
}

async fn load(
    conn: &mut sqlx::PgConnection,
    actor: &paperclip_store::Actor,
    raw: &str,
) -> Result<WorkProduct, ApiError> {
    let id = path_id(raw, "Work product")?;
    let w = work_products::get(conn, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Work product"))?;
    check_company(actor, w.company_id, "Work product")?;
    Ok(w)
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn patch(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<PatchWorkProduct>,
) -> Result<Json<WorkProduct>, ApiError> {
    let mut p = Problems::default();
    if let Some(k) = &b.kind {
        p.one_of("type", k, WORK_PRODUCT_TYPES);
    }
    if let Some(v) = &b.provider {
        p.text("provider", v, 100);
    }
    if let Some(v) = &b.title {
        p.text("title", v, 500);
    }
    if let Some(Some(v)) = &b.external_id {
        p.text("externalId", v, 500);
    }
    if let Some(u) = &b.url {
        check_url(&mut p, u.as_deref());
    }
    if let Some(v) = &b.status {
        p.one_of("status", v, WORK_PRODUCT_STATUSES);
    }
    if let Some(v) = &b.review_state {
        p.one_of("reviewState", v, WORK_PRODUCT_REVIEW_STATES);
    }
    if let Some(v) = &b.health_status {
        p.one_of("healthStatus", v, WORK_PRODUCT_HEALTH);
    }
    if let Some(Some(v)) = &b.summary {
        p.text("summary", v, 10_000);
    }
    if let Some(m) = &b.metadata {
        check_metadata(&mut p, m.as_ref());
    }
    no_workspaces(&mut p, b.execution_workspace_id, b.runtime_service_id);
    if b.created_by_run_id.is_some() {
        p.add(
            "createdByRunId",
            "immutable",
            "the run that created a work product cannot change",
        );
    }
    p.finish()?;
    let mut tx = s.db.begin().await?;
    let w = load(&mut tx, &actor, &id).await?;
    let mut f = Fields::of(&w);
    if let Some(v) = b.kind {
        f.kind = v;
    }
    if let Some(v) = b.provider {
        f.provider = v;
    }
    if let Some(v) = b.title {
        f.title = v;
    }
    if let Some(v) = b.external_id {
        f.external_id = v;
    }
    if let Some(v) = b.url {
        f.url = v;
    }
    if let Some(v) = b.status {
        f.status = v;
    }
    if let Some(v) = b.review_state {
        f.review_state = v;
    }
    if let Some(v) = b.is_primary {
        f.is_primary = v;
    }
    if let Some(v) = b.health_status {
        f.health_status = v;
    }
    if let Some(v) = b.summary {
        f.summary = v;
    }
    if let Some(v) = b.metadata {
        f.metadata = v;
    }
    if let Some(v) = b.project_id {
        f.project_id = v;
    }
    let w = work_products::update(&mut tx, &actor, &w, &f).await?;
    tx.commit().await?;
    Ok(Json(w))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn delete(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<Done>, ApiError> {
    let mut tx = s.db.begin().await?;
    let w = load(&mut tx, &actor, &id).await?;
    work_products::delete(&mut tx, &actor, &w).await?;
    tx.commit().await?;
    Ok(Json(Done::yes()))
}
