//! Handlers, one module per resource. Handlers extract, validate, call the store, and shape the
//! response; SQL lives in `paperclip_store`.

pub mod access;
pub mod agents;
pub mod approvals;
pub mod attachments;
pub mod auth;
pub mod companies;
pub mod costs;
pub mod deletes;
pub mod goals;
pub mod inbox;
pub mod instance;
pub mod issues;
pub mod labels;
pub mod plugins;
pub mod portability;
pub mod projects;
pub mod routines;
pub mod runs;
pub mod runtime;
pub mod secrets;
pub mod work_products;

use paperclip_store::{self as store, companies::Company, issues::Issue, Actor};
use sqlx::PgConnection;

use crate::auth::check_company;
use crate::extract::path_id;
use crate::ApiError;

/// Loads a company the actor may see.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn company(
    conn: &mut PgConnection,
    actor: &Actor,
    raw_id: &str,
) -> Result<Company, ApiError> {
    let id = path_id(raw_id, "Company")?;
    let c = store::companies::get(conn, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Company"))?;
    check_company(actor, c.id, "Company")?;
    Ok(c)
}

/// Loads an issue (UUID or identifier) the actor may see.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn issue(conn: &mut PgConnection, actor: &Actor, raw: &str) -> Result<Issue, ApiError> {
    let i = store::issues::find(conn, raw)
        .await?
        .ok_or_else(|| ApiError::not_found("Issue"))?;
    check_company(actor, i.company_id, "Issue")?;
    Ok(i)
}

/// Loads an agent the actor may see.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn agent(
    conn: &mut PgConnection,
    actor: &Actor,
    raw_id: &str,
) -> Result<store::agents::Agent, ApiError> {
    let id = path_id(raw_id, "Agent")?;
    let a = store::agents::get(conn, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Agent"))?;
    check_company(actor, a.company_id, "Agent")?;
    Ok(a)
}
