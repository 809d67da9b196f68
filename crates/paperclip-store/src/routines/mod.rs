//! Routines: templates for recurring work, their triggers (`triggers.rs`), and their firings
//! (`fire.rs`: one run per firing, an issue per the concurrency policy; the schedule round).

mod fire;
mod triggers;

pub use fire::*;
pub use triggers::*;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::activity::{self, Entry};
use crate::issues::{check_assignee, check_ref};
use crate::{Actor, Result, StoreError};
use paperclip_postgres::pool::qa;

/// A routine as reads show it, with its triggers.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Routine {
    pub id: Uuid,
    pub company_id: Uuid,
    pub project_id: Option<Uuid>,
    pub goal_id: Option<Uuid>,
    pub parent_issue_id: Option<Uuid>,
    pub title: String,
    pub description: Option<String>,
    pub assignee_agent_id: Option<Uuid>,
    pub priority: String,
    pub label_ids: Vec<Uuid>,
    pub status: String,
    pub concurrency_policy: String,
    pub catch_up_policy: String,
    pub created_by_agent_id: Option<Uuid>,
    pub created_by_user_id: Option<String>,
    pub last_triggered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Its triggers, oldest first (each schedule with its `nextRunAt`).
    #[sqlx(skip)]
    pub triggers: Vec<Trigger>,
}

const COLS: &str =
    "r.id, r.company_id, r.project_id, r.goal_id, r.parent_issue_id, r.title, r.description,
    r.assignee_agent_id, r.priority, r.label_ids, r.status, r.concurrency_policy, r.catch_up_policy,
    r.created_by_agent_id, r.created_by_user_id, r.last_triggered_at, r.created_at, r.updated_at";

/// Fields of a routine (create) or the fields to change (patch: `None` keeps, `Some(None)`
/// clears a nullable one).
#[derive(Debug, Clone, Default)]
pub struct RoutineFields {
    pub title: Option<String>,
    pub description: Option<Option<String>>,
    pub project_id: Option<Option<Uuid>>,
    pub goal_id: Option<Option<Uuid>>,
    pub parent_issue_id: Option<Option<Uuid>>,
    pub assignee_agent_id: Option<Option<Uuid>>,
    pub priority: Option<String>,
    pub label_ids: Option<Vec<Uuid>>,
    pub status: Option<String>,
    pub concurrency_policy: Option<String>,
    pub catch_up_policy: Option<String>,
}

/// A company's routines, oldest first, with their triggers (two queries).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(conn: &mut PgConnection, company_id: Uuid) -> Result<Vec<Routine>> {
    let mut routines: Vec<Routine> = qa(&format!(
        "SELECT {COLS} FROM routines r WHERE r.company_id = $1 ORDER BY r.created_at, r.id"
    ))
    .bind(company_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot list routines"))?;
    let mut all = triggers_of_company(conn, company_id).await?;
    for r in &mut routines {
        r.triggers = all.remove(&r.id).unwrap_or_default();
    }
    Ok(routines)
}

/// One routine with its triggers.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn get(conn: &mut PgConnection, id: Uuid) -> Result<Option<Routine>> {
    let routine: Option<Routine> = qa(&format!("SELECT {COLS} FROM routines r WHERE r.id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot read the routine"))?;
    let Some(mut routine) = routine else {
        return Ok(None);
    };
    routine.triggers = triggers_of(conn, routine.id).await?;
    Ok(Some(routine))
}

/// Checks that every object the fields name belongs to `company_id`.
async fn check_refs(conn: &mut PgConnection, company_id: Uuid, f: &RoutineFields) -> Result<()> {
    if let Some(Some(a)) = f.assignee_agent_id {
        check_assignee(conn, company_id, a).await?;
    }
    if let Some(Some(p)) = f.project_id {
        check_ref(conn, "projects", "projectId", company_id, p).await?;
    }
    if let Some(Some(g)) = f.goal_id {
        check_ref(conn, "goals", "goalId", company_id, g).await?;
    }
    if let Some(Some(i)) = f.parent_issue_id {
        check_ref(conn, "issues", "parentIssueId", company_id, i).await?;
    }
    if let Some(ids) = &f.label_ids {
        crate::labels::check_ids(conn, company_id, ids).await?;
    }
    Ok(())
}

