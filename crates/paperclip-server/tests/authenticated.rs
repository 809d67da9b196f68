//! Authenticated mode: bootstrap, sessions and their cookie, CSRF, session fixation, expiry and
//! revocation, password changes, login throttling, and which host names a server answers.

mod common;

use common::auth::*;
use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn sessions_csrf_fixation_expiry_and_revocation() {
    let app = TestApp::spawn().await;
    let srv = Auth::start(&app, |c| c.auth.trust_proxy = true).await;
    let (_, h) = srv.anon(Method::GET, "/health", None).await;
    assert_eq!(h["bootstrapStatus"], "bootstrap_pending", "{h}");
    let token = bootstrap_token(&app).await;
    let (_, h) = srv.anon(Method::GET, "/health", None).await;
    assert_eq!(h["bootstrapInviteActive"], true, "{h}");
    // Sign-up is closed without an invite.
    let a = srv
        .send(
            Method::POST,
            "/auth/sign-up/email",
            Some(json!({"email": "x@example.com", "password": "long enough pw"})),
            None,
            None,
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    let admin = srv
        .sign_up("Boss@Example.com", "correct horse battery", &token)
        .await;
    let (_, h) = srv.anon(Method::GET, "/health", None).await;
    assert_eq!(h["bootstrapStatus"], "ready", "{h}");
    let (s, me) = srv
        .as_user(&admin, Method::GET, "/auth/get-session", None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(me["user"]["email"], "boss@example.com");
    assert_eq!(me["user"]["isInstanceAdmin"], true);
    assert!(me["session"]["expiresAt"].is_string(), "{me}");

    // Cookie attributes; Secure only over TLS (a trusted proxy says so).
    let plain = srv
        .sign_in("boss@example.com", "correct horse battery")
        .await;
    let c = plain.set_cookie.clone().unwrap();
    assert!(
        c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.contains("Path=/"),
        "{c}"
    );
    assert!(!c.contains("Secure"), "{c}");
    let tls = srv
        .http
        .post(format!("{}/auth/sign-in/email", srv.base))
        .header("x-forwarded-proto", "https")
        .json(&json!({"email": "boss@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert!(tls.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("; Secure"));

    // CSRF: a cookie-authenticated mutation without the token (or with another's) is refused.
    let b = Auth::browser(&plain);
    let no_token = srv
        .send(
            Method::POST,
            "/companies",
            Some(json!({"name": "X"})),
            Some(&b.cookie),
            None,
            None,
        )
        .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN, "{}", no_token.body);
    assert!(no_token.body["error"].as_str().unwrap().contains("CSRF"));
    let wrong = srv
        .send(
            Method::POST,
            "/companies",
            Some(json!({"name": "X"})),
            Some(&b.cookie),
            Some(&admin.csrf),
            None,
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert_eq!(sql_i64(&app, "SELECT count(*) FROM companies").await, 0);
    let (s, made) = srv
        .as_user(&b, Method::POST, "/companies", Some(json!({"name": "X"})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{made}");
    // Reads need no token.
    let r = srv
        .send(Method::GET, "/companies", None, Some(&b.cookie), None, None)
        .await;
    assert_eq!(r.status, StatusCode::OK);

    // Session fixation: a token planted before sign-in never becomes a session, and signing in
    // ends the session the browser brought.
    let planted = "pcs_planted0000000000000000000000000000000000000000";
    let a = srv
        .http
        .post(format!("{}/auth/sign-in/email", srv.base))
        .header("cookie", format!("paperclip_session={planted}"))
        .json(&json!({"email": "boss@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert!(!a.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains(planted));
    let r = srv
        .send(
            Method::GET,
            "/auth/get-session",
            None,
            Some(planted),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let a = srv
        .http
        .post(format!("{}/auth/sign-in/email", srv.base))
        .header("cookie", format!("paperclip_session={}", b.cookie))
        .json(&json!({"email": "boss@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(a.status(), StatusCode::OK);
    let r = srv
        .send(
            Method::GET,
            "/auth/get-session",
            None,
            Some(&b.cookie),
            None,
            None,
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "the old session ended at sign-in"
    );

    // Expired session.
    let e = Auth::browser(
        &srv.sign_in("boss@example.com", "correct horse battery")
            .await,
    );
    exec(&app, &format!("UPDATE user_sessions SET expires_at = now() - interval '1 second' WHERE id = (SELECT id FROM user_sessions WHERE user_id = '{}' ORDER BY created_at DESC LIMIT 1)", e.user_id)).await;
    let (s, _) = srv.as_user(&e, Method::GET, "/companies", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Sign-out revokes the session and clears the cookie; revoking another session ends it.
    let o = Auth::browser(
        &srv.sign_in("boss@example.com", "correct horse battery")
            .await,
    );
    let out = srv
        .send(
            Method::POST,
            "/auth/sign-out",
            None,
            Some(&o.cookie),
            Some(&o.csrf),
            None,
        )
        .await;
    assert_eq!(out.status, StatusCode::OK);
    assert!(out.set_cookie.unwrap().contains("Max-Age=0"));
    let (s, _) = srv.as_user(&o, Method::GET, "/companies", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let other = Auth::browser(
        &srv.sign_in("boss@example.com", "correct horse battery")
            .await,
    );
    let (_, list) = srv
        .as_user(&admin, Method::GET, "/auth/list-sessions", None)
        .await;
    let newest = list
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["revokedAt"].is_null() && x["expiresAt"].is_string())
        .unwrap()["id"]
        .clone();
    let (s, _) = srv
        .as_user(
            &admin,
            Method::POST,
            "/auth/revoke-session",
            Some(json!({"id": newest})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let ended = [&admin, &other].len()
        - [
            srv.as_user(&admin, Method::GET, "/companies", None).await.0,
            srv.as_user(&other, Method::GET, "/companies", None).await.0,
        ]
        .iter()
        .filter(|s| **s == StatusCode::OK)
        .count();
    assert_eq!(ended, 1, "exactly the revoked session ended");

    // Password change ends the other sessions; the old password stops working.
    let keep = Auth::browser(
        &srv.sign_in("boss@example.com", "correct horse battery")
            .await,
    );
    let (s, e) = srv
        .as_user(
            &keep,
            Method::POST,
            "/auth/change-password",
            Some(json!({"currentPassword": "wrong", "newPassword": "a brand new password"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let (s, _) = srv
        .as_user(&keep, Method::POST, "/auth/change-password", Some(json!({"currentPassword": "correct horse battery", "newPassword": "a brand new password"})))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        srv.as_user(&keep, Method::GET, "/companies", None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        srv.as_user(&admin, Method::GET, "/companies", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        srv.sign_in("boss@example.com", "correct horse battery")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        srv.sign_in("boss@example.com", "a brand new password")
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_sixth_wrong_password_in_a_minute_is_throttled() {
    let app = TestApp::spawn().await;
    let srv = Auth::start(&app, |_| {}).await;
    srv.sign_up(
        "owner@example.com",
        "the real password",
        &bootstrap_token(&app).await,
    )
    .await;
    for n in 1..=5 {
        let a = srv
            .sign_in("owner@example.com", &format!("guess-number-{n}"))
            .await;
        assert_eq!(
            a.status,
            StatusCode::UNAUTHORIZED,
            "attempt {n}: {}",
            a.body
        );
    }
    let a = srv.sign_in("owner@example.com", "the real password").await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "{}", a.body);
    // Another account from the same address is not locked by this one's failures.
    let a = srv.sign_in("nobody@example.com", "whatever it is").await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    // Failed sign-ins are in the activity log, never with the password.
    assert_eq!(
        sql_i64(&app, "SELECT count(*) FROM activity_log WHERE action = 'auth.sign_in_failed' AND entity_id = 'owner@example.com'").await,
        5
    );
    assert_eq!(
        sql_i64(&app, "SELECT count(*) FROM activity_log WHERE details::text LIKE '%guess-number%' OR details::text LIKE '%the real password%'").await,
        0
    );
    // The password is stored as argon2id.
    assert_eq!(
        sql_i64(
            &app,
            "SELECT count(*) FROM board_users WHERE password_hash LIKE '$argon2id$%'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn private_exposure_answers_only_allowed_host_names_and_public_any() {
    let app = TestApp::spawn().await;
    let private = Auth::start(&app, |c| {
        c.allowed_hostnames = vec!["board.internal".into()];
    })
    .await;
    let public = Auth::start(&app, |c| {
        c.exposure = paperclip_domain::DeploymentExposure::Public;
    })
    .await;
    for (srv, host, want) in [
        (&private, "evil.example", StatusCode::FORBIDDEN),
        (&private, "board.internal", StatusCode::UNAUTHORIZED),
        (&public, "evil.example", StatusCode::UNAUTHORIZED),
    ] {
        let r = srv
            .http
            .get(format!("{}/companies", srv.base))
            .header("host", host)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), want, "{host}");
    }
}
