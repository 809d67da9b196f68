//! The server's periodic work, registered with its [`Supervisor`](crate::tasks::Supervisor).

use std::time::Duration;

use paperclip_backup as backup;

use crate::AppState;

/// Registers this server's periodic tasks: routine schedules, the issue tally fold, and
/// scheduled backups when enabled.
pub fn start(state: &AppState) {
    // Every replica runs the round: each claims due schedules with SKIP LOCKED, and a firing's
    // (trigger, time) record makes it happen once however many rounds see it due.
    let db = state.db.clone();
    state
        .tasks
        .every("routineSchedules", Duration::from_secs(1), move || {
            let db = db.clone();
            Box::pin(async move {
                paperclip_store::routines::schedule_round(&db, chrono::Utc::now())
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            })
        });
    // Issue writes append status deltas; folding them keeps the dashboard's sum a few rows long.
    // Every replica may fold: folds are safe beside each other (see `fold_issue_tally`).
    let db = state.db.clone();
    state
        .tasks
        .every("issueTallyFold", Duration::from_secs(5), move || {
            let db = db.clone();
            Box::pin(async move {
                let mut conn = db.session().await.map_err(|e| e.to_string())?;
                paperclip_store::companies::fold_issue_tally(&mut conn)
                    .await
                    .map_err(|e| e.to_string())?;
                conn.close().await.map_err(|e| e.to_string())
            })
        });
    if state.backup.enabled {
        let period = Duration::from_secs(u64::from(state.backup.interval_minutes) * 60);
        let s = state.clone();
        state.tasks.every("scheduledBackups", period, move || {
            let s = s.clone();
            Box::pin(async move { scheduled_backup(&s).await })
        });
    }
}

/// One scheduled backup; single-flight across replicas through the backup's advisory lock.
async fn scheduled_backup(state: &AppState) -> Result<(), String> {
    let b = &state.backup;
    let opts = backup::Options {
        url: &b.url,
        dir: &b.dir,
        retention: b.retention,
        bin_dir: b.bin_dir.as_deref(),
        key_fingerprint: Some(state.secrets.key.fingerprint()),
        trigger: "scheduled",
    };
    match backup::create_exclusive(&state.db, &opts).await {
        Ok(Some(out)) => {
            backup::record_failure(&b.dir, None);
            tracing::info!(
                "Automatic database backup complete: {} ({} bytes)",
                out.backup_file.display(),
                out.size_bytes
            );
            Ok(())
        }
        Ok(None) => {
            tracing::warn!("Skipped a scheduled backup: another backup is running");
            Ok(())
        }
        Err(e) => {
            backup::record_failure(&b.dir, Some(&e.to_string()));
            Err(format!("automatic database backup failed: {e}"))
        }
    }
}
