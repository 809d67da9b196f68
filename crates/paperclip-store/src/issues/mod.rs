//! Issues (tasks): identifiers, the status machine, and atomic checkout.

mod checkout;
mod list;

pub use checkout::*;
pub use list::{list, list_compact, CompactIssue, Filter};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Map, Value};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::activity::{self, Entry};
use crate::Actor;
use crate::{Result, StoreError};
use paperclip_domain::rules::{agent_accepts_work, agent_may_transition};
use paperclip_domain::{AgentStatus, IssuePriority, IssueStatus};
use paperclip_postgres::pool::{q, qa, qs};

/// Statuses, in board order.
pub const STATUSES: &[&str] = IssueStatus::NAMES;
/// Priorities, most urgent first.
pub const PRIORITIES: &[&str] = IssuePriority::NAMES;

/// Parses a stored or validated status.
fn issue_status(s: &str) -> Result<IssueStatus> {
    StoreError::parse_stored("status", s)
}

/// An issue as upstream serializes it (fields Paperclip does not model yet keep upstream's
/// neutral values so clients written for upstream parse it unchanged).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Issue {
    pub id: Uuid,
    pub company_id: Uuid,
    #[sqlx(skip)]
    pub conversation_agent_id: Option<Uuid>,
    #[sqlx(skip)]
    pub conversation_user_id: Option<String>,
    #[sqlx(skip)]
    pub conversation_state: Option<String>,
    pub conversation_session_generation: i32,
    #[sqlx(skip)]
    pub conversation_boundary_comment_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    #[sqlx(skip)]
    pub project_workspace_id: Option<Uuid>,
    pub goal_id: Option<Uuid>,
    pub parent_id: Option<Uuid>,
    pub title: String,
    pub description: Option<String>,
    pub status: String,
    pub status_version: i32,
    #[sqlx(skip)]
    pub last_status_decision_id: Option<Uuid>,
    pub work_mode: String,
    #[sqlx(skip)]
    pub harness_kind: Option<String>,
    pub priority: String,
    #[sqlx(skip)]
    pub review_policy: Option<Value>,
    pub assignee_agent_id: Option<Uuid>,
    pub assignee_user_id: Option<String>,
    pub checkout_run_id: Option<Uuid>,
    pub execution_run_id: Option<Uuid>,
    #[sqlx(skip)]
    pub execution_agent_name_key: Option<String>,
    pub execution_locked_at: Option<DateTime<Utc>>,
    pub created_by_agent_id: Option<Uuid>,
    pub created_by_user_id: Option<String>,
    pub responsible_user_id: String,
    pub issue_number: i32,
    pub identifier: String,
    pub origin_kind: String,
    pub origin_id: Option<String>,
    pub origin_run_id: Option<Uuid>,
    #[sqlx(skip)]
    pub origin_identity_context_id: Option<Uuid>,
    #[sqlx(skip)]
    pub continuation_identity_context_id: Option<Uuid>,
    pub origin_fingerprint: String,
    pub request_depth: i32,
    pub billing_code: Option<String>,
    #[sqlx(skip)]
    pub assignee_adapter_overrides: Option<Value>,
    #[sqlx(skip)]
    pub execution_policy: Option<Value>,
    #[sqlx(skip)]
    pub execution_state: Option<Value>,
    #[sqlx(skip)]
    pub monitor_next_check_at: Option<DateTime<Utc>>,
    #[sqlx(skip)]
    pub monitor_wake_requested_at: Option<DateTime<Utc>>,
    #[sqlx(skip)]
    pub monitor_last_triggered_at: Option<DateTime<Utc>>,
    pub monitor_attempt_count: i32,
    #[sqlx(skip)]
    pub monitor_notes: Option<String>,
    #[sqlx(skip)]
    pub monitor_scheduled_by: Option<String>,
    #[sqlx(skip)]
    pub execution_workspace_id: Option<Uuid>,
    #[sqlx(skip)]
    pub execution_workspace_preference: Option<String>,
    #[sqlx(skip)]
    pub execution_workspace_settings: Option<Value>,
    #[sqlx(skip)]
    pub source_trust: Option<String>,
    #[sqlx(skip)]
    pub unblock_descriptor: Option<Value>,
    #[sqlx(skip)]
    pub blocked_transition_at: Option<DateTime<Utc>>,
    #[sqlx(skip)]
    pub blocked_owner_notified_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub hidden_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// `[{id, name, color}]`, by name.
    pub labels: Value,
    pub label_ids: Vec<Uuid>,
    #[sqlx(skip)]
    pub watchdog: Option<Value>,
}

