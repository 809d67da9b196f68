//! Issue pages: the list and the kanban board (filters, search, pages), the new-issue form and
//! one issue with everything around it.

use axum::extract::Path;
use paperclip_board as board;
use paperclip_board::issues::{Choices, ListQuery};
use paperclip_board::Nav;
use paperclip_domain::IssueStatus;
use paperclip_store as store;
use store::issues::Filter;

use super::{
    choice_param, html, names, offset_param, param, uuid_param, CompanyPage, PageError, PageResult,
    Params, PAGE,
};
use crate::ApiError;

/// Cards per kanban column.
const COLUMN: i64 = 25;

fn query(q: &Params) -> Result<ListQuery, PageError> {
    Ok(ListQuery {
        status: choice_param(q, "status", IssueStatus::NAMES)?.map(str::to_string),
        assignee: uuid_param(q, "assignee")?,
        project: uuid_param(q, "project")?,
        q: param(q, "q").map(|s| s.chars().take(200).collect()),
        board: choice_param(q, "view", &["list", "board"])? == Some("board"),
    })
}

fn filter(lq: &ListQuery, limit: i64, offset: i64) -> Filter {
    Filter {
        statuses: lq.status.iter().cloned().collect(),
        assignee_agent_id: lq.assignee,
        project_id: lq.project,
        q: lq.q.clone(),
        limit,
        offset,
        ..Default::default()
    }
}

pub async fn list(
    CompanyPage {
        mut conn, frame: f, ..
    }: CompanyPage,
    q: Params,
) -> PageResult {
    let lq = query(&q)?;
    let offset = offset_param(&q)?;
    let c = f.company();
    let agents = store::agents::assignable(&mut conn, c.id).await?;
    let projects = store::projects::list(&mut conn, c.id).await?;
    let ctx = f.ctx(Nav::Issues);
    if lq.board {
        let mut columns = Vec::new();
        let statuses: Vec<&str> = match &lq.status {
            Some(s) => vec![IssueStatus::NAMES
                .iter()
                .copied()
                .find(|n| n == s)
                .unwrap_or("todo")],
            None => IssueStatus::NAMES.to_vec(),
        };
        for status in statuses {
            let mut col = filter(&lq, COLUMN + 1, 0);
            col.statuses = vec![status.to_string()];
            let mut issues = store::issues::list(&mut conn, c.id, &col).await?;
            let more = issues.len() as i64 > COLUMN;
            issues.truncate(COLUMN as usize);
            columns.push((status, issues, more));
        }
        let assignees: Vec<_> = columns
            .iter()
            .flat_map(|(_, i, _)| i.iter().filter_map(|i| i.assignee_agent_id))
            .collect();
        let names = names(&mut conn, c.id, assignees).await?;
        conn.close().await?;
        let choices = Choices {
            agents: &agents,
            projects: &projects,
        };
        return html(board::issues::board(&ctx, &columns, &lq, &choices, &names));
    }
    let mut issues = store::issues::list(&mut conn, c.id, &filter(&lq, PAGE + 1, offset)).await?;
    let more = issues.len() as i64 > PAGE;
    issues.truncate(PAGE as usize);
    let assignees: Vec<_> = issues.iter().filter_map(|i| i.assignee_agent_id).collect();
    let names = names(&mut conn, c.id, assignees).await?;
    conn.close().await?;
    html(board::issues::list(
        &ctx,
        &board::issues::IssueList {
            issues: &issues,
            query: &lq,
            offset,
            limit: PAGE,
            more,
            names: &names,
            choices: Choices {
                agents: &agents,
                projects: &projects,
            },
        },
    ))
}

pub async fn new_issue(
    CompanyPage {
        mut conn,
        frame: f,
        actor,
    }: CompanyPage,
    q: Params,
) -> PageResult {
    let c = f.company();
    let parent = match param(&q, "parent") {
        Some(p) => {
            let p = crate::routes::issue(&mut conn, &actor, p).await?;
            if p.company_id != c.id {
                return Err(PageError(ApiError::not_found("Issue")));
            }
            Some(p)
        }
        None => None,
    };
    let agents = store::agents::assignable(&mut conn, c.id).await?;
    let projects = store::projects::list(&mut conn, c.id).await?;
    conn.close().await?;
    html(board::issues::new_issue(
        &f.ctx(Nav::Issues),
        &Choices {
            agents: &agents,
            projects: &projects,
        },
        parent.as_ref(),
    ))
}

/// Comments shown with the issue (oldest first).
const COMMENTS: i64 = 500;

pub async fn detail(
    CompanyPage {
        mut conn,
        frame: f,
        actor,
    }: CompanyPage,
    Path((_, iid)): Path<(String, String)>,
) -> PageResult {
    let c = f.company();
    let i = crate::routes::issue(&mut conn, &actor, &iid).await?;
    if i.company_id != c.id || i.hidden_at.is_some() {
        return Err(PageError(ApiError::not_found("Issue")));
    }
    let ancestors = store::issues::ancestors(&mut conn, &i).await?;
    let children = store::issues::list(
        &mut conn,
        c.id,
        &Filter {
            parent_id: Some(i.id),
            limit: 200,
            ..Default::default()
        },
    )
    .await?;
    let (blocked_by, blocks) = store::orchestration::relations(&mut conn, i.id).await?;
    let comments = store::comments::list(&mut conn, i.id, None, true, COMMENTS).await?;
    let documents = store::documents::list(&mut conn, i.id).await?;
    let revisions = store::documents::revisions_of_issue(&mut conn, i.id, 50).await?;
    let attachments = store::attachments::list(&mut conn, i.id).await?;
    let active_run = store::runs::active_for_issue(&mut conn, i.id).await?;
    let latest_run = store::runs::list(
        &mut conn,
        c.id,
        &store::runs::Filter {
            issue_id: Some(i.id),
            limit: 1,
            ..Default::default()
        },
    )
    .await?;
    let agents = store::agents::assignable(&mut conn, c.id).await?;
    let projects = store::projects::list(&mut conn, c.id).await?;
    let mentioned: Vec<_> = i
        .assignee_agent_id
        .into_iter()
        .chain(comments.iter().filter_map(|c| c.author_agent_id))
        .chain(revisions.iter().filter_map(|r| r.created_by_agent_id))
        .collect();
    let names = names(&mut conn, c.id, mentioned).await?;
    conn.close().await?;
    html(board::issues::detail(
        &f.ctx(Nav::Issues),
        &board::issues::IssueDetail {
            issue: &i,
            ancestors: &ancestors,
            children: &children,
            blocked_by: &blocked_by,
            blocks: &blocks,
            comments: &comments,
            documents: &documents,
            revisions: &revisions,
            attachments: &attachments,
            active_run: active_run.as_ref(),
            latest_run: latest_run.first(),
            names: &names,
            choices: Choices {
                agents: &agents,
                projects: &projects,
            },
        },
    ))
}
