//! `/routines`, `/routine-triggers` and the public webhook that fires a routine.
//!
//! The board manages any routine of its companies; an agent only routines assigned to itself
//! (as upstream). A webhook call is authenticated by the trigger's signing mode, not an actor.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use chrono::Utc;
use paperclip_api_types::access::NoInput;
use paperclip_api_types::common::Ok as Done;
use paperclip_api_types::routines::*;
use paperclip_api_types::Create;
use paperclip_domain::{RoutineRunSource, SigningMode, TriggerKind};
use paperclip_secrets::webhook::{self, Call};
use paperclip_store::routines::{
    self, Firing, Routine, RoutineFields, RoutineRun, Trigger, TriggerFields, WithSecret,
};
use paperclip_store::Actor;
use sqlx::PgConnection;

use crate::auth::{check_company, Auth};
use crate::doc::Created;
use crate::extract::{path_id, JsonBody, Problems, QueryMap};
use crate::{ApiError, AppState};

/// Loads a routine the actor may see.
async fn routine(conn: &mut PgConnection, actor: &Actor, raw: &str) -> Result<Routine, ApiError> {
    let r = routines::get(conn, path_id(raw, "Routine")?)
        .await?
        .ok_or_else(|| ApiError::not_found("Routine"))?;
    check_company(actor, r.company_id, "Routine")?;
    Ok(r)
}

/// An agent manages only the routines assigned to it.
fn may_manage(actor: &Actor, assignee: Option<uuid::Uuid>) -> Result<(), ApiError> {
    match actor.agent_id() {
        Some(me) if assignee != Some(me) => Err(ApiError::Forbidden(
            "An agent can only manage routines assigned to itself".into(),
        )),
        _ => Ok(()),
    }
}

