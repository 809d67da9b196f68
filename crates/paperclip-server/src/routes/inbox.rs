//! Inbox state: read/unread and archive per reader, the agent's `inbox/mine`, and the board's
//! sidebar badges.

use axum::extract::{Path, State};
use axum::Json;
use paperclip_api_types::work::{InboxArchive, SidebarBadges};
use paperclip_store::inbox::{self, Flag, MineItem, ReadState};
use paperclip_store::Actor;

use crate::auth::Auth;
use crate::extract::JsonBody;
use crate::{ApiError, AppState};

fn reader(actor: &Actor, user_id: Option<&str>) -> Result<String, ApiError> {
    let r = inbox::reader_of(actor)
        .ok_or_else(|| ApiError::Forbidden("Only board users and agents have an inbox".into()))?;
    if let Some(u) = user_id {
        // A reader sets its own state; naming someone else is refused, not ignored.
        if actor.user_id() != Some(u) {
            return Err(ApiError::Unprocessable {
                message: "userId must be the calling board user".into(),
                details: serde_json::json!([{ "path": ["userId"], "message": "must be the calling board user" }]),
            });
        }
    }
    Ok(r)
}

/// What a request changes about the caller's view of an issue.
#[derive(Clone, Copy)]
enum Change {
    Read(bool),
    Archived(bool),
}

async fn set(
    s: &AppState,
    actor: &Actor,
    raw: &str,
    user_id: Option<&str>,
    change: Change,
) -> Result<Json<ReadState>, ApiError> {
    let r = reader(actor, user_id)?;
    let mut conn = s.db.session().await?;
    let issue = super::issue(&mut conn, actor, raw).await?;
    let st = match change {
        Change::Read(on) => inbox::set(&mut conn, &r, &issue, Flag::Read, on).await?,
        Change::Archived(on) => inbox::set(&mut conn, &r, &issue, Flag::Archived, on).await?,
    };
    conn.close().await?;
    Ok(Json(st))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn mark_read(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<ReadState>, ApiError> {
    set(&s, &actor, &id, None, Change::Read(true)).await
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn mark_unread(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<ReadState>, ApiError> {
    set(&s, &actor, &id, None, Change::Read(false)).await
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn archive(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<InboxArchive>,
) -> Result<Json<ReadState>, ApiError> {
    set(
        &s,
        &actor,
        &id,
        b.user_id.as_deref(),
        Change::Archived(true),
    )
    .await
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn unarchive(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<InboxArchive>,
) -> Result<Json<ReadState>, ApiError> {
    set(
        &s,
        &actor,
        &id,
        b.user_id.as_deref(),
        Change::Archived(false),
    )
    .await
}

/// `GET /agents/me/inbox/mine`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn mine(
    State(s): State<AppState>,
    Auth(actor): Auth,
) -> Result<Json<Vec<MineItem>>, ApiError> {
    let agent = actor.agent_id().ok_or_else(|| {
        ApiError::Forbidden("Only an agent has this inbox; the board reads sidebar-badges".into())
    })?;
    let mut conn = s.db.session().await?;
    let v = inbox::agent_mine(&mut conn, agent).await?;
    conn.close().await?;
    Ok(Json(v))
}

/// `GET /companies/{companyId}/sidebar-badges`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn sidebar_badges(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(cid): Path<String>,
) -> Result<Json<SidebarBadges>, ApiError> {
    let mut conn = s.db.session().await?;
    let c = super::company(&mut conn, &actor, &cid).await?;
    let unread = match actor.user_id() {
        Some(u) => inbox::unread_count(&mut conn, c.id, u).await?,
        None => 0,
    };
    let counts = inbox::badge_counts(&mut conn, c.id).await?;
    conn.close().await?;
    Ok(Json(SidebarBadges {
        inbox: unread,
        approvals: counts.pending_approvals,
        failed_runs: counts.failed_runs,
        // Join requests exist only in authenticated mode, which this server does not run yet.
        join_requests: 0,
    }))
}
