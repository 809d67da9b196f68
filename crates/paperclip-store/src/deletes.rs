//! Deletes with defined semantics: what goes with the deleted thing, what is re-pointed, and
//! what is refused. Each runs in the caller's transaction; none leaves a reference that makes
//! another read fail.
//!
//! - An **issue** goes with its comments, documents, attachments, work products, labels, links
//!   and inbox state; its sub-issues move up to its parent; cost events keep their amounts and
//!   lose the issue; queued runs for it are cancelled; a run working on it makes it a 409.
//! - An **agent** is soft-deleted: it becomes a tombstone (`terminated`, `deletedAt` set) that
//!   runs, costs, comments and activity keep pointing at, so every page still renders; it
//!   leaves lists and the org chart, its reports move up to its manager, its open issues are
//!   unassigned, its keys revoked and its queued runs cancelled; a running run makes it a 409.
//! - A **project**'s issues, work products and cost events lose the project.
//! - A **company** goes whole (every row of every table that belongs to it), after a backup
//!   the caller takes; a running run makes it a 409.

use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::activity::{self, Entry};
use crate::issues::Issue;
use crate::{Actor, Result, StoreError};
use paperclip_postgres::pool::{q, qs};

async fn exec(conn: &mut PgConnection, sql: &str, id: Uuid, what: &str) -> Result<u64> {
    q(sql)
        .bind(id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected())
        .map_err(StoreError::sql(format!("cannot delete {what}")))
}

/// Refuses while a run of this scope is running (`running_sql` selects its id by `$1`).
async fn refuse_running(
    conn: &mut PgConnection,
    running_sql: &str,
    id: Uuid,
    what: &str,
) -> Result<()> {
    let running: Option<Uuid> = qs(running_sql)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot read running runs"))?;
    if let Some(run) = running {
        return Err(StoreError::conflict(
            format!("A heartbeat run is working on this {what}; cancel it (or wait for it) first"),
            json!({"runId": run}),
        ));
    }
    Ok(())
}

/// Deletes `issue` and what belongs to it; answers the storage keys of its attachments, to
/// remove after commit.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn issue(conn: &mut PgConnection, actor: &Actor, issue: &Issue) -> Result<Vec<String>> {
    // Lock the row so a checkout cannot race the delete.
    q("SELECT 1 FROM issues WHERE id = $1 FOR UPDATE")
        .bind(issue.id)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot lock the issue"))?;
    refuse_running(
        conn,
        "SELECT id FROM heartbeat_runs WHERE task_key = $1::text AND status = 'running' LIMIT 1",
        issue.id,
        "issue",
    )
    .await?;
    crate::runs::cancel_queued_for_task(
        conn,
        issue.company_id,
        &issue.id.to_string(),
        "issue_deleted",
        "the issue was deleted",
    )
    .await?;
    q("UPDATE issues SET parent_id = $2 WHERE parent_id = $1")
        .bind(issue.id)
        .bind(issue.parent_id)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot move the sub-issues up"))?;
    let keys = crate::attachments::delete_where(conn, "ia.issue_id = $1", issue.id).await?;
    for (sql, what) in [
        ("DELETE FROM issue_work_products WHERE issue_id = $1", "work products"),
        ("DELETE FROM issue_read_states WHERE issue_id = $1", "read states"),
        ("DELETE FROM issue_inbox_archives WHERE issue_id = $1", "inbox archives"),
        ("DELETE FROM issue_labels WHERE issue_id = $1", "labels"),
        ("DELETE FROM issue_relations WHERE issue_id = $1 OR blocked_by_issue_id = $1", "blockers"),
        ("DELETE FROM issue_approvals WHERE issue_id = $1", "approval links"),
        ("DELETE FROM document_revisions WHERE document_id IN (SELECT id FROM issue_documents WHERE issue_id = $1)", "document revisions"),
        ("DELETE FROM issue_documents WHERE issue_id = $1", "documents"),
        ("DELETE FROM issue_comments WHERE issue_id = $1", "comments"),
        ("UPDATE cost_events SET issue_id = NULL WHERE issue_id = $1", "cost links"),
        ("DELETE FROM issues WHERE id = $1", "the issue"),
    ] {
        exec(conn, sql, issue.id, what).await?;
    }
    activity::record(
        conn,
        actor,
        Entry {
            company_id: issue.company_id,
            action: "issue.deleted",
            entity_type: "issue",
            entity_id: issue.id.to_string(),
            details: json!({"identifier": issue.identifier, "title": issue.title, "attachmentsRemoved": keys.len()}),
        },
    )
    .await?;
    Ok(keys)
}

