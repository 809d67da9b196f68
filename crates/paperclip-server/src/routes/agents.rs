//! Agents: create/list/read/patch, lifecycle, hires, API keys and wakeups.

use axum::extract::{Path, State};
use axum::Json;
use paperclip_api_types::agents::*;
use paperclip_store::{
    self as store,
    agents::{Agent, AgentPatch, Lifecycle, NewAgent, ROLES},
    Actor,
};
use serde_json::{json, Value};
use uuid::Uuid;

use paperclip_api_types::common::Ok;
use paperclip_api_types::runs::Invoked;
use paperclip_store::agents::ApiKey;
use paperclip_store::approvals::Approval;
use paperclip_store::runs::{Run, Wakeup};

use crate::auth::{require_board, Auth};
use crate::doc::{Created, WithStatus};

use crate::extract::{path_id, JsonBody, Problems, QueryMap};
use crate::{ApiError, AppState};

/// The rules a CreateAgent body must pass before it reaches the store.
trait Validate {
    fn validate(self, status: &str) -> Result<NewAgent, ApiError>;
}

impl Validate for CreateAgent {
    fn validate(self, status: &str) -> Result<NewAgent, ApiError> {
        let mut p = Problems::default();
        let name = p.required("name", self.name.as_deref(), 200);
        let role = self.role.unwrap_or_else(|| "general".into());
        p.one_of("role", &role, ROLES);
        p.non_negative("budgetMonthlyCents", self.budget_monthly_cents);
        let adapter_config = self.adapter_config.unwrap_or_else(|| json!({}));
        if !adapter_config.is_object() {
            p.add(
                "adapterConfig",
                "invalid_type",
                "adapterConfig must be an object",
            );
        }
        check_shapes(
            &mut p,
            self.adapter_type.as_deref(),
            self.runtime_config.as_ref(),
            self.permissions.as_ref(),
        );
        p.finish()?;
        Ok(NewAgent {
            name,
            role,
            title: self.title,
            icon: self.icon,
            reports_to: self.reports_to,
            capabilities: self.capabilities,
            adapter_type: self.adapter_type.unwrap_or_else(|| "process".into()),
            adapter_config,
            runtime_config: self.runtime_config,
            budget_monthly_cents: self.budget_monthly_cents,
            permissions: self.permissions,
            metadata: self.metadata,
            status: status.into(),
        })
    }
}

/// Adapter type keys are identifiers (`claude_local`, `process`, an external adapter's key): they
/// pick code and name folders, so never a path. `runtimeConfig` and `permissions` are objects.
fn check_shapes(
    p: &mut Problems,
    adapter_type: Option<&str>,
    runtime_config: Option<&Value>,
    permissions: Option<&Value>,
) {
    if let Some(t) = adapter_type {
        let ok = t.len() <= 64
            && t.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && t.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !ok {
            p.add(
                "adapterType",
                "invalid_string",
                "adapterType must be an adapter key: 1-64 of a-z, 0-9, '_' or '-' (e.g. claude_local)",
            );
        }
    }
    for (field, value) in [
        ("runtimeConfig", runtime_config),
        ("permissions", permissions),
    ] {
        if value.is_some_and(|v| !v.is_object()) {
            p.add(field, "invalid_type", format!("{field} must be an object"));
        }
    }
}

/// The adapter's own rules for its `adapterConfig` and the heartbeat policy in `runtimeConfig`:
/// a 422 naming the field (`adapterConfig.command`, `runtimeConfig.heartbeat.intervalSec`).
fn check_runtime(
    s: &AppState,
    adapter_type: &str,
    adapter_config: &Value,
    runtime_config: Option<&Value>,
) -> Result<(), ApiError> {
    let refuse = |field: &str, message: String| ApiError::Unprocessable {
        message: format!("{field}: {message}"),
        details: json!([{"code": "invalid_config", "path": field.split('.').collect::<Vec<_>>(), "message": message}]),
    };
    s.runs
        .adapters()
        .validate(adapter_type, adapter_config)
        .map_err(|p| refuse(&p.field, p.message))?;
    if let Some(rc) = runtime_config {
        paperclip_domain::heartbeat::HeartbeatPolicy::from_runtime_config(rc).map_err(
            |e| match e {
                paperclip_domain::DomainError::Invalid { field, message } => refuse(field, message),
                other => ApiError::from(other),
            },
        )?;
    }
    Ok(())
}

