//! Firing a routine: one `routine_runs` row per firing and, by the concurrency policy, a tracked
//! issue from the template (which wakes its assignee); and the schedule round that fires every
//! due schedule once, whichever server runs it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{get, Routine};
use crate::activity::{self, Entry};
use crate::issues::{self, NewIssue};
use crate::{Actor, Result, StoreError};
use paperclip_domain::routines::{dispatch, firings, Dispatch, Schedule};
use paperclip_domain::{CatchUpPolicy, ConcurrencyPolicy, RoutineRunSource, RoutineRunStatus};
use paperclip_postgres::pool::{q, qa, qs};

/// What `origin_kind` a routine's issues carry (`origin_id` is the routine's id).
pub const ORIGIN_KIND: &str = "routine_execution";

/// One firing of a routine.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct RoutineRun {
    pub id: Uuid,
    pub company_id: Uuid,
    pub routine_id: Uuid,
    pub trigger_id: Option<Uuid>,
    pub source: String,
    pub status: String,
    /// The schedule time a scheduled run fired for.
    pub scheduled_for: Option<DateTime<Utc>>,
    pub triggered_at: DateTime<Utc>,
    pub idempotency_key: Option<String>,
    pub trigger_payload: Option<Value>,
    /// The issue it created, or the open one it was coalesced into or skipped for.
    pub linked_issue_id: Option<Uuid>,
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

const COLS: &str =
    "id, company_id, routine_id, trigger_id, source, status, scheduled_for, triggered_at,
    idempotency_key, trigger_payload, linked_issue_id, failure_reason, created_at";

/// What fires a routine.
#[derive(Debug, Clone)]
pub struct Firing {
    pub trigger_id: Option<Uuid>,
    pub source: RoutineRunSource,
    /// A schedule's time: with the trigger, the firing happens once.
    pub scheduled_for: Option<DateTime<Utc>>,
    /// A caller's key: a second run with it answers the first.
    pub idempotency_key: Option<String>,
    pub payload: Option<Value>,
}

