//! Backups that never hurt the server and always restore.
//!
//! A backup is PostgreSQL's own custom-format dump (`pg_dump -Fc`: compressed, complete: schemas
//! including plugin namespaces, data, functions, triggers, sequences), written by a child
//! `pg_dump` straight to a temporary file (never through Paperclip's memory), fsynced, then renamed
//! to `paperclip-YYYYMMDD-HHMMSS.dump`. A sidecar `.json` records what is needed to trust it:
//! size, SHA-256, server and schema versions, per-table row counts and the secrets master key's
//! fingerprint (never the key).

pub mod restore;
pub mod retention;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{Connection, PgConnection};

use paperclip_api_types::health::{BackupHealth, LastFailure, LatestBackup, Warning};

use self::retention::Retention;
use paperclip_postgres::binaries;
use paperclip_postgres::pool::{qa, qs};
use paperclip_postgres::url::quote_ident;
use paperclip_postgres::{DbError, Result};

/// Prefix of every backup file.
pub const PREFIX: &str = "paperclip-";

/// What a backup's sidecar records.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    pub file: String,
    pub created_at: DateTime<Utc>,
    pub size_bytes: u64,
    pub sha256: String,
    pub server_version: String,
    pub database: String,
    pub schema_version: Option<String>,
    pub row_counts: std::collections::BTreeMap<String, i64>,
    /// Fingerprint of the secrets master key the backup's secrets need (never the key).
    pub secrets_key_fingerprint: Option<String>,
    pub duration_ms: u64,
    pub trigger: String,
}

/// A backup file on disk.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Listed {
    pub path: PathBuf,
    pub created_at: DateTime<Utc>,
    pub size_bytes: u64,
    pub meta: Option<Meta>,
}

/// What to back up and where.
#[derive(Debug, Clone)]
pub struct Options<'a> {
    pub url: &'a str,
    pub dir: &'a Path,
    pub retention: Retention,
    pub bin_dir: Option<&'a Path>,
    pub key_fingerprint: Option<String>,
    /// `manual`, `scheduled`, `cli` or `pre-migrate`.
    pub trigger: &'a str,
}

/// The result of a backup.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub backup_file: PathBuf,
    pub size_bytes: u64,
    pub pruned: Vec<PathBuf>,
    pub meta: Meta,
}

fn parse_time(name: &str) -> Option<DateTime<Utc>> {
    let stamp = name.strip_prefix(PREFIX)?.get(..15)?;
    NaiveDateTime::parse_from_str(stamp, "%Y%m%d-%H%M%S")
        .ok()
        .map(|t| t.and_utc())
}

/// Backups in `dir`, newest first (time from the file name, in UTC).
pub fn list(dir: &Path) -> Result<Vec<Listed>> {
    let mut out = scan(dir)?;
    for l in &mut out {
        l.meta = fs::read_to_string(l.path.with_extension("json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
    }
    Ok(out)
}

/// Backups in `dir`, newest first, without reading their sidecars (retention and health, which
/// run often, need only names and sizes).
fn scan(dir: &Path) -> Result<Vec<Listed>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(DbError::io("cannot read backup folder", dir)(e)),
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".dump") {
            continue;
        }
        let Some(created_at) = parse_time(&name) else {
            continue;
        };
        let size_bytes = e.metadata().map_or(0, |m| m.len());
        out.push(Listed {
            path: e.path(),
            created_at,
            size_bytes,
            meta: None,
        });
    }
    out.sort_by_key(|b| std::cmp::Reverse(b.created_at));
    Ok(out)
}

/// Deletes the backups (and sidecars) the retention policy no longer keeps.
pub fn prune(dir: &Path, retention: Retention, now: DateTime<Utc>) -> Result<Vec<PathBuf>> {
    let items: Vec<(PathBuf, DateTime<Utc>)> = scan(dir)?
        .into_iter()
        .map(|l| (l.path, l.created_at))
        .collect();
    let doomed = retention::to_prune(&items, now, retention);
    for p in &doomed {
        fs::remove_file(p).map_err(DbError::io("cannot delete old backup", p))?;
        let _ = fs::remove_file(p.with_extension("json"));
    }
    Ok(doomed)
}

