//! Goals.

use axum::extract::{Path, State};
use axum::Json;
use paperclip_api_types::goals::*;
use paperclip_store::{
    self as store,
    goals::{Goal, GoalFields, LEVELS, STATUSES},
};

use crate::auth::{check_company, require_board, Auth};
use crate::doc::Created;
use crate::extract::{path_id, JsonBody, Problems};
use crate::{ApiError, AppState};

/// The rules a GoalBody body must pass before it reaches the store.
trait Validate {
    fn validate(self, creating: bool) -> Result<GoalFields, ApiError>;
}

impl Validate for GoalBody {
    fn validate(self, creating: bool) -> Result<GoalFields, ApiError> {
        let mut p = Problems::default();
        match &self.title {
            Some(t) => p.text("title", t, 500),
            None if creating => p.add("title", "invalid_type", "title is required"),
            None => {}
        }
        if let Some(l) = &self.level {
            p.one_of("level", l, LEVELS);
        }
        if let Some(s) = &self.status {
            p.one_of("status", s, STATUSES);
        }
        p.finish()?;
        Ok(GoalFields {
            title: self.title.map(|t| t.trim().to_string()),
            description: self.description,
            level: self.level,
            parent_id: self.parent_id,
            owner_agent_id: self.owner_agent_id,
            status: self.status,
        })
    }
}

async fn load(
    conn: &mut sqlx::PgConnection,
    actor: &store::Actor,
    raw: &str,
) -> Result<Goal, ApiError> {
    let g = store::goals::get(conn, path_id(raw, "Goal")?)
        .await?
        .ok_or_else(|| ApiError::not_found("Goal"))?;
    check_company(actor, g.company_id, "Goal")?;
    Ok(g)
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(cid): Path<String>,
) -> Result<Json<Vec<Goal>>, ApiError> {
    let mut conn = s.db.session().await?;
    let c = super::company(&mut conn, &actor, &cid).await?;
    let v = store::goals::list(&mut conn, c.id).await?;
    conn.close().await?;
    Ok(Json(v))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn create(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(cid): Path<String>,
    JsonBody(paperclip_api_types::Create(b)): JsonBody<paperclip_api_types::Create<GoalBody>>,
) -> Result<Created<Goal>, ApiError> {
    let f = b.validate(true)?;
    let mut tx = s.db.begin().await?;
    let c = super::company(&mut tx, &actor, &cid).await?;
    let g = store::goals::create(&mut tx, &actor, c.id, &f).await?;
    tx.commit().await?;
    Ok(Created(g))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn get(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<Goal>, ApiError> {
    let mut conn = s.db.session().await?;
    let g = load(&mut conn, &actor, &id).await?;
    conn.close().await?;
    Ok(Json(g))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn patch(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<GoalBody>,
) -> Result<Json<Goal>, ApiError> {
    let f = b.validate(false)?;
    let mut tx = s.db.begin().await?;
    let g = load(&mut tx, &actor, &id).await?;
    let g = store::goals::update(&mut tx, &actor, &g, &f).await?;
    tx.commit().await?;
    Ok(Json(g))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn delete(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<paperclip_api_types::common::Ok>, ApiError> {
    require_board(&actor, "delete goals")?;
    let mut tx = s.db.begin().await?;
    let g = load(&mut tx, &actor, &id).await?;
    store::goals::delete(&mut tx, &actor, &g).await?;
    tx.commit().await?;
    Ok(Json(paperclip_api_types::common::Ok::yes()))
}
