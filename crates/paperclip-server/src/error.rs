//! The one mapping from failures to HTTP responses.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// Every error a handler can return. The body is always `{"error": "..."}` (plus `details` for
/// validation errors), as upstream's clients expect.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 404 with a message.
    #[error("{0}")]
    NotFound(String),
    /// 503: the database cannot be reached.
    #[error("database unreachable")]
    Unavailable,
    /// 500: logged here, generic to the client.
    #[error(transparent)]
    Internal(#[from] paperclip_db::DbError),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match &self {
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, m.clone()),
            ApiError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, self.to_string()),
            ApiError::Internal(e) => {
                // Logged once, here, at the boundary; the client gets no internals.
                tracing::error!(error = %e, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal server error".into(),
                )
            }
        };
        (status, Json(json!({ "error": message }))).into_response()
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
