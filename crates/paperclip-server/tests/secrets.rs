//! Company secrets over HTTP: metadata only out, references in env, strict mode, redaction.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const VALUE: &str = "sk-test-4f9c2b7d1e8a";
const INLINE: &str = "ghp_inline_7e3a9c0b";

/// Every response body a test saw, to prove no secret value ever leaves the server.
#[derive(Default)]
struct Seen(Vec<String>);

impl Seen {
    fn keep(&mut self, r: &(StatusCode, Value)) -> (StatusCode, Value) {
        self.0.push(r.1.to_string());
        r.clone()
    }
    fn assert_never(&self, secret: &str) {
        for body in &self.0 {
            assert!(
                !body.contains(secret),
                "a response contained a secret value: {body}"
            );
        }
    }
}

#[tokio::test]
async fn secrets_are_write_only_and_versioned() {
    let app = TestApp::spawn().await;
    let mut seen = Seen::default();
    let c = app.company("Vault Co").await;
    let cid = id(&c);
    let (s, secret) = seen.keep(&app.post(&format!("/companies/{cid}/secrets"), json!({"name": "Bench API token", "key": "BENCH_TOKEN", "value": VALUE, "description": "benchmark dummy"})).await);
    assert_eq!(s, StatusCode::CREATED, "{secret}");
    assert_eq!(
        (secret["key"].clone(), secret["latestVersion"].clone()),
        (json!("bench_token"), json!(1))
    );
    let sample: Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/tests/fixtures/upstream/secret-create.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    for k in sample["response"].as_object().unwrap().keys() {
        assert!(secret.get(k).is_some(), "secret lacks {k}");
    }
    let (s, dup) = seen.keep(
        &app.post(
            &format!("/companies/{cid}/secrets"),
            json!({"name": "Bench API token", "value": "x"}),
        )
        .await,
    );
    assert_eq!(s, StatusCode::CONFLICT, "{dup}");
    seen.keep(&app.get(&format!("/companies/{cid}/secrets")).await);
    let (_, providers) = seen.keep(&app.get(&format!("/companies/{cid}/secret-providers")).await);
    assert_eq!(providers.as_array().unwrap().len(), 4);
    let (s, rotated) = seen.keep(
        &app.post(
            &format!("/secrets/{}/rotate", id(&secret)),
            json!({"value": format!("{VALUE}-v2")}),
        )
        .await,
    );
    assert_eq!(
        (s, rotated["latestVersion"].clone()),
        (StatusCode::OK, json!(2))
    );
    let (s, _) = seen.keep(
        &app.patch(
            &format!("/secrets/{}", id(&secret)),
            json!({"description": "renamed", "value": format!("{VALUE}-v3")}),
        )
        .await,
    );
    assert_eq!(s, StatusCode::OK);
    let (s, err) = seen.keep(
        &app.post(
            &format!("/companies/{cid}/secrets"),
            json!({"name": "aws", "value": "x", "provider": "aws_secrets_manager"}),
        )
        .await,
    );
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    let (s, _) = seen.keep(
        &app.post(
            &format!("/companies/{cid}/secrets"),
            json!({"name": "k", "value": "x", "provider": "keychain"}),
        )
        .await,
    );
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (_, activity) = seen.keep(&app.get(&format!("/companies/{cid}/activity")).await);
    assert!(activity
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["action"] == "secret.rotated"));

    // The values are stored encrypted: not even the database holds them in clear.
    let mut conn = app.db.connect().await;
    let dump: String = sqlx::query_scalar("SELECT string_agg(material::text || coalesce(value_sha256, ''), ' ') FROM company_secret_versions")
        .fetch_one(&mut conn).await.unwrap();
    assert!(!dump.contains(VALUE) && dump.contains("local_encrypted_v1"));

    let (s, _) = seen.keep(
        &app.call(
            Method::DELETE,
            &format!("/secrets/{}", id(&secret)),
            None,
            None,
        )
        .await,
    );
    assert_eq!(s, StatusCode::OK);
    let destroyed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM company_secret_versions WHERE material <> '{}'::jsonb",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(destroyed, 0, "deleting a secret destroys its versions");
    let (s, _) = seen.keep(
        &app.post(
            &format!("/companies/{cid}/secrets"),
            json!({"name": "Bench API token", "value": "again"}),
        )
        .await,
    );
    assert_eq!(s, StatusCode::CREATED, "a deleted name can be reused");
    seen.assert_never(VALUE);
}

