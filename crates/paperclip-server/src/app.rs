//! The one way to assemble a server: [`AppConfig`] (settings resolved at the edge) → [`App`]
//! (the handlers' state, the plugin host and the task supervisor), used alike by `paperclipai
//! run`, the server's tests and the plugin SDK's testing host.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use paperclip_config::AuthSettings;
use paperclip_config::Settings;
use paperclip_domain::{DeploymentExposure, DeploymentMode};
use paperclip_postgres::Db;
use paperclip_secrets::MasterKey;
use tokio::net::TcpListener;

use crate::plugin_host::{PluginHost, WorkerSandbox};
use crate::tasks::Supervisor;
use crate::{AppState, BackupState, SecretsState, ServerInfo};
use paperclip_runs::adapters::Registry;
use paperclip_runs::token::RunTokens;
use paperclip_runs::{Engine, EngineConfig};

/// Everything a server needs, resolved once.
#[derive(Debug)]
pub struct AppConfig {
    /// The application pool, connected.
    pub db: Db,
    /// The direct URL (DDL, `LISTEN`, `pg_dump`): `DATABASE_MIGRATION_URL` or the app URL.
    pub migration_url: String,
    /// The secrets master key, verified against the database.
    pub key: MasterKey,
    /// Secrets strict mode.
    pub strict_secrets: bool,
    pub deployment_mode: DeploymentMode,
    /// `private` or `public` (authenticated mode).
    pub exposure: DeploymentExposure,
    /// Board sign-in settings (authenticated mode).
    pub auth: AuthSettings,
    /// Host names besides loopback ones that requests may name.
    pub allowed_hostnames: Vec<String>,
    /// `embedded-postgres` or `postgres` (for `/api/health`).
    pub database_mode: &'static str,
    /// How plugin workers are confined.
    pub sandbox: WorkerSandbox,
    /// Scheduled and manual backups.
    pub backup: BackupState,
    /// When this process started (`/api/health`).
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// The heartbeat engine.
    pub engine: EngineConfig,
    /// `PAPERCLIP_AGENT_JWT_SECRET`, if set (else run tokens are signed with a key derived from
    /// the master key).
    pub agent_jwt_secret: Option<String>,
    /// Attachment storage and upload rules.
    pub files: crate::files::Files,
    /// `DELETE /api/companies/:id` is allowed.
    pub company_deletion: bool,
    /// `run --maintenance`: the API answers, but no agent runs and no schedule fires.
    pub maintenance: bool,
}

