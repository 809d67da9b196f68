//! Paperclip's HTTP API.
//!
//! Design: [`router`] is the only place that lists routes; each resource lives in its own module
//! with thin handlers; every error leaves through [`ApiError`], which gives every failure the
//! same `{"error": "..."}` shape. [`serve`] runs the router on a listener until a shutdown
//! future resolves, draining in-flight requests.

mod api;
pub mod app;
pub mod auth;
pub mod background;
mod board;
pub mod doc;
mod error;
mod etag;
pub mod extract;
pub mod files;
mod guard;
mod health;
pub mod listener;
pub mod live;
mod read_cache;
pub mod session;
mod upload;
pub use paperclip_plugin_host as plugin_host;
mod routes;
pub mod tasks;
pub mod views;

use std::future::Future;
use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use paperclip_postgres::Db;
use tokio::net::TcpListener;

pub use app::{App, AppConfig, AppConfigError};
pub use error::ApiError;
pub use paperclip_secrets::SecretsState;

/// Facts about this server shown by `/api/health`.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// `local_trusted` or `authenticated`.
    pub deployment_mode: paperclip_domain::DeploymentMode,
    /// `private` or `public` (authenticated mode).
    pub exposure: paperclip_domain::DeploymentExposure,
    /// Board sign-in settings.
    pub auth: paperclip_config::AuthSettings,
    /// Host names besides loopback ones that requests may name (`server.allowedHostnames`).
    pub allowed_hostnames: Vec<String>,
    /// `embedded-postgres` or `postgres`.
    pub database_mode: &'static str,
    /// When this process started.
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// `DELETE /api/companies/:id` is allowed (`PAPERCLIP_ENABLE_COMPANY_DELETION`).
    pub company_deletion: bool,
    /// `run --maintenance`: no agent runs, schedules, plugin workers or scheduled backups.
    pub maintenance: bool,
}

/// Backup configuration of this server.
#[derive(Debug, Clone)]
pub struct BackupState {
    /// Scheduled backups are on.
    pub enabled: bool,
    /// Minutes between scheduled backups.
    pub interval_minutes: u32,
    /// Where backups go.
    pub dir: std::path::PathBuf,
    /// Direct URL `pg_dump` connects to.
    pub url: String,
    /// Retention policy.
    pub retention: paperclip_backup::retention::Retention,
    /// Folder of PostgreSQL binaries to prefer.
    pub bin_dir: Option<std::path::PathBuf>,
}

/// Shared state of every handler.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The application database.
    pub db: Db,
    /// Static facts about this server.
    pub info: Arc<ServerInfo>,
    /// Secrets key and policy.
    pub secrets: Arc<SecretsState>,
    /// Backups.
    pub backup: Arc<BackupState>,
    /// Plugin workers of this process.
    pub plugins: Arc<paperclip_plugin_host::PluginHost>,
    /// Background tasks of this process (status in `/api/health`).
    pub tasks: Arc<tasks::Supervisor>,
    /// The heartbeat engine of this process.
    pub runs: Arc<paperclip_runs::Engine>,
    /// This server's reader of the live events outbox (WebSocket clients follow it).
    pub live: Arc<live::Hub>,
    /// Attachment storage.
    pub files: Arc<files::Files>,
    /// Answers to repeated company reads, reused while the database snapshot is unchanged.
    pub reads: Arc<read_cache::ReadCache>,
}