#[tokio::test]
async fn env_references_must_point_into_the_same_company() {
    let app = TestApp::spawn().await;
    let mut seen = Seen::default();
    let c = app.company("Refs").await;
    let other = app.company("Other").await;
    let (_, mine) = seen.keep(
        &app.post(
            &format!("/companies/{}/secrets", id(&c)),
            json!({"name": "openai", "value": VALUE}),
        )
        .await,
    );
    let (_, theirs) = seen.keep(
        &app.post(
            &format!("/companies/{}/secrets", id(&other)),
            json!({"name": "openai", "value": VALUE}),
        )
        .await,
    );
    let agent_body = |secret: &Value| {
        json!({"name": "Env Agent", "adapterConfig": {"env": {
        "OPENAI_API_KEY": {"type": "secret_ref", "secretId": secret["id"], "version": "latest"}, "MODE": "fast"}}})
    };
    let (s, agent) = seen.keep(
        &app.post(&format!("/companies/{}/agents", id(&c)), agent_body(&mine))
            .await,
    );
    assert_eq!(s, StatusCode::CREATED, "{agent}");
    assert_eq!(
        agent["adapterConfig"]["env"]["OPENAI_API_KEY"]["type"],
        "secret_ref"
    );
    assert_eq!(
        agent["adapterConfig"]["env"]["MODE"],
        json!({"type": "plain", "value": "fast"})
    );
    let (s, err) = seen.keep(
        &app.post(
            &format!("/companies/{}/agents", id(&c)),
            agent_body(&theirs),
        )
        .await,
    );
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    let (s, err) = seen.keep(
        &app.patch(
            &format!("/agents/{}", id(&agent)),
            json!({"adapterConfig": {"env": {"API_KEY": "***REDACTED***"}}}),
        )
        .await,
    );
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["error"]
        .as_str()
        .unwrap()
        .contains("redacted placeholder"));
    let (s, _) = seen.keep(
        &app.patch(
            &format!("/agents/{}", id(&agent)),
            json!({"adapterConfig": {"env": {"bad name": "x"}}}),
        )
        .await,
    );
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, p) = seen.keep(&app.post(&format!("/companies/{}/projects", id(&c)), json!({"name": "P", "env": {"TOKEN": {"type": "secret_ref", "secretId": mine["id"], "version": 5}}})).await);
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a version that does not exist: {p}"
    );

    // Inline sensitive values (strict mode off) are accepted but never read back.
    let (s, inline) = seen.keep(
        &app.post(
            &format!("/companies/{}/agents", id(&c)),
            json!({"name": "Inline", "adapterConfig": {"env": {"GITHUB_TOKEN": INLINE}}}),
        )
        .await,
    );
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(
        inline["adapterConfig"]["env"]["GITHUB_TOKEN"]["value"],
        "***REDACTED***"
    );
    seen.keep(&app.get(&format!("/agents/{}", id(&inline))).await);
    let (_, p) = seen.keep(
        &app.post(
            &format!("/companies/{}/projects", id(&c)),
            json!({"name": "Inline P", "env": {"DB_PASSWORD": INLINE}}),
        )
        .await,
    );
    assert_eq!(p["env"]["DB_PASSWORD"]["value"], "***REDACTED***");
    seen.keep(&app.get(&format!("/companies/{}/projects", id(&c))).await);
    seen.keep(&app.get(&format!("/projects/{}", id(&p))).await);
    seen.keep(&app.get(&format!("/companies/{}/agents", id(&c))).await);

    // A run resolves references (and plain values) on demand.
    let mut conn = app.db.connect().await;
    let env: Value =
        sqlx::query_scalar("SELECT adapter_config->'env' FROM agents WHERE id = $1::uuid")
            .bind(id(&agent))
            .fetch_one(&mut conn)
            .await
            .unwrap();
    let resolved = paperclip_store::secrets::resolve_env(
        &mut conn,
        &test_key(),
        uuid::Uuid::parse_str(id(&c)).unwrap(),
        &env,
    )
    .await
    .unwrap();
    assert_eq!(resolved["OPENAI_API_KEY"].as_str(), VALUE);
    assert_eq!(resolved["MODE"].as_str(), "fast");
    seen.assert_never(VALUE);
    seen.assert_never(INLINE);
}

#[tokio::test]
async fn strict_mode_refuses_inline_credentials_on_every_env_write() {
    let db = paperclip_testkit::cluster().create_database().await;
    paperclip_store::migrate::run(&db.url, "test", paperclip_store::migrate::Approval::Apply)
        .await
        .unwrap();
    let app = TestApp::spawn_on(db, true).await;
    let c = app.company("Strict").await;
    let cid = id(&c);
    let inline = json!({"env": {"GITHUB_TOKEN": INLINE, "LOG_LEVEL": "debug"}});
    let (s, err) = app
        .post(
            &format!("/companies/{cid}/agents"),
            json!({"name": "A", "adapterConfig": inline}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        err["error"].as_str().unwrap().contains("GITHUB_TOKEN")
            && !err.to_string().contains(INLINE),
        "{err}"
    );
    let (s, _) = app
        .post(
            &format!("/companies/{cid}/agent-hires"),
            json!({"name": "H", "adapterConfig": inline}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let ok = app.agent(&c, "Plain").await;
    let (s, _) = app
        .patch(
            &format!("/agents/{}", id(&ok)),
            json!({"adapterConfig": inline}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = app
        .patch(
            &format!("/agents/{}", id(&ok)),
            json!({"adapterConfig": {"env": {"LOG_LEVEL": "debug", "EMPTY_TOKEN": ""}}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "non-sensitive and empty values are fine");
    let (s, _) = app
        .post(
            &format!("/companies/{cid}/projects"),
            json!({"name": "P", "env": {"DB_PASSWORD": "hunter2"}}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, p) = app
        .post(&format!("/companies/{cid}/projects"), json!({"name": "P2"}))
        .await;
    let (s, _) = app
        .patch(
            &format!("/projects/{}", id(&p)),
            json!({"env": {"SLACK_BOT_TOKEN": "xoxb"}}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    // Rows written before strict mode keep working.
    let mut conn = app.db.connect().await;
    sqlx::query("UPDATE agents SET adapter_config = '{\"env\": {\"GITHUB_TOKEN\": \"legacy\"}}' WHERE id = $1::uuid")
        .bind(id(&ok)).execute(&mut conn).await.unwrap();
    let (s, _) = app
        .patch(
            &format!("/agents/{}", id(&ok)),
            json!({"title": "still editable"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
}
