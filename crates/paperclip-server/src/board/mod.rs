//! The board's routes: each page reads what it shows (a bounded number of indexed queries,
//! never one per row) and renders it with `paperclip-board`. Pages only read; every change the
//! board makes goes through the JSON API, whose rules, validation and audit apply unchanged.
//!
//! Pages carry a strict Content-Security-Policy (scripts and styles from this server only, no
//! inline script, no framing), so markup that got past the markdown sanitizer still could not
//! run. The API's guard already refuses writes from other origins; the board's writes are
//! `fetch` calls with a JSON body, which another page cannot send without a CORS preflight this
//! server never grants.

mod access;
mod agents;
mod issues;
mod pages;

use std::collections::{HashMap, HashSet};

use axum::extract::{FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use paperclip_board::{assets, layout, Ctx, Markup, Nav};
use paperclip_store::companies::Company;
use paperclip_store::{self as store, Actor};
use uuid::Uuid;

use crate::auth::{require_board, Auth};
use crate::{ApiError, AppState};

/// The policy every board response carries.
pub const CSP: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Rows per page of the board's long lists.
pub const PAGE: i64 = 50;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::home))
        .route("/onboarding", get(pages::onboarding))
        .route("/sign-in", get(access::sign_in))
        .route("/invite/{token}", get(access::invite))
        .route(assets::CSS_PATH, get(css))
        .route(assets::JS_PATH, get(js))
        .route("/c/{companyId}", get(pages::dashboard))
        .route("/c/{companyId}/onboarding", get(pages::company_onboarding))
        .route("/c/{companyId}/org", get(pages::org))
        .route("/c/{companyId}/activity", get(pages::activity))
        .route("/c/{companyId}/goals", get(pages::goals))
        .route("/c/{companyId}/projects", get(pages::projects))
        .route("/c/{companyId}/approvals", get(pages::approvals))
        .route("/c/{companyId}/costs", get(pages::costs))
        .route("/c/{companyId}/settings", get(pages::settings))
        .route("/c/{companyId}/agents", get(agents::list))
        .route("/c/{companyId}/agents/{agentId}", get(agents::detail))
        .route("/c/{companyId}/runs/{runId}", get(agents::run))
        .route("/c/{companyId}/issues", get(issues::list))
        .route("/c/{companyId}/issues/new", get(issues::new_issue))
        .route("/c/{companyId}/issues/{issueId}", get(issues::detail))
        .layer(axum::middleware::from_fn(headers))
}

/// Security and caching headers on every board response.
async fn headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    res
}

async fn css(headers: HeaderMap) -> Response {
    asset(&headers, assets::BOARD_CSS, "text/css; charset=utf-8")
}

async fn js(headers: HeaderMap) -> Response {
    asset(&headers, assets::BOARD_JS, "text/javascript; charset=utf-8")
}

/// An embedded asset, revalidated by its ETag (a new binary, a new tag).
fn asset(headers: &HeaderMap, body: &'static str, kind: &'static str) -> Response {
    let tag = assets::etag(body);
    let cache = [(header::CACHE_CONTROL, "no-cache")];
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag))
    {
        return (StatusCode::NOT_MODIFIED, cache, [(header::ETAG, tag)]).into_response();
    }
    (
        cache,
        [(header::CONTENT_TYPE, kind), (header::ETAG, tag.as_str())],
        body,
    )
        .into_response()
}

/// A page's failure, shown as a page (a person reads it) with the API's status and message.
pub struct PageError(ApiError);

impl<E: Into<ApiError>> From<E> for PageError {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, body) = self.0.parts();
        // Not signed in (authenticated mode): the sign-in page, not an error page.
        if status == StatusCode::UNAUTHORIZED {
            return Redirect::to("/sign-in").into_response();
        }
        let message = body["error"]
            .as_str()
            .unwrap_or("Something went wrong")
            .to_string();
        let ctx = access::ctx();
        let title = status.canonical_reason().unwrap_or("Error");
        (
            status,
            Html(layout::problem(&ctx, title, &message).into_string()),
        )
            .into_response()
    }
}

pub type PageResult = Result<Response, PageError>;

/// A rendered page.
pub fn html(m: Markup) -> PageResult {
    Ok(Html(m.into_string()).into_response())
}

pub fn redirect(to: &str) -> PageResult {
    Ok(Redirect::to(to).into_response())
}

/// What every company page reads first: the switcher's companies, the company, the live cursor
/// (read before the page's data, so the socket replays anything committed after it) and the
/// approvals badge.
pub struct Frame {
    /// The signed-in account's email (authenticated mode).
    pub account: Option<String>,
    pub companies: Vec<Company>,
    pub company: Option<Company>,
    pub cursor: Option<String>,
    pub pending: i64,
}