/// Largest request body accepted anywhere (1 MiB).
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// Every route of the API, in one table (see [`api`]).
fn api() -> api::Api {
    use routes::*;
    api::Api::new()
        .tag("health")
        .get("/health", "Server and database health", health::get)
        .tag("auth")
        .post("/auth/sign-up/email", "Create an account (by invite while sign-up is closed) and sign in: sets the session cookie", auth::sign_up)
        .post("/auth/sign-in/email", "Sign in with email and password: sets the session cookie (throttled per account and client address)", auth::sign_in)
        .post("/auth/sign-out", "End this session and clear its cookie", auth::sign_out)
        .get("/auth/get-session", "The caller's session and user ({session, user}) and the CSRF token for cookie mutations", auth::get_session)
        .post("/auth/change-password", "Change the password (ends the account's other sessions unless revokeOtherSessions is false)", auth::change_password)
        .get("/auth/list-sessions", "The account's sessions", auth::list_sessions)
        .post("/auth/revoke-session", "End one of the account's sessions", auth::revoke_session)
        .get("/board-api-keys", "The account's board API keys", auth::list_board_keys)
        .post("/board-api-keys", "Create a board API key (pcb_…); the plaintext is returned once", auth::create_board_key)
        .delete("/board-api-keys/{keyId}", "Revoke a board API key", auth::revoke_board_key)
        .tag("access")
        .get("/companies/{companyId}/members", "Company members (board members of the company)", access::list_members)
        .patch("/companies/{companyId}/members/{memberId}", "Change a member's role or status (owner or admin)", access::patch_member)
        .post("/companies/{companyId}/members/{memberId}/archive", "Remove a member (owner or admin)", access::archive_member)
        .get("/companies/{companyId}/invites", "Company invites (owner or admin)", access::list_invites)
        .post("/companies/{companyId}/invites", "Create an invite link, single use and expiring (owner or admin); the token is returned once", access::create_invite)
        .post("/invites/{inviteId}/revoke", "Revoke an unused invite (owner or admin)", access::revoke_invite)
        .get("/invites/{token}", "What an invite link offers (no sign-in needed)", access::invite_summary)
        .post("/invites/{token}/accept", "Accept an invite as the signed-in user: a join request (company) or the first instance admin (bootstrap)", access::accept_invite)
        .get("/companies/{companyId}/join-requests", "Join requests (owner or admin)", access::list_join_requests)
        .post("/companies/{companyId}/join-requests/{requestId}/approve", "Approve: the user becomes a member with the invite's role (owner or admin)", access::approve_join_request)
        .post("/companies/{companyId}/join-requests/{requestId}/reject", "Reject a join request (owner or admin)", access::reject_join_request)
        .get("/admin/users", "Every board user (instance admin)", access::list_users)
        .post("/admin/users/{userId}/promote-instance-admin", "Make a user an instance admin (instance admin)", access::promote)
        .post("/admin/users/{userId}/demote-instance-admin", "Demote an instance admin; the last one stays (instance admin)", access::demote)
        .tag("companies")
        .get("/companies", "List companies", companies::list)
        .post("/companies", "Create a company (board)", companies::create)
        .get("/companies/{companyId}", "Get a company", companies::get)
        .patch("/companies/{companyId}", "Update a company (board)", companies::patch)
        .delete("/companies/{companyId}", "Delete a company and everything of it, after a backup (board; when enabled)", deletes::company)
        .post("/companies/{companyId}/archive", "Archive a company (board)", companies::archive)
        .get("/companies/{companyId}/dashboard", "Agents and issues by status, month-to-date spend, approvals, recent activity", companies::dashboard)
        .get("/companies/{companyId}/org", "Org tree", companies::org)
        .get("/companies/{companyId}/activity", "Activity log (filters: agentId, entityType, entityId, action, limit, offset)", companies::activity)
        .tag("agents")
        .get("/companies/{companyId}/agents", "List agents", agents::list)
        .post("/companies/{companyId}/agents", "Create an agent (board)", agents::create)
        .post("/companies/{companyId}/agent-hires", "Request a hire (creates a pending agent and a hire_agent approval when required)", agents::hire)
        .get("/agents/me", "The calling agent", agents::me)
        .get("/agents/{agentId}", "Get an agent", agents::get)
        .patch("/agents/{agentId}", "Update an agent (board)", agents::patch)
        .delete("/agents/{agentId}", "Delete an agent: it stays as a tombstone its runs, costs and activity point at (board)", deletes::agent)
        .post("/agents/{agentId}/pause", "Pause an agent (board)", agents::pause)
        .post("/agents/{agentId}/resume", "Resume a paused agent (board)", agents::resume)
        .post("/agents/{agentId}/terminate", "Terminate an agent, irreversibly (board)", agents::terminate)
        .post("/agents/{agentId}/approve", "Approve a pending agent (board)", agents::approve)
        .get("/agents/{agentId}/keys", "List API keys (board)", agents::list_keys)
        .post("/agents/{agentId}/keys", "Create an API key; the plaintext is returned once (board)", agents::create_key)
        .delete("/agents/{agentId}/keys/{keyId}", "Revoke an API key (board)", agents::revoke_key)
        .post("/agents/{agentId}/wakeup", "Queue a wakeup: 202 with the run that answers it (new or coalesced), 200 for a repeated idempotencyKey, 409 with the reason when not admitted", agents::wakeup)
        .tag("heartbeat-runs")
        .post("/agents/{agentId}/heartbeat/invoke", "Run a heartbeat now (on_demand): 202 with the queued run", runs::invoke)
        .get("/agents/me/inbox/mine", "The calling agent's assigned issues with read state (agent)", inbox::mine)
        .get("/agents/me/inbox-lite", "The calling agent's open issues in pick order (agent)", runs::inbox_lite)
        .get("/companies/{companyId}/heartbeat-runs", "List runs, newest first (filters: agentId, status csv, limit)", runs::list)
        .get("/companies/{companyId}/live-runs", "Queued and running runs", runs::live)
        .get("/heartbeat-runs/{runId}", "Get a run", runs::get)
        .get("/heartbeat-runs/{runId}/events", "Run events after a sequence number (afterSeq, limit)", runs::events)
        .get("/heartbeat-runs/{runId}/log", "A slice of the run's NDJSON log (offset, limitBytes)", runs::log)
        .post("/heartbeat-runs/{runId}/cancel", "Cancel a run: a queued one at once, a running one by stopping its process group (board)", runs::cancel)
        .get("/issues/{issueId}/runs", "Runs for an issue, newest first", runs::issue_runs)
        .get("/issues/{issueId}/active-run", "The run holding an issue now, or null", runs::active_run)
        .get("/issues/{issueId}/heartbeat-context", "An issue with ancestors, project, goal, plan, recent comments and its active run", runs::heartbeat_context)
        .get("/adapters", "Adapters this server runs", runs::adapters)
        .post("/companies/{companyId}/adapters/{type}/test-environment", "Is the adapter's CLI installed, which version, can it authenticate: pass/warn/fail checks with hints", runtime::test_environment)
        .get("/agents/{agentId}/runtime-state", "Session and usage totals of a coding agent (null before its first run)", runtime::runtime_state)
        .post("/agents/{agentId}/runtime-state/reset-session", "Forget the agent's sessions (one taskKey, or all): the next heartbeat starts fresh (board or the agent)", runtime::reset_session)
        .get("/agents/{agentId}/task-sessions", "The agent's session per task", runtime::task_sessions)
        .get("/agents/{agentId}/instructions-bundle", "The agent's instructions files", runtime::instructions_bundle)
        .get("/agents/{agentId}/instructions-bundle/file", "One instructions file (path, default AGENTS.md)", runtime::get_instructions_file)
        .put("/agents/{agentId}/instructions-bundle/file", "Write an instructions file (board or the agent)", runtime::put_instructions_file)
        .delete("/agents/{agentId}/instructions-bundle/file", "Delete an instructions file (board or the agent)", runtime::delete_instructions_file)
        .get("/skills/index", "Skills Paperclip serves", runtime::skills_index)
        .get("/skills/{skillName}", "A skill's text (`paperclip`: how agents work here)", runtime::skill)
        .tag("issues")
        .get("/companies/{companyId}/issues", "List issues (filters: status csv, assigneeAgentId, assigneeUserId, projectId, parentId, labelId, q, limit, offset)", issues::list)
        .post("/companies/{companyId}/issues", "Create an issue", issues::create)
        .get("/issues/{issueId}", "Get an issue by UUID or identifier", issues::get)
        .patch("/issues/{issueId}", "Update an issue (optional comment)", issues::patch)
        .delete("/issues/{issueId}", "Delete an issue with its comments, documents, files and deliverables (board)", deletes::issue)
        .post("/issues/{issueId}/checkout", "Atomically check out an issue for an agent", issues::checkout)
        .post("/issues/{issueId}/release", "Release a checked-out issue", issues::release)
        .post("/issues/{issueId}/admin/force-release", "Clear run locks (board)", issues::force_release)
        .get("/issues/{issueId}/comments", "List comments (after, order, limit)", issues::list_comments)
        .post("/issues/{issueId}/comments", "Add a comment", issues::create_comment)
        .get("/issues/{issueId}/comments/{commentId}", "Get a comment", issues::get_comment)
        .delete("/issues/{issueId}/comments/{commentId}", "Delete a comment (author or board)", issues::delete_comment)
        .get("/issues/{issueId}/documents", "List documents", issues::list_documents)
        .get("/issues/{issueId}/documents/{key}", "Get a document", issues::get_document)
        .put("/issues/{issueId}/documents/{key}", "Write a document revision (baseRevisionId must be the latest)", issues::put_document)
        .delete("/issues/{issueId}/documents/{key}", "Delete a document (board)", issues::delete_document)
        .get("/issues/{issueId}/documents/{key}/revisions", "Document revisions, newest first", issues::document_revisions)
        .get("/issues/{issueId}/activity", "Activity of an issue", issues::activity)
        .tag("labels")
        .get("/companies/{companyId}/labels", "List labels", labels::list)
        .post("/companies/{companyId}/labels", "Create a label {name, color}", labels::create)
        .post("/companies/{companyId}/issues/{issueId}/attachments", "Attach a file to an issue or one of its comments (multipart `file`, or the raw bytes)", attachments::create)
        .get("/issues/{issueId}/attachments", "List an issue's attachments", attachments::list)
        .get("/attachments/{attachmentId}/content", "Download an attachment", attachments::content)
        .post("/companies/{companyId}/assets/images", "Upload a company image (PNG, JPEG, GIF, WebP; multipart `file` or the raw bytes)", attachments::create_image)
        .get("/assets/{assetId}/content", "Download a stored file by its asset id", attachments::asset_content)
        .delete("/attachments/{attachmentId}", "Delete an attachment (board or its uploader)", attachments::delete)
        .get("/issues/{issueId}/work-products", "List an issue's deliverables (primary first)", work_products::list)
        .post("/issues/{issueId}/work-products", "Add a deliverable to an issue (a PR, branch, commit, preview, artifact, document)", work_products::create)
        .patch("/work-products/{workProductId}", "Update a deliverable", work_products::patch)
        .delete("/work-products/{workProductId}", "Delete a deliverable", work_products::delete)
        .post("/issues/{issueId}/read", "Mark an issue read for the caller", inbox::mark_read)
        .delete("/issues/{issueId}/read", "Mark an issue unread for the caller", inbox::mark_unread)
        .post("/issues/{issueId}/inbox-archive", "Archive an issue from the caller's inbox (a newer comment brings it back)", inbox::archive)
        .delete("/issues/{issueId}/inbox-archive", "Bring an issue back to the caller's inbox", inbox::unarchive)
        .get("/companies/{companyId}/sidebar-badges", "Counts for the board's sidebar: unread inbox, pending approvals, failed runs", inbox::sidebar_badges)
        .delete("/labels/{labelId}", "Delete a label (it leaves its issues)", labels::delete)
        .tag("goals")
        .get("/companies/{companyId}/goals", "List goals", goals::list)
        .post("/companies/{companyId}/goals", "Create a goal", goals::create)
        .get("/goals/{goalId}", "Get a goal", goals::get)
        .patch("/goals/{goalId}", "Update a goal", goals::patch)
        .delete("/goals/{goalId}", "Delete an unreferenced goal (board)", goals::delete)
        .tag("projects")
        .get("/companies/{companyId}/projects", "List projects", projects::list)
        .post("/companies/{companyId}/projects", "Create a project", projects::create)
        .get("/projects/{projectId}", "Get a project", projects::get)
        .patch("/projects/{projectId}", "Update a project", projects::patch)
        .delete("/projects/{projectId}", "Delete a project; its issues and costs lose it (board)", deletes::project)
        .tag("approvals")
        .get("/companies/{companyId}/approvals", "List approvals (status)", approvals::list)
        .post("/companies/{companyId}/approvals", "Request an approval", approvals::create)
        .get("/approvals/{approvalId}", "Get an approval", approvals::get)
        .get("/approvals/{approvalId}/issues", "Issues linked to an approval", approvals::issues)
        .post("/approvals/{approvalId}/approve", "Approve (board)", approvals::approve)
        .post("/approvals/{approvalId}/reject", "Reject (board)", approvals::reject)
        .post("/approvals/{approvalId}/request-revision", "Ask for a revision (board)", approvals::request_revision)
        .post("/approvals/{approvalId}/resubmit", "Resubmit after a revision request", approvals::resubmit)
        .tag("portability")
        .post("/companies/{companyId}/export", "Export the company as a bundle (NDJSON, streamed): every table of its work, secret names and bindings but never values", portability::export)
        .post("/companies/{companyId}/exports/preview", "What an export of the company holds: tables, what is left out and why, rows per table", portability::export_preview)
        .post("/companies/import/preview", "Read a bundle (the body) and answer its counts and collisions with the target, writing nothing", portability::import_preview)
        .post("/companies/import", "Import a bundle (the body) into a new company or ?companyId=, in one transaction", portability::import)
        .tag("routines")
        .get("/companies/{companyId}/routines", "List routines with their triggers", routines::list)
        .post("/companies/{companyId}/routines", "Create a routine: the template of the issue each firing creates, and its policies", routines::create)
        .get("/routines/{routineId}", "Get a routine with its triggers (schedules with nextRunAt)", routines::get)
        .patch("/routines/{routineId}", "Update a routine; status paused stops it, active resumes it from now", routines::patch)
        .get("/routines/{routineId}/runs", "A routine's firings, newest first", routines::runs)
        .post("/routines/{routineId}/run", "Fire a routine now (manual or api source; idempotencyKey answers a repeat with the first run)", routines::run)
        .post("/routines/{routineId}/triggers", "Add a trigger: schedule (cron + timezone), webhook (answers its signing secret once) or api", routines::create_trigger)
        .patch("/routine-triggers/{triggerId}", "Update a trigger (enable, disable, reschedule, signing)", routines::patch_trigger)
        .delete("/routine-triggers/{triggerId}", "Delete a trigger and its signing secret", routines::delete_trigger)
        .post("/routine-triggers/{triggerId}/rotate-secret", "New signing secret for a webhook trigger (answered once; the old one stops working)", routines::rotate_secret)
        .post("/routine-triggers/public/{publicId}/fire", "Fire a routine from outside: authenticated by the trigger's signing mode, replays refused (409)", routines::fire)
        .tag("secrets")
        .get("/companies/{companyId}/secret-providers", "Secret providers and whether they are configured", secrets::providers)
        .get("/companies/{companyId}/secrets", "List secrets (metadata only)", secrets::list)
        .post("/companies/{companyId}/secrets", "Create a secret (board); the value is never returned", secrets::create)
        .patch("/secrets/{secretId}", "Rename, re-describe, or set a new value (new version) (board)", secrets::patch)
        .post("/secrets/{secretId}/rotate", "Store a new version of the value (board)", secrets::rotate)
        .delete("/secrets/{secretId}", "Delete a secret and destroy its versions (board)", secrets::delete)
        .tag("plugins")
        .get("/plugins", "List plugins (board)", plugins::list)
        .post("/plugins/install", "Install a plugin from a local folder and enable it (board)", plugins::install)
        .get("/plugins/{pluginId}", "Get a plugin (board)", plugins::get)
        .post("/plugins/{pluginId}/enable", "Enable a plugin: re-apply migrations, start its worker (board)", plugins::enable)
        .post("/plugins/{pluginId}/disable", "Disable a plugin: stop its worker (board)", plugins::disable)
        .delete("/plugins/{pluginId}", "Uninstall a plugin (board); its schema and data are kept", plugins::uninstall)
        .any("/plugins/{pluginId}/api/{*path}", "A route the plugin declares in apiRoutes, forwarded to its worker", plugins::scoped)
        .tag("instance")
        .post("/instance/database-backups", "Take a database backup now (board; 409 while one runs)", instance::backup)
        .tag("costs")
        .post("/companies/{companyId}/cost-events", "Report a cost event", costs::create)
        .get("/companies/{companyId}/costs/summary", "Month-to-date spend vs budget", costs::summary)
        .get("/companies/{companyId}/costs/by-agent", "Month-to-date spend by agent", costs::by_agent)
        .get("/companies/{companyId}/costs/by-project", "Month-to-date spend by project", costs::by_project)
}

