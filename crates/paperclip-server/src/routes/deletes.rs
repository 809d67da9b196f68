//! `DELETE` of issues, agents, projects and companies (the rules are in
//! `paperclip_store::deletes`). Board only; files leave storage after the transaction commits.

use axum::extract::{Path, State};
use axum::Json;
use paperclip_api_types::common::Ok as Done;
use paperclip_store::{self as store, deletes};

use crate::auth::{require_board, Auth};
use crate::extract::path_id;
use crate::{upload, ApiError, AppState};

#[tracing::instrument(level = "debug", skip_all)]
pub async fn issue(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<Done>, ApiError> {
    require_board(&actor, "delete issues")?;
    let mut tx = s.db.begin().await?;
    let i = super::issue(&mut tx, &actor, &id).await?;
    let keys = deletes::issue(&mut tx, &actor, &i).await?;
    tx.commit().await?;
    for key in keys {
        upload::forget(&s.files, &key).await;
    }
    Ok(Json(Done::yes()))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn agent(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<Done>, ApiError> {
    require_board(&actor, "delete agents")?;
    let mut tx = s.db.begin().await?;
    let a = super::agent(&mut tx, &actor, &id).await?;
    if a.deleted_at.is_some() {
        return Err(ApiError::not_found("Agent"));
    }
    deletes::agent(&mut tx, &actor, &a).await?;
    tx.commit().await?;
    Ok(Json(Done::yes()))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn project(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<Done>, ApiError> {
    require_board(&actor, "delete projects")?;
    let pid = path_id(&id, "Project")?;
    let mut tx = s.db.begin().await?;
    let p = store::projects::get(&mut tx, pid)
        .await?
        .ok_or_else(|| ApiError::not_found("Project"))?;
    crate::auth::check_company(&actor, p.company_id, "Project")?;
    deletes::project(&mut tx, &actor, &p).await?;
    tx.commit().await?;
    Ok(Json(Done::yes()))
}

/// `DELETE /companies/{companyId}`: when enabled, a backup first (refused if it cannot be
/// taken), then every row of the company in one transaction, then its files.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn company(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<Done>, ApiError> {
    require_board(&actor, "delete companies")?;
    if !s.info.company_deletion {
        return Err(ApiError::Forbidden(
            "Company deletion is disabled on this server (PAPERCLIP_ENABLE_COMPANY_DELETION); archive the company instead".into(),
        ));
    }
    let c = {
        let mut conn = s.db.session().await?;
        let c = super::company(&mut conn, &actor, &id).await?;
        conn.close().await?;
        c
    };
    let backup = crate::routes::instance::take_backup(&s, "before-company-delete").await?;
    let mut tx = s.db.begin().await?;
    let keys = deletes::company(&mut tx, c.id).await?;
    tx.commit().await?;
    tracing::info!(company = %c.id, name = %c.name, backup = %backup.display(), files = keys.len(), "company deleted");
    for key in keys {
        upload::forget(&s.files, &key).await;
    }
    Ok(Json(Done::yes()))
}
