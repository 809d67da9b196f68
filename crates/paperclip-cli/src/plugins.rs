//! `paperclipai plugin …`: the registry, straight in the database. Running servers reconcile their
//! workers against it within a few seconds.

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use paperclip_config::Settings;
use paperclip_postgres::Ownership;
use paperclip_store::keyring;
use paperclip_store::plugins::{self, Access, Plugin};

fn show(p: &Plugin) {
    println!(
        "{}  {}  {}{}",
        p.plugin_key,
        p.version,
        p.status,
        p.last_error
            .as_deref()
            .map(|e| format!("  ({e})"))
            .unwrap_or_default()
    );
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Install the plugin in a local folder (with a paperclip-plugin.json) and enable it.
    Install {
        /// The plugin folder.
        path: std::path::PathBuf,
    },
    /// List installed plugins.
    List,
    /// Enable a plugin (re-applies its migrations; running servers start its worker).
    Enable { plugin: String },
    /// Disable a plugin (running servers stop its worker).
    Disable { plugin: String },
    /// Uninstall a plugin; its database schema and data are kept.
    Uninstall { plugin: String },
}

pub async fn run(cmd: PluginCommand) -> anyhow::Result<ExitCode> {
    let mut settings = Settings::load_from_process()?;
    let mut target = crate::target::acquire(&mut settings, Ownership::OwnOrAttach).await?;
    let result = async {
        // The registry lives in the schema: bring a brand-new database up to date, refuse a stale one.
        if target.is_first_run() {
            paperclip_store::migrate::run(&target.migration_url, target.label, paperclip_store::migrate::Approval::Apply).await?;
        } else if !paperclip_store::migrate::status(&target.migration_url).await?.pending.is_empty() {
            anyhow::bail!("the database has pending migrations; run `paperclipai db migrate` first");
        }
        let mut admin = paperclip_postgres::pool::connect_direct(&target.migration_url).await?;
        let key = keyring::load_and_verify(&settings.secrets, &mut admin).await?;
        let access = Access { url: &target.migration_url, key: &key };
        let find = |id: String| {
            let url = target.migration_url.clone();
            async move {
                let mut c = paperclip_postgres::pool::connect_direct(&url).await?;
                plugins::get(&mut c, &id).await?.with_context(|| format!("no plugin {id:?}"))
            }
        };
        match cmd {
            PluginCommand::Install { path } => {
                let p = plugins::install(&mut admin, &access, &path).await?;
                let p = plugins::enable(&mut admin, &access, &p).await?;
                if let Some(ns) = plugins::namespace(&mut admin, p.id).await? {
                    println!("Database namespace {} (isolation: {})", ns.namespace_name, ns.isolation);
                }
                show(&p);
            }
            PluginCommand::List => {
                let all = plugins::list(&mut admin).await?;
                if all.is_empty() {
                    println!("No plugins installed.");
                }
                all.iter().for_each(show);
            }
            PluginCommand::Enable { plugin } => show(&plugins::enable(&mut admin, &access, &find(plugin).await?).await?),
            PluginCommand::Disable { plugin } => show(&plugins::disable(&mut admin, &find(plugin).await?).await?),
            PluginCommand::Uninstall { plugin } => {
                let p = plugins::uninstall(&mut admin, &find(plugin).await?).await?;
                show(&p);
                println!("Its worker stops on running servers; its schema and rows are kept (drop the schema by hand to delete them).");
            }
        }
        anyhow::Ok(())
    }
    .await;
    target.shutdown()?;
    result?;
    Ok(ExitCode::SUCCESS)
}
