//! Company labels, and which issues carry them.

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

/// A label as upstream serializes it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Label {
    pub id: Uuid,
    pub company_id: Uuid,
    pub name: String,
    pub color: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLS: &str = "id, company_id, name, color, created_at, updated_at";

/// A company's labels by name.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(conn: &mut PgConnection, company_id: Uuid) -> Result<Vec<Label>> {
    qa(&format!(
        "SELECT {COLS} FROM labels WHERE company_id = $1 ORDER BY lower(name)"
    ))
    .bind(company_id)
    .fetch_all(conn)
    .await
    .map_err(StoreError::sql("cannot list labels"))
}

/// One label.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn get(conn: &mut PgConnection, id: Uuid) -> Result<Option<Label>> {
    qa(&format!("SELECT {COLS} FROM labels WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(StoreError::sql("cannot read the label"))
}

/// Creates a label; a name the company already uses (any case) is a conflict.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    company_id: Uuid,
    name: &str,
    color: &str,
) -> Result<Label> {
    let l: Option<Label> = qa(&format!(
        "INSERT INTO labels (company_id, name, color) VALUES ($1, $2, $3)
         ON CONFLICT (company_id, lower(name)) DO NOTHING RETURNING {COLS}"
    ))
    .bind(company_id)
    .bind(name)
    .bind(color)
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot create the label"))?;
    let l = l.ok_or_else(|| {
        StoreError::conflict(
            format!("A label named {name:?} exists"),
            json!({"name": name}),
        )
    })?;
    activity::record(
        conn,
        actor,
        Entry {
            company_id,
            action: "label.created",
            entity_type: "label",
            entity_id: l.id.to_string(),
            details: json!({"name": l.name, "color": l.color}),
        },
    )
    .await?;
    Ok(l)
}

/// Deletes a label (and removes it from its issues).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn delete(conn: &mut PgConnection, actor: &Actor, l: &Label) -> Result<()> {
    q("DELETE FROM labels WHERE id = $1")
        .bind(l.id)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot delete the label"))?;
    activity::record(
        conn,
        actor,
        Entry {
            company_id: l.company_id,
            action: "label.deleted",
            entity_type: "label",
            entity_id: l.id.to_string(),
            details: json!({"name": l.name}),
        },
    )
    .await
}

/// Refuses `labelIds` naming anything but labels of `company_id`.
pub(crate) async fn check_ids(
    conn: &mut PgConnection,
    company_id: Uuid,
    label_ids: &[Uuid],
) -> Result<()> {
    let known: i64 = qs("SELECT count(*) FROM labels WHERE company_id = $1 AND id = ANY($2)")
        .bind(company_id)
        .bind(label_ids)
        .fetch_one(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot read labels"))?;
    let distinct = label_ids
        .iter()
        .collect::<std::collections::HashSet<_>>()
        .len();
    if known != distinct as i64 {
        return Err(StoreError::invalid(
            "labelIds",
            "labelIds must be labels of the company",
        ));
    }
    Ok(())
}

/// Replaces an issue's labels (each must be a label of the issue's company).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn set_for_issue(
    conn: &mut PgConnection,
    actor: &Actor,
    issue: &Issue,
    label_ids: &[Uuid],
) -> Result<()> {
    check_ids(conn, issue.company_id, label_ids).await?;
    q("DELETE FROM issue_labels WHERE issue_id = $1")
        .bind(issue.id)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot update labels"))?;
    q("INSERT INTO issue_labels (issue_id, label_id, company_id) SELECT $1, l, $2 FROM unnest($3::uuid[]) AS l
       ON CONFLICT DO NOTHING")
    .bind(issue.id)
    .bind(issue.company_id)
    .bind(label_ids)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot update labels"))?;
    activity::record(
        conn,
        actor,
        Entry {
            company_id: issue.company_id,
            action: "issue.labels_updated",
            entity_type: "issue",
            entity_id: issue.id.to_string(),
            details: json!({"identifier": issue.identifier, "labelIds": label_ids}),
        },
    )
    .await
}
