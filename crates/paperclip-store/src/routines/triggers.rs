//! A routine's triggers: schedules (with their next time), webhooks (a public id, a signing
//! secret kept as a company secret, the replay record) and API triggers.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::Serialize;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::Routine;
use crate::activity::{self, Entry};
use crate::{secrets, Actor, Result, StoreError};
use paperclip_domain::routines::Schedule;
use paperclip_domain::{SigningMode, TriggerKind};
use paperclip_postgres::pool::{q, qa, qs};
use paperclip_secrets::MasterKey;

/// A routine trigger as reads show it (never its secret).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Trigger {
    pub id: Uuid,
    pub company_id: Uuid,
    pub routine_id: Uuid,
    pub kind: String,
    pub label: Option<String>,
    pub enabled: bool,
    pub cron_expression: Option<String>,
    pub timezone: Option<String>,
    /// A schedule's next firing time.
    pub next_run_at: Option<DateTime<Utc>>,
    pub last_fired_at: Option<DateTime<Utc>>,
    /// A webhook's public id, and the path outside systems `POST` to.
    pub public_id: Option<String>,
    pub fire_path: Option<String>,
    pub signing_mode: Option<String>,
    pub replay_window_sec: Option<i32>,
    pub last_rotated_at: Option<DateTime<Utc>>,
    /// What the last firing did (`fired 1, skipped 0`, a refusal).
    pub last_result: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip)]
    pub secret_id: Option<Uuid>,
}

const COLS: &str = "t.id, t.company_id, t.routine_id, t.kind, t.label, t.enabled, t.cron_expression, t.timezone,
    t.next_run_at, t.last_fired_at, t.public_id,
    CASE WHEN t.public_id IS NOT NULL THEN '/api/routine-triggers/public/' || t.public_id || '/fire' END AS fire_path,
    t.signing_mode, t.replay_window_sec, t.last_rotated_at, t.last_result, t.created_at, t.updated_at, t.secret_id";

/// How long a signed webhook call stays replay-protected when the trigger does not say.
pub const DEFAULT_REPLAY_WINDOW_SEC: i32 = 300;

/// A trigger to create, or the fields of one to change (`None` keeps).
#[derive(Debug, Clone, Default)]
pub struct TriggerFields {
    pub kind: Option<TriggerKind>,
    pub label: Option<Option<String>>,
    pub enabled: Option<bool>,
    pub cron_expression: Option<String>,
    pub timezone: Option<Option<String>>,
    pub signing_mode: Option<SigningMode>,
    pub replay_window_sec: Option<i32>,
}

/// A trigger and, when it was just made or rotated, its signing secret (shown once).
#[derive(Debug, Clone)]
pub struct WithSecret {
    pub trigger: Trigger,
    pub secret: Option<Zeroizing<String>>,
}

pub(super) async fn triggers_of(conn: &mut PgConnection, routine_id: Uuid) -> Result<Vec<Trigger>> {
    qa(&format!(
        "SELECT {COLS} FROM routine_triggers t WHERE t.routine_id = $1 ORDER BY t.created_at, t.id"
    ))
    .bind(routine_id)
    .fetch_all(conn)
    .await
    .map_err(StoreError::sql("cannot read triggers"))
}

pub(super) async fn triggers_of_company(
    conn: &mut PgConnection,
    company_id: Uuid,
) -> Result<HashMap<Uuid, Vec<Trigger>>> {
    let all: Vec<Trigger> = qa(&format!(
        "SELECT {COLS} FROM routine_triggers t WHERE t.company_id = $1 ORDER BY t.created_at, t.id"
    ))
    .bind(company_id)
    .fetch_all(conn)
    .await
    .map_err(StoreError::sql("cannot read triggers"))?;
    let mut by_routine: HashMap<Uuid, Vec<Trigger>> = HashMap::new();
    for t in all {
        by_routine.entry(t.routine_id).or_default().push(t);
    }
    Ok(by_routine)
}

