//! Upstream's `local_encrypted_v1` material: AES-256-GCM, random 96-bit IV, 128-bit tag, no AAD,
//! stored as `{"scheme","iv","tag","ciphertext"}` with base64 fields.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{MasterKey, Result, SecretsError};

/// The material scheme upstream writes and reads.
pub const SCHEME: &str = "local_encrypted_v1";

/// Encrypted material as stored in `company_secret_versions.material`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Material {
    pub scheme: String,
    pub iv: String,
    pub tag: String,
    pub ciphertext: String,
}

/// Encrypts `plaintext` under `key` with a fresh random IV.
pub fn encrypt(key: &MasterKey, plaintext: &str) -> Material {
    let cipher = Aes256Gcm::new(key.bytes().into());
    let mut iv = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut iv);
    let sealed = cipher
        .encrypt(Nonce::from_slice(&iv), plaintext.as_bytes())
        .expect("AES-GCM encryption of an in-memory buffer cannot fail");
    let (ct, tag) = sealed.split_at(sealed.len() - 16);
    Material {
        scheme: SCHEME.into(),
        iv: B64.encode(iv),
        tag: B64.encode(tag),
        ciphertext: B64.encode(ct),
    }
}

/// Decrypts material; a wrong key or tampered bytes fail authentication.
pub fn decrypt(key: &MasterKey, m: &Material) -> Result<Zeroizing<String>> {
    if m.scheme != SCHEME {
        return Err(SecretsError::InvalidMaterial);
    }
    let iv = B64
        .decode(&m.iv)
        .map_err(|_| SecretsError::InvalidMaterial)?;
    let tag = B64
        .decode(&m.tag)
        .map_err(|_| SecretsError::InvalidMaterial)?;
    let mut sealed = B64
        .decode(&m.ciphertext)
        .map_err(|_| SecretsError::InvalidMaterial)?;
    if iv.len() != 12 || tag.len() != 16 {
        return Err(SecretsError::InvalidMaterial);
    }
    sealed.extend_from_slice(&tag);
    let cipher = Aes256Gcm::new(key.bytes().into());
    let plain = cipher
        .decrypt(Nonce::from_slice(&iv), sealed.as_slice())
        .map_err(|_| SecretsError::Decrypt {
            fingerprint: key.fingerprint(),
        })?;
    let plain = Zeroizing::new(plain);
    let text = std::str::from_utf8(&plain).map_err(|_| SecretsError::InvalidMaterial)?;
    Ok(Zeroizing::new(text.to_string()))
}

/// Parses material from its JSON column.
pub fn from_json(v: &serde_json::Value) -> Result<Material> {
    serde_json::from_value(v.clone()).map_err(|_| SecretsError::InvalidMaterial)
}

/// SHA-256 hex of a value (upstream's `value_sha256`): lets a caller see that two versions
/// differ without storing the value.
pub fn value_sha256(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// The text encrypted into the instance's key check value.
pub const CHECK_PLAINTEXT: &str = "paperclip-master-key-check-v1";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeySource;

    fn key(n: u8) -> MasterKey {
        MasterKey::from_bytes([n; 32], KeySource::Env)
    }

    #[test]
    fn round_trip_with_fresh_ivs() {
        let k = key(1);
        let a = encrypt(&k, "sk-live-123");
        let b = encrypt(&k, "sk-live-123");
        assert_ne!(a.iv, b.iv, "a random IV per value");
        assert_eq!(decrypt(&k, &a).unwrap().as_str(), "sk-live-123");
        assert!(!serde_json::to_string(&a).unwrap().contains("sk-live"));
    }

    #[test]
    fn tampering_and_wrong_keys_are_rejected() {
        let k = key(1);
        let mut m = encrypt(&k, "value");
        let err = decrypt(&key(2), &m).unwrap_err().to_string();
        assert!(
            err.contains(&key(2).fingerprint()) && !err.contains("value"),
            "{err}"
        );
        let mut ct = B64.decode(&m.ciphertext).unwrap();
        ct[0] ^= 1;
        m.ciphertext = B64.encode(ct);
        assert!(matches!(decrypt(&k, &m), Err(SecretsError::Decrypt { .. })));
        m.scheme = "rot13".into();
        assert!(matches!(
            decrypt(&k, &m),
            Err(SecretsError::InvalidMaterial)
        ));
    }

    #[test]
    fn reads_material_written_by_another_implementation_in_upstreams_format() {
        // Encrypted by Python's `cryptography` AESGCM with key bytes 0..=31, as upstream's Node
        // code does: base64 IV, tag and ciphertext, no AAD.
        let m: Material = serde_json::from_str(
            r#"{"scheme":"local_encrypted_v1","iv":"BwcHBwcHBwcHBwcH","tag":"8pUG9v5OI2k9Z4nx4dnvOA==","ciphertext":"ehrVKB1qtpnm7nbj8jSAu9c94Qbt12OFbQ=="}"#,
        )
        .unwrap();
        let mut bytes = [0u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = i as u8;
        }
        let k = MasterKey::from_bytes(bytes, KeySource::Env);
        assert_eq!(decrypt(&k, &m).unwrap().as_str(), "upstream secret value ✓");
    }
}
