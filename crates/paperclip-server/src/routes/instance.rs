//! Instance-wide operations.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use paperclip_backup as backup;
use serde_json::{json, Value};

use crate::auth::{require_board, Auth};
use crate::{ApiError, AppState};

/// `POST /api/instance/database-backups`: a backup now, off the request's memory (pg_dump writes
/// the file), single-flight across replicas.
pub async fn backup(
    State(s): State<AppState>,
    Auth(actor): Auth,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    require_board(&actor, "take database backups")?;
    let b = &s.backup;
    let started = chrono::Utc::now();
    let opts = backup::Options {
        url: &b.url,
        dir: &b.dir,
        retention: b.retention,
        bin_dir: b.bin_dir.as_deref(),
        key_fingerprint: Some(s.secrets.key.fingerprint()),
        trigger: "manual",
    };
    match backup::create_exclusive(&s.db, &opts).await {
        Ok(Some(out)) => Ok((
            StatusCode::CREATED,
            Json(json!({
                "backupFile": out.backup_file, "sizeBytes": out.size_bytes, "prunedCount": out.pruned.len(),
                "trigger": "manual", "backupDir": b.dir, "retention": {
                    "dailyDays": b.retention.daily_days, "weeklyWeeks": b.retention.weekly_weeks, "monthlyMonths": b.retention.monthly_months },
                "startedAt": started, "finishedAt": chrono::Utc::now(), "durationMs": out.meta.duration_ms,
                "secretsKeyFingerprint": out.meta.secrets_key_fingerprint,
            })),
        )),
        Ok(None) => Err(ApiError::Conflict {
            message: "A database backup is already running".into(),
            details: json!({}),
        }),
        Err(e) => {
            backup::record_failure(&b.dir, Some(&e.to_string()));
            Err(ApiError::Failed(format!("Backup failed: {e}")))
        }
    }
}
