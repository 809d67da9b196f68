//! The checks every request passes before routing: the walls between the board and other web
//! pages in the user's browser, and the input rules that hold for every route.
//!
//! - `Host` must name this server (a loopback name, the bind address, or a configured
//!   `server.allowedHostnames` entry): a page that rebinds its own DNS name to 127.0.0.1 cannot
//!   read the API.
//! - A state-changing request from a browser must come from this server's own origin: a foreign
//!   `Origin` (or `Origin: null`, or `Sec-Fetch-Site: cross-site|same-site`) is refused, so a
//!   form or `fetch` with `text/plain` cannot drive the board.
//! - The path and query, percent-decoded, are UTF-8 without NUL (PostgreSQL stores neither).
//! - A declared body larger than the limit is refused before it is read.
//! - A malformed `Authorization` header is a 401, never "no credential, so the board".

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::{ApiError, AppState};

pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let limit = body_limit(&state, &req);
    match check(&state, &req, limit) {
        // The body is capped here too: a chunked body has no Content-Length to refuse early.
        Ok(()) => {
            let req = req.map(|b| {
                axum::body::Body::new(http_body_util::Limited::new(
                    b,
                    usize::try_from(limit).unwrap_or(usize::MAX),
                ))
            });
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

/// The largest body a request may have: an attachment upload up to the attachment limit (it is
/// streamed to storage, never held), anything else [`crate::MAX_BODY_BYTES`].
fn body_limit(state: &AppState, req: &Request) -> u64 {
    if req.method() == Method::POST && (is_upload(req.uri().path()) || is_bundle(req.uri().path()))
    {
        state.files.upload_body_limit()
    } else {
        crate::MAX_BODY_BYTES as u64
    }
}

/// `/api/companies/import` and its preview: a company bundle, streamed into the import.
fn is_bundle(path: &str) -> bool {
    matches!(
        path.trim_end_matches('/'),
        "/api/companies/import" | "/api/companies/import/preview"
    )
}

/// `/api/companies/{companyId}/issues/{issueId}/attachments` and
/// `/api/companies/{companyId}/assets/images`.
fn is_upload(path: &str) -> bool {
    let seg: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    matches!(
        seg.as_slice(),
        ["", "api", "companies", _, "issues", _, "attachments"]
            | ["", "api", "companies", _, "assets", "images"]
    )
}

fn check(state: &AppState, req: &Request, limit: u64) -> Result<(), ApiError> {
    let headers = req.headers();
    let host = host_of(req)?;
    // `authenticated` + `public`: the internet may name us however it likes (every route but
    // sign-in needs a credential); otherwise only the names we were told.
    let public = state.info.deployment_mode == paperclip_domain::DeploymentMode::Authenticated
        && state.info.exposure == paperclip_domain::DeploymentExposure::Public;
    if !public && !host_allowed(&host, &state.info.allowed_hostnames) {
        return Err(ApiError::Forbidden(format!(
            "Host {host:?} is not allowed; add it with `paperclipai allowed-hostname add <name>` (server.allowedHostnames in config.json)"
        )));
    }
    if !matches!(
        *req.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    ) {
        check_origin(headers, &host)?;
    }
    check_uri(req.uri())?;
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > limit {
            return Err(ApiError::PayloadTooLarge);
        }
    }
    check_authorization(headers)
}

/// The authority the client addressed: `Host` (HTTP/1) or the URI's authority (HTTP/2).
fn host_of(req: &Request) -> Result<String, ApiError> {
    let host = match req.headers().get(header::HOST) {
        Some(v) => v
            .to_str()
            .map_err(|_| ApiError::Forbidden("The Host header is not valid".into()))?
            .to_string(),
        None => req
            .uri()
            .authority()
            .map(|a| a.as_str().to_string())
            .ok_or_else(|| ApiError::Forbidden("A Host header is required".into()))?,
    };
    Ok(host.trim().to_ascii_lowercase())
}

/// `name[:port]` or `[v6][:port]` → the name.
fn hostname(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    authority.split(':').next().unwrap_or("")
}

fn host_allowed(authority: &str, allowed: &[String]) -> bool {
    let name = hostname(authority).trim_end_matches('.');
    name == "localhost"
        || name.ends_with(".localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
        || allowed.iter().any(|a| a == name)
}

fn check_origin(headers: &HeaderMap, host: &str) -> Result<(), ApiError> {
    let foreign = || {
        ApiError::Forbidden(
            "Cross-origin requests may not change state; use the board at this server's own address".into(),
        )
    };
    match headers.get(header::ORIGIN) {
        Some(origin) => {
            let origin = origin.to_str().map_err(|_| foreign())?.trim();
            let authority = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"))
                .ok_or_else(foreign)?;
            if !authority.eq_ignore_ascii_case(host) {
                return Err(foreign());
            }
        }
        None => {
            // Browsers that omit Origin still say where the request came from.
            let site = headers
                .get("sec-fetch-site")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if site.eq_ignore_ascii_case("cross-site") || site.eq_ignore_ascii_case("same-site") {
                return Err(foreign());
            }
        }
    }
    Ok(())
}

fn check_uri(uri: &axum::http::Uri) -> Result<(), ApiError> {
    let bad = |part: &str, why: &str| ApiError::BadRequest {
        message: format!("The request {part} {why}"),
        details: Some(serde_json::json!([{ "path": [part], "message": why }])),
    };
    for (part, text) in [("path", Some(uri.path())), ("query", uri.query())] {
        let Some(text) = text else { continue };
        let decoded: Vec<u8> = percent_encoding::percent_decode_str(text).collect();
        if decoded.contains(&0) {
            return Err(bad(part, "contains a NUL character"));
        }
        if std::str::from_utf8(&decoded).is_err() {
            return Err(bad(part, "is not valid UTF-8 once percent-decoded"));
        }
    }
    Ok(())
}

fn check_authorization(headers: &HeaderMap) -> Result<(), ApiError> {
    let malformed = || {
        ApiError::Unauthorized("Malformed Authorization header; expected \"Bearer <token>\"".into())
    };
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(());
    };
    let value = value.to_str().map_err(|_| malformed())?;
    let (scheme, token) = value.trim().split_once(' ').ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(malformed());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_and_configured_names_are_allowed() {
        let allowed = vec!["paperclip.example".to_string()];
        for ok in [
            "localhost:3100",
            "127.0.0.1:3100",
            "[::1]:3100",
            "app.localhost",
            "127.0.0.2",
            "paperclip.example:443",
        ] {
            assert!(host_allowed(ok, &allowed), "{ok}");
        }
        for bad in [
            "attacker.example",
            "attacker.example:3100",
            "localhost.attacker.example",
            "",
            "[::2]",
        ] {
            assert!(!host_allowed(bad, &allowed), "{bad}");
        }
    }
}
