//! `paperclipai doctor`: walks the startup path and prints one line per check, with a fix for
//! each problem. Exit code 1 when anything failed.

use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::ExitCode;

use paperclip_config::{DatabaseTarget, Settings};
use paperclip_postgres::binaries::PgBinaries;
use paperclip_postgres::embedded::cluster::{self, DataDirState};
use paperclip_postgres::embedded::os_user;
use paperclip_postgres::{url::redact, InstanceLock, Ownership, Target};
use paperclip_store::migrate;

struct Report {
    failed: usize,
}

impl Report {
    fn ok(&self, name: &str, detail: impl AsRef<str>) {
        println!("✓ {name}: {}", detail.as_ref());
    }
    fn fail(&mut self, name: &str, problem: impl AsRef<str>, fix: impl AsRef<str>) {
        self.failed += 1;
        println!("✗ {name}: {}", problem.as_ref());
        println!("    fix: {}", fix.as_ref());
    }
    fn note(&self, name: &str, detail: impl AsRef<str>) {
        println!("• {name}: {}", detail.as_ref());
    }
}

pub async fn run() -> anyhow::Result<ExitCode> {
    let mut r = Report { failed: 0 };
    let mut settings = match Settings::load_from_process() {
        Ok(s) => {
            r.ok("config", s.config.path().display().to_string());
            s
        }
        Err(e) => {
            r.fail("config", e.to_string(), "correct the named key or variable");
            return Ok(ExitCode::FAILURE);
        }
    };
    let holder = InstanceLock::holder(&settings.paths.lock_file());
    match holder {
        Some(pid) => r.note(
            "instance",
            format!("in use by a running Paperclip (PID {pid})"),
        ),
        None => r.ok(
            "instance",
            format!("{} (not in use)", settings.paths.root.display()),
        ),
    }
    match &settings.database {
        DatabaseTarget::Embedded(e) => {
            r.note(
                "database mode",
                "embedded PostgreSQL (DATABASE_URL is unset)",
            );
            let installed = settings.paths.postgres_dir();
            match PgBinaries::locate(e.bin_dir.as_deref(), Some(&installed), None) {
                Ok(b) => r.ok(
                    "postgresql binaries",
                    format!("{} in {}", b.version, b.dir.display()),
                ),
                Err(err) => r.fail(
                    "postgresql binaries",
                    err.to_string().lines().next().unwrap_or_default(),
                    format!(
                        "{}, or paperclipai postgres install, or set PAPERCLIP_PG_BIN_DIR",
                        paperclip_postgres::binaries::system_install_hint()
                    ),
                ),
            }
            match os_user::resolve(e.os_user.as_deref()) {
                Ok(Some(u)) => r.ok(
                    "os user",
                    format!("running as root; PostgreSQL runs as {}", u.name),
                ),
                Ok(None) => r.ok("os user", "PostgreSQL runs as the current user"),
                Err(err) => r.fail(
                    "os user",
                    err.to_string().lines().next().unwrap_or_default(),
                    "useradd --system postgres, or set PAPERCLIP_EMBEDDED_POSTGRES_OS_USER",
                ),
            }
            match cluster::classify(&e.data_dir) {
                Ok(DataDirState::Empty) => r.ok(
                    "data dir",
                    format!("{} (empty: will be initialized)", e.data_dir.display()),
                ),
                Ok(DataDirState::Cluster { major }) => {
                    let meta = std::fs::metadata(&e.data_dir)?;
                    let mode = meta.permissions().mode() & 0o777;
                    if mode & 0o077 != 0 {
                        r.fail(
                            "data dir",
                            format!(
                                "{} has mode {mode:o}; PostgreSQL requires 0700 or 0750",
                                e.data_dir.display()
                            ),
                            format!("chmod 700 {}", e.data_dir.display()),
                        );
                    } else {
                        r.ok(
                            "data dir",
                            format!(
                                "{} (PostgreSQL {major} cluster, owner uid {})",
                                e.data_dir.display(),
                                meta.uid()
                            ),
                        );
                    }
                }
                Ok(DataDirState::Incomplete) => r.note(
                    "data dir",
                    "an interrupted initdb; the next start redoes it",
                ),
                Ok(DataDirState::Foreign) => r.fail(
                    "data dir",
                    format!(
                        "{} holds files that are not a PostgreSQL cluster",
                        e.data_dir.display()
                    ),
                    "move them away or set database.embeddedPostgresDataDir to an empty folder",
                ),
                Err(err) => r.fail(
                    "data dir",
                    err.to_string(),
                    "check the folder's permissions",
                ),
            }
            if holder.is_none() {
                if TcpListener::bind(("127.0.0.1", e.port)).is_ok() {
                    r.ok("postgres port", format!("{} is free", e.port));
                } else {
                    r.note(
                        "postgres port",
                        format!(
                            "{} is taken; the next start picks a free port and records it",
                            e.port
                        ),
                    );
                }
            }
        }
        DatabaseTarget::External { url, migration_url } => {
            r.note(
                "database mode",
                format!("external PostgreSQL {}", redact(url)),
            );
            if paperclip_postgres::pool::looks_like_transaction_pooler(url)
                && settings.pool.prepared_statements != Some(true)
            {
                r.note(
                    "pooler",
                    "DATABASE_URL looks like a transaction pooler: prepared statements are off",
                );
            }
            if let Some(m) = migration_url {
                r.note("migration url", redact(m));
            }
        }
    }
    if holder.is_none() {
        let addr = (settings.server.host, settings.server.port);
        if settings.server.port == 0 || TcpListener::bind(addr).is_ok() {
            r.ok("http port", format!("{}:{} is available", addr.0, addr.1));
        } else {
            r.fail(
                "http port",
                format!("{}:{} is in use", addr.0, addr.1),
                "stop the process using it, or set PORT=<n> (PORT=0: any free port)",
            );
        }
    }
    secrets_file_checks(&mut r, &settings);
    // Backups hold every company's data: owner-only, and older 0644 files are tightened here.
    match paperclip_backup::tighten(&settings.backup.dir) {
        Ok(changed) if changed.is_empty() => r.ok(
            "backup permissions",
            format!("{} is owner-only", settings.backup.dir.display()),
        ),
        Ok(changed) => r.ok(
            "backup permissions",
            format!(
                "tightened {} path(s) in {} to owner-only",
                changed.len(),
                settings.backup.dir.display()
            ),
        ),
        Err(e) => r.fail(
            "backup permissions",
            e.to_string(),
            format!(
                "chmod 700 {0} && chmod 600 {0}/*",
                settings.backup.dir.display()
            ),
        ),
    }
    if let Ok(sandbox) =
        paperclip_server::plugin_host::WorkerSandbox::new(settings.paths.plugin_data_dir())
    {
        let account = sandbox.account.as_ref().map_or_else(
            || "the server's user".to_string(),
            |a| format!("account {}", a.name),
        );
        let landlock = sandbox.landlock();
        if landlock.enforced() {
            r.ok(
                "plugin sandbox",
                format!(
                    "workers run as {account}, confined by {}",
                    landlock.describe()
                ),
            );
        } else {
            // A warning, not a failure: it matters only once an untrusted plugin is installed.
            r.note(
                "plugin sandbox",
                format!(
                    "workers run as {account}, but {}: they can read the instance folder; \
                     run on Linux 5.13+ with Landlock enabled, or install only plugins you trust",
                    landlock.describe()
                ),
            );
        }
    }
    // The real startup path, read-only: start (or attach to) the database and inspect migrations.
    match crate::target::acquire(&mut settings, Ownership::OwnOrAttach).await {
        Ok(mut target) => {
            match paperclip_postgres::pool::server_version(&target.app_url).await {
                Ok(v) => r.ok(
                    "connectivity",
                    format!("{} answers (PostgreSQL {v})", target.label),
                ),
                Err(e) => r.fail(
                    "connectivity",
                    e,
                    "check DATABASE_URL, credentials, sslmode and pg_hba.conf",
                ),
            }
            secrets_key_check(&mut r, &settings, &target).await;
            plugin_checks(&mut r, &target).await;
            match migrate::status(&target.migration_url).await {
                Ok(s) if s.pending.is_empty() => r.ok("migrations", format!("{} applied, none pending", s.applied.len())),
                Ok(s) => r.note("migrations", format!("{} pending ({}); they are applied at the next start or by `paperclipai db migrate`", s.pending.len(), s.pending_names().join(", "))),
                Err(e) => r.fail("migrations", e.to_string().lines().next().unwrap_or_default(), e.to_string().lines().nth(1).unwrap_or("see `paperclipai db status`")),
            }
            target.shutdown()?;
        }
        Err(e) => {
            let text = e.to_string();
            let mut lines = text.lines();
            let problem = lines.next().unwrap_or_default().to_string();
            let fix = lines.next().unwrap_or("see the message above").to_string();
            r.fail("database", problem, fix);
        }
    }
    println!();
    if r.failed == 0 {
        println!("All checks passed.");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{} check(s) failed.", r.failed);
        Ok(ExitCode::FAILURE)
    }
}

