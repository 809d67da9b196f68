//! `paperclipai configure --section secrets`, `secrets rotate-master-key`,
//! `secrets migrate-inline-env`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use paperclip_config::Settings;
use paperclip_postgres::{Db, Ownership};
use paperclip_secrets::MasterKey;
use paperclip_store::{self as store, Actor, ActorKind};
use paperclip_store::{keyring, migrate};
use serde_json::Value;
use sqlx::Connection;

use crate::ui;

pub fn configure(
    section: &str,
    provider: Option<String>,
    strict: Option<bool>,
    key_file: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    if section != "secrets" {
        bail!("unknown section {section:?}; supported: secrets");
    }
    let mut settings = Settings::load_from_process()?;
    let current = settings.secrets.clone();
    let nothing_given = provider.is_none() && strict.is_none() && key_file.is_none();
    let (provider, strict, key_file) = if nothing_given && ui::interactive() {
        let p = ui::ask(&format!("Secrets provider (local_encrypted, aws_secrets_manager, gcp_secret_manager, vault) [{}]", current.provider));
        let p = if p.is_empty() {
            current.provider.clone()
        } else {
            p
        };
        if !paperclip_config::SECRET_PROVIDERS.contains(&p.as_str()) {
            bail!("unknown provider {p:?}");
        }
        let strict = ui::confirm("Require secret refs for sensitive env vars?");
        let k = ui::ask(&format!("Master key file [{}]", current.key_file.display()));
        let k = if k.is_empty() {
            current.key_file.clone()
        } else {
            PathBuf::from(k)
        };
        (p, strict, k)
    } else {
        if nothing_given {
            ui::info("No terminal and no flags: nothing to change. Pass --provider, --strict/--no-strict or --key-file.");
        }
        (
            provider.unwrap_or(current.provider.clone()),
            strict.unwrap_or(current.strict_mode),
            key_file.unwrap_or(current.key_file.clone()),
        )
    };
    let key_file = if key_file.is_absolute() {
        key_file
    } else {
        std::env::current_dir()?.join(key_file)
    };
    let cfg = &mut settings.config;
    cfg.set("secrets.provider", Value::from(provider.clone()));
    cfg.set("secrets.strictMode", Value::from(strict));
    cfg.set(
        "secrets.localEncrypted.keyFilePath",
        Value::from(key_file.display().to_string()),
    );
    cfg.save("configure")?;
    println!(
        "Saved secrets settings to {}: provider={provider}, strictMode={strict}, keyFilePath={}",
        cfg.path().display(),
        key_file.display()
    );
    if provider == "local_encrypted" && current.env_key.is_none() {
        let existed = key_file.exists();
        let key = MasterKey::load(None, &key_file, true)?.expect("created");
        if existed {
            println!(
                "Using existing local secrets key file at {} (fingerprint {})",
                key_file.display(),
                key.fingerprint()
            );
        } else {
            println!("Created local secrets key file at {} (fingerprint {}). Back it up with your database backups.", key_file.display(), key.fingerprint());
        }
    } else if provider != "local_encrypted" {
        println!("Note: {provider} is not available in this build; secrets stay with local_encrypted until it is.");
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn rotate_master_key() -> anyhow::Result<ExitCode> {
    let mut settings = Settings::load_from_process()?;
    // Own the instance: a running server holds the old key in memory.
    let mut target = crate::target::acquire(&mut settings, Ownership::Own).await?;
    let status = migrate::status(&target.migration_url).await?;
    if !status.pending.is_empty() {
        bail!("the database has pending migrations; run `paperclipai db migrate` first");
    }
    let mut conn = paperclip_postgres::pool::connect_direct(&target.migration_url).await?;
    let r = keyring::rotate(&settings.secrets, &mut conn).await?;
    let _ = conn.close().await;
    target.shutdown()?;
    println!(
        "Rotated the secrets master key: {} → {}. Re-encrypted {} version(s){}.",
        r.old_fingerprint,
        r.new_fingerprint,
        r.reencrypted,
        if r.already_new > 0 {
            format!(" ({} were already under the new key)", r.already_new)
        } else {
            String::new()
        }
    );
    println!(
        "The old key is kept at {}; keep it with backups taken before today, then delete it.",
        r.backup.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn migrate_inline_env(
    company_id: Option<String>,
    apply: bool,
) -> anyhow::Result<ExitCode> {
    let company_id = company_id.map(|c| uuid_arg(&c)).transpose()?;
    let mut settings = Settings::load_from_process()?;
    let mut target = crate::target::acquire(&mut settings, Ownership::OwnOrAttach).await?;
    let db = Db::connect(&target.app_url, &settings.pool).await?;
    let mut conn = db.session().await?;
    let key = keyring::load_and_verify(&settings.secrets, &mut conn).await?;
    let candidates = store::secrets::inline_candidates(&mut conn, company_id).await?;
    conn.close().await?;
    for c in &candidates {
        println!(
            "agent {} env {} → secret {} ({})",
            c.agent_id, c.env_key, c.secret_name, c.action
        );
    }
    let mut agents: Vec<_> = candidates.iter().map(|c| c.agent_id).collect();
    agents.dedup();
    if !apply {
        println!(
            "Dry run: {} agents would be updated. Re-run with --apply to persist changes.",
            agents.len()
        );
    } else {
        let actor = Actor {
            kind: ActorKind::Board {
                user_id: "migration".into(),
                access: store::BoardAccess::Instance,
            },
            run_id: None,
        };
        let (mut created, mut rotated) = (0, 0);
        for agent in &agents {
            let mut tx = db.begin().await?;
            let (c, r) =
                store::secrets::migrate_agent_inline_env(&mut tx, &actor, &key, *agent).await?;
            tx.commit().await?;
            created += c;
            rotated += r;
        }
        println!(
            "Updated {} agents, created {created} secrets, rotated {rotated} secrets.",
            agents.len()
        );
    }
    db.close().await;
    target.shutdown()?;
    Ok(ExitCode::SUCCESS)
}

fn uuid_arg(raw: &str) -> anyhow::Result<uuid::Uuid> {
    uuid::Uuid::parse_str(raw).with_context(|| format!("--company-id must be a UUID, got {raw:?}"))
}