const COLUMNS: &str = "i.id, i.company_id, 0 AS conversation_session_generation, i.project_id, i.goal_id, i.parent_id,
    i.title, i.description, i.status, i.status_version, 'standard'::text AS work_mode, i.priority,
    i.assignee_agent_id, i.assignee_user_id, i.checkout_run_id, i.execution_run_id, i.execution_locked_at,
    i.created_by_agent_id, i.created_by_user_id, 'local-board'::text AS responsible_user_id, i.issue_number,
    i.identifier, i.origin_kind, i.origin_id, i.origin_run_id, 'default'::text AS origin_fingerprint,
    i.request_depth, i.billing_code, 0 AS monitor_attempt_count, i.started_at, i.completed_at, i.cancelled_at,
    i.hidden_at, i.created_at, i.updated_at,
    COALESCE((SELECT jsonb_agg(jsonb_build_object('id', lb.id, 'name', lb.name, 'color', lb.color) ORDER BY lower(lb.name))
              FROM issue_labels il JOIN labels lb ON lb.id = il.label_id WHERE il.issue_id = i.id), '[]'::jsonb) AS labels,
    ARRAY(SELECT il.label_id FROM issue_labels il JOIN labels lb ON lb.id = il.label_id WHERE il.issue_id = i.id
          ORDER BY lower(lb.name)) AS label_ids";

/// One issue by id.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn get(conn: &mut PgConnection, id: Uuid) -> Result<Option<Issue>> {
    qa(&format!("SELECT {COLUMNS} FROM issues i WHERE i.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(StoreError::sql("cannot read the issue"))
}

/// Several issues by id, in one query.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn get_many(conn: &mut PgConnection, ids: &[Uuid]) -> Result<Vec<Issue>> {
    qa(&format!(
        "SELECT {COLUMNS} FROM issues i WHERE i.id = ANY($1) ORDER BY i.issue_number"
    ))
    .bind(ids)
    .fetch_all(conn)
    .await
    .map_err(StoreError::sql("cannot read issues"))
}

/// One issue by UUID or identifier (`PAP-12`, case-insensitive).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn find(conn: &mut PgConnection, id_or_identifier: &str) -> Result<Option<Issue>> {
    if let Ok(id) = Uuid::parse_str(id_or_identifier) {
        return get(conn, id).await;
    }
    qa(&format!(
        "SELECT {COLUMNS} FROM issues i WHERE i.identifier = upper($1)"
    ))
    .bind(id_or_identifier)
    .fetch_optional(conn)
    .await
    .map_err(StoreError::sql("cannot read the issue"))
}

/// Fields of a new issue.
#[derive(Debug, Clone, Default)]
pub struct NewIssue {
    pub title: String,
    pub description: Option<String>,
    pub status: String,
    pub priority: String,
    pub assignee_agent_id: Option<Uuid>,
    pub assignee_user_id: Option<String>,
    pub parent_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    pub goal_id: Option<Uuid>,
    pub billing_code: Option<String>,
    pub origin_kind: String,
    pub origin_id: Option<String>,
}