/// Fires `routine_id` once, in the caller's transaction. Firings of one routine queue on its row,
/// so the concurrency policy sees every earlier firing's issue. `None` when this firing was
/// already recorded (a schedule time another server fired); the earlier run when the
/// idempotency key was used before.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn fire(
    conn: &mut PgConnection,
    actor: &Actor,
    routine_id: Uuid,
    f: &Firing,
) -> Result<Option<RoutineRun>> {
    q("SELECT 1 FROM routines WHERE id = $1 FOR UPDATE")
        .bind(routine_id)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot lock the routine"))?;
    let routine = get(conn, routine_id)
        .await?
        .ok_or_else(|| StoreError::not_found("Routine not found"))?;
    if let Some(key) = &f.idempotency_key {
        let earlier: Option<RoutineRun> = qa(&format!(
            "SELECT {COLS} FROM routine_runs WHERE routine_id = $1 AND idempotency_key = $2"
        ))
        .bind(routine.id)
        .bind(key)
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot read the routine's runs"))?;
        if earlier.is_some() {
            return Ok(earlier);
        }
    }
    // The run is recorded first: the unique (trigger, schedule time) index is the lock across
    // servers, so a firing another server recorded inserts nothing here and creates no issue.
    let recorded: Option<Uuid> = qs(
        "INSERT INTO routine_runs (company_id, routine_id, trigger_id, source, status, scheduled_for,
                                   idempotency_key, trigger_payload, created_by_agent_id, created_by_user_id)
         VALUES ($1, $2, $3, $4, 'skipped', $5, $6, $7, $8, $9)
         ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(routine.company_id)
    .bind(routine.id)
    .bind(f.trigger_id)
    .bind(f.source.as_str())
    .bind(f.scheduled_for)
    .bind(&f.idempotency_key)
    .bind(&f.payload)
    .bind(actor.agent_id())
    .bind(actor.user_id())
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot record the routine run"))?;
    let Some(run_id) = recorded else {
        return Ok(None);
    };
    let open: Option<Uuid> = qs(
        "SELECT id FROM issues WHERE company_id = $1 AND origin_kind = $2 AND origin_id = $3
           AND status NOT IN ('done', 'cancelled') ORDER BY created_at DESC LIMIT 1",
    )
    .bind(routine.company_id)
    .bind(ORIGIN_KIND)
    .bind(routine.id.to_string())
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot find the routine's open issue"))?;
    let policy: ConcurrencyPolicy =
        StoreError::parse_stored("concurrencyPolicy", &routine.concurrency_policy)?;
    let (status, linked, failure) = match dispatch(policy, open.is_some()) {
        Dispatch::Coalesce => (RoutineRunStatus::Coalesced, open, None),
        Dispatch::Skip => (RoutineRunStatus::Skipped, open, None),
        Dispatch::Create => match create_issue(conn, actor, &routine).await {
            Ok(id) => (RoutineRunStatus::IssueCreated, Some(id), None),
            // The template no longer makes a valid issue (its assignee was terminated, say):
            // the firing is recorded as failed, with the reason, rather than lost.
            Err(StoreError::Domain(e)) => (RoutineRunStatus::Failed, None, Some(e.to_string())),
            Err(e) => return Err(e),
        },
    };
    let run: RoutineRun = qa(&format!(
        "UPDATE routine_runs SET status = $2, linked_issue_id = $3, failure_reason = $4
         WHERE id = $1 RETURNING {COLS}"
    ))
    .bind(run_id)
    .bind(status.as_str())
    .bind(linked)
    .bind(&failure)
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot record the routine run"))?;
    q("UPDATE routines SET last_triggered_at = now() WHERE id = $1")
        .bind(routine.id)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot update the routine"))?;
    activity::record(
        conn,
        actor,
        Entry {
            company_id: routine.company_id,
            action: "routine.run",
            entity_type: "routine",
            entity_id: routine.id.to_string(),
            details: json!({"runId": run.id, "source": run.source, "status": run.status,
                            "issueId": run.linked_issue_id, "scheduledFor": run.scheduled_for,
                            "failureReason": run.failure_reason}),
        },
    )
    .await?;
    Ok(Some(run))
}

/// Creates the routine's issue from its template (the assignee is woken by the issue's
/// creation), inside a savepoint so a refused template leaves the firing's transaction usable.
async fn create_issue(conn: &mut PgConnection, actor: &Actor, r: &Routine) -> Result<Uuid> {
    savepoint(conn, "SAVEPOINT routine_issue").await?;
    let made = async {
        let issue = issues::create(
            conn,
            actor,
            r.company_id,
            &NewIssue {
                title: r.title.clone(),
                description: r.description.clone(),
                status: if r.assignee_agent_id.is_some() {
                    "todo"
                } else {
                    "backlog"
                }
                .into(),
                priority: r.priority.clone(),
                assignee_agent_id: r.assignee_agent_id,
                assignee_user_id: None,
                parent_id: r.parent_issue_id,
                project_id: r.project_id,
                goal_id: r.goal_id,
                billing_code: None,
                origin_kind: ORIGIN_KIND.into(),
                origin_id: Some(r.id.to_string()),
            },
        )
        .await?;
        if !r.label_ids.is_empty() {
            crate::labels::set_for_issue(conn, actor, &issue, &r.label_ids).await?;
        }
        Ok(issue.id)
    }
    .await;
    let end = if made.is_ok() {
        "RELEASE SAVEPOINT routine_issue"
    } else {
        "ROLLBACK TO SAVEPOINT routine_issue"
    };
    savepoint(conn, end).await?;
    made
}

async fn savepoint(conn: &mut PgConnection, sql: &'static str) -> Result<()> {
    q(sql)
        .execute(conn)
        .await
        .map_err(StoreError::sql("cannot keep the firing's savepoint"))?;
    Ok(())
}

/// A routine's runs, newest first.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn runs(
    conn: &mut PgConnection,
    routine_id: Uuid,
    limit: i64,
) -> Result<Vec<RoutineRun>> {
    qa(&format!(
        "SELECT {COLS} FROM routine_runs WHERE routine_id = $1
         ORDER BY created_at DESC, scheduled_for DESC NULLS LAST, id DESC LIMIT $2"
    ))
    .bind(routine_id)
    .bind(limit)
    .fetch_all(conn)
    .await
    .map_err(StoreError::sql("cannot list the routine's runs"))
}

