//! Turning the settings into a database target, for every command that needs one.

use paperclip_config::Settings;
use paperclip_postgres::{Ownership, Target};

/// Resolves the configured database (starting or attaching to the embedded cluster) and records
/// a moved embedded port in `config.json`: the one place the CLI turns settings into a target.
pub async fn acquire(settings: &mut Settings, ownership: Ownership) -> anyhow::Result<Target> {
    let target = Target::acquire(&settings.database, &settings.paths, ownership).await?;
    if let Some(port) = target.moved_to_port {
        settings.record_embedded_port(port)?;
    }
    Ok(target)
}
