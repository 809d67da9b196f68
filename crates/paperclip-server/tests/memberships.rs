//! Who belongs where in authenticated mode: invites (single use, expiring, revocable), join
//! requests, roles, board claim, and board API keys.

mod common;

use common::auth::*;
use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn invites_are_single_use_expire_and_members_see_only_their_company() {
    let app = TestApp::spawn().await;
    // A company the local board ran before the move to authenticated mode.
    let old = app.company("Local Co").await;
    let srv = Auth::start(&app, |_| {}).await;
    let cast = cast(&app, &srv).await;
    // Board claim: the first admin owns the local board's company.
    let (_, members) = srv
        .as_key(
            &cast.admin_key,
            Method::GET,
            &format!("/companies/{}/members", id(&old)),
            None,
        )
        .await;
    assert_eq!(members[0]["email"], "admin@example.com", "{members}");
    assert_eq!(members[0]["membershipRole"], "owner");

    let b = &cast.company_b;
    let (_, inv) = srv
        .as_key(
            &cast.admin_key,
            Method::POST,
            &format!("/companies/{b}/invites"),
            Some(json!({"humanRole": "viewer"})),
        )
        .await;
    let token = inv["token"].as_str().unwrap().to_string();
    assert!(inv["inviteUrl"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/invite/{token}")));
    let (s, summary) = srv
        .anon(Method::GET, &format!("/invites/{token}"), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(summary["companyName"], "B Corp");
    assert_eq!(summary["status"], "active");
    let viewer = srv
        .sign_up("viewer@example.com", "viewer password 1", &token)
        .await;
    // Used: the same link creates no second account.
    let users_before = sql_i64(&app, "SELECT count(*) FROM board_users").await;
    let a = srv
        .send(Method::POST, "/auth/sign-up/email", Some(json!({"email": "second@example.com", "password": "second password", "inviteToken": token})), None, None, None)
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.body);
    assert_eq!(
        sql_i64(&app, "SELECT count(*) FROM board_users").await,
        users_before
    );
    // Expired and revoked links are refused too.
    let (_, e) = srv
        .as_key(
            &cast.admin_key,
            Method::POST,
            &format!("/companies/{b}/invites"),
            Some(json!({})),
        )
        .await;
    exec(
        &app,
        &format!(
            "UPDATE invites SET expires_at = now() - interval '1 second' WHERE id = '{}'",
            e["id"].as_str().unwrap()
        ),
    )
    .await;
    let a = srv
        .send(Method::POST, "/auth/sign-up/email", Some(json!({"email": "late@example.com", "password": "late password", "inviteToken": e["token"]})), None, None, None)
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    assert!(a.body["error"].as_str().unwrap().contains("expired"));
    let (_, r) = srv
        .as_key(
            &cast.admin_key,
            Method::POST,
            &format!("/companies/{b}/invites"),
            Some(json!({})),
        )
        .await;
    let (s, _) = srv
        .as_key(
            &cast.admin_key,
            Method::POST,
            &format!("/invites/{}/revoke", r["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let a = srv
        .send(Method::POST, "/auth/sign-up/email", Some(json!({"email": "rev@example.com", "password": "revoked password", "inviteToken": r["token"]})), None, None, None)
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT);

    // Until approved, the new user sees no company.
    let (_, list) = srv.as_user(&viewer, Method::GET, "/companies", None).await;
    assert_eq!(list, json!([]));
    let (_, reqs) = srv
        .as_key(
            &cast.admin_key,
            Method::GET,
            &format!("/companies/{b}/join-requests"),
            None,
        )
        .await;
    let pending = reqs
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["status"] == "pending_approval")
        .unwrap();
    // A plain operator cannot approve; an admin can.
    let (s, _) = srv
        .as_user(
            &cast.member,
            Method::POST,
            &format!(
                "/companies/{b}/join-requests/{}/approve",
                pending["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = srv
        .as_key(
            &cast.admin_key,
            Method::POST,
            &format!(
                "/companies/{b}/join-requests/{}/approve",
                pending["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, list) = srv.as_user(&viewer, Method::GET, "/companies", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], json!(b));
    // A viewer reads but does not write.
    let (s, _) = srv
        .as_user(
            &viewer,
            Method::GET,
            &format!("/companies/{b}/issues"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, e) = srv
        .as_user(
            &viewer,
            Method::POST,
            &format!("/companies/{b}/issues"),
            Some(json!({"title": "nope"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{e}");
    // An operator writes, attributed to their user id.
    let (s, issue) = srv
        .as_user(
            &cast.member,
            Method::POST,
            &format!("/companies/{b}/issues"),
            Some(json!({"title": "by member"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{issue}");
    assert_eq!(
        sql_i64(&app, &format!("SELECT count(*) FROM activity_log WHERE action = 'issue.created' AND actor_type = 'user' AND actor_id = '{}'", cast.member.user_id)).await,
        1
    );
    // The old company is not theirs.
    let (s, _) = srv
        .as_user(
            &cast.member,
            Method::GET,
            &format!("/companies/{}", id(&old)),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // The last owner stays.
    let (_, ms) = srv
        .as_key(
            &cast.admin_key,
            Method::GET,
            &format!("/companies/{b}/members"),
            None,
        )
        .await;
    let owner = ms
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["membershipRole"] == "owner")
        .unwrap();
    let (s, _) = srv
        .as_key(
            &cast.admin_key,
            Method::PATCH,
            &format!("/companies/{b}/members/{}", owner["id"].as_str().unwrap()),
            Some(json!({"membershipRole": "viewer"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
}

#[tokio::test]
async fn board_keys_are_hashed_expire_and_revoke() {
    let app = TestApp::spawn().await;
    let srv = Auth::start(&app, |_| {}).await;
    let cast = cast(&app, &srv).await;
    let (s, mine) = srv
        .as_key(&cast.admin_key, Method::GET, "/auth/get-session", None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(mine["source"], "board_key");
    // Hashed at rest: the token appears in no column.
    assert_eq!(
        sql_i64(
            &app,
            &format!(
                "SELECT count(*) FROM board_api_keys k WHERE k::text LIKE '%{}%'",
                &cast.admin_key[4..]
            )
        )
        .await,
        0
    );
    let (s, e) = srv
        .as_key(
            &cast.admin_key,
            Method::POST,
            "/board-api-keys",
            Some(json!({"name": "past", "expiresAt": "2020-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let (_, k) = srv
        .as_key(
            &cast.admin_key,
            Method::POST,
            "/board-api-keys",
            Some(json!({"name": "short"})),
        )
        .await;
    let short = k["key"].as_str().unwrap().to_string();
    assert_eq!(
        srv.as_key(&short, Method::GET, "/companies", None).await.0,
        StatusCode::OK
    );
    exec(
        &app,
        &format!(
            "UPDATE board_api_keys SET expires_at = now() - interval '1 second' WHERE id = '{}'",
            k["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(
        srv.as_key(&short, Method::GET, "/companies", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (_, k) = srv
        .as_key(
            &cast.admin_key,
            Method::POST,
            "/board-api-keys",
            Some(json!({"name": "narrow", "requestedCompanyId": cast.company_b})),
        )
        .await;
    let narrow = k["key"].as_str().unwrap().to_string();
    // Narrowed to one company: that company only, and no instance routes.
    let (_, list) = srv.as_key(&narrow, Method::GET, "/companies", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(
        srv.as_key(&narrow, Method::GET, "/plugins", None).await.0,
        StatusCode::FORBIDDEN
    );
    let (s, _) = srv
        .as_key(
            &cast.admin_key,
            Method::DELETE,
            &format!("/board-api-keys/{}", k["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        srv.as_key(&narrow, Method::GET, "/companies", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Another user's key id is not theirs to revoke.
    let (s, _) = srv
        .as_user(
            &cast.member,
            Method::DELETE,
            &format!("/board-api-keys/{}", k["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // A member is not an instance admin; the admin promotes them, and the last admin stays.
    let (s, _) = srv
        .as_user(&cast.member, Method::GET, "/admin/users", None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = srv
        .as_key(
            &cast.admin_key,
            Method::POST,
            &format!("/admin/users/{}/demote-instance-admin", cast.admin.user_id),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, u) = srv
        .as_key(
            &cast.admin_key,
            Method::POST,
            &format!(
                "/admin/users/{}/promote-instance-admin",
                cast.member.user_id
            ),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{u}");
    assert_eq!(
        srv.as_user(&cast.member, Method::GET, "/admin/users", None)
            .await
            .0,
        StatusCode::OK
    );
}
