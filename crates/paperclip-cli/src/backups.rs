//! `paperclipai db backup | backups | restore | verify`, and the backup taken before migrating.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use paperclip_backup::{self as backup, restore, retention::Retention, Meta};
use paperclip_config::Settings;
use paperclip_postgres::{Ownership, Target};
use paperclip_store::migrate;
use serde_json::json;

use crate::ui;

fn bin_dir(settings: &Settings) -> Option<PathBuf> {
    settings.embedded().and_then(|e| e.bin_dir.clone())
}

/// Fingerprint of the secrets key a backup's secrets need (without creating a key).
fn key_fingerprint(settings: &Settings) -> Option<String> {
    let s = &settings.secrets;
    paperclip_secrets::MasterKey::load(s.env_key.as_ref().map(|k| k.0.as_str()), &s.key_file, false)
        .ok()
        .flatten()
        .map(|k| k.fingerprint())
}

pub async fn backup(
    dir: Option<PathBuf>,
    retention_days: Option<u32>,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    let mut settings = Settings::load_from_process()?;
    let dir = dir.unwrap_or_else(|| settings.backup.dir.clone());
    let retention = Retention::with_days(retention_days.unwrap_or(settings.backup.retention_days));
    let mut target = crate::target::acquire(&mut settings, Ownership::OwnOrAttach).await?;
    if !as_json {
        ui::info(&format!(
            "Backing up {} to {}…",
            target.label,
            dir.display()
        ));
    }
    let shown = ui::Activity::start(
        "pg_dump",
        (!as_json).then(|| (dir.clone(), dump_partial as fn(&str) -> bool)),
    );
    let out = backup::create(&backup::Options {
        url: &target.migration_url,
        dir: &dir,
        retention,
        bin_dir: bin_dir(&settings).as_deref(),
        key_fingerprint: key_fingerprint(&settings),
        trigger: "cli",
    })
    .await;
    drop(shown);
    target.shutdown()?;
    let out = out?;
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "backupFile": out.backup_file, "sizeBytes": out.size_bytes, "prunedCount": out.pruned.len(),
                "backupDir": dir, "retentionDays": retention.daily_days,
                "secretsKeyFingerprint": out.meta.secrets_key_fingerprint,
            }))?
        );
    } else {
        println!(
            "{} ({}; pruned {} old backup(s))",
            out.backup_file.display(),
            human(out.size_bytes),
            out.pruned.len()
        );
        if let Some(fp) = &out.meta.secrets_key_fingerprint {
            println!("Its secrets need the master key with fingerprint {fp}: keep that key with this backup.");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

pub fn list(dir: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let settings = Settings::load_from_process()?;
    let dir = dir.unwrap_or_else(|| settings.backup.dir.clone());
    let all = backup::list(&dir)?;
    if all.is_empty() {
        println!("No backups in {}.", dir.display());
    }
    for b in all {
        let age = chrono::Utc::now() - b.created_at;
        let age = if age.num_days() > 0 {
            format!("{}d ago", age.num_days())
        } else if age.num_hours() > 0 {
            format!("{}h ago", age.num_hours())
        } else {
            format!("{}m ago", age.num_minutes())
        };
        let fp = b
            .meta
            .as_ref()
            .and_then(|m| m.secrets_key_fingerprint.clone())
            .unwrap_or_else(|| "-".into());
        println!(
            "{}  {:>10}  {:>8}  key {fp}",
            b.path.display(),
            human(b.size_bytes),
            age
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn read_meta(file: &Path) -> Option<Meta> {
    std::fs::read_to_string(file.with_extension("json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
}

/// The admin URL (database `postgres`) and the live database name of a target.
fn admin_and_live(target: &Target) -> anyhow::Result<(String, String)> {
    let live = restore::database_of(&target.migration_url)?;
    Ok((
        paperclip_postgres::url::with_database(&target.migration_url, "postgres"),
        live,
    ))
}

pub async fn restore(file: PathBuf, yes: bool) -> anyhow::Result<ExitCode> {
    if !file.is_file() {
        bail!("{} is not a file", file.display());
    }
    let mut settings = Settings::load_from_process()?;
    // Own the instance: restoring under a running server would swap its database away.
    let mut target = crate::target::acquire(&mut settings, Ownership::Own).await?;
    let (admin, live) = admin_and_live(&target)?;
    let others = restore::other_sessions(&admin, &live).await?;
    if !others.is_empty() {
        target.shutdown()?;
        bail!("refusing to restore while other sessions use database {live}: {}. Stop the Paperclip server(s) first", others.join(", "));
    }
    let meta = read_meta(&file);
    if let (Some(m), Some(current)) = (
        meta.as_ref()
            .and_then(|m| m.secrets_key_fingerprint.clone()),
        key_fingerprint(&settings),
    ) {
        if m != current {
            ui::info(&format!("warning: this backup's secrets need the master key {m}, but the current key is {current}"));
        }
    }
    if !yes {
        if !ui::interactive() {
            target.shutdown()?;
            bail!("restoring replaces database {live}; pass --yes to confirm");
        }
        if !ui::confirm(&format!(
            "Restore {} over database {live}? The current database is kept under another name",
            file.display()
        )) {
            target.shutdown()?;
            bail!("cancelled");
        }
    }
    let restored = format!(
        "{live}_restore_{}",
        chrono::Utc::now().format("%Y%m%d%H%M%S")
    );
    let run = async {
        ui::info(&format!(
            "1/3 Restoring {} into a new database {restored}…",
            file.display()
        ));
        let shown = ui::Activity::start("pg_restore", None);
        restore::restore_into(&admin, &restored, &file, bin_dir(&settings).as_deref()).await?;
        drop(shown);
        ui::info("2/3 Verifying (migration ledger, row counts)…");
        let restored_url = paperclip_postgres::url::with_database(&target.migration_url, &restored);
        let v = match restore::verify(&restored_url, meta.as_ref()).await {
            Ok(v) => v,
            Err(e) => {
                let _ = restore::drop_database(&admin, &restored).await;
                return Err(anyhow::Error::from(e));
            }
        };
        ui::info(&format!(
            "    {} migrations, {} tables, {} rows{}",
            v.migrations_applied,
            v.tables,
            v.rows,
            match v.counts_match {
                Some(true) => ", row counts match the backup",
                _ => "",
            }
        ));
        ui::info(&format!("3/3 Swapping {restored} in as {live}…"));
        let previous = restore::swap(&admin, &live, &restored).await?;
        anyhow::Ok(previous)
    };
    let result = run.await;
    target.shutdown()?;
    let previous = result?;
    println!("Restored. The previous database is kept as {previous}; drop it when you no longer need it (DROP DATABASE \"{previous}\").");
    Ok(ExitCode::SUCCESS)
}

pub async fn verify(file: PathBuf) -> anyhow::Result<ExitCode> {
    if !file.is_file() {
        bail!("{} is not a file", file.display());
    }
    let mut settings = Settings::load_from_process()?;
    let mut target = crate::target::acquire(&mut settings, Ownership::OwnOrAttach).await?;
    let (admin, _) = admin_and_live(&target)?;
    let scratch = format!(
        "paperclip_verify_{}",
        chrono::Utc::now().format("%Y%m%d%H%M%S")
    );
    let meta = read_meta(&file);
    let result = async {
        let _shown = ui::Activity::start("Restoring into a scratch database", None);
        restore::restore_into(&admin, &scratch, &file, bin_dir(&settings).as_deref()).await?;
        let v = restore::verify(
            &paperclip_postgres::url::with_database(&target.migration_url, &scratch),
            meta.as_ref(),
        )
        .await;
        restore::drop_database(&admin, &scratch).await?;
        v
    }
    .await;
    target.shutdown()?;
    let v = result.with_context(|| format!("{} does not restore", file.display()))?;
    println!(
        "{} restores: {} migrations, {} tables, {} rows{}.",
        file.display(),
        v.migrations_applied,
        v.tables,
        v.rows,
        match v.counts_match {
            Some(true) => ", row counts match the backup",
            Some(false) => ", ROW COUNTS DIFFER",
            None => " (no sidecar to compare row counts)",
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// Before migrating a non-empty database, take a backup so a failed upgrade can be undone
/// (`PAPERCLIP_DB_BACKUP_BEFORE_MIGRATE=false` turns it off).
pub async fn before_migrate(settings: &Settings, target: &Target) -> anyhow::Result<()> {
    if !settings.backup.before_migrate {
        return Ok(());
    }
    let Ok(status) = migrate::status(&target.migration_url).await else {
        return Ok(()); // the migration engine reports the problem itself
    };
    if status.pending.is_empty() || status.is_empty_database() {
        return Ok(());
    }
    ui::info(&format!(
        "Backing up before applying {} migration(s)…",
        status.pending.len()
    ));
    let shown = ui::Activity::start("pg_dump", Some((settings.backup.dir.clone(), dump_partial)));
    let out = backup::create(&backup::Options {
        url: &target.migration_url,
        dir: &settings.backup.dir,
        retention: Retention::with_days(settings.backup.retention_days),
        bin_dir: bin_dir(settings).as_deref(),
        key_fingerprint: key_fingerprint(settings),
        trigger: "pre-migrate",
    })
    .await
    .context("the backup before migrating failed; fix it, or set PAPERCLIP_DB_BACKUP_BEFORE_MIGRATE=false to migrate without one");
    drop(shown);
    let out = out?;
    ui::info(&format!("Backup: {}", out.backup_file.display()));
    Ok(())
}

/// The file a running backup writes.
fn dump_partial(name: &str) -> bool {
    name.ends_with(".dump.partial")
}
