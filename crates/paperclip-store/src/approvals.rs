//! Approvals: the board's gates (hires, strategy, budget overrides).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::activity::{self, Entry};
use crate::Actor;
use crate::{Result, StoreError};
use paperclip_postgres::pool::{q, qa};

/// Approval types.
pub const TYPES: &[&str] = paperclip_domain::ApprovalType::NAMES;

/// An approval.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Approval {
    pub id: Uuid,
    pub company_id: Uuid,
    #[serde(rename = "type")]
    pub kind: String,
    pub requested_by_agent_id: Option<Uuid>,
    pub requested_by_user_id: Option<String>,
    pub status: String,
    pub payload: Value,
    pub decision_note: Option<String>,
    pub decided_by_user_id: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "id, company_id, type AS kind, requested_by_agent_id, requested_by_user_id, status, payload,
    decision_note, decided_by_user_id, decided_at, created_at, updated_at";

/// Creates a pending approval linked to `issue_ids` (`approval.created`).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    company_id: Uuid,
    kind: &str,
    requested_by_agent_id: Option<Uuid>,
    payload: &Value,
    issue_ids: &[Uuid],
) -> Result<Approval> {
    if let Some(a) = requested_by_agent_id {
        crate::issues::check_ref(conn, "agents", "requestedByAgentId", company_id, a).await?;
    }
    for i in issue_ids {
        crate::issues::check_ref(conn, "issues", "issueIds", company_id, *i).await?;
    }
    let a: Approval = qa(&format!(
        "INSERT INTO approvals (company_id, type, requested_by_agent_id, requested_by_user_id, payload)
         VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    ))
    .bind(company_id)
    .bind(kind)
    .bind(requested_by_agent_id.or(actor.agent_id()))
    .bind(actor.user_id())
    .bind(payload)
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot create the approval"))?;
    q("INSERT INTO issue_approvals (issue_id, approval_id) SELECT unnest($1::uuid[]), $2 ON CONFLICT DO NOTHING")
        .bind(issue_ids)
        .bind(a.id)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot link issues"))?;
    activity::record(
        conn,
        actor,
        Entry {
            company_id,
            action: "approval.created",
            entity_type: "approval",
            entity_id: a.id.to_string(),
            details: json!({"type": kind, "issueIds": issue_ids}),
        },
    )
    .await?;
    Ok(a)
}

/// Approvals of a company, newest first, optionally by status.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(
    conn: &mut PgConnection,
    company_id: Uuid,
    status: Option<&str>,
) -> Result<Vec<Approval>> {
    qa(&format!(
        "SELECT {COLUMNS} FROM approvals WHERE company_id = $1 AND ($2::text IS NULL OR status = $2)
         ORDER BY created_at DESC LIMIT 500"
    ))
    .bind(company_id)
    .bind(status)
    .fetch_all(conn)
    .await
    .map_err(StoreError::sql("cannot list approvals"))
}

/// One approval.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn get(conn: &mut PgConnection, id: Uuid) -> Result<Option<Approval>> {
    qa(&format!("SELECT {COLUMNS} FROM approvals WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(StoreError::sql("cannot read the approval"))
}

/// Ids of the issues linked to an approval.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn issue_ids(conn: &mut PgConnection, id: Uuid) -> Result<Vec<Uuid>> {
    paperclip_postgres::pool::qs(
        "SELECT issue_id FROM issue_approvals WHERE approval_id = $1 ORDER BY created_at",
    )
    .bind(id)
    .fetch_all(conn)
    .await
    .map_err(StoreError::sql("cannot list linked issues"))
}

/// Decisions on an approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
    RequestRevision,
    Resubmit,
}

/// Moves an approval through `pending → approved | rejected | revision_requested` and
/// `revision_requested → pending` (resubmit). Approving `hire_agent` activates the pending agent
/// named by `payload.agentId`, in the same transaction.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn decide(
    conn: &mut PgConnection,
    actor: &Actor,
    a: &Approval,
    decision: Decision,
    note: Option<&str>,
    new_payload: Option<&Value>,
) -> Result<Approval> {
    let (from, to, action) = match decision {
        Decision::Approve => ("pending", "approved", "approval.approved"),
        Decision::Reject => ("pending", "rejected", "approval.rejected"),
        Decision::RequestRevision => (
            "pending",
            "revision_requested",
            "approval.revision_requested",
        ),
        Decision::Resubmit => ("revision_requested", "pending", "approval.resubmitted"),
    };
    let updated: Option<Approval> = qa(&format!(
        "UPDATE approvals SET status = $3, decision_note = COALESCE($4, decision_note),
                decided_by_user_id = CASE WHEN $3 IN ('approved', 'rejected') THEN $5 ELSE decided_by_user_id END,
                decided_at = CASE WHEN $3 IN ('approved', 'rejected') THEN now() ELSE decided_at END,
                payload = COALESCE($6, payload)
         WHERE id = $1 AND status = $2 RETURNING {COLUMNS}"
    ))
    .bind(a.id)
    .bind(from)
    .bind(to)
    .bind(note)
    .bind(actor.user_id())
    .bind(new_payload)
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot decide the approval"))?;
    let Some(updated) = updated else {
        return Err(StoreError::invalid(
            "status",
            format!("approval is {}, expected {from}", a.status),
        ));
    };
    if decision == Decision::Approve && a.kind == "hire_agent" {
        if let Some(agent_id) = a
            .payload
            .get("agentId")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())
        {
            let activated = q("UPDATE agents SET status = 'idle' WHERE id = $1 AND company_id = $2 AND status = 'pending_approval'")
                .bind(agent_id)
                .bind(a.company_id)
                .execute(&mut *conn)
                .await
                .map_err(StoreError::sql("cannot activate the hired agent"))?;
            if activated.rows_affected() == 1 {
                activity::record(
                    conn,
                    actor,
                    Entry {
                        company_id: a.company_id,
                        action: "agent.approved",
                        entity_type: "agent",
                        entity_id: agent_id.to_string(),
                        details: json!({"approvalId": a.id}),
                    },
                )
                .await?;
            }
        }
    }
    activity::record(
        conn,
        actor,
        Entry {
            company_id: a.company_id,
            action,
            entity_type: "approval",
            entity_id: a.id.to_string(),
            details: json!({"type": a.kind, "decisionNote": note}),
        },
    )
    .await?;
    // The requester hears the decision (a resubmission goes back to the board, not to it).
    if let (Some(agent), false) = (a.requested_by_agent_id, decision == Decision::Resubmit) {
        crate::runs::wake_for_approval(conn, actor, agent, a.id, to).await?;
    }
    Ok(updated)
}
