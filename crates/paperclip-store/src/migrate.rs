//! Paperclip's migrations (the SQL files under `migrations/`) and the entry points that apply
//! them with `paperclip-postgres`'s engine.

use sqlx::PgConnection;

pub use paperclip_postgres::migrate::{checksum, Applied, Approval, Migration, Report, Status};
use paperclip_postgres::Result;

macro_rules! migration {
    ($version:literal, $name:literal) => {
        Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!("../migrations/", $name, ".sql")),
        }
    };
}

/// Paperclip's migrations, in order. Append only: never edit or remove a released entry.
pub const MIGRATIONS: &[Migration] = &[
    migration!(1, "0001_instance_settings"),
    migration!(2, "0002_control_plane"),
    migration!(3, "0003_secrets"),
    migration!(4, "0004_plugins"),
    migration!(5, "0005_issue_relations"),
    migration!(6, "0006_plugin_events"),
    migration!(7, "0007_plugin_config_state"),
    migration!(8, "0008_issue_list_order"),
    migration!(9, "0009_heartbeat_runs"),
    migration!(10, "0010_agent_sessions"),
    migration!(11, "0011_live_events"),
    migration!(12, "0012_labels"),
    migration!(13, "0013_attachments_work_products_inbox"),
    migration!(14, "0014_agent_tombstones"),
    migration!(15, "0015_board_users"),
    migration!(16, "0016_company_scale"),
    migration!(17, "0017_routines"),
    migration!(18, "0018_comment_marks_by_statement"),
];

/// Brings the database at `url` up to date under the migration lock. `label` names the database
/// in messages ("Embedded PostgreSQL", "PostgreSQL").
#[tracing::instrument(level = "debug", skip_all)]
pub async fn run(url: &str, label: &str, approval: Approval<'_>) -> Result<Report> {
    paperclip_postgres::migrate::run_with(url, label, approval, MIGRATIONS).await
}

/// [`run`] with an explicit migration list (tests exercise drift and newer schemas with it).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn run_with(
    url: &str,
    label: &str,
    approval: Approval<'_>,
    known: &[Migration],
) -> Result<Report> {
    paperclip_postgres::migrate::run_with(url, label, approval, known).await
}

/// Inspects the database at `url` without changing it (for `db status` and `doctor`).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn status(url: &str) -> Result<Status> {
    paperclip_postgres::migrate::status_with(url, MIGRATIONS).await
}

/// Reads the state of the database on `conn` against this binary's migrations.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn inspect(conn: &mut PgConnection) -> Result<Status> {
    paperclip_postgres::migrate::inspect_with(conn, MIGRATIONS).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_strictly_increasing_and_names_match_versions() {
        for pair in MIGRATIONS.windows(2) {
            assert!(pair[0].version < pair[1].version);
        }
        for m in MIGRATIONS {
            let prefix: i64 = m.name[..4].parse().unwrap();
            assert_eq!(prefix, m.version, "{}", m.name);
        }
    }
}
