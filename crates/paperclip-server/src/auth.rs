//! Who is calling: the implicit board in `local_trusted` mode; a board user by session cookie
//! or board API key; or an agent by its API key or by the short-lived token of one of its
//! running heartbeat runs.
//!
//! The run id of a heartbeat comes from the run token or `X-Paperclip-Run-Id`, never from a
//! body, and must name a running run of the calling agent. A cookie-authenticated request that
//! changes state must carry the session's CSRF token in `X-Paperclip-CSRF`; bearer tokens need
//! none (a browser never attaches them on its own).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::Method;
use paperclip_domain::DeploymentMode;
use paperclip_store::users::sessions;
use paperclip_store::{Actor, ActorKind, BoardAccess, CompanyGrant};
use uuid::Uuid;

use crate::session::{self, CSRF_HEADER};
use crate::{ApiError, AppState};

/// The authenticated principal of a request.
pub struct Auth(pub Actor);

/// How the caller proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `local_trusted` mode's implicit board.
    LocalImplicit,
    /// A session cookie.
    Session,
    /// A board API key.
    BoardKey,
    /// An agent API key.
    AgentKey,
    /// A heartbeat run's token.
    RunToken,
}

/// The principal with how it signed in and, for a cookie, its session.
pub struct Caller {
    pub actor: Actor,
    pub source: Source,
    pub session: Option<sessions::Resolved>,
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(Auth(resolve(parts, state).await?.actor))
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        resolve(parts, state).await
    }
}

/// The caller of a request, or why it is refused.
pub async fn resolve(parts: &Parts, state: &AppState) -> Result<Caller, ApiError> {
    let mut caller = identify(parts, state).await?;
    let mutating = !matches!(
        parts.method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    );
    if let ActorKind::Board {
        access: BoardAccess::Companies { mutating: m, .. },
        ..
    } = &mut caller.actor.kind
    {
        *m = mutating;
    }
    if mutating && caller.source == Source::Session {
        let sent = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let expected = caller
            .session
            .as_ref()
            .map(|s| s.csrf_token.as_str())
            .unwrap_or_default();
        if !session::constant_time_eq(sent.as_bytes(), expected.as_bytes()) {
            return Err(ApiError::Forbidden(
                "A signed-in browser request that changes state must send the session's CSRF token in X-Paperclip-CSRF".into(),
            ));
        }
    }
    Ok(caller)
}

async fn identify(parts: &Parts, state: &AppState) -> Result<Caller, ApiError> {
    let mut run_id = match parts.headers.get("x-paperclip-run-id") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| Uuid::parse_str(s.trim()).ok())
                .ok_or_else(|| ApiError::BadRequest {
                    message: "X-Paperclip-Run-Id must be a UUID".into(),
                    details: None,
                })?,
        ),
    };
    let bearer = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        // The guard has refused anything but `Bearer <token>` (any case) already.
        .and_then(|v| v.trim().split_once(' '))
        .map(|(_, token)| token.trim());
    // Opened only when needed: the local board without a run id reads nothing.
    let mut slot = None;
    let mut session_row = None;
    let (kind, source) = match bearer {
        Some(token) if paperclip_runs::token::looks_like_jwt(token) => {
            // A run token: valid only while its run is running.
            let claims = state
                .runs
                .tokens()
                .verify(token)
                .ok_or_else(|| ApiError::Unauthorized("Invalid or expired run token".into()))?;
            let owner =
                paperclip_store::runs::owner_of(open(&mut slot, state).await?, claims.run_id)
                    .await?;
            match owner {
                Some((a, c, status)) if a == claims.agent_id && c == claims.company_id => {
                    if status != "running" {
                        return Err(ApiError::Unauthorized(format!(
                            "Run token of a run that is no longer running ({status})"
                        )));
                    }
                }
                _ => {
                    return Err(ApiError::Unauthorized(
                        "Invalid or expired run token".into(),
                    ))
                }
            }
            if run_id.is_some_and(|r| r != claims.run_id) {
                return Err(ApiError::Forbidden(
                    "X-Paperclip-Run-Id must be the run of the run token".into(),
                ));
            }
            if !paperclip_store::runs::agent_may_act(open(&mut slot, state).await?, claims.agent_id)
                .await?
            {
                return Err(ApiError::Unauthorized(
                    "Invalid or expired run token".into(),
                ));
            }
            run_id = Some(claims.run_id);
            (
                ActorKind::Agent {
                    agent_id: claims.agent_id,
                    company_id: claims.company_id,
                },
                Source::RunToken,
            )
        }
        Some(token) if token.starts_with("pcb_") => {
            let found = paperclip_store::users::board_keys::authenticate(
                open(&mut slot, state).await?,
                token,
            )
            .await?;
            let (user_id, only) = found.ok_or_else(|| {
                ApiError::Unauthorized("Invalid, expired or revoked board API key".into())
            })?;
            no_run_id(run_id)?;
            let access = narrow(
                paperclip_store::users::access_of(open(&mut slot, state).await?, &user_id).await?,
                only,
            );
            (ActorKind::Board { user_id, access }, Source::BoardKey)
        }
        Some(token) if !token.is_empty() => {
            let found =
                paperclip_store::agents::authenticate(open(&mut slot, state).await?, token).await?;
            let (agent_id, company_id) =
                found.ok_or_else(|| ApiError::Unauthorized("Invalid or revoked API key".into()))?;
            if let Some(r) = run_id {
                // Mutations are attributed to the run: it must be a running run of this agent.
                match paperclip_store::runs::owner_of(open(&mut slot, state).await?, r).await? {
                    None => {
                        return Err(ApiError::BadRequest {
                            message: "X-Paperclip-Run-Id names no heartbeat run".into(),
                            details: None,
                        })
                    }
                    Some((a, _, _)) if a != agent_id => {
                        return Err(ApiError::Forbidden(
                            "X-Paperclip-Run-Id names a run of another agent".into(),
                        ))
                    }
                    Some((_, _, status)) if status != "running" => {
                        return Err(ApiError::Forbidden(format!(
                            "X-Paperclip-Run-Id names a run that is not running ({status})"
                        )))
                    }
                    Some(_) => {}
                }
            }
            (
                ActorKind::Agent {
                    agent_id,
                    company_id,
                },
                Source::AgentKey,
            )
        }
        _ if state.info.deployment_mode == DeploymentMode::LocalTrusted => {
            if let Some(r) = run_id {
                if !paperclip_store::runs::exists(open(&mut slot, state).await?, r).await? {
                    return Err(ApiError::BadRequest {
                        message: "X-Paperclip-Run-Id names no heartbeat run".into(),
                        details: None,
                    });
                }
            }
            (
                ActorKind::Board {
                    user_id: paperclip_domain::LOCAL_BOARD_USER.into(),
                    access: BoardAccess::Instance,
                },
                Source::LocalImplicit,
            )
        }
        _ => {
            let Some(token) = session::cookie_token(&parts.headers) else {
                return Err(ApiError::Unauthorized("Authentication required".into()));
            };
            let found = sessions::resolve(open(&mut slot, state).await?, token)
                .await?
                .ok_or_else(|| {
                    ApiError::Unauthorized(
                        "Your session has expired or was ended; sign in again".into(),
                    )
                })?;
            no_run_id(run_id)?;
            let user_id = found.session.user_id.clone();
            let access =
                paperclip_store::users::access_of(open(&mut slot, state).await?, &user_id).await?;
            session_row = Some(found);
            (ActorKind::Board { user_id, access }, Source::Session)
        }
    };
    if let Some(conn) = slot {
        conn.close().await?;
    }
    Ok(Caller {
        actor: Actor { kind, run_id },
        source,
        session: session_row,
    })
}

