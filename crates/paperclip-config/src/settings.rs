//! Typed settings: `config.json` + `.env` + environment, with upstream's precedence.

use std::path::PathBuf;
use std::time::Duration;

use crate::paths::{absolute, expand_tilde};
pub use crate::server::DEFAULT_HTTP_PORT;
use crate::server::{server_settings, ServerSettings};
use crate::storage::{storage_settings, StorageSettings};
use crate::{ConfigError, ConfigFile, Env, InstancePaths, Result};

/// Default port of the embedded PostgreSQL cluster (upstream's).
pub const DEFAULT_EMBEDDED_PORT: u16 = 54329;

/// Everything the binary needs, resolved once.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The instance folders.
    pub paths: InstancePaths,
    /// The parsed `config.json` (possibly not existing yet).
    pub config: ConfigFile,
    /// Which database to use.
    pub database: DatabaseTarget,
    /// Connection pool tuning.
    pub pool: PoolSettings,
    /// HTTP listener.
    pub server: ServerSettings,
    /// What to do with pending migrations.
    pub migration: MigrationPolicy,
    /// Company secrets.
    pub secrets: SecretsSettings,
    /// Database backups.
    pub backup: BackupSettings,
    /// File storage (attachments).
    pub storage: StorageSettings,
    /// Non-fatal remarks about the configuration, shown once at startup.
    pub warnings: Vec<String>,
}

/// Embedded cluster or an external server.
#[derive(Debug, Clone)]
pub enum DatabaseTarget {
    /// A private PostgreSQL cluster managed by Paperclip under the instance folder.
    Embedded(EmbeddedSettings),
    /// `DATABASE_URL` (or `database.connectionString` with `database.mode = "postgres"`).
    External {
        /// Runtime URL, possibly a transaction pooler.
        url: String,
        /// Direct URL for migrations and schema checks (`DATABASE_MIGRATION_URL`).
        migration_url: Option<String>,
    },
}

/// Settings of the embedded cluster.
#[derive(Debug, Clone)]
pub struct EmbeddedSettings {
    /// The cluster's data directory.
    pub data_dir: PathBuf,
    /// Preferred TCP port on 127.0.0.1.
    pub port: u16,
    /// Explicit PostgreSQL binary folder (`PAPERCLIP_PG_BIN_DIR`, `database.embeddedPostgresBinDir`).
    pub bin_dir: Option<PathBuf>,
    /// OS account that runs PostgreSQL when Paperclip runs as root.
    pub os_user: Option<String>,
    /// Stream PostgreSQL's log lines to the console.
    pub verbose: bool,
}

/// Connection pool settings (`DATABASE_POOL_MAX`, …).
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Maximum connections of the application pool.
    pub max_connections: u32,
    /// How long to wait for a connection (connect and acquire).
    pub connect_timeout: Duration,
    /// Close connections idle for longer than this.
    pub idle_timeout: Duration,
    /// `DATABASE_PREPARED_STATEMENTS`; `None` means detect from the URL.
    pub prepared_statements: Option<bool>,
}

/// Backup settings (`PAPERCLIP_DB_BACKUP_*`, `database.backup.*`).
#[derive(Debug, Clone)]
pub struct BackupSettings {
    /// Scheduled backups in the server.
    pub enabled: bool,
    /// Minutes between scheduled backups.
    pub interval_minutes: u32,
    /// Days during which every backup is kept (the daily tier).
    pub retention_days: u32,
    /// Where backups go.
    pub dir: PathBuf,
    /// Back up a non-empty database before applying migrations to it.
    pub before_migrate: bool,
}

/// Backups keep every file for this many days (daily tier) by default…
pub const DEFAULT_RETENTION_DAYS: u32 = 7;

/// Secrets settings (`PAPERCLIP_SECRETS_*`, `secrets.*`).
#[derive(Debug, Clone)]
pub struct SecretsSettings {
    /// `local_encrypted` (the only provider this build runs), or an external one (not configured).
    pub provider: String,
    /// Refuse new inline values for sensitive env keys.
    pub strict_mode: bool,
    /// The local master key file.
    pub key_file: PathBuf,
    /// `PAPERCLIP_SECRETS_MASTER_KEY`, when set (takes precedence over the file).
    pub env_key: Option<EnvKey>,
    /// `PAPERCLIP_AGENT_JWT_SECRET`, when set: signs run tokens. Otherwise they are signed with a
    /// key derived from the master key, which every replica shares already.
    pub agent_jwt_secret: Option<EnvKey>,
}

