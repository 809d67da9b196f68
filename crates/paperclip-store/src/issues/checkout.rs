//! Atomic checkout, release and the board's force-release.

use super::*;

/// The body of a checkout conflict (409).
fn conflict(issue: &Issue) -> StoreError {
    StoreError::conflict(
        "Issue checkout conflict",
        json!({
            "issueId": issue.id, "status": issue.status, "assigneeAgentId": issue.assignee_agent_id,
            "checkoutRunId": issue.checkout_run_id, "executionRunId": issue.execution_run_id,
        }),
    )
}

/// Atomic checkout: one conditional UPDATE, so among any number of concurrent callers exactly one
/// wins; the others get a conflict naming the current owner. Idempotent for the owner. A paused
/// (e.g. over budget) or terminated agent cannot check out.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn checkout(
    conn: &mut PgConnection,
    actor: &Actor,
    issue: &Issue,
    agent_id: Uuid,
    expected: &[String],
) -> Result<Issue> {
    let agent: Option<(Uuid, String)> = qa("SELECT company_id, status FROM agents WHERE id = $1")
        .bind(agent_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot read the agent"))?;
    match agent {
        Some((c, _)) if c != issue.company_id => {
            return Err(StoreError::invalid(
                "agentId",
                "agentId must be an agent of the issue's company",
            ))
        }
        None => {
            return Err(StoreError::invalid(
                "agentId",
                "agentId must be an agent of the issue's company",
            ))
        }
        Some((_, s)) if !s.parse().is_ok_and(agent_accepts_work) => {
            return Err(StoreError::conflict(
                format!("Agent is {s} and cannot check out issues"),
                json!({"agentId": agent_id, "status": s}),
            ))
        }
        Some(_) => {}
    }
    // A blocked issue waits for its blockers (409 naming them).
    let open_blockers: Vec<(Uuid, String, String)> = qa(
        "SELECT b.id, b.identifier, b.status FROM issue_relations r JOIN issues b ON b.id = r.blocked_by_issue_id
         WHERE r.issue_id = $1 AND b.status NOT IN ('done', 'cancelled') ORDER BY b.issue_number",
    )
    .bind(issue.id)
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot read the blockers"))?;
    if !open_blockers.is_empty() {
        return Err(StoreError::conflict(
            "Issue is blocked by unresolved issues",
            json!({"issueId": issue.id, "blockedBy": open_blockers.iter()
                .map(|(id, ident, st)| json!({"id": id, "identifier": ident, "status": st})).collect::<Vec<_>>()}),
        ));
    }
    // The winner reads its issue back from the UPDATE itself; a loser reads who holds it.
    let won: Option<Issue> = qa(&format!(
        "UPDATE issues AS i SET assignee_agent_id = $2, assignee_user_id = NULL, status = 'in_progress',
                started_at = COALESCE(started_at, now()), checkout_run_id = $3, execution_run_id = $3,
                execution_locked_at = now(),
                status_version = status_version + CASE WHEN status <> 'in_progress' THEN 1 ELSE 0 END
         WHERE i.id = $1
           AND (i.status = ANY($4) OR (i.status = 'in_progress' AND i.assignee_agent_id = $2))
           AND (i.assignee_agent_id IS NULL OR i.assignee_agent_id = $2)
           -- One run owns a checkout: another live run of the agent is refused; a run that has
           -- ended (or a checkout made outside any run) hands over.
           AND (i.checkout_run_id IS NULL OR i.checkout_run_id IS NOT DISTINCT FROM $3
                OR NOT EXISTS (SELECT 1 FROM heartbeat_runs r
                               WHERE r.id = i.checkout_run_id AND r.status IN ('queued', 'running')))
         RETURNING {COLUMNS}"
    ))
    .bind(issue.id)
    .bind(agent_id)
    .bind(actor.run_id)
    .bind(expected)
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot check out the issue"))?;
    let Some(current) = won else {
        return Err(conflict(&get(conn, issue.id).await?.expect("exists")));
    };
    activity::record(conn, actor, Entry {
        company_id: issue.company_id,
        action: "issue.checked_out",
        entity_type: "issue",
        entity_id: issue.id.to_string(),
        details: json!({"identifier": issue.identifier, "agentId": agent_id, "previousStatus": issue.status}),
    })
    .await?;
    // The board checking an issue out for an agent means "work on this now" (upstream wakes the
    // agent with `issue_checked_out`); an agent checking out for itself is already awake.
    if actor.agent_id().is_none() {
        crate::runs::wake_assignee(conn, actor, agent_id, issue.id, "issue_checked_out").await?;
    }
    Ok(current)
}

/// Gives a checked-out issue back (`in_progress` → `todo`, locks cleared). Only the assignee (or
/// the board) may release.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn release(conn: &mut PgConnection, actor: &Actor, issue: &Issue) -> Result<Issue> {
    if let Some(agent) = actor.agent_id() {
        if issue.assignee_agent_id != Some(agent) {
            return Err(conflict(issue));
        }
    }
    q("UPDATE issues SET checkout_run_id = NULL, execution_locked_at = NULL, assignee_agent_id = NULL,
            status = CASE WHEN status = 'in_progress' THEN 'todo' ELSE status END,
            status_version = status_version + CASE WHEN status = 'in_progress' THEN 1 ELSE 0 END
       WHERE id = $1")
    .bind(issue.id)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot release the issue"))?;
    activity::record(conn, actor, Entry {
        company_id: issue.company_id,
        action: "issue.released",
        entity_type: "issue",
        entity_id: issue.id.to_string(),
        details: json!({"identifier": issue.identifier, "previousAssigneeAgentId": issue.assignee_agent_id}),
    })
    .await?;
    Ok(get(conn, issue.id).await?.expect("exists"))
}

/// Board override: clears the run locks (and optionally the assignee).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn force_release(
    conn: &mut PgConnection,
    actor: &Actor,
    issue: &Issue,
    clear_assignee: bool,
) -> Result<Issue> {
    q("UPDATE issues SET checkout_run_id = NULL, execution_run_id = NULL, execution_locked_at = NULL,
            assignee_agent_id = CASE WHEN $2 THEN NULL ELSE assignee_agent_id END,
            status = CASE WHEN $2 AND status = 'in_progress' THEN 'todo' ELSE status END
       WHERE id = $1")
    .bind(issue.id)
    .bind(clear_assignee)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot release the issue"))?;
    activity::record(
        conn,
        actor,
        Entry {
            company_id: issue.company_id,
            action: "issue.admin_force_release",
            entity_type: "issue",
            entity_id: issue.id.to_string(),
            details: json!({"identifier": issue.identifier, "clearAssignee": clear_assignee,
                        "previousCheckoutRunId": issue.checkout_run_id}),
        },
    )
    .await?;
    Ok(get(conn, issue.id).await?.expect("exists"))
}
