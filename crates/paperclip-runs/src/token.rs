//! Run tokens: the short-lived credential a run gets as `PAPERCLIP_API_KEY`. An HS256 JWT (as
//! upstream's) naming the agent, its company and the run; the server also requires the run to
//! be running, so a token is useless once its run ends, whatever its expiry says.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use jwt::{SignWithKey, VerifyWithKey};
use sha2::Sha256;
use uuid::Uuid;

const ISSUER: &str = "paperclip";
const AUDIENCE: &str = "paperclip-api";

/// Who a valid run token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunClaims {
    pub agent_id: Uuid,
    pub company_id: Uuid,
    pub run_id: Uuid,
}

/// Issues and checks run tokens with the instance's agent JWT secret.
#[derive(Clone)]
pub struct RunTokens {
    key: Hmac<Sha256>,
}

impl std::fmt::Debug for RunTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RunTokens(***)")
    }
}

impl RunTokens {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: Hmac::new_from_slice(secret).expect("HMAC takes keys of any length"),
        }
    }

    /// A token for `claims`, valid for `ttl` at most.
    pub fn issue(&self, c: RunClaims, ttl: std::time::Duration) -> String {
        let now = chrono::Utc::now().timestamp();
        let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let mut claims = BTreeMap::new();
        claims.insert("sub", serde_json::json!(c.agent_id));
        claims.insert("company_id", serde_json::json!(c.company_id));
        claims.insert("run_id", serde_json::json!(c.run_id));
        claims.insert("iss", serde_json::json!(ISSUER));
        claims.insert("aud", serde_json::json!(AUDIENCE));
        claims.insert("iat", serde_json::json!(now));
        claims.insert("exp", serde_json::json!(now.saturating_add(ttl)));
        claims
            .sign_with_key(&self.key)
            .expect("HS256 signing cannot fail")
    }

    /// The claims of a token signed with this key, issued by us and not expired.
    pub fn verify(&self, token: &str) -> Option<RunClaims> {
        let claims: BTreeMap<String, serde_json::Value> = token.verify_with_key(&self.key).ok()?;
        let s = |k: &str| claims.get(k).and_then(serde_json::Value::as_str);
        let uuid = |k: &str| s(k).and_then(|v| Uuid::parse_str(v).ok());
        let exp = claims.get("exp").and_then(serde_json::Value::as_i64)?;
        (s("iss") == Some(ISSUER)
            && s("aud") == Some(AUDIENCE)
            && exp > chrono::Utc::now().timestamp())
        .then_some(())?;
        Some(RunClaims {
            agent_id: uuid("sub")?,
            company_id: uuid("company_id")?,
            run_id: uuid("run_id")?,
        })
    }
}

/// Whether a bearer token has the shape of a JWT (agent API keys never do).
pub fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.split('.').count() == 3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_with_their_key_and_until_expiry() {
        let t = RunTokens::new(b"secret-one");
        let c = RunClaims {
            agent_id: Uuid::new_v4(),
            company_id: Uuid::new_v4(),
            run_id: Uuid::new_v4(),
        };
        let tok = t.issue(c, std::time::Duration::from_secs(60));
        assert!(looks_like_jwt(&tok));
        assert_eq!(t.verify(&tok), Some(c));
        assert_eq!(RunTokens::new(b"secret-two").verify(&tok), None);
        assert_eq!(
            t.verify(&t.issue(c, std::time::Duration::ZERO)),
            None,
            "expired"
        );
        let mut forged = tok.clone();
        forged.pop();
        assert_eq!(t.verify(&forged), None);
        // alg "none" with the same claims
        let parts: Vec<&str> = tok.split('.').collect();
        let none = format!("eyJhbGciOiJub25lIn0.{}.", parts[1]);
        assert_eq!(t.verify(&none), None);
    }
}
