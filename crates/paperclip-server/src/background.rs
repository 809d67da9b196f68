//! The server's periodic work, registered with its [`Supervisor`](crate::tasks::Supervisor).

use std::time::Duration;

use paperclip_backup as backup;

use crate::AppState;

/// Registers this server's periodic tasks (today: scheduled backups, when enabled).
pub fn start(state: &AppState) {
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