/// One trigger.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn trigger(conn: &mut PgConnection, id: Uuid) -> Result<Option<Trigger>> {
    qa(&format!(
        "SELECT {COLS} FROM routine_triggers t WHERE t.id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
    .map_err(StoreError::sql("cannot read the trigger"))
}

/// A webhook trigger by its public id.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn webhook(conn: &mut PgConnection, public_id: &str) -> Result<Option<Trigger>> {
    qa(&format!(
        "SELECT {COLS} FROM routine_triggers t WHERE t.public_id = $1 AND t.kind = 'webhook'"
    ))
    .bind(public_id)
    .fetch_optional(conn)
    .await
    .map_err(StoreError::sql("cannot read the trigger"))
}

fn random(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(|c| char::from(c).to_ascii_lowercase())
        .collect()
}

/// A new signing secret for a webhook, kept as a company secret (encrypted under the master
/// key like every other).
async fn new_secret(
    conn: &mut PgConnection,
    actor: &Actor,
    master: &MasterKey,
    company_id: Uuid,
    public_id: &str,
) -> Result<(Uuid, Zeroizing<String>)> {
    let value = Zeroizing::new(format!("whsec_{}", random(40)));
    let name = format!("Routine webhook {public_id}");
    let key = format!("routine-webhook-{public_id}");
    let s = secrets::create(
        conn,
        actor,
        master,
        company_id,
        secrets::NewSecret {
            name: &name,
            key: &key,
            description: Some("Signs calls to a routine's webhook trigger"),
            value: &value,
        },
    )
    .await?;
    Ok((s.id, value))
}

/// The next time of a schedule after `now`, checking its expression and zone by field.
fn next_time(expr: &str, tz: Option<&str>, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
    Ok(Schedule::parse(expr, tz)?.next_after(now))
}

/// Adds a trigger to a routine (`routine.trigger_created`). A webhook that signs gets a secret,
/// answered once.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn create_trigger(
    conn: &mut PgConnection,
    actor: &Actor,
    master: &MasterKey,
    routine: &Routine,
    f: &TriggerFields,
    now: DateTime<Utc>,
) -> Result<WithSecret> {
    let kind = f
        .kind
        .ok_or_else(|| StoreError::invalid("kind", "kind is required"))?;
    only_for(kind, f)?;
    let (mut next, mut public_id, mut signing, mut window) = (None, None, None, None);
    let mut secret = None;
    let mut secret_id = None;
    match kind {
        TriggerKind::Schedule => {
            let expr = f.cron_expression.as_deref().ok_or_else(|| {
                StoreError::invalid("cronExpression", "a schedule needs cronExpression")
            })?;
            next = next_time(expr, f.timezone.clone().flatten().as_deref(), now)?;
        }
        TriggerKind::Webhook => {
            let id = random(24);
            let mode = f.signing_mode.unwrap_or(SigningMode::HmacSha256);
            if mode != SigningMode::None {
                let (sid, value) = new_secret(conn, actor, master, routine.company_id, &id).await?;
                secret_id = Some(sid);
                secret = Some(value);
            }
            signing = Some(mode.as_str());
            window = Some(f.replay_window_sec.unwrap_or(DEFAULT_REPLAY_WINDOW_SEC));
            public_id = Some(id);
        }
        TriggerKind::Api => {}
    }
    let t: Trigger = qa(&format!(
        "INSERT INTO routine_triggers AS t (company_id, routine_id, kind, label, enabled, cron_expression, timezone,
                                            next_run_at, public_id, secret_id, signing_mode, replay_window_sec,
                                            last_rotated_at, created_by_agent_id, created_by_user_id)
         VALUES ($1, $2, $3, $4, COALESCE($5, true), $6, $7, $8, $9, $10, $11, $12,
                 CASE WHEN $10::uuid IS NOT NULL THEN now() END, $13, $14)
         RETURNING {COLS}"
    ))
    .bind(routine.company_id)
    .bind(routine.id)
    .bind(kind.as_str())
    .bind(f.label.clone().flatten())
    .bind(f.enabled)
    .bind(&f.cron_expression)
    .bind(f.timezone.clone().flatten())
    .bind(next)
    .bind(&public_id)
    .bind(secret_id)
    .bind(signing)
    .bind(window)
    .bind(actor.agent_id())
    .bind(actor.user_id())
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot create the trigger"))?;
    record(conn, actor, &t, "routine.trigger_created").await?;
    Ok(WithSecret { trigger: t, secret })
}