/// The value of `PAPERCLIP_SECRETS_MASTER_KEY`; never printed.
#[derive(Clone)]
pub struct EnvKey(pub String);

impl std::fmt::Debug for EnvKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EnvKey(***)")
    }
}

/// Secret providers upstream knows.
pub const SECRET_PROVIDERS: &[&str] = &[
    "local_encrypted",
    "aws_secrets_manager",
    "gcp_secret_manager",
    "vault",
];

/// Upstream's rules for pending migrations on a non-empty database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigrationPolicy {
    /// `PAPERCLIP_MIGRATION_AUTO_APPLY=true`.
    pub auto_apply: bool,
    /// `PAPERCLIP_MIGRATION_PROMPT=never`.
    pub never_prompt: bool,
}

impl Settings {
    /// Resolves settings from the process environment (plus `.env` files).
    pub fn load_from_process() -> Result<Self> {
        Self::resolve(Env::from_process())
    }

    /// Resolves settings from `env`: finds `config.json`, merges the `.env` beside it (and the
    /// working directory's) without overriding, then reads every key once.
    pub fn resolve(mut env: Env) -> Result<Self> {
        let paths = InstancePaths::resolve(&env)?;
        let config_path = config_path(&env, &paths)?;
        if let Some(dir) = config_path.parent() {
            env.merge_dotenv(&dir.join(".env"))?;
        }
        if let Ok(cwd) = std::env::current_dir() {
            let cwd_env = cwd.join(".env");
            if config_path.parent().map(|d| d.join(".env")) != Some(cwd_env.clone()) {
                env.merge_dotenv(&cwd_env)?;
            }
        }
        let config = ConfigFile::load(&config_path)?;
        let mut warnings = Vec::new();
        let database = database_target(&env, &config, &paths, &mut warnings)?;
        let pool = PoolSettings {
            max_connections: env.positive_u32("DATABASE_POOL_MAX")?.unwrap_or(10),
            connect_timeout: env
                .seconds("DATABASE_CONNECT_TIMEOUT_SECONDS")?
                .unwrap_or(Duration::from_secs(30)),
            idle_timeout: env
                .seconds("DATABASE_IDLE_TIMEOUT_SECONDS")?
                .unwrap_or(Duration::from_secs(300)),
            prepared_statements: env.bool("DATABASE_PREPARED_STATEMENTS")?,
        };
        let server = server_settings(&env, &config)?;
        let migration = MigrationPolicy {
            auto_apply: env.bool("PAPERCLIP_MIGRATION_AUTO_APPLY")?.unwrap_or(false),
            never_prompt: match env.get("PAPERCLIP_MIGRATION_PROMPT") {
                None => false,
                Some(v) if v.eq_ignore_ascii_case("never") => true,
                Some(v) if v.eq_ignore_ascii_case("ask") => false,
                Some(v) => {
                    return Err(ConfigError::InvalidEnv {
                        var: "PAPERCLIP_MIGRATION_PROMPT",
                        expected: "must be \"never\" or \"ask\"",
                        value: v.to_string(),
                    })
                }
            },
        };
        let secrets = secrets_settings(&env, &config, &paths, &server)?;
        let backup = backup_settings(&env, &config, &paths)?;
        let storage = storage_settings(&env, &config, &paths)?;
        Ok(Self {
            paths,
            config,
            database,
            pool,
            server,
            migration,
            secrets,
            backup,
            storage,
            warnings,
        })
    }

    /// The embedded settings, if this instance uses the embedded cluster.
    pub fn embedded(&self) -> Option<&EmbeddedSettings> {
        match &self.database {
            DatabaseTarget::Embedded(e) => Some(e),
            DatabaseTarget::External { .. } => None,
        }
    }

