//! The company's issue list: its filters and the one query shape per filter combination.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Issue, COLUMNS};
use crate::{Result, StoreError};

/// Filters of `GET /companies/:id/issues`.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub statuses: Vec<String>,
    pub assignee_agent_id: Option<Uuid>,
    pub assignee_user_id: Option<String>,
    pub project_id: Option<Uuid>,
    pub parent_id: Option<Uuid>,
    pub label_id: Option<Uuid>,
    pub q: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// Issues sorted by priority, then newest first.
///
/// The SQL names only the filters in use: a single statement with `($n IS NULL OR …)` for every
/// optional filter gets a generic plan that scans the whole table, while these shapes each get
/// an index that returns rows already in list order, so `LIMIT` stops early.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(conn: &mut PgConnection, company_id: Uuid, f: &Filter) -> Result<Vec<Issue>> {
    list_of(conn, company_id, f, COLUMNS).await
}

/// An issue as `GET /companies/:id/issues?view=compact` lists it: what a list row or a kanban
/// card shows (no description, labels by id), about a fifth of the full item.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct CompactIssue {
    pub id: Uuid,
    pub company_id: Uuid,
    pub identifier: String,
    pub issue_number: i32,
    pub title: String,
    pub status: String,
    pub priority: String,
    pub assignee_agent_id: Option<Uuid>,
    pub assignee_user_id: Option<String>,
    pub project_id: Option<Uuid>,
    pub goal_id: Option<Uuid>,
    pub parent_id: Option<Uuid>,
    pub label_ids: Vec<Uuid>,
    pub checkout_run_id: Option<Uuid>,
    pub execution_run_id: Option<Uuid>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COMPACT_COLUMNS: &str = "i.id, i.company_id, i.identifier, i.issue_number, i.title, i.status,
    i.priority, i.assignee_agent_id, i.assignee_user_id, i.project_id, i.goal_id, i.parent_id,
    ARRAY(SELECT il.label_id FROM issue_labels il JOIN labels lb ON lb.id = il.label_id WHERE il.issue_id = i.id
          ORDER BY lower(lb.name)) AS label_ids,
    i.checkout_run_id, i.execution_run_id, i.started_at, i.completed_at, i.cancelled_at, i.created_at, i.updated_at";

/// [`list`] in the compact shape.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list_compact(
    conn: &mut PgConnection,
    company_id: Uuid,
    f: &Filter,
) -> Result<Vec<CompactIssue>> {
    list_of(conn, company_id, f, COMPACT_COLUMNS).await
}

async fn list_of<T>(
    conn: &mut PgConnection,
    company_id: Uuid,
    f: &Filter,
    columns: &str,
) -> Result<Vec<T>>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let mut qb = sqlx::QueryBuilder::<sqlx::Postgres>::new(format!(
        "SELECT {columns} FROM issues i WHERE i.company_id = "
    ));
    qb.push_bind(company_id).push(" AND i.hidden_at IS NULL");
    // One status is an equality, so the (company, status, list order) index returns rows in
    // order and LIMIT stops early; `= ANY(...)` cannot keep index order (PostgreSQL 15), and the
    // planner then walks the company's list order filtering the status, which is slow when that
    // status holds only low-priority issues.
    match f.statuses.as_slice() {
        [] => {}
        [one] => {
            qb.push(" AND i.status = ").push_bind(one.clone());
        }
        many => {
            qb.push(" AND i.status = ANY(")
                .push_bind(many.to_vec())
                .push(")");
        }
    }
    if let Some(a) = f.assignee_agent_id {
        qb.push(" AND i.assignee_agent_id = ").push_bind(a);
    }
    if let Some(u) = &f.assignee_user_id {
        qb.push(" AND i.assignee_user_id = ").push_bind(u.clone());
    }
    if let Some(p) = f.project_id {
        qb.push(" AND i.project_id = ").push_bind(p);
    }
    if let Some(p) = f.parent_id {
        qb.push(" AND i.parent_id = ").push_bind(p);
    }
    if let Some(l) = f.label_id {
        qb.push(" AND EXISTS (SELECT 1 FROM issue_labels il WHERE il.issue_id = i.id AND il.label_id = ")
            .push_bind(l)
            .push(")");
    }
    if let Some(text) = &f.q {
        qb.push(" AND (i.title ILIKE '%' || ")
            .push_bind(escape_like(text))
            .push(" || '%' OR i.identifier = upper(")
            .push_bind(text.clone())
            .push("))");
    }
    qb.push(" ORDER BY i.priority_rank, i.created_at DESC, i.id LIMIT ")
        .push_bind(f.limit)
        .push(" OFFSET ")
        .push_bind(f.offset);
    qb.build_query_as::<T>()
        .persistent(paperclip_postgres::pool::named_statements())
        .fetch_all(conn)
        .await
        .map_err(StoreError::sql("cannot list issues"))
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}
