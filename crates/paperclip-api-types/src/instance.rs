//! Instance-wide operations.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;

/// Backup retention as answers show it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetentionView {
    pub daily_days: u32,
    pub weekly_weeks: u32,
    pub monthly_months: u32,
}

/// `POST /instance/database-backups`: the backup just taken.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupTaken {
    pub backup_file: PathBuf,
    pub size_bytes: u64,
    pub pruned_count: usize,
    /// `manual` here; `scheduled` for the server's own backups.
    pub trigger: String,
    pub backup_dir: PathBuf,
    pub retention: RetentionView,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub duration_ms: u64,
    /// Fingerprint of the secrets master key the backup's secrets need (never the key).
    pub secrets_key_fingerprint: Option<String>,
}
