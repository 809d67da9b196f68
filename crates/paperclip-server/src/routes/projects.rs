//! Projects.

use axum::extract::{Path, State};
use axum::Json;
use paperclip_api_types::projects::*;
use paperclip_store::{
    self as store,
    projects::{Project, ProjectFields, STATUSES},
};

use crate::auth::{check_company, Auth};
use crate::doc::Created;
use crate::extract::{path_id, JsonBody, Problems};
use crate::{ApiError, AppState};

/// The rules a ProjectBody body must pass before it reaches the store.
trait Validate {
    fn validate(self, creating: bool) -> Result<ProjectFields, ApiError>;
}

impl Validate for ProjectBody {
    fn validate(self, creating: bool) -> Result<ProjectFields, ApiError> {
        let mut p = Problems::default();
        match &self.name {
            Some(n) => p.text("name", n, 200),
            None if creating => p.add("name", "invalid_type", "name is required"),
            None => {}
        }
        if let Some(s) = &self.status {
            p.one_of("status", s, STATUSES);
        }
        p.finish()?;
        Ok(ProjectFields {
            name: self.name.map(|n| n.trim().to_string()),
            description: self.description,
            goal_id: self.goal_id,
            status: self.status,
            lead_agent_id: self.lead_agent_id,
            target_date: self.target_date,
            env: self.env,
        })
    }
}

async fn load(
    conn: &mut sqlx::PgConnection,
    actor: &store::Actor,
    raw: &str,
) -> Result<Project, ApiError> {
    let p = store::projects::get(conn, path_id(raw, "Project")?)
        .await?
        .ok_or_else(|| ApiError::not_found("Project"))?;
    check_company(actor, p.company_id, "Project")?;
    Ok(p)
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(cid): Path<String>,
) -> Result<Json<Vec<Project>>, ApiError> {
    let mut conn = s.db.session().await?;
    let c = super::company(&mut conn, &actor, &cid).await?;
    let v = store::projects::list(&mut conn, c.id).await?;
    conn.close().await?;
    Ok(Json(v))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn create(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(cid): Path<String>,
    JsonBody(paperclip_api_types::Create(b)): JsonBody<paperclip_api_types::Create<ProjectBody>>,
) -> Result<Created<Project>, ApiError> {
    let mut f = b.validate(true)?;
    let mut tx = s.db.begin().await?;
    let c = super::company(&mut tx, &actor, &cid).await?;
    if let Some(env) = &f.env {
        f.env = Some(store::secrets::check_env(&mut tx, c.id, env, s.secrets.strict, "env").await?);
    }
    let p = store::projects::create(&mut tx, &actor, c.id, &f).await?;
    tx.commit().await?;
    Ok(Created(p))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn get(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<Project>, ApiError> {
    let mut conn = s.db.session().await?;
    let p = load(&mut conn, &actor, &id).await?;
    conn.close().await?;
    Ok(Json(p))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn patch(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<ProjectBody>,
) -> Result<Json<Project>, ApiError> {
    let mut f = b.validate(false)?;
    let mut tx = s.db.begin().await?;
    let p = load(&mut tx, &actor, &id).await?;
    if let Some(env) = &f.env {
        f.env = Some(
            store::secrets::check_env(&mut tx, p.company_id, env, s.secrets.strict, "env").await?,
        );
    }
    let p = store::projects::update(&mut tx, &actor, &p, &f).await?;
    tx.commit().await?;
    Ok(Json(p))
}