/// A due schedule, claimed for a round.
#[derive(Debug, sqlx::FromRow)]
struct Due {
    id: Uuid,
    routine_id: Uuid,
    cron_expression: String,
    timezone: Option<String>,
    next_run_at: DateTime<Utc>,
    routine_status: String,
    catch_up_policy: String,
}

/// Schedules claimed per transaction of a round.
const BATCH: i64 = 20;

/// Fires every schedule due at `now` (the caller's clock: the server's, or a test's). Any
/// number of servers may run rounds at once: each claims due triggers with `SKIP LOCKED`, and
/// the (trigger, time) record makes each firing happen once regardless. A paused or archived
/// routine's schedules move on without firing. Answers how many runs it recorded.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn schedule_round(db: &crate::Db, now: DateTime<Utc>) -> Result<usize> {
    let system = Actor::system();
    let mut fired = 0;
    loop {
        let mut tx = db.begin().await?;
        let due: Vec<Due> = qa(
            "SELECT t.id, t.routine_id, t.cron_expression, t.timezone, t.next_run_at,
                    r.status AS routine_status, r.catch_up_policy
             FROM routine_triggers t JOIN routines r ON r.id = t.routine_id
             WHERE t.kind = 'schedule' AND t.enabled AND t.next_run_at <= $1
             ORDER BY t.next_run_at LIMIT $2 FOR UPDATE OF t SKIP LOCKED",
        )
        .bind(now)
        .bind(BATCH)
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::sql("cannot claim due schedules"))?;
        let claimed = due.len();
        for d in due {
            fired += fire_due(&mut tx, &system, &d, now).await?;
        }
        tx.commit()
            .await
            .map_err(StoreError::sql("cannot commit the schedule round"))?;
        if claimed < BATCH as usize {
            return Ok(fired);
        }
    }
}

/// Fires one claimed schedule for its due times and moves it to its next time.
async fn fire_due(
    conn: &mut PgConnection,
    system: &Actor,
    d: &Due,
    now: DateTime<Utc>,
) -> Result<usize> {
    let result = match Schedule::parse(&d.cron_expression, d.timezone.as_deref()) {
        // A schedule stored before a rule tightened, or a zone the tz database dropped: it
        // stops, saying why, instead of failing every round.
        Err(e) => {
            q("UPDATE routine_triggers SET next_run_at = NULL, last_result = $2 WHERE id = $1")
                .bind(d.id)
                .bind(format!("stopped: {e}"))
                .execute(&mut *conn)
                .await
                .map_err(StoreError::sql("cannot stop the trigger"))?;
            return Ok(0);
        }
        Ok(s) => s,
    };
    let policy: CatchUpPolicy = StoreError::parse_stored("catchUpPolicy", &d.catch_up_policy)?;
    let plan = firings(&result, d.next_run_at, now, policy);
    let mut fired = 0;
    let active = d.routine_status == "active";
    if active {
        for at in &plan.fire {
            let firing = Firing {
                trigger_id: Some(d.id),
                source: RoutineRunSource::Schedule,
                scheduled_for: Some(*at),
                idempotency_key: None,
                payload: Some(json!({"scheduledFor": at})),
            };
            fired += usize::from(fire(conn, system, d.routine_id, &firing).await?.is_some());
        }
    }
    let summary = if active {
        format!("fired {fired}, skipped {} missed", plan.skipped)
    } else {
        format!("not fired: the routine is {}", d.routine_status)
    };
    q("UPDATE routine_triggers SET next_run_at = $2, last_fired_at = CASE WHEN $3 THEN now() ELSE last_fired_at END,
              last_result = $4 WHERE id = $1")
        .bind(d.id)
        .bind(plan.next)
        .bind(fired > 0)
        .bind(summary)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot move the trigger on"))?;
    Ok(fired)
}
