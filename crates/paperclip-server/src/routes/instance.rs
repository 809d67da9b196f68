//! Instance-wide operations.

use axum::extract::State;
use paperclip_backup as backup;
use serde_json::json;

use paperclip_api_types::instance::{BackupTaken, RetentionView};

use crate::auth::Auth;
use crate::doc::Created;
use crate::{ApiError, AppState};

/// `POST /api/instance/database-backups`: a backup now, off the request's memory (pg_dump writes
/// the file), single-flight across replicas.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn backup(
    State(s): State<AppState>,
    Auth(actor): Auth,
) -> Result<Created<BackupTaken>, ApiError> {
    crate::auth::require_instance_admin(&actor, "take database backups")?;
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
        Ok(Some(out)) => Ok(Created(BackupTaken {
            backup_file: out.backup_file,
            size_bytes: out.size_bytes,
            pruned_count: out.pruned.len(),
            trigger: "manual".into(),
            backup_dir: b.dir.clone(),
            retention: RetentionView {
                daily_days: b.retention.daily_days,
                weekly_weeks: b.retention.weekly_weeks,
                monthly_months: b.retention.monthly_months,
            },
            started_at: started,
            finished_at: chrono::Utc::now(),
            duration_ms: out.meta.duration_ms,
            secrets_key_fingerprint: out.meta.secrets_key_fingerprint,
        })),
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

/// A backup now for an operation that must not run without one (`trigger` names it); answers
/// the file. 409 while another backup runs; a failed backup stops the operation.
pub async fn take_backup(
    s: &AppState,
    trigger: &'static str,
) -> Result<std::path::PathBuf, ApiError> {
    let b = &s.backup;
    let opts = backup::Options {
        url: &b.url,
        dir: &b.dir,
        retention: b.retention,
        bin_dir: b.bin_dir.as_deref(),
        key_fingerprint: Some(s.secrets.key.fingerprint()),
        trigger,
    };
    match backup::create_exclusive(&s.db, &opts).await {
        Ok(Some(out)) => Ok(out.backup_file),
        Ok(None) => Err(ApiError::Conflict {
            message: "A database backup is already running; try again when it has finished".into(),
            details: json!({}),
        }),
        Err(e) => {
            backup::record_failure(&b.dir, Some(&e.to_string()));
            Err(ApiError::Failed(format!(
                "The backup that must come first failed: {e}"
            )))
        }
    }
}