/// Soft-deletes an agent (see the module's rules).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn agent(conn: &mut PgConnection, actor: &Actor, a: &crate::agents::Agent) -> Result<()> {
    crate::runs::lock_agent(conn, a.id).await?;
    refuse_running(
        conn,
        "SELECT id FROM heartbeat_runs WHERE agent_id = $1 AND status = 'running' LIMIT 1",
        a.id,
        "agent",
    )
    .await?;
    crate::runs::cancel_queued_for_agent(conn, a.id, "agent_deleted", "the agent was deleted")
        .await?;
    q("UPDATE agents SET reports_to = $2 WHERE reports_to = $1 AND deleted_at IS NULL")
        .bind(a.id)
        .bind(a.reports_to)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot move the agent's reports up"))?;
    let unassigned = exec(
        conn,
        "UPDATE issues SET assignee_agent_id = NULL, checkout_run_id = NULL,
             status = CASE WHEN status = 'in_progress' THEN 'todo' ELSE status END
         WHERE assignee_agent_id = $1 AND status NOT IN ('done', 'cancelled')",
        a.id,
        "assignments",
    )
    .await?;
    exec(
        conn,
        "UPDATE agent_api_keys SET revoked_at = now() WHERE agent_id = $1 AND revoked_at IS NULL",
        a.id,
        "keys",
    )
    .await?;
    exec(
        conn,
        "UPDATE agents SET status = 'terminated', deleted_at = now(), reports_to = NULL WHERE id = $1",
        a.id,
        "the agent",
    )
    .await?;
    activity::record(
        conn,
        actor,
        Entry {
            company_id: a.company_id,
            action: "agent.deleted",
            entity_type: "agent",
            entity_id: a.id.to_string(),
            details: json!({"name": a.name, "unassignedIssues": unassigned}),
        },
    )
    .await
}

/// Deletes a project; its issues, work products and costs lose it.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn project(
    conn: &mut PgConnection,
    actor: &Actor,
    p: &crate::projects::Project,
) -> Result<()> {
    for (sql, what) in [
        (
            "UPDATE issues SET project_id = NULL WHERE project_id = $1",
            "issue links",
        ),
        (
            "UPDATE issue_work_products SET project_id = NULL WHERE project_id = $1",
            "work product links",
        ),
        (
            "UPDATE cost_events SET project_id = NULL WHERE project_id = $1",
            "cost links",
        ),
        ("DELETE FROM projects WHERE id = $1", "the project"),
    ] {
        exec(conn, sql, p.id, what).await?;
    }
    activity::record(
        conn,
        actor,
        Entry {
            company_id: p.company_id,
            action: "project.deleted",
            entity_type: "project",
            entity_id: p.id.to_string(),
            details: json!({"name": p.name}),
        },
    )
    .await
}