    /// Writes the resolved defaults into `config.json` when it does not exist yet, so the user
    /// can see and edit them (upstream's `onboard` does the same).
    pub fn write_initial_config(&mut self) -> Result<bool> {
        if self.config.existed() {
            return Ok(false);
        }
        use serde_json::Value;
        let cfg = &mut self.config;
        match &self.database {
            DatabaseTarget::Embedded(e) => {
                cfg.set("database.mode", Value::from("embedded-postgres"));
                cfg.set(
                    "database.embeddedPostgresDataDir",
                    Value::from(e.data_dir.display().to_string()),
                );
                cfg.set("database.embeddedPostgresPort", Value::from(e.port));
            }
            DatabaseTarget::External { .. } => {
                // The URL came from the environment; do not copy a password into a file.
                cfg.set("database.mode", Value::from("postgres"));
            }
        }
        cfg.set(
            "server.deploymentMode",
            Value::from(self.server.deployment_mode.as_str()),
        );
        // Defaults, not this run's HOST/PORT overrides: the environment keeps overriding later.
        cfg.set("server.host", Value::from("127.0.0.1"));
        cfg.set("server.port", Value::from(DEFAULT_HTTP_PORT));
        cfg.set(
            "secrets.provider",
            Value::from(self.secrets.provider.clone()),
        );
        cfg.set("secrets.strictMode", Value::from(self.secrets.strict_mode));
        cfg.set(
            "secrets.localEncrypted.keyFilePath",
            Value::from(self.secrets.key_file.display().to_string()),
        );
        cfg.save("onboard")?;
        Ok(true)
    }

    /// Records the embedded port actually used, so the next start prefers it.
    pub fn record_embedded_port(&mut self, port: u16) -> Result<()> {
        if let DatabaseTarget::Embedded(e) = &mut self.database {
            if e.port == port {
                return Ok(());
            }
            e.port = port;
        }
        self.config.set(
            "database.embeddedPostgresPort",
            serde_json::Value::from(port),
        );
        self.config.save("run")
    }
}

fn secrets_settings(
    env: &Env,
    config: &ConfigFile,
    paths: &InstancePaths,
    server: &ServerSettings,
) -> Result<SecretsSettings> {
    let provider = match env.get("PAPERCLIP_SECRETS_PROVIDER") {
        Some(p) if SECRET_PROVIDERS.contains(&p) => p.to_string(),
        Some(p) => {
            return Err(ConfigError::InvalidEnv {
                var: "PAPERCLIP_SECRETS_PROVIDER",
                expected:
                    "must be local_encrypted, aws_secrets_manager, gcp_secret_manager or vault",
                value: p.to_string(),
            })
        }
        None => match config.string("secrets.provider")? {
            Some(p) if SECRET_PROVIDERS.contains(&p.as_str()) => p,
            Some(_) => {
                return Err(config.invalid(
                    "secrets.provider",
                    "must be local_encrypted, aws_secrets_manager, gcp_secret_manager or vault",
                ))
            }
            None => "local_encrypted".into(),
        },
    };
    let strict_mode = match env.bool("PAPERCLIP_SECRETS_STRICT_MODE")? {
        Some(b) => b,
        None => config
            .boolean("secrets.strictMode")?
            .unwrap_or(server.deployment_mode == paperclip_domain::DeploymentMode::Authenticated),
    };
    let key_file = match env.get("PAPERCLIP_SECRETS_MASTER_KEY_FILE") {
        Some(f) => absolute(&expand_tilde(f, env)?),
        None => match config.string("secrets.localEncrypted.keyFilePath")? {
            Some(f) => absolute(&expand_tilde(&f, env)?),
            None => paths.secrets_dir().join("master.key"),
        },
    };
    Ok(SecretsSettings {
        provider,
        strict_mode,
        key_file,
        env_key: env
            .get("PAPERCLIP_SECRETS_MASTER_KEY")
            .map(|k| EnvKey(k.to_string())),
        agent_jwt_secret: env
            .get("PAPERCLIP_AGENT_JWT_SECRET")
            .filter(|k| !k.trim().is_empty())
            .map(|k| EnvKey(k.to_string())),
    })
}

