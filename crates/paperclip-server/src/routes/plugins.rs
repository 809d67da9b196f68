//! `/api/plugins`: the registry (board only) and the plugins' scoped API routes.

use paperclip_api_types::plugins::*;
use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use paperclip_store::plugins::{self, Plugin};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::auth::{can_see, Auth};
use crate::doc::{Created, Forwarded};
use crate::extract::{JsonBody, Problems, QueryMap};
use crate::plugin_host::http_status;
use crate::{ApiError, AppState};

fn view(s: &AppState, p: &Plugin) -> PluginView<Plugin> {
    let slot = s.plugins.slot(p.id);
    let mut plugin = p.clone();
    // A ready plugin whose worker crashed shows as `error` until the restart succeeds (the stored
    // status stays `ready`, which is what tells every replica to keep restarting it).
    if plugin.status == "ready" && plugin.last_error.is_some() {
        plugin.status = "error".into();
    }
    PluginView {
        plugin,
        worker_running: slot
            .as_ref()
            .is_some_and(|s| s.running.load(std::sync::atomic::Ordering::SeqCst)),
        restarts: slot.map_or(0, |s| s.restarts.load(std::sync::atomic::Ordering::SeqCst)),
    }
}

async fn load(s: &AppState, id: &str) -> Result<Plugin, ApiError> {
    let mut conn = s.db.session().await?;
    let p = plugins::get(&mut conn, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Plugin"))?;
    conn.close().await?;
    Ok(p)
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(
    State(s): State<AppState>,
    Auth(actor): Auth,
) -> Result<Json<Vec<PluginView<Plugin>>>, ApiError> {
    crate::auth::require_instance_admin(&actor, "manage plugins")?;
    let mut conn = s.db.session().await?;
    let all = plugins::list(&mut conn).await?;
    conn.close().await?;
    Ok(Json(all.iter().map(|p| view(&s, p)).collect()))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn get(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<PluginView<Plugin>>, ApiError> {
    crate::auth::require_instance_admin(&actor, "manage plugins")?;
    let p = load(&s, &id).await?;
    Ok(Json(view(&s, &p)))
}

/// Runs a registry operation on a direct connection (plugin DDL needs one).
async fn with_admin<F, Fut, T>(s: &AppState, op: F) -> Result<T, ApiError>
where
    F: FnOnce(sqlx::PgConnection, String, std::sync::Arc<crate::SecretsState>) -> Fut
        + Send
        + 'static,
    Fut: std::future::Future<Output = Result<T, paperclip_store::StoreError>>,
    T: Send + 'static,
{
    let url = s.plugins.migration_url.clone();
    let secrets = s.plugins.secrets.clone();
    let conn = paperclip_postgres::pool::connect_direct(&url).await?;
    paperclip_postgres::pool::run_unsend(move || op(conn, url, secrets))
        .await
        .map_err(ApiError::from)
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn install(
    State(s): State<AppState>,
    Auth(actor): Auth,
    JsonBody(b): JsonBody<Install>,
) -> Result<Created<PluginView<Plugin>>, ApiError> {
    crate::auth::require_instance_admin(&actor, "install plugins")?;
    let mut p = Problems::default();
    if b.package_name.is_some() {
        // Upstream installs `packageName` from npm; this server installs folders only.
        p.add(
            "packageName",
            "unsupported",
            "installing from a package registry is not supported; give the plugin's folder as path",
        );
    }
    let path = p.required("path", b.path.as_deref(), 4096);
    p.finish()?;
    let plugin = with_admin(&s, move |mut admin, url, secrets| async move {
        let access = plugins::Access {
            url: &url,
            key: &secrets.key,
        };
        let installed = plugins::install(&mut admin, &access, std::path::Path::new(&path)).await?;
        plugins::enable(&mut admin, &access, &installed).await
    })
    .await?;
    s.plugins.reconcile().await;
    Ok(Created(view(&s, &plugin)))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn enable(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<PluginView<Plugin>>, ApiError> {
    crate::auth::require_instance_admin(&actor, "enable plugins")?;
    let plugin = load(&s, &id).await?;
    let plugin = with_admin(&s, move |mut admin, url, secrets| async move {
        let access = plugins::Access {
            url: &url,
            key: &secrets.key,
        };
        plugins::enable(&mut admin, &access, &plugin).await
    })
    .await?;
    s.plugins.reconcile().await;
    Ok(Json(view(&s, &plugin)))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn disable(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<PluginView<Plugin>>, ApiError> {
    crate::auth::require_instance_admin(&actor, "disable plugins")?;
    let plugin = load(&s, &id).await?;
    let mut conn = s.db.session().await?;
    let plugin = plugins::disable(&mut conn, &plugin).await?;
    conn.close().await?;
    s.plugins.stop(plugin.id).await;
    Ok(Json(view(&s, &plugin)))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn uninstall(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<PluginView<Plugin>>, ApiError> {
    crate::auth::require_instance_admin(&actor, "uninstall plugins")?;
    let plugin = load(&s, &id).await?;
    s.plugins.stop(plugin.id).await;
    let plugin = with_admin(&s, move |mut admin, _, _| async move {
        plugins::uninstall(&mut admin, &plugin).await
    })
    .await?;
    Ok(Json(view(&s, &plugin)))
}

/// Largest body a scoped route accepts.
const MAX_SCOPED_BODY: usize = 1_000_000;

fn match_route<'a>(
    routes: &'a [Value],
    method: &str,
    path: &str,
) -> Option<(&'a Value, HashMap<String, String>)> {
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    routes.iter().find_map(|r| {
        if !r
            .get("method")
            .and_then(Value::as_str)
            .is_some_and(|m| m.eq_ignore_ascii_case(method))
        {
            return None;
        }
        let pattern: Vec<&str> = r
            .get("path")?
            .as_str()?
            .trim_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        if pattern.len() != segs.len() {
            return None;
        }
        let mut params = HashMap::new();
        for (p, s) in pattern.iter().zip(&segs) {
            match p.strip_prefix(':') {
                Some(name) => {
                    params.insert(name.to_string(), s.to_string());
                }
                None if p == s => {}
                None => return None,
            }
        }
        Some((r, params))
    })
}

/// `/api/plugins/:pluginId/api/*`: only routes the manifest declares, with the declared auth,
/// company resolution and checkout policy, forwarded to the worker's `handleApiRequest`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn scoped(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path((id, path)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
    q: QueryMap<PluginRouteQuery>,
    body: Bytes,
) -> Result<Forwarded, ApiError> {
    let plugin = load(&s, &id).await?;
    if plugin.status != "ready" {
        return Err(ApiError::Failed503(format!(
            "Plugin {} is {}",
            plugin.plugin_key, plugin.status
        )));
    }
    let (slot, worker) = s
        .plugins
        .ready_worker(plugin.id, crate::plugin_host::WORKER_STARTUP_PATIENCE)
        .await
        .ok_or_else(|| ApiError::Failed503("Plugin worker is not running".into()))?;
    if !slot.manifest.has("api.routes.register") {
        return Err(ApiError::NotFound("Plugin route not found".into()));
    }
    let path = format!("/{path}");
    let (route, params) = match_route(&slot.manifest.api_routes, method.as_str(), &path)
        .ok_or_else(|| ApiError::NotFound("Plugin route not found".into()))?;
    match route.get("auth").and_then(Value::as_str).unwrap_or("board") {
        "board" if !actor.is_board() => {
            return Err(ApiError::Forbidden(
                "This plugin route is for the board".into(),
            ))
        }
        "agent" if actor.agent_id().is_none() => {
            return Err(ApiError::Forbidden(
                "This plugin route is for agents".into(),
            ))
        }
        "webhook" => {
            return Err(ApiError::Unprocessable {
                message: "Webhook plugin routes are not enabled".into(),
                details: json!([]),
            })
        }
        _ => {}
    }
    if body.len() > MAX_SCOPED_BODY {
        return Err(ApiError::PayloadTooLarge);
    }
    let body_json: Value = if body.is_empty() {
        Value::Null
    } else {
        let is_json = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("application/json"));
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest {
            message: format!("Invalid JSON body: {e}"),
            details: None,
        })?
    };
    // Company: from the route's declaration, else the agent's own.
    let resolution = route
        .get("companyResolution")
        .cloned()
        .unwrap_or(Value::Null);
    let mut issue = None;
    let company_id: Uuid = match resolution.get("from").and_then(Value::as_str) {
        Some("issue") => {
            let param = resolution
                .get("param")
                .and_then(Value::as_str)
                .unwrap_or("issueId");
            let raw = params.get(param).ok_or_else(|| ApiError::BadRequest {
                message: format!("missing route parameter {param}"),
                details: None,
            })?;
            let mut conn = s.db.session().await?;
            let i = paperclip_store::issues::find(&mut conn, raw).await?;
            conn.close().await?;
            let i = i.ok_or_else(|| ApiError::not_found("Issue"))?;
            let c = i.company_id;
            issue = Some(i);
            c
        }
        Some(from @ ("body" | "query")) => {
            let key = resolution
                .get("key")
                .and_then(Value::as_str)
                .unwrap_or("companyId");
            let raw = if from == "body" {
                body_json
                    .get(key)
                    .and_then(Value::as_str)
                    .map(str::to_string)
            } else {
                q.text(key).map(str::to_string)
            };
            raw.and_then(|r| Uuid::parse_str(&r).ok())
                .ok_or_else(|| ApiError::BadRequest {
                    message: format!("{key} is required to resolve the company"),
                    details: None,
                })?
        }
        _ => match actor.kind {
            paperclip_store::ActorKind::Agent { company_id, .. } => company_id,
            _ => {
                return Err(ApiError::BadRequest {
                    message: "This plugin route cannot resolve a company".into(),
                    details: None,
                })
            }
        },
    };
    if !can_see(&actor, company_id) {
        return Err(ApiError::Forbidden("Not allowed in this company".into()));
    }
    // Checkout policy: an agent working an in-progress issue must hold its checkout.
    if let (Some(agent), Some(i)) = (actor.agent_id(), &issue) {
        let policy = route
            .get("checkoutPolicy")
            .and_then(Value::as_str)
            .unwrap_or("none");
        let must_hold = match policy {
            "always-for-agent" => true,
            "required-for-agent-in-progress" => {
                i.status == "in_progress" && i.assignee_agent_id == Some(agent)
            }
            _ => false,
        };
        if must_hold
            && (actor.run_id.is_none()
                || i.checkout_run_id != actor.run_id
                || i.assignee_agent_id != Some(agent))
        {
            return Err(ApiError::Conflict {
                message: "The agent's run must hold this issue's checkout".into(),
                details: json!({"issueId": i.id, "checkoutRunId": i.checkout_run_id}),
            });
        }
    }
    let safe: serde_json::Map<String, Value> = [
        "accept",
        "content-type",
        "user-agent",
        "x-paperclip-run-id",
        "x-request-id",
    ]
    .iter()
    .filter_map(|h| {
        headers
            .get(*h)
            .and_then(|v| v.to_str().ok())
            .map(|v| (h.to_string(), json!(v)))
    })
    .collect();
    let invocation = s.plugins.begin_invocation(actor.clone(), Some(company_id));
    let request = json!({
        "routeKey": route.get("routeKey"), "method": method.as_str(), "path": path, "params": params, "query": q.0,
        "body": body_json, "companyId": company_id, "headers": safe, "invocationId": invocation,
        "actor": {"actorType": if actor.is_board() { "user" } else { "agent" }, "actorId": actor.actor_id(),
                  "agentId": actor.agent_id(), "userId": actor.user_id(), "runId": actor.run_id},
    });
    let result = worker
        .call("handleApiRequest", request, s.plugins.call_timeout())
        .await;
    s.plugins.end_invocation(&invocation);
    let reply = match result {
        Ok(r) => r,
        Err(e) => {
            let status = StatusCode::from_u16(http_status(&e)).unwrap_or(StatusCode::BAD_GATEWAY);
            return Ok(Forwarded(
                (status, Json(json!({"error": e.message}))).into_response(),
            ));
        }
    };
    let status = reply
        .get("status")
        .and_then(Value::as_u64)
        .filter(|s| (200..=599).contains(s))
        .unwrap_or(200) as u16;
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut response = if status == StatusCode::NO_CONTENT {
        status.into_response()
    } else {
        (
            status,
            Json(reply.get("body").cloned().unwrap_or(Value::Null)),
        )
            .into_response()
    };
    if let Some(h) = reply.get("headers").and_then(Value::as_object) {
        for name in ["cache-control", "etag", "last-modified", "x-request-id"] {
            if let Some(v) = h
                .get(name)
                .and_then(Value::as_str)
                .and_then(|v| v.parse().ok())
            {
                response.headers_mut().insert(name, v);
            }
        }
    }
    Ok(Forwarded(response))
}
