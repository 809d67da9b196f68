//! Issues: CRUD, atomic checkout, comments, documents and per-issue activity.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use paperclip_store::{
    self as store,
    issues::{IssuePatch, NewIssue, PRIORITIES, STATUSES},
};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::auth::{require_board, Auth};
use crate::extract::{double, path_id, JsonBody, Problems, QueryMap};
use crate::{ApiError, AppState};

pub async fn list(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(cid): Path<String>,
    q: QueryMap,
) -> Result<Response, ApiError> {
    let statuses: Vec<String> = q
        .text("status")
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let mut p = Problems::default();
    for st in &statuses {
        p.one_of("status", st, STATUSES);
    }
    p.finish()?;
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
        q: q.text("q").map(str::to_string),
        limit: q.int("limit", 200, 1, 1000)?,
        offset: q.int("offset", 0, 0, i64::from(i32::MAX))?,
    };
    let mut conn = s.db.session().await?;
    let Ok(company_id) = Uuid::parse_str(&cid) else {
        // Upstream answers an unknown company's issue list with an empty list.
        return Ok(Json(json!([])).into_response());
    };
    if !crate::auth::can_see(&actor, company_id) {
        return Ok(Json(json!([])).into_response());
    }
    let mut rows = store::issues::list(&mut conn, company_id, &filter).await?;
    conn.close().await?;
    Ok(Json(store::issues::list_items(&mut rows)).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateIssue {
    title: Option<String>,
    description: Option<String>,
    status: Option<String>,
    priority: Option<String>,
    assignee_agent_id: Option<Uuid>,
    assignee_user_id: Option<String>,
    parent_id: Option<Uuid>,
    project_id: Option<Uuid>,
    goal_id: Option<Uuid>,
    billing_code: Option<String>,
}

pub async fn create(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(cid): Path<String>,
    JsonBody(b): JsonBody<CreateIssue>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
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
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(store::issues::single_json(&issue)),
    ))
}

pub async fn get(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let mut conn = s.db.session().await?;
    let issue = super::issue(&mut conn, &actor, &id).await?;
    let ancestors = store::issues::ancestors(&mut conn, &issue).await?;
    let project = match issue.project_id {
        Some(p) => store::projects::get(&mut conn, p).await?.map(|p| json!(p)),
        None => None,
    };
    let goal = match issue.goal_id {
        Some(g) => store::goals::get(&mut conn, g).await?.map(|g| json!(g)),
        None => None,
    };
    let docs = store::documents::list(&mut conn, issue.id).await?;
    conn.close().await?;
    let mut v = store::issues::single_json(&issue);
    let m = v.as_object_mut().expect("object");
    let summaries: Vec<Value> = docs.iter().map(|d| json!({"key": d.key, "title": d.title, "format": d.format,
        "latestRevisionId": d.latest_revision_id, "latestRevisionNumber": d.latest_revision_number, "updatedAt": d.updated_at})).collect();
    let plan = docs.iter().find(|d| d.key == "plan").map(|d| json!(d));
    for (k, val) in [
        ("ancestors", json!(ancestors)),
        ("project", json!(project)),
        ("goal", json!(goal)),
        ("planDocument", json!(plan)),
        ("legacyPlanDocument", Value::Null),
        ("documentSummaries", json!(summaries)),
        (
            "reviewAttention",
            json!({"state": "none", "paths": [], "reason": null}),
        ),
        ("blockerAttention", store::issues::blocker_attention()),
        ("executionBlocker", Value::Null),
        ("successfulRunHandoff", Value::Null),
        ("currentExecutionWorkspace", Value::Null),
        ("mentionedProjects", json!([])),
        ("externalChannelBinding", Value::Null),
        ("linkedCases", json!([])),
        ("activeRecoveryAction", Value::Null),
        ("scheduledRetry", Value::Null),
        ("workProducts", json!([])),
    ] {
        m.insert(k.into(), val);
    }
    Ok(Json(v))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PatchIssue {
    title: Option<String>,
    #[serde(default, deserialize_with = "double")]
    description: Option<Option<String>>,
    status: Option<String>,
    priority: Option<String>,
    #[serde(default, deserialize_with = "double")]
    assignee_agent_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "double")]
    assignee_user_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "double")]
    parent_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "double")]
    project_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "double")]
    goal_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "double")]
    billing_code: Option<Option<String>>,
    comment: Option<String>,
}