fn backup_settings(
    env: &Env,
    config: &ConfigFile,
    paths: &InstancePaths,
) -> Result<BackupSettings> {
    let enabled = match env.bool("PAPERCLIP_DB_BACKUP_ENABLED")? {
        Some(b) => b,
        None => config.boolean("database.backup.enabled")?.unwrap_or(true),
    };
    let interval_minutes = match env.positive_u32("PAPERCLIP_DB_BACKUP_INTERVAL_MINUTES")? {
        Some(n) => n,
        None => config
            .integer("database.backup.intervalMinutes", 1, 10080)?
            .map_or(60, |n| n as u32),
    };
    let retention_days = match env.positive_u32("PAPERCLIP_DB_BACKUP_RETENTION_DAYS")? {
        Some(n) => n,
        None => config
            .integer("database.backup.retentionDays", 1, 3650)?
            .map_or(DEFAULT_RETENTION_DAYS, |n| n as u32),
    };
    let dir = match env.get("PAPERCLIP_DB_BACKUP_DIR") {
        Some(d) => absolute(&expand_tilde(d, env)?),
        None => match config.string("database.backup.dir")? {
            Some(d) => absolute(&expand_tilde(&d, env)?),
            None => paths.backups_dir(),
        },
    };
    Ok(BackupSettings {
        enabled,
        interval_minutes,
        retention_days,
        dir,
        before_migrate: env
            .bool("PAPERCLIP_DB_BACKUP_BEFORE_MIGRATE")?
            .unwrap_or(true),
    })
}

fn config_path(env: &Env, paths: &InstancePaths) -> Result<PathBuf> {
    if let Some(p) = env.get("PAPERCLIP_CONFIG") {
        return Ok(absolute(&expand_tilde(p, env)?));
    }
    if let Ok(cwd) = std::env::current_dir() {
        for dir in cwd.ancestors() {
            let candidate = dir.join(".paperclip").join("config.json");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Ok(paths.root.join("config.json"))
}

fn database_target(
    env: &Env,
    config: &ConfigFile,
    paths: &InstancePaths,
    warnings: &mut Vec<String>,
) -> Result<DatabaseTarget> {
    let mode = config
        .string("database.mode")?
        .unwrap_or_else(|| "embedded-postgres".into());
    if !["embedded-postgres", "postgres", "pglite"].contains(&mode.as_str()) {
        return Err(config.invalid(
            "database.mode",
            &format!("must be \"embedded-postgres\" or \"postgres\", got {mode:?}"),
        ));
    }
    let migration_url = env.get("DATABASE_MIGRATION_URL").map(str::to_string);
    if let Some(url) = env.get("DATABASE_URL") {
        check_url("DATABASE_URL", url)?;
        if let Some(m) = &migration_url {
            check_url("DATABASE_MIGRATION_URL", m)?;
        }
        return Ok(DatabaseTarget::External {
            url: url.to_string(),
            migration_url,
        });
    }
    if mode == "postgres" {
        if let Some(url) = config.string("database.connectionString")? {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return Err(config.invalid(
                    "database.connectionString",
                    "must start with postgres:// or postgresql://",
                ));
            }
            return Ok(DatabaseTarget::External { url, migration_url });
        }
        warnings.push(
            "database.mode is \"postgres\" but no connection string was set; using the embedded PostgreSQL"
                .into(),
        );
    }
    if migration_url.is_some() {
        warnings.push("DATABASE_MIGRATION_URL is ignored in embedded mode".into());
    }
    let data_dir = match config
        .string("database.embeddedPostgresDataDir")?
        .or(config.string("database.pgliteDataDir")?)
    {
        Some(d) => absolute(&expand_tilde(&d, env)?),
        None => paths.db_dir(),
    };
    let port = match env.port("PAPERCLIP_EMBEDDED_POSTGRES_PORT", false)? {
        Some(p) => p,
        None => config
            .integer("database.embeddedPostgresPort", 1, 65535)?
            .map_or(DEFAULT_EMBEDDED_PORT, |p| p as u16),
    };
    let bin_dir = match env.get("PAPERCLIP_PG_BIN_DIR") {
        Some(d) => Some(PathBuf::from(d)),
        None => config
            .string("database.embeddedPostgresBinDir")?
            .map(|d| expand_tilde(&d, env))
            .transpose()?,
    };
    Ok(DatabaseTarget::Embedded(EmbeddedSettings {
        data_dir,
        port,
        bin_dir,
        os_user: env
            .get("PAPERCLIP_EMBEDDED_POSTGRES_OS_USER")
            .map(str::to_string),
        verbose: env
            .bool("PAPERCLIP_EMBEDDED_POSTGRES_VERBOSE")?
            .unwrap_or(false),
    }))
}

fn check_url(var: &'static str, url: &str) -> Result<()> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(())
    } else {
        Err(ConfigError::InvalidEnv {
            var,
            expected: "must be a postgres:// or postgresql:// URL",
            value: redact_for_error(url),
        })
    }
}

