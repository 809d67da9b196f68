//! A real host for plugin tests: a Paperclip server on a free port over a fresh, migrated
//! database of the test cluster, with plugin workers enabled.

use std::sync::Arc;
use std::time::Duration;

use paperclip_server::{AppState, BackupState, SecretsState, ServerInfo};
use paperclip_store::migrate::{self, Approval};

/// A running host. Its base URL is `http://127.0.0.1:<port>/api`.
pub struct TestHost {
    pub base: String,
    pub db: paperclip_testkit::TestDb,
}

impl TestHost {
    /// Starts a host; call from a Tokio test.
    pub async fn spawn() -> Self {
        let db = paperclip_testkit::cluster().create_database().await;
        migrate::run(&db.url, "test", Approval::Apply)
            .await
            .expect("migrations");
        let pool = paperclip_postgres::Db::connect(
            &db.url,
            &paperclip_config::PoolSettings {
                max_connections: 10,
                connect_timeout: Duration::from_secs(10),
                idle_timeout: Duration::from_secs(60),
                prepared_statements: None,
            },
        )
        .await
        .expect("pool");
        let secrets = Arc::new(SecretsState {
            key: paperclip_secrets::MasterKey::from_bytes(
                [7; 32],
                paperclip_secrets::KeySource::Env,
            ),
            strict: false,
        });
        let plugins = paperclip_server::plugin_host::PluginHost::new(
            pool.clone(),
            db.url.clone(),
            secrets.clone(),
            paperclip_server::plugin_host::WorkerSandbox::new(
                std::env::temp_dir().join(format!("paperclip-plugin-data-{}", db.name)),
            )
            .expect("plugin sandbox"),
        );
        plugins.spawn_reconciler();
        let state = AppState {
            tasks: paperclip_server::tasks::Supervisor::new(),
            db: pool,
            info: Arc::new(ServerInfo {
                deployment_mode: paperclip_domain::DeploymentMode::LocalTrusted,
                allowed_hostnames: vec![],
                database_mode: "postgres",
                started_at: chrono::Utc::now(),
            }),
            secrets,
            plugins,
            backup: Arc::new(BackupState {
                enabled: false,
                interval_minutes: 60,
                dir: std::env::temp_dir().join(format!("paperclip-plugin-test-{}", db.name)),
                url: db.url.clone(),
                retention: paperclip_backup::retention::Retention::with_days(7),
                bin_dir: None,
            }),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}/api", listener.local_addr().expect("addr"));
        tokio::spawn(paperclip_server::serve(
            listener,
            state,
            std::future::pending(),
        ));
        Self { base, db }
    }
}
