//! An in-process server on a real socket over a fresh, migrated database.
#![allow(dead_code)]

pub mod auth;
pub mod browser;
pub mod files;
pub mod routines;
pub mod runs;
pub mod world;

use std::sync::Arc;
use std::time::Duration;

use paperclip_config::PoolSettings;
use paperclip_postgres::Db;
use paperclip_server::{App, AppConfig};
use paperclip_store::migrate::{self, Approval};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

pub struct TestApp {
    pub base: String,
    pub client: Client,
    pub db: paperclip_testkit::TestDb,
    pub plugins: Arc<paperclip_server::plugin_host::PluginHost>,
    /// The server's own database handle (to occupy its pool in tests).
    pub pool: Db,
    /// A stand-in instance folder; plugin workers' data folders live under `data/plugins`.
    pub instance: std::path::PathBuf,
}

impl TestApp {
    pub async fn spawn() -> Self {
        let db = paperclip_testkit::cluster().create_database().await;
        migrate::run(&db.url, "test", Approval::Apply)
            .await
            .unwrap();
        Self::spawn_on(db, false).await
    }

    /// A server over a fresh database whose configuration `tweak` adjusts first.
    pub async fn spawn_with(tweak: impl FnOnce(&mut AppConfig)) -> Self {
        let db = paperclip_testkit::cluster().create_database().await;
        migrate::run(&db.url, "test", Approval::Apply)
            .await
            .unwrap();
        Self::spawn_tweaked(db, false, tweak).await
    }

    /// A server over an existing, migrated database, with secrets strict mode on or off.
    pub async fn spawn_on(db: paperclip_testkit::TestDb, strict: bool) -> Self {
        Self::spawn_tweaked(db, strict, |_| {}).await
    }

    async fn spawn_tweaked(
        db: paperclip_testkit::TestDb,
        strict: bool,
        tweak: impl FnOnce(&mut AppConfig),
    ) -> Self {
        let pool = Db::connect(
            &db.url,
            &PoolSettings {
                max_connections: 20,
                connect_timeout: Duration::from_secs(10),
                idle_timeout: Duration::from_secs(60),
                prepared_statements: None,
            },
        )
        .await
        .unwrap();
        let instance = std::env::temp_dir().join(format!("paperclip-test-instance-{}", db.name));
        let mut config =
            AppConfig::local(pool.clone(), &db.url, test_key(), &instance).expect("plugin sandbox");
        config.strict_secrets = strict;
        config.backup.enabled = true;
        config.backup.dir =
            std::env::temp_dir().join(format!("paperclip-test-backups-{}", db.name));
        tweak(&mut config);
        let app = App::new(config);
        app.start_background();
        let plugins = app.state.plugins.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/api", listener.local_addr().unwrap());
        tokio::spawn(async move { app.serve(listener, std::future::pending()).await });
        Self {
            base,
            client: Client::new(),
            db,
            plugins,
            instance,
            pool,
        }
    }

    /// Another server (replica) over the same database, with its own pool and instance folder;
    /// answers its API base URL. It runs until the test ends.
    pub async fn replica(&self, name: &str) -> String {
        self.replica_with(name, |_| {}).await
    }

    /// [`Self::replica`] whose configuration `tweak` adjusts first (another deployment mode).
    pub async fn replica_with(&self, name: &str, tweak: impl FnOnce(&mut AppConfig)) -> String {
        let pool = Db::connect(
            &self.db.url,
            &PoolSettings {
                max_connections: 20,
                connect_timeout: Duration::from_secs(10),
                idle_timeout: Duration::from_secs(60),
                prepared_statements: None,
            },
        )
        .await
        .unwrap();
        let instance =
            std::env::temp_dir().join(format!("paperclip-test-instance-{}-{name}", self.db.name));
        let mut config =
            AppConfig::local(pool, &self.db.url, test_key(), &instance).expect("plugin sandbox");
        tweak(&mut config);
        let app = App::new(config);
        app.start_background();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/api", listener.local_addr().unwrap());
        tokio::spawn(async move { app.serve(listener, std::future::pending()).await });
        base
    }

    /// Waits (up to 30 s) for a heartbeat run to end and answers it.
    pub async fn finished_run(&self, run_id: &str) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let (_, r) = self.get(&format!("/heartbeat-runs/{run_id}")).await;
            if !["queued", "running"].contains(&r["status"].as_str().unwrap_or("queued")) {
                return r;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "run still {}: {r}",
                r["status"]
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A finished run's whole log, as text: the NDJSON lines' chunks in order.
    pub async fn run_log(&self, run_id: &str) -> String {
        let (s, l) = self
            .get(&format!("/heartbeat-runs/{run_id}/log?limitBytes=1048576"))
            .await;
        assert_eq!(s, StatusCode::OK, "{l}");
        assert_eq!(l["complete"], true, "{l}");
        l["content"]
            .as_str()
            .unwrap()
            .lines()
            .map(|line| {
                serde_json::from_str::<Value>(line).unwrap()["chunk"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }

    /// A request as the board (or as an agent with `token`).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        let v = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{status} non-JSON body: {text}"));
        (status, v)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body), None).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(body), None).await
    }

    /// Creates a company and returns it.
    pub async fn company(&self, name: &str) -> Value {
        let (s, c) = self.post("/companies", json!({"name": name})).await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
        c
    }

    /// Creates an agent and returns it.
    pub async fn agent(&self, company: &Value, name: &str) -> Value {
        let (s, a) = self
            .post(&format!("/companies/{}/agents", company["id"].as_str().unwrap()),
                  json!({"name": name, "role": "engineer", "adapterType": "process", "adapterConfig": {"command": "true"}}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{a}");
        a
    }

    /// Creates an API key for an agent and returns the plaintext token.
    pub async fn key(&self, agent: &Value) -> String {
        let (s, k) = self
            .post(
                &format!("/agents/{}/keys", agent["id"].as_str().unwrap()),
                json!({"name": "test"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{k}");
        k["key"].as_str().unwrap().to_string()
    }

    /// Creates an issue and returns it.
    pub async fn issue(&self, company: &Value, body: Value) -> Value {
        let (s, i) = self
            .post(
                &format!("/companies/{}/issues", company["id"].as_str().unwrap()),
                body,
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{i}");
        i
    }
}

/// The master key every test server uses.
pub fn test_key() -> paperclip_secrets::MasterKey {
    paperclip_secrets::MasterKey::from_bytes([42; 32], paperclip_secrets::KeySource::Env)
}

pub fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap()
}

/// Runs the validator script on the document (and samples), failing with its output.
pub fn validate_openapi(doc: &std::path::Path, samples: Option<&std::path::Path>) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/validate_openapi.py");
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(script).arg(doc);
    if let Some(s) = samples {
        cmd.arg(s);
    }
    let out = cmd.output().expect("python3 runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "the OpenAPI check failed (install its tools with `.ci/run` or `pip install openapi-spec-validator`):\n{text}"
    );
    eprintln!("{text}");
}

pub async fn futures_join_all<F: std::future::Future>(
    futs: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    let handles: Vec<_> = futs.into_iter().map(Box::pin).collect();
    let mut out = Vec::new();
    // Poll them all concurrently on this task.
    let mut pending: Vec<_> = handles.into_iter().map(Some).collect();
    let mut results: Vec<Option<F::Output>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (i, slot) in pending.iter_mut().enumerate() {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        results[i] = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        if done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    for r in results {
        out.push(r.expect("completed"));
    }
    out
}