/// Refuses fields that do not apply to a kind, by name.
fn only_for(kind: TriggerKind, f: &TriggerFields) -> Result<()> {
    let schedule_only = [
        ("cronExpression", f.cron_expression.is_some()),
        ("timezone", f.timezone.is_some()),
    ];
    let webhook_only = [
        ("signingMode", f.signing_mode.is_some()),
        ("replayWindowSec", f.replay_window_sec.is_some()),
    ];
    for (fields, applies) in [
        (&schedule_only, kind == TriggerKind::Schedule),
        (&webhook_only, kind == TriggerKind::Webhook),
    ] {
        if let Some((name, _)) = fields.iter().find(|(_, set)| *set && !applies) {
            return Err(StoreError::invalid(
                name,
                format!("{name} does not apply to a {kind} trigger"),
            ));
        }
    }
    Ok(())
}

/// Changes a trigger (`routine.trigger_updated`). A new expression or zone, or enabling it,
/// moves a schedule's next time to after `now`. A webhook turned from `none` to a signing mode
/// gets a secret, answered once.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn update_trigger(
    conn: &mut PgConnection,
    actor: &Actor,
    master: &MasterKey,
    t: &Trigger,
    f: &TriggerFields,
    now: DateTime<Utc>,
) -> Result<WithSecret> {
    let kind: TriggerKind = StoreError::parse_stored("kind", &t.kind)?;
    only_for(kind, f)?;
    let mut next = t.next_run_at;
    if kind == TriggerKind::Schedule
        && (f.cron_expression.is_some() || f.timezone.is_some() || f.enabled == Some(true))
    {
        let expr = f
            .cron_expression
            .as_deref()
            .or(t.cron_expression.as_deref())
            .unwrap_or_default();
        let tz = match &f.timezone {
            Some(tz) => tz.clone(),
            None => t.timezone.clone(),
        };
        next = next_time(expr, tz.as_deref(), now)?;
    }
    let mut secret = None;
    let mut secret_id = t.secret_id;
    if f.signing_mode.is_some_and(|m| m != SigningMode::None) && t.secret_id.is_none() {
        let public_id = t.public_id.as_deref().unwrap_or_default();
        let (sid, value) = new_secret(conn, actor, master, t.company_id, public_id).await?;
        secret_id = Some(sid);
        secret = Some(value);
    }
    let updated: Trigger = qa(&format!(
        "UPDATE routine_triggers AS t SET
            label = CASE WHEN $2 THEN $3 ELSE label END,
            enabled = COALESCE($4, enabled),
            cron_expression = COALESCE($5, cron_expression),
            timezone = CASE WHEN $6 THEN $7 ELSE timezone END,
            next_run_at = $8,
            signing_mode = COALESCE($9, signing_mode),
            replay_window_sec = COALESCE($10, replay_window_sec),
            secret_id = $11
         WHERE t.id = $1 RETURNING {COLS}"
    ))
    .bind(t.id)
    .bind(f.label.is_some())
    .bind(f.label.clone().flatten())
    .bind(f.enabled)
    .bind(&f.cron_expression)
    .bind(f.timezone.is_some())
    .bind(f.timezone.clone().flatten())
    .bind(next)
    .bind(f.signing_mode.map(SigningMode::as_str))
    .bind(f.replay_window_sec)
    .bind(secret_id)
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot update the trigger"))?;
    record(conn, actor, &updated, "routine.trigger_updated").await?;
    Ok(WithSecret {
        trigger: updated,
        secret,
    })
}

