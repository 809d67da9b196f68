//! `GET /health`: upstream's shape, plus the database facts operators need.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Something an operator should look at.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Warning {
    /// Stable code (`database_backup_missing`, `database_pool_saturated`, …).
    pub code: String,
    pub message: String,
}

/// The newest backup file.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LatestBackup {
    pub file: String,
    pub created_at: DateTime<Utc>,
    pub size_bytes: u64,
}

/// The last scheduled backup that failed (cleared by the next success).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct LastFailure {
    pub error: String,
    pub at: Option<DateTime<Utc>>,
}

/// Whether backups are being taken and are fresh.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupHealth {
    pub enabled: bool,
    /// `ok` or `warning`.
    pub status: String,
    pub backup_dir: String,
    pub max_age_hours: u64,
    pub latest_backup: Option<LatestBackup>,
    pub last_failure: Option<LastFailure>,
    pub warnings: Vec<Warning>,
}

/// A background task of the answering server process.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskStatus {
    pub runs: u64,
    pub running: bool,
    pub last_run_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
}

/// The application pool right now.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PoolHealth {
    pub size: u32,
    pub idle: usize,
    pub max: u32,
}

/// Where the database is and how Paperclip talks to it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseHealth {
    /// `embedded-postgres` or `postgres`.
    pub mode: &'static str,
    /// False behind a transaction pooler.
    pub prepared_statements: bool,
    pub pool: PoolHealth,
}

/// Company deletion and other switches clients adapt to.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Features {
    pub company_deletion_enabled: bool,
}

/// Facts about the answering process.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServerFacts {
    pub process_started_at: String,
}

/// Where startup recovery stands.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StartupRecovery {
    /// `pending` (not started), `recovering` (looking for runs a previous server left
    /// running), `ready`, or `failed` (see `error`; expired leases are still recovered later).
    pub phase: String,
    pub updated_at: String,
    /// Runs found lost and marked `process_lost` at startup.
    pub recovered_runs: usize,
    pub error: Option<String>,
}

/// 200: the database answers. `status` is `ok`, or `degraded` while every pool connection is
/// busy (requests queue).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    pub status: &'static str,
    pub version: &'static str,
    pub server_version: &'static str,
    pub commit: Option<String>,
    /// `local_trusted` or `authenticated`.
    pub deployment_mode: String,
    pub deployment_exposure: String,
    pub auth_ready: bool,
    pub bootstrap_status: String,
    pub bootstrap_invite_active: bool,
    pub features: Features,
    pub server_info: ServerFacts,
    pub startup_recovery: StartupRecovery,
    pub database: DatabaseHealth,
    pub database_backup: BackupHealth,
    pub background_tasks: BTreeMap<String, TaskStatus>,
    pub warnings: Vec<Warning>,
}

/// 503: the database does not answer.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Unhealthy {
    /// `unhealthy`.
    pub status: &'static str,
    pub version: &'static str,
    /// `database_unreachable`.
    pub error: &'static str,
}
