//! The instance's secrets master key: loading it, proving it matches the database, and rotating it.
//!
//! Rotation is built to survive an interruption at any point:
//! 1. the new key is written first, to `<key file>.next` (0600, fsynced), or reused from there if an
//!    earlier run left it;
//! 2. one transaction re-encrypts every version (rows already under the new key are skipped) and
//!    replaces the check value;
//! 3. the old key file is copied to `<key file>.bak-<timestamp>`, then `.next` is renamed over it.
//!
//! A crash before 2 commits leaves the database under the old key; after it, the database is under
//! the new key and `.next` still exists, which startup detects and names. Re-running finishes.

use std::fs;
use std::path::{Path, PathBuf};

use paperclip_config::SecretsSettings;
use paperclip_secrets::{KeySource, MasterKey};
use sqlx::{Connection, PgConnection};

use crate::secrets;
use crate::{Result, StoreError};

/// The pending new key of an interrupted rotation.
pub fn next_key_path(key_file: &Path) -> PathBuf {
    let mut p = key_file.as_os_str().to_owned();
    p.push(".next");
    PathBuf::from(p)
}

/// Loads the key (creating the key file on first use) and checks it against the database.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn load_and_verify(s: &SecretsSettings, conn: &mut PgConnection) -> Result<MasterKey> {
    let key = MasterKey::load(s.env_key.as_ref().map(|k| k.0.as_str()), &s.key_file, true)?
        .expect("created when missing");
    match secrets::verify_master_key(conn, &key).await {
        Err(StoreError::KeyMismatch {
            stored, current, ..
        }) => {
            let next = next_key_path(&s.key_file);
            let hint = if next.exists() {
                format!(".\nA master-key rotation was interrupted ({} exists): run `paperclipai secrets rotate-master-key` again to finish it", next.display())
            } else {
                format!(" (key file: {})", s.key_file.display())
            };
            Err(StoreError::KeyMismatch {
                stored,
                current,
                hint,
            })
        }
        other => other.map(|()| key),
    }
}

/// Read-only check for `doctor`: `Ok(true)` if `key` matches the stored check value, `Ok(false)`
/// if there is none yet, an error with both fingerprints if it does not match.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn check_only(url: &str, key: &MasterKey) -> Result<bool> {
    let mut conn = paperclip_postgres::pool::connect_direct(url).await?;
    let stored: Option<(String, serde_json::Value)> =
        paperclip_postgres::pool::qa("SELECT fingerprint, material FROM secrets_key_check")
            .fetch_optional(&mut conn)
            .await
            .map_err(StoreError::sql("cannot read the key check"))?;
    let _ = conn.close().await;
    let Some((fingerprint, material)) = stored else {
        return Ok(false);
    };
    let ok = paperclip_secrets::cipher::from_json(&material)
        .and_then(|m| paperclip_secrets::cipher::decrypt(key, &m))
        .is_ok_and(|t| t.as_str() == paperclip_secrets::cipher::CHECK_PLAINTEXT);
    if ok {
        Ok(true)
    } else {
        Err(StoreError::KeyMismatch {
            stored: fingerprint,
            current: key.fingerprint(),
            hint: String::new(),
        })
    }
}

/// What a rotation did.
#[derive(Debug)]
pub struct Rotation {
    pub old_fingerprint: String,
    pub new_fingerprint: String,
    pub reencrypted: usize,
    pub already_new: usize,
    pub backup: PathBuf,
}

/// Rotates the master key of the key file in `s` over the database at `conn`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn rotate(s: &SecretsSettings, conn: &mut PgConnection) -> Result<Rotation> {
    if s.env_key.is_some() {
        return Err(StoreError::invalid(
            "PAPERCLIP_SECRETS_MASTER_KEY",
            "the master key comes from PAPERCLIP_SECRETS_MASTER_KEY; rotate it where it is set (or unset it to use a key file)",
        ));
    }
    let old = MasterKey::load(None, &s.key_file, false)?.ok_or_else(|| {
        StoreError::not_found(format!("no secrets master key at {}", s.key_file.display()))
    })?;
    let next_path = next_key_path(&s.key_file);
    let new = match MasterKey::load(None, &next_path, false)? {
        Some(k) => k,
        None => {
            let k = MasterKey::generate(KeySource::File(next_path.clone()));
            k.write_new(&next_path)?;
            k
        }
    };
    let mut tx = conn
        .begin()
        .await
        .map_err(StoreError::sql("cannot begin"))?;
    let (reencrypted, already_new) = secrets::reencrypt_all(&mut tx, &old, &new).await?;
    tx.commit()
        .await
        .map_err(StoreError::sql("cannot commit the re-encryption"))?;
    let backup = PathBuf::from(format!(
        "{}.bak-{}",
        s.key_file.display(),
        chrono::Utc::now().format("%Y%m%d-%H%M%S")
    ));
    fs::copy(&s.key_file, &backup).map_err(paperclip_postgres::DbError::io(
        "cannot back up the old key to",
        &backup,
    ))?;
    fs::set_permissions(&backup, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .map_err(paperclip_postgres::DbError::io("cannot restrict", &backup))?;
    fs::rename(&next_path, &s.key_file).map_err(paperclip_postgres::DbError::io(
        "cannot install the new key at",
        &s.key_file,
    ))?;
    if let Some(dir) = s.key_file.parent() {
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(Rotation {
        old_fingerprint: old.fingerprint(),
        new_fingerprint: new.fingerprint(),
        reencrypted,
        already_new,
        backup,
    })
}
