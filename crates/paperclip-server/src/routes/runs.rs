//! Heartbeat runs: lists, a run with its events and log, cancel, an issue's runs, the agent's
//! heartbeat invoke, the agent protocol's reads and the adapters this server runs.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use paperclip_api_types::runs::*;
use paperclip_domain::{RunStatus, WakeupSource, WakeupTrigger};
use paperclip_runs::adapters::AdapterInfo;
use paperclip_store::comments::Comment;
use paperclip_store::runs::{
    self, Enqueued, InboxItem, Outcome, Run, RunEvent, Wake, WakeContext, Wakeup,
};
use paperclip_store::{self as store, Actor};
use serde_json::json;
use uuid::Uuid;

use crate::auth::{check_company, require_board, Auth};
use crate::doc::{Statuses, WithStatus};
use crate::extract::{path_id, JsonBody, Problems, QueryMap};
use crate::{ApiError, AppState};

impl Statuses for Invoked<Wakeup, Run> {
    const STATUSES: &'static [u16] = &[202, 200];
}

/// A run the actor may see.
async fn run(conn: &mut sqlx::PgConnection, actor: &Actor, raw: &str) -> Result<Run, ApiError> {
    let id = path_id(raw, "Heartbeat run")?;
    let r = runs::get(conn, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Heartbeat run"))?;
    check_company(actor, r.company_id, "Heartbeat run")?;
    Ok(r)
}

const STATUSES: &[&str] = RunStatus::NAMES;

#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(cid): Path<String>,
    q: QueryMap<RunListQuery>,
) -> Result<Json<Vec<Run>>, ApiError> {
    let statuses = q.csv("status", STATUSES)?;
    let filter = runs::Filter {
        agent_id: q.uuid("agentId")?,
        statuses,
        issue_id: None,
        limit: q.int("limit", 50, 1, 1000)?,
    };
    let mut conn = s.db.session().await?;
    let c = super::company(&mut conn, &actor, &cid).await?;
    let v = runs::list(&mut conn, c.id, &filter).await?;
    conn.close().await?;
    Ok(Json(v))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn live(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(cid): Path<String>,
) -> Result<Json<Vec<Run>>, ApiError> {
    let filter = runs::Filter {
        statuses: vec!["queued".into(), "running".into()],
        limit: 1000,
        ..Default::default()
    };
    let mut conn = s.db.session().await?;
    let c = super::company(&mut conn, &actor, &cid).await?;
    let v = runs::list(&mut conn, c.id, &filter).await?;
    conn.close().await?;
    Ok(Json(v))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn get(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<Run>, ApiError> {
    let mut conn = s.db.session().await?;
    let r = run(&mut conn, &actor, &id).await?;
    conn.close().await?;
    Ok(Json(r))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn events(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    q: QueryMap<RunEventsQuery>,
) -> Result<Json<Vec<RunEvent>>, ApiError> {
    let after = q.int("afterSeq", 0, 0, i64::from(i32::MAX))?;
    let limit = q.int("limit", 200, 1, 1000)?;
    let mut conn = s.db.session().await?;
    let r = run(&mut conn, &actor, &id).await?;
    let v = runs::events(
        &mut conn,
        r.id,
        i32::try_from(after).expect("bounded"),
        limit,
    )
    .await?;
    conn.close().await?;
    Ok(Json(v))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn log(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    q: QueryMap<RunLogQuery>,
) -> Result<Json<RunLog>, ApiError> {
    let offset = q.int("offset", 0, 0, i64::MAX)?;
    let limit = q.int("limitBytes", 256 * 1024, 1, 1 << 20)?;
    let mut conn = s.db.session().await?;
    let r = run(&mut conn, &actor, &id).await?;
    conn.close().await?;
    let done = r.status.parse::<RunStatus>().is_ok_and(|st| !st.is_live());
    let empty = |size| RunLog {
        run_id: r.id,
        store: "local_file".into(),
        log_ref: r.log_ref.clone(),
        content: String::new(),
        offset: 0,
        next_offset: size,
        size,
        complete: done,
    };
    let Some(log_ref) = &r.log_ref else {
        return Ok(Json(empty(0)));
    };
    let chunk = paperclip_runs::log::read(&s.runs.log_dir(), log_ref, offset as u64, limit as u64)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    match chunk {
        Some(c) => Ok(Json(RunLog {
            complete: done && c.next_offset >= c.size,
            run_id: r.id,
            store: "local_file".into(),
            log_ref: r.log_ref.clone(),
            content: c.content,
            offset: c.offset,
            next_offset: c.next_offset,
            size: c.size,
        })),
        // The log lives on the machine that ran the process (upstream's local_file store).
        None => Err(ApiError::NotFound(format!(
            "The log of run {} is not on this server (local_file store on the host that ran it)",
            r.id
        ))),
    }
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn cancel(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<Run>, ApiError> {
    require_board(&actor, "cancel heartbeat runs")?;
    let mut tx = s.db.begin().await?;
    let r = run(&mut tx, &actor, &id).await?;
    let r = runs::cancel(&mut tx, &actor, &r).await?;
    tx.commit().await?;
    Ok(Json(r))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn issue_runs(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<Vec<Run>>, ApiError> {
    let mut conn = s.db.session().await?;
    let issue = super::issue(&mut conn, &actor, &id).await?;
    let filter = runs::Filter {
        issue_id: Some(issue.id),
        limit: 200,
        ..Default::default()
    };
    let v = runs::list(&mut conn, issue.company_id, &filter).await?;
    conn.close().await?;
    Ok(Json(v))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn active_run(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<Option<Run>>, ApiError> {
    let mut conn = s.db.session().await?;
    let issue = super::issue(&mut conn, &actor, &id).await?;
    let r = runs::active_for_issue(&mut conn, issue.id).await?;
    conn.close().await?;
    Ok(Json(r))
}

/// The answer to a wakeup request: 202 with the run that answers it, 200 for a repeated
/// idempotency key, 409 naming the reason when admission refused it (the refusal is recorded).
pub(crate) fn answer(e: Enqueued) -> Result<WithStatus<Invoked<Wakeup, Run>>, ApiError> {
    let (status, deduplicated) = match &e.outcome {
        Outcome::Skipped(r) => {
            return Err(ApiError::Conflict {
                message: format!("Wakeup not admitted: {}", r.message()),
                details: json!({"code": r.code(), "wakeupRequestId": e.wakeup.id, "agentId": e.wakeup.agent_id, "source": e.wakeup.source}),
            })
        }
        Outcome::Duplicate => (StatusCode::OK, true),
        _ => (StatusCode::ACCEPTED, false),
    };
    let run = e.run().cloned();
    Ok(WithStatus {
        status,
        body: Invoked {
            wakeup: e.wakeup,
            run,
            deduplicated,
        },
    })
}

/// Enqueues in its own transaction; a refused wakeup is committed (recorded) before the 409.
pub(crate) async fn wake(
    s: &AppState,
    actor: &Actor,
    agent_raw: &str,
    w: Wake,
    invoked: bool,
) -> Result<WithStatus<Invoked<Wakeup, Run>>, ApiError> {
    let mut tx = s.db.begin().await?;
    let a = super::agent(&mut tx, actor, agent_raw).await?;
    if let Some(issue) = w.context.issue_id {
        let i = store::issues::get(&mut tx, issue).await?;
        if i.is_none_or(|i| i.company_id != a.company_id) {
            return Err(ApiError::validation(vec![
                json!({"code": "invalid_string", "path": ["issueId"],
                "message": "issueId must be an issue of the agent's company"}),
            ]));
        }
    }
    let e = runs::enqueue(&mut tx, actor, &a, &w).await?;
    if invoked {
        if let Some(run) = e.run() {
            store::activity::record(
                &mut tx,
                actor,
                store::activity::Entry {
                    company_id: a.company_id,
                    action: "heartbeat.invoked",
                    entity_type: "agent",
                    entity_id: a.id.to_string(),
                    details: json!({"runId": run.id, "wakeupRequestId": e.wakeup.id}),
                },
            )
            .await?;
        }
    }
    tx.commit().await?;
    answer(e)
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn invoke(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<Invoke>,
) -> Result<WithStatus<Invoked<Wakeup, Run>>, ApiError> {
    let mut p = Problems::default();
    p.opt_text("reason", b.reason.as_deref(), 2000);
    p.finish()?;
    let w = Wake {
        source: WakeupSource::OnDemand,
        trigger: Some(WakeupTrigger::Manual),
        reason: Some(b.reason.unwrap_or_else(|| "heartbeat_invoked".into())),
        payload: b.payload,
        idempotency_key: None,
        context: WakeContext {
            issue_id: b.issue_id,
            ..WakeContext::default()
        },
    };
    let answer = wake(&s, &actor, &id, w, true).await?;
    Ok(answer)
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn adapters(State(s): State<AppState>, Auth(_actor): Auth) -> Json<Vec<AdapterInfo>> {
    Json(s.runs.adapters().list())
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn inbox_lite(
    State(s): State<AppState>,
    Auth(actor): Auth,
) -> Result<Json<Vec<InboxItem>>, ApiError> {
    let id = actor.agent_id().ok_or_else(|| {
        ApiError::Forbidden(
            "Only agents have an inbox; authenticate with an agent API key or run token".into(),
        )
    })?;
    let mut conn = s.db.session().await?;
    let v = runs::inbox(&mut conn, id).await?;
    conn.close().await?;
    Ok(Json(v))
}

type Context = HeartbeatContext<super::issues::Detail, Comment, Run>;

#[tracing::instrument(level = "debug", skip_all)]
pub async fn heartbeat_context(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<Context>, ApiError> {
    let Json(detail) = super::issues::get(State(s.clone()), Auth(actor.clone()), Path(id)).await?;
    let issue_id: Uuid = detail.view.issue.id;
    let mut conn = s.db.session().await?;
    let mut recent = store::comments::list(&mut conn, issue_id, None, false, 20).await?;
    recent.reverse();
    let active = runs::active_for_issue(&mut conn, issue_id).await?;
    conn.close().await?;
    Ok(Json(HeartbeatContext {
        issue: detail,
        recent_comments: recent,
        active_run: active,
    }))
}