/// A new signing secret for a webhook (`routine.trigger_secret_rotated`); the old one stops
/// working at once.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn rotate_secret(
    conn: &mut PgConnection,
    actor: &Actor,
    master: &MasterKey,
    t: &Trigger,
) -> Result<WithSecret> {
    let current = match t.secret_id {
        Some(id) => secrets::get(conn, id).await?,
        None => None,
    };
    let Some(current) = current.filter(|s| s.status == "active") else {
        return Err(StoreError::invalid(
            "id",
            "only a webhook trigger with a signing mode has a secret to rotate",
        ));
    };
    let value = Zeroizing::new(format!("whsec_{}", random(40)));
    secrets::rotate(conn, actor, master, &current, &value).await?;
    let updated: Trigger = qa(&format!(
        "UPDATE routine_triggers AS t SET last_rotated_at = now() WHERE t.id = $1 RETURNING {COLS}"
    ))
    .bind(t.id)
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot update the trigger"))?;
    record(conn, actor, &updated, "routine.trigger_secret_rotated").await?;
    Ok(WithSecret {
        trigger: updated,
        secret: Some(value),
    })
}

/// Deletes a trigger (`routine.trigger_deleted`); its runs stay, no longer naming it, and its
/// signing secret is deleted with it.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn delete_trigger(conn: &mut PgConnection, actor: &Actor, t: &Trigger) -> Result<()> {
    q("DELETE FROM routine_triggers WHERE id = $1")
        .bind(t.id)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot delete the trigger"))?;
    if let Some(s) = match t.secret_id {
        Some(id) => secrets::get(conn, id).await?,
        None => None,
    } {
        secrets::delete(conn, actor, &s).await?;
    }
    record(conn, actor, t, "routine.trigger_deleted").await
}

async fn record(
    conn: &mut PgConnection,
    actor: &Actor,
    t: &Trigger,
    action: &'static str,
) -> Result<()> {
    activity::record(
        conn,
        actor,
        Entry {
            company_id: t.company_id,
            action,
            entity_type: "routine",
            entity_id: t.routine_id.to_string(),
            details: json!({"triggerId": t.id, "kind": t.kind, "enabled": t.enabled,
                            "nextRunAt": t.next_run_at}),
        },
    )
    .await
}

/// Moves the next time of a routine's schedules to after `now` (a routine resumed: what fell due
/// while it was paused is not made up).
pub(super) async fn reschedule(
    conn: &mut PgConnection,
    routine_id: Uuid,
    now: DateTime<Utc>,
) -> Result<()> {
    for t in triggers_of(conn, routine_id).await? {
        let Some(expr) = t.cron_expression.as_deref() else {
            continue;
        };
        let next = next_time(expr, t.timezone.as_deref(), now)?;
        q("UPDATE routine_triggers SET next_run_at = $2 WHERE id = $1")
            .bind(t.id)
            .bind(next)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::sql("cannot reschedule the trigger"))?;
    }
    Ok(())
}

/// The signing secret of a webhook trigger, to verify a call with; `None` if it has none.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn webhook_secret(
    conn: &mut PgConnection,
    master: &MasterKey,
    t: &Trigger,
) -> Result<Option<Zeroizing<String>>> {
    match t.secret_id {
        Some(id) => secrets::reveal(conn, master, t.company_id, id).await,
        None => Ok(None),
    }
}

/// Records a signed call's digest for the trigger's replay window; `false` when the same call
/// came before within it (a replay). Digests older than the window are forgotten.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn first_delivery(conn: &mut PgConnection, t: &Trigger, digest: &str) -> Result<bool> {
    let window = t.replay_window_sec.unwrap_or(DEFAULT_REPLAY_WINDOW_SEC);
    q(
        "DELETE FROM routine_webhook_deliveries WHERE trigger_id = $1
       AND received_at < now() - make_interval(secs => $2)",
    )
    .bind(t.id)
    .bind(f64::from(window))
    .execute(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot forget old deliveries"))?;
    let fresh: Option<i32> = qs(
        "INSERT INTO routine_webhook_deliveries (trigger_id, digest) VALUES ($1, $2)
         ON CONFLICT DO NOTHING RETURNING 1",
    )
    .bind(t.id)
    .bind(digest)
    .fetch_optional(conn)
    .await
    .map_err(StoreError::sql("cannot record the delivery"))?;
    Ok(fresh.is_some())
}
