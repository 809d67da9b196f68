//! Issues: the list (filters, search, pages), the kanban board, one issue (rendered markdown,
//! comments, sub-issues, blockers, documents, checkout holder, active run) and the new-issue form.

use maud::{html, Markup};
use paperclip_domain::{IssuePriority, IssueStatus};
use paperclip_store::attachments::Attachment;
use paperclip_store::comments::Comment;
use paperclip_store::documents::{Document, Revision};
use paperclip_store::issues::{Ancestor, Issue};
use paperclip_store::orchestration::Related;
use paperclip_store::projects::Project;
use paperclip_store::runs::Run;
use uuid::Uuid;

use crate::layout::{agent_link, api_form, badge, page, pager, short, trusted, when, Ctx, Names};
use crate::markdown;

/// The list's filters as the query string has them.
#[derive(Debug, Default)]
pub struct ListQuery {
    pub status: Option<String>,
    pub assignee: Option<Uuid>,
    pub project: Option<Uuid>,
    pub q: Option<String>,
    pub board: bool,
}

impl ListQuery {
    /// The query string without `offset`.
    pub fn to_query(&self) -> String {
        let mut parts = Vec::new();
        let enc = |s: &str| url_escape(s);
        if let Some(s) = &self.status {
            parts.push(format!("status={}", enc(s)));
        }
        if let Some(a) = self.assignee {
            parts.push(format!("assignee={a}"));
        }
        if let Some(p) = self.project {
            parts.push(format!("project={p}"));
        }
        if let Some(q) = &self.q {
            parts.push(format!("q={}", enc(q)));
        }
        if self.board {
            parts.push("view=board".into());
        }
        parts.join("&")
    }
}

fn url_escape(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Agents and projects the filter and assignment controls offer.
#[derive(Debug)]
pub struct Choices<'a> {
    pub agents: &'a [(Uuid, String)],
    pub projects: &'a [Project],
}

#[derive(Debug)]
pub struct IssueList<'a> {
    pub issues: &'a [Issue],
    pub query: &'a ListQuery,
    pub offset: i64,
    pub limit: i64,
    pub more: bool,
    pub names: &'a Names,
    pub choices: Choices<'a>,
}

fn filters(ctx: &Ctx<'_>, q: &ListQuery, ch: &Choices<'_>) -> Markup {
    html! {
        form.filters method="get" role="search" {
            label { "Search" input type="search" name="q" value=[q.q.as_deref()] placeholder="title, identifier, text"; }
            label { "Status"
                select name="status" {
                    option value="" { "open and closed" }
                    @for s in IssueStatus::NAMES { option value=(s) selected[q.status.as_deref() == Some(*s)] { (s) } }
                }
            }
            label { "Assignee"
                select name="assignee" {
                    option value="" { "anyone" }
                    @for (id, name) in ch.agents { option value=(id) selected[q.assignee == Some(*id)] { (name) } }
                }
            }
            label { "Project"
                select name="project" {
                    option value="" { "any" }
                    @for p in ch.projects { option value=(p.id) selected[q.project == Some(p.id)] { (p.name) } }
                }
            }
            @if q.board { input type="hidden" name="view" value="board"; }
            button.secondary type="submit" { "Apply" }
            @if q.board { a href=(ctx.href("issues")) { "List view" } }
            @else { a href=(ctx.href("issues?view=board")) { "Board view" } }
            a href=(ctx.href("issues/new")) { "New issue" }
        }
    }
}

pub fn list(ctx: &Ctx<'_>, l: &IssueList<'_>) -> Markup {
    let qs = l.query.to_query();
    let base = if qs.is_empty() {
        ctx.href("issues")
    } else {
        ctx.href(&format!("issues?{qs}"))
    };
    page(
        ctx,
        "Issues",
        html! {
            (filters(ctx, l.query, &l.choices))
            div.table-wrap id="issue-list" data-live {
                table {
                    thead { tr { th { "Issue" } th { "Title" } th { "Status" } th.hide-sm { "Priority" } th.hide-sm { "Assignee" } th.hide-sm { "Updated" } } }
                    tbody { @for i in l.issues { tr {
                        td { a href=(ctx.href(&format!("issues/{}", i.id))) { (i.identifier) } }
                        td { (i.title) }
                        td { (badge(&i.status)) }
                        td.hide-sm { (i.priority) }
                        td.hide-sm { @if let Some(a) = i.assignee_agent_id { (agent_link(ctx, l.names, a)) } }
                        td.hide-sm { (when(i.updated_at)) }
                    } } }
                }
                @if l.issues.is_empty() { p.muted { "No issue matches." } }
            }
            (pager(&base, l.offset, l.limit, l.more))
        },
    )
}

