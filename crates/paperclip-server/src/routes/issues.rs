//! Issues: CRUD, atomic checkout, comments, documents and per-issue activity.

use axum::extract::{Path, State};
use axum::Json;
use paperclip_api_types::issues::*;
use paperclip_store::{
    self as store,
    issues::{IssuePatch, NewIssue, PRIORITIES, STATUSES},
};
use serde_json::json;
use uuid::Uuid;

use paperclip_api_types::common::Ok;
use paperclip_store::comments::Comment;
use paperclip_store::documents::Document;
use paperclip_store::goals::Goal;
use paperclip_store::issues::Issue;
use paperclip_store::projects::Project;

use crate::auth::{require_board, Auth};
use crate::doc::Created;
use crate::views::{self, IssueList};

type View = IssueView<Issue>;
pub(crate) type Detail =
    IssueDetail<Issue, Project, Goal, Document, store::work_products::WorkProduct>;
use crate::extract::{path_id, JsonBody, Problems, QueryMap};
use crate::{ApiError, AppState};

#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(cid): Path<String>,
    q: QueryMap<IssueListQuery>,
) -> Result<Json<IssueListAnswer<IssueList, store::issues::CompactIssue>>, ApiError> {
    let compact = q.choice("view", &["compact"])?.is_some();
    let statuses = q.csv("status", STATUSES)?;
    // `assigneeAgentId=me` is an agent's own inbox.
    let assignee = match q.text("assigneeAgentId") {
        Some("me") => Some(actor.agent_id().ok_or_else(|| ApiError::validation(vec![json!({"code": "invalid_string", "path": ["assigneeAgentId"], "message": "assigneeAgentId=me needs an agent API key"})]))?),
        _ => q.uuid("assigneeAgentId")?,
    };
    let filter = store::issues::Filter {
        statuses,
        assignee_agent_id: assignee,
        assignee_user_id: q.text("assigneeUserId").map(str::to_string),
        project_id: q.uuid("projectId")?,
        parent_id: q.uuid("parentId")?,
        label_id: q.uuid("labelId")?,
        q: q.text("q").map(str::to_string),
        limit: q.int("limit", 200, 1, 1000)?,
        offset: q.int("offset", 0, 0, i64::from(i32::MAX))?,
    };
    // Upstream answers an unknown company's issue list with an empty list.
    let company_id = Uuid::parse_str(&cid).ok().filter(|id| actor.can_see(*id));
    let mut conn = s.db.session().await?;
    let answer = match (company_id, compact) {
        (None, false) => IssueListAnswer::Full(views::issue_list(Vec::new())),
        (None, true) => IssueListAnswer::Compact(Vec::new()),
        (Some(id), false) => IssueListAnswer::Full(views::issue_list(
            store::issues::list(&mut conn, id, &filter).await?,
        )),
        (Some(id), true) => {
            IssueListAnswer::Compact(store::issues::list_compact(&mut conn, id, &filter).await?)
        }
    };
    conn.close().await?;
    Ok(Json(answer))
}

/// The issue's answer with its blockers and what it blocks filled in.
async fn with_relations(conn: &mut sqlx::PgConnection, issue: Issue) -> Result<View, ApiError> {
    let (by, blocks) = store::orchestration::relations(conn, issue.id).await?;
    let mut view = views::issue(issue);
    view.blocked_by = by.into_iter().map(views::related).collect();
    view.blocks = blocks.into_iter().map(views::related).collect();
    Ok(view)
}