/// Removes temporary files of backups that never finished (a killed process).
fn sweep_partials(dir: &Path) {
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_name().to_string_lossy().ends_with(".partial") {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// Connection facts and row counts of the database at `url`.
pub async fn inspect(
    url: &str,
) -> Result<(
    String,
    u32,
    i64,
    Option<String>,
    std::collections::BTreeMap<String, i64>,
)> {
    let mut conn = paperclip_postgres::pool::connect_direct(url).await?;
    let r = inspect_conn(&mut conn).await;
    let _ = conn.close().await;
    r
}

type Facts = (
    String,
    u32,
    i64,
    Option<String>,
    std::collections::BTreeMap<String, i64>,
);

async fn inspect_conn(conn: &mut PgConnection) -> Result<Facts> {
    let (version, num, size): (String, String, i64) =
        qa("SELECT current_setting('server_version'), current_setting('server_version_num'), pg_database_size(current_database())")
            .fetch_one(&mut *conn)
            .await
            .map_err(DbError::sql("cannot read the server version"))?;
    let major = num.parse::<u32>().unwrap_or(0) / 10000;
    let schema: Option<String> =
        qs("SELECT name FROM paperclip_migrations ORDER BY version DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await
            .unwrap_or(None);
    let tables: Vec<(String, String)> = qa(
        "SELECT table_schema, table_name FROM information_schema.tables
         WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')
         ORDER BY 1, 2",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(DbError::sql("cannot list tables"))?;
    let mut counts = std::collections::BTreeMap::new();
    for (schema_name, table) in tables {
        let qualified = format!("{}.{}", quote_ident(&schema_name), quote_ident(&table));
        let n: i64 = qs(&format!("SELECT count(*) FROM {qualified}"))
            .fetch_one(&mut *conn)
            .await
            .map_err(DbError::sql(format!("cannot count {qualified}")))?;
        counts.insert(format!("{schema_name}.{table}"), n);
    }
    Ok((version, major, size, schema, counts))
}

/// Splits a URL into (URL without password, password): the password goes to `PGPASSWORD`, never
/// into an argument list that `ps` shows.
pub(crate) fn split_password(url: &str) -> (String, Option<String>) {
    // libpq does not know the pooler-only `pgbouncer` parameter.
    let url = paperclip_postgres::pool::strip_param(url, "pgbouncer");
    match url::Url::parse(&url) {
        Ok(mut u) => {
            let pw = u.password().map(percent_decode);
            let _ = u.set_password(None);
            (u.to_string(), pw)
        }
        Err(_) => (url, None),
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map_or_else(|| s.to_string(), |(_, v)| v.into_owned())
}

fn free_bytes(dir: &Path) -> Option<u64> {
    let st = nix::sys::statvfs::statvfs(dir).ok()?;
    Some(st.blocks_available() as u64 * st.fragment_size() as u64)
}

fn sha256_file(path: &Path) -> Result<String> {
    let mut f = fs::File::open(path).map_err(DbError::io("cannot read", path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(DbError::io("cannot read", path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

fn fsync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Makes the backup folder 0700 and every file in it 0600 (backups of older versions were
/// 0644); returns what it changed. `doctor` calls it too.
pub fn tighten(dir: &Path) -> Result<Vec<PathBuf>> {
    use std::os::unix::fs::PermissionsExt;
    let mut changed = Vec::new();
    let mut set = |path: &Path, mode: u32| -> Result<()> {
        let meta = fs::symlink_metadata(path).map_err(DbError::io("cannot stat", path))?;
        if meta.is_symlink() || meta.permissions().mode() & 0o777 == mode {
            return Ok(());
        }
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .map_err(DbError::io("cannot restrict the permissions of", path))?;
        changed.push(path.to_path_buf());
        Ok(())
    };
    if !dir.exists() {
        return Ok(changed);
    }
    set(dir, 0o700)?;
    for entry in fs::read_dir(dir).map_err(DbError::io("cannot read", dir))? {
        let path = entry.map_err(DbError::io("cannot read", dir))?.path();
        if path.is_file() {
            set(&path, 0o600)?;
        }
    }
    Ok(changed)
}

fn private_file(path: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map(drop)
        .map_err(DbError::io("cannot create", path))
}

/// Takes a backup. On any failure nothing is left behind but the error.
pub async fn create(o: &Options<'_>) -> Result<Outcome> {
    let started = Instant::now();
    fs::create_dir_all(o.dir).map_err(DbError::io("cannot create backup folder", o.dir))?;
    tighten(o.dir)?;
    sweep_partials(o.dir);
    let (server_version, major, db_size, schema_version, row_counts) = inspect(o.url).await?;
    // Retention first, so old backups make room for the new one.
    let mut pruned = prune(o.dir, o.retention, Utc::now())?;
    let needed = (db_size as u64 / 2).max(16 << 20);
    if let Some(free) = free_bytes(o.dir) {
        if free < needed {
            return Err(DbError::Unsafe {
                data_dir: o.dir.to_path_buf(),
                reason: format!(
                    "not enough free disk space for a backup: {} MiB free, about {} MiB needed (database is {} MiB)",
                    free >> 20, needed >> 20, db_size >> 20
                ),
            });
        }
    }
    let bins = binaries::locate_client(o.bin_dir, major, "pg_dump")?;
    let now = Utc::now();
    let mut name = format!("{PREFIX}{}", now.format("%Y%m%d-%H%M%S"));
    let mut n = 1;
    while o.dir.join(format!("{name}.dump")).exists() {
        n += 1;
        name = format!("{PREFIX}{}-{n}", now.format("%Y%m%d-%H%M%S"));
    }
    let final_path = o.dir.join(format!("{name}.dump"));
    let partial = o.dir.join(format!(".{name}.dump.partial"));
    // Created 0600 before pg_dump opens it (it keeps an existing file's mode): a backup holds
    // every company's data, and no other account may read it, not even for a moment.
    private_file(&partial)?;
    let (url, password) = split_password(o.url);
    let mut cmd = Command::new(bins.tool("pg_dump"));
    cmd.args(["--format=custom", "--no-owner", "--no-privileges", "--file"])
        .arg(&partial)
        .arg(format!("--dbname={url}"))
        .env("PGCONNECT_TIMEOUT", "10")
        .env("PGAPPNAME", "paperclip-backup")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(pw) = password {
        cmd.env("PGPASSWORD", pw);
    }
    let child = cmd
        .spawn()
        .map_err(DbError::io("cannot run", bins.tool("pg_dump")))?;
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .map_err(|e| DbError::io("pg_dump", PathBuf::from("pg_dump"))(std::io::Error::other(e)))?
        .map_err(DbError::io("cannot wait for", bins.tool("pg_dump")))?;
    if !out.status.success() {
        let _ = fs::remove_file(&partial);
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(DbError::Process {
            what: format!("pg_dump ({})", out.status),
            log: err
                .chars()
                .rev()
                .take(4000)
                .collect::<String>()
                .chars()
                .rev()
                .collect(),
        });
    }
    let finish = || -> Result<(u64, String)> {
        let f = fs::File::open(&partial).map_err(DbError::io("cannot open", &partial))?;
        f.sync_all()
            .map_err(DbError::io("cannot fsync", &partial))?;
        let size = f
            .metadata()
            .map_err(DbError::io("cannot stat", &partial))?
            .len();
        let sha = sha256_file(&partial)?;
        fs::rename(&partial, &final_path)
            .map_err(DbError::io("cannot rename backup to", &final_path))?;
        Ok((size, sha))
    };
    let (size_bytes, sha256) = match finish() {
        Ok(v) => v,
        Err(e) => {
            let _ = fs::remove_file(&partial);
            return Err(e);
        }
    };
    let meta = Meta {
        file: final_path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
        created_at: now,
        size_bytes,
        sha256,
        server_version,
        database: url::Url::parse(&url)
            .map(|u| u.path().trim_start_matches('/').to_string())
            .unwrap_or_default(),
        schema_version,
        row_counts,
        secrets_key_fingerprint: o.key_fingerprint.clone(),
        duration_ms: started.elapsed().as_millis() as u64,
        trigger: o.trigger.to_string(),
    };
    let meta_path = final_path.with_extension("json");
    let tmp = o.dir.join(format!(".{name}.json.partial"));
    private_file(&tmp)?;
    fs::write(
        &tmp,
        serde_json::to_vec_pretty(&meta).expect("serializable"),
    )
    .map_err(DbError::io("cannot write", &tmp))?;
    fs::rename(&tmp, &meta_path).map_err(DbError::io("cannot write", &meta_path))?;
    fsync_dir(o.dir);
    pruned.extend(prune(o.dir, o.retention, Utc::now())?);
    Ok(Outcome {
        backup_file: final_path,
        size_bytes,
        pruned,
        meta,
    })
}

/// Advisory lock key that makes backups single-flight across processes and replicas.
const BACKUP_LOCK: i64 = 0x7063_6261_636b_7570;

/// [`create`], unless another backup of this database is running anywhere (then `None`). The lock
/// is a transaction-level advisory lock held while the dump runs, so it also works through a
/// transaction pooler and is released if this process dies.
pub async fn create_exclusive(
    db: &paperclip_postgres::Db,
    o: &Options<'_>,
) -> Result<Option<Outcome>> {
    let mut tx = db.begin().await?;
    let got: bool = qs("SELECT pg_try_advisory_xact_lock($1)")
        .bind(BACKUP_LOCK)
        .fetch_one(&mut *tx)
        .await
        .map_err(DbError::sql("cannot take the backup lock"))?;
    if !got {
        return Ok(None);
    }
    let result = create(o).await;
    let _ = tx.rollback().await;
    result.map(Some)
}

/// Health of the backups in `dir`: newest backup, staleness, last failure.
pub fn health(dir: &Path, enabled: bool, interval_minutes: u32) -> BackupHealth {
    let max_age_hours = (26u64).max((u64::from(interval_minutes) * 2).div_ceil(60));
    let listed = scan(dir).unwrap_or_default();
    let failure: Option<LastFailure> = fs::read_to_string(dir.join(".last-failure.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let mut warnings = Vec::new();
    let latest = listed.first();
    let warn = |code: &str, message: String| Warning {
        code: code.into(),
        message,
    };
    if enabled {
        match latest {
            None => warnings.push(warn(
                "database_backup_missing",
                format!("No database backups found in {}.", dir.display()),
            )),
            Some(l)
                if Utc::now() - l.created_at > chrono::Duration::hours(max_age_hours as i64) =>
            {
                warnings.push(warn(
                    "database_backup_stale",
                    format!(
                        "The newest database backup is from {}, older than {max_age_hours} hours.",
                        l.created_at.to_rfc3339()
                    ),
                ));
            }
            _ => {}
        }
        if let Some(f) = &failure {
            warnings.push(warn("database_backup_last_failure", f.error.clone()));
        }
    }
    BackupHealth {
        enabled,
        status: if warnings.is_empty() { "ok" } else { "warning" }.into(),
        backup_dir: dir.display().to_string(),
        max_age_hours,
        latest_backup: latest.map(|l| LatestBackup {
            file: l.path.display().to_string(),
            created_at: l.created_at,
            size_bytes: l.size_bytes,
        }),
        last_failure: failure,
        warnings,
    }
}

/// Records (or clears) the last scheduled backup failure for `/api/health`.
pub fn record_failure(dir: &Path, error: Option<&str>) {
    let path = dir.join(".last-failure.json");
    match error {
        Some(e) => {
            let _ = fs::create_dir_all(dir);
            let _ = tighten(dir);
            let _ = private_file(&path);
            let _ = fs::write(
                &path,
                serde_json::json!({"error": e, "at": Utc::now()}).to_string(),
            );
        }
        None => {
            let _ = fs::remove_file(path);
        }
    }
}
