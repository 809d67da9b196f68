//! Weak ETags on the API's JSON reads. A `GET` that answers 200 with JSON carries
//! `ETag: W/"<hash of the body>"`; a request whose `If-None-Match` names that tag gets
//! `304 Not Modified` with no body. A polling board (or script) then downloads a 1.6 MB agent
//! list only when it changed.
//!
//! The tag is a hash of the answer's bytes, so it is true whatever the handler read (no version
//! counter to keep in step with every writer) and the same on every replica running the same
//! build. It is weak: gzip may encode the same JSON differently, and the tag speaks for the JSON.

use std::hash::Hasher;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Tags the JSON answer of a `GET` and answers 304 when the client already holds it.
pub async fn revalidate(req: Request, next: Next) -> Response {
    if req.method() != Method::GET {
        return next.run(req).await;
    }
    let held = req.headers().get(header::IF_NONE_MATCH).cloned();
    let res = next.run(req).await;
    if res.status() != StatusCode::OK
        || res.headers().contains_key(header::ETAG)
        || !is_json(res.headers())
    {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    // JSON answers are built in memory, so collecting them holds nothing new.
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "cannot read an answer to tag it");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let tag = tag_of(&bytes);
    if held.as_ref().is_some_and(|h| matches(h, &tag)) {
        let mut headers = HeaderMap::new();
        headers.insert(header::ETAG, tag);
        for name in [header::CACHE_CONTROL, header::VARY] {
            if let Some(v) = parts.headers.get(&name) {
                headers.insert(name, v.clone());
            }
        }
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    parts.headers.insert(header::ETAG, tag);
    Response::from_parts(parts, Body::from(bytes))
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// `W/"<16 hex digits>"`: the standard library's hasher with its fixed keys (`new`, not
/// `RandomState`), so a build gives every replica the same tag; about 1 ms for the largest list.
fn tag_of(body: &[u8]) -> HeaderValue {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    h.write(body);
    HeaderValue::from_str(&format!("W/\"{:016x}\"", h.finish())).expect("ASCII")
}

/// Whether `If-None-Match` names `tag` (weak comparison: `W/` is ignored on both sides) or is `*`.
fn matches(held: &HeaderValue, tag: &HeaderValue) -> bool {
    let Ok(held) = held.to_str() else {
        return false;
    };
    let opaque = |t: &str| t.trim().trim_start_matches("W/").to_string();
    let mine = opaque(tag.to_str().unwrap_or_default());
    held.split(',')
        .any(|t| t.trim() == "*" || opaque(t) == mine)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_compares_weakly_and_takes_lists_and_star() {
        let tag = tag_of(b"[1,2,3]");
        let opaque = tag.to_str().unwrap().trim_start_matches("W/").to_string();
        assert!(matches(&tag, &tag));
        assert!(matches(&HeaderValue::from_str(&opaque).unwrap(), &tag));
        let list = format!("\"other\", {}", tag.to_str().unwrap());
        assert!(matches(&HeaderValue::from_str(&list).unwrap(), &tag));
        assert!(matches(&HeaderValue::from_static("*"), &tag));
        assert!(!matches(&HeaderValue::from_static("W/\"0000\""), &tag));
        assert_ne!(tag_of(b"[1,2,3]"), tag_of(b"[1,2,4]"));
        assert_eq!(tag_of(b"[1,2,3]"), tag_of(b"[1,2,3]"));
    }
}
