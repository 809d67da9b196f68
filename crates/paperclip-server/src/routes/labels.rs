//! Company labels.

use axum::extract::{Path, State};
use axum::Json;
use paperclip_api_types::common::Ok as Done;
use paperclip_api_types::issues::CreateLabel;
use paperclip_store::labels::{self, Label};

use crate::auth::{check_company, Auth};
use crate::doc::Created;
use crate::extract::{path_id, JsonBody, Problems};
use crate::{ApiError, AppState};

#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(cid): Path<String>,
) -> Result<Json<Vec<Label>>, ApiError> {
    let mut conn = s.db.session().await?;
    let c = super::company(&mut conn, &actor, &cid).await?;
    let v = labels::list(&mut conn, c.id).await?;
    conn.close().await?;
    Ok(Json(v))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn create(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(cid): Path<String>,
    JsonBody(b): JsonBody<CreateLabel>,
) -> Result<Created<Label>, ApiError> {
    let mut p = Problems::default();
    let name = p.required("name", b.name.as_deref(), 48);
    let color = b.color.unwrap_or_default();
    let hex = color.len() == 7
        && color.starts_with('#')
        && color[1..].chars().all(|c| c.is_ascii_hexdigit());
    if !hex {
        p.add("color", "invalid_string", "color must be #RRGGBB");
    }
    p.finish()?;
    let mut tx = s.db.begin().await?;
    let c = super::company(&mut tx, &actor, &cid).await?;
    let l = labels::create(&mut tx, &actor, c.id, &name, &color).await?;
    tx.commit().await?;
    Ok(Created(l))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn delete(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<Done>, ApiError> {
    let id = path_id(&id, "Label")?;
    let mut tx = s.db.begin().await?;
    let l = labels::get(&mut tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Label"))?;
    check_company(&actor, l.company_id, "Label")?;
    labels::delete(&mut tx, &actor, &l).await?;
    tx.commit().await?;
    Ok(Json(Done::yes()))
}
