//! Master-key checks, rotation (including an interrupted one) and inline-env migration against a
//! real PostgreSQL.

use paperclip_config::{EnvKey, SecretsSettings};
use paperclip_secrets::{cipher, KeySource, MasterKey};
use paperclip_store::migrate::{self, Approval};
use paperclip_store::secrets::{self, NewSecret};
use paperclip_store::{agents, companies, Actor};
use paperclip_store::{keyring, StoreError};
use paperclip_testkit::{cluster, TestDb};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

async fn setup() -> (TestDb, PgConnection, Uuid) {
    let db = cluster().create_database().await;
    migrate::run(&db.url, "test", Approval::Apply)
        .await
        .unwrap();
    let mut conn = db.connect().await;
    let c = companies::create(
        &mut conn,
        &Actor::local_board(),
        &companies::NewCompany {
            name: "Keys".into(),
            description: None,
            budget_monthly_cents: 0,
            require_board_approval_for_new_agents: false,
        },
    )
    .await
    .unwrap();
    (db, conn, c.id)
}

fn settings(dir: &std::path::Path) -> SecretsSettings {
    SecretsSettings {
        provider: "local_encrypted".into(),
        strict_mode: false,
        key_file: dir.join("secrets").join("master.key"),
        env_key: None,
        agent_jwt_secret: None,
    }
}

async fn values(conn: &mut PgConnection, key: &MasterKey) -> Vec<String> {
    let rows: Vec<serde_json::Value> =
        sqlx::query_scalar("SELECT material FROM company_secret_versions ORDER BY created_at")
            .fetch_all(conn)
            .await
            .unwrap();
    rows.iter()
        .map(|m| {
            cipher::decrypt(key, &cipher::from_json(m).unwrap())
                .unwrap()
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn a_different_master_key_is_refused_at_startup_with_both_fingerprints() {
    let (_db, mut conn, cid) = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    let key = keyring::load_and_verify(&s, &mut conn).await.unwrap();
    secrets::create(
        &mut conn,
        &Actor::local_board(),
        &key,
        cid,
        NewSecret {
            name: "a",
            key: "a",
            description: None,
            value: "v",
        },
    )
    .await
    .unwrap();
    assert!(
        keyring::load_and_verify(&s, &mut conn).await.is_ok(),
        "same key again"
    );
    let other = SecretsSettings {
        env_key: Some(EnvKey("0123456789abcdef0123456789abcdef".into())),
        ..s.clone()
    };
    let err = keyring::load_and_verify(&other, &mut conn)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, StoreError::KeyMismatch { .. }), "{text}");
    assert!(text.contains(&key.fingerprint()), "{text}");
}

#[tokio::test]
async fn rotation_reencrypts_everything_and_survives_an_interruption() {
    let (_db, mut conn, cid) = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    let old = keyring::load_and_verify(&s, &mut conn).await.unwrap();
    let actor = Actor::local_board();
    for i in 0..3 {
        let name = format!("s{i}");
        secrets::create(
            &mut conn,
            &actor,
            &old,
            cid,
            NewSecret {
                name: &name,
                key: &name,
                description: None,
                value: &format!("value-{i}"),
            },
        )
        .await
        .unwrap();
    }

    // Interrupted after the re-encryption committed but before the key files were swapped.
    let next = keyring::next_key_path(&s.key_file);
    let new = MasterKey::generate(KeySource::File(next.clone()));
    new.write_new(&next).unwrap();
    {
        use sqlx::Connection;
        let mut tx = conn.begin().await.unwrap();
        secrets::reencrypt_all(&mut tx, &old, &new).await.unwrap();
        tx.commit().await.unwrap();
    }
    let err = keyring::load_and_verify(&s, &mut conn)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("rotation was interrupted") && err.contains("rotate-master-key"),
        "{err}"
    );

    // Re-running finishes the job without touching rows already under the new key.
    let r = keyring::rotate(&s, &mut conn).await.unwrap();
    assert_eq!((r.reencrypted, r.already_new), (0, 3));
    assert_eq!(r.new_fingerprint, new.fingerprint());
    assert!(r.backup.exists() && !next.exists());
    let installed = keyring::load_and_verify(&s, &mut conn).await.unwrap();
    assert_eq!(installed.fingerprint(), new.fingerprint());
    assert_eq!(
        values(&mut conn, &installed).await,
        ["value-0", "value-1", "value-2"]
    );

    // A clean rotation from there, interrupted before anything committed, is simply redone.
    let next2 = keyring::next_key_path(&s.key_file);
    MasterKey::generate(KeySource::File(next2.clone()))
        .write_new(&next2)
        .unwrap();
    let r = keyring::rotate(&s, &mut conn).await.unwrap();
    assert_eq!((r.reencrypted, r.already_new), (3, 0));
    let installed = keyring::load_and_verify(&s, &mut conn).await.unwrap();
    assert_eq!(
        values(&mut conn, &installed).await,
        ["value-0", "value-1", "value-2"]
    );
    let backups = std::fs::read_dir(s.key_file.parent().unwrap())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".bak-"))
        .count();
    assert!(backups >= 1);
}

#[tokio::test]
async fn inline_env_migration_dry_runs_then_applies_idempotently() {
    let (_db, mut conn, cid) = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let key = keyring::load_and_verify(&settings(dir.path()), &mut conn)
        .await
        .unwrap();
    let actor = Actor::local_board();
    let a = agents::create(&mut conn, &actor, cid, &agents::NewAgent {
        name: "Legacy".into(),
        role: "engineer".into(),
        adapter_type: "process".into(),
        adapter_config: json!({"command": "x", "env": {"GITHUB_TOKEN": "ghp_legacy", "OPENAI_API_KEY": {"type": "plain", "value": "sk-legacy"}, "LOG_LEVEL": "info"}}),
        status: "idle".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let before: serde_json::Value =
        sqlx::query_scalar("SELECT adapter_config FROM agents WHERE id = $1")
            .bind(a.id)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    let candidates = secrets::inline_candidates(&mut conn, Some(cid))
        .await
        .unwrap();
    assert_eq!(candidates.len(), 2);
    assert!(candidates.iter().all(|c| c
        .secret_name
        .starts_with(&format!("agent_{}_", &a.id.simple().to_string()[..8]))));
    let after_dry: serde_json::Value =
        sqlx::query_scalar("SELECT adapter_config FROM agents WHERE id = $1")
            .bind(a.id)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(before, after_dry, "a dry run changes nothing");

    let (created, rotated) = secrets::migrate_agent_inline_env(&mut conn, &actor, &key, a.id)
        .await
        .unwrap();
    assert_eq!((created, rotated), (2, 0));
    let config: serde_json::Value =
        sqlx::query_scalar("SELECT adapter_config FROM agents WHERE id = $1")
            .bind(a.id)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(config["env"]["GITHUB_TOKEN"]["type"], "secret_ref");
    assert_eq!(
        config["env"]["LOG_LEVEL"], "info",
        "non-sensitive values stay"
    );
    let resolved = secrets::resolve_env(&mut conn, &key, cid, &config["env"])
        .await
        .unwrap();
    assert_eq!(resolved["GITHUB_TOKEN"].as_str(), "ghp_legacy");
    assert_eq!(resolved["OPENAI_API_KEY"].as_str(), "sk-legacy");
    assert!(secrets::inline_candidates(&mut conn, Some(cid))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        secrets::migrate_agent_inline_env(&mut conn, &actor, &key, a.id)
            .await
            .unwrap(),
        (0, 0),
        "idempotent"
    );
}
