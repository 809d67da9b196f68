//! What coding agents keep and are taught: runtime state and task sessions, the instructions
//! bundle, the Paperclip skill, and the adapters' environment check.

use axum::extract::{Path, State};
use axum::Json;
use paperclip_api_types::common::Ok as Done;
use paperclip_api_types::runs::*;
use paperclip_runs::adapters::{EnvReport, SKILL};
use paperclip_store::runs::{self, InstructionFile, RuntimeState, TaskSession};
use paperclip_store::{agents::Agent, Actor};
use serde_json::json;

use crate::auth::Auth;
use crate::extract::{JsonBody, QueryMap};
use crate::{ApiError, AppState};

/// The board, or the agent itself.
fn self_or_board(actor: &Actor, agent: &Agent, what: &str) -> Result<(), ApiError> {
    if actor.is_board() || actor.agent_id() == Some(agent.id) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "Only the board or the agent itself can {what}"
        )))
    }
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn runtime_state(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<Option<RuntimeState>>, ApiError> {
    let mut conn = s.db.session().await?;
    let a = super::agent(&mut conn, &actor, &id).await?;
    let v = runs::runtime_state(&mut conn, a.id).await?;
    conn.close().await?;
    Ok(Json(v))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn task_sessions(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<Vec<TaskSession>>, ApiError> {
    let mut conn = s.db.session().await?;
    let a = super::agent(&mut conn, &actor, &id).await?;
    let v = runs::task_sessions(&mut conn, a.id).await?;
    conn.close().await?;
    Ok(Json(v))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn reset_session(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<ResetSession>,
) -> Result<Json<SessionsCleared>, ApiError> {
    let mut tx = s.db.begin().await?;
    let a = super::agent(&mut tx, &actor, &id).await?;
    self_or_board(&actor, &a, "reset its sessions")?;
    let n = runs::reset_sessions(&mut tx, &actor, &a, b.task_key.as_deref().map(str::trim)).await?;
    tx.commit().await?;
    Ok(Json(SessionsCleared {
        ok: true,
        sessions_cleared: n,
    }))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn instructions_bundle(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<InstructionsBundle>, ApiError> {
    let mut conn = s.db.session().await?;
    let a = super::agent(&mut conn, &actor, &id).await?;
    let files = runs::instruction_files(&mut conn, a.id).await?;
    conn.close().await?;
    Ok(Json(InstructionsBundle {
        agent_id: a.id,
        mode: "managed".into(),
        entry_file: "AGENTS.md".into(),
        files: files
            .into_iter()
            .map(|f| BundleFile {
                size: f.content.len(),
                path: f.path,
                updated_at: f.updated_at,
            })
            .collect(),
    }))
}

/// A bundle path: relative, `/`-separated names of letters, digits, `.`, `_` and `-`, no `..`.
fn bundle_path(raw: Option<&str>) -> Result<String, ApiError> {
    let p = raw.unwrap_or("AGENTS.md").trim();
    let ok = !p.is_empty()
        && p.len() <= 200
        && p.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        });
    if ok {
        Ok(p.to_string())
    } else {
        Err(ApiError::validation(vec![
            json!({"code": "invalid_string", "path": ["path"],
            "message": "path must be a relative path of letters, digits, '.', '_' and '-' (no '..')"}),
        ]))
    }
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn get_instructions_file(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    q: QueryMap<InstructionsFileQuery>,
) -> Result<Json<InstructionFile>, ApiError> {
    let path = bundle_path(q.text("path"))?;
    let mut conn = s.db.session().await?;
    let a = super::agent(&mut conn, &actor, &id).await?;
    let files = runs::instruction_files(&mut conn, a.id).await?;
    conn.close().await?;
    files
        .into_iter()
        .find(|f| f.path == path)
        .map(Json)
        .ok_or_else(|| ApiError::not_found("Instructions file"))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn put_instructions_file(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<PutInstructionsFile>,
) -> Result<Json<InstructionFile>, ApiError> {
    let path = bundle_path(Some(&b.path))?;
    if b.content.len() > 256 * 1024 {
        return Err(ApiError::validation(vec![
            json!({"code": "too_big", "path": ["content"],
            "message": "content must be at most 256 KiB"}),
        ]));
    }
    let mut tx = s.db.begin().await?;
    let a = super::agent(&mut tx, &actor, &id).await?;
    self_or_board(&actor, &a, "change its instructions")?;
    let f = runs::put_instruction_file(&mut tx, &actor, &a, &path, &b.content).await?;
    tx.commit().await?;
    Ok(Json(f))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn delete_instructions_file(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    q: QueryMap<InstructionsFileQuery>,
) -> Result<Json<Done>, ApiError> {
    let path = bundle_path(q.text("path"))?;
    let mut tx = s.db.begin().await?;
    let a = super::agent(&mut tx, &actor, &id).await?;
    self_or_board(&actor, &a, "change its instructions")?;
    if !runs::delete_instruction_file(&mut tx, &actor, &a, &path).await? {
        return Err(ApiError::not_found("Instructions file"));
    }
    tx.commit().await?;
    Ok(Json(Done::yes()))
}

const SKILL_NAME: &str = "paperclip";
const SKILL_DESCRIPTION: &str =
    "How an agent works inside Paperclip: the heartbeat procedure through the API";

#[tracing::instrument(level = "debug", skip_all)]
pub async fn skills_index(Auth(_actor): Auth) -> Json<Vec<SkillRef>> {
    Json(vec![SkillRef {
        name: SKILL_NAME.into(),
        description: SKILL_DESCRIPTION.into(),
        url: format!("/api/skills/{SKILL_NAME}"),
    }])
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn skill(Auth(_actor): Auth, Path(name): Path<String>) -> Result<Json<Skill>, ApiError> {
    if name != SKILL_NAME {
        return Err(ApiError::not_found("Skill"));
    }
    Ok(Json(Skill {
        name: SKILL_NAME.into(),
        description: SKILL_DESCRIPTION.into(),
        markdown: SKILL.into(),
    }))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn test_environment(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path((cid, kind)): Path<(String, String)>,
    JsonBody(b): JsonBody<TestEnvironment>,
) -> Result<Json<EnvReport>, ApiError> {
    let mut conn = s.db.session().await?;
    super::company(&mut conn, &actor, &cid).await?;
    conn.close().await?;
    let adapter = s
        .runs
        .adapters()
        .get(&kind)
        .ok_or_else(|| ApiError::not_found("Adapter"))?;
    let config = b.adapter_config.unwrap_or_else(|| json!({}));
    if !config.is_object() {
        return Err(ApiError::validation(vec![
            json!({"code": "invalid_type", "path": ["adapterConfig"],
            "message": "adapterConfig must be an object"}),
        ]));
    }
    Ok(Json(adapter.test_environment(&config).await))
}
