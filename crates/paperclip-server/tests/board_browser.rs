//! The board in a real browser (Chromium over WebDriver) against real servers: the first-run
//! story end to end with a process agent that works the issue through the API, inert XSS, live
//! changes across replicas, and every page at desktop and phone width.

mod common;

use common::browser::Driver;
use common::runs::WORKER;
use common::world::world;
use common::{id, TestApp};
use serde_json::{json, Value};

fn root(app_base: &str) -> String {
    app_base.trim_end_matches("/api").to_string()
}

/// First run → company + goal + CEO (environment checked) → an issue assigned to the CEO, whose
/// process works it through the API → its live log, its comment and `done` appear on the open
/// issue page without a reload → the issue sits in the board's `done` column.
#[tokio::test]
async fn first_run_to_done_issue_live() {
    let app = TestApp::spawn().await;
    let root = root(&app.base);
    let driver = Driver::start().await;
    let b = driver.session(1280, 900).await;
    let hold = tempfile::tempdir().unwrap();
    let go = hold.path().join("go");

    b.goto(&format!("{root}/")).await;
    b.wait_url("/onboarding").await;
    b.fill("input[name=name]", "Story Co").await;
    b.click("form[data-api='/api/companies'] button[type=submit]")
        .await;
    let url = b.wait_url("/c/").await;
    let cid = url
        .split("/c/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    b.wait_url("/onboarding").await;

    b.fill("input[name=title]", "Ship the launch").await;
    b.click("form[data-api$='/goals'] button[type=submit]")
        .await;
    b.wait_text("ol.steps", "Goal: Ship the launch").await;
    if let Some(dir) = std::env::var_os("PAPERCLIP_UI_SHOTS") {
        b.screenshot(&std::path::Path::new(&dir).join("first-run-hire-ceo-desktop.png"))
            .await;
    }

    // The adapter's environment check, with what the CEO will run.
    b.fill(
        "form[data-show='*'] input[name='adapterConfig.command']",
        "python3",
    )
    .await;
    b.click("form[data-show='*'] button[type=submit]").await;
    b.wait_text("form[data-show='*'] .form-result", "\"status\": \"pass\"")
        .await;

    let hire = "form[data-api$='/agents']";
    b.fill(&format!("{hire} input[name=name]"), "Ada").await;
    b.fill(
        &format!("{hire} input[name='adapterConfig.command']"),
        "python3",
    )
    .await;
    b.fill(
        &format!("{hire} textarea[name='adapterConfig.args']"),
        WORKER,
    )
    .await;
    b.fill(
        &format!("{hire} textarea[name='adapterConfig.env']"),
        &json!({"HOLD_FILE": go.display().to_string()}).to_string(),
    )
    .await;
    b.click(&format!("{hire} button[type=submit]")).await;
    b.wait_text("ol.steps", "CEO: Ada").await;
    let (_, agents) = app.get(&format!("/companies/{cid}/agents")).await;
    let ada = id(&agents[0]).to_string();
    assert_eq!(
        agents[0]["adapterConfig"]["args"],
        json!([WORKER]),
        "{agents}"
    );

    b.goto(&format!("{root}/c/{cid}/issues/new")).await;
    b.fill("input[name=title]", "Write the launch plan").await;
    b.select("select[name=assigneeAgentId]", &ada).await;
    b.click("form[data-api$='/issues'] button[type=submit]")
        .await;
    b.find("#issue-head").await;
    b.wait_live().await;
    b.mark().await;
    // The run holds on the file: what it printed so far is in the page's log...
    b.wait_text("#issue-log", "\"seen\"").await;
    std::fs::write(&go, "").unwrap();
    // ... and what it does after arrives live.
    b.wait_text("#issue-log", "\"checkout\": 200").await;
    b.wait_text("#comments", "Done in run").await;
    b.wait_text("#issue-status", "done").await;
    assert!(b.same_document().await, "the issue page reloaded");
    if let Some(dir) = std::env::var_os("PAPERCLIP_UI_SHOTS") {
        b.screenshot(&std::path::Path::new(&dir).join("issue-worked-live-desktop.png"))
            .await;
    }

    // The page's update form is older than the agent's `done`: changing only the priority
    // must not write the stale status back.
    b.select("form[data-method=PATCH] select[name=priority]", "high")
        .await;
    b.click("form[data-method=PATCH] button[type=submit]").await;
    b.wait_text("#issue-head", "high").await;
    let (_, issue) = app.get(&format!("/companies/{cid}/issues")).await;
    assert_eq!(issue[0]["status"], "done", "{issue}");
    assert_eq!(issue[0]["priority"], "high", "{issue}");

    b.goto(&format!("{root}/c/{cid}/issues?view=board")).await;
    b.wait_text("section.col[aria-label=done]", "Write the launch plan")
        .await;
    b.close().await;
}

const PAYLOADS: &str = "harmless-text\n\n<script>window.__xss='script'</script>\n\n\
<img src=x onerror=\"window.__xss='img'\">\n\n<svg onload=\"window.__xss='svg'\"></svg>\n\n\
[click](javascript:window.__xss='link')\n\n<a href=\"javascript:window.__xss='a'\">a</a>\n\n\
<iframe src=\"javascript:window.__xss='iframe'\"></iframe>\n\n<details open ontoggle=\"window.__xss='toggle'\">x</details>";

/// Script in an agent's comment or description never runs: neither on load nor when it
/// arrives live.
#[tokio::test]
async fn xss_in_comments_is_inert() {
    let app = TestApp::spawn().await;
    let root = root(&app.base);
    let c = app.company("Xss Co").await;
    let i = app
        .issue(
            &c,
            json!({"title": "<b onmouseover=alert(1)>title</b>", "description": PAYLOADS}),
        )
        .await;
    let (s, _) = app
        .post(
            &format!("/issues/{}/comments", id(&i)),
            json!({"body": PAYLOADS}),
        )
        .await;
    assert_eq!(s, 201);
    let driver = Driver::start().await;
    let b = driver.session(1280, 900).await;
    b.goto(&format!("{root}/c/{}/issues/{}", id(&c), id(&i)))
        .await;
    b.wait_text("#comments", "harmless-text").await;
    b.wait_live().await;
    let (s, _) = app
        .post(
            &format!("/issues/{}/comments", id(&i)),
            json!({"body": format!("live {PAYLOADS}")}),
        )
        .await;
    assert_eq!(s, 201);
    b.wait_text("#comments", "live harmless-text").await;
    // Give any handler its chance to fire.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(b.js("return window.__xss === undefined").await, json!(true));
    let dangerous = b
        .js("return document.querySelectorAll('main script, main iframe, main svg, main [onerror], \
             main [onload], main [ontoggle], main [onmouseover], main a[href^=\"javascript\"]').length")
        .await;
    assert_eq!(dangerous, json!(0));
    // The title is text, not markup.
    assert!(b
        .text("h1")
        .await
        .contains("<b onmouseover=alert(1)>title</b>"));
    b.close().await;
}

/// A browser on one replica sees, live, a comment posted from a browser on another.
#[tokio::test]
async fn second_replica_sees_first_live() {
    let app = TestApp::spawn().await;
    let other = root(&app.replica("board-b").await);
    let root = root(&app.base);
    let c = app.company("Replica Co").await;
    let i = app.issue(&c, json!({"title": "shared"})).await;
    let page = format!("/c/{}/issues/{}", id(&c), id(&i));
    let driver = Driver::start().await;
    let a = driver.session(1280, 900).await;
    let b = driver.session(1280, 900).await;
    a.goto(&format!("{root}{page}")).await;
    a.wait_live().await;
    a.mark().await;
    b.goto(&format!("{other}{page}")).await;
    b.fill("textarea[name=body]", "written on the other replica")
        .await;
    b.click("form[data-api$='/comments'] button[type=submit]")
        .await;
    b.wait_text("#comments", "written on the other replica")
        .await;
    a.wait_text("#comments", "written on the other replica")
        .await;
    // A status change made on replica B reaches A's page too.
    b.select("form[data-method=PATCH] select[name=status]", "in_progress")
        .await;
    b.click("form[data-method=PATCH] button[type=submit]").await;
    // The API's rule, shown on the form, naming the field.
    b.wait_text(
        "form[data-method=PATCH] .form-error",
        "status: in_progress requires an assignee",
    )
    .await;
    b.select("form[data-method=PATCH] select[name=status]", "todo")
        .await;
    b.click("form[data-method=PATCH] button[type=submit]").await;
    b.wait_text("#issue-status", "todo").await;
    a.wait_text("#issue-status", "todo").await;
    assert!(a.same_document().await, "replica A's page reloaded");
    a.close().await;
    b.close().await;
}

/// Every page renders in the browser at desktop and phone width without a horizontal scroll of
/// the page, the first Tab reaches "Skip to content", and each is saved as a screenshot
/// (`PAPERCLIP_UI_SHOTS=docs/ui` keeps them; see docs/UI.md).
#[tokio::test]
async fn every_page_at_desktop_and_phone_width() {
    let app = TestApp::spawn().await;
    let root = root(&app.base);
    let w = world(&app).await;
    let (_, more) = app
        .post(
            &format!("/companies/{}/issues", w.cid),
            json!({"title": "Sub task", "parentId": w.issue, "assigneeAgentId": w.agent, "status": "in_progress"}),
        )
        .await;
    let _ = app
        .post(
            &format!("/issues/{}/comments", w.issue),
            json!({"body": "**Plan:** ship on Friday.\n\n- [x] draft\n- [ ] review\n\n```\ncargo test\n```"}),
        )
        .await;
    let c = w.cid.clone();
    let pages: Vec<(&str, String)> = vec![
        ("onboarding", "/onboarding".into()),
        ("company-setup", format!("/c/{c}/onboarding")),
        ("dashboard", format!("/c/{c}")),
        ("org", format!("/c/{c}/org")),
        ("agents", format!("/c/{c}/agents")),
        ("agent", format!("/c/{c}/agents/{}", w.agent)),
        ("run", format!("/c/{c}/runs/{}", w.run)),
        ("issues", format!("/c/{c}/issues")),
        ("issue-board", format!("/c/{c}/issues?view=board")),
        ("issue", format!("/c/{c}/issues/{}", w.issue)),
        ("new-issue", format!("/c/{c}/issues/new")),
        ("goals", format!("/c/{c}/goals")),
        ("projects", format!("/c/{c}/projects")),
        ("approvals", format!("/c/{c}/approvals")),
        ("costs", format!("/c/{c}/costs")),
        ("activity", format!("/c/{c}/activity")),
        ("settings", format!("/c/{c}/settings")),
    ];
    assert!(more["id"].is_string(), "{more}");
    let shots = std::env::var_os("PAPERCLIP_UI_SHOTS").map(std::path::PathBuf::from);
    let tmp = tempfile::tempdir().unwrap();
    let dir = shots.unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir).unwrap();
    let driver = Driver::start().await;
    for (width, height, label) in [(1280, 900, "desktop"), (390, 844, "phone")] {
        let b = driver.session(width, height).await;
        for (name, path) in &pages {
            b.goto(&format!("{root}{path}")).await;
            let h1 = b.text("main h1").await;
            for bad in [
                "Not Found",
                "Bad Request",
                "Internal Server Error",
                "Forbidden",
            ] {
                assert!(!h1.contains(bad), "{path} at {label}: {h1}");
            }
            let overflow: Value = b
                .js("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
                .await;
            assert!(
                overflow.as_i64().unwrap() <= 1,
                "{path} scrolls sideways at {label} by {overflow}px"
            );
            b.screenshot(&dir.join(format!("{name}-{label}.png"))).await;
        }
        // Keyboard: the first Tab lands on the skip link, which moves focus to the content.
        b.goto(&format!("{root}/c/{c}")).await;
        b.find("body").await.send_keys("\u{E004}").await.unwrap();
        assert_eq!(
            b.js("return document.activeElement.className").await,
            json!("skip")
        );
        b.find("a.skip").await.send_keys("\u{E007}").await.unwrap();
        assert_eq!(
            b.js("return document.activeElement.id").await,
            json!("main")
        );
        b.close().await;
    }
}
