//! An issue's deliverables (work products): a PR, a branch, a preview, a file, a document.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Map, Value};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::activity::{self, Entry};
use crate::issues::Issue;
use crate::Actor;
use crate::{Result, StoreError};
use paperclip_postgres::pool::{q, qa, qs};

/// A work product as upstream serializes it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct WorkProduct {
    pub id: Uuid,
    pub company_id: Uuid,
    pub issue_id: Uuid,
    pub project_id: Option<Uuid>,
    /// Always `null` here (no execution workspaces on this server).
    pub execution_workspace_id: Option<Uuid>,
    /// Always `null` here (no runtime services on this server).
    pub runtime_service_id: Option<Uuid>,
    #[serde(rename = "type")]
    #[sqlx(rename = "type")]
    pub kind: String,
    pub provider: String,
    pub external_id: Option<String>,
    pub title: String,
    pub url: Option<String>,
    pub status: String,
    pub review_state: String,
    pub is_primary: bool,
    pub health_status: String,
    pub summary: Option<String>,
    #[schemars(with = "Option<Map<String, Value>>")]
    pub metadata: Option<sqlx::types::Json<Map<String, Value>>>,
    pub created_by_run_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLS: &str = "id, company_id, issue_id, project_id, NULL::uuid AS execution_workspace_id,
    NULL::uuid AS runtime_service_id, type, provider, external_id, title, url, status,
    review_state, is_primary, health_status, summary, metadata, created_by_run_id, created_at,
    updated_at";

/// Every field of a work product as it will be stored.
#[derive(Debug, Clone)]
pub struct Fields {
    pub kind: String,
    pub provider: String,
    pub external_id: Option<String>,
    pub title: String,
    pub url: Option<String>,
    pub status: String,
    pub review_state: String,
    pub is_primary: bool,
    pub health_status: String,
    pub summary: Option<String>,
    pub metadata: Option<Map<String, Value>>,
    pub project_id: Option<Uuid>,
    pub created_by_run_id: Option<Uuid>,
}

impl Fields {
    /// The stored fields of `w`, to change some and [`update`].
    pub fn of(w: &WorkProduct) -> Self {
        Self {
            kind: w.kind.clone(),
            provider: w.provider.clone(),
            external_id: w.external_id.clone(),
            title: w.title.clone(),
            url: w.url.clone(),
            status: w.status.clone(),
            review_state: w.review_state.clone(),
            is_primary: w.is_primary,
            health_status: w.health_status.clone(),
            summary: w.summary.clone(),
            metadata: w.metadata.as_ref().map(|m| m.0.clone()),
            project_id: w.project_id,
            created_by_run_id: w.created_by_run_id,
        }
    }
}

/// Whether row `id` of `table` (a fixed table name) belongs to `company_id`; a 422 naming
/// `field` otherwise.
async fn of_company(
    conn: &mut PgConnection,
    table: &str,
    id: Uuid,
    company_id: Uuid,
    field: &'static str,
) -> Result<()> {
    let ok: Option<bool> = qs(&format!(
        "SELECT company_id = $2 FROM {table} WHERE id = $1"
    ))
    .bind(id)
    .bind(company_id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot read a referenced row"))?;
    if ok != Some(true) {
        return Err(StoreError::invalid(field, "no such object in this company"));
    }
    Ok(())
}

/// The project and run a work product names must be the issue's company's.
async fn check_refs(conn: &mut PgConnection, company_id: Uuid, f: &Fields) -> Result<()> {
    if let Some(p) = f.project_id {
        of_company(conn, "projects", p, company_id, "projectId").await?;
    }
    if let Some(r) = f.created_by_run_id {
        of_company(conn, "heartbeat_runs", r, company_id, "createdByRunId").await?;
    }
    Ok(())
}

/// A primary work product takes the flag from the issue's other one of its type.
async fn clear_primary(
    conn: &mut PgConnection,
    issue_id: Uuid,
    kind: &str,
    keep: Option<Uuid>,
) -> Result<()> {
    q("UPDATE issue_work_products SET is_primary = false
       WHERE issue_id = $1 AND type = $2 AND is_primary AND id IS DISTINCT FROM $3")
    .bind(issue_id)
    .bind(kind)
    .bind(keep)
    .execute(conn)
    .await
    .map_err(StoreError::sql("cannot update the primary work product"))?;
    Ok(())
}

/// Binds `$1..$12`: the fields both writes set, in one order.
fn bind_fields<'q>(
    query: sqlx::query::QueryAs<'q, sqlx::Postgres, WorkProduct, sqlx::postgres::PgArguments>,
    f: &'q Fields,
) -> sqlx::query::QueryAs<'q, sqlx::Postgres, WorkProduct, sqlx::postgres::PgArguments> {
    query
        .bind(f.project_id)
        .bind(&f.kind)
        .bind(&f.provider)
        .bind(&f.external_id)
        .bind(&f.title)
        .bind(&f.url)
        .bind(&f.status)
        .bind(&f.review_state)
        .bind(f.is_primary)
        .bind(&f.health_status)
        .bind(&f.summary)
        .bind(f.metadata.clone().map(sqlx::types::Json))
}

