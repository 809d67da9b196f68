//! Secrets through the real binary: key file, configure, migrate-inline-env, rotation, doctor.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;
use serde_json::{json, Value};

const VALUE: &str = "sk-cli-91bd27c4";

#[tokio::test]
async fn the_key_file_is_created_0600_checked_and_never_leaks() {
    let inst = Instance::new();
    let server = inst.start();
    let key_file = inst.root().join("secrets/master.key");
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(inst.root().join("config.json")).unwrap())
            .unwrap();
    assert_eq!(
        config["secrets"]["localEncrypted"]["keyFilePath"],
        key_file.display().to_string()
    );

    let company = server.post("/companies", json!({"name": "Cli Co"})).await;
    let cid = company["id"].as_str().unwrap();
    let secret = server
        .post(
            &format!("/companies/{cid}/secrets"),
            json!({"name": "openai", "value": VALUE}),
        )
        .await;
    assert!(!secret.to_string().contains(VALUE));
    server
        .post(
            &format!("/companies/{cid}/agents"),
            json!({"name": "Legacy", "adapterConfig": {"env": {"GITHUB_TOKEN": "ghp_cli_inline"}}}),
        )
        .await;

    // Dry run, then apply, on the embedded instance while the server runs.
    let out = inst.output(&["secrets", "migrate-inline-env"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("Dry run: 1 agents would be updated"),
        "{text}{}",
        stderr(&out)
    );
    let out = inst.output(&["secrets:migrate-inline-env", "--apply"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Updated 1 agents, created 1 secrets"),
        "{text}{}",
        stderr(&out)
    );

    let out = inst.output(&["doctor"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("✓ secrets key check"), "{text}");
    assert!(text.contains("strict mode"), "{text}");

    // Rotation needs the instance to itself.
    let out = inst.output(&["secrets", "rotate-master-key"]);
    assert!(
        !out.status.success() && stderr(&out).contains("already in use"),
        "{}",
        stderr(&out)
    );
    let log = server.log();
    assert_eq!(server.stop(), 0);
    assert!(
        !log.contains(VALUE) && !log.contains("ghp_cli_inline"),
        "a secret reached the server log"
    );

    let out = inst.output(&["secrets", "rotate-master-key"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("Re-encrypted 2 version(s)"),
        "{text}{}",
        stderr(&out)
    );
    let server = inst.start();
    let res = reqwest::get(server.url(&format!("/api/companies/{cid}/secrets")))
        .await
        .unwrap();
    assert!(res.status().is_success());
    server.stop();

    // Starting with another key fails at once, naming both fingerprints.
    let out = inst
        .with(
            "PAPERCLIP_SECRETS_MASTER_KEY",
            "0123456789abcdef0123456789abcdef",
        )
        .output(&["run"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("fingerprint") && err.contains("not the key"),
        "{err}"
    );
}

#[test]
fn configure_secrets_works_by_flags_without_a_terminal() {
    let inst = Instance::new();
    let key_file = inst.home.path().join("elsewhere.key");
    let out = inst.output(&[
        "configure",
        "--section",
        "secrets",
        "--strict",
        "--key-file",
        key_file.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(text.contains("Created local secrets key file"), "{text}");
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(inst.root().join("config.json")).unwrap())
            .unwrap();
    assert_eq!(config["secrets"]["strictMode"], true);
    assert_eq!(
        config["secrets"]["localEncrypted"]["keyFilePath"],
        key_file.display().to_string()
    );
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let out = inst.output(&["configure", "--section", "secrets", "--no-strict"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Using existing local secrets key file"));
    let out = inst.output(&["configure", "--section", "network"]);
    assert!(!out.status.success() && stderr(&out).contains("supported: secrets"));
}