/// Why a server could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum AppConfigError {
    #[error("cannot prepare the plugin sandbox: {0}")]
    Sandbox(#[from] paperclip_sandbox::SandboxError),
    #[error("cannot open file storage: {0}")]
    Storage(#[from] paperclip_storage::StorageError),
}

impl AppConfig {
    /// The configuration of `paperclipai run` from its settings and the database it resolved.
    pub fn from_settings(
        settings: &Settings,
        db: Db,
        migration_url: String,
        database_mode: &'static str,
        key: MasterKey,
    ) -> Result<Self, AppConfigError> {
        Ok(Self {
            files: crate::files::Files::open(&settings.storage)?,
            company_deletion: settings.server.company_deletion,
            maintenance: false,
            engine: EngineConfig::new(
                settings.paths.run_logs_dir(),
                migration_url.clone(),
                // Embedded PostgreSQL belongs to this server alone (the instance lock says so).
                database_mode == "embedded-postgres",
            ),
            agent_jwt_secret: settings
                .secrets
                .agent_jwt_secret
                .as_ref()
                .map(|k| k.0.clone()),
            sandbox: WorkerSandbox::new(settings.paths.plugin_data_dir())?,
            backup: BackupState {
                enabled: settings.backup.enabled,
                interval_minutes: settings.backup.interval_minutes,
                dir: settings.backup.dir.clone(),
                url: migration_url.clone(),
                retention: paperclip_backup::retention::Retention::with_days(
                    settings.backup.retention_days,
                ),
                bin_dir: settings.embedded().and_then(|e| e.bin_dir.clone()),
            },
            db,
            migration_url,
            key,
            strict_secrets: settings.secrets.strict_mode,
            deployment_mode: settings.server.deployment_mode,
            exposure: settings.server.exposure,
            auth: settings.server.auth.clone(),
            allowed_hostnames: settings.server.allowed_hostnames.clone(),
            database_mode,
            started_at: chrono::Utc::now(),
        })
    }

    /// A `local_trusted` server over `db` (at `url`) whose files live under `instance`: what
    /// tests and the plugin SDK's testing host run. Scheduled backups are off.
    pub fn local(
        db: Db,
        url: &str,
        key: MasterKey,
        instance: &Path,
    ) -> Result<Self, AppConfigError> {
        Ok(Self {
            files: crate::files::Files::open(&paperclip_config::StorageSettings::local(
                instance.join("data").join("storage"),
            ))?,
            company_deletion: true,
            maintenance: false,
            // A test database may be shared by several servers (replica tests): leases decide.
            engine: EngineConfig::new(
                instance.join("data").join("run-logs"),
                url.to_string(),
                false,
            ),
            agent_jwt_secret: None,
            sandbox: WorkerSandbox::new(instance.join("data").join("plugins"))?,
            backup: BackupState {
                enabled: false,
                interval_minutes: 60,
                dir: instance.join("data").join("backups"),
                url: url.to_string(),
                retention: paperclip_backup::retention::Retention::with_days(7),
                bin_dir: None,
            },
            db,
            migration_url: url.to_string(),
            key,
            strict_secrets: false,
            deployment_mode: DeploymentMode::LocalTrusted,
            exposure: DeploymentExposure::Private,
            auth: AuthSettings {
                disable_sign_up: true,
                session_ttl_secs: 30 * 24 * 3600,
                public_url: None,
                trust_proxy: false,
            },
            allowed_hostnames: Vec::new(),
            database_mode: "postgres",
            started_at: chrono::Utc::now(),
        })
    }
}

/// An assembled server: its state, with the plugin host and the task supervisor inside.
#[derive(Debug, Clone)]
pub struct App {
    pub state: AppState,
}

impl App {
    /// Assembles the state; nothing runs until [`App::start_background`] and [`App::serve`].
    pub fn new(cfg: AppConfig) -> Self {
        let tokens = RunTokens::new(
            cfg.agent_jwt_secret
                .unwrap_or_else(|| cfg.key.derive_hex("agent-run-jwt"))
                .as_bytes(),
        );
        let secrets = Arc::new(SecretsState {
            key: cfg.key,
            strict: cfg.strict_secrets,
        });
        let live = crate::live::Hub::new(cfg.db.clone(), cfg.migration_url.clone());
        let plugins = PluginHost::new(
            cfg.db.clone(),
            cfg.migration_url,
            secrets.clone(),
            cfg.sandbox,
        );
        let runs = Engine::new(
            cfg.engine,
            cfg.db.clone(),
            secrets.clone(),
            tokens,
            Registry::builtin(),
        );
        Self {
            state: AppState {
                files: Arc::new(cfg.files),
                live,
                runs,
                db: cfg.db,
                info: Arc::new(ServerInfo {
                    deployment_mode: cfg.deployment_mode,
                    exposure: cfg.exposure,
                    auth: cfg.auth,
                    allowed_hostnames: cfg.allowed_hostnames,
                    database_mode: cfg.database_mode,
                    started_at: chrono::Utc::now(),
                    company_deletion: cfg.company_deletion,
                    maintenance: cfg.maintenance,
                }),
                secrets,
                backup: Arc::new(cfg.backup),
                plugins,
                tasks: Supervisor::new(),
                reads: Arc::default(),
            },
        }
    }

    /// Starts the background work under the supervisor: the plugin reconciler (workers of
    /// ready plugins; every replica reconciles against the database), the heartbeat engine (its
    /// claim loop, leases and timer) and scheduled backups.
    pub fn start_background(&self) {
        let hub = self.state.live.clone();
        self.state
            .tasks
            .service("liveEvents", move || hub.clone().run_forever());
        let db = self.state.db.clone();
        self.state.tasks.every(
            "liveEventsPrune",
            std::time::Duration::from_secs(3600),
            move || {
                let db = db.clone();
                Box::pin(async move {
                    let mut conn = db.session().await.map_err(|e| e.to_string())?;
                    // A day of events: a client away longer reloads instead of resuming.
                    paperclip_store::live::prune(&mut conn, 1)
                        .await
                        .map_err(|e| e.to_string())?;
                    conn.close().await.map_err(|e| e.to_string())
                })
            },
        );
        if self.state.info.maintenance {
            // Maintenance: the database and the API, nothing that acts on its own. Wakeups
            // queue and routines wait; a normal start picks them up.
            tracing::warn!("maintenance mode: no agent runs, schedules, plugin workers or scheduled backups in this process");
            return;
        }
        let plugins = self.state.plugins.clone();
        self.state.tasks.service("pluginReconciler", move || {
            plugins.clone().reconcile_forever()
        });
        let engine = self.state.runs.clone();
        self.state
            .tasks
            .service("heartbeatEngine", move || engine.clone().claim_forever());
        let engine = self.state.runs.clone();
        self.state.tasks.every(
            "heartbeatLeases",
            std::time::Duration::from_secs(5),
            move || {
                let e = engine.clone();
                Box::pin(async move { e.lease_round().await })
            },
        );
        let engine = self.state.runs.clone();
        self.state.tasks.every(
            "heartbeatTimer",
            std::time::Duration::from_secs(1),
            move || {
                let e = engine.clone();
                Box::pin(async move { e.timer_round().await })
            },
        );
        crate::background::start(&self.state);
    }

    /// Serves the API on `listener` until `shutdown` resolves, then drains in-flight requests.
    pub async fn serve(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        if let Ok(addr) = listener.local_addr() {
            // Agents call back on loopback when the server listens on every address.
            let host = if addr.ip().is_unspecified() {
                "127.0.0.1".to_string()
            } else {
                addr.ip().to_string()
            };
            let host = if host.contains(':') {
                format!("[{host}]")
            } else {
                host
            };
            self.state
                .runs
                .set_api_url(format!("http://{host}:{}/api", addr.port()));
        }
        crate::serve(listener, self.state.clone(), shutdown).await
    }

    /// Stops the background work, the heartbeat runs of this server (recorded as failed with
    /// `server_shutdown`) and the plugin workers, then closes the pool.
    pub async fn shutdown(&self) {
        self.state.tasks.shutdown();
        self.state
            .runs
            .shutdown(std::time::Duration::from_secs(5))
            .await;
        self.state.plugins.stop_all().await;
        self.state.db.close().await;
    }
}
