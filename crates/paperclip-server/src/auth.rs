//! Who is calling: the implicit board in `local_trusted` mode, or an agent by its API key or by
//! the short-lived token of one of its running heartbeat runs.
//!
//! The run id of a heartbeat comes from the run token or `X-Paperclip-Run-Id`, never from a
//! body, and must name a running run of the calling agent.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use paperclip_domain::DeploymentMode;
use paperclip_store::{Actor, ActorKind};
use uuid::Uuid;

use crate::{ApiError, AppState};

/// The authenticated principal of a request.
pub struct Auth(pub Actor);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
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
        let mut s = None;
        let kind = match bearer {
            Some(token) if paperclip_runs::token::looks_like_jwt(token) => {
                // A run token: valid only while its run is running.
                let claims =
                    state.runs.tokens().verify(token).ok_or_else(|| {
                        ApiError::Unauthorized("Invalid or expired run token".into())
                    })?;
                let conn = s.insert(state.db.session().await?);
                let owner = paperclip_store::runs::owner_of(conn, claims.run_id).await?;
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
                let conn = s.as_mut().expect("opened");
                if !paperclip_store::runs::agent_may_act(conn, claims.agent_id).await? {
                    return Err(ApiError::Unauthorized(
                        "Invalid or expired run token".into(),
                    ));
                }
                run_id = Some(claims.run_id);
                ActorKind::Agent {
                    agent_id: claims.agent_id,
                    company_id: claims.company_id,
                }
            }
            Some(token) if !token.is_empty() => {
                let conn = s.insert(state.db.session().await?);
                let found = paperclip_store::agents::authenticate(conn, token).await?;
                let (agent_id, company_id) = found
                    .ok_or_else(|| ApiError::Unauthorized("Invalid or revoked API key".into()))?;
                if let Some(r) = run_id {
                    // Mutations are attributed to the run: it must be a running run of this agent.
                    match paperclip_store::runs::owner_of(conn, r).await? {
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
                ActorKind::Agent {
                    agent_id,
                    company_id,
                }
            }
            _ if state.info.deployment_mode == DeploymentMode::LocalTrusted => {
                if let Some(r) = run_id {
                    let conn = s.insert(state.db.session().await?);
                    if !paperclip_store::runs::exists(conn, r).await? {
                        return Err(ApiError::BadRequest {
                            message: "X-Paperclip-Run-Id names no heartbeat run".into(),
                            details: None,
                        });
                    }
                }
                ActorKind::Board {
                    user_id: "local-board".into(),
                }
            }
            _ => return Err(ApiError::Unauthorized("Authentication required".into())),
        };
        if let Some(conn) = s {
            conn.close().await?;
        }
        Ok(Auth(Actor { kind, run_id }))
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

/// An agent sees only its own company; other companies' objects do not exist for it.
pub fn can_see(actor: &Actor, company_id: Uuid) -> bool {
    match actor.kind {
        ActorKind::Agent {
            company_id: own, ..
        } => own == company_id,
        _ => true,
    }
}

/// [`can_see`] as a 404 named after the object.
pub fn check_company(actor: &Actor, company_id: Uuid, what: &str) -> Result<(), ApiError> {
    if can_see(actor, company_id) {
        Ok(())
    } else {
        Err(ApiError::not_found(what))
    }
}
