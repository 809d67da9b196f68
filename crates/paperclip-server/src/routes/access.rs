//! Who belongs where: company members, invites and join requests, and the instance's users
//! and admins. Owners and admins of a company (and instance admins) manage its members; any
//! member may list them.

use axum::extract::{Path, State};
use axum::Json;
use paperclip_api_types::access::*;
use paperclip_domain::MembershipRole;
use paperclip_store::users::{
    self, members,
    members::{Invite, JoinRequest, Member},
    User,
};
use paperclip_store::Actor;
use uuid::Uuid;

use crate::auth::{require_instance_admin, Auth, Caller, Source};
use crate::doc::Created;
use crate::extract::{path_id, JsonBody, Problems};
use crate::{ApiError, AppState};

fn manage(actor: &Actor, company_id: Uuid) -> Result<(), ApiError> {
    if actor.can_manage_members(company_id) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "Only an owner or admin of this company can manage its members and invites".into(),
        ))
    }
}

/// The board's link for an invite token.
pub fn invite_url(s: &AppState, token: &str) -> String {
    let base = s.info.auth.public_url.clone().unwrap_or_default();
    format!("{base}/invite/{token}")
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn list_members(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(cid): Path<String>,
) -> Result<Json<Vec<Member>>, ApiError> {
    crate::auth::require_board(&actor, "list members")?;
    let mut conn = s.db.session().await?;
    let c = super::company(&mut conn, &actor, &cid).await?;
    let all = members::list(&mut conn, c.id).await?;
    conn.close().await?;
    Ok(Json(all))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn patch_member(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path((cid, mid)): Path<(String, String)>,
    JsonBody(b): JsonBody<PatchMember>,
) -> Result<Json<Member>, ApiError> {
    let mut p = Problems::default();
    if let Some(r) = &b.membership_role {
        p.one_of("membershipRole", r, MembershipRole::NAMES);
    }
    if let Some(st) = &b.status {
        p.one_of("status", st, &["active", "suspended"]);
    }
    p.finish()?;
    update_member(
        &s,
        &actor,
        &cid,
        &mid,
        b.membership_role.as_deref(),
        b.status.as_deref(),
    )
    .await
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn archive_member(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path((cid, mid)): Path<(String, String)>,
    JsonBody(_): JsonBody<NoInput>,
) -> Result<Json<Member>, ApiError> {
    update_member(&s, &actor, &cid, &mid, None, Some("archived")).await
}

async fn update_member(
    s: &AppState,
    actor: &Actor,
    cid: &str,
    mid: &str,
    role: Option<&str>,
    status: Option<&str>,
) -> Result<Json<Member>, ApiError> {
    crate::auth::require_board(actor, "manage members")?;
    let mut tx = s.db.begin().await?;
    let c = super::company(&mut tx, actor, cid).await?;
    manage(actor, c.id)?;
    let id = path_id(mid, "Member")?;
    let role = role.and_then(|r| r.parse().ok());
    // Only an owner (or instance admin) makes or unmakes owners.
    let target = members::get(&mut tx, c.id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Member"))?;
    let owner_change = role == Some(MembershipRole::Owner) || target.membership_role == "owner";
    if owner_change
        && !actor.is_instance_admin()
        && actor.member_role(c.id) != Some(MembershipRole::Owner)
    {
        return Err(ApiError::Forbidden(
            "Only an owner can change an owner's membership or make owners".into(),
        ));
    }
    let m = members::update(&mut tx, actor, c.id, id, role, status)
        .await?
        .ok_or_else(|| ApiError::not_found("Member"))?;
    tx.commit().await?;
    Ok(Json(m))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn list_invites(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(cid): Path<String>,
) -> Result<Json<Vec<Invite>>, ApiError> {
    let mut conn = s.db.session().await?;
    let c = super::company(&mut conn, &actor, &cid).await?;
    manage(&actor, c.id)?;
    let all = members::invites(&mut conn, c.id).await?;
    conn.close().await?;
    Ok(Json(all))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn create_invite(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(cid): Path<String>,
    JsonBody(b): JsonBody<CreateInvite>,
) -> Result<Created<CreatedInvite<Invite>>, ApiError> {
    let mut p = Problems::default();
    if let Some(t) = &b.allowed_join_types {
        p.one_of("allowedJoinTypes", t, &["human"]);
    }
    if let Some(r) = &b.human_role {
        p.one_of("humanRole", r, MembershipRole::NAMES);
    }
    if let Some(h) = b.expires_in_hours {
        if !(1..=720).contains(&h) {
            p.add(
                "expiresInHours",
                "too_big",
                "expiresInHours must be 1 to 720",
            );
        }
    }
    p.finish()?;
    let role: MembershipRole = b
        .human_role
        .as_deref()
        .and_then(|r| r.parse().ok())
        .unwrap_or(MembershipRole::Operator);
    let mut tx = s.db.begin().await?;
    let c = super::company(&mut tx, &actor, &cid).await?;
    manage(&actor, c.id)?;
    if role == MembershipRole::Owner
        && !actor.is_instance_admin()
        && actor.member_role(c.id) != Some(MembershipRole::Owner)
    {
        return Err(ApiError::Forbidden(
            "Only an owner can invite owners".into(),
        ));
    }
    let hours = b.expires_in_hours.unwrap_or(72);
    let (invite, token) =
        members::create_invite(&mut tx, &actor, Some(c.id), Some(role), hours * 3600).await?;
    tx.commit().await?;
    let invite_url = invite_url(&s, &token);
    Ok(Created(CreatedInvite {
        invite,
        token,
        invite_url,
    }))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn revoke_invite(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(iid): Path<String>,
    JsonBody(_): JsonBody<NoInput>,
) -> Result<Json<Invite>, ApiError> {
    let id = path_id(&iid, "Invite")?;
    let mut tx = s.db.begin().await?;
    let inv = members::invite(&mut tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Invite"))?;
    match inv.company_id {
        Some(c) => {
            crate::auth::check_company(&actor, c, "Invite")?;
            manage(&actor, c)?;
        }
        None => require_instance_admin(&actor, "revoke the bootstrap invite")?,
    }
    let inv = members::revoke_invite(&mut tx, &actor, &inv).await?;
    tx.commit().await?;
    Ok(Json(inv))
}

/// No sign-in needed: the token is the credential, and only what the invite page shows leaves.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn invite_summary(
    State(s): State<AppState>,
    Path(token): Path<String>,
) -> Result<Json<InviteSummary>, ApiError> {
    let mut conn = s.db.session().await?;
    let inv = members::invite_by_token(&mut conn, &token).await?;
    conn.close().await?;
    let inv = inv.ok_or_else(|| ApiError::not_found("Invite"))?;
    Ok(Json(summary(inv)))
}

/// What an invite link offers, as the invite page and `GET /invites/{token}` show it.
pub fn summary(inv: Invite) -> InviteSummary {
    InviteSummary {
        sign_up_allowed: inv.status == "active",
        id: inv.id,
        company_id: inv.company_id,
        company_name: inv.company_name,
        invite_type: inv.invite_type,
        human_role: inv.human_role,
        expires_at: inv.expires_at,
        status: inv.status,
    }
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn accept_invite(
    State(s): State<AppState>,
    caller: Caller,
    Path(token): Path<String>,
    JsonBody(b): JsonBody<AcceptInvite>,
) -> Result<Json<AcceptedInvite<JoinRequest>>, ApiError> {
    if let Some(t) = &b.request_type {
        let mut p = Problems::default();
        p.one_of("requestType", t, &["human"]);
        p.finish()?;
    }
    let user_id = match (&caller.actor.kind, caller.source) {
        (paperclip_store::ActorKind::Board { user_id, .. }, Source::Session | Source::BoardKey) => {
            user_id.clone()
        }
        _ => {
            return Err(ApiError::Forbidden(
                "Sign in (or sign up with the invite) to accept it".into(),
            ))
        }
    };
    let mut tx = s.db.begin().await?;
    let done = members::accept(&mut tx, &user_id, &token).await?;
    tx.commit().await?;
    Ok(Json(match done {
        members::Accepted::InstanceAdmin { claimed_companies } => AcceptedInvite {
            outcome: "instance_admin".into(),
            join_request: None,
            claimed_companies: Some(claimed_companies),
        },
        members::Accepted::JoinRequest(j) => AcceptedInvite {
            outcome: "join_request".into(),
            join_request: Some(*j),
            claimed_companies: None,
        },
    }))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn list_join_requests(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(cid): Path<String>,
) -> Result<Json<Vec<JoinRequest>>, ApiError> {
    let mut conn = s.db.session().await?;
    let c = super::company(&mut conn, &actor, &cid).await?;
    manage(&actor, c.id)?;
    let all = members::join_requests(&mut conn, c.id).await?;
    conn.close().await?;
    Ok(Json(all))
}

async fn decide(
    s: &AppState,
    actor: &Actor,
    cid: &str,
    rid: &str,
    approve: bool,
) -> Result<Json<JoinRequest>, ApiError> {
    let mut tx = s.db.begin().await?;
    let c = super::company(&mut tx, actor, cid).await?;
    manage(actor, c.id)?;
    let id = path_id(rid, "Join request")?;
    let j = members::decide(&mut tx, actor, c.id, id, approve)
        .await?
        .ok_or_else(|| ApiError::not_found("Join request"))?;
    tx.commit().await?;
    Ok(Json(j))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn approve_join_request(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path((cid, rid)): Path<(String, String)>,
    JsonBody(_): JsonBody<NoInput>,
) -> Result<Json<JoinRequest>, ApiError> {
    decide(&s, &actor, &cid, &rid, true).await
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn reject_join_request(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path((cid, rid)): Path<(String, String)>,
    JsonBody(_): JsonBody<NoInput>,
) -> Result<Json<JoinRequest>, ApiError> {
    decide(&s, &actor, &cid, &rid, false).await
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn list_users(
    State(s): State<AppState>,
    Auth(actor): Auth,
) -> Result<Json<Vec<User>>, ApiError> {
    require_instance_admin(&actor, "list users")?;
    let mut conn = s.db.session().await?;
    let all = users::list(&mut conn).await?;
    conn.close().await?;
    Ok(Json(all))
}

async fn set_admin(
    s: &AppState,
    actor: &Actor,
    user_id: &str,
    admin: bool,
) -> Result<Json<User>, ApiError> {
    require_instance_admin(actor, "change instance admins")?;
    let mut tx = s.db.begin().await?;
    if !users::set_instance_admin(&mut tx, actor, user_id, admin).await? {
        return Err(ApiError::not_found("User"));
    }
    let u = users::get(&mut tx, user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("User"))?;
    tx.commit().await?;
    Ok(Json(u))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn promote(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(uid): Path<String>,
    JsonBody(_): JsonBody<NoInput>,
) -> Result<Json<User>, ApiError> {
    set_admin(&s, &actor, &uid, true).await
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn demote(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(uid): Path<String>,
    JsonBody(_): JsonBody<NoInput>,
) -> Result<Json<User>, ApiError> {
    set_admin(&s, &actor, &uid, false).await
}

/// A company created by a signed-in user is theirs: they become its owner.
pub async fn own_new_company(
    conn: &mut sqlx::PgConnection,
    actor: &Actor,
    company_id: Uuid,
) -> Result<(), ApiError> {
    if let Some(user_id) = actor.user_id() {
        if user_id != paperclip_domain::LOCAL_BOARD_USER
            && users::get(conn, user_id).await?.is_some()
        {
            members::add(conn, actor, company_id, user_id, MembershipRole::Owner).await?;
        }
    }
    Ok(())
}
