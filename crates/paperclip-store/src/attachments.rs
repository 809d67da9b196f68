//! Stored files (`assets`) and the issues and comments they are attached to.
//!
//! The bytes are written by `paperclip-storage` before [`create`] runs, so a row always names a
//! complete object; deleting returns the object key for the caller to remove once the
//! transaction has committed (a failed removal leaves an unreferenced object, never a row that
//! points at nothing).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::activity::{self, Entry};
use crate::issues::Issue;
use crate::Actor;
use crate::{Result, StoreError};
use paperclip_postgres::pool::{q, qa, qs};

/// An attachment as the API serializes it (upstream's field names).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    pub id: Uuid,
    pub company_id: Uuid,
    pub issue_id: Uuid,
    pub issue_comment_id: Option<Uuid>,
    pub asset_id: Uuid,
    pub provider: String,
    pub object_key: String,
    pub content_type: String,
    pub byte_size: i64,
    pub sha256: String,
    pub original_filename: Option<String>,
    pub created_by_agent_id: Option<Uuid>,
    pub created_by_user_id: Option<String>,
    /// Where to download it: `/api/attachments/<id>/content`.
    pub content_path: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLS: &str = "ia.id, ia.company_id, ia.issue_id, ia.issue_comment_id, ia.asset_id,
    a.provider, a.object_key, a.content_type, a.byte_size, a.sha256, a.original_filename,
    a.created_by_agent_id, a.created_by_user_id,
    '/api/attachments/' || ia.id || '/content' AS content_path, ia.created_at, ia.updated_at";

/// A complete object, about to be recorded.
#[derive(Debug, Clone)]
pub struct NewAsset<'a> {
    pub provider: &'a str,
    pub object_key: &'a str,
    pub content_type: &'a str,
    pub byte_size: u64,
    pub sha256: &'a str,
    pub original_filename: Option<&'a str>,
}