pub async fn patch(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<PatchIssue>,
) -> Result<Json<Value>, ApiError> {
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
    let comment = match &b.comment {
        Some(body) => Some(store::comments::create(&mut tx, &actor, &updated, body).await?),
        None => None,
    };
    tx.commit().await?;
    let before = store::issues::single_json(&issue);
    let mut v = store::issues::single_json(&updated);
    // Upstream reports what changed as {field: {from, to}}.
    let changes: serde_json::Map<String, Value> = v
        .as_object()
        .expect("object")
        .iter()
        .filter(|(k, after)| k.as_str() != "updatedAt" && before.get(k.as_str()) != Some(after))
        .map(|(k, after)| {
            (
                k.clone(),
                json!({"from": before.get(k.as_str()), "to": after}),
            )
        })
        .collect();
    v["changes"] = Value::Object(changes);
    v["comment"] = json!(comment);
    Ok(Json(v))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkout {
    agent_id: Uuid,
    expected_statuses: Option<Vec<String>>,
}

pub async fn checkout(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<Checkout>,
) -> Result<Json<Value>, ApiError> {
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
    Ok(Json(store::issues::single_json(&issue)))
}

pub async fn release(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let mut tx = s.db.begin().await?;
    let issue = super::issue(&mut tx, &actor, &id).await?;
    let issue = store::issues::release(&mut tx, &actor, &issue).await?;
    tx.commit().await?;
    Ok(Json(store::issues::single_json(&issue)))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ForceRelease {
    #[serde(default)]
    clear_assignee: bool,
}

pub async fn force_release(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    q: QueryMap,
    JsonBody(b): JsonBody<ForceRelease>,
) -> Result<Json<Value>, ApiError> {
    require_board(&actor, "force-release issues")?;
    let clear = b.clear_assignee || q.text("clearAssignee") == Some("true");
    let mut tx = s.db.begin().await?;
    let issue = super::issue(&mut tx, &actor, &id).await?;
    let issue = store::issues::force_release(&mut tx, &actor, &issue, clear).await?;
    tx.commit().await?;
    Ok(Json(store::issues::single_json(&issue)))
}

pub async fn list_comments(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    q: QueryMap,
) -> Result<Json<Vec<store::comments::Comment>>, ApiError> {
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

#[derive(Deserialize)]
pub struct CreateComment {
    body: Option<String>,
}

pub async fn create_comment(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<CreateComment>,
) -> Result<(StatusCode, Json<store::comments::Comment>), ApiError> {
    let mut p = Problems::default();
    let body = p.required("body", b.body.as_deref(), 100_000);
    p.finish()?;
    let mut tx = s.db.begin().await?;
    let issue = super::issue(&mut tx, &actor, &id).await?;
    let c = store::comments::create(&mut tx, &actor, &issue, &body).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(c)))
}

pub async fn get_comment(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path((id, cid)): Path<(String, String)>,
) -> Result<Json<store::comments::Comment>, ApiError> {
    let comment_id = path_id(&cid, "Comment")?;
    let mut conn = s.db.session().await?;
    let issue = super::issue(&mut conn, &actor, &id).await?;
    let c = store::comments::get(&mut conn, issue.id, comment_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Comment"))?;
    conn.close().await?;
    Ok(Json(c))
}

pub async fn delete_comment(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path((id, cid)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let comment_id = path_id(&cid, "Comment")?;
    let mut tx = s.db.begin().await?;
    let issue = super::issue(&mut tx, &actor, &id).await?;
    let c = store::comments::get(&mut tx, issue.id, comment_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Comment"))?;
    store::comments::delete(&mut tx, &actor, &issue, &c).await?;
    tx.commit().await?;
    Ok(Json(json!({"ok": true})))
}

pub async fn list_documents(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<Vec<store::documents::Document>>, ApiError> {
    let mut conn = s.db.session().await?;
    let issue = super::issue(&mut conn, &actor, &id).await?;
    let docs = store::documents::list(&mut conn, issue.id).await?;
    conn.close().await?;
    Ok(Json(docs))
}

pub async fn get_document(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path((id, key)): Path<(String, String)>,
) -> Result<Json<store::documents::Document>, ApiError> {
    let mut conn = s.db.session().await?;
    let issue = super::issue(&mut conn, &actor, &id).await?;
    let d = store::documents::get(&mut conn, issue.id, &key)
        .await?
        .ok_or_else(|| ApiError::not_found("Document"))?;
    conn.close().await?;
    Ok(Json(d))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PutDocument {
    title: Option<String>,
    format: Option<String>,
    body: String,
    base_revision_id: Option<Uuid>,
}

fn valid_key(key: &str) -> bool {
    let b = key.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-')
}

pub async fn put_document(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path((id, key)): Path<(String, String)>,
    JsonBody(b): JsonBody<PutDocument>,
) -> Result<Json<store::documents::Document>, ApiError> {
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

pub async fn delete_document(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path((id, key)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    require_board(&actor, "delete documents")?;
    let mut tx = s.db.begin().await?;
    let issue = super::issue(&mut tx, &actor, &id).await?;
    let d = store::documents::get(&mut tx, issue.id, &key)
        .await?
        .ok_or_else(|| ApiError::not_found("Document"))?;
    store::documents::delete(&mut tx, &actor, &issue, &d).await?;
    tx.commit().await?;
    Ok(Json(json!({"ok": true})))
}

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

pub async fn activity(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    q: QueryMap,
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
