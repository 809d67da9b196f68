//! Each claim of the confinement, tested with a real child process (python3) that tries it.

use std::path::Path;
use std::process::Command;

use paperclip_sandbox::{
    confine, landlock_support, spawn_on_stable_thread, Limits, Network, Policy,
};

fn policy(data: &Path) -> Policy {
    Policy {
        account: None,
        read_exec: vec![],
        read_write: vec![data.to_path_buf()],
        network: Network::DenyTcp,
        limits: Limits {
            address_space_bytes: Some(512 << 20),
            open_files: Some(64),
            ..Limits::default()
        },
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        require_landlock: false,
    }
}

/// Runs `code` in a confined python3 and returns (success, stdout).
fn run(policy: &Policy, code: &str) -> (bool, String) {
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.args(["-c", code]);
    confine(&mut cmd, policy).unwrap();
    let out = spawn_on_stable_thread(move || cmd.output()).unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string()
            + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn a_confined_child_reaches_only_what_the_policy_names() {
    if !landlock_support().enforced() {
        eprintln!("skipped: this kernel has no Landlock");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let secret = root.path().join("master.key");
    std::fs::write(&secret, "top secret").unwrap();
    let data = root.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::env::set_var("PAPERCLIP_SECRET_FOR_TEST", "leak");
    let p = policy(&data);

    // Files outside the policy: not readable, not listable, even as root.
    let (ok, out) = run(&p, &format!("open('{}').read()", secret.display()));
    assert!(!ok && out.contains("PermissionError"), "{out}");
    let (ok, out) = run(
        &p,
        &format!("import os; os.listdir('{}')", root.path().display()),
    );
    assert!(!ok && out.contains("PermissionError"), "{out}");
    // Its own data folder: read and write.
    let (ok, out) = run(
        &p,
        &format!(
            "p='{}/x'; open(p,'w').write('hi'); print(open(p).read())",
            data.display()
        ),
    );
    assert!(ok && out.starts_with("hi"), "{out}");
    // The environment is exactly the policy's.
    let (ok, out) = run(&p, "import os; print(sorted(os.environ))");
    assert!(ok, "{out}");
    assert!(!out.contains("PAPERCLIP_SECRET_FOR_TEST"), "{out}");
    // No signal to a process outside its domain (this test process).
    let (ok, out) = run(
        &p,
        &format!("import os; os.kill({}, 0)", std::process::id()),
    );
    assert!(!ok && out.contains("PermissionError"), "{out}");
    // No TCP.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (ok, out) = run(
        &p,
        &format!("import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2)"),
    );
    assert!(!ok && out.contains("PermissionError"), "{out}");
    let mut allowed = p.clone();
    allowed.network = Network::Allow;
    let (ok, out) = run(
        &allowed,
        &format!("import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2)"),
    );
    assert!(ok, "{out}");
    // Memory and file-descriptor limits.
    let (ok, out) = run(&p, "b = bytearray(1 << 30)");
    assert!(!ok && out.contains("MemoryError"), "{out}");
    let (ok, out) = run(&p, "fs=[open('/dev/null') for _ in range(100)]");
    assert!(!ok && out.contains("Too many open files"), "{out}");
}

#[test]
fn a_confined_child_starts_in_its_own_process_group() {
    let data = tempfile::tempdir().unwrap();
    let (ok, out) = run(
        &policy(data.path()),
        "import os; print(os.getpgrp() == os.getpid())",
    );
    assert!(ok && out.starts_with("True"), "{out}");
}