/// The kanban board: one column per status with its first issues (`more`: there are others).
pub fn board(
    ctx: &Ctx<'_>,
    columns: &[(&str, Vec<Issue>, bool)],
    q: &ListQuery,
    ch: &Choices<'_>,
    names: &Names,
) -> Markup {
    page(
        ctx,
        "Issue board",
        html! {
            (filters(ctx, q, ch))
            div.kanban id="kanban" data-live {
                @for (status, issues, more) in columns {
                    section.col aria-label=(status) {
                        h2 { (badge(status)) " " span.muted { (issues.len()) @if *more { "+" } } }
                        @for i in issues { div.card {
                            a href=(ctx.href(&format!("issues/{}", i.id))) { (i.identifier) } " " (i.title)
                            div.muted { (i.priority)
                                @if let Some(a) = i.assignee_agent_id { " · " (agent_link(ctx, names, a)) } }
                        } }
                        @if *more {
                            a href=(ctx.href(&format!("issues?status={status}"))) { "All →" }
                        }
                    }
                }
            }
        },
    )
}

/// `issues/new`.
pub fn new_issue(ctx: &Ctx<'_>, ch: &Choices<'_>, parent: Option<&Issue>) -> Markup {
    let c = ctx.company.expect("a company page");
    page(
        ctx,
        "New issue",
        html! {
            (api_form("POST", &format!("/api/companies/{}/issues", c.id), &format!("go:{}", ctx.href("issues/{id}")), "stack", html! {
                @if let Some(p) = parent {
                    input type="hidden" name="parentId" value=(p.id);
                    p { "Sub-issue of " (p.identifier) " " (p.title) }
                }
                label { "Title" input name="title" required maxlength="500" autofocus; }
                label { "Description (markdown)" textarea name="description" {} }
                label { "Status" select name="status" {
                    @for s in IssueStatus::NAMES { option value=(s) selected[*s == "todo"] { (s) } } } }
                label { "Priority" select name="priority" {
                    @for s in IssuePriority::NAMES { option value=(s) selected[*s == "medium"] { (s) } } } }
                label { "Assignee" select name="assigneeAgentId" {
                    option value="" { "nobody" }
                    @for (id, name) in ch.agents { option value=(id) { (name) } } } }
                label { "Project" select name="projectId" {
                    option value="" { "none" }
                    @for p in ch.projects { option value=(p.id) { (p.name) } } } }
                button type="submit" { "Create issue" }
            }))
        },
    )
}

#[derive(Debug)]
pub struct IssueDetail<'a> {
    pub issue: &'a Issue,
    pub ancestors: &'a [Ancestor],
    pub children: &'a [Issue],
    pub blocked_by: &'a [Related],
    pub blocks: &'a [Related],
    pub comments: &'a [Comment],
    pub documents: &'a [Document],
    /// Recent revisions of those documents, newest first.
    pub revisions: &'a [Revision],
    pub attachments: &'a [Attachment],
    pub active_run: Option<&'a Run>,
    /// The issue's newest run, whose log the page follows.
    pub latest_run: Option<&'a Run>,
    pub names: &'a Names,
    pub choices: Choices<'a>,
}

fn related(ctx: &Ctx<'_>, items: &[Related]) -> Markup {
    html! { ul.feed { @for r in items { li {
        a href=(ctx.href(&format!("issues/{}", r.id))) { (r.identifier) } " " (r.title) " " (badge(&r.status))
    } } } }
}