/// Validates and normalizes `adapterConfig.env` (secret references in the same company, strict
/// mode, no redacted placeholders).
async fn check_adapter_env(
    conn: &mut sqlx::PgConnection,
    s: &AppState,
    company_id: Uuid,
    config: &mut Value,
) -> Result<(), ApiError> {
    if let Some(env) = config.get("env") {
        let normalized =
            store::secrets::check_env(conn, company_id, env, s.secrets.strict, "adapterConfig.env")
                .await?;
        config["env"] = normalized;
    }
    Ok(())
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn create(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(cid): Path<String>,
    JsonBody(b): JsonBody<CreateAgent>,
) -> Result<Created<Agent>, ApiError> {
    require_board(
        &actor,
        "create agents directly (agents request hires with POST /companies/:id/agent-hires)",
    )?;
    let mut new = b.validate("idle")?;
    check_runtime(
        &s,
        &new.adapter_type,
        &new.adapter_config,
        new.runtime_config.as_ref(),
    )?;
    let mut tx = s.db.begin().await?;
    let c = super::company(&mut tx, &actor, &cid).await?;
    check_adapter_env(&mut tx, &s, c.id, &mut new.adapter_config).await?;
    let a = store::agents::create(&mut tx, &actor, c.id, &new).await?;
    tx.commit().await?;
    Ok(Created(a))
}

/// A hire: the board hires directly unless the company requires approval; an agent's hire always
/// waits for a `hire_agent` approval.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn hire(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(cid): Path<String>,
    JsonBody(b): JsonBody<CreateAgent>,
) -> Result<Created<Hired<Agent, Approval>>, ApiError> {
    let mut tx = s.db.begin().await?;
    let c = super::company(&mut tx, &actor, &cid).await?;
    let needs_approval = !actor.is_board() || c.require_board_approval_for_new_agents;
    let mut new = b.validate(if needs_approval {
        "pending_approval"
    } else {
        "idle"
    })?;
    check_runtime(
        &s,
        &new.adapter_type,
        &new.adapter_config,
        new.runtime_config.as_ref(),
    )?;
    check_adapter_env(&mut tx, &s, c.id, &mut new.adapter_config).await?;
    let a = store::agents::create(&mut tx, &actor, c.id, &new).await?;
    let approval = if needs_approval {
        Some(
            store::approvals::create(
                &mut tx,
                &actor,
                c.id,
                "hire_agent",
                actor.agent_id(),
                &json!({"agentId": a.id, "name": a.name, "role": a.role}),
                &[],
            )
            .await?,
        )
    } else {
        None
    };
    tx.commit().await?;
    Ok(Created(Hired { agent: a, approval }))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(cid): Path<String>,
    q: QueryMap<AgentListQuery>,
) -> Result<Json<AgentList<Agent, store::agents::AgentSummary>>, ApiError> {
    let summary = q.choice("view", &["summary"])?.is_some();
    let limit = q.opt_int("limit", 1, 1000)?;
    let offset = q.int("offset", 0, 0, i64::from(i32::MAX))?;
    let mut conn = s.db.session().await?;
    let c = super::company(&mut conn, &actor, &cid).await?;
    let v = if summary {
        AgentList::Summary(store::agents::summaries(&mut conn, c.id, limit, offset).await?)
    } else {
        AgentList::Full(store::agents::list(&mut conn, c.id, limit, offset).await?)
    };
    conn.close().await?;
    Ok(Json(v))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn get(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<Agent>, ApiError> {
    let mut conn = s.db.session().await?;
    let a = super::agent(&mut conn, &actor, &id).await?;
    conn.close().await?;
    Ok(Json(a))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn me(State(s): State<AppState>, Auth(actor): Auth) -> Result<Json<Agent>, ApiError> {
    let id = actor.agent_id().ok_or_else(|| {
        ApiError::Forbidden(
            "Only agents have /agents/me; authenticate with an agent API key".into(),
        )
    })?;
    let mut conn = s.db.session().await?;
    let a = store::agents::get(&mut conn, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Agent"))?;
    conn.close().await?;
    Ok(Json(a))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn patch(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<PatchAgent>,
) -> Result<Json<Agent>, ApiError> {
    require_board(&actor, "update agents")?;
    let mut p = Problems::default();
    if let Some(n) = &b.name {
        p.text("name", n, 200);
    }
    if let Some(r) = &b.role {
        p.one_of("role", r, ROLES);
    }
    if let Some(c) = b.budget_monthly_cents {
        p.non_negative("budgetMonthlyCents", c);
    }
    if b.adapter_config.as_ref().is_some_and(|c| !c.is_object()) {
        p.add(
            "adapterConfig",
            "invalid_type",
            "adapterConfig must be an object",
        );
    }
    check_shapes(
        &mut p,
        b.adapter_type.as_deref(),
        b.runtime_config.as_ref(),
        b.permissions.as_ref(),
    );
    p.finish()?;
    let mut tx = s.db.begin().await?;
    let a = super::agent(&mut tx, &actor, &id).await?;
    if b.adapter_type.is_some() || b.adapter_config.is_some() || b.runtime_config.is_some() {
        check_runtime(
            &s,
            b.adapter_type.as_deref().unwrap_or(&a.adapter_type),
            b.adapter_config.as_ref().unwrap_or(&a.adapter_config),
            b.runtime_config.as_ref(),
        )?;
    }
    let mut adapter_config = b.adapter_config;
    if let Some(config) = adapter_config.as_mut() {
        check_adapter_env(&mut tx, &s, a.company_id, config).await?;
    }
    let patch = AgentPatch {
        name: b.name.map(|n| n.trim().to_string()),
        role: b.role,
        title: b.title,
        icon: b.icon,
        reports_to: b.reports_to,
        capabilities: b.capabilities,
        adapter_type: b.adapter_type,
        adapter_config,
        runtime_config: b.runtime_config,
        budget_monthly_cents: b.budget_monthly_cents,
        permissions: b.permissions,
        metadata: b.metadata,
    };
    let a = store::agents::update(&mut tx, &actor, &a, &patch).await?;
    tx.commit().await?;
    Ok(Json(a))
}

async fn lifecycle(
    s: AppState,
    actor: Actor,
    id: String,
    to: Lifecycle,
    reason: Option<String>,
) -> Result<Json<Agent>, ApiError> {
    require_board(&actor, "pause, resume, approve or terminate agents")?;
    let mut tx = s.db.begin().await?;
    let a = super::agent(&mut tx, &actor, &id).await?;
    let a = store::agents::transition(&mut tx, &actor, &a, to, reason.as_deref()).await?;
    tx.commit().await?;
    Ok(Json(a))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn pause(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<Reason>,
) -> Result<Json<Agent>, ApiError> {
    lifecycle(s, actor, id, Lifecycle::Pause, b.reason).await
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn resume(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<Agent>, ApiError> {
    lifecycle(s, actor, id, Lifecycle::Resume, None).await
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn terminate(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<Agent>, ApiError> {
    lifecycle(s, actor, id, Lifecycle::Terminate, None).await
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn approve(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<Agent>, ApiError> {
    lifecycle(s, actor, id, Lifecycle::Approve, None).await
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn create_key(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<CreateKey>,
) -> Result<Created<CreatedKey<ApiKey>>, ApiError> {
    require_board(&actor, "manage agent API keys")?;
    let name = b.name.unwrap_or_else(|| "default".into());
    let mut p = Problems::default();
    p.text("name", &name, 200);
    p.finish()?;
    let mut tx = s.db.begin().await?;
    let a = super::agent(&mut tx, &actor, &id).await?;
    if a.status == "terminated" {
        return Err(ApiError::Conflict {
            message: "Agent is terminated".into(),
            details: json!({"agentId": a.id}),
        });
    }
    let (key, token) = store::agents::create_key(&mut tx, &actor, &a, &name).await?;
    tx.commit().await?;
    // The plaintext is shown once, here, and never stored.
    Ok(Created(CreatedKey {
        meta: key,
        key: token,
    }))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn list_keys(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<Vec<ApiKey>>, ApiError> {
    require_board(&actor, "manage agent API keys")?;
    let mut conn = s.db.session().await?;
    let a = super::agent(&mut conn, &actor, &id).await?;
    let keys = store::agents::list_keys(&mut conn, a.id).await?;
    conn.close().await?;
    Ok(Json(keys))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn revoke_key(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path((id, key_id)): Path<(String, String)>,
) -> Result<Json<Ok>, ApiError> {
    require_board(&actor, "manage agent API keys")?;
    let key_id = path_id(&key_id, "API key")?;
    let mut tx = s.db.begin().await?;
    let a = super::agent(&mut tx, &actor, &id).await?;
    if !store::agents::revoke_key(&mut tx, &actor, &a, key_id).await? {
        return Err(ApiError::not_found("API key"));
    }
    tx.commit().await?;
    Ok(Json(Ok::yes()))
}

const SOURCES: &[&str] = paperclip_domain::WakeupSource::NAMES;
const TRIGGERS: &[&str] = paperclip_domain::WakeupTrigger::NAMES;

#[tracing::instrument(level = "debug", skip_all)]
pub async fn wakeup(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<Wake>,
) -> Result<WithStatus<Invoked<Wakeup, Run>>, ApiError> {
    let source = b.source.unwrap_or_else(|| "on_demand".into());
    let mut p = Problems::default();
    p.one_of("source", &source, SOURCES);
    if let Some(t) = &b.trigger_detail {
        p.one_of("triggerDetail", t, TRIGGERS);
    }
    p.opt_text("reason", b.reason.as_deref(), 2000);
    p.opt_text("idempotencyKey", b.idempotency_key.as_deref(), 200);
    // The task rides in the payload, as upstream's clients send it.
    let issue_id = match b
        .payload
        .as_ref()
        .and_then(|v| v.get("issueId").or_else(|| v.get("taskId")))
    {
        None | Some(Value::Null) => None,
        Some(v) => {
            let parsed = v.as_str().and_then(|s| Uuid::parse_str(s).ok());
            if parsed.is_none() {
                p.add(
                    "payload.issueId",
                    "invalid_string",
                    "payload.issueId must be a UUID",
                );
            }
            parsed
        }
    };
    if b.payload.as_ref().is_some_and(|v| !v.is_object()) {
        p.add("payload", "invalid_type", "payload must be an object");
    }
    p.finish()?;
    let mut payload = b.payload;
    if let Some(f) = b.force_fresh_session {
        payload.get_or_insert_with(|| json!({}))["forceFreshSession"] = json!(f);
    }
    let w = store::runs::Wake {
        source: source.parse().expect("checked"),
        trigger: b.trigger_detail.map(|t| t.parse().expect("checked")),
        reason: b.reason,
        payload,
        idempotency_key: b.idempotency_key,
        context: store::runs::WakeContext {
            issue_id,
            ..Default::default()
        },
    };
    super::runs::wake(&s, &actor, &id, w, false).await
}