async fn open<'a>(
    slot: &'a mut Option<paperclip_store::Session>,
    state: &AppState,
) -> Result<&'a mut paperclip_store::Session, ApiError> {
    if slot.is_none() {
        *slot = Some(state.db.session().await?);
    }
    Ok(slot.as_mut().expect("opened"))
}

/// Runs belong to agents: a board credential with `X-Paperclip-Run-Id` is refused.
fn no_run_id(run_id: Option<Uuid>) -> Result<(), ApiError> {
    match run_id {
        Some(_) => Err(ApiError::BadRequest {
            message: "X-Paperclip-Run-Id is for agents' heartbeat runs, not board users".into(),
            details: None,
        }),
        None => Ok(()),
    }
}

/// A board key narrowed to one company reaches only that company (as its owner would, if the
/// user is an instance admin), and never the instance's own routes.
fn narrow(access: BoardAccess, only: Option<Uuid>) -> BoardAccess {
    let Some(company_id) = only else {
        return access;
    };
    let grants = match access {
        BoardAccess::Instance => vec![CompanyGrant {
            company_id,
            role: paperclip_domain::MembershipRole::Owner,
        }],
        BoardAccess::Companies { grants, .. } => grants
            .into_iter()
            .filter(|g| g.company_id == company_id)
            .collect(),
    };
    BoardAccess::Companies {
        grants,
        mutating: false,
    }
}

/// Board-only actions.
pub fn require_board(actor: &Actor, what: &str) -> Result<(), ApiError> {
    if actor.is_board() {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!("Only the board can {what}")))
    }
}

/// An agent sees only its own company, a board member only theirs; other companies' objects
/// do not exist for them.
pub fn can_see(actor: &Actor, company_id: Uuid) -> bool {
    actor.can_see(company_id)
}

/// [`can_see`] as a 404 named after the object; a viewer's state-changing request is a 403.
pub fn check_company(actor: &Actor, company_id: Uuid, what: &str) -> Result<(), ApiError> {
    if !can_see(actor, company_id) {
        return Err(ApiError::not_found(what));
    }
    if actor.read_only_in(company_id) {
        return Err(ApiError::Forbidden(
            "Viewers of this company may only read; ask an owner or admin for the operator role"
                .into(),
        ));
    }
    Ok(())
}

/// The instance's own routes (plugins, backups, users, creating companies in authenticated
/// mode): the implicit local board and instance admins.
pub fn require_instance_admin(actor: &Actor, what: &str) -> Result<(), ApiError> {
    if actor.is_instance_admin() {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "Only an instance admin can {what}"
        )))
    }
}