pub fn detail(ctx: &Ctx<'_>, d: &IssueDetail<'_>) -> Markup {
    let i = d.issue;
    let api = format!("/api/issues/{}", i.id);
    page(
        ctx,
        &format!("{} {}", i.identifier, i.title),
        html! {
            @if !d.ancestors.is_empty() {
                nav.muted aria-label="Parents" { @for a in d.ancestors.iter().rev() {
                    a href=(ctx.href(&format!("issues/{}", a.id))) { (a.identifier) } " › "
                } }
            }
            section.panel id="issue-head" data-live {
                dl.kv {
                    dt { "Status" } dd id="issue-status" { (badge(&i.status)) }
                    dt { "Priority" } dd { (i.priority) }
                    dt { "Assignee" } dd { @if let Some(a) = i.assignee_agent_id { (agent_link(ctx, d.names, a)) } @else { "nobody" } }
                    dt { "Checked out" } dd {
                        @if let Some(r) = i.checkout_run_id.or(i.execution_run_id) {
                            "by run " a href=(ctx.href(&format!("runs/{r}"))) { (short(r)) }
                            @if let Some(t) = i.execution_locked_at { " since " (when(t)) }
                        } @else { "no" }
                    }
                    dt { "Active run" } dd id="issue-run" {
                        @if let Some(r) = d.active_run {
                            a href=(ctx.href(&format!("runs/{}", r.id))) { (short(r.id)) } " " (badge(&r.status))
                        } @else { "none" }
                    }
                    dt { "Created" } dd { (when(i.created_at)) }
                    dt { "Updated" } dd { (when(i.updated_at)) }
                }
            }
            div.grid {
                section.panel {
                    h2 { "Update" }
                    form.row data-api=(api) data-method="PATCH" data-then="reload" data-changed-only {
                        label { "Status" select name="status" {
                            @for s in IssueStatus::NAMES { option value=(s) selected[*s == i.status] { (s) } } } }
                        label { "Priority" select name="priority" {
                            @for s in IssuePriority::NAMES { option value=(s) selected[*s == i.priority] { (s) } } } }
                        label { "Assignee" select name="assigneeAgentId" data-empty="null" {
                            option value="" { "nobody" }
                            @for (id, name) in d.choices.agents { option value=(id) selected[i.assignee_agent_id == Some(*id)] { (name) } } } }
                        button type="submit" { "Save" }
                        output.form-error role="alert" {}
                    }
                }
                section.panel {
                    h2 { "Sub-issues" }
                    ul.feed id="issue-children" data-live { @for c in d.children { li {
                        a href=(ctx.href(&format!("issues/{}", c.id))) { (c.identifier) } " " (c.title) " " (badge(&c.status))
                    } } }
                    a href=(ctx.href(&format!("issues/new?parent={}", i.id))) { "New sub-issue" }
                    h2 { "Blocked by" }
                    @if d.blocked_by.is_empty() { p.muted { "nothing" } } (related(ctx, d.blocked_by))
                    @if !d.blocks.is_empty() { h2 { "Blocks" } (related(ctx, d.blocks)) }
                }
            }
            section id="issue-log" data-live {
                @if let Some(r) = d.latest_run {
                    h2 { "Run log " a href=(ctx.href(&format!("runs/{}", r.id))) { (short(r.id)) } " " (badge(&r.status)) }
                    pre data-run-log=(r.id) data-offset="0" aria-live="off" tabindex="0" {}
                }
            }
            h2 { "Description" }
            div.md.panel { @match &i.description {
                Some(text) if !text.trim().is_empty() => (trusted(markdown::render(text))),
                _ => p.muted { "No description." },
            } }
            @if !d.documents.is_empty() {
                h2 { "Documents" }
                @for doc in d.documents {
                    details.panel {
                        summary { strong { (doc.key) } @if let Some(t) = &doc.title { " — " (t) }
                            span.muted { " · revision " (doc.latest_revision_number) " · " (when(doc.updated_at)) } }
                        div.md { (trusted(markdown::render(&doc.body))) }
                        @let history: Vec<&Revision> = d.revisions.iter().filter(|r| r.document_id == doc.id).collect();
                        @if history.len() > 1 {
                            h2 { "Revisions" }
                            @for r in history {
                                details {
                                    summary { "Revision " (r.revision_number) " · " (when(r.created_at))
                                        @if let Some(a) = r.created_by_agent_id { " · " (agent_link(ctx, d.names, a)) } }
                                    div.md { (trusted(markdown::render(&r.body))) }
                                }
                            }
                        }
                    }
                }
            }
            @if !d.attachments.is_empty() {
                h2 { "Attachments" }
                ul.feed { @for a in d.attachments { li {
                    a href=(a.content_path) { (a.original_filename.as_deref().unwrap_or("file")) }
                    span.muted { " · " (a.content_type) " · " (a.byte_size) " bytes" }
                } } }
            }
            h2 { "Comments" }
            div id="comments" data-live {
                @for c in d.comments {
                    article.comment id=(format!("comment-{}", c.id)) {
                        div.meta {
                            @if let Some(a) = c.author_agent_id { (agent_link(ctx, d.names, a)) } @else { "Board" }
                            " · " (when(c.created_at))
                            @if let Some(r) = c.created_by_run_id { " · run " a href=(ctx.href(&format!("runs/{r}"))) { (short(r)) } }
                        }
                        div.md { (trusted(markdown::render(&c.body))) }
                    }
                }
                @if d.comments.is_empty() { p.muted { "No comments yet." } }
            }
            (api_form("POST", &format!("{api}/comments"), "refresh", "stack", html! {
                label { "Add a comment (markdown)" textarea name="body" required {} }
                button type="submit" { "Comment" }
            }))
        },
    )
}
