//! A real host for plugin tests (its own crate, so the plugin SDK does not depend on the server): a Paperclip server on a free port over a fresh, migrated
//! database of the test cluster, with plugin workers enabled.

use std::time::Duration;

use paperclip_server::{App, AppConfig};
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
        let instance = std::env::temp_dir().join(format!("paperclip-plugin-test-{}", db.name));
        let app = App::new(
            AppConfig::local(
                pool,
                &db.url,
                paperclip_secrets::MasterKey::from_bytes(
                    [7; 32],
                    paperclip_secrets::KeySource::Env,
                ),
                &instance,
            )
            .expect("plugin sandbox"),
        );
        app.start_background();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}/api", listener.local_addr().expect("addr"));
        tokio::spawn(async move { app.serve(listener, std::future::pending()).await });
        Self { base, db }
    }
}
