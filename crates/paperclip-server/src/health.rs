//! `GET /api/health`: upstream's shape, plus the database facts operators need.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::AppState;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// 200 with the server's status when the database answers `SELECT 1` on the health connection
/// (its own, so a busy pool cannot fail it): `"ok"`, or `"degraded"` while every connection of
/// the application pool is busy (requests queue). Else 503
/// `{"status":"unhealthy","error":"database_unreachable"}`.
pub async fn get(State(state): State<AppState>) -> Response {
    let info = &state.info;
    if !state.db.ping().await {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "unhealthy",
                "version": VERSION,
                "error": "database_unreachable",
            })),
        )
            .into_response();
    }
    let b = &state.backup;
    let backup = paperclip_backup::health(&b.dir, b.enabled, b.interval_minutes);
    let mut warnings = backup["warnings"].as_array().cloned().unwrap_or_default();
    let pool = state.db.pool_state();
    if pool.saturated() {
        warnings.push(json!(format!(
            "all {} database connections are busy; requests are queueing (DATABASE_POOL_MAX raises the limit)",
            pool.max
        )));
    }
    Json(json!({
        "status": if pool.saturated() { "degraded" } else { "ok" },
        "version": VERSION,
        "serverVersion": VERSION,
        "commit": null,
        "deploymentMode": info.deployment_mode,
        "deploymentExposure": "private",
        "authReady": true,
        "bootstrapStatus": "ready",
        "bootstrapInviteActive": false,
        "features": { "companyDeletionEnabled": true },
        "serverInfo": {
            "processStartedAt": info.started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        },
        "startupRecovery": { "phase": "ready" },
        "database": {
            "mode": info.database_mode,
            "preparedStatements": state.db.prepared_statements(),
            "pool": { "size": pool.size, "idle": pool.idle, "max": pool.max },
        },
        "databaseBackup": backup,
        "backgroundTasks": state.tasks.report(),
        "warnings": warnings,
    }))
    .into_response()
}