/// The OpenAPI document of [`router`]'s routes.
pub fn openapi_document() -> serde_json::Value {
    let (_, mut ops) = api().into_parts();
    ops.push(api::Op::external(
        "get",
        "/openapi.json",
        "This document (OpenAPI 3.1)",
        "meta",
        |_| doc::OpDoc {
            responses: vec![(200, schemars::json_schema!({"type": "object"}))],
            ..Default::default()
        },
    ));
    api::openapi(&ops)
}

/// `GET /api/openapi.json`: rendered once, on the first request (most servers never get one, and
/// an idle server should not carry the document), then served as the same bytes.
async fn openapi_json() -> axum::response::Response {
    use axum::response::IntoResponse;
    static RENDERED: std::sync::OnceLock<axum::body::Bytes> = std::sync::OnceLock::new();
    let body = RENDERED.get_or_init(|| {
        serde_json::to_vec(&openapi_document())
            .expect("the document serializes")
            .into()
    });
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.clone(),
    )
        .into_response()
}

/// The whole HTTP API.
pub fn router(state: AppState) -> Router {
    let (routes, _) = api().into_parts();
    let api = routes
        .route("/openapi.json", get(openapi_json))
        // A WebSocket (101), outside the typed table: see docs/API.md "Live events".
        .route("/companies/{companyId}/events/ws", get(live::socket))
        .fallback(error::api_not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            etag::revalidate,
        ));
    Router::new()
        .nest("/api", api)
        // Board pages are kept and reused like the API's company reads (see read_cache).
        .merge(board::router().layer(axum::middleware::from_fn_with_state(
            state.clone(),
            etag::revalidate,
        )))
        .fallback(error::not_found)
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            listener::BODY_TIMEOUT,
        ))
        // Before anything reads the body: its refusals (foreign Host or Origin, bad URI,
        // oversized Content-Length) are JSON, and it caps every body (see guard::body_limit).
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::guard,
        ))
        // Large lists are mostly repeated keys and nulls: gzip (fastest level) shrinks them
        // several times for clients that ask for it, at little CPU cost.
        .layer(
            tower_http::compression::CompressionLayer::new()
                .quality(tower_http::CompressionLevel::Fastest),
        )
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listener::serve(listener, router(state), shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    fn state() -> AppState {
        let key =
            paperclip_secrets::MasterKey::from_bytes([9; 32], paperclip_secrets::KeySource::Env);
        // Nothing listens on port 1: the pool never connects, which is what these tests need.
        let url = "postgres://u:p@127.0.0.1:1/x";
        let pool = sqlx::postgres::PgPoolOptions::new()
            .acquire_timeout(std::time::Duration::from_millis(200))
            .connect_lazy(url)
            .unwrap();
        let instance = std::env::temp_dir().join("paperclip-no-instance");
        App::new(AppConfig::local(Db::from_pool(pool, true), url, key, &instance).unwrap()).state
    }

    async fn call(uri: &str) -> (StatusCode, serde_json::Value) {
        let res = router(state())
            .oneshot(
                Request::get(uri)
                    .header("host", "localhost")
                    .body(Body::empty())
                    .unwrap(),
            )
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