/// Checks that a referenced row exists in `company_id`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn check_ref(
    conn: &mut PgConnection,
    table: &str,
    field: &'static str,
    company_id: Uuid,
    id: Uuid,
) -> Result<()> {
    debug_assert!(["agents", "issues", "projects", "goals"].contains(&table));
    let owner: Option<Uuid> = qs(&format!("SELECT company_id FROM {table} WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(StoreError::sql("cannot check a reference"))?;
    if owner != Some(company_id) {
        return Err(StoreError::invalid(
            field,
            format!(
                "{field} must reference an existing {} of the same company",
                &table[..table.len() - 1]
            ),
        ));
    }
    Ok(())
}

pub(crate) async fn check_assignee(
    conn: &mut PgConnection,
    company_id: Uuid,
    agent_id: Uuid,
) -> Result<()> {
    check_ref(conn, "agents", "assigneeAgentId", company_id, agent_id).await?;
    let status: String = qs("SELECT status FROM agents WHERE id = $1")
        .bind(agent_id)
        .fetch_one(conn)
        .await
        .map_err(StoreError::sql("cannot read the assignee"))?;
    if status == AgentStatus::Terminated.as_str() {
        return Err(StoreError::invalid(
            "assigneeAgentId",
            "the assignee agent is terminated",
        ));
    }
    Ok(())
}

/// Creates an issue with the next identifier of its company (`issue.created`). The counter row
/// lock makes identifiers unique and gap-free under any concurrency.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    company_id: Uuid,
    n: &NewIssue,
) -> Result<Issue> {
    if n.assignee_agent_id.is_some() && n.assignee_user_id.is_some() {
        return Err(StoreError::invalid(
            "assigneeAgentId",
            "an issue has one assignee: set assigneeAgentId or assigneeUserId, not both",
        ));
    }
    if n.status == "in_progress" && n.assignee_agent_id.is_none() && n.assignee_user_id.is_none() {
        return Err(StoreError::invalid(
            "status",
            "in_progress requires an assignee",
        ));
    }
    if let Some(a) = n.assignee_agent_id {
        check_assignee(conn, company_id, a).await?;
    }
    if let Some(p) = n.parent_id {
        check_ref(conn, "issues", "parentId", company_id, p).await?;
    }
    if let Some(p) = n.project_id {
        check_ref(conn, "projects", "projectId", company_id, p).await?;
    }
    if let Some(g) = n.goal_id {
        check_ref(conn, "goals", "goalId", company_id, g).await?;
    }
    // The number comes from the company's counter in the same statement as the insert, so the
    // counter row stays locked (until commit) for as few round trips as possible: numbers are
    // gapless, so no other create of the company can take one meanwhile.
    let issue: Issue = qa(&format!(
        "WITH n AS (UPDATE companies SET issue_counter = issue_counter + 1 WHERE id = $1
                    RETURNING issue_counter, issue_prefix || '-' || issue_counter AS identifier)
         INSERT INTO issues AS i (company_id, project_id, goal_id, parent_id, title, description, status, priority,
                             assignee_agent_id, assignee_user_id, created_by_agent_id, created_by_user_id,
                             issue_number, identifier, origin_kind, origin_id, origin_run_id, billing_code,
                             started_at, completed_at, cancelled_at)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, n.issue_counter, n.identifier, $13, $14, $15, $16,
                CASE WHEN $7 = 'in_progress' THEN now() END,
                CASE WHEN $7 = 'done' THEN now() END,
                CASE WHEN $7 = 'cancelled' THEN now() END
         FROM n
         RETURNING {COLUMNS}"
    ))
    .bind(company_id)
    .bind(n.project_id)
    .bind(n.goal_id)
    .bind(n.parent_id)
    .bind(&n.title)
    .bind(&n.description)
    .bind(&n.status)
    .bind(&n.priority)
    .bind(n.assignee_agent_id)
    .bind(&n.assignee_user_id)
    .bind(actor.agent_id())
    .bind(actor.user_id())
    .bind(&n.origin_kind)
    .bind(&n.origin_id)
    .bind(actor.run_id)
    .bind(&n.billing_code)
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot create the issue"))?;
    activity::record(
        conn,
        actor,
        Entry {
            company_id,
            action: "issue.created",
            entity_type: "issue",
            entity_id: issue.id.to_string(),
            details: json!({"identifier": issue.identifier, "title": n.title, "status": n.status}),
        },
    )
    .await?;
    if let Some(agent) = n.assignee_agent_id {
        crate::runs::wake_assignee(conn, actor, agent, issue.id, "issue_assigned").await?;
    }
    Ok(issue)
}

