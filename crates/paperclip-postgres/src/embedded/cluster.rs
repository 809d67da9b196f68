//! The data directory: what state it is in, creating it with `initdb`, and its credentials.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::os_user::RunAs;
use crate::binaries::PgBinaries;
use crate::{DbError, Result};

/// The superuser Paperclip creates in its own cluster.
pub const SUPERUSER: &str = "paperclip";

/// What we found at the data directory path.
#[derive(Debug, PartialEq, Eq)]
pub enum DataDirState {
    /// Missing or an empty folder: safe to `initdb`.
    Empty,
    /// A PostgreSQL cluster of this major version.
    Cluster { major: u32 },
    /// An `initdb` of ours that did not finish (marker present): safe to clear and redo.
    Incomplete,
    /// Files that are not a cluster and not ours: never touched.
    Foreign,
}

/// Marker written beside the data directory while `initdb` runs. Its presence proves that the
/// directory's contents are an unfinished `initdb` of ours and hold no data.
pub fn initdb_marker(data_dir: &Path) -> PathBuf {
    let name = data_dir
        .file_name()
        .map_or_else(|| "db".into(), |n| n.to_string_lossy().into_owned());
    data_dir.with_file_name(format!(".{name}.initdb-in-progress"))
}

/// Classifies the data directory.
pub fn classify(data_dir: &Path) -> Result<DataDirState> {
    if initdb_marker(data_dir).exists() {
        return Ok(DataDirState::Incomplete);
    }
    let mut entries = match fs::read_dir(data_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(DataDirState::Empty),
        Err(e) => return Err(DbError::io("cannot read data directory", data_dir)(e)),
    };
    if entries.next().is_none() {
        return Ok(DataDirState::Empty);
    }
    match fs::read_to_string(data_dir.join("PG_VERSION")) {
        Ok(v) => match v.trim().parse::<u32>() {
            Ok(major) => Ok(DataDirState::Cluster { major }),
            Err(_) => Ok(DataDirState::Foreign),
        },
        Err(_) => Ok(DataDirState::Foreign),
    }
}

/// Credentials of the embedded cluster, generated at `initdb` and kept 0600 in the instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl Credentials {
    /// A fresh superuser password (32 random alphanumerics, ~190 bits).
    pub fn generate() -> Self {
        let password = rand::thread_rng()
            .sample_iter(&Alphanumeric)
            .take(32)
            .map(char::from)
            .collect();
        Self {
            user: SUPERUSER.to_string(),
            password,
        }
    }

    /// Reads the credentials file, `None` if it does not exist.
    pub fn load(path: &Path) -> Result<Option<Self>> {
        match fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
                DbError::io("cannot parse credentials file", path)(std::io::Error::other(e))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(DbError::io("cannot read credentials file", path)(e)),
        }
    }

    /// Writes the credentials file with mode 0600 in a 0700 folder, atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let dir = path.parent().expect("credentials live in a folder");
        create_private_dir(dir)?;
        let tmp = path.with_extension("tmp");
        let text = serde_json::to_string_pretty(self).expect("serializable");
        let write = || -> std::io::Result<()> {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            fs::rename(&tmp, path)
        };
        write().map_err(DbError::io("cannot write credentials file", path))
    }
}

/// Creates a folder with mode 0700 (and its parents).
pub fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(DbError::io("cannot create", dir))?;
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(DbError::io("cannot set permissions on", dir))
}

/// Runs `initdb` into an empty `data_dir`: UTF8, C locale (always available), SCRAM auth, and
/// a generated superuser password. The marker makes an interrupted run recognisable.
pub fn initdb(
    bins: &PgBinaries,
    data_dir: &Path,
    creds: &Credentials,
    run_as: Option<&RunAs>,
) -> Result<()> {
    let marker = initdb_marker(data_dir);
    fs::write(&marker, b"initdb started by paperclip\n")
        .map_err(DbError::io("cannot write", &marker))?;
    create_private_dir(data_dir)?;
    let pwfile = data_dir.with_file_name(format!(".pwfile-{}", rand::thread_rng().gen::<u64>()));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&pwfile)
            .map_err(DbError::io("cannot write", &pwfile))?;
        f.write_all(creds.password.as_bytes())
            .map_err(DbError::io("cannot write", &pwfile))?;
        drop(f);
        if let Some(r) = run_as {
            r.own_recursively(data_dir)?;
            r.own_recursively(&pwfile)?;
        }
        let mut cmd = Command::new(bins.tool("initdb"));
        cmd.arg("-D")
            .arg(data_dir)
            .arg("-U")
            .arg(&creds.user)
            .arg(format!("--pwfile={}", pwfile.display()))
            .args([
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--lc-messages=C",
            ])
            .current_dir("/")
            .stdin(Stdio::null())
            .env("LC_ALL", "C");
        if let Some(r) = run_as {
            r.apply(&mut cmd);
        }
        let out = cmd
            .output()
            .map_err(DbError::io("cannot run", bins.tool("initdb")))?;
        if !out.status.success() {
            return Err(DbError::Process {
                what: format!("initdb in {}", data_dir.display()),
                log: format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            });
        }
        Ok(())
    })();
    let _ = fs::remove_file(&pwfile);
    result?;
    fs::remove_file(&marker).map_err(DbError::io("cannot remove", &marker))?;
    Ok(())
}

/// Clears the contents of an `initdb` of ours that never finished (proved by the marker).
pub fn clear_incomplete(data_dir: &Path) -> Result<()> {
    if data_dir.exists() {
        fs::remove_dir_all(data_dir).map_err(DbError::io("cannot clear", data_dir))?;
    }
    Ok(())
}

/// The cluster's system identifier, read from `global/pg_control` (its first 8 bytes).
pub fn system_identifier(data_dir: &Path) -> Option<i64> {
    let bytes = fs::read(data_dir.join("global").join("pg_control")).ok()?;
    let first: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
    Some(i64::from_ne_bytes(first))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_empty_foreign_cluster_and_incomplete_dirs() {
        let root = tempfile::tempdir().unwrap();
        let d = root.path().join("db");
        assert_eq!(classify(&d).unwrap(), DataDirState::Empty);
        fs::create_dir(&d).unwrap();
        assert_eq!(classify(&d).unwrap(), DataDirState::Empty);
        fs::write(d.join("notes.txt"), "mine").unwrap();
        assert_eq!(classify(&d).unwrap(), DataDirState::Foreign);
        fs::write(d.join("PG_VERSION"), "15\n").unwrap();
        assert_eq!(classify(&d).unwrap(), DataDirState::Cluster { major: 15 });
        fs::write(initdb_marker(&d), "").unwrap();
        assert_eq!(classify(&d).unwrap(), DataDirState::Incomplete);
    }

    #[test]
    fn credentials_are_random_and_stored_private() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("secrets").join("pg.json");
        let a = Credentials::generate();
        assert_ne!(a.password, Credentials::generate().password);
        a.save(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            Credentials::load(&path).unwrap().unwrap().password,
            a.password
        );
    }
}
