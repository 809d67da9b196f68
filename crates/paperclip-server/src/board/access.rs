//! The pages outside a company: signing in, and an invite link's landing page.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use paperclip_board as board;
use paperclip_board::layout::{Ctx, Nav};
use paperclip_store as store;

use super::{html, redirect, PageError, PageResult};
use crate::auth::{self, Source};
use crate::AppState;

/// The caller if there is one: an anonymous visitor is not an error on these pages.
async fn signed_in(parts: &Parts, state: &AppState) -> Option<Source> {
    auth::resolve(parts, state).await.ok().map(|c| c.source)
}

/// The frame of a page outside any company, for a visitor who may not be signed in.
pub(super) fn ctx() -> Ctx<'static> {
    Ctx {
        account: None,
        companies: &[],
        company: None,
        nav: Nav::Home,
        cursor: None,
        pending_approvals: 0,
    }
}

/// Parts of the request, for pages that look at the caller without requiring one.
pub struct Request(Parts);

impl FromRequestParts<AppState> for Request {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, PageError> {
        Ok(Self(parts.clone()))
    }
}

pub async fn sign_in(State(s): State<AppState>, Request(parts): Request) -> PageResult {
    if signed_in(&parts, &s).await.is_some() {
        return redirect("/");
    }
    html(board::access::sign_in(&ctx()))
}

pub async fn invite(
    State(s): State<AppState>,
    Path(token): Path<String>,
    Request(parts): Request,
) -> PageResult {
    let mut conn = s.db.session().await?;
    let inv = store::users::members::invite_by_token(&mut conn, &token).await?;
    conn.close().await?;
    let inv = inv.ok_or_else(|| PageError::from(crate::ApiError::not_found("Invite")))?;
    let summary = crate::routes::access::summary(inv);
    let account = matches!(
        signed_in(&parts, &s).await,
        Some(Source::Session | Source::BoardKey)
    );
    html(board::access::invite(&ctx(), &summary, &token, account))
}
