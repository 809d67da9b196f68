//! `paperclipai db migrate`, `db status`, `db shell`, `db vacuum` and `db analyze`.

use std::process::ExitCode;

use anyhow::Context;
use paperclip_config::Settings;
use paperclip_postgres::binaries;
use paperclip_postgres::maintenance::{self, Care};
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

/// `db shell [-- psql args]`: psql on the instance's database (the embedded cluster is started
/// for it when no server runs). The password goes through the environment, never argv.
pub async fn shell(args: Vec<String>) -> anyhow::Result<ExitCode> {
    let mut settings = Settings::load_from_process()?;
    let mut target = crate::target::acquire(&mut settings, Ownership::OwnOrAttach).await?;
    let result = async {
        let major = match &target.embedded {
            Some(pg) => pg.bins.major,
            None => paperclip_postgres::pool::server_version(&target.migration_url)
                .await
                .map_err(anyhow::Error::msg)?
                .split(['.', ' '])
                .next()
                .and_then(|m| m.parse().ok())
                .context("cannot read the server's major version")?,
        };
        let bin_dir = settings.embedded().and_then(|e| e.bin_dir.clone());
        let client = binaries::locate_client(bin_dir.as_deref(), major, "psql")?;
        let env = paperclip_postgres::url::libpq_env(&target.migration_url)
            .map_err(anyhow::Error::msg)?;
        let mut child = tokio::process::Command::new(client.tool("psql"))
            .args(&args)
            .envs(env)
            .spawn()
            .context("cannot start psql")?;
        // Ctrl-C belongs to psql (it cancels the query); this process stays to stop the cluster.
        let swallow = tokio::spawn(async { while tokio::signal::ctrl_c().await.is_ok() {} });
        let status = child.wait().await?;
        swallow.abort();
        Ok::<_, anyhow::Error>(ExitCode::from(
            status.code().unwrap_or(1).clamp(0, 255) as u8
        ))
    }
    .await;
    target.shutdown()?;
    result
}

/// `db vacuum [--full]` and `db analyze`.
pub async fn care(care: Care, as_json: bool) -> anyhow::Result<ExitCode> {
    let mut settings = Settings::load_from_process()?;
    let mut target = crate::target::acquire(&mut settings, Ownership::OwnOrAttach).await?;
    if care == Care::VacuumFull && target.lock.is_none() && target.embedded.is_some() {
        ui::info("A server runs on this instance: VACUUM FULL locks each table while it rewrites it, so requests wait. `paperclipai run --maintenance` keeps agents and schedules off meanwhile.");
    }
    let result = maintenance::run(&target.migration_url, care).await;
    target.shutdown()?;
    let report = result?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mib = |b: i64| b as f64 / (1 << 20) as f64;
    println!(
        "{} in {:.1} s: database {:.1} MiB → {:.1} MiB, dead rows {} → {}",
        match care {
            Care::Analyze => "ANALYZE",
            Care::Vacuum => "VACUUM (ANALYZE)",
            Care::VacuumFull => "VACUUM (FULL, ANALYZE)",
        },
        report.took_ms as f64 / 1000.0,
        mib(report.database_bytes_before),
        mib(report.database_bytes_after),
        report.dead_rows_before,
        report.dead_rows_after
    );
    println!("largest tables:");
    for t in &report.largest {
        println!(
            "  {:<32} {:>9.1} MiB  {:>10} live  {:>8} dead",
            t.table,
            mib(t.bytes),
            t.live_rows,
            t.dead_rows
        );
    }
    Ok(ExitCode::SUCCESS)
}
