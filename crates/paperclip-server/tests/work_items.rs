//! Work that agents organise and deliver, against a real PostgreSQL: blockers, labels, work
//! products and inbox state.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[tokio::test]
async fn work_products_are_stored_read_back_and_refused_by_field() {
    let app = TestApp::spawn().await;
    let c = app.company("Deliver Co").await;
    let other = app.company("Other Co").await;
    let (_, project) = app
        .post(
            &format!("/companies/{}/projects", id(&c)),
            json!({"name": "Web"}),
        )
        .await;
    let (_, foreign_project) = app
        .post(
            &format!("/companies/{}/projects", id(&other)),
            json!({"name": "Theirs"}),
        )
        .await;
    let issue = app
        .issue(&c, json!({"title": "ship it", "projectId": id(&project)}))
        .await;
    let wp = format!("/issues/{}/work-products", id(&issue));

    let (s, pr) = app
        .post(
            &wp,
            json!({"type": "pull_request", "provider": "github", "title": "Add login",
                   "url": "https://github.com/acme/web/pull/7", "externalId": "7",
                   "status": "ready_for_review", "reviewState": "needs_board_review",
                   "isPrimary": true, "healthStatus": "healthy", "summary": "Adds login",
                   "metadata": {"branch": "login", "checks": 12},
                   "executionWorkspaceId": null, "runtimeServiceId": null}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{pr}");
    for (k, v) in [
        ("type", json!("pull_request")),
        ("provider", json!("github")),
        ("title", json!("Add login")),
        ("url", json!("https://github.com/acme/web/pull/7")),
        ("externalId", json!("7")),
        ("status", json!("ready_for_review")),
        ("reviewState", json!("needs_board_review")),
        ("isPrimary", json!(true)),
        ("healthStatus", json!("healthy")),
        ("summary", json!("Adds login")),
        ("metadata", json!({"branch": "login", "checks": 12})),
        ("projectId", project["id"].clone()),
        ("issueId", issue["id"].clone()),
    ] {
        assert_eq!(pr[k], v, "{k}: {pr}");
    }
    // A second primary PR takes the flag.
    let (s, pr2) = app
        .post(
            &wp,
            json!({"type": "pull_request", "provider": "github", "title": "v2", "isPrimary": true}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{pr2}");
    let (_, list) = app.get(&wp).await;
    let primaries: Vec<&Value> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["isPrimary"] == true)
        .collect();
    assert_eq!(primaries.len(), 1);
    assert_eq!(primaries[0]["id"], pr2["id"]);
    // The issue read carries them.
    let (_, detail) = app.get(&format!("/issues/{}", id(&issue))).await;
    assert_eq!(
        detail["workProducts"].as_array().unwrap().len(),
        2,
        "{detail}"
    );

    for (body, field) in [
        (
            json!({"type": "novel", "provider": "x", "title": "t"}),
            "type",
        ),
        (json!({"provider": "x", "title": "t"}), "type"),
        (
            json!({"type": "branch", "provider": "x", "title": "t", "url": "javascript:alert(1)"}),
            "url",
        ),
        (
            json!({"type": "branch", "provider": "x", "title": "t", "status": "shipped"}),
            "status",
        ),
        (
            json!({"type": "branch", "provider": "x", "title": "t", "executionWorkspaceId": uuid::Uuid::new_v4()}),
            "executionWorkspaceId",
        ),
        (
            json!({"type": "branch", "provider": "x", "title": "t", "projectId": id(&foreign_project)}),
            "projectId",
        ),
        (
            json!({"type": "branch", "provider": "x", "title": "t", "colour": "red"}),
            "colour",
        ),
        (
            json!({"type": "branch", "provider": "x", "title": "t", "metadata": {"big": "x".repeat(20000)}}),
            "metadata",
        ),
    ] {
        let (s, e) = app.post(&wp, body.clone()).await;
        assert!(
            s == StatusCode::BAD_REQUEST || s == StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {s} {e}"
        );
        let named: Vec<&Value> = e["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| &d["path"][0])
            .collect();
        assert!(named.contains(&&json!(field)), "{body}: {e}");
    }

    // Patch: change, clear, and refuse what cannot change.
    let (s, up) = app
        .patch(
            &format!("/work-products/{}", id(&pr)),
            json!({"status": "merged", "summary": null, "url": null}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{up}");
    assert_eq!(up["status"], "merged");
    assert_eq!(up["summary"], Value::Null);
    assert_eq!(up["url"], Value::Null);
    assert_eq!(up["title"], "Add login");
    let (s, e) = app
        .patch(
            &format!("/work-products/{}", id(&pr)),
            json!({"createdByRunId": uuid::Uuid::new_v4()}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");

    // Another company's agent sees none of it.
    let stranger = app.agent(&other, "Stranger").await;
    let key = app.key(&stranger).await;
    let (s, _) = app.call(Method::GET, &wp, None, Some(&key)).await;
    assert!(
        s == StatusCode::NOT_FOUND || s == StatusCode::FORBIDDEN,
        "{s}"
    );
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/work-products/{}", id(&pr)),
            None,
            Some(&key),
        )
        .await;
    assert!(
        s == StatusCode::NOT_FOUND || s == StatusCode::FORBIDDEN,
        "{s}"
    );

    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/work-products/{}", id(&pr)),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, list) = app.get(&wp).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn inbox_read_state_and_archive_follow_comments() {
    let app = TestApp::spawn().await;
    let c = app.company("Inbox Co").await;
    let agent = app.agent(&c, "Reader").await;
    let key = app.key(&agent).await;
    let issue = app
        .issue(
            &c,
            json!({"title": "read me", "status": "todo", "assigneeAgentId": id(&agent)}),
        )
        .await;
    let iid = id(&issue).to_string();
    let mine = || async {
        let (s, v) = app
            .call(Method::GET, "/agents/me/inbox/mine", None, Some(&key))
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v.as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == iid.as_str())
            .cloned()
    };
    let badges = || async {
        let (s, v) = app
            .get(&format!("/companies/{}/sidebar-badges", id(&c)))
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v
    };

    let item = mine().await.expect("assigned issue in the inbox");
    assert_eq!(item["isUnread"], false, "{item}");
    app.post(
        &format!("/issues/{iid}/comments"),
        json!({"body": "please start"}),
    )
    .await;
    let item = mine().await.unwrap();
    assert_eq!(
        (item["isUnread"].clone(), item["unreadCommentCount"].clone()),
        (json!(true), json!(1)),
        "{item}"
    );

    let (s, st) = app
        .call(
            Method::POST,
            &format!("/issues/{iid}/read"),
            None,
            Some(&key),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{st}");
    assert_eq!(st["reader"], format!("agent:{}", id(&agent)));
    assert!(st["lastReadAt"].is_string());
    assert_eq!(mine().await.unwrap()["isUnread"], false);
    // The agent's own comment does not make it unread for itself, but does for the board.
    assert_eq!(badges().await["inbox"], 0);
    app.call(
        Method::POST,
        &format!("/issues/{iid}/comments"),
        Some(json!({"body": "on it"})),
        Some(&key),
    )
    .await;
    assert_eq!(mine().await.unwrap()["isUnread"], false);
    assert_eq!(badges().await["inbox"], 1);
    let (s, _) = app.post(&format!("/issues/{iid}/read"), json!({})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(badges().await["inbox"], 0);
    let (s, _) = app
        .call(Method::DELETE, &format!("/issues/{iid}/read"), None, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(badges().await["inbox"], 1);

    // Archive hides it until someone else says something new.
    let (s, st) = app
        .call(
            Method::POST,
            &format!("/issues/{iid}/inbox-archive"),
            Some(json!({})),
            Some(&key),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{st}");
    assert!(st["archivedAt"].is_string());
    assert!(mine().await.is_none());
    app.post(
        &format!("/issues/{iid}/comments"),
        json!({"body": "any news?"}),
    )
    .await;
    assert!(mine().await.is_some(), "a newer comment brings it back");
    let (s, st) = app
        .call(
            Method::DELETE,
            &format!("/issues/{iid}/inbox-archive"),
            Some(json!({})),
            Some(&key),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{st}");
    assert_eq!(st["archivedAt"], Value::Null);

    // Someone else's inbox is refused by name, and the board has no agent inbox.
    let (s, e) = app
        .post(
            &format!("/issues/{iid}/inbox-archive"),
            json!({"userId": "someone-else"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["details"][0]["path"][0], "userId");
    let (s, _) = app
        .post(
            &format!("/issues/{iid}/inbox-archive"),
            json!({"userId": "local-board"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app.get("/agents/me/inbox/mine").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let b = badges().await;
    assert_eq!(
        (b["approvals"].clone(), b["failedRuns"].clone()),
        (json!(0), json!(0)),
        "{b}"
    );
}

#[tokio::test]
async fn blockers_are_kept_checked_for_cycles_hold_checkouts_and_wake_on_release() {
    let app = TestApp::spawn().await;
    let c = app.company("Blocker Co").await;
    let a = app
        .issue(&c, json!({"title": "foundation", "status": "todo"}))
        .await;
    let b = app
        .issue(
            &c,
            json!({"title": "walls", "status": "todo", "blockedByIssueIds": [id(&a)]}),
        )
        .await;
    assert_eq!(b["blockedBy"][0]["id"], a["id"], "{b}");
    let (_, a_now) = app.get(&format!("/issues/{}", id(&a))).await;
    assert_eq!(a_now["blocks"][0]["id"], b["id"], "{a_now}");
    // A cycle is refused, naming it.
    let (s, err) = app
        .patch(
            &format!("/issues/{}", id(&a)),
            json!({"blockedByIssueIds": [id(&b)]}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert!(
        err.to_string().contains("cycle")
            && err.to_string().contains(b["identifier"].as_str().unwrap()),
        "{err}"
    );
    let other = app.company("Elsewhere Co").await;
    let foreign = app.issue(&other, json!({"title": "not yours"})).await;
    let (s, _) = app
        .patch(
            &format!("/issues/{}", id(&b)),
            json!({"blockedByIssueIds": [id(&foreign)]}),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "another company's issue cannot block"
    );
    // A blocked issue cannot be checked out; finishing the blocker wakes the assignee.
    let agent = app.agent(&c, "Builder").await;
    let (_, _) = app
        .patch(
            &format!("/issues/{}", id(&b)),
            json!({"assigneeAgentId": id(&agent)}),
        )
        .await;
    let (s, err) = app
        .post(
            &format!("/issues/{}/checkout", id(&b)),
            json!({"agentId": id(&agent), "expectedStatuses": ["todo"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["details"]["blockedBy"][0]["id"], a["id"], "{err}");
    let (s, _) = app
        .patch(&format!("/issues/{}", id(&a)), json!({"status": "done"}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, runs) = app
        .get(&format!(
            "/companies/{}/heartbeat-runs?agentId={}",
            id(&c),
            id(&agent)
        ))
        .await;
    assert!(
        runs.as_array()
            .unwrap()
            .iter()
            .any(|r| r["contextSnapshot"]["wakeReason"] == "issue_blockers_resolved"),
        "{runs}"
    );
    let (s, got) = app
        .post(
            &format!("/issues/{}/checkout", id(&b)),
            json!({"agentId": id(&agent), "expectedStatuses": ["todo"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{got}");
}

#[tokio::test]
async fn labels_mark_issues_filter_lists_and_stay_in_their_company() {
    let app = TestApp::spawn().await;
    let c = app.company("Label Co").await;
    let (s, bug) = app
        .post(
            &format!("/companies/{}/labels", id(&c)),
            json!({"name": "Bug", "color": "#ff0000"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{bug}");
    let (s, _) = app
        .post(
            &format!("/companies/{}/labels", id(&c)),
            json!({"name": "bug", "color": "#00ff00"}),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::CONFLICT,
        "names are unique in a company, any case"
    );
    let (s, err) = app
        .post(
            &format!("/companies/{}/labels", id(&c)),
            json!({"name": "x", "color": "red"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{err}");
    let i = app
        .issue(&c, json!({"title": "crash", "labelIds": [id(&bug)]}))
        .await;
    assert_eq!(
        (i["labelIds"][0].as_str(), i["labels"][0]["name"].as_str()),
        (bug["id"].as_str(), Some("Bug")),
        "{i}"
    );
    app.issue(&c, json!({"title": "unlabelled"})).await;
    let (_, list) = app
        .get(&format!(
            "/companies/{}/issues?labelId={}",
            id(&c),
            id(&bug)
        ))
        .await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let other = app.company("Other Label Co").await;
    let (_, theirs) = app
        .post(
            &format!("/companies/{}/labels", id(&other)),
            json!({"name": "Theirs", "color": "#000000"}),
        )
        .await;
    let (s, err) = app
        .patch(
            &format!("/issues/{}", id(&i)),
            json!({"labelIds": [id(&theirs)]}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    let (s, _) = app
        .call(Method::DELETE, &format!("/labels/{}", id(&bug)), None, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, after) = app.get(&format!("/issues/{}", id(&i))).await;
    assert_eq!(after["labelIds"], json!([]), "{after}");
}
