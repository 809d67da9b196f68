//! Issue documents: keyed, append-only revisions with optimistic concurrency.

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

/// A document with its latest revision's body.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    pub id: Uuid,
    pub company_id: Uuid,
    pub issue_id: Uuid,
    pub key: String,
    pub title: Option<String>,
    pub format: String,
    pub body: String,
    pub latest_revision_id: Option<Uuid>,
    pub latest_revision_number: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One revision.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Revision {
    pub id: Uuid,
    pub document_id: Uuid,
    pub revision_number: i32,
    pub title: Option<String>,
    pub format: String,
    pub body: String,
    pub created_by_agent_id: Option<Uuid>,
    pub created_by_user_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

const SELECT: &str =
    "SELECT d.id, d.company_id, d.issue_id, d.key, d.title, d.format, COALESCE(r.body, '') AS body,
    d.latest_revision_id, d.latest_revision_number, d.created_at, d.updated_at
    FROM issue_documents d LEFT JOIN document_revisions r ON r.id = d.latest_revision_id";

/// Documents of an issue, by key.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(conn: &mut PgConnection, issue_id: Uuid) -> Result<Vec<Document>> {
    qa(&format!("{SELECT} WHERE d.issue_id = $1 ORDER BY d.key"))
        .bind(issue_id)
        .fetch_all(conn)
        .await
        .map_err(StoreError::sql("cannot list documents"))
}

/// One document by key.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn get(conn: &mut PgConnection, issue_id: Uuid, key: &str) -> Result<Option<Document>> {
    qa(&format!("{SELECT} WHERE d.issue_id = $1 AND d.key = $2"))
        .bind(issue_id)
        .bind(key)
        .fetch_optional(conn)
        .await
        .map_err(StoreError::sql("cannot read the document"))
}

/// A revision to write.
#[derive(Debug, Clone, Copy)]
pub struct Write<'a> {
    pub key: &'a str,
    pub title: Option<&'a str>,
    pub format: &'a str,
    pub body: &'a str,
    pub base_revision_id: Option<Uuid>,
}

/// Writes a new revision. `base_revision_id` must name the latest revision (or be absent for a
/// new document); otherwise someone else wrote first and the caller gets a conflict.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn upsert(
    conn: &mut PgConnection,
    actor: &Actor,
    issue: &Issue,
    w: &Write<'_>,
) -> Result<Document> {
    let Write {
        key,
        title,
        format,
        body,
        base_revision_id,
    } = *w;
    q(
        "INSERT INTO issue_documents (company_id, issue_id, key, format) VALUES ($1, $2, $3, $4)
       ON CONFLICT (issue_id, key) DO NOTHING",
    )
    .bind(issue.company_id)
    .bind(issue.id)
    .bind(key)
    .bind(format)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot create the document"))?;
    // The compare-and-set: only the writer that saw the latest revision advances it.
    let advanced: Option<(Uuid, i32)> = qa(
        "UPDATE issue_documents SET latest_revision_number = latest_revision_number + 1, title = COALESCE($4, title),
                format = $5, updated_at = now()
         WHERE issue_id = $1 AND key = $2 AND latest_revision_id IS NOT DISTINCT FROM $3
         RETURNING id, latest_revision_number",
    )
    .bind(issue.id)
    .bind(key)
    .bind(base_revision_id)
    .bind(title)
    .bind(format)
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot update the document"))?;
    let Some((doc_id, number)) = advanced else {
        let latest: Option<Uuid> =
            qs("SELECT latest_revision_id FROM issue_documents WHERE issue_id = $1 AND key = $2")
                .bind(issue.id)
                .bind(key)
                .fetch_one(&mut *conn)
                .await
                .map_err(StoreError::sql("cannot read the document"))?;
        return Err(StoreError::conflict(
            "Document revision conflict: baseRevisionId is not the latest revision",
            json!({"key": key, "baseRevisionId": base_revision_id, "latestRevisionId": latest}),
        ));
    };
    let rev: Uuid = qs(
        "INSERT INTO document_revisions (document_id, revision_number, title, format, body, created_by_agent_id, created_by_user_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(doc_id)
    .bind(number)
    .bind(title)
    .bind(format)
    .bind(body)
    .bind(actor.agent_id())
    .bind(actor.user_id())
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot write the revision"))?;
    q("UPDATE issue_documents SET latest_revision_id = $2 WHERE id = $1")
        .bind(doc_id)
        .bind(rev)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot update the document"))?;
    activity::record(conn, actor, Entry {
        company_id: issue.company_id,
        action: "issue.document_updated",
        entity_type: "issue",
        entity_id: issue.id.to_string(),
        details: json!({"identifier": issue.identifier, "key": key, "revisionNumber": number, "revisionId": rev}),
    })
    .await?;
    Ok(get(conn, issue.id, key).await?.expect("exists"))
}

/// Revisions of a document, newest first.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn revisions(conn: &mut PgConnection, document_id: Uuid) -> Result<Vec<Revision>> {
    qa("SELECT id, document_id, revision_number, title, format, body, created_by_agent_id, created_by_user_id, created_at
        FROM document_revisions WHERE document_id = $1 ORDER BY revision_number DESC")
    .bind(document_id)
    .fetch_all(conn)
    .await
    .map_err(StoreError::sql("cannot list revisions"))
}

/// The newest `limit` revisions over all of an issue's documents, newest first (one query: the
/// board shows every document's history on the issue page).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn revisions_of_issue(
    conn: &mut PgConnection,
    issue_id: Uuid,
    limit: i64,
) -> Result<Vec<Revision>> {
    qa("SELECT r.id, r.document_id, r.revision_number, r.title, r.format, r.body, r.created_by_agent_id,
               r.created_by_user_id, r.created_at
        FROM document_revisions r JOIN issue_documents d ON d.id = r.document_id
        WHERE d.issue_id = $1 ORDER BY r.created_at DESC, r.revision_number DESC LIMIT $2")
    .bind(issue_id)
    .bind(limit)
    .fetch_all(conn)
    .await
    .map_err(StoreError::sql("cannot list revisions"))
}

/// Deletes a document and its revisions (board only; checked by the caller).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn delete(
    conn: &mut PgConnection,
    actor: &Actor,
    issue: &Issue,
    doc: &Document,
) -> Result<()> {
    q("UPDATE issue_documents SET latest_revision_id = NULL WHERE id = $1")
        .bind(doc.id)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot delete the document"))?;
    q("DELETE FROM document_revisions WHERE document_id = $1")
        .bind(doc.id)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot delete the document"))?;
    q("DELETE FROM issue_documents WHERE id = $1")
        .bind(doc.id)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot delete the document"))?;
    activity::record(
        conn,
        actor,
        Entry {
            company_id: issue.company_id,
            action: "issue.document_deleted",
            entity_type: "issue",
            entity_id: issue.id.to_string(),
            details: json!({"identifier": issue.identifier, "key": doc.key}),
        },
    )
    .await
}
