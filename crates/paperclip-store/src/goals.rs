//! Goals: the "why" tree every piece of work traces to.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::activity::{self, Entry};
use crate::issues::check_ref;
use crate::Actor;
use crate::{Result, StoreError};
use paperclip_postgres::pool::{q, qa};

/// Goal levels.
pub const LEVELS: &[&str] = paperclip_domain::GoalLevel::NAMES;
/// Goal statuses.
pub const STATUSES: &[&str] = paperclip_domain::GoalStatus::NAMES;

/// A goal.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Goal {
    pub id: Uuid,
    pub company_id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub level: String,
    pub parent_id: Option<Uuid>,
    pub owner_agent_id: Option<Uuid>,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, company_id, title, description, level, parent_id, owner_agent_id, status, created_at, updated_at";

/// Goal fields for create and patch (`None` = unchanged on patch).
#[derive(Debug, Clone, Default)]
pub struct GoalFields {
    pub title: Option<String>,
    pub description: Option<Option<String>>,
    pub level: Option<String>,
    pub parent_id: Option<Option<Uuid>>,
    pub owner_agent_id: Option<Option<Uuid>>,
    pub status: Option<String>,
}

async fn check(
    conn: &mut PgConnection,
    company_id: Uuid,
    self_id: Option<Uuid>,
    f: &GoalFields,
) -> Result<()> {
    if let Some(Some(p)) = f.parent_id {
        if Some(p) == self_id {
            return Err(StoreError::invalid(
                "parentId",
                "a goal cannot be its own parent",
            ));
        }
        check_ref(conn, "goals", "parentId", company_id, p).await?;
        if let Some(me) = self_id {
            let cycle: bool = paperclip_postgres::pool::qs(
                "WITH RECURSIVE up(id, parent_id, depth) AS (SELECT id, parent_id, 0 FROM goals WHERE id = $1
                 UNION ALL SELECT g.id, g.parent_id, up.depth + 1 FROM goals g JOIN up ON g.id = up.parent_id WHERE up.depth < 1000)
                 SELECT EXISTS (SELECT 1 FROM up WHERE id = $2)",
            )
            .bind(p)
            .bind(me)
            .fetch_one(&mut *conn)
            .await
            .map_err(StoreError::sql("cannot check the goal tree"))?;
            if cycle {
                return Err(StoreError::invalid(
                    "parentId",
                    "parentId would create a cycle",
                ));
            }
        }
    }
    if let Some(Some(a)) = f.owner_agent_id {
        check_ref(conn, "agents", "ownerAgentId", company_id, a).await?;
    }
    Ok(())
}

/// Creates a goal (`goal.created`).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    company_id: Uuid,
    f: &GoalFields,
) -> Result<Goal> {
    check(conn, company_id, None, f).await?;
    let g: Goal = qa(&format!(
        "INSERT INTO goals (company_id, title, description, level, parent_id, owner_agent_id, status)
         VALUES ($1, $2, $3, COALESCE($4, 'task'), $5, $6, COALESCE($7, 'planned')) RETURNING {COLUMNS}"
    ))
    .bind(company_id)
    .bind(&f.title)
    .bind(f.description.clone().flatten())
    .bind(&f.level)
    .bind(f.parent_id.flatten())
    .bind(f.owner_agent_id.flatten())
    .bind(&f.status)
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot create the goal"))?;
    activity::record(
        conn,
        actor,
        Entry {
            company_id,
            action: "goal.created",
            entity_type: "goal",
            entity_id: g.id.to_string(),
            details: json!({"title": g.title, "level": g.level}),
        },
    )
    .await?;
    Ok(g)
}

/// Goals of a company.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(conn: &mut PgConnection, company_id: Uuid) -> Result<Vec<Goal>> {
    qa(&format!(
        "SELECT {COLUMNS} FROM goals WHERE company_id = $1 ORDER BY created_at, id"
    ))
    .bind(company_id)
    .fetch_all(conn)
    .await
    .map_err(StoreError::sql("cannot list goals"))
}

/// One goal.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn get(conn: &mut PgConnection, id: Uuid) -> Result<Option<Goal>> {
    qa(&format!("SELECT {COLUMNS} FROM goals WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(StoreError::sql("cannot read the goal"))
}

/// Patches a goal (`goal.updated`).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn update(
    conn: &mut PgConnection,
    actor: &Actor,
    g: &Goal,
    f: &GoalFields,
) -> Result<Goal> {
    check(conn, g.company_id, Some(g.id), f).await?;
    let updated: Goal = qa(&format!(
        "UPDATE goals SET title = COALESCE($2, title),
                description = CASE WHEN $3 THEN $4 ELSE description END,
                level = COALESCE($5, level),
                parent_id = CASE WHEN $6 THEN $7 ELSE parent_id END,
                owner_agent_id = CASE WHEN $8 THEN $9 ELSE owner_agent_id END,
                status = COALESCE($10, status)
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(g.id)
    .bind(&f.title)
    .bind(f.description.is_some())
    .bind(f.description.clone().flatten())
    .bind(&f.level)
    .bind(f.parent_id.is_some())
    .bind(f.parent_id.flatten())
    .bind(f.owner_agent_id.is_some())
    .bind(f.owner_agent_id.flatten())
    .bind(&f.status)
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot update the goal"))?;
    activity::record(
        conn,
        actor,
        Entry {
            company_id: g.company_id,
            action: "goal.updated",
            entity_type: "goal",
            entity_id: g.id.to_string(),
            details: json!({"status": updated.status}),
        },
    )
    .await?;
    Ok(updated)
}

/// Deletes a goal that nothing references (`goal.deleted`).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn delete(conn: &mut PgConnection, actor: &Actor, g: &Goal) -> Result<()> {
    let res = q("DELETE FROM goals WHERE id = $1")
        .bind(g.id)
        .execute(&mut *conn)
        .await;
    match res {
        Ok(_) => {}
        Err(sqlx::Error::Database(d)) if d.code().as_deref() == Some("23503") => {
            return Err(StoreError::conflict(
                "Goal is still referenced by goals, projects, issues or costs",
                json!({"goalId": g.id}),
            ))
        }
        Err(e) => return Err(StoreError::sql("cannot delete the goal")(e)),
    }
    activity::record(
        conn,
        actor,
        Entry {
            company_id: g.company_id,
            action: "goal.deleted",
            entity_type: "goal",
            entity_id: g.id.to_string(),
            details: json!({"title": g.title}),
        },
    )
    .await
}