fn secrets_file_checks(r: &mut Report, settings: &Settings) {
    let s = &settings.secrets;
    if s.provider != "local_encrypted" {
        r.fail(
            "secrets provider",
            format!("{} is not available in this build", s.provider),
            "paperclipai configure --section secrets --provider local_encrypted",
        );
    }
    if s.env_key.is_some() {
        r.ok("secrets key", "from PAPERCLIP_SECRETS_MASTER_KEY");
    } else if !s.key_file.exists() {
        r.note(
            "secrets key",
            format!(
                "{} does not exist yet; the first start creates it (0600)",
                s.key_file.display()
            ),
        );
    } else {
        let mode = std::fs::metadata(&s.key_file).map_or(0, |m| m.permissions().mode() & 0o777);
        if mode & 0o077 != 0 {
            r.fail(
                "secrets key",
                format!(
                    "{} has mode {mode:o}; it must be readable by its owner only",
                    s.key_file.display()
                ),
                format!("chmod 600 {}", s.key_file.display()),
            );
        } else {
            r.ok(
                "secrets key",
                format!("{} (mode 600)", s.key_file.display()),
            );
        }
    }
    let next = paperclip_store::keyring::next_key_path(&s.key_file);
    if next.exists() {
        r.fail(
            "secrets key rotation",
            format!("an interrupted master-key rotation left {}", next.display()),
            "paperclipai secrets rotate-master-key",
        );
    }
    if !s.strict_mode {
        r.note("secrets strict mode", "off: agents may store credentials inline; turn it on with `paperclipai configure --section secrets --strict` (and move existing ones with `paperclipai secrets migrate-inline-env --apply`)");
    }
}

