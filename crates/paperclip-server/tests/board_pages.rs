//! The board's pages over HTTP: what every page answers with (HTML, the security headers), how
//! bad input and foreign objects are refused, who may see the board, and the assets' caching.
//! (The pages in a real browser: `board_browser.rs`.)

mod common;

use common::world::world;
use common::{id, TestApp};
use reqwest::header;
use serde_json::json;

fn root(app: &TestApp) -> String {
    app.base.trim_end_matches("/api").to_string()
}

async fn page(app: &TestApp, path: &str, token: Option<&str>) -> (u16, header::HeaderMap, String) {
    let mut req = app.client.get(format!("{}{path}", root(app)));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (status, headers, res.text().await.unwrap())
}

#[tokio::test]
async fn every_page_is_html_with_a_strict_policy() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let c = &w.cid;
    for path in [
        "/onboarding".to_string(),
        format!("/c/{c}"),
        format!("/c/{c}/onboarding"),
        format!("/c/{c}/onboarding?adapter=http"),
        format!("/c/{c}/org"),
        format!("/c/{c}/agents"),
        format!("/c/{c}/agents?status=idle&offset=50"),
        format!("/c/{c}/agents/{}", w.agent),
        format!("/c/{c}/runs/{}", w.run),
        format!("/c/{c}/issues"),
        format!(
            "/c/{c}/issues?status=todo&q=walk&assignee={}&project={}",
            w.agent, w.project
        ),
        format!("/c/{c}/issues?view=board"),
        format!("/c/{c}/issues/{}", w.issue),
        format!("/c/{c}/issues/new?parent={}", w.issue),
        format!("/c/{c}/goals"),
        format!("/c/{c}/projects"),
        format!("/c/{c}/approvals"),
        format!("/c/{c}/costs"),
        format!("/c/{c}/activity?offset=10"),
        format!("/c/{c}/settings"),
    ] {
        let (status, h, body) = page(&app, &path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert!(
            h[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{path}"
        );
        let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{path}");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(h[header::CACHE_CONTROL], "no-store");
        // No inline script anywhere: the policy would block it, and we never write one.
        assert_eq!(
            body.matches("<script").count(),
            body.matches("<script src=\"/static/board.js\"").count(),
            "{path}"
        );
        if path.starts_with("/c/") {
            assert!(body.contains(&format!("data-company-id=\"{c}\"")), "{path}");
            assert!(body.contains("data-cursor=\""), "{path}");
        }
    }
}

#[tokio::test]
async fn bad_input_and_foreign_objects_are_refused_by_name() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let c = &w.cid;
    let other = app.company("Other Co").await;
    let theirs = app.issue(&other, json!({"title": "theirs"})).await;
    let their_agent = app.agent(&other, "Theirs").await;
    for (path, status, needle) in [
        (format!("/c/{c}/issues?status=doing"), 400, "status"),
        (
            format!("/c/{c}/issues?assignee=bob"),
            400,
            "assignee must be a UUID",
        ),
        (format!("/c/{c}/issues?view=grid"), 400, "view"),
        (format!("/c/{c}/agents?status=sleepy"), 400, "status"),
        (format!("/c/{c}/activity?offset=-1"), 400, "offset"),
        (format!("/c/{c}/onboarding?adapter=nope"), 400, "adapter"),
        (
            format!("/c/{c}/issues/{}", id(&theirs)),
            404,
            "Issue not found",
        ),
        (
            format!("/c/{c}/agents/{}", id(&their_agent)),
            404,
            "Agent not found",
        ),
        (
            format!("/c/{c}/runs/{}", uuid::Uuid::new_v4()),
            404,
            "Run not found",
        ),
        (format!("/c/{c}/runs/not-a-uuid"), 404, "Run not found"),
        (
            format!("/c/{}/issues", uuid::Uuid::new_v4()),
            404,
            "Company not found",
        ),
        ("/c/not-a-uuid".to_string(), 404, "Company not found"),
    ] {
        let (s, h, body) = page(&app, &path, None).await;
        assert_eq!(s, status, "{path}: {body}");
        assert!(
            h[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{path}"
        );
        assert!(body.contains(needle), "{path}: {body}");
    }
}

#[tokio::test]
async fn the_board_is_for_the_board_not_agents() {
    let app = TestApp::spawn().await;
    let c = app.company("Keys Co").await;
    let a = app.agent(&c, "Keyholder").await;
    let key = app.key(&a).await;
    let (s, _, body) = page(&app, &format!("/c/{}", id(&c)), Some(&key)).await;
    assert_eq!(s, 403, "{body}");
    let (s, _, _) = page(&app, "/", Some(&key)).await;
    assert_eq!(s, 403);
}

#[tokio::test]
async fn home_leads_a_new_user_through_the_first_run() {
    let app = TestApp::spawn().await;
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |path: String| {
        let c = no_redirect.clone();
        async move { c.get(path).send().await.unwrap() }
    };
    let r = get(format!("{}/", root(&app))).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()[header::LOCATION], "/onboarding");
    let c = app.company("Only Co").await;
    let r = get(format!("{}/", root(&app))).await;
    assert_eq!(
        r.headers()[header::LOCATION],
        format!("/c/{}", id(&c)).as_str()
    );
    // An empty company's dashboard is its first-run page.
    let r = get(format!("{}/c/{}", root(&app), id(&c))).await;
    assert_eq!(
        r.headers()[header::LOCATION],
        format!("/c/{}/onboarding", id(&c)).as_str()
    );
    app.company("Second Co").await;
    let (s, _, body) = page(&app, "/", None).await;
    assert_eq!(s, 200);
    assert!(
        body.contains("Only Co") && body.contains("Second Co"),
        "{body}"
    );
}

#[tokio::test]
async fn assets_are_embedded_and_revalidated() {
    let app = TestApp::spawn().await;
    for (path, kind) in [
        ("/static/board.js", "text/javascript"),
        ("/static/board.css", "text/css"),
    ] {
        let r = app
            .client
            .get(format!("{}{path}", root(&app)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with(kind));
        let tag = r.headers()[header::ETAG].to_str().unwrap().to_string();
        assert!(!r.text().await.unwrap().is_empty());
        let again = app
            .client
            .get(format!("{}{path}", root(&app)))
            .header(header::IF_NONE_MATCH, &tag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path}");
    }
}
