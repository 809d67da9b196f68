//! The seed's container files, tested without a container engine (none runs on these
//! machines): the image's entrypoint script run as the image would run it, with the image's
//! environment and the real binary; `docker-compose.yml` parsed and checked; `.env.example` and
//! the `Dockerfile` checked against what docs/DOCKER.md promises.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The Dockerfile's `ENV` of the runtime stage, as pairs.
fn image_env() -> Vec<(String, String)> {
    let dockerfile = read("Dockerfile");
    let runtime = dockerfile.rsplit("\nFROM ").next().unwrap();
    let joined = runtime.replace("\\\n", " ");
    let env_line = joined
        .lines()
        .find(|l| l.starts_with("ENV "))
        .expect("an ENV line");
    env_line
        .trim_start_matches("ENV ")
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The entrypoint with the image's environment, the state folder at `state` and the binary
/// on `PATH` (as `/usr/local/bin/paperclipai` is in the image).
fn entrypoint(state: &Path, port: u16, args: &[&str]) -> Command {
    let bin_dir = Path::new(BIN).parent().unwrap();
    let mut cmd = Command::new("sh");
    cmd.arg(repo().join("docker/entrypoint.sh"))
        .args(args)
        .env_clear()
        .env(
            "PATH",
            format!(
                "{}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
                bin_dir.display()
            ),
        )
        .stdin(Stdio::null());
    for (k, v) in image_env() {
        cmd.env(k, v);
    }
    // This machine's PostgreSQL (the image's is 17 under the same layout).
    cmd.env_remove("PAPERCLIP_PG_BIN_DIR")
        .env("PAPERCLIP_HOME", state)
        .env("PORT", port.to_string())
        .env("PAPERCLIP_EMBEDDED_POSTGRES_PORT", free_port().to_string());
    cmd
}

#[test]
fn the_entrypoint_brings_up_a_healthy_server_from_an_empty_state_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("paperclip");
    let port = free_port();
    let mut server = entrypoint(&state, port, &["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The image's HEALTHCHECK command, until it passes.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let check = Command::new(BIN)
            .args(["health", "--api-base", &format!("http://127.0.0.1:{port}")])
            .output()
            .unwrap();
        if check.status.success() {
            assert!(String::from_utf8_lossy(&check.stdout).contains("ok"));
            break;
        }
        assert!(
            Instant::now() < deadline && server.try_wait().unwrap().is_none(),
            "the entrypoint's server never became healthy"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Listening beyond loopback, in authenticated mode, as the image runs it.
    let health: Value = serde_json::from_slice(
        &Command::new(BIN)
            .args([
                "health",
                "--json",
                "--api-base",
                &format!("http://127.0.0.1:{port}"),
            ])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(health["deploymentMode"], "authenticated");
    assert!(state.join("instances/default/db/PG_VERSION").is_file());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(server.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert!(server.wait().unwrap().success(), "SIGTERM stops it cleanly");

    // Any other command passes through.
    let out = entrypoint(&state, free_port(), &["db", "status", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["mode"], "embedded-postgres");
}

#[test]
fn an_unwritable_state_folder_stops_the_entrypoint_with_the_fix() {
    if !nix::unistd::geteuid().is_root() {
        return; // Needs another account to be refused.
    }
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let state = tmp.path().join("paperclip");
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
    let script = tmp.path().join("entrypoint.sh");
    std::fs::copy(repo().join("docker/entrypoint.sh"), &script).unwrap();
    let out = Command::new("setpriv")
        .args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "sh",
            &script.display().to_string(),
            "run",
        ])
        .env("PAPERCLIP_HOME", &state)
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    let e = stderr(&out);
    assert!(
        e.contains("is not writable by nobody") && e.contains("chown"),
        "{e}"
    );
}

#[test]
fn the_compose_file_matches_the_seed() {
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
            &repo().join("docker-compose.yml").display().to_string(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let compose: Value = serde_json::from_slice(&out.stdout).unwrap();
    let db = &compose["services"]["db"];
    assert!(db["image"].as_str().unwrap().starts_with("postgres:17"));
    assert_eq!(db["environment"]["POSTGRES_USER"], "paperclip");
    assert_eq!(db["environment"]["POSTGRES_PASSWORD"], "paperclip");
    assert_eq!(db["environment"]["POSTGRES_DB"], "paperclip");
    assert_eq!(db["ports"][0], "5432:5432");
    assert!(db["healthcheck"]["test"]
        .to_string()
        .contains("pg_isready -U paperclip -d paperclip"));
    assert!(db["volumes"][0]
        .as_str()
        .unwrap()
        .ends_with(":/var/lib/postgresql/data"));
    let server = &compose["services"]["server"];
    assert_eq!(
        server["environment"]["DATABASE_URL"],
        "postgres://paperclip:paperclip@db:5432/paperclip"
    );
    assert_eq!(server["depends_on"]["db"]["condition"], "service_healthy");
    assert_eq!(server["build"], ".");
    assert!(server["volumes"][0]
        .as_str()
        .unwrap()
        .ends_with(":/paperclip"));
    for v in ["pgdata", "paperclip-data"] {
        assert!(compose["volumes"].get(v).is_some(), "volume {v}");
    }

    let env = read(".env.example");
    assert!(
        env.lines()
            .any(|l| l == "DATABASE_URL=postgres://paperclip:paperclip@localhost:5432/paperclip"),
        "{env}"
    );
}

#[test]
fn the_dockerfile_is_multi_stage_non_root_with_state_in_a_volume_and_a_health_check() {
    let d = read("Dockerfile");
    assert!(d.matches("\nFROM ").count() + usize::from(d.starts_with("FROM ")) >= 2);
    let runtime = d.rsplit("\nFROM ").next().unwrap();
    assert!(runtime.contains("\nUSER paperclip"), "non-root");
    assert!(runtime.contains("VOLUME [\"/paperclip\"]"));
    assert!(runtime.contains("HEALTHCHECK") && runtime.contains("paperclipai health"));
    assert!(
        runtime.contains("postgresql-17"),
        "embedded PostgreSQL by default"
    );
    let env: std::collections::HashMap<_, _> = image_env().into_iter().collect();
    assert_eq!(env["PAPERCLIP_HOME"], "/paperclip");
    assert_eq!(env["PAPERCLIP_DEPLOYMENT_MODE"], "authenticated");
    assert_eq!(env["HOST"], "0.0.0.0");
    assert!(
        !env.contains_key("DATABASE_URL"),
        "embedded unless told otherwise"
    );
    // Every file the build copies exists.
    for line in d
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let parts: Vec<&str> = line.split_whitespace().collect();
        for src in &parts[1..parts.len() - 1] {
            assert!(repo().join(src).exists(), "COPY source {src} is missing");
        }
    }
}