/// Creates a routine (`routine.created`); `fields.title` is required.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    company_id: Uuid,
    f: &RoutineFields,
) -> Result<Routine> {
    check_refs(conn, company_id, f).await?;
    let title = f
        .title
        .clone()
        .ok_or_else(|| StoreError::invalid("title", "title is required"))?;
    let r: Routine = qa(&format!(
        "INSERT INTO routines AS r (company_id, title, description, project_id, goal_id, parent_issue_id,
                                    assignee_agent_id, priority, label_ids, status, concurrency_policy,
                                    catch_up_policy, created_by_agent_id, created_by_user_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, COALESCE($8, 'medium'), COALESCE($9, '{{}}'), COALESCE($10, 'active'),
                 COALESCE($11, 'coalesce_if_active'), COALESCE($12, 'skip_missed'), $13, $14)
         RETURNING {COLS}"
    ))
    .bind(company_id)
    .bind(&title)
    .bind(f.description.clone().flatten())
    .bind(f.project_id.flatten())
    .bind(f.goal_id.flatten())
    .bind(f.parent_issue_id.flatten())
    .bind(f.assignee_agent_id.flatten())
    .bind(&f.priority)
    .bind(&f.label_ids)
    .bind(&f.status)
    .bind(&f.concurrency_policy)
    .bind(&f.catch_up_policy)
    .bind(actor.agent_id())
    .bind(actor.user_id())
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot create the routine"))?;
    activity::record(
        conn,
        actor,
        Entry {
            company_id,
            action: "routine.created",
            entity_type: "routine",
            entity_id: r.id.to_string(),
            details: json!({"title": r.title, "assigneeAgentId": r.assignee_agent_id}),
        },
    )
    .await?;
    Ok(r)
}

/// Changes a routine (`routine.updated`, or `routine.paused` / `routine.resumed`). Resuming
/// moves its schedules' next times to after now: what fell due while paused is not made up.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn update(
    conn: &mut PgConnection,
    actor: &Actor,
    routine: &Routine,
    f: &RoutineFields,
) -> Result<Routine> {
    check_refs(conn, routine.company_id, f).await?;
    let r: Routine = qa(&format!(
        "UPDATE routines AS r SET
            title = COALESCE($2, title),
            description = CASE WHEN $3 THEN $4 ELSE description END,
            project_id = CASE WHEN $5 THEN $6 ELSE project_id END,
            goal_id = CASE WHEN $7 THEN $8 ELSE goal_id END,
            parent_issue_id = CASE WHEN $9 THEN $10 ELSE parent_issue_id END,
            assignee_agent_id = CASE WHEN $11 THEN $12 ELSE assignee_agent_id END,
            priority = COALESCE($13, priority),
            label_ids = COALESCE($14, label_ids),
            status = COALESCE($15, status),
            concurrency_policy = COALESCE($16, concurrency_policy),
            catch_up_policy = COALESCE($17, catch_up_policy)
         WHERE r.id = $1 RETURNING {COLS}"
    ))
    .bind(routine.id)
    .bind(&f.title)
    .bind(f.description.is_some())
    .bind(f.description.clone().flatten())
    .bind(f.project_id.is_some())
    .bind(f.project_id.flatten())
    .bind(f.goal_id.is_some())
    .bind(f.goal_id.flatten())
    .bind(f.parent_issue_id.is_some())
    .bind(f.parent_issue_id.flatten())
    .bind(f.assignee_agent_id.is_some())
    .bind(f.assignee_agent_id.flatten())
    .bind(&f.priority)
    .bind(&f.label_ids)
    .bind(&f.status)
    .bind(&f.concurrency_policy)
    .bind(&f.catch_up_policy)
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot update the routine"))?;
    let action = match (routine.status.as_str(), r.status.as_str()) {
        (was, "paused") if was != "paused" => "routine.paused",
        ("paused" | "archived", "active") => {
            reschedule(conn, r.id, Utc::now()).await?;
            "routine.resumed"
        }
        _ => "routine.updated",
    };
    activity::record(
        conn,
        actor,
        Entry {
            company_id: r.company_id,
            action,
            entity_type: "routine",
            entity_id: r.id.to_string(),
            details: json!({"title": r.title, "status": r.status}),
        },
    )
    .await?;
    get(conn, r.id)
        .await?
        .ok_or_else(|| StoreError::not_found("Routine not found"))
}
