//! Authenticated mode in a real browser (Chromium over WebDriver): sign up by an invite link,
//! wait for approval, sign out, sign in, and see only your own company.

mod common;

use common::auth::*;
use common::browser::Driver;
use common::TestApp;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn sign_up_by_invite_sign_in_and_see_only_your_company() {
    let app = TestApp::spawn().await;
    let srv = Auth::start(&app, |_| {}).await;
    let cast = cast(&app, &srv).await;
    let root = srv.base.trim_end_matches("/api").to_string();
    let (_, other) = srv
        .as_key(
            &cast.admin_key,
            Method::POST,
            "/companies",
            Some(json!({"name": "Other Secret Co"})),
        )
        .await;
    let b_id = cast.company_b.clone();
    let (_, inv) = srv
        .as_key(
            &cast.admin_key,
            Method::POST,
            &format!("/companies/{b_id}/invites"),
            Some(json!({"humanRole": "operator"})),
        )
        .await;
    let token = inv["token"].as_str().unwrap();

    let driver = Driver::start().await;
    let b = driver.session(1280, 900).await;
    // Signed out, the board sends you to sign in.
    b.goto(&format!("{root}/")).await;
    b.wait_url("/sign-in").await;

    // The invite link: create the account with it.
    b.goto(&format!("{root}/invite/{token}")).await;
    b.wait_text("main", "Join B Corp").await;
    b.fill("input[name=name]", "Grace").await;
    b.fill("input[name=email]", "grace@example.com").await;
    b.fill("input[name=password]", "grace's long password")
        .await;
    b.click("form[data-api='/api/auth/sign-up/email'] button[type=submit]")
        .await;
    b.wait_text("main", "No company yet").await;

    // An admin approves the join request.
    let (_, reqs) = srv
        .as_key(
            &cast.admin_key,
            Method::GET,
            &format!("/companies/{b_id}/join-requests"),
            None,
        )
        .await;
    let pending = reqs
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["email"] == "grace@example.com")
        .unwrap();
    let (s, _) = srv
        .as_key(
            &cast.admin_key,
            Method::POST,
            &format!(
                "/companies/{b_id}/join-requests/{}/approve",
                pending["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(s, reqwest::StatusCode::OK);

    // Sign out with the header's button, then sign in with the form.
    b.goto(&format!("{root}/")).await;
    b.wait_url(&format!("/c/{b_id}")).await;
    b.click("form[data-api='/api/auth/sign-out'] button[type=submit]")
        .await;
    b.wait_url("/sign-in").await;
    b.fill("input[name=email]", "grace@example.com").await;
    b.fill("input[name=password]", "grace's long password")
        .await;
    b.click("form[data-api='/api/auth/sign-in/email'] button[type=submit]")
        .await;
    b.wait_url(&format!("/c/{b_id}")).await;

    // Only her company: the other one is nowhere on the page and its pages are not found.
    let page = b.text("body").await;
    assert!(!page.contains("Other Secret Co"), "{page}");
    // A write from the board carries the session's CSRF token: creating an issue works.
    b.goto(&format!("{root}/c/{b_id}/issues/new")).await;
    b.fill("input[name=title]", "Filed by Grace in the browser")
        .await;
    b.click("form[data-api$='/issues'] button[type=submit]")
        .await;
    b.wait_text("main", "Filed by Grace in the browser").await;
    b.goto(&format!("{root}/c/{}", other["id"].as_str().unwrap()))
        .await;
    b.wait_text("main", "not found").await;
    b.close().await;
}