/// Adds a work product to `issue`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    issue: &Issue,
    f: &Fields,
) -> Result<WorkProduct> {
    check_refs(conn, issue.company_id, f).await?;
    if f.is_primary {
        clear_primary(conn, issue.id, &f.kind, None).await?;
    }
    let sql = format!(
        "INSERT INTO issue_work_products (project_id, type, provider, external_id, title, url, status,
             review_state, is_primary, health_status, summary, metadata, company_id, issue_id, created_by_run_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING {COLS}"
    );
    let w: WorkProduct = bind_fields(qa(&sql), f)
        .bind(issue.company_id)
        .bind(issue.id)
        .bind(f.created_by_run_id)
        .fetch_one(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot create the work product"))?;
    record(conn, actor, &w, "issue.work_product_created").await?;
    Ok(w)
}

/// Replaces a work product's fields (not the run that created it).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn update(
    conn: &mut PgConnection,
    actor: &Actor,
    w: &WorkProduct,
    f: &Fields,
) -> Result<WorkProduct> {
    check_refs(conn, w.company_id, f).await?;
    if f.is_primary {
        clear_primary(conn, w.issue_id, &f.kind, Some(w.id)).await?;
    }
    let sql = format!(
        "UPDATE issue_work_products SET project_id = $1, type = $2, provider = $3, external_id = $4,
             title = $5, url = $6, status = $7, review_state = $8, is_primary = $9, health_status = $10,
             summary = $11, metadata = $12
         WHERE id = $13 RETURNING {COLS}"
    );
    let w: WorkProduct = bind_fields(qa(&sql), f)
        .bind(w.id)
        .fetch_one(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot update the work product"))?;
    record(conn, actor, &w, "issue.work_product_updated").await?;
    Ok(w)
}

/// Deletes a work product.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn delete(conn: &mut PgConnection, actor: &Actor, w: &WorkProduct) -> Result<()> {
    q("DELETE FROM issue_work_products WHERE id = $1")
        .bind(w.id)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot delete the work product"))?;
    record(conn, actor, w, "issue.work_product_deleted").await
}

async fn record(
    conn: &mut PgConnection,
    actor: &Actor,
    w: &WorkProduct,
    action: &'static str,
) -> Result<()> {
    activity::record(
        conn,
        actor,
        Entry {
            company_id: w.company_id,
            action,
            entity_type: "issue",
            entity_id: w.issue_id.to_string(),
            details: json!({"workProductId": w.id, "type": w.kind, "title": w.title, "status": w.status, "url": w.url}),
        },
    )
    .await
}

/// One work product.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn get(conn: &mut PgConnection, id: Uuid) -> Result<Option<WorkProduct>> {
    qa(&format!(
        "SELECT {COLS} FROM issue_work_products WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
    .map_err(StoreError::sql("cannot read the work product"))
}

/// An issue's work products: primary first, then newest.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(conn: &mut PgConnection, issue_id: Uuid) -> Result<Vec<WorkProduct>> {
    qa(&format!(
        "SELECT {COLS} FROM issue_work_products WHERE issue_id = $1
         ORDER BY is_primary DESC, created_at DESC, id"
    ))
    .bind(issue_id)
    .fetch_all(conn)
    .await
    .map_err(StoreError::sql("cannot list work products"))
}