/// Records an uploaded object as an attachment of `issue` (and of one of its comments).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    issue: &Issue,
    comment_id: Option<Uuid>,
    asset: &NewAsset<'_>,
) -> Result<Attachment> {
    if let Some(cid) = comment_id {
        let on_issue: Option<bool> = qs("SELECT issue_id = $2 FROM issue_comments WHERE id = $1")
            .bind(cid)
            .bind(issue.id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(StoreError::sql("cannot read the comment"))?;
        if on_issue != Some(true) {
            return Err(StoreError::invalid(
                "issueCommentId",
                "is not a comment of this issue",
            ));
        }
    }
    let id: Uuid = qs("WITH a AS (
            INSERT INTO assets (company_id, provider, object_key, content_type, byte_size, sha256,
                                original_filename, created_by_agent_id, created_by_user_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id)
         INSERT INTO issue_attachments (company_id, issue_id, asset_id, issue_comment_id)
         SELECT $1, $10, a.id, $11 FROM a RETURNING id")
    .bind(issue.company_id)
    .bind(asset.provider)
    .bind(asset.object_key)
    .bind(asset.content_type)
    .bind(asset.byte_size as i64)
    .bind(asset.sha256)
    .bind(asset.original_filename)
    .bind(actor.agent_id())
    .bind(actor.user_id())
    .bind(issue.id)
    .bind(comment_id)
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot record the attachment"))?;
    let a = get(conn, id)
        .await?
        .ok_or_else(|| StoreError::not_found("Attachment not found"))?;
    activity::record(
        conn,
        actor,
        Entry {
            company_id: issue.company_id,
            action: "issue.attachment_added",
            entity_type: "issue",
            entity_id: issue.id.to_string(),
            details: json!({
                "identifier": issue.identifier, "attachmentId": a.id,
                "originalFilename": a.original_filename, "byteSize": a.byte_size,
                "contentType": a.content_type, "sha256": a.sha256,
            }),
        },
    )
    .await?;
    Ok(a)
}

/// One attachment.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn get(conn: &mut PgConnection, id: Uuid) -> Result<Option<Attachment>> {
    qa(&format!(
        "SELECT {COLS} FROM issue_attachments ia JOIN assets a ON a.id = ia.asset_id WHERE ia.id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
    .map_err(StoreError::sql("cannot read the attachment"))
}

/// An issue's attachments, oldest first.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(conn: &mut PgConnection, issue_id: Uuid) -> Result<Vec<Attachment>> {
    qa(&format!(
        "SELECT {COLS} FROM issue_attachments ia JOIN assets a ON a.id = ia.asset_id
         WHERE ia.issue_id = $1 ORDER BY ia.created_at, ia.id"
    ))
    .bind(issue_id)
    .fetch_all(conn)
    .await
    .map_err(StoreError::sql("cannot list attachments"))
}

/// Deletes an attachment and its asset row; answers the object key to remove after commit.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn delete(conn: &mut PgConnection, actor: &Actor, a: &Attachment) -> Result<String> {
    q("DELETE FROM issue_attachments WHERE id = $1")
        .bind(a.id)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot delete the attachment"))?;
    q("DELETE FROM assets WHERE id = $1")
        .bind(a.asset_id)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot delete the asset"))?;
    activity::record(
        conn,
        actor,
        Entry {
            company_id: a.company_id,
            action: "issue.attachment_removed",
            entity_type: "issue",
            entity_id: a.issue_id.to_string(),
            details: json!({"attachmentId": a.id, "originalFilename": a.original_filename}),
        },
    )
    .await?;
    Ok(a.object_key.clone())
}

/// Deletes the attachments of the issues or comments `where_sql` selects from
/// `issue_attachments ia` (bound to `$1`), with their assets; answers the object keys.
pub(crate) async fn delete_where(
    conn: &mut PgConnection,
    where_sql: &str,
    id: Uuid,
) -> Result<Vec<String>> {
    qs(&format!(
        "WITH gone AS (DELETE FROM issue_attachments ia WHERE {where_sql} RETURNING asset_id)
         DELETE FROM assets WHERE id IN (SELECT asset_id FROM gone) RETURNING object_key"
    ))
    .bind(id)
    .fetch_all(conn)
    .await
    .map_err(StoreError::sql("cannot delete attachments"))
}

/// A stored file of a company on its own (an image for a description or a logo).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Asset {
    pub id: Uuid,
    pub company_id: Uuid,
    pub provider: String,
    pub object_key: String,
    pub content_type: String,
    pub byte_size: i64,
    pub sha256: String,
    pub original_filename: Option<String>,
    pub created_by_agent_id: Option<Uuid>,
    pub created_by_user_id: Option<String>,
    /// Where to download it: `/api/assets/<id>/content`.
    pub content_path: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const ASSET_COLS: &str = "id, company_id, provider, object_key, content_type, byte_size, sha256,
    original_filename, created_by_agent_id, created_by_user_id,
    '/api/assets/' || id || '/content' AS content_path, created_at, updated_at";

/// Records an uploaded object as a company asset.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn create_asset(
    conn: &mut PgConnection,
    actor: &Actor,
    company_id: Uuid,
    asset: &NewAsset<'_>,
) -> Result<Asset> {
    let a: Asset = qa(&format!(
        "INSERT INTO assets (company_id, provider, object_key, content_type, byte_size, sha256,
                             original_filename, created_by_agent_id, created_by_user_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {ASSET_COLS}"
    ))
    .bind(company_id)
    .bind(asset.provider)
    .bind(asset.object_key)
    .bind(asset.content_type)
    .bind(asset.byte_size as i64)
    .bind(asset.sha256)
    .bind(asset.original_filename)
    .bind(actor.agent_id())
    .bind(actor.user_id())
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot record the asset"))?;
    activity::record(
        conn,
        actor,
        Entry {
            company_id,
            action: "asset.created",
            entity_type: "asset",
            entity_id: a.id.to_string(),
            details: json!({"originalFilename": a.original_filename, "byteSize": a.byte_size, "contentType": a.content_type}),
        },
    )
    .await?;
    Ok(a)
}

/// One asset (attached or not).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn get_asset(conn: &mut PgConnection, id: Uuid) -> Result<Option<Asset>> {
    qa(&format!("SELECT {ASSET_COLS} FROM assets WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(StoreError::sql("cannot read the asset"))
}