impl Frame {
    pub fn ctx(&self, nav: Nav) -> Ctx<'_> {
        Ctx {
            account: self.account.clone(),
            companies: &self.companies,
            company: self.company.as_ref(),
            nav,
            cursor: self.cursor.clone(),
            pending_approvals: self.pending,
        }
    }

    pub fn company(&self) -> &Company {
        self.company.as_ref().expect("a company frame")
    }
}

/// The board's pages are the board's: an agent key gets the API, not the UI.
pub fn board_only(actor: &Actor) -> Result<(), PageError> {
    require_board(actor, "use the board").map_err(PageError)
}

/// What every company page starts from: the caller (the board), a database session, and the
/// frame of the company named by the route's `{companyId}`.
pub struct CompanyPage {
    pub conn: paperclip_postgres::pool::Session,
    pub frame: Frame,
    pub actor: Actor,
}

impl FromRequestParts<AppState> for CompanyPage {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let Auth(actor) = Auth::from_request_parts(parts, state).await?;
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| PageError(ApiError::not_found("Page")))?;
        let mut conn = state.db.session().await?;
        let frame = frame(
            &mut conn,
            &actor,
            params.get("companyId").map(String::as_str),
        )
        .await?;
        Ok(Self { conn, frame, actor })
    }
}

pub async fn frame(
    conn: &mut sqlx::PgConnection,
    actor: &Actor,
    company: Option<&str>,
) -> Result<Frame, PageError> {
    board_only(actor)?;
    let company = match company {
        Some(id) => Some(crate::routes::company(conn, actor, id).await?),
        None => None,
    };
    let cursor = match &company {
        Some(_) => Some(store::live::head(conn).await?.to_string()),
        None => None,
    };
    let pending = match &company {
        Some(c) => {
            store::inbox::badge_counts(conn, c.id)
                .await?
                .pending_approvals
        }
        None => 0,
    };
    let mut companies = store::companies::list(conn).await?;
    // The switcher lists only what the caller may open.
    companies.retain(|c| actor.can_see(c.id));
    let account = match actor.user_id() {
        Some(u) if u != paperclip_domain::LOCAL_BOARD_USER => {
            store::users::get(conn, u).await?.map(|u| u.email)
        }
        _ => None,
    };
    Ok(Frame {
        account,
        companies,
        company,
        cursor,
        pending,
    })
}

/// The names of the agents `ids` mention, in one query.
pub async fn names(
    conn: &mut sqlx::PgConnection,
    company: Uuid,
    ids: impl IntoIterator<Item = Uuid>,
) -> Result<layout::Names, PageError> {
    let ids: Vec<Uuid> = ids
        .into_iter()
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    Ok(store::agents::names(conn, company, &ids)
        .await?
        .into_iter()
        .collect())
}

/// A page's query string.
pub type Params = Query<HashMap<String, String>>;

/// A non-empty query parameter.
pub fn param<'a>(q: &'a Params, name: &str) -> Option<&'a str> {
    q.get(name).map(|s| s.trim()).filter(|s| !s.is_empty())
}

/// A UUID query parameter; anything else is a 400 naming it.
pub fn uuid_param(q: &Params, name: &str) -> Result<Option<Uuid>, PageError> {
    param(q, name)
        .map(|v| {
            Uuid::parse_str(v).map_err(|_| {
                PageError(ApiError::BadRequest {
                    message: format!("{name} must be a UUID"),
                    details: None,
                })
            })
        })
        .transpose()
}

/// `offset` (0 when absent); a bad or negative one is a 400.
pub fn offset_param(q: &Params) -> Result<i64, PageError> {
    match param(q, "offset") {
        None => Ok(0),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| (0..=10_000_000).contains(n))
            .ok_or_else(|| {
                PageError(ApiError::BadRequest {
                    message: "offset must be a whole number from 0".into(),
                    details: None,
                })
            }),
    }
}

/// A parameter that must be one of `allowed`.
pub fn choice_param<'a>(
    q: &'a Params,
    name: &str,
    allowed: &[&str],
) -> Result<Option<&'a str>, PageError> {
    match param(q, name) {
        None => Ok(None),
        Some(v) if allowed.contains(&v) => Ok(Some(v)),
        Some(v) => Err(PageError(ApiError::BadRequest {
            message: format!("{name} {v:?} is not one of {}", allowed.join(", ")),
            details: None,
        })),
    }
}
