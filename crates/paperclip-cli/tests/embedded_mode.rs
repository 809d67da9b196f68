//! `paperclipai run` in embedded mode, as a user runs it.

mod common;

use common::*;
use paperclip_postgres::embedded::postmaster;
use sqlx::{Connection, PgConnection};

async fn write_marker(root: &std::path::Path, value: &str) {
    let mut c = PgConnection::connect(&embedded_url(root)).await.unwrap();
    sqlx::query("UPDATE instance_settings SET general = jsonb_build_object('marker', $1::text)")
        .bind(value)
        .execute(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();
}

async fn read_marker(root: &std::path::Path) -> String {
    let mut c = PgConnection::connect(&embedded_url(root)).await.unwrap();
    let v: String = sqlx::query_scalar("SELECT general->>'marker' FROM instance_settings")
        .fetch_one(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();
    v
}

#[tokio::test]
async fn first_start_creates_the_instance_and_a_restart_keeps_data() {
    let inst = Instance::new();
    let server = inst.start();
    let (status, body) = server.health().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["deploymentMode"], "local_trusted");
    // Scheduled backups (on by default) run under the task supervisor, which reports them.
    assert_eq!(
        body["backgroundTasks"]["scheduledBackups"]["runs"], 0,
        "{body}"
    );
    let root = inst.root();
    assert!(root.join("db/PG_VERSION").is_file());
    assert!(root.join("config.json").is_file());
    let first_log = server.log();
    assert!(
        first_log.contains("initdb"),
        "first start shows progress:\n{first_log}"
    );
    assert!(first_log.contains("0001_instance_settings"), "{first_log}");
    if nix::unistd::Uid::effective().is_root() {
        use std::os::unix::fs::MetadataExt;
        let owner = std::fs::metadata(root.join("db")).unwrap().uid();
        assert_ne!(
            owner, 0,
            "as root, the data directory belongs to the unprivileged account"
        );
    }
    write_marker(&root, "kept").await;
    assert_eq!(server.stop(), 0);
    assert!(
        postmaster::postmasters_in(&root.join("db")).is_empty(),
        "PostgreSQL stopped with the server"
    );

    let server = inst.start();
    assert_eq!(server.health().await.0, 200);
    assert_eq!(read_marker(&root).await, "kept");
    let log = server.log();
    assert!(
        !log.contains("initdb") && !log.contains("Applying"),
        "warm start is quiet:\n{log}"
    );
    server.stop();
}

#[tokio::test]
async fn a_second_server_on_the_same_instance_is_refused_naming_the_pid() {
    let inst = Instance::new();
    let server = inst.start();
    let second = inst.output(&["run"]);
    assert!(!second.status.success());
    let err = stderr(&second);
    assert!(
        err.contains("already in use") && err.contains(&format!("PID {}", server.child.id())),
        "{err}"
    );
    assert_eq!(
        server.health().await.0,
        200,
        "the first server is unaffected"
    );
    server.stop();
}

#[tokio::test]
async fn two_first_starts_at_once_leave_one_owner_and_a_clear_refusal() {
    let inst = Instance::new();
    let spawn = || {
        inst.command(&["run"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (mut a, mut b) = (spawn(), spawn());
    // The loser exits; the winner keeps serving until we stop it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let (loser, mut winner) = loop {
        if a.try_wait().unwrap().is_some() {
            break (a, b);
        }
        if b.try_wait().unwrap().is_some() {
            break (b, a);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "neither start gave up"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let out = loser.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("already in use") && !err.contains("cannot write config"),
        "{err}"
    );
    // Stopped once it serves (a SIGTERM during initdb would be a different test).
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(winner.stderr.take().unwrap()));
    assert!(
        lines.any(|l| l.is_ok_and(|l| l.contains("listening on"))),
        "the winner never served"
    );
    // Keep reading: a closed stderr would fail the server's last log lines.
    let rest = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(winner.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = winner.wait().unwrap();
    assert!(status.success(), "{status}: {:?}", rest.join().unwrap());
}

/// The postmasters of the instance's data directory once they are down to one (or `secs` have
/// passed), with a description of each for the failure message.
async fn settled_postmasters(root: &std::path::Path, secs: u64) -> (Vec<i32>, Vec<String>) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let pids = loop {
        let now = postmaster::postmasters_in(&root.join("db"));
        if now.len() == 1 || std::time::Instant::now() > deadline {
            break now;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let described = pids
        .iter()
        .map(|p| {
            let cmd = std::fs::read_to_string(format!("/proc/{p}/cmdline")).unwrap_or_default();
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            format!("{p}: {cmd:?} {stat}")
        })
        .collect();
    (pids, described)
}

#[tokio::test]
async fn kill_9_of_the_server_then_restart_loses_nothing_and_runs_one_postmaster() {
    let inst = Instance::new();
    let root = inst.root();
    let server = inst.start();
    write_marker(&root, "before crash").await;
    server.kill9();
    let server = inst.start();
    assert_eq!(server.health().await.0, 200);
    assert_eq!(read_marker(&root).await, "before crash");
    // Processes of the killed server's cluster may take a moment to finish exiting.
    let (pms, described) = settled_postmasters(&root, 10).await;
    assert_eq!(pms.len(), 1, "{described:#?}");
    server.stop();
    assert!(postmaster::postmasters_in(&root.join("db")).is_empty());
}

#[tokio::test]
async fn db_migrate_and_status_work_with_and_without_a_running_server() {
    let inst = Instance::new();
    let out = inst.output(&["db:migrate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "Applied {} migration",
            paperclip_store::migrate::MIGRATIONS.len()
        )),
        "{}",
        stderr(&out)
    );
    assert!(
        postmaster::postmasters_in(&inst.root().join("db")).is_empty(),
        "temporary cluster stopped"
    );

    let server = inst.start();
    let out = inst.output(&["db", "status", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["mode"], "embedded-postgres");
    assert_eq!(status["pendingMigrations"], serde_json::json!([]));
    let creds: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(inst.root().join("secrets/embedded-postgres.json")).unwrap(),
    )
    .unwrap();
    let url = status["url"].as_str().unwrap();
    assert!(
        !url.contains(creds["password"].as_str().unwrap()) && url.contains("***"),
        "{url}"
    );
    let out = inst.output(&["db", "migrate"]);
    assert!(
        stderr(&out).contains("No pending migrations"),
        "{}",
        stderr(&out)
    );
    assert_eq!(server.health().await.0, 200);
    server.stop();
}

#[tokio::test]
async fn pending_migrations_are_refused_when_prompting_is_off() {
    let inst = Instance::new();
    let server = inst.start();
    let mut c = PgConnection::connect(&embedded_url(&inst.root()))
        .await
        .unwrap();
    sqlx::query("DELETE FROM paperclip_migrations")
        .execute(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();
    server.stop();
    let inst = inst.with("PAPERCLIP_MIGRATION_PROMPT", "never");
    let out = inst.output(&["run"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("pending migrations") && err.contains("Refusing"),
        "{err}"
    );
    assert!(
        postmaster::postmasters_in(&inst.root().join("db")).is_empty(),
        "nothing left running"
    );
}

#[tokio::test]
async fn a_taken_http_port_fails_clearly_before_starting_postgres() {
    let blocker = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = blocker.local_addr().unwrap().port().to_string();
    let inst = Instance::new().with("PORT", &port);
    let out = inst.output(&["run"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!("HTTP port {port}")) && err.contains("PORT=0"),
        "{err}"
    );
    assert!(!inst.root().join("db").exists(), "no cluster was created");
}

#[tokio::test]
async fn doctor_reports_a_healthy_instance() {
    let inst = Instance::new();
    let out = inst.output(&["doctor"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(
        text.contains("✓ postgresql binaries") && text.contains("All checks passed"),
        "{text}"
    );
    // The plugin sandbox and backup permissions are reported (Landlock where the kernel has it).
    assert!(text.contains("backup permissions"), "{text}");
    if paperclip_sandbox::landlock_support().enforced() {
        assert!(
            text.contains("✓ plugin sandbox") && text.contains("confined by landlock"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn a_killed_postmaster_is_restarted_and_requests_fail_fast_meanwhile() {
    let inst = Instance::new();
    let root = inst.root();
    let server = inst.start();
    let client = reqwest::Client::builder()
        // Far below the pool's 30 s acquire timeout: a request that waits for it fails here.
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap();
    let res = client
        .post(server.url("/api/companies"))
        .json(&serde_json::json!({"name": "Survivor"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    // The soft open-file limit was raised to the hard one at start.
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.child.id())).unwrap();
    let open_files: Vec<&str> = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(open_files[3], open_files[4], "{limits}");
    let before = postmaster::postmasters_in(&root.join("db"));
    assert_eq!(before.len(), 1);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(before[0]),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // Every answer meanwhile is a JSON 503 or a success, never a 500 or a hang.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let companies = loop {
        let res = client
            .get(server.url("/api/companies"))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let body: serde_json::Value = res.json().await.unwrap();
        match status {
            // Open backends can still answer for a moment after their postmaster died: done only
            // once the supervisor says the new one is up.
            200 if server.log().contains("PostgreSQL is back") => break body,
            200 | 503 => {}
            other => panic!("{other} while PostgreSQL restarts: {body}"),
        }
        assert!(
            std::time::Instant::now() < deadline,
            "PostgreSQL never came back"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(companies[0]["name"], "Survivor", "{companies}");
    // The dead postmaster's children notice its death on their own and exit.
    let (after, names) = settled_postmasters(&root, 30).await;
    assert_eq!(after.len(), 1, "{names:?}");
    assert_ne!(after, before, "a new postmaster");
    assert!(server.log().contains("restarting it"), "{}", server.log());
    assert_eq!(server.stop(), 0);
    assert!(postmaster::postmasters_in(&root.join("db")).is_empty());
}

/// On a terminal a first start turns a spinner while PostgreSQL is set up, and the log lines
/// printed meanwhile stay whole: written around the spinner, never onto its line.
#[test]
fn a_first_start_on_a_terminal_shows_a_spinner_and_keeps_log_lines_whole() {
    let inst = Instance::new();
    let mut term = inst.on_terminal("exec \"$BIN\" run");
    term.wait_for("listening on http://");
    let lines = term.lines();
    let raw = term.raw.clone();
    assert!(term.stop().success());

    let all = lines.join("\n");
    // Drawn, then wiped by the lines after it: it shows in what was written, not on screen.
    assert!(
        String::from_utf8_lossy(&raw).contains("Starting the database"),
        "no spinner:\n{all}"
    );
    // "Created database" is logged after initdb's seconds, with the spinner surely drawn.
    for line in ["INFO Initializing PostgreSQL", "INFO Created database"] {
        let words = &line["INFO ".len()..];
        let found = lines
            .iter()
            .find(|l| l.contains(words))
            .unwrap_or_else(|| panic!("no {words:?} line:\n{all}"));
        assert!(found.starts_with(line), "a torn line: {found:?}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Paperclip listening on http://")),
        "a torn line:\n{all}"
    );
}
