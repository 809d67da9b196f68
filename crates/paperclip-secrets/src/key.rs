//! The master key: where it comes from, how it is decoded, and its fingerprint.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{Result, SecretsError};

/// Where the key came from (for `doctor` and messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `PAPERCLIP_SECRETS_MASTER_KEY`.
    Env,
    /// A key file (`PAPERCLIP_SECRETS_MASTER_KEY_FILE`, config, or the instance default).
    File(PathBuf),
}

/// A 32-byte AES-256 key, zeroized when dropped, never printed.
pub struct MasterKey {
    bytes: Zeroizing<[u8; 32]>,
    source: KeySource,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "MasterKey(fingerprint {}, {:?})",
            self.fingerprint(),
            self.source
        )
    }
}

/// Upstream's decoding order: 64 hex chars, else base64 of 32 bytes, else 32 raw bytes.
pub fn decode(text: &str) -> Option<Zeroizing<[u8; 32]>> {
    let t = text.trim();
    let mut out = Zeroizing::new([0u8; 32]);
    if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode_to_slice(t, out.as_mut()).ok()?;
        return Some(out);
    }
    if let Ok(bytes) = B64.decode(t) {
        let bytes = Zeroizing::new(bytes);
        if bytes.len() == 32 {
            out.copy_from_slice(&bytes);
            return Some(out);
        }
    }
    if t.len() == 32 {
        out.copy_from_slice(t.as_bytes());
        return Some(out);
    }
    None
}

impl MasterKey {
    /// A key from raw bytes (tests, rotation).
    pub fn from_bytes(bytes: [u8; 32], source: KeySource) -> Self {
        Self {
            bytes: Zeroizing::new(bytes),
            source,
        }
    }

    /// A fresh random key.
    pub fn generate(source: KeySource) -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(bytes.as_mut());
        Self { bytes, source }
    }

    /// Loads the key: `env_key` (the variable's value) if set, else the key file, which is created
    /// (0600, in a 0700 folder) when `create` is true and it does not exist. Loose permissions on
    /// an existing file are tightened. Returns `None` if there is no key and `create` is false.
    pub fn load(env_key: Option<&str>, file: &Path, create: bool) -> Result<Option<Self>> {
        if let Some(v) = env_key.filter(|v| !v.trim().is_empty()) {
            let bytes = decode(v).ok_or(SecretsError::InvalidEnvKey)?;
            return Ok(Some(Self {
                bytes,
                source: KeySource::Env,
            }));
        }
        match fs::read_to_string(file) {
            Ok(text) => {
                let text = Zeroizing::new(text);
                tighten(file)?;
                let bytes = decode(&text)
                    .ok_or_else(|| SecretsError::InvalidKeyFile(file.to_path_buf()))?;
                Ok(Some(Self {
                    bytes,
                    source: KeySource::File(file.to_path_buf()),
                }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                let key = Self::generate(KeySource::File(file.to_path_buf()));
                key.write_new(file)?;
                Ok(Some(key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(SecretsError::Io {
                action: "cannot read secrets master key",
                path: file.to_path_buf(),
                source,
            }),
        }
    }

    /// Writes this key to a new file (never overwriting): base64, mode 0600, fsynced.
    pub fn write_new(&self, file: &Path) -> Result<()> {
        let io = |action, source| SecretsError::Io {
            action,
            path: file.to_path_buf(),
            source,
        };
        if let Some(dir) = file.parent() {
            if !dir.exists() {
                fs::create_dir_all(dir).map_err(|e| io("cannot create the folder of", e))?;
                fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                    .map_err(|e| io("cannot set permissions on", e))?;
            }
        }
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(file)
            .map_err(|e| io("cannot create secrets master key", e))?;
        let text = Zeroizing::new(B64.encode(self.bytes.as_ref()));
        f.write_all(text.as_bytes())
            .map_err(|e| io("cannot write secrets master key", e))?;
        f.sync_all()
            .map_err(|e| io("cannot write secrets master key", e))?;
        if let Some(dir) = file.parent() {
            if let Ok(d) = fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }

    /// The raw key bytes (for the cipher only).
    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// Where this key came from.
    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// A secret derived from the key for `label` (hex): the same on every replica that shares the
    /// key, useless without it. Used for credentials Paperclip itself needs (plugin roles).
    pub fn derive_hex(&self, label: &str) -> String {
        let mut h = Sha256::new();
        h.update(b"paperclip-derive-v1\0");
        h.update(self.bytes.as_ref());
        h.update(b"\0");
        h.update(label.as_bytes());
        hex::encode(h.finalize())
    }

    /// Upstream's fingerprint: the first 12 hex characters of SHA-256 of the key. Identifies a
    /// key without revealing it.
    pub fn fingerprint(&self) -> String {
        hex::encode(Sha256::digest(self.bytes.as_ref()))[..12].to_string()
    }
}

/// Mode bits a key file must not have.
pub fn is_loose(file: &Path) -> bool {
    fs::metadata(file).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
}

fn tighten(file: &Path) -> Result<()> {
    if is_loose(file) {
        fs::set_permissions(file, fs::Permissions::from_mode(0o600)).map_err(|source| {
            SecretsError::Io {
                action: "cannot restrict the permissions of",
                path: file.to_path_buf(),
                source,
            }
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const B64_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn every_upstream_key_encoding_decodes() {
        let expected: Vec<u8> = (0u8..32).collect();
        assert_eq!(decode(HEX).unwrap().as_ref(), expected.as_slice());
        assert_eq!(
            decode(&format!("  {B64_KEY}\n")).unwrap().as_ref(),
            expected.as_slice()
        );
        assert_eq!(
            decode("0123456789abcdefghijklmnopqrstuv").unwrap().as_ref(),
            b"0123456789abcdefghijklmnopqrstuv"
        );
        assert!(decode("too short").is_none());
        assert!(decode(&"g".repeat(64)).is_none());
    }

    #[test]
    fn a_missing_key_file_is_created_0600_and_loose_ones_are_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secrets").join("master.key");
        let created = MasterKey::load(None, &file, true).unwrap().unwrap();
        assert_eq!(
            fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        let again = MasterKey::load(None, &file, false).unwrap().unwrap();
        assert_eq!(again.fingerprint(), created.fingerprint());
        assert_eq!(
            fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(MasterKey::load(None, &dir.path().join("none"), false)
            .unwrap()
            .is_none());
    }

    #[test]
    fn the_environment_wins_and_bad_values_name_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let k = MasterKey::load(Some(HEX), &dir.path().join("x"), true)
            .unwrap()
            .unwrap();
        assert_eq!(k.source(), &KeySource::Env);
        assert!(!dir.path().join("x").exists());
        let err = MasterKey::load(Some("nope"), &dir.path().join("x"), true).unwrap_err();
        assert!(err.to_string().contains("PAPERCLIP_SECRETS_MASTER_KEY"));
        assert!(!format!("{k:?}").contains(HEX));
    }
}
