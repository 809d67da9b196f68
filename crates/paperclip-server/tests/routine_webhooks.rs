//! Routine webhooks against a real PostgreSQL: signatures, timestamps, replays, rotation,
//! and the bearer and GitHub modes.

mod common;

use chrono::Utc;
use common::auth::sql_i64;
use common::routines::*;
use common::*;
use paperclip_secrets::webhook::sign;
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn webhooks_need_the_signature_and_refuse_replays() {
    let app = TestApp::spawn().await;
    let c = app.company("Hook Co").await;
    let r = routine(
        &app,
        &c,
        json!({"title": "Deploy happened", "concurrencyPolicy": "always_enqueue"}),
    )
    .await;
    let t = trigger(
        &app,
        &r,
        json!({"kind": "webhook", "signingMode": "hmac_sha256", "replayWindowSec": 60}),
    )
    .await;
    let secret = t["secret"].as_str().unwrap().to_string();
    let url = format!(
        "{}{}",
        app.base.trim_end_matches("/api"),
        t["firePath"].as_str().unwrap()
    );
    let (_, read) = app.get(&format!("/routines/{}", id(&r))).await;
    assert!(
        read["triggers"][0].get("secret").is_none(),
        "the secret is shown once"
    );
    assert!(!read.to_string().contains(&secret));

    let body = r#"{"ref":"main"}"#;
    let send = |headers: Vec<(&'static str, String)>, body: &'static str| {
        let mut req = app
            .client
            .post(&url)
            .header("content-type", "application/json")
            .body(body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        async move {
            let res = req.send().await.unwrap();
            (
                res.status(),
                res.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let now = Utc::now().timestamp().to_string();
    let good = vec![
        ("x-paperclip-timestamp", now.clone()),
        (
            "x-paperclip-signature",
            sign(&secret, format!("{now}.{body}").as_bytes()),
        ),
    ];
    let (s, run) = send(good.clone(), body).await;
    assert_eq!(s, StatusCode::OK, "{run}");
    assert_eq!(
        (run["source"].as_str(), run["status"].as_str()),
        (Some("webhook"), Some("issue_created"))
    );
    assert_eq!(run["triggerPayload"], json!({"ref": "main"}));
    // The same signed call again is a replay.
    let (s, e) = send(good.clone(), body).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    // Tampered body, wrong key, stale or missing timestamp, unknown id: 401, nothing fired.
    let stale = (Utc::now().timestamp() - 600).to_string();
    for (headers, body) in [
        (good.clone(), r#"{"ref":"evil"}"#),
        (
            vec![
                ("x-paperclip-timestamp", now.clone()),
                (
                    "x-paperclip-signature",
                    sign("whsec_other", format!("{now}.{body}").as_bytes()),
                ),
            ],
            body,
        ),
        (
            vec![
                ("x-paperclip-timestamp", stale.clone()),
                (
                    "x-paperclip-signature",
                    sign(&secret, format!("{stale}.{body}").as_bytes()),
                ),
            ],
            body,
        ),
        (
            vec![("x-paperclip-signature", sign(&secret, body.as_bytes()))],
            body,
        ),
    ] {
        let (s, e) = send(headers, body).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{e}");
    }
    let res = app
        .client
        .post(url.replace(t["publicId"].as_str().unwrap(), "nosuchid"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(sql_i64(&app, &routine_issues(&r)).await, 1);

    // Rotation: the old secret stops working, the new one works.
    let (s, rotated) = app
        .post(
            &format!("/routine-triggers/{}/rotate-secret", id(&t)),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{rotated}");
    let fresh = rotated["secret"].as_str().unwrap().to_string();
    assert_ne!(fresh, secret);
    let now = (Utc::now().timestamp() + 1).to_string();
    let old = vec![
        ("x-paperclip-timestamp", now.clone()),
        (
            "x-paperclip-signature",
            sign(&secret, format!("{now}.{body}").as_bytes()),
        ),
    ];
    assert_eq!(send(old, body).await.0, StatusCode::UNAUTHORIZED);
    let new = vec![
        ("x-paperclip-timestamp", now.clone()),
        (
            "x-paperclip-signature",
            sign(&fresh, format!("{now}.{body}").as_bytes()),
        ),
    ];
    assert_eq!(send(new.clone(), body).await.0, StatusCode::OK);

    // A disabled trigger looks like no trigger; a paused routine refuses.
    app.patch(
        &format!("/routines/{}", id(&r)),
        json!({"status": "paused"}),
    )
    .await;
    let now = (Utc::now().timestamp() + 2).to_string();
    let signed = vec![
        ("x-paperclip-timestamp", now.clone()),
        (
            "x-paperclip-signature",
            sign(&fresh, format!("{now}.{body}").as_bytes()),
        ),
    ];
    assert_eq!(send(signed, body).await.0, StatusCode::CONFLICT);
    app.patch(
        &format!("/routine-triggers/{}", id(&t)),
        json!({"enabled": false}),
    )
    .await;
    let now = (Utc::now().timestamp() + 3).to_string();
    let signed = vec![
        ("x-paperclip-timestamp", now.clone()),
        (
            "x-paperclip-signature",
            sign(&fresh, format!("{now}.{body}").as_bytes()),
        ),
    ];
    assert_eq!(send(signed, body).await.0, StatusCode::UNAUTHORIZED);

    // Bearer and GitHub modes.
    app.patch(
        &format!("/routines/{}", id(&r)),
        json!({"status": "active"}),
    )
    .await;
    let bearer = trigger(
        &app,
        &r,
        json!({"kind": "webhook", "signingMode": "bearer"}),
    )
    .await;
    let burl = format!(
        "{}{}",
        app.base.trim_end_matches("/api"),
        bearer["firePath"].as_str().unwrap()
    );
    let token = bearer["secret"].as_str().unwrap();
    let res = app
        .client
        .post(&burl)
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .client
        .post(&burl)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let gh = trigger(
        &app,
        &r,
        json!({"kind": "webhook", "signingMode": "github_hmac"}),
    )
    .await;
    let gurl = format!(
        "{}{}",
        app.base.trim_end_matches("/api"),
        gh["firePath"].as_str().unwrap()
    );
    let gsig = sign(gh["secret"].as_str().unwrap(), body.as_bytes());
    for expected in [StatusCode::OK, StatusCode::CONFLICT] {
        let res = app
            .client
            .post(&gurl)
            .header("x-hub-signature-256", &gsig)
            .header("x-github-delivery", "d-1")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), expected);
    }
    // The signing secrets are company secrets, so master-key rotation covers them.
    let (_, secrets) = app.get(&format!("/companies/{}/secrets", id(&c))).await;
    assert_eq!(
        secrets
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["key"].as_str().unwrap().starts_with("routine-webhook-"))
            .count(),
        3
    );
}
