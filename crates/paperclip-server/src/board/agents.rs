//! Agent pages: the list, one agent, one run.

use axum::extract::{Path, State};
use paperclip_board as board;
use paperclip_board::Nav;
use paperclip_store as store;

use super::{
    choice_param, html, names, offset_param, CompanyPage, PageError, PageResult, Params, PAGE,
};
use crate::{ApiError, AppState};

pub async fn list(
    CompanyPage {
        mut conn, frame: f, ..
    }: CompanyPage,
    q: Params,
) -> PageResult {
    let status = choice_param(&q, "status", paperclip_domain::AgentStatus::NAMES)?;
    let offset = offset_param(&q)?;
    let c = f.company();
    let (agents, total) = store::agents::page(&mut conn, c.id, status, PAGE, offset).await?;
    let names = names(&mut conn, c.id, agents.iter().filter_map(|a| a.reports_to)).await?;
    conn.close().await?;
    html(board::agents::list(
        &f.ctx(Nav::Agents),
        &board::agents::AgentList {
            more: offset + (agents.len() as i64) < total,
            agents: &agents,
            status,
            offset,
            limit: PAGE,
            total,
            names: &names,
        },
    ))
}

pub async fn detail(
    CompanyPage {
        mut conn,
        frame: f,
        actor,
    }: CompanyPage,
    Path((_, aid)): Path<(String, String)>,
) -> PageResult {
    let c = f.company();
    let a = crate::routes::agent(&mut conn, &actor, &aid).await?;
    if a.company_id != c.id || a.deleted_at.is_some() {
        return Err(PageError(ApiError::not_found("Agent")));
    }
    let keys = store::agents::list_keys(&mut conn, a.id).await?;
    let runs = store::runs::list(
        &mut conn,
        c.id,
        &store::runs::Filter {
            agent_id: Some(a.id),
            limit: 20,
            ..Default::default()
        },
    )
    .await?;
    let names = names(&mut conn, c.id, a.reports_to).await?;
    conn.close().await?;
    html(board::agents::detail(
        &f.ctx(Nav::Agents),
        &board::agents::AgentDetail {
            agent: &a,
            keys: &keys,
            runs: &runs,
            names: &names,
        },
    ))
}

/// The first MiB of a log is rendered with the page; the script tails the rest by offset.
const LOG_FIRST: u64 = 1 << 20;

pub async fn run(
    State(s): State<AppState>,
    CompanyPage {
        mut conn, frame: f, ..
    }: CompanyPage,
    Path((_, rid)): Path<(String, String)>,
) -> PageResult {
    let run_id = crate::extract::path_id(&rid, "Run")?;
    let c = f.company();
    let r = store::runs::get(&mut conn, run_id)
        .await?
        .filter(|r| r.company_id == c.id)
        .ok_or_else(|| PageError(ApiError::not_found("Run")))?;
    let names = names(&mut conn, c.id, [r.agent_id]).await?;
    conn.close().await?;
    let (text, offset) = match &r.log_ref {
        None => (String::new(), 0),
        Some(log_ref) => {
            match paperclip_runs::log::read(&s.runs.log_dir(), log_ref, 0, LOG_FIRST).await {
                Ok(Some(chunk)) => (log_text(&chunk.content), chunk.next_offset),
                // Written on another machine (or not yet): the script follows the live events.
                Ok(None) | Err(_) => (String::new(), 0),
            }
        }
    };
    html(board::agents::run(
        &f.ctx(Nav::Agents),
        &r,
        &names,
        &text,
        offset,
    ))
}

/// The log's NDJSON lines (`{"ts","stream","chunk"}`) as the text the process wrote.
fn log_text(ndjson: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Line {
        chunk: String,
    }
    ndjson
        .lines()
        .filter_map(|l| serde_json::from_str::<Line>(l).ok())
        .map(|l| l.chunk)
        .collect()
}
