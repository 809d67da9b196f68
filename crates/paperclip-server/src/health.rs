//! `GET /api/health`: upstream's shape, plus the database facts operators need.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use paperclip_api_types::health::{
    DatabaseHealth, Features, Health, PoolHealth, ServerFacts, StartupRecovery, Unhealthy, Warning,
};

use crate::doc::{DescribeResponse, OpDoc};

use crate::AppState;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// 200 with the server's status when the database answers `SELECT 1` on the health connection
/// (its own, so a busy pool cannot fail it): `"ok"`, or `"degraded"` while every connection of
/// the application pool is busy (requests queue). Else 503
/// `{"status":"unhealthy","error":"database_unreachable"}`.
pub async fn get(State(state): State<AppState>) -> Result<Json<Health>, Down> {
    report(&state).await.map(Json)
}

/// The health report (also shown on the board's settings page).
pub async fn report(state: &AppState) -> Result<Health, Down> {
    let info = &state.info;
    if !state.db.ping().await {
        return Err(Down(Unhealthy {
            status: "unhealthy",
            version: VERSION,
            error: "database_unreachable",
        }));
    }
    let b = &state.backup;
    let backup = paperclip_backup::health(&b.dir, b.enabled, b.interval_minutes);
    let mut warnings = backup.warnings.clone();
    if info.maintenance {
        warnings.push(Warning {
            code: "maintenance_mode".into(),
            message: "started with --maintenance: agents do not run and schedules do not fire until a normal start".into(),
        });
    }
    let pool = state.db.pool_state();
    if pool.saturated() {
        warnings.push(Warning {
            code: "database_pool_saturated".into(),
            message: format!(
                "all {} database connections are busy; requests are queueing (DATABASE_POOL_MAX raises the limit)",
                pool.max
            ),
        });
    }
    // Authenticated mode is `bootstrap_pending` until an instance admin exists.
    let (pending, invite_active) =
        if info.deployment_mode == paperclip_domain::DeploymentMode::Authenticated {
            let mut conn = state.db.session().await.map_err(|_| {
                Down(Unhealthy {
                    status: "unhealthy",
                    version: VERSION,
                    error: "database_unreachable",
                })
            })?;
            let admin = paperclip_store::users::admin_exists(&mut conn).await;
            let invite = paperclip_store::users::members::bootstrap_invite_active(&mut conn).await;
            let _ = conn.close().await;
            (!admin.unwrap_or(true), invite.unwrap_or(false))
        } else {
            (false, false)
        };
    Ok(Health {
        status: if pool.saturated() { "degraded" } else { "ok" },
        version: VERSION,
        server_version: VERSION,
        commit: None,
        deployment_mode: info.deployment_mode.to_string(),
        deployment_exposure: info.exposure.to_string(),
        auth_ready: true,
        bootstrap_status: if pending {
            "bootstrap_pending"
        } else {
            "ready"
        }
        .into(),
        bootstrap_invite_active: invite_active,
        features: Features {
            company_deletion_enabled: info.company_deletion,
        },
        server_info: ServerFacts {
            process_started_at: info
                .started_at
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        },
        startup_recovery: {
            let r = state.runs.recovery();
            StartupRecovery {
                phase: r.phase.into(),
                updated_at: r
                    .updated_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                recovered_runs: r.recovered_runs,
                error: r.error,
            }
        },
        database: DatabaseHealth {
            mode: info.database_mode,
            prepared_statements: state.db.prepared_statements(),
            pool: PoolHealth {
                size: pool.size,
                idle: pool.idle,
                max: pool.max,
            },
        },
        database_backup: backup,
        background_tasks: state.tasks.report(),
        warnings,
    })
}

/// The 503 answer.
pub struct Down(Unhealthy);

impl IntoResponse for Down {
    fn into_response(self) -> Response {
        (StatusCode::SERVICE_UNAVAILABLE, Json(self.0)).into_response()
    }
}

impl DescribeResponse for Down {
    fn describe(doc: &mut OpDoc, gen: &mut schemars::SchemaGenerator) {
        doc.responses.push((503, gen.subschema_for::<Unhealthy>()));
    }
}
