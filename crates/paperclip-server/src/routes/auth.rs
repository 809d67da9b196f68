//! `/auth/*` and `/board-api-keys`: signing up (by invite while sign-up is closed), signing in
//! and out, the current session, password changes, a user's sessions and board API keys.

use axum::extract::{Path, State};
use axum::Json;
use paperclip_api_types::access::*;
use paperclip_api_types::agents::CreatedKey;
use paperclip_domain::DeploymentMode;
use paperclip_store::users::{self, board_keys::BoardKey, sessions::Session};
use paperclip_store::{ActorKind, BoardAccess};
use serde_json::json;

use crate::auth::{Caller, Source};
use crate::doc::{Created, WithCookie};
use crate::extract::{path_id, JsonBody, Problems};
use crate::session::{self, Client};
use crate::{ApiError, AppState};

fn authenticated_only(s: &AppState) -> Result<(), ApiError> {
    if s.info.deployment_mode == DeploymentMode::LocalTrusted {
        return Err(ApiError::Forbidden(
            "This server runs in local_trusted mode, which has no accounts: the board needs no sign-in on this machine".into(),
        ));
    }
    Ok(())
}

fn check_email(p: &mut Problems, email: Option<&str>) -> String {
    let e = p.required("email", email, 320);
    if !e.is_empty() {
        let (local, domain) = e.split_once('@').unwrap_or(("", ""));
        if local.is_empty() || domain.is_empty() || e.chars().any(char::is_whitespace) {
            p.add(
                "email",
                "invalid_string",
                "email must be an address like you@example.com",
            );
        }
    }
    e
}

fn check_password(p: &mut Problems, field: &str, pw: Option<&str>) -> String {
    let pw = pw.unwrap_or_default().to_string();
    let n = pw.chars().count();
    if !(session::PASSWORD_MIN..=session::PASSWORD_MAX).contains(&n) {
        p.add(
            field,
            "invalid_string",
            format!(
                "{field} must be {} to {} characters",
                session::PASSWORD_MIN,
                session::PASSWORD_MAX
            ),
        );
    }
    pw
}

/// The `{session, user}` answer for a caller.
async fn view(
    s: &AppState,
    caller: &Caller,
    fresh: Option<(&Session, &str)>,
) -> Result<AuthSession, ApiError> {
    let ActorKind::Board { user_id, access } = &caller.actor.kind else {
        return Err(ApiError::Forbidden("Agents have no board session".into()));
    };
    let company_ids = match access {
        BoardAccess::Instance => Vec::new(),
        BoardAccess::Companies { grants, .. } => grants.iter().map(|g| g.company_id).collect(),
    };
    let (email, name, admin) = if caller.source == Source::LocalImplicit {
        (None, "Board".to_string(), true)
    } else {
        let mut conn = s.db.session().await?;
        let u = users::get(&mut conn, user_id).await?;
        conn.close().await?;
        let u = u.ok_or_else(|| ApiError::Unauthorized("The account no longer exists".into()))?;
        (Some(u.email), u.name, u.is_instance_admin)
    };
    let (session, csrf) = match fresh {
        Some((sess, csrf)) => (Some(sess.clone()), Some(csrf.to_string())),
        None => match &caller.session {
            Some(r) => (Some(r.session.clone()), Some(r.csrf_token.clone())),
            None => (None, None),
        },
    };
    Ok(AuthSession {
        session: session.map(|x| SessionInfo {
            id: x.id,
            user_id: x.user_id,
            created_at: x.created_at,
            expires_at: x.expires_at,
        }),
        user: SessionUser {
            id: user_id.clone(),
            email,
            name,
            is_instance_admin: admin,
        },
        csrf_token: csrf,
        source: match caller.source {
            Source::LocalImplicit => "local_implicit",
            Source::Session => "session",
            _ => "board_key",
        }
        .into(),
        company_ids,
    })
}

/// A session for a user who just proved who they are; any session the browser brought along is
/// ended, so a token planted before sign-in is never the one that becomes signed in.
async fn start_session(
    s: &AppState,
    client: &Client,
    user_id: &str,
    conn: &mut sqlx::PgConnection,
) -> Result<(Session, String, String), ApiError> {
    if let Some(old) = &client.cookie {
        if let Some(r) = users::sessions::resolve(conn, old).await? {
            users::sessions::revoke(conn, &r.session.user_id, r.session.id).await?;
        }
    }
    Ok(users::sessions::create(
        conn,
        user_id,
        s.info.auth.session_ttl_secs,
        client.user_agent.as_deref(),
        &client.addr,
    )
    .await?)
}

