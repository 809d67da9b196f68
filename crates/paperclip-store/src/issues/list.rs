//! The company's issue list: its filters and the one query shape per filter combination.

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
    let mut qb = sqlx::QueryBuilder::<sqlx::Postgres>::new(format!(
        "SELECT {COLUMNS} FROM issues i WHERE i.company_id = "
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
    qb.build_query_as::<Issue>()
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