/// Never echo a password back, even in an error about a malformed URL.
fn redact_for_error(url: &str) -> String {
    match url.rfind('@') {
        Some(at) => format!("***{}", &url[at..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn env_with_home(dir: &Path, extra: &[(&str, &str)]) -> Env {
        let mut env = Env::from_pairs([
            ("HOME", dir.to_str().unwrap()),
            ("PAPERCLIP_HOME", dir.join("pc").to_str().unwrap()),
        ]);
        for (k, v) in extra {
            env.set(*k, *v);
        }
        env
    }

    #[test]
    fn no_database_url_means_embedded_with_upstream_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::resolve(env_with_home(dir.path(), &[])).unwrap();
        let e = s.embedded().expect("embedded");
        assert_eq!(e.port, DEFAULT_EMBEDDED_PORT);
        assert_eq!(e.data_dir, dir.path().join("pc/instances/default/db"));
        assert_eq!(s.server.port, DEFAULT_HTTP_PORT);
        assert_eq!(s.pool.max_connections, 10);
    }

    #[test]
    fn database_url_selects_external_mode_with_migration_url() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::resolve(env_with_home(
            dir.path(),
            &[
                ("DATABASE_URL", "postgres://a:b@pooler:6543/db"),
                ("DATABASE_MIGRATION_URL", "postgres://a:b@direct:5432/db"),
            ],
        ))
        .unwrap();
        match s.database {
            DatabaseTarget::External { url, migration_url } => {
                assert!(url.contains("6543"));
                assert!(migration_url.unwrap().contains("5432"));
            }
            other => panic!("expected external, got {other:?}"),
        }
    }

    #[test]
    fn instance_dotenv_is_merged_without_overriding_the_process() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("pc/instances/default");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join(".env"), "DATABASE_POOL_MAX=7\nPORT=4000\n").unwrap();
        let s = Settings::resolve(env_with_home(dir.path(), &[("PORT", "4100")])).unwrap();
        assert_eq!(s.pool.max_connections, 7);
        assert_eq!(s.server.port, 4100);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        for (var, value) in [
            ("DATABASE_POOL_MAX", "0"),
            ("DATABASE_CONNECT_TIMEOUT_SECONDS", "soon"),
            ("DATABASE_IDLE_TIMEOUT_SECONDS", "-1"),
            ("DATABASE_PREPARED_STATEMENTS", "perhaps"),
            ("PORT", "99999"),
            ("DATABASE_URL", "mysql://x"),
            ("PAPERCLIP_MIGRATION_PROMPT", "sometimes"),
            ("HOST", "0.0.0.0"),
            ("PAPERCLIP_SECRETS_PROVIDER", "keychain"),
            ("PAPERCLIP_SECRETS_STRICT_MODE", "strict"),
        ] {
            let err = Settings::resolve(env_with_home(dir.path(), &[(var, value)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(var), "{var}: {err}");
        }
    }

    #[test]
    fn bad_config_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("pc/instances/default");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(
            root.join("config.json"),
            r#"{"database":{"mode":"embedded-postgres","embeddedPostgresPort":70000}}"#,
        )
        .unwrap();
        let err = Settings::resolve(env_with_home(dir.path(), &[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("database.embeddedPostgresPort"), "{err}");
    }

    #[test]
    fn initial_config_records_the_resolved_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Settings::resolve(env_with_home(dir.path(), &[])).unwrap();
        assert!(s.write_initial_config().unwrap());
        s.record_embedded_port(55555).unwrap();
        let again = Settings::resolve(env_with_home(dir.path(), &[])).unwrap();
        assert_eq!(again.embedded().unwrap().port, 55555);
    }
}