async fn signed_in(
    s: &AppState,
    client: &Client,
    user_id: &str,
    sess: Session,
    token: String,
    csrf: String,
) -> Result<WithCookie<AuthSession>, ApiError> {
    let mut conn = s.db.session().await?;
    let access = users::access_of(&mut conn, user_id).await?;
    conn.close().await?;
    let caller = Caller {
        actor: paperclip_store::Actor {
            kind: ActorKind::Board {
                user_id: user_id.to_string(),
                access,
            },
            run_id: None,
        },
        source: Source::Session,
        session: None,
    };
    let body = view(s, &caller, Some((&sess, &csrf))).await?;
    Ok(WithCookie {
        cookie: session::set_cookie(&s.info, client.tls, &token),
        body,
    })
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn sign_up(
    State(s): State<AppState>,
    client: Client,
    JsonBody(b): JsonBody<SignUp>,
) -> Result<WithCookie<AuthSession>, ApiError> {
    authenticated_only(&s)?;
    let mut p = Problems::default();
    let email = check_email(&mut p, b.email.as_deref());
    let password = check_password(&mut p, "password", b.password.as_deref());
    p.opt_text("name", b.name.as_deref(), 200);
    p.finish()?;
    if b.invite_token.is_none() && s.info.auth.disable_sign_up {
        return Err(ApiError::Forbidden(
            "Sign-up is closed on this server (auth.disableSignUp): open the invite link an admin sent you".into(),
        ));
    }
    let name = b
        .name
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_string());
    let hash = session::hash_password(password).await?;
    let mut tx = s.db.begin().await?;
    let user = users::create(&mut tx, &email, &name, &hash).await?;
    // The invite is accepted with the account, in one transaction: a used or expired link
    // creates no account.
    if let Some(token) = &b.invite_token {
        users::members::accept(&mut tx, &user.id, token).await?;
    }
    let (sess, token, csrf) = start_session(&s, &client, &user.id, &mut tx).await?;
    users::record_instance(
        &mut tx,
        &paperclip_store::Actor::system(),
        "auth.signed_up",
        &user.id,
        json!({"email": user.email, "clientAddress": client.addr, "byInvite": b.invite_token.is_some()}),
    )
    .await?;
    tx.commit().await?;
    signed_in(&s, &client, &user.id, sess, token, csrf).await
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn sign_in(
    State(s): State<AppState>,
    client: Client,
    JsonBody(b): JsonBody<SignIn>,
) -> Result<WithCookie<AuthSession>, ApiError> {
    authenticated_only(&s)?;
    let mut p = Problems::default();
    let email = p.required("email", b.email.as_deref(), 320);
    p.required("password", b.password.as_deref(), session::PASSWORD_MAX);
    p.finish()?;
    // As typed: `required` trims, a password is not trimmed.
    let password = b.password.unwrap_or_default();
    let mut conn = s.db.session().await?;
    let (account, from_client) = users::recent_failures(
        &mut conn,
        &email,
        &client.addr,
        session::THROTTLE_WINDOW_SECS,
    )
    .await?;
    if account >= session::MAX_FAILURES_PER_ACCOUNT
        || from_client >= session::MAX_FAILURES_PER_CLIENT
    {
        conn.close().await?;
        return Err(ApiError::TooManyRequests {
            message: "Too many failed sign-ins; wait a minute and try again".into(),
            retry_after: session::THROTTLE_WINDOW_SECS as u64,
        });
    }
    let found = users::by_email(&mut conn, &email).await?;
    let hash = found.as_ref().map(|(_, h)| h.clone());
    if !session::verify_password(password, hash).await {
        let reason = if found.is_some() {
            "wrong_password"
        } else {
            "unknown_email"
        };
        users::record_failed_sign_in(&mut conn, &email, &client.addr, reason).await?;
        conn.close().await?;
        return Err(ApiError::Unauthorized("Email or password is wrong".into()));
    }
    conn.close().await?;
    let (user, _) = found.expect("verified");
    let mut tx = s.db.begin().await?;
    let (sess, token, csrf) = start_session(&s, &client, &user.id, &mut tx).await?;
    users::record_instance(
        &mut tx,
        &paperclip_store::Actor::system(),
        "auth.signed_in",
        &user.id,
        json!({"clientAddress": client.addr, "sessionId": sess.id}),
    )
    .await?;
    tx.commit().await?;
    signed_in(&s, &client, &user.id, sess, token, csrf).await
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn sign_out(
    State(s): State<AppState>,
    client: Client,
    caller: Caller,
    JsonBody(_): JsonBody<NoInput>,
) -> Result<WithCookie<Done>, ApiError> {
    if let Some(r) = &caller.session {
        let mut conn = s.db.session().await?;
        users::sessions::revoke(&mut conn, &r.session.user_id, r.session.id).await?;
        conn.close().await?;
    }
    Ok(WithCookie {
        cookie: session::clear_cookie(client.tls),
        body: Done { success: true },
    })
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn get_session(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<Json<AuthSession>, ApiError> {
    Ok(Json(view(&s, &caller, None).await?))
}

/// The signed-in account of a request (session or board key), or why there is none.
fn account(caller: &Caller) -> Result<&str, ApiError> {
    match (&caller.actor.kind, caller.source) {
        (ActorKind::Board { user_id, .. }, Source::Session | Source::BoardKey) => Ok(user_id),
        (ActorKind::Board { .. }, _) => Err(ApiError::Forbidden(
            "The implicit local board has no account; accounts exist in authenticated mode".into(),
        )),
        _ => Err(ApiError::Forbidden(
            "Only a signed-in board user can do this".into(),
        )),
    }
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn change_password(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<ChangePassword>,
) -> Result<Json<Done>, ApiError> {
    let user_id = account(&caller)?.to_string();
    let mut p = Problems::default();
    p.required(
        "currentPassword",
        b.current_password.as_deref(),
        session::PASSWORD_MAX,
    );
    let current = b.current_password.clone().unwrap_or_default();
    let new = check_password(&mut p, "newPassword", b.new_password.as_deref());
    p.finish()?;
    let mut conn = s.db.session().await?;
    let stored = users::password_hash(&mut conn, &user_id).await?;
    conn.close().await?;
    if !session::verify_password(current, stored).await {
        return Err(ApiError::validation(vec![json!({
            "code": "invalid", "path": ["currentPassword"], "message": "currentPassword is wrong"
        })]));
    }
    let hash = session::hash_password(new).await?;
    let mut tx = s.db.begin().await?;
    users::set_password(&mut tx, &user_id, &hash).await?;
    if b.revoke_other_sessions.unwrap_or(true) {
        let keep = caller.session.as_ref().map(|r| r.session.id);
        users::sessions::revoke_others(&mut tx, &user_id, keep).await?;
    }
    users::record_instance(
        &mut tx,
        &caller.actor,
        "auth.password_changed",
        &user_id,
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(Done { success: true }))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn list_sessions(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<Session>>, ApiError> {
    let user_id = account(&caller)?;
    let mut conn = s.db.session().await?;
    let all = users::sessions::list(&mut conn, user_id).await?;
    conn.close().await?;
    Ok(Json(all))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn revoke_session(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<RevokeSession>,
) -> Result<Json<Done>, ApiError> {
    let user_id = account(&caller)?;
    let id = b.id.ok_or_else(|| {
        ApiError::validation(vec![
            json!({"code": "invalid_type", "path": ["id"], "message": "id is required"}),
        ])
    })?;
    let mut conn = s.db.session().await?;
    let done = users::sessions::revoke(&mut conn, user_id, id).await?;
    conn.close().await?;
    if !done {
        return Err(ApiError::not_found("Session"));
    }
    Ok(Json(Done { success: true }))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn list_board_keys(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<BoardKey>>, ApiError> {
    let user_id = account(&caller)?;
    let mut conn = s.db.session().await?;
    let all = users::board_keys::list(&mut conn, user_id).await?;
    conn.close().await?;
    Ok(Json(all))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn create_board_key(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<CreateBoardKey>,
) -> Result<Created<CreatedKey<BoardKey>>, ApiError> {
    let user_id = account(&caller)?.to_string();
    let mut p = Problems::default();
    let name = p.required("name", b.name.as_deref(), 120);
    if b.expires_at.is_some_and(|t| t <= chrono::Utc::now()) {
        p.add(
            "expiresAt",
            "invalid_date",
            "expiresAt must be in the future",
        );
    }
    p.finish()?;
    if let Some(c) = b.requested_company_id {
        if !caller.actor.can_see(c) {
            return Err(ApiError::not_found("Company"));
        }
    }
    let mut tx = s.db.begin().await?;
    let (key, token) = users::board_keys::create(
        &mut tx,
        &caller.actor,
        &user_id,
        &name,
        b.expires_at,
        b.requested_company_id,
    )
    .await?;
    tx.commit().await?;
    Ok(Created(CreatedKey {
        meta: key,
        key: token,
    }))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn revoke_board_key(
    State(s): State<AppState>,
    caller: Caller,
    Path(key_id): Path<String>,
) -> Result<Json<Done>, ApiError> {
    let user_id = account(&caller)?.to_string();
    let id = path_id(&key_id, "Board API key")?;
    let mut tx = s.db.begin().await?;
    let done = users::board_keys::revoke(&mut tx, &caller.actor, &user_id, id).await?;
    tx.commit().await?;
    if !done {
        return Err(ApiError::not_found("Board API key"));
    }
    Ok(Json(Done { success: true }))
}