async fn secrets_key_check(r: &mut Report, settings: &Settings, target: &Target) {
    let s = &settings.secrets;
    let key = match paperclip_secrets::MasterKey::load(
        s.env_key.as_ref().map(|k| k.0.as_str()),
        &s.key_file,
        false,
    ) {
        Ok(Some(k)) => k,
        Ok(None) => return,
        Err(e) => {
            r.fail(
                "secrets key",
                e.to_string(),
                "restore the original key file or PAPERCLIP_SECRETS_MASTER_KEY",
            );
            return;
        }
    };
    match paperclip_store::keyring::check_only(&target.app_url, &key).await {
        Ok(true) => r.ok(
            "secrets key check",
            format!("key {} matches the database", key.fingerprint()),
        ),
        Ok(false) => r.note(
            "secrets key check",
            "no check value yet (written at the next start)",
        ),
        Err(e) => r.fail(
            "secrets key check",
            e.to_string().lines().next().unwrap_or_default(),
            "restore the original key file (see docs/SECRETS.md)",
        ),
    }
}

async fn plugin_checks(r: &mut Report, target: &Target) {
    let Ok(mut conn) = paperclip_postgres::pool::connect_direct(&target.migration_url).await else {
        return;
    };
    let Ok(all) = paperclip_store::plugins::list(&mut conn).await else {
        return;
    };
    for p in all.iter().filter(|p| p.status != "uninstalled") {
        let name = format!("plugin {}", p.plugin_key);
        if let Some(e) = &p.last_error {
            r.fail(
                &name,
                format!("{}: {e}", p.status),
                format!(
                    "fix the plugin, then `paperclipai plugin enable {}`",
                    p.plugin_key
                ),
            );
            continue;
        }
        match paperclip_store::plugins::namespace(&mut conn, p.id).await {
            Ok(Some(ns)) if ns.status != "active" => r.fail(&name, format!("namespace {} is {}", ns.namespace_name, ns.status), format!("fix its migrations, then `paperclipai plugin enable {}`", p.plugin_key)),
            Ok(Some(ns)) if ns.isolation != "role" => r.note(&name, format!(
                "namespace {} uses statement checks only: the database user may not create roles; grant CREATEROLE for PostgreSQL-enforced isolation",
                ns.namespace_name
            )),
            Ok(Some(ns)) => r.ok(&name, format!("{} (namespace {}, isolated by role {})", p.status, ns.namespace_name, ns.role_name.unwrap_or_default())),
            _ => r.ok(&name, p.status.clone()),
        }
    }
    let _ = sqlx::Connection::close(conn).await;
}