/// Patchable fields; `Some(None)` clears a nullable field.
#[derive(Debug, Clone, Default)]
pub struct IssuePatch {
    pub title: Option<String>,
    pub description: Option<Option<String>>,
    pub status: Option<String>,
    pub priority: Option<String>,
    pub assignee_agent_id: Option<Option<Uuid>>,
    pub assignee_user_id: Option<Option<String>>,
    pub parent_id: Option<Option<Uuid>>,
    pub project_id: Option<Option<Uuid>>,
    pub goal_id: Option<Option<Uuid>>,
    pub billing_code: Option<Option<String>>,
}

/// Applies a patch with the issue's invariants (single assignee, `in_progress` needs one, no
/// parent cycles; agents follow the status machine) and records `issue.updated`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn update(
    conn: &mut PgConnection,
    actor: &Actor,
    issue: &Issue,
    p: &IssuePatch,
) -> Result<Issue> {
    let cid = issue.company_id;
    let mut agent = p.assignee_agent_id.unwrap_or(issue.assignee_agent_id);
    let mut user = p
        .assignee_user_id
        .clone()
        .unwrap_or(issue.assignee_user_id.clone());
    // Setting one kind of assignee replaces the other.
    if matches!(p.assignee_agent_id, Some(Some(_))) && p.assignee_user_id.is_none() {
        user = None;
    }
    if matches!(p.assignee_user_id, Some(Some(_))) && p.assignee_agent_id.is_none() {
        agent = None;
    }
    if agent.is_some() && user.is_some() {
        return Err(StoreError::invalid(
            "assigneeAgentId",
            "an issue has one assignee: set assigneeAgentId or assigneeUserId, not both",
        ));
    }
    if let Some(Some(a)) = p.assignee_agent_id {
        check_assignee(conn, cid, a).await?;
    }
    let status = p.status.clone().unwrap_or(issue.status.clone());
    if status == "in_progress" && agent.is_none() && user.is_none() {
        return Err(StoreError::invalid(
            "status",
            "in_progress requires an assignee",
        ));
    }
    if !actor.is_board()
        && !agent_may_transition(issue_status(&issue.status)?, issue_status(&status)?)
    {
        return Err(StoreError::invalid(
            "status",
            format!(
                "an agent cannot move an issue from {} to {status}",
                issue.status
            ),
        ));
    }
    if let Some(Some(parent)) = p.parent_id {
        check_ref(conn, "issues", "parentId", cid, parent).await?;
        let cycle: bool = qs(
            "WITH RECURSIVE up(id, parent_id, depth) AS (
                 SELECT id, parent_id, 0 FROM issues WHERE id = $1
                 UNION ALL SELECT i.id, i.parent_id, up.depth + 1 FROM issues i JOIN up ON i.id = up.parent_id WHERE up.depth < 1000
             ) SELECT EXISTS (SELECT 1 FROM up WHERE id = $2)",
        )
        .bind(parent)
        .bind(issue.id)
        .fetch_one(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot check the issue tree"))?;
        if cycle {
            return Err(StoreError::invalid(
                "parentId",
                "parentId would create a cycle",
            ));
        }
    }
    if let Some(Some(pid)) = p.project_id {
        check_ref(conn, "projects", "projectId", cid, pid).await?;
    }
    if let Some(Some(g)) = p.goal_id {
        check_ref(conn, "goals", "goalId", cid, g).await?;
    }
    let status_changed = status != issue.status;
    q("UPDATE issues SET
         title = COALESCE($2, title),
         description = CASE WHEN $3 THEN $4 ELSE description END,
         status = $5, priority = COALESCE($6, priority),
         assignee_agent_id = $7, assignee_user_id = $8,
         parent_id = CASE WHEN $9 THEN $10 ELSE parent_id END,
         project_id = CASE WHEN $11 THEN $12 ELSE project_id END,
         goal_id = CASE WHEN $13 THEN $14 ELSE goal_id END,
         billing_code = CASE WHEN $15 THEN $16 ELSE billing_code END,
         status_version = status_version + CASE WHEN $17 THEN 1 ELSE 0 END,
         started_at = CASE WHEN $17 AND $5 = 'in_progress' THEN COALESCE(started_at, now()) ELSE started_at END,
         completed_at = CASE WHEN $17 THEN (CASE WHEN $5 = 'done' THEN now() END) ELSE completed_at END,
         cancelled_at = CASE WHEN $17 THEN (CASE WHEN $5 = 'cancelled' THEN now() END) ELSE cancelled_at END,
         checkout_run_id = CASE WHEN $7 IS DISTINCT FROM assignee_agent_id OR ($17 AND $5 <> 'in_progress') THEN NULL ELSE checkout_run_id END,
         execution_locked_at = CASE WHEN $7 IS DISTINCT FROM assignee_agent_id OR ($17 AND $5 <> 'in_progress') THEN NULL ELSE execution_locked_at END
       WHERE id = $1")
    .bind(issue.id)
    .bind(&p.title)
    .bind(p.description.is_some())
    .bind(p.description.clone().flatten())
    .bind(&status)
    .bind(&p.priority)
    .bind(agent)
    .bind(&user)
    .bind(p.parent_id.is_some())
    .bind(p.parent_id.flatten())
    .bind(p.project_id.is_some())
    .bind(p.project_id.flatten())
    .bind(p.goal_id.is_some())
    .bind(p.goal_id.flatten())
    .bind(p.billing_code.is_some())
    .bind(p.billing_code.clone().flatten())
    .bind(status_changed)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot update the issue"))?;
    let mut changes = Map::new();
    if status_changed {
        changes.insert("status".into(), json!({"from": issue.status, "to": status}));
    }
    if agent != issue.assignee_agent_id {
        changes.insert(
            "assigneeAgentId".into(),
            json!({"from": issue.assignee_agent_id, "to": agent}),
        );
    }
    for (name, set) in [
        ("title", p.title.is_some()),
        ("description", p.description.is_some()),
        ("priority", p.priority.is_some()),
        ("parentId", p.parent_id.is_some()),
        ("projectId", p.project_id.is_some()),
        ("goalId", p.goal_id.is_some()),
    ] {
        if set {
            changes.insert(name.into(), Value::Bool(true));
        }
    }
    activity::record(
        conn,
        actor,
        Entry {
            company_id: cid,
            action: "issue.updated",
            entity_type: "issue",
            entity_id: issue.id.to_string(),
            details: json!({"identifier": issue.identifier, "changes": changes}),
        },
    )
    .await?;
    if let Some(to) = agent.filter(|a| Some(*a) != issue.assignee_agent_id) {
        crate::runs::wake_assignee(conn, actor, to, issue.id, "issue_assigned").await?;
    }
    if status_changed && matches!(status.as_str(), "done" | "cancelled") {
        crate::orchestration::wake_unblocked(conn, actor, issue).await?;
    }
    Ok(get(conn, issue.id).await?.expect("exists"))
}

/// An ancestor of an issue (nearest first).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Ancestor {
    pub id: Uuid,
    pub identifier: String,
    pub title: String,
    pub status: String,
}

/// The issue's parents up to the root, nearest first (at most 100 levels).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn ancestors(conn: &mut PgConnection, issue: &Issue) -> Result<Vec<Ancestor>> {
    qa(
        "WITH RECURSIVE up(id, parent_id, depth) AS (
             SELECT id, parent_id, 0 FROM issues WHERE id = $1
             UNION ALL SELECT i.id, i.parent_id, up.depth + 1 FROM issues i JOIN up ON i.id = up.parent_id WHERE up.depth < 100
         ) SELECT i.id, i.identifier, i.title, i.status FROM up JOIN issues i ON i.id = up.id WHERE up.depth > 0 ORDER BY up.depth",
    )
    .bind(issue.id)
    .fetch_all(conn)
    .await
    .map_err(StoreError::sql("cannot read ancestors"))
}
