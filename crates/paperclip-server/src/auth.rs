//! Who is calling: the implicit board in `local_trusted` mode, or an agent by its API key.
//!
//! The run id of a heartbeat comes from `X-Paperclip-Run-Id`, never from a body.

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
        let run_id = match parts.headers.get("x-paperclip-run-id") {
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
        let kind = match bearer {
            Some(token) if !token.is_empty() => {
                let mut s = state.db.session().await?;
                let found = paperclip_store::agents::authenticate(&mut s, token).await?;
                s.close().await?;
                let (agent_id, company_id) = found
                    .ok_or_else(|| ApiError::Unauthorized("Invalid or revoked API key".into()))?;
                ActorKind::Agent {
                    agent_id,
                    company_id,
                }
            }
            _ if state.info.deployment_mode == DeploymentMode::LocalTrusted => ActorKind::Board {
                user_id: "local-board".into(),
            },
            _ => return Err(ApiError::Unauthorized("Authentication required".into())),
        };
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
