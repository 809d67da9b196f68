//! A hostile plugin worker against the sandbox: every claim of docs/PLUGINS.md ("What a worker
//! can reach") is tried by a real worker process and must come out as documented.

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use serde_json::json;
use sqlx::Connection;

const KEY: &str = "test.hostile-worker";

fn hostile_dir() -> String {
    format!(
        "{}/tests/fixtures/hostile-plugin",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Worker processes of the hostile plugin that are still alive.
fn hostile_workers() -> Vec<u32> {
    paperclip_testkit::live_processes("worker.py", "hostile-plugin")
}

async fn wait_running(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, p) = app.get(&format!("/plugins/{KEY}")).await;
        if p["workerRunning"] == true {
            return;
        }
        assert!(Instant::now() < deadline, "worker never came up: {p}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_hostile_worker_reaches_only_its_own_data() {
    if !paperclip_sandbox::landlock_support().enforced() {
        eprintln!("skipped: this kernel has no Landlock");
        return;
    }
    let app = TestApp::spawn().await;
    // The instance's secrets, as `paperclipai run` lays them out.
    let secrets = app.instance.join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    let master_key = secrets.join("master.key");
    std::fs::write(&master_key, "0123456789abcdef0123456789abcdef").unwrap();
    let pg_credentials = secrets.join("embedded-postgres.json");
    std::fs::write(&pg_credentials, r#"{"password":"superuser"}"#).unwrap();
    // A real file of the real cluster the server uses.
    let mut conn = app.db.connect().await;
    let data_directory: String = sqlx::query_scalar("SHOW data_directory")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let pg_port: i32 = sqlx::query_scalar("SELECT current_setting('port')::int")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    std::env::set_var("PAPERCLIP_TEST_SERVER_ONLY", "must not reach workers");

    let (s, p) = app
        .post("/plugins/install", json!({"path": hostile_dir()}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    wait_running(&app).await;
    let c = app.company("Hostile").await;
    let pg_version = format!("{data_directory}/PG_VERSION");
    let (s, out) = app
        .post(
            &format!("/plugins/{KEY}/api/probe"),
            json!({
                "companyId": c["id"],
                "readPaths": [master_key, pg_credentials, pg_version, "/etc/hostname"],
                "listPaths": [app.instance, data_directory],
                "writePaths": [format!("{}/planted", hostile_dir()), "/tmp/planted-by-plugin"],
                "pgPort": pg_port,
            }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{out}");
    let o = |k: &str| {
        out[k]
            .as_str()
            .unwrap_or_else(|| panic!("{k}: {out}"))
            .to_string()
    };
    let denied = |k: String| {
        let v = o(&k);
        assert!(v.starts_with("denied"), "{k}: {v}");
    };
    denied(format!("read {}", master_key.display()));
    denied(format!("read {}", pg_credentials.display()));
    denied(format!("read {pg_version}"));
    denied(format!("list {}", app.instance.display()));
    denied(format!("list {data_directory}"));
    denied(format!("write {}/planted", hostile_dir()));
    denied("write /tmp/planted-by-plugin".into());
    denied("proc environ of the server".into());
    denied("signal the server".into());
    denied("tcp to postgres".into());
    denied("allocate 3 GiB".into());
    // What it may do: system files, and its own data folder.
    assert!(o("read /etc/hostname").starts_with("allowed"), "{out}");
    let data = app.instance.join("data/plugins").join(KEY);
    assert!(
        o(&format!("write {}", data.join("mine.txt").display())).starts_with("allowed"),
        "{out}"
    );
    // Exactly the environment the host hands it.
    let env: Vec<String> = serde_json::from_value(out["env"].clone()).unwrap();
    for k in &env {
        assert!(
            k == "PATH"
                || k == "HOME"
                || k == "TMPDIR"
                || k == "LANG"
                || k == "PWD"
                || k == "LC_CTYPE"
                || k.starts_with("PYTHON")
                || k.starts_with("PAPERCLIP_PLUGIN_"),
            "unexpected variable {k} in {env:?}"
        );
    }
    // An unprivileged account of its own when the server is root.
    if nix::unistd::Uid::effective().is_root() {
        let uid = out["uid"].as_u64().unwrap();
        assert_ne!(uid, 0, "{out}");
        let account = nix::unistd::User::from_name("paperclip-plugin")
            .unwrap()
            .unwrap();
        assert_eq!(uid, u64::from(account.uid.as_raw()));
    }

    // It answers `shutdown` but does not exit, and ignores SIGTERM: disable still ends promptly
    // and the process is gone (its group was killed).
    assert_eq!(hostile_workers().len(), 1, "one worker per plugin");
    let started = Instant::now();
    let (s, _) = app
        .post(&format!("/plugins/{KEY}/disable"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let took = started.elapsed();
    assert!(
        hostile_workers().is_empty(),
        "the stubborn worker was killed"
    );
    eprintln!("disable of a stubborn worker took {took:?}");
    // Uninstalling a disabled plugin starts nothing again.
    let (s, _) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/plugins/{KEY}"),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(hostile_workers().is_empty(), "no respawn after uninstall");
}

#[tokio::test]
async fn one_plugin_cannot_starve_the_database_or_the_servers_memory() {
    const GREEDY: &str = "test.greedy-database";
    let app = TestApp::spawn().await;
    let dir = format!(
        "{}/tests/fixtures/greedy-plugin",
        env!("CARGO_MANIFEST_DIR")
    );
    let (s, p) = app.post("/plugins/install", json!({"path": dir})).await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, p) = app.get(&format!("/plugins/{GREEDY}")).await;
        if p["workerRunning"] == true {
            break;
        }
        assert!(Instant::now() < deadline, "worker never came up: {p}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let c = app.company("Greedy").await;
    let flood = |kind: &str, n: u32| {
        let (app, c, kind) = (&app, c.clone(), kind.to_string());
        async move {
            let (s, out) = app
                .post(
                    &format!("/plugins/{GREEDY}/api/flood"),
                    json!({"companyId": c["id"], "kind": kind, "n": n}),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{out}");
            out["answers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    // Results past the caps are refused inside PostgreSQL, with the cap named.
    let rows = flood("rows", 0).await;
    assert!(rows[0].contains("more than 10000 rows"), "{rows:?}");
    let bytes = flood("bytes", 0).await;
    assert!(bytes[0].contains("MiB"), "{bytes:?}");
    assert_eq!(flood("small", 0).await, vec!["ok"]);

    // The role has a connection limit of its own, enforced by PostgreSQL for every server.
    let mut conn = app.db.connect().await;
    let (role, limit): (String, i32) = sqlx::query_as(
        "SELECT r.rolname::text, r.rolconnlimit FROM pg_roles r
         JOIN plugin_database_namespaces n ON n.role_name = r.rolname
         JOIN plugins p ON p.id = n.plugin_id WHERE p.plugin_key = $1",
    )
    .bind(GREEDY)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(limit, 8);
    // Twelve queries at once: at most four run at a time on this server (sampled while they
    // run), and all of them finish. Only running backends count: one whose call has ended
    // may still be on its way out (its connection closed, the process not yet gone).
    let watch = {
        let url = app.db.url.clone();
        let role = role.clone();
        tokio::spawn(async move {
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            let mut most = 0i64;
            for _ in 0..60 {
                let n: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND state = 'active'",
                )
                .bind(&role)
                .fetch_one(&mut conn)
                .await
                .unwrap();
                most = most.max(n);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            most
        })
    };
    let answers = flood("concurrent", 12).await;
    assert!(answers.iter().all(|a| a == "ok"), "{answers:?}");
    let most = watch.await.unwrap();
    assert!(
        (1..=4).contains(&most),
        "{most} connections of the plugin's role at once"
    );
}
