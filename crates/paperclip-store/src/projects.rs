//! Projects: groups of issues with a lead and a goal.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::activity::{self, Entry};
use crate::issues::check_ref;
use crate::Actor;
use crate::{Result, StoreError};
use paperclip_postgres::pool::qa;

/// Project statuses.
pub const STATUSES: &[&str] = paperclip_domain::ProjectStatus::NAMES;

/// A project.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    pub id: Uuid,
    pub company_id: Uuid,
    pub goal_id: Option<Uuid>,
    pub goal_ids: Vec<Uuid>,
    pub name: String,
    pub description: Option<String>,
    pub status: String,
    pub lead_agent_id: Option<Uuid>,
    pub target_date: Option<NaiveDate>,
    pub env: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, company_id, goal_id, CASE WHEN goal_id IS NULL THEN '{}'::uuid[] ELSE ARRAY[goal_id] END AS goal_ids,
    name, description, status, lead_agent_id, target_date, env, created_at, updated_at";

/// Project fields for create and patch (`None` = unchanged on patch).
#[derive(Debug, Clone, Default)]
pub struct ProjectFields {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub goal_id: Option<Option<Uuid>>,
    pub status: Option<String>,
    pub lead_agent_id: Option<Option<Uuid>>,
    pub target_date: Option<Option<NaiveDate>>,
    /// Already validated and normalized by `secrets::check_env`.
    pub env: Option<serde_json::Value>,
}

async fn check(conn: &mut PgConnection, company_id: Uuid, f: &ProjectFields) -> Result<()> {
    if let Some(Some(g)) = f.goal_id {
        check_ref(conn, "goals", "goalId", company_id, g).await?;
    }
    if let Some(Some(a)) = f.lead_agent_id {
        check_ref(conn, "agents", "leadAgentId", company_id, a).await?;
    }
    Ok(())
}

/// Creates a project (`project.created`).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    company_id: Uuid,
    f: &ProjectFields,
) -> Result<Project> {
    check(conn, company_id, f).await?;
    let p: Project = qa(&format!(
        "INSERT INTO projects (company_id, name, description, goal_id, status, lead_agent_id, target_date, env)
         VALUES ($1, $2, $3, $4, COALESCE($5, 'backlog'), $6, $7, COALESCE($8, '{{}}'::jsonb)) RETURNING {COLUMNS}"
    ))
    .bind(company_id)
    .bind(&f.name)
    .bind(f.description.clone().flatten())
    .bind(f.goal_id.flatten())
    .bind(&f.status)
    .bind(f.lead_agent_id.flatten())
    .bind(f.target_date.flatten())
    .bind(&f.env)
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot create the project"))?;
    activity::record(
        conn,
        actor,
        Entry {
            company_id,
            action: "project.created",
            entity_type: "project",
            entity_id: p.id.to_string(),
            details: json!({"name": p.name}),
        },
    )
    .await?;
    Ok(redact(p))
}

/// Redacts sensitive inline env values for reads.
fn redact(mut p: Project) -> Project {
    p.env = paperclip_secrets::env::redact(&p.env);
    p
}

/// Projects of a company.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(conn: &mut PgConnection, company_id: Uuid) -> Result<Vec<Project>> {
    qa(&format!(
        "SELECT {COLUMNS} FROM projects WHERE company_id = $1 ORDER BY created_at, id"
    ))
    .bind(company_id)
    .fetch_all(conn)
    .await
    .map(|v: Vec<Project>| v.into_iter().map(redact).collect())
    .map_err(StoreError::sql("cannot list projects"))
}

/// One project.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn get(conn: &mut PgConnection, id: Uuid) -> Result<Option<Project>> {
    qa(&format!("SELECT {COLUMNS} FROM projects WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
        .map(|p: Option<Project>| p.map(redact))
        .map_err(StoreError::sql("cannot read the project"))
}

/// Patches a project (`project.updated`).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn update(
    conn: &mut PgConnection,
    actor: &Actor,
    p: &Project,
    f: &ProjectFields,
) -> Result<Project> {
    check(conn, p.company_id, f).await?;
    let updated: Project = qa(&format!(
        "UPDATE projects SET name = COALESCE($2, name),
                description = CASE WHEN $3 THEN $4 ELSE description END,
                goal_id = CASE WHEN $5 THEN $6 ELSE goal_id END,
                status = COALESCE($7, status),
                lead_agent_id = CASE WHEN $8 THEN $9 ELSE lead_agent_id END,
                target_date = CASE WHEN $10 THEN $11 ELSE target_date END,
                env = COALESCE($12, env)
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(p.id)
    .bind(&f.name)
    .bind(f.description.is_some())
    .bind(f.description.clone().flatten())
    .bind(f.goal_id.is_some())
    .bind(f.goal_id.flatten())
    .bind(&f.status)
    .bind(f.lead_agent_id.is_some())
    .bind(f.lead_agent_id.flatten())
    .bind(f.target_date.is_some())
    .bind(f.target_date.flatten())
    .bind(&f.env)
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot update the project"))?;
    activity::record(
        conn,
        actor,
        Entry {
            company_id: p.company_id,
            action: "project.updated",
            entity_type: "project",
            entity_id: p.id.to_string(),
            details: json!({"status": updated.status}),
        },
    )
    .await?;
    Ok(redact(updated))
}
