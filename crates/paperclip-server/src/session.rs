//! The browser side of signing in: the session cookie (HttpOnly, SameSite=Lax, Secure behind
//! TLS), the CSRF header, the client's address for throttling, and password hashing (argon2id,
//! off the async threads).

use std::net::SocketAddr;

use axum::http::{header, HeaderMap, HeaderValue};
use sha2::{Digest, Sha256};

use crate::{ApiError, ServerInfo};

/// The session cookie's name.
pub const COOKIE: &str = "paperclip_session";

/// The header a cookie-authenticated mutation carries its CSRF token in.
pub const CSRF_HEADER: &str = "x-paperclip-csrf";

/// Failed sign-ins allowed per account, and per client address, in [`THROTTLE_WINDOW_SECS`].
pub const MAX_FAILURES_PER_ACCOUNT: i64 = 5;
pub const MAX_FAILURES_PER_CLIENT: i64 = 20;
pub const THROTTLE_WINDOW_SECS: i64 = 60;

/// The peer address of the connection, put on every request by the listener.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// Who is on the other end: the address throttling counts, the user agent a session records,
/// whether the cookie may be `Secure`, and the session token it sent, if any.
pub struct Client {
    pub addr: String,
    pub user_agent: Option<String>,
    pub tls: bool,
    pub cookie: Option<String>,
}

impl axum::extract::FromRequestParts<crate::AppState> for Client {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &crate::AppState,
    ) -> Result<Self, ApiError> {
        let peer = parts.extensions.get::<PeerAddr>().copied();
        Ok(Self {
            addr: client_addr(&state.info, &parts.headers, peer),
            user_agent: parts
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            tls: over_tls(&state.info, &parts.headers),
            cookie: cookie_token(&parts.headers).map(str::to_string),
        })
    }
}

/// The session token from the `Cookie` header, if any.
pub fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty())
}

/// Whether the client reached us over TLS: the public URL says https, or a trusted proxy does.
fn over_tls(info: &ServerInfo, headers: &HeaderMap) -> bool {
    info.auth
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"))
        || (info.auth.trust_proxy
            && headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|p| p.trim().eq_ignore_ascii_case("https")))
}

/// `Set-Cookie` for a new session.
pub fn set_cookie(info: &ServerInfo, tls: bool, token: &str) -> HeaderValue {
    let secure = if tls { "; Secure" } else { "" };
    let value = format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        info.auth.session_ttl_secs
    );
    HeaderValue::from_str(&value).expect("tokens are alphanumeric")
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie(tls: bool) -> HeaderValue {
    let secure = if tls { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"
    ))
    .expect("ascii")
}

/// The client's address: the connection's peer, or (behind a trusted proxy) the last address
/// the proxy appended to `X-Forwarded-For` (earlier entries are the client's own claims).
pub fn client_addr(info: &ServerInfo, headers: &HeaderMap, peer: Option<PeerAddr>) -> String {
    if info.auth.trust_proxy {
        if let Some(last) = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|s| !s.is_empty())
        {
            return last.chars().take(64).collect();
        }
    }
    peer.map_or_else(|| "unknown".into(), |p| p.0.ip().to_string())
}

/// Equal without a timing signal: compares the digests.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    !b.is_empty() && Sha256::digest(a) == Sha256::digest(b)
}

/// Shortest and longest passwords accepted (argon2 hashes anything; a cap stops a
/// megabyte-long password from being a cheap way to burn CPU).
pub const PASSWORD_MIN: usize = 10;
pub const PASSWORD_MAX: usize = 256;

/// Hashes a password with argon2id (OWASP's parameters: 19 MiB, 2 passes) on a blocking thread.
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || {
        use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
        let salt = SaltString::generate(&mut OsRng);
        argon2::Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| ApiError::Failed(format!("cannot hash the password: {e}")))
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))?
}

/// Checks a password against a stored hash on a blocking thread. With no hash (unknown email)
/// a dummy hash is checked, so the answer takes as long either way.
pub async fn verify_password(password: String, hash: Option<String>) -> bool {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    tokio::task::spawn_blocking(move || {
        use argon2::password_hash::{
            rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
        };
        let known = hash.is_some();
        let stored = hash.unwrap_or_else(|| {
            DUMMY
                .get_or_init(|| {
                    argon2::Argon2::default()
                        .hash_password(b"not a password", &SaltString::generate(&mut OsRng))
                        .map(|h| h.to_string())
                        .unwrap_or_default()
                })
                .clone()
        });
        let ok = PasswordHash::new(&stored).is_ok_and(|parsed| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        });
        known && ok
    })
    .await
    .unwrap_or(false)
}
