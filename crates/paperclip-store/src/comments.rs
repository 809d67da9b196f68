//! Issue comments.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::activity::{self, Entry};
use crate::issues::Issue;
use crate::Actor;
use crate::{Result, StoreError};
use paperclip_postgres::pool::{q, qa};

/// A comment as upstream serializes it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Comment {
    pub id: Uuid,
    pub company_id: Uuid,
    pub issue_id: Uuid,
    pub author_agent_id: Option<Uuid>,
    pub author_user_id: Option<String>,
    #[sqlx(skip)]
    pub on_behalf_of_user_id: Option<String>,
    pub author_type: String,
    pub created_by_run_id: Option<Uuid>,
    #[sqlx(skip)]
    pub derived_author_agent_id: Option<Uuid>,
    #[sqlx(skip)]
    pub derived_created_by_run_id: Option<Uuid>,
    #[sqlx(skip)]
    pub derived_author_source: Option<String>,
    #[sqlx(skip)]
    pub client_request_id: Option<String>,
    #[sqlx(skip)]
    pub conversation_session_generation: Option<i32>,
    pub body: String,
    #[sqlx(skip)]
    pub presentation: Option<Value>,
    #[sqlx(skip)]
    pub metadata: Option<Value>,
    #[sqlx(skip)]
    pub deleted_at: Option<DateTime<Utc>>,
    #[sqlx(skip)]
    pub deleted_by_type: Option<String>,
    #[sqlx(skip)]
    pub deleted_by_agent_id: Option<Uuid>,
    #[sqlx(skip)]
    pub deleted_by_user_id: Option<String>,
    #[sqlx(skip)]
    pub deleted_by_run_id: Option<Uuid>,
    #[sqlx(skip)]
    pub source_trust: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, company_id, issue_id, author_agent_id, author_user_id,
    CASE WHEN author_agent_id IS NOT NULL THEN 'agent' ELSE 'user' END AS author_type,
    created_by_run_id, body, created_at, updated_at";

/// Adds a comment (`issue.comment_added`).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    issue: &Issue,
    body: &str,
) -> Result<Comment> {
    let c: Comment = qa(&format!(
        "INSERT INTO issue_comments (company_id, issue_id, author_agent_id, author_user_id, body, created_by_run_id)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
    ))
    .bind(issue.company_id)
    .bind(issue.id)
    .bind(actor.agent_id())
    .bind(actor.user_id())
    .bind(body)
    .bind(actor.run_id)
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot add the comment"))?;
    activity::record(
        conn,
        actor,
        Entry {
            company_id: issue.company_id,
            action: "issue.comment_added",
            entity_type: "issue",
            entity_id: issue.id.to_string(),
            details: json!({"identifier": issue.identifier, "commentId": c.id}),
        },
    )
    .await?;
    crate::runs::wake_for_comment(conn, actor, issue, c.id, body).await?;
    Ok(c)
}

/// Page of comments: `after` a comment id, oldest or newest first.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(
    conn: &mut PgConnection,
    issue_id: Uuid,
    after: Option<Uuid>,
    ascending: bool,
    limit: i64,
) -> Result<Vec<Comment>> {
    // Keyset pagination on (created_at, id): stable under concurrent inserts, one index range.
    let (cmp, order) = if ascending {
        (">", "ASC")
    } else {
        ("<", "DESC")
    };
    qa(&format!(
        "SELECT {COLUMNS} FROM issue_comments c
         WHERE issue_id = $1
           AND ($2::uuid IS NULL OR (created_at, id) {cmp} (SELECT created_at, id FROM issue_comments WHERE id = $2))
         ORDER BY created_at {order}, id {order} LIMIT $3"
    ))
    .bind(issue_id)
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await
    .map_err(StoreError::sql("cannot list comments"))
}

/// One comment of an issue.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn get(conn: &mut PgConnection, issue_id: Uuid, id: Uuid) -> Result<Option<Comment>> {
    qa(&format!(
        "SELECT {COLUMNS} FROM issue_comments WHERE issue_id = $1 AND id = $2"
    ))
    .bind(issue_id)
    .bind(id)
    .fetch_optional(conn)
    .await
    .map_err(StoreError::sql("cannot read the comment"))
}

/// Deletes a comment (`issue.comment_deleted`) with its attachments; only its author or the
/// board may. Answers the storage keys of the attachments, to remove after commit.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn delete(
    conn: &mut PgConnection,
    actor: &Actor,
    issue: &Issue,
    c: &Comment,
) -> Result<Vec<String>> {
    if !actor.is_board() && actor.agent_id() != c.author_agent_id {
        return Err(StoreError::forbidden(
            "Only the comment's author or the board can delete it",
        ));
    }
    let keys =
        crate::attachments::delete_where(&mut *conn, "ia.issue_comment_id = $1", c.id).await?;
    q("DELETE FROM issue_comments WHERE id = $1")
        .bind(c.id)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot delete the comment"))?;
    activity::record(
        conn,
        actor,
        Entry {
            company_id: issue.company_id,
            action: "issue.comment_deleted",
            entity_type: "issue",
            entity_id: issue.id.to_string(),
            details: json!({"identifier": issue.identifier, "commentId": c.id, "attachmentsRemoved": keys.len()}),
        },
    )
    .await?;
    Ok(keys)
}
