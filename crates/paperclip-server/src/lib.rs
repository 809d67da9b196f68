//! Paperclip's HTTP API.
//!
//! Design: [`router`] is the only place that lists routes; each resource lives in its own module
//! with thin handlers; every error leaves through [`ApiError`], which gives every failure the
//! same `{"error": "..."}` shape. [`serve`] runs the router on a listener until a shutdown
//! future resolves, draining in-flight requests.

mod error;
mod health;

use std::future::Future;
use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use paperclip_db::Db;
use tokio::net::TcpListener;

pub use error::ApiError;

/// Facts about this server shown by `/api/health`.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// `local_trusted` or `authenticated`.
    pub deployment_mode: String,
    /// `embedded-postgres` or `postgres`.
    pub database_mode: &'static str,
    /// When this process started.
    pub started_at: chrono::DateTime<chrono::Utc>,
}

/// Shared state of every handler.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The application database.
    pub db: Db,
    /// Static facts about this server.
    pub info: Arc<ServerInfo>,
}

/// Largest request body accepted anywhere (1 MiB).
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// The whole HTTP API.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/health", get(health::get))
        .fallback(error::api_not_found);
    Router::new()
        .nest("/api", api)
        .fallback(error::not_found)
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            MAX_BODY_BYTES,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    fn state() -> AppState {
        // Nothing listens on port 1: the pool never connects, which is what these tests need.
        let pool = sqlx::postgres::PgPoolOptions::new()
            .acquire_timeout(std::time::Duration::from_millis(200))
            .connect_lazy("postgres://u:p@127.0.0.1:1/x")
            .unwrap();
        AppState {
            db: Db::from_pool(pool, true),
            info: Arc::new(ServerInfo {
                deployment_mode: "local_trusted".into(),
                database_mode: "postgres",
                started_at: chrono::Utc::now(),
            }),
        }
    }

    async fn call(uri: &str) -> (StatusCode, serde_json::Value) {
        let res = router(state())
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn unknown_api_routes_get_upstreams_404_body() {
        let (status, body) = call("/api/nope").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body, serde_json::json!({"error": "API route not found"}));
    }

    #[tokio::test]
    async fn health_is_503_when_the_database_is_unreachable() {
        let (status, body) = call("/api/health").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["status"], "unhealthy");
        assert_eq!(body["error"], "database_unreachable");
    }
}
