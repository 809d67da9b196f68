//! The one mapping from failures to HTTP responses.
//!
//! Every error body is `{"error": "..."}`; validation errors add `details` naming each field, as
//! upstream's clients expect. A 5xx body is generic; its cause is logged once, here.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use paperclip_domain::DomainError;
use paperclip_postgres::DbError;
use paperclip_store::StoreError;
use serde_json::{json, Value};

/// The cause of a 500, kept whole so the log shows its source chain.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Every error a handler can return.
#[derive(Debug)]
pub enum ApiError {
    /// 400 with optional details (malformed input).
    BadRequest {
        message: String,
        details: Option<Value>,
    },
    /// 401.
    Unauthorized(String),
    /// 403.
    Forbidden(String),
    /// 404.
    NotFound(String),
    /// 409 with details (checkout conflicts, stale revisions).
    Conflict { message: String, details: Value },
    /// 422: well-formed input that breaks a rule.
    Unprocessable { message: String, details: Value },
    /// 429 with the seconds to wait (sign-in throttling).
    TooManyRequests { message: String, retry_after: u64 },
    /// 503: the database cannot be reached.
    Unavailable,
    /// 503 with a message (a plugin that is not running).
    Failed503(String),
    /// 413.
    PayloadTooLarge,
    /// 413 naming the limit (an upload).
    TooLarge(String),
    /// 415.
    UnsupportedMediaType,
    /// 500 with a message safe to show (an operation that failed for a reason the user can fix).
    Failed(String),
    /// 500; the cause (with its source chain) goes to the log, never to the client.
    Internal(Cause),
}

impl ApiError {
    /// 404 "<What> not found".
    pub fn not_found(what: &str) -> Self {
        Self::NotFound(format!("{what} not found"))
    }

    /// 400 "Validation error" with per-field details.
    pub fn validation(details: Vec<Value>) -> Self {
        Self::BadRequest {
            message: "Validation error".into(),
            details: Some(Value::Array(details)),
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Invalid { field, message } => ApiError::Unprocessable {
                details: json!([{ "path": [field], "message": message }]),
                message,
            },
            DomainError::Conflict { message, details } => ApiError::Conflict { message, details },
            DomainError::NotFound(m) => ApiError::NotFound(m),
            DomainError::Forbidden(m) => ApiError::Forbidden(m),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Domain(d) => d.into(),
            StoreError::Sql { context, source } => from_sql(context, source),
            StoreError::Db(d) => d.into(),
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<paperclip_storage::StorageError> for ApiError {
    fn from(e: paperclip_storage::StorageError) -> Self {
        use paperclip_storage::StorageError as E;
        match e {
            E::TooLarge { limit } => ApiError::TooLarge(format!(
                "The file is larger than the limit of {limit} bytes"
            )),
            E::Interrupted(m) => ApiError::BadRequest {
                message: format!("The upload was interrupted: {m}"),
                details: None,
            },
            E::NotFound => ApiError::Failed("The stored file is missing from storage".into()),
            e @ (E::Config(_) | E::Backend(_)) => {
                tracing::error!(error = %e, "file storage failed");
                ApiError::Failed503("File storage is unavailable".into())
            }
        }
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Sql { context, source } => from_sql(context, source),
            DbError::Unavailable(m) => ApiError::Failed503(m),
            other => ApiError::Internal(other.into()),
        }
    }
}

/// A failed statement with what we were doing, as one error with a source.
#[derive(Debug, thiserror::Error)]
#[error("{context}")]
struct SqlFailure {
    context: String,
    #[source]
    source: sqlx::Error,
}

fn from_sql(context: String, source: sqlx::Error) -> ApiError {
    match &source {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_) => {
            tracing::warn!(error = %source, "{context}");
            ApiError::Unavailable
        }
        sqlx::Error::Database(d) => {
            let constraint = d.constraint().unwrap_or_default().to_string();
            match d.code().as_deref() {
                Some("23505") => ApiError::Conflict {
                    message: "Conflicts with an existing record".into(),
                    details: json!({ "constraint": constraint }),
                },
                // A CHECK or foreign key the handler's validation did not catch: still the
                // client's input, never a 500.
                Some("23514" | "23503" | "23502" | "22001" | "22003") => ApiError::Unprocessable {
                    message: format!("Invalid value ({})", d.message()),
                    details: json!([{ "path": [constraint], "message": d.message() }]),
                },
                // The server went away under us (crash, restart, admin shutdown): retryable.
                Some(code) if code.starts_with("57P") || code.starts_with("08") => {
                    tracing::warn!(error = %source, "{context}");
                    ApiError::Unavailable
                }
                Some("40001" | "40P01") => ApiError::Conflict {
                    message: "Concurrent update, please retry".into(),
                    details: json!({}),
                },
                _ => ApiError::Internal(SqlFailure { context, source }.into()),
            }
        }
        _ => ApiError::Internal(SqlFailure { context, source }.into()),
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        from_sql("database error".into(), e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry = match &self {
            ApiError::TooManyRequests { retry_after, .. } => Some(*retry_after),
            _ => None,
        };
        let (status, body) = self.parts();
        let mut res = (status, Json(body)).into_response();
        if let Some(secs) = retry {
            res.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(secs),
            );
        }
        res
    }
}

impl ApiError {
    /// The status and JSON body (the board renders the same message as HTML).
    pub fn parts(self) -> (StatusCode, Value) {
        match self {
            ApiError::BadRequest { message, details } => {
                let mut body = json!({ "error": message });
                if let Some(d) = details {
                    body["details"] = d;
                }
                (StatusCode::BAD_REQUEST, body)
            }
            ApiError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, json!({ "error": m })),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, json!({ "error": m })),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, json!({ "error": m })),
            ApiError::Conflict { message, details } => (
                StatusCode::CONFLICT,
                json!({ "error": message, "details": details }),
            ),
            ApiError::Unprocessable { message, details } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({ "error": message, "details": details }),
            ),
            ApiError::TooManyRequests { message, .. } => {
                (StatusCode::TOO_MANY_REQUESTS, json!({ "error": message }))
            }
            ApiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "error": "Database unavailable" }),
            ),
            ApiError::Failed503(m) => (StatusCode::SERVICE_UNAVAILABLE, json!({ "error": m })),
            ApiError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({ "error": "Request body too large" }),
            ),
            ApiError::TooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, json!({ "error": m })),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                json!({ "error": "Content-Type must be application/json" }),
            ),
            ApiError::Failed(m) => {
                tracing::error!(error = %m, "operation failed");
                (StatusCode::INTERNAL_SERVER_ERROR, json!({ "error": m }))
            }
            ApiError::Internal(cause) => {
                // As `dyn Error`, so the subscriber prints every source, not just the top.
                tracing::error!(
                    error = &*cause as &(dyn std::error::Error + 'static),
                    "request failed"
                );
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({ "error": "Internal server error" }),
                )
            }
        }
    }
}

/// Unknown `/api/*` routes (upstream's exact body).
pub async fn api_not_found() -> ApiError {
    ApiError::NotFound("API route not found".into())
}

/// Anything outside `/api`.
pub async fn not_found() -> ApiError {
    ApiError::NotFound("Not found".into())
}