/// Blockers must be at most 100, without repeats.
fn check_blockers(ids: Option<&Vec<Uuid>>) -> Result<(), ApiError> {
    if let Some(ids) = ids {
        let unique: std::collections::HashSet<&Uuid> = ids.iter().collect();
        if ids.len() > 100 || unique.len() != ids.len() {
            return Err(ApiError::validation(vec![
                json!({"code": "invalid_array", "path": ["blockedByIssueIds"],
                "message": "blockedByIssueIds must list at most 100 distinct issues"}),
            ]));
        }
    }
    Ok(())
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn create(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(cid): Path<String>,
    JsonBody(b): JsonBody<CreateIssue>,
) -> Result<Created<View>, ApiError> {
    let status = b.status.unwrap_or_else(|| {
        if b.assignee_agent_id.is_some() || b.assignee_user_id.is_some() {
            "todo".into()
        } else {
            "backlog".into()
        }
    });
    let priority = b.priority.unwrap_or_else(|| "medium".into());
    let mut p = Problems::default();
    let title = p.required("title", b.title.as_deref(), 500);
    p.opt_text("description", b.description.as_deref(), 200_000);
    p.one_of("status", &status, STATUSES);
    p.one_of("priority", &priority, PRIORITIES);
    p.opt_text("billingCode", b.billing_code.as_deref(), 200);
    p.finish()?;
    check_blockers(b.blocked_by_issue_ids.as_ref())?;
    let mut tx = s.db.begin().await?;
    let c = super::company(&mut tx, &actor, &cid).await?;
    let issue = store::issues::create(
        &mut tx,
        &actor,
        c.id,
        &NewIssue {
            title,
            description: b.description,
            status,
            priority,
            assignee_agent_id: b.assignee_agent_id,
            assignee_user_id: b.assignee_user_id,
            parent_id: b.parent_id,
            project_id: b.project_id,
            goal_id: b.goal_id,
            billing_code: b.billing_code,
            origin_kind: "manual".into(),
            origin_id: None,
        },
    )
    .await?;
    // A new issue blocks nothing and has no labels or blockers but those the request set: only
    // then is it read again (creates are the hot write; each round trip holds the issue counter).
    let view = if b.blocked_by_issue_ids.is_some() || b.label_ids.is_some() {
        if let Some(ids) = &b.blocked_by_issue_ids {
            store::orchestration::set_blocked_by(&mut tx, &actor, &issue, ids).await?;
        }
        if let Some(ids) = &b.label_ids {
            store::labels::set_for_issue(&mut tx, &actor, &issue, ids).await?;
        }
        let issue = store::issues::get(&mut tx, issue.id)
            .await?
            .ok_or_else(|| ApiError::not_found("Issue"))?;
        with_relations(&mut tx, issue).await?
    } else {
        views::issue(issue)
    };
    tx.commit().await?;
    Ok(Created(view))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn get(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<Detail>, ApiError> {
    let mut conn = s.db.session().await?;
    let issue = super::issue(&mut conn, &actor, &id).await?;
    let ancestors = store::issues::ancestors(&mut conn, &issue).await?;
    let project = match issue.project_id {
        Some(p) => store::projects::get(&mut conn, p).await?,
        None => None,
    };
    let goal = match issue.goal_id {
        Some(g) => store::goals::get(&mut conn, g).await?,
        None => None,
    };
    let docs = store::documents::list(&mut conn, issue.id).await?;
    let work_products = store::work_products::list(&mut conn, issue.id).await?;
    let view = with_relations(&mut conn, issue).await?;
    conn.close().await?;
    let summaries = docs
        .iter()
        .map(|d| DocumentSummary {
            key: d.key.clone(),
            title: d.title.clone(),
            format: d.format.clone(),
            latest_revision_id: d.latest_revision_id,
            latest_revision_number: d.latest_revision_number,
            updated_at: d.updated_at,
        })
        .collect();
    let plan = docs.into_iter().find(|d| d.key == "plan");
    Ok(Json(IssueDetail {
        view,
        ancestors: ancestors.into_iter().map(views::ancestor).collect(),
        project,
        goal,
        plan_document: plan,
        legacy_plan_document: None,
        document_summaries: summaries,
        review_attention: ReviewAttention::none(),
        blocker_attention: BlockerAttention::none(),
        execution_blocker: None,
        successful_run_handoff: None,
        current_execution_workspace: None,
        mentioned_projects: Vec::new(),
        external_channel_binding: None,
        linked_cases: Vec::new(),
        active_recovery_action: None,
        scheduled_retry: None,
        work_products,
    }))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn patch(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<PatchIssue>,
) -> Result<Json<IssueUpdated<Issue, Comment>>, ApiError> {
    let mut p = Problems::default();
    if let Some(t) = &b.title {
        p.text("title", t, 500);
    }
    if let Some(st) = &b.status {
        p.one_of("status", st, STATUSES);
    }
    if let Some(pr) = &b.priority {
        p.one_of("priority", pr, PRIORITIES);
    }
    if let Some(c) = &b.comment {
        p.text("comment", c, 100_000);
    }
    p.finish()?;
    check_blockers(b.blocked_by_issue_ids.as_ref())?;
    if !actor.is_board() && (b.project_id.is_some() || b.goal_id.is_some() || b.parent_id.is_some())
    {
        return Err(ApiError::Forbidden(
            "Agents cannot change projectId, goalId or parentId".into(),
        ));
    }
    let mut tx = s.db.begin().await?;
    let issue = super::issue(&mut tx, &actor, &id).await?;
    let patch = IssuePatch {
        title: b.title.map(|t| t.trim().to_string()),
        description: b.description,
        status: b.status,
        priority: b.priority,
        assignee_agent_id: b.assignee_agent_id,
        assignee_user_id: b.assignee_user_id,
        parent_id: b.parent_id,
        project_id: b.project_id,
        goal_id: b.goal_id,
        billing_code: b.billing_code,
    };
    let updated = store::issues::update(&mut tx, &actor, &issue, &patch).await?;
    if let Some(ids) = &b.blocked_by_issue_ids {
        store::orchestration::set_blocked_by(&mut tx, &actor, &updated, ids).await?;
    }
    let updated = match &b.label_ids {
        Some(ids) => {
            store::labels::set_for_issue(&mut tx, &actor, &updated, ids).await?;
            store::issues::get(&mut tx, updated.id)
                .await?
                .ok_or_else(|| ApiError::not_found("Issue"))?
        }
        None => updated,
    };
    let comment = match &b.comment {
        Some(body) => Some(store::comments::create(&mut tx, &actor, &updated, body).await?),
        None => None,
    };
    let view = with_relations(&mut tx, updated).await?;
    tx.commit().await?;
    Ok(Json(IssueUpdated {
        changes: views::changes(&issue, &view.issue),
        view,
        comment,
    }))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn checkout(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<Checkout>,
) -> Result<Json<View>, ApiError> {
    let expected = b
        .expected_statuses
        .unwrap_or_else(|| vec!["backlog".into(), "todo".into()]);
    let mut p = Problems::default();
    for st in &expected {
        p.one_of("expectedStatuses", st, STATUSES);
    }
    p.finish()?;
    if let Some(me) = actor.agent_id() {
        if me != b.agent_id {
            return Err(ApiError::Forbidden(
                "An agent can only check out issues for itself".into(),
            ));
        }
    }
    let mut tx = s.db.begin().await?;
    let issue = super::issue(&mut tx, &actor, &id).await?;
    let issue = store::issues::checkout(&mut tx, &actor, &issue, b.agent_id, &expected).await?;
    tx.commit().await?;
    Ok(Json(views::issue(issue)))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn release(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<View>, ApiError> {
    let mut tx = s.db.begin().await?;
    let issue = super::issue(&mut tx, &actor, &id).await?;
    let issue = store::issues::release(&mut tx, &actor, &issue).await?;
    tx.commit().await?;
    Ok(Json(views::issue(issue)))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn force_release(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    q: QueryMap<ForceReleaseQuery>,
    JsonBody(b): JsonBody<ForceRelease>,
) -> Result<Json<View>, ApiError> {
    require_board(&actor, "force-release issues")?;
    let clear = b.clear_assignee || q.text("clearAssignee") == Some("true");
    let mut tx = s.db.begin().await?;
    let issue = super::issue(&mut tx, &actor, &id).await?;
    let issue = store::issues::force_release(&mut tx, &actor, &issue, clear).await?;
    tx.commit().await?;
    Ok(Json(views::issue(issue)))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn list_comments(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    q: QueryMap<CommentListQuery>,
) -> Result<Json<Vec<Comment>>, ApiError> {
    let order = q.text("order").unwrap_or("asc");
    if order != "asc" && order != "desc" {
        return Err(ApiError::validation(vec![
            json!({"code": "invalid_enum_value", "path": ["order"], "message": "order must be asc or desc"}),
        ]));
    }
    let after = q.uuid("after")?;
    let limit = q.int("limit", 100, 1, 500)?;
    let mut conn = s.db.session().await?;
    let issue = super::issue(&mut conn, &actor, &id).await?;
    let rows = store::comments::list(&mut conn, issue.id, after, order == "asc", limit).await?;
    conn.close().await?;
    Ok(Json(rows))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn create_comment(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<CreateComment>,
) -> Result<Created<Comment>, ApiError> {
    let mut p = Problems::default();
    let body = p.required("body", b.body.as_deref(), 100_000);
    p.finish()?;
    let mut tx = s.db.begin().await?;
    let issue = super::issue(&mut tx, &actor, &id).await?;
    let c = store::comments::create(&mut tx, &actor, &issue, &body).await?;
    tx.commit().await?;
    Ok(Created(c))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn get_comment(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path((id, cid)): Path<(String, String)>,
) -> Result<Json<Comment>, ApiError> {
    let comment_id = path_id(&cid, "Comment")?;
    let mut conn = s.db.session().await?;
    let issue = super::issue(&mut conn, &actor, &id).await?;
    let c = store::comments::get(&mut conn, issue.id, comment_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Comment"))?;
    conn.close().await?;
    Ok(Json(c))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn delete_comment(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path((id, cid)): Path<(String, String)>,
) -> Result<Json<Ok>, ApiError> {
    let comment_id = path_id(&cid, "Comment")?;
    let mut tx = s.db.begin().await?;
    let issue = super::issue(&mut tx, &actor, &id).await?;
    let c = store::comments::get(&mut tx, issue.id, comment_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Comment"))?;
    let keys = store::comments::delete(&mut tx, &actor, &issue, &c).await?;
    tx.commit().await?;
    for key in keys {
        crate::upload::forget(&s.files, &key).await;
    }
    Ok(Json(Ok::yes()))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn list_documents(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<Vec<Document>>, ApiError> {
    let mut conn = s.db.session().await?;
    let issue = super::issue(&mut conn, &actor, &id).await?;
    let docs = store::documents::list(&mut conn, issue.id).await?;
    conn.close().await?;
    Ok(Json(docs))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn get_document(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path((id, key)): Path<(String, String)>,
) -> Result<Json<Document>, ApiError> {
    let mut conn = s.db.session().await?;
    let issue = super::issue(&mut conn, &actor, &id).await?;
    let d = store::documents::get(&mut conn, issue.id, &key)
        .await?
        .ok_or_else(|| ApiError::not_found("Document"))?;
    conn.close().await?;
    Ok(Json(d))
}

fn valid_key(key: &str) -> bool {
    let b = key.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-')
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn put_document(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path((id, key)): Path<(String, String)>,
    JsonBody(b): JsonBody<PutDocument>,
) -> Result<Json<Document>, ApiError> {
    let format = b.format.unwrap_or_else(|| "markdown".into());
    let mut p = Problems::default();
    if !valid_key(&key) {
        p.add(
            "key",
            "invalid_string",
            "key must be 1-64 characters of a-z, 0-9, '_' or '-', starting with a letter or digit",
        );
    }
    p.one_of("format", &format, &["markdown"]);
    p.opt_text("title", b.title.as_deref(), 500);
    if b.body.len() > 900_000 {
        p.add("body", "too_big", "body must be at most 900000 bytes");
    }
    p.finish()?;
    let mut tx = s.db.begin().await?;
    let issue = super::issue(&mut tx, &actor, &id).await?;
    let write = store::documents::Write {
        key: &key,
        title: b.title.as_deref(),
        format: &format,
        body: &b.body,
        base_revision_id: b.base_revision_id,
    };
    let doc = store::documents::upsert(&mut tx, &actor, &issue, &write).await?;
    tx.commit().await?;
    Ok(Json(doc))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn delete_document(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path((id, key)): Path<(String, String)>,
) -> Result<Json<Ok>, ApiError> {
    require_board(&actor, "delete documents")?;
    let mut tx = s.db.begin().await?;
    let issue = super::issue(&mut tx, &actor, &id).await?;
    let d = store::documents::get(&mut tx, issue.id, &key)
        .await?
        .ok_or_else(|| ApiError::not_found("Document"))?;
    store::documents::delete(&mut tx, &actor, &issue, &d).await?;
    tx.commit().await?;
    Ok(Json(Ok::yes()))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn document_revisions(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path((id, key)): Path<(String, String)>,
) -> Result<Json<Vec<store::documents::Revision>>, ApiError> {
    let mut conn = s.db.session().await?;
    let issue = super::issue(&mut conn, &actor, &id).await?;
    let d = store::documents::get(&mut conn, issue.id, &key)
        .await?
        .ok_or_else(|| ApiError::not_found("Document"))?;
    let revs = store::documents::revisions(&mut conn, d.id).await?;
    conn.close().await?;
    Ok(Json(revs))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn activity(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    q: QueryMap<IssueActivityQuery>,
) -> Result<Json<Vec<store::activity::Activity>>, ApiError> {
    let limit = q.int("limit", 100, 1, 500)?;
    let mut conn = s.db.session().await?;
    let issue = super::issue(&mut conn, &actor, &id).await?;
    let rows = store::activity::list(
        &mut conn,
        issue.company_id,
        &store::activity::Filter {
            entity_type: Some("issue".into()),
            entity_id: Some(issue.id.to_string()),
            limit,
            ..Default::default()
        },
    )
    .await?;
    conn.close().await?;
    Ok(Json(rows))
}
