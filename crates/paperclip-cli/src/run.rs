//! `paperclipai run`: database first, then migrations, then HTTP; the reverse on shutdown.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use paperclip_config::{MigrationPolicy, Settings};
use paperclip_postgres::{Db, Ownership};
use paperclip_server::{App, AppConfig};
use paperclip_store::migrate::{self, Approval};
use tokio::net::TcpListener;

use crate::postgres::Consent;
use crate::ui;

/// How long in-flight requests get to finish after Ctrl-C / SIGTERM.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Raises the soft limit of open files to the hard one: the default soft limit (often 1,024)
/// lets a few hundred idle sockets starve the server of descriptors for its own database
/// connections and files.
fn raise_open_file_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                tracing::warn!("cannot raise the open-file limit from {soft} to {hard}: {e}");
            }
        }
    }
}

pub async fn run(maintenance: bool, install: Consent) -> anyhow::Result<ExitCode> {
    let started_at = chrono::Utc::now();
    raise_open_file_limit();
    // First of all: a SIGTERM during startup then stops the server cleanly once it is up
    // (PostgreSQL included) instead of killing the process midway.
    let stop_signal = shutdown_signal().context("cannot install the signal handlers")?;
    let mut settings = Settings::load_from_process()?;
    for w in &settings.warnings {
        tracing::warn!("{w}");
    }
    // One owner per instance: say so before anything else happens.
    if settings.embedded().is_some() {
        if let Some(pid) = paperclip_postgres::InstanceLock::holder(&settings.paths.lock_file()) {
            return Err(paperclip_postgres::DbError::InstanceLocked {
                path: settings.paths.root.clone(),
                pid: (pid != 0).then_some(pid),
            }
            .into());
        }
    }
    // Bind HTTP before touching the database so a taken port fails in milliseconds.
    let listener = bind(&settings).await?;
    crate::postgres::ensure_server_binaries(&settings, install).await?;
    if settings.write_initial_config()? {
        tracing::info!("Wrote {}", settings.config.path().display());
    }

    // A first start runs initdb, which takes seconds: a person at a terminal sees it turn.
    let mut target = {
        let _shown = ui::Activity::start(
            if settings.embedded().is_some() {
                "Starting the database"
            } else {
                "Connecting to the database"
            },
            None,
        );
        crate::target::acquire(&mut settings, Ownership::Own).await?
    };
    let first_run = target.is_first_run();
    crate::backups::before_migrate(&settings, &target).await?;
    let approval = approval(first_run, settings.migration);
    let report = {
        // Never while a question waits for its answer.
        let _shown = matches!(approval, Approval::Apply)
            .then(|| ui::Activity::start("Applying migrations", None));
        migrate::run(&target.migration_url, target.label, approval).await?
    };
    if !report.applied.is_empty() {
        tracing::info!(
            "{}: applied {} migration(s) ({} in total)",
            target.label,
            report.applied.len(),
            report.total_applied
        );
    }
    let db = Db::connect(&target.app_url, &settings.pool).await?;
    let database_mode = if target.embedded.is_some() {
        "embedded-postgres"
    } else {
        "postgres"
    };
    // A postmaster that dies is restarted, and the pool follows it.
    let supervised = match (target.embedded.take(), settings.embedded()) {
        (Some(pg), Some(e)) => Some(paperclip_postgres::embedded::supervise::Supervised::start(
            pg,
            paperclip_postgres::embedded::StartOptions::for_instance(&settings.paths, e),
            db.clone(),
        )),
        (pg, _) => {
            target.embedded = pg;
            None
        }
    };
    // A wrong master key fails here, with both fingerprints, not at the first decrypt.
    let key = {
        let mut conn = db.session().await?;
        let key = paperclip_store::keyring::load_and_verify(&settings.secrets, &mut conn).await?;
        conn.close().await?;
        key
    };

    let mut config = AppConfig::from_settings(
        &settings,
        db.clone(),
        target.migration_url.clone(),
        database_mode,
        key,
    )
    .context("cannot assemble the server")?;
    config.started_at = started_at;
    config.maintenance = maintenance;
    if !config.sandbox.landlock().enforced() {
        tracing::warn!("this kernel has no Landlock: plugin workers are not confined to their own files (docs/PLUGINS.md)");
    }
    let app = App::new(config);
    app.start_background();
    let addr = listener.local_addr()?;
    if maintenance {
        ui::info(
            "Maintenance mode: no agent runs, schedules, plugin workers or scheduled backups.",
        );
    }
    ui::info(&format!("Paperclip listening on http://{addr}"));

    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let mut drain_rx = stop_rx.clone();
    tokio::spawn(async move {
        stop_signal.await;
        let _ = stop_tx.send(true);
    });
    let server = app.serve(listener, async move {
        let _ = stop_rx.changed().await;
    });
    tokio::select! {
        result = server => result.context("HTTP server failed")?,
        _ = async {
            let _ = drain_rx.changed().await;
            tokio::time::sleep(DRAIN_TIMEOUT).await;
        } => tracing::warn!("requests still running after {}s; stopping anyway", DRAIN_TIMEOUT.as_secs()),
    }
    app.shutdown().await;
    if let Some(pg) = supervised {
        pg.shutdown().await?;
    }
    target.shutdown()?;
    ui::info("Paperclip stopped.");
    Ok(ExitCode::SUCCESS)
}

/// Upstream's rules: first run applies; then `PAPERCLIP_MIGRATION_AUTO_APPLY=true` applies,
/// `PAPERCLIP_MIGRATION_PROMPT=never` refuses, a terminal asks, and no terminal applies
/// (Docker, systemd, CI).
fn approval(first_run: bool, policy: MigrationPolicy) -> Approval<'static> {
    if first_run || policy.auto_apply {
        Approval::Apply
    } else if policy.never_prompt {
        Approval::Refuse
    } else if ui::interactive() {
        Approval::Ask(&ask)
    } else {
        Approval::Apply
    }
}

fn ask(names: &[&str]) -> bool {
    let mut summary = names.iter().take(3).copied().collect::<Vec<_>>().join(", ");
    if names.len() > 3 {
        summary.push_str(&format!(", (+{} more)", names.len() - 3));
    }
    ui::confirm(&format!("Apply pending migrations ({summary}) now?"))
}

async fn bind(settings: &Settings) -> anyhow::Result<TcpListener> {
    let addr = SocketAddr::new(settings.server.host, settings.server.port);
    match TcpListener::bind(addr).await {
        Ok(l) => Ok(l),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => anyhow::bail!(
            "HTTP port {} on {} is already in use. Stop the process that uses it, choose another port with PORT=<n> (or server.port in {}), or set PORT=0 for any free port",
            addr.port(),
            addr.ip(),
            settings.config.path().display()
        ),
        Err(e) => Err(e).with_context(|| format!("cannot listen on {addr}")),
    }
}

/// SIGTERM or SIGINT, registered when called (not when first polled): a signal that arrives
/// right after "listening" must start a clean shutdown, not kill the process with PostgreSQL
/// still running.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        ui::info("Shutting down…");
    })
}
