//! Weak ETags on the API's JSON reads, and answers reused while the database is unchanged.
//!
//! A `GET` that answers 200 with JSON carries `ETag: W/"<hash of the body>"`; a request whose
//! `If-None-Match` names that tag gets `304 Not Modified` with no body. A polling board (or
//! script) then downloads a 1.6 MB agent list only when it changed. The tag is a hash of the
//! answer's bytes, so it is true whatever the handler read and the same on every replica
//! running the same build. It is weak: gzip may encode the same JSON differently.
//!
//! The company reads that [`read_cache`](crate::read_cache) lists are also kept with the
//! database snapshot taken before they were computed, and answered again without running the
//! handler while the snapshot has not moved (see that module for why this is exact).

use std::hash::Hasher;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::read_cache::{self, Answer, Turn};
use crate::AppState;

/// Tags the JSON answer of a `GET`, reuses a kept one, and answers 304 when the client already
/// holds it.
pub async fn revalidate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::GET {
        return next.run(req).await;
    }
    let held = req.headers().get(header::IF_NONE_MATCH).cloned();
    let kept = match read_cache::key(req.uri(), req.headers()) {
        Some(key) => snapshot(&state).await.map(|s| (key, s)),
        None => None,
    };
    let mut leader = None;
    if let Some((key, snap)) = &kept {
        if let Some(answer) = state.reads.get(*key, snap) {
            return respond(answer, held.as_ref());
        }
        match state.reads.turn(*key, snap) {
            Turn::Lead(l) => leader = Some(l),
            Turn::Wait(rx) => {
                if let Some(answer) = read_cache::wait(rx).await {
                    return respond(answer, held.as_ref());
                }
            }
        }
    }
    let res = next.run(req).await;
    // JSON answers are tagged; a kept board page (HTML) is too.
    let taggable = is_json(res.headers()) || (leader.is_some() && is_html(res.headers()));
    if res.status() != StatusCode::OK || res.headers().contains_key(header::ETAG) || !taggable {
        if let Some(l) = leader {
            l.finish(None);
        }
        return res;
    }
    let (parts, body) = res.into_parts();
    // These answers are built in memory, so collecting them holds nothing new.
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "cannot read an answer to tag it");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let answer = Answer {
        etag: tag_of(&body),
        headers: parts.headers,
        body,
    };
    if let Some(l) = leader {
        l.finish(Some(answer.clone()));
    }
    respond(answer, held.as_ref())
}

/// The database's current snapshot (`xmin:xmax:xip…`); `None` if it cannot be read, and the
/// request is then answered without the cache.
async fn snapshot(state: &AppState) -> Option<String> {
    let mut conn = state.db.session().await.ok()?;
    let snap = paperclip_store::current_snapshot(&mut conn).await.ok();
    conn.close().await.ok()?;
    snap
}

fn respond(answer: Answer, held: Option<&HeaderValue>) -> Response {
    if held.is_some_and(|h| matches(h, &answer.etag)) {
        let mut headers = HeaderMap::new();
        headers.insert(header::ETAG, answer.etag);
        for name in [header::CACHE_CONTROL, header::VARY] {
            if let Some(v) = answer.headers.get(&name) {
                headers.insert(name, v.clone());
            }
        }
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    let mut res = Response::new(Body::from(answer.body));
    *res.headers_mut() = answer.headers;
    res.headers_mut().insert(header::ETAG, answer.etag);
    res
}

fn is_json(headers: &HeaderMap) -> bool {
    content_type(headers).starts_with("application/json")
}

fn is_html(headers: &HeaderMap) -> bool {
    content_type(headers).starts_with("text/html")
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
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
