//! `paperclipai db migrate` and `db status`.

use std::process::ExitCode;

use paperclip_config::Settings;
use paperclip_postgres::{url::redact, Ownership};
use paperclip_store::migrate::{self, Approval};
use serde_json::json;

use crate::ui;

pub async fn migrate() -> anyhow::Result<ExitCode> {
    let mut settings = Settings::load_from_process()?;
    let mut target = crate::target::acquire(&mut settings, Ownership::OwnOrAttach).await?;
    ui::info(&format!(
        "Migrating database via {} ({})",
        target.label,
        redact(&target.migration_url)
    ));
    crate::backups::before_migrate(&settings, &target).await?;
    let report = migrate::run(&target.migration_url, target.label, Approval::Apply).await?;
    if report.applied.is_empty() {
        ui::info("No pending migrations.");
    } else {
        ui::info(&format!(
            "Applied {} migration(s): {}",
            report.applied.len(),
            report.applied.join(", ")
        ));
    }
    ui::info("Migrations complete.");
    target.shutdown()?;
    Ok(ExitCode::SUCCESS)
}

pub async fn status(as_json: bool) -> anyhow::Result<ExitCode> {
    let mut settings = Settings::load_from_process()?;
    let mut target = crate::target::acquire(&mut settings, Ownership::OwnOrAttach).await?;
    let mode = if target.embedded.is_some() {
        "embedded-postgres"
    } else {
        "postgres"
    };
    let server_version = paperclip_postgres::pool::server_version(&target.app_url).await;
    let migrations = migrate::status(&target.migration_url).await;
    let (data_dir, port) = match &target.embedded {
        Some(pg) => (Some(pg.data_dir.display().to_string()), Some(pg.port)),
        None => (None, None),
    };
    let ok = migrations.is_ok();
    if as_json {
        let (applied, pending, error) = match &migrations {
            Ok(s) => (
                s.applied.iter().map(|a| a.name.clone()).collect::<Vec<_>>(),
                s.pending_names(),
                None,
            ),
            Err(e) => (Vec::new(), Vec::new(), Some(e.to_string())),
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "mode": mode,
                "url": redact(&target.app_url),
                "migrationUrl": redact(&target.migration_url),
                "serverVersion": server_version.as_ref().ok(),
                "dataDir": data_dir,
                "port": port,
                "appliedMigrations": applied,
                "pendingMigrations": pending,
                "error": error,
            }))?
        );
    } else {
        println!("mode:            {mode}");
        println!("url:             {}", redact(&target.app_url));
        if target.migration_url != target.app_url {
            println!("migration url:   {}", redact(&target.migration_url));
        }
        match &server_version {
            Ok(v) => println!("server version:  {v}"),
            Err(e) => println!("server version:  unknown ({e})"),
        }
        if let (Some(d), Some(p)) = (&data_dir, port) {
            println!("data dir:        {d}");
            println!("port:            {p}");
        }
        match &migrations {
            Ok(s) => {
                println!("applied:         {}", s.applied.len());
                for a in &s.applied {
                    println!(
                        "  {}  {}",
                        a.name,
                        a.applied_at.format("%Y-%m-%d %H:%M:%S UTC")
                    );
                }
                println!("pending:         {}", s.pending.len());
                for name in s.pending_names() {
                    println!("  {name}");
                }
            }
            Err(e) => println!("migrations:      ERROR: {e}"),
        }
    }
    target.shutdown()?;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