/// The body's fields, checked by name.
fn fields(b: RoutineBody) -> Result<RoutineFields, ApiError> {
    let mut p = Problems::default();
    if let Some(t) = &b.title {
        p.text("title", t, 200);
    }
    if let Some(Some(d)) = &b.description {
        p.opt_text("description", Some(d), 200_000);
    }
    for (field, value, allowed) in [
        (
            "priority",
            &b.priority,
            paperclip_domain::IssuePriority::NAMES,
        ),
        ("status", &b.status, paperclip_domain::RoutineStatus::NAMES),
        (
            "concurrencyPolicy",
            &b.concurrency_policy,
            paperclip_domain::ConcurrencyPolicy::NAMES,
        ),
        (
            "catchUpPolicy",
            &b.catch_up_policy,
            paperclip_domain::CatchUpPolicy::NAMES,
        ),
    ] {
        if let Some(v) = value {
            p.one_of(field, v, allowed);
        }
    }
    if b.label_ids.as_ref().is_some_and(|l| l.len() > 50) {
        p.add("labelIds", "too_big", "at most 50 labels");
    }
    p.finish()?;
    Ok(RoutineFields {
        title: b.title.map(|t| t.trim().to_string()),
        description: b.description,
        project_id: b.project_id,
        goal_id: b.goal_id,
        parent_issue_id: b.parent_issue_id,
        assignee_agent_id: b.assignee_agent_id,
        priority: b.priority,
        label_ids: b.label_ids,
        status: b.status,
        concurrency_policy: b.concurrency_policy,
        catch_up_policy: b.catch_up_policy,
    })
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(cid): Path<String>,
) -> Result<Json<Vec<Routine>>, ApiError> {
    let mut conn = s.db.session().await?;
    let c = super::company(&mut conn, &actor, &cid).await?;
    let v = routines::list(&mut conn, c.id).await?;
    conn.close().await?;
    Ok(Json(v))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn create(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(cid): Path<String>,
    JsonBody(Create(b)): JsonBody<Create<RoutineBody>>,
) -> Result<Created<Routine>, ApiError> {
    let mut p = Problems::default();
    p.required("title", b.title.as_deref(), 200);
    p.finish()?;
    let f = fields(b)?;
    may_manage(&actor, f.assignee_agent_id.flatten())?;
    let mut tx = s.db.begin().await?;
    let c = super::company(&mut tx, &actor, &cid).await?;
    let r = routines::create(&mut tx, &actor, c.id, &f).await?;
    tx.commit().await?;
    Ok(Created(r))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn get(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<Routine>, ApiError> {
    let mut conn = s.db.session().await?;
    let r = routine(&mut conn, &actor, &id).await?;
    conn.close().await?;
    Ok(Json(r))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn patch(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<RoutineBody>,
) -> Result<Json<Routine>, ApiError> {
    let f = fields(b)?;
    let mut tx = s.db.begin().await?;
    let r = routine(&mut tx, &actor, &id).await?;
    may_manage(&actor, r.assignee_agent_id)?;
    if let Some(to) = f.assignee_agent_id {
        may_manage(&actor, to)?;
    }
    let r = routines::update(&mut tx, &actor, &r, &f).await?;
    tx.commit().await?;
    Ok(Json(r))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn runs(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    q: QueryMap<RoutineRunsQuery>,
) -> Result<Json<Vec<RoutineRun>>, ApiError> {
    let limit = q.int("limit", 50, 1, 500)?;
    let mut conn = s.db.session().await?;
    let r = routine(&mut conn, &actor, &id).await?;
    let v = routines::runs(&mut conn, r.id, limit).await?;
    conn.close().await?;
    Ok(Json(v))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn run(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<RunRoutine>,
) -> Result<Json<RoutineRun>, ApiError> {
    let source = match b.source.as_deref() {
        None | Some("manual") => RoutineRunSource::Manual,
        Some("api") => RoutineRunSource::Api,
        Some(other) => {
            let mut p = Problems::default();
            p.one_of("source", other, &["manual", "api"]);
            p.finish()?;
            unreachable!("one_of refused it")
        }
    };
    let mut p = Problems::default();
    p.opt_text("idempotencyKey", b.idempotency_key.as_deref(), 255);
    if b.payload.as_ref().is_some_and(|v| !v.is_object()) {
        p.add("payload", "invalid_type", "payload must be an object");
    }
    p.finish()?;
    let mut tx = s.db.begin().await?;
    let r = routine(&mut tx, &actor, &id).await?;
    may_manage(&actor, r.assignee_agent_id)?;
    if let Some(tid) = b.trigger_id {
        let named = r.triggers.iter().find(|t| t.id == tid);
        if named.is_none_or(|t| t.kind != TriggerKind::Api.as_str() || !t.enabled) {
            return Err(ApiError::validation(vec![
                serde_json::json!({"code": "invalid_string", "path": ["triggerId"],
                "message": "triggerId must be an enabled api trigger of this routine"}),
            ]));
        }
    }
    if r.status != "active" {
        return Err(ApiError::validation(vec![
            serde_json::json!({"code": "invalid_string", "path": ["status"],
            "message": format!("the routine is {}; resume it first", r.status)}),
        ]));
    }
    let firing = Firing {
        trigger_id: b.trigger_id,
        source,
        scheduled_for: None,
        idempotency_key: b.idempotency_key,
        payload: b.payload,
    };
    let run = routines::fire(&mut tx, &actor, r.id, &firing)
        .await?
        .ok_or_else(|| ApiError::not_found("Routine run"))?;
    tx.commit().await?;
    Ok(Json(run))
}

/// A trigger body's fields, checked by name.
fn trigger_fields(b: TriggerBody) -> Result<TriggerFields, ApiError> {
    let mut p = Problems::default();
    let kind = b.kind.as_deref().and_then(|k| {
        p.one_of("kind", k, TriggerKind::NAMES);
        k.parse::<TriggerKind>().ok()
    });
    let signing_mode = b.signing_mode.as_deref().and_then(|m| {
        p.one_of("signingMode", m, SigningMode::NAMES);
        m.parse::<SigningMode>().ok()
    });
    if let Some(Some(l)) = &b.label {
        p.opt_text("label", Some(l), 120);
    }
    if let Some(w) = b.replay_window_sec {
        if !(30..=86_400).contains(&w) {
            p.add(
                "replayWindowSec",
                "too_small",
                "replayWindowSec must be 30 to 86400",
            );
        }
    }
    p.finish()?;
    Ok(TriggerFields {
        kind,
        label: b.label,
        enabled: b.enabled,
        cron_expression: b.cron_expression,
        timezone: b.timezone,
        signing_mode,
        replay_window_sec: b.replay_window_sec,
    })
}

fn answer(w: WithSecret) -> TriggerAnswer<Trigger> {
    TriggerAnswer {
        trigger: w.trigger,
        secret: w.secret.map(|s| s.to_string()),
    }
}

/// Loads a trigger (and its routine) the actor may manage.
async fn trigger(conn: &mut PgConnection, actor: &Actor, raw: &str) -> Result<Trigger, ApiError> {
    let t = routines::trigger(conn, path_id(raw, "Routine trigger")?)
        .await?
        .ok_or_else(|| ApiError::not_found("Routine trigger"))?;
    check_company(actor, t.company_id, "Routine trigger")?;
    let r = routine(conn, actor, &t.routine_id.to_string()).await?;
    may_manage(actor, r.assignee_agent_id)?;
    Ok(t)
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn create_trigger(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    JsonBody(Create(b)): JsonBody<Create<TriggerBody>>,
) -> Result<Created<TriggerAnswer<Trigger>>, ApiError> {
    let f = trigger_fields(b)?;
    let mut tx = s.db.begin().await?;
    let r = routine(&mut tx, &actor, &id).await?;
    may_manage(&actor, r.assignee_agent_id)?;
    let made =
        routines::create_trigger(&mut tx, &actor, &s.secrets.key, &r, &f, Utc::now()).await?;
    tx.commit().await?;
    Ok(Created(answer(made)))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn patch_trigger(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<TriggerBody>,
) -> Result<Json<TriggerAnswer<Trigger>>, ApiError> {
    let f = trigger_fields(b)?;
    let mut tx = s.db.begin().await?;
    let t = trigger(&mut tx, &actor, &id).await?;
    if f.kind.is_some_and(|k| k.as_str() != t.kind) {
        return Err(ApiError::validation(vec![
            serde_json::json!({"code": "invalid_string", "path": ["kind"],
            "message": "a trigger's kind cannot change; create another trigger"}),
        ]));
    }
    let changed =
        routines::update_trigger(&mut tx, &actor, &s.secrets.key, &t, &f, Utc::now()).await?;
    tx.commit().await?;
    Ok(Json(answer(changed)))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn delete_trigger(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<Done>, ApiError> {
    let mut tx = s.db.begin().await?;
    let t = trigger(&mut tx, &actor, &id).await?;
    routines::delete_trigger(&mut tx, &actor, &t).await?;
    tx.commit().await?;
    Ok(Json(Done::yes()))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn rotate_secret(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    JsonBody(_): JsonBody<NoInput>,
) -> Result<Json<TriggerAnswer<Trigger>>, ApiError> {
    let mut tx = s.db.begin().await?;
    let t = trigger(&mut tx, &actor, &id).await?;
    let rotated = routines::rotate_secret(&mut tx, &actor, &s.secrets.key, &t).await?;
    tx.commit().await?;
    Ok(Json(answer(rotated)))
}

/// `POST /routine-triggers/public/{publicId}/fire`: an outside system fires a routine. An
/// unknown or disabled trigger and a bad signature all answer 401 alike (nothing tells a
/// prober which ids exist); a replayed signed call answers 409.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn fire(
    State(s): State<AppState>,
    Path(public_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<RoutineRun>, ApiError> {
    let refused = |why: &str| ApiError::Unauthorized(format!("Webhook refused: {why}"));
    let payload = if body.is_empty() {
        None
    } else {
        Some(
            serde_json::from_slice::<serde_json::Value>(&body).map_err(|e| {
                ApiError::validation(vec![serde_json::json!({"code": "invalid_json", "path": [],
                "message": format!("the body must be JSON: {e}")})])
            })?,
        )
    };
    let mut tx = s.db.begin().await?;
    let t = routines::webhook(&mut tx, &public_id)
        .await?
        .filter(|t| t.enabled)
        .ok_or_else(|| {
            refused("no enabled webhook trigger has this id, or the signature does not match")
        })?;
    let secret = routines::webhook_secret(&mut tx, &s.secrets.key, &t).await?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let call = Call {
        authorization: header("authorization"),
        paperclip_signature: header("x-paperclip-signature"),
        paperclip_timestamp: header("x-paperclip-timestamp"),
        hub_signature: header("x-hub-signature-256"),
        github_delivery: header("x-github-delivery"),
        body: &body,
    };
    let window = i64::from(
        t.replay_window_sec
            .unwrap_or(routines::DEFAULT_REPLAY_WINDOW_SEC),
    );
    let mode = t.signing_mode.as_deref().unwrap_or("none");
    let digest = webhook::verify(
        mode,
        secret.as_deref().map(String::as_str),
        &call,
        Utc::now().timestamp(),
        window,
    )
    .map_err(|e| refused(&e.to_string()))?;
    if let Some(d) = digest {
        if !routines::first_delivery(&mut tx, &t, &d).await? {
            return Err(ApiError::Conflict {
                message: "This signed call was already delivered (replay refused)".into(),
                details: serde_json::json!({"triggerId": t.id}),
            });
        }
    }
    let routine = routines::get(&mut tx, t.routine_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Routine"))?;
    if routine.status != "active" {
        return Err(ApiError::Conflict {
            message: format!("The routine is {}", routine.status),
            details: serde_json::json!({"routineId": routine.id, "status": routine.status}),
        });
    }
    let firing = Firing {
        trigger_id: Some(t.id),
        source: RoutineRunSource::Webhook,
        scheduled_for: None,
        idempotency_key: None,
        payload,
    };
    let run = routines::fire(&mut tx, &Actor::system(), routine.id, &firing)
        .await?
        .ok_or_else(|| ApiError::not_found("Routine run"))?;
    tx.commit().await?;
    Ok(Json(run))
}
