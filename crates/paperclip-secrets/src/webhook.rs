//! Verifying a call to a routine's webhook against the trigger's signing secret.
//!
//! | mode | the caller sends | replay protection |
//! | --- | --- | --- |
//! | `bearer` | `Authorization: Bearer <secret>` | none (the token is the whole proof) |
//! | `hmac_sha256` | `X-Paperclip-Timestamp: <unix seconds>` and `X-Paperclip-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">` | the timestamp must be within the window, and each signature is accepted once |
//! | `github_hmac` | GitHub's `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>` and `X-GitHub-Delivery` | each delivery id is accepted once within the window |
//! | `none` | nothing | none |
//!
//! Comparisons of secrets and signatures take constant time.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The headers and body of a webhook call.
#[derive(Debug, Clone, Copy, Default)]
pub struct Call<'a> {
    pub authorization: Option<&'a str>,
    pub paperclip_signature: Option<&'a str>,
    pub paperclip_timestamp: Option<&'a str>,
    pub hub_signature: Option<&'a str>,
    pub github_delivery: Option<&'a str>,
    pub body: &'a [u8],
}

/// Why a call is refused (each names what the caller must fix).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the {0} header is missing")]
    Missing(&'static str),
    #[error("the signature or token does not match the trigger's secret")]
    Mismatch,
    #[error("X-Paperclip-Timestamp is not within {window} seconds of the server's clock")]
    Stale { window: i64 },
    #[error("the trigger has no signing secret (rotate or recreate it)")]
    NoSecret,
    #[error("unknown signing mode {0}")]
    UnknownMode(String),
}

/// Verifies `call` for a trigger with `mode` (`bearer`, `hmac_sha256`, `github_hmac`, `none`),
/// `secret` and a replay window of `window` seconds, at `now` (unix seconds). Answers the
/// digest that identifies this call for replay protection, when the mode has one: the caller
/// records it and refuses a second call with the same digest within the window.
pub fn verify(
    mode: &str,
    secret: Option<&str>,
    call: &Call<'_>,
    now: i64,
    window: i64,
) -> Result<Option<String>, Refusal> {
    let secret = || secret.ok_or(Refusal::NoSecret);
    match mode {
        "none" => Ok(None),
        "bearer" => {
            let token = call
                .authorization
                .and_then(|a| a.strip_prefix("Bearer "))
                .ok_or(Refusal::Missing("Authorization"))?;
            if same(token.trim().as_bytes(), secret()?.as_bytes()) {
                Ok(None)
            } else {
                Err(Refusal::Mismatch)
            }
        }
        "hmac_sha256" => {
            let ts = call
                .paperclip_timestamp
                .ok_or(Refusal::Missing("X-Paperclip-Timestamp"))?;
            let sig = call
                .paperclip_signature
                .ok_or(Refusal::Missing("X-Paperclip-Signature"))?;
            let at: i64 = ts.trim().parse().map_err(|_| Refusal::Stale { window })?;
            if (now - at).abs() > window {
                return Err(Refusal::Stale { window });
            }
            let mut signed = Vec::with_capacity(ts.len() + 1 + call.body.len());
            signed.extend_from_slice(ts.trim().as_bytes());
            signed.push(b'.');
            signed.extend_from_slice(call.body);
            check(secret()?, &signed, sig)?;
            Ok(Some(format!(
                "sig:{}",
                hex::encode(Sha256::digest(sig.trim().as_bytes()))
            )))
        }
        "github_hmac" => {
            let sig = call
                .hub_signature
                .ok_or(Refusal::Missing("X-Hub-Signature-256"))?;
            let delivery = call
                .github_delivery
                .ok_or(Refusal::Missing("X-GitHub-Delivery"))?;
            check(secret()?, call.body, sig)?;
            Ok(Some(format!("delivery:{}", delivery.trim())))
        }
        other => Err(Refusal::UnknownMode(other.into())),
    }
}

/// The value of a signature header for `signed` under `secret`: `sha256=<hex>`.
pub fn sign(secret: &str, signed: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(signed);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn check(secret: &str, signed: &[u8], header: &str) -> Result<(), Refusal> {
    let hex_sig = header
        .trim()
        .strip_prefix("sha256=")
        .ok_or(Refusal::Mismatch)?;
    let given = hex::decode(hex_sig).map_err(|_| Refusal::Mismatch)?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(signed);
    mac.verify_slice(&given).map_err(|_| Refusal::Mismatch)
}

/// Constant-time equality of two byte strings (their lengths may differ).
fn same(a: &[u8], b: &[u8]) -> bool {
    let (ha, hb) = (Sha256::digest(a), Sha256::digest(b));
    ha.iter()
        .zip(hb.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test";

    #[test]
    fn bearer_and_none() {
        let ok = Call {
            authorization: Some("Bearer whsec_test"),
            ..Call::default()
        };
        assert_eq!(verify("bearer", Some(SECRET), &ok, 0, 300), Ok(None));
        let wrong = Call {
            authorization: Some("Bearer whsec_nope"),
            ..Call::default()
        };
        assert_eq!(
            verify("bearer", Some(SECRET), &wrong, 0, 300),
            Err(Refusal::Mismatch)
        );
        assert_eq!(
            verify("bearer", Some(SECRET), &Call::default(), 0, 300),
            Err(Refusal::Missing("Authorization"))
        );
        assert_eq!(verify("none", None, &Call::default(), 0, 300), Ok(None));
        assert_eq!(verify("bearer", None, &ok, 0, 300), Err(Refusal::NoSecret));
    }

    #[test]
    fn hmac_signs_the_timestamp_and_body_within_the_window() {
        let body = br#"{"event":"deploy"}"#;
        let sig = sign(SECRET, b"1000.{\"event\":\"deploy\"}");
        let call = Call {
            paperclip_timestamp: Some("1000"),
            paperclip_signature: Some(&sig),
            body,
            ..Call::default()
        };
        let digest = verify("hmac_sha256", Some(SECRET), &call, 1100, 300).unwrap();
        assert!(digest.is_some());
        assert_eq!(
            verify("hmac_sha256", Some(SECRET), &call, 1400, 300),
            Err(Refusal::Stale { window: 300 })
        );
        let tampered = Call {
            body: br#"{"event":"delete"}"#,
            ..call
        };
        assert_eq!(
            verify("hmac_sha256", Some(SECRET), &tampered, 1100, 300),
            Err(Refusal::Mismatch)
        );
        let other_key = Call {
            paperclip_signature: Some("sha256=00ff"),
            ..call
        };
        assert_eq!(
            verify("hmac_sha256", Some(SECRET), &other_key, 1100, 300),
            Err(Refusal::Mismatch)
        );
    }

    #[test]
    fn github_signs_the_body_and_names_the_delivery() {
        let body = b"{}";
        let sig = sign(SECRET, body);
        let call = Call {
            hub_signature: Some(&sig),
            github_delivery: Some("abc-123"),
            body,
            ..Call::default()
        };
        assert_eq!(
            verify("github_hmac", Some(SECRET), &call, 0, 300),
            Ok(Some("delivery:abc-123".into()))
        );
        let undelivered = Call {
            github_delivery: None,
            ..call
        };
        assert_eq!(
            verify("github_hmac", Some(SECRET), &undelivered, 0, 300),
            Err(Refusal::Missing("X-GitHub-Delivery"))
        );
    }
}