/// Every table holding a company's rows, children before parents (the order the foreign keys
/// need). `$1` is the company. A table added later that is missing here makes the company's
/// row impossible to delete (a foreign key says so), and the test that lists every
/// `company_id` column says which.
const COMPANY_TABLES: &[(&str, &str)] = &[
    ("plugin event deliveries", "DELETE FROM plugin_event_outbox WHERE activity_id IN (SELECT id FROM activity_log WHERE company_id = $1)"),
    ("plugin state", "DELETE FROM plugin_state WHERE (scope_kind = 'company' AND scope_id = $1::text)
        OR (scope_kind = 'issue' AND scope_id IN (SELECT id::text FROM issues WHERE company_id = $1))
        OR (scope_kind = 'agent' AND scope_id IN (SELECT id::text FROM agents WHERE company_id = $1))
        OR (scope_kind = 'project' AND scope_id IN (SELECT id::text FROM projects WHERE company_id = $1))
        OR (scope_kind = 'goal' AND scope_id IN (SELECT id::text FROM goals WHERE company_id = $1))
        OR (scope_kind = 'run' AND scope_id IN (SELECT id::text FROM heartbeat_runs WHERE company_id = $1))"),
    ("plugin settings", "DELETE FROM plugin_config WHERE company_id = $1"),
    ("read states", "DELETE FROM issue_read_states WHERE company_id = $1"),
    ("inbox archives", "DELETE FROM issue_inbox_archives WHERE company_id = $1"),
    ("work products", "DELETE FROM issue_work_products WHERE company_id = $1"),
    ("attachments", "DELETE FROM issue_attachments WHERE company_id = $1"),
    ("assets", "DELETE FROM assets WHERE company_id = $1"),
    ("issue labels", "DELETE FROM issue_labels WHERE company_id = $1"),
    ("labels", "DELETE FROM labels WHERE company_id = $1"),
    ("blockers", "DELETE FROM issue_relations WHERE company_id = $1"),
    ("approval links", "DELETE FROM issue_approvals WHERE issue_id IN (SELECT id FROM issues WHERE company_id = $1)"),
    ("document revisions", "DELETE FROM document_revisions WHERE document_id IN (SELECT id FROM issue_documents WHERE company_id = $1)"),
    ("documents", "DELETE FROM issue_documents WHERE company_id = $1"),
    ("comments", "DELETE FROM issue_comments WHERE company_id = $1"),
    ("cost events", "DELETE FROM cost_events WHERE company_id = $1"),
    ("task sessions", "DELETE FROM agent_task_sessions WHERE company_id = $1"),
    ("runtime state", "DELETE FROM agent_runtime_state WHERE company_id = $1"),
    ("instruction files", "DELETE FROM agent_instruction_files WHERE company_id = $1"),
    ("run events", "DELETE FROM heartbeat_run_events WHERE company_id = $1"),
    ("runs", "DELETE FROM heartbeat_runs WHERE company_id = $1"),
    ("wakeups", "DELETE FROM agent_wakeup_requests WHERE company_id = $1"),
    ("routine runs", "DELETE FROM routine_runs WHERE company_id = $1"),
    ("routine triggers", "DELETE FROM routine_triggers WHERE company_id = $1"),
    ("routines", "DELETE FROM routines WHERE company_id = $1"),
    ("issues", "DELETE FROM issues WHERE company_id = $1"),
    ("approvals", "DELETE FROM approvals WHERE company_id = $1"),
    ("secret versions", "DELETE FROM company_secret_versions WHERE secret_id IN (SELECT id FROM company_secrets WHERE company_id = $1)"),
    ("secrets", "DELETE FROM company_secrets WHERE company_id = $1"),
    ("agent keys", "DELETE FROM agent_api_keys WHERE company_id = $1"),
    ("projects", "DELETE FROM projects WHERE company_id = $1"),
    ("goals", "DELETE FROM goals WHERE company_id = $1"),
    ("agents", "DELETE FROM agents WHERE company_id = $1"),
    ("activity", "DELETE FROM activity_log WHERE company_id = $1"),
    ("live events", "DELETE FROM live_events WHERE company_id = $1"),
    ("the company", "DELETE FROM companies WHERE id = $1"),
];

/// Deletes a company and everything of it; answers the storage keys of its files, to remove
/// after commit.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn company(conn: &mut PgConnection, company_id: Uuid) -> Result<Vec<String>> {
    q("SELECT 1 FROM companies WHERE id = $1 FOR UPDATE")
        .bind(company_id)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot lock the company"))?;
    refuse_running(
        conn,
        "SELECT id FROM heartbeat_runs WHERE company_id = $1 AND status = 'running' LIMIT 1",
        company_id,
        "company",
    )
    .await?;
    let keys: Vec<String> = qs("SELECT object_key FROM assets WHERE company_id = $1")
        .bind(company_id)
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot list the company's files"))?;
    for (what, sql) in COMPANY_TABLES {
        exec(conn, sql, company_id, what).await?;
    }
    Ok(keys)
}
