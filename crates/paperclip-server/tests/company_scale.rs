//! What keeps board reads cheap at company scale, against a real PostgreSQL: the totals the
//! writers keep (spend, issue status tally, comment marks) always equal what they summarise,
//! whoever writes (routes or bulk SQL) and whatever folds meanwhile; and the lean views, pages
//! and ETags of the big lists.

mod common;

use common::auth::{exec, sql_i64};
use common::*;
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

/// Rows where `cost_monthly_totals` and a recount from `cost_events` disagree.
const SPEND_DRIFT: &str = "SELECT count(*) FROM (
    SELECT company_id, month, agent_id, project_id, cost_cents, input_tokens, cached_input_tokens, output_tokens, event_count
      FROM cost_monthly_totals WHERE event_count <> 0
    EXCEPT
    SELECT company_id, paperclip_cost_month(occurred_at), agent_id, project_id, sum(cost_cents), sum(input_tokens),
           sum(cached_input_tokens), sum(output_tokens), count(*)
      FROM cost_events GROUP BY 1, 2, 3, 4) d";

/// Rows where the summed status tally and a recount of issues disagree (both directions).
const TALLY_DRIFT: &str = "SELECT count(*) FROM (
    (SELECT company_id, status, sum(n) FROM issue_status_tally GROUP BY 1, 2 HAVING sum(n) <> 0
     EXCEPT SELECT company_id, status, count(*) FROM issues GROUP BY 1, 2)
    UNION ALL
    (SELECT company_id, status, count(*) FROM issues GROUP BY 1, 2
     EXCEPT SELECT company_id, status, sum(n) FROM issue_status_tally GROUP BY 1, 2 HAVING sum(n) <> 0)) d";

#[tokio::test]
async fn spend_totals_follow_every_cost_write() {
    let app = TestApp::spawn().await;
    let c = app.company("Spend Co").await;
    let cid = id(&c).to_string();
    let a = app.agent(&c, "Coder").await;
    let b = app.agent(&c, "Reviewer").await;
    let (_, p) = app
        .post(
            &format!("/companies/{cid}/projects"),
            json!({"name": "Web"}),
        )
        .await;
    for (agent, project, cents) in [(&a, None, 7), (&a, Some(id(&p)), 5), (&b, Some(id(&p)), 11)] {
        let (s, e) = app
            .post(
                &format!("/companies/{cid}/cost-events"),
                json!({"agentId": id(agent), "projectId": project, "provider": "anthropic", "model": "m",
                       "costCents": cents, "inputTokens": 100, "cachedInputTokens": 3, "outputTokens": 10}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{e}");
    }
    // Bulk SQL, a row dated last month (outside the window) and one next month (inside it, as
    // `occurred_at >= month start` always counted it).
    exec(
        &app,
        &format!(
            "INSERT INTO cost_events (company_id, agent_id, provider, model, cost_cents, occurred_at)
             SELECT '{cid}', '{}', 'openai', 'm', 2, now() FROM generate_series(1, 50)",
            id(&b)
        ),
    )
    .await;
    exec(
        &app,
        &format!(
            "INSERT INTO cost_events (company_id, agent_id, provider, model, cost_cents, occurred_at)
             VALUES ('{cid}', '{a}', 'openai', 'm', 1000, date_trunc('month', now()) - interval '1 day'),
                    ('{cid}', '{a}', 'openai', 'm', 3, date_trunc('month', now()) + interval '40 days')",
            a = id(&a)
        ),
    )
    .await;
    assert_eq!(sql_i64(&app, SPEND_DRIFT).await, 0);
    let spent = |v: &Value| v["spentMonthlyCents"].as_i64().unwrap();
    let (_, company) = app.get(&format!("/companies/{cid}")).await;
    assert_eq!(spent(&company), 7 + 5 + 11 + 100 + 3);
    let (_, agent_a) = app.get(&format!("/agents/{}", id(&a))).await;
    assert_eq!(spent(&agent_a), 7 + 5 + 3);
    let (_, summary) = app.get(&format!("/companies/{cid}/costs/summary")).await;
    assert_eq!(summary["spendCents"], 126, "{summary}");
    assert_eq!(summary["eventCount"], 54, "{summary}");

    // Updates move amounts between rows; deletes take them away; a project's deletion moves
    // its costs to "no project".
    exec(
        &app,
        &format!("UPDATE cost_events SET cost_cents = cost_cents * 2 WHERE provider = 'openai' AND agent_id = '{}'", id(&b)),
    )
    .await;
    exec(&app, "DELETE FROM cost_events WHERE cost_cents = 3").await;
    let (s, _) = app
        .call(Method::DELETE, &format!("/projects/{}", id(&p)), None, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(sql_i64(&app, SPEND_DRIFT).await, 0);
    let (_, by_project) = app.get(&format!("/companies/{cid}/costs/by-project")).await;
    assert_eq!(
        by_project,
        json!([{"projectId": null, "projectName": null, "costCents": 223,
                                    "inputTokens": 300, "outputTokens": 30}])
    );
    let (_, by_agent) = app.get(&format!("/companies/{cid}/costs/by-agent")).await;
    let cents: Vec<i64> = by_agent
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["costCents"].as_i64().unwrap())
        .collect();
    assert_eq!(cents, vec![211, 12], "{by_agent}");
}

#[tokio::test]
async fn the_status_tally_equals_a_recount_through_writes_and_concurrent_folds() {
    let app = TestApp::spawn().await;
    let c = app.company("Tally Co").await;
    let cid = id(&c).to_string();
    let other = app.company("Other Co").await;
    let mut ids = Vec::new();
    // Enough single writes that the company's tally gathers more rows than a fold leaves alone.
    let statuses = ["backlog", "todo", "todo", "in_review"].repeat(4);
    for status in statuses.iter().chain(&["done"]) {
        ids.push(
            id(&app
                .issue(&c, json!({"title": status, "status": status}))
                .await)
            .to_string(),
        );
    }
    app.issue(&other, json!({"title": "theirs", "status": "todo"}))
        .await;
    let (s, _) = app
        .patch(&format!("/issues/{}", ids[0]), json!({"status": "todo"}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app
        .patch(
            &format!("/issues/{}", ids[1]),
            json!({"title": "renamed only"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app
        .call(Method::DELETE, &format!("/issues/{}", ids[16]), None, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    exec(
        &app,
        &format!(
            "INSERT INTO issues (company_id, title, issue_number, identifier, status)
             SELECT '{cid}', 'bulk', 1000 + g, 'BLK-' || g, (ARRAY['backlog','todo','blocked'])[1 + g % 3]
             FROM generate_series(1, 300) g"
        ),
    )
    .await;
    exec(
        &app,
        &format!("UPDATE issues SET status = 'cancelled' WHERE company_id = '{cid}' AND status = 'blocked'"),
    )
    .await;
    assert_eq!(sql_i64(&app, TALLY_DRIFT).await, 0);
    let before = sql_i64(&app, "SELECT count(*) FROM issue_status_tally").await;
    assert!(before > 16, "{before} rows: enough for a fold");

    // Two replicas fold at once while a third connection writes.
    let fold = || async {
        let mut conn = paperclip_postgres::pool::connect_direct(&app.db.url)
            .await
            .unwrap();
        paperclip_store::companies::fold_issue_tally(&mut conn)
            .await
            .unwrap()
    };
    let write = async {
        for i in 0..20 {
            app.issue(
                &c,
                json!({"title": format!("during {i}"), "status": "todo"}),
            )
            .await;
        }
    };
    let (a, b, ()) = tokio::join!(fold(), fold(), write);
    assert!(a + b > 0, "a fold removed rows");
    assert_eq!(sql_i64(&app, TALLY_DRIFT).await, 0);
    let after = sql_i64(&app, "SELECT count(*) FROM issue_status_tally").await;
    assert!(after < before, "{after} rows after folding {before}");

    let (_, d) = app.get(&format!("/companies/{cid}/dashboard")).await;
    for status in ["backlog", "todo", "in_review", "cancelled"] {
        let sql = format!(
            "SELECT count(*) FROM issues WHERE company_id = '{cid}' AND status = '{status}'"
        );
        assert_eq!(
            d["tasks"][status].as_i64(),
            Some(sql_i64(&app, &sql).await),
            "{status}: {d}"
        );
    }
    assert!(
        d["tasks"].get("done").is_none(),
        "the deleted done issue is gone: {d}"
    );
}

#[tokio::test]
async fn the_inbox_badge_counts_what_others_wrote_since_the_reader_last_looked() {
    let app = TestApp::spawn().await;
    let c = app.company("Inbox Co").await;
    let cid = id(&c).to_string();
    let agent = app.agent(&c, "Talker").await;
    let issues: Vec<String> =
        futures_join_all((0..4).map(|i| app.issue(&c, json!({"title": format!("thread {i}")}))))
            .await
            .iter()
            .map(|v| id(v).to_string())
            .collect();
    let badge = || async {
        app.get(&format!("/companies/{cid}/sidebar-badges")).await.1["inbox"]
            .as_i64()
            .unwrap()
    };
    let agent_says = |issue: &str| {
        format!(
            "INSERT INTO issue_comments (company_id, issue_id, author_agent_id, body) VALUES ('{cid}', '{issue}', '{}', 'hi')",
            id(&agent)
        )
    };
    // The board's own comments never make its inbox unread.
    app.post(
        &format!("/issues/{}/comments", issues[0]),
        json!({"body": "note to self"}),
    )
    .await;
    assert_eq!(badge().await, 0);
    // An agent's and another board user's comments do.
    exec(&app, &agent_says(&issues[0])).await;
    exec(
        &app,
        &format!("INSERT INTO issue_comments (company_id, issue_id, author_user_id, body) VALUES ('{cid}', '{}', 'someone-else', 'hey')", issues[1]),
    )
    .await;
    assert_eq!(badge().await, 2);
    // Reading one clears it; the board answering after the agent keeps it read.
    app.post(&format!("/issues/{}/read", issues[0]), json!({}))
        .await;
    app.post(
        &format!("/issues/{}/comments", issues[0]),
        json!({"body": "thanks"}),
    )
    .await;
    assert_eq!(badge().await, 1);
    // Archiving hides it until someone else writes again.
    app.post(&format!("/issues/{}/inbox-archive", issues[1]), json!({}))
        .await;
    assert_eq!(badge().await, 0);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    exec(&app, &agent_says(&issues[1])).await;
    assert_eq!(badge().await, 1);
    // A deleted issue's comments take its mark with them; deleted comments recompute it.
    exec(&app, &agent_says(&issues[2])).await;
    assert_eq!(badge().await, 2);
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/issues/{}", issues[2]),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(badge().await, 1);
    exec(
        &app,
        &format!(
            "DELETE FROM issue_comments WHERE issue_id = '{}' AND author_agent_id IS NOT NULL",
            issues[1]
        ),
    )
    .await;
    assert_eq!(badge().await, 0);
    assert_eq!(
        sql_i64(
            &app,
            &format!(
                "SELECT count(*) FROM issue_comment_marks WHERE issue_id = '{}'",
                issues[1]
            )
        )
        .await,
        1,
        "the other user's comment still marks it"
    );
}

#[tokio::test]
async fn big_lists_have_lean_views_pages_and_etags() {
    let app = TestApp::spawn().await;
    let c = app.company("Lists Co").await;
    let cid = id(&c).to_string();
    let mut agents = Vec::new();
    for name in ["First", "Second", "Third"] {
        agents.push(id(&app.agent(&c, name).await).to_string());
    }
    let (s, all) = app.get(&format!("/companies/{cid}/agents")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(all[0]["orgChainHealth"]["fullChain"].is_array(), "{all}");
    let (s, summary) = app
        .get(&format!("/companies/{cid}/agents?view=summary"))
        .await;
    assert_eq!(s, StatusCode::OK);
    let first = &summary[0];
    assert_eq!(first["id"], agents[0].as_str());
    assert_eq!(first["spentMonthlyCents"], 0);
    for heavy in [
        "adapterConfig",
        "runtimeConfig",
        "orgChainHealth",
        "permissions",
    ] {
        assert!(first.get(heavy).is_none(), "{heavy} in a summary: {first}");
    }
    let (_, page) = app.get(&format!("/companies/{cid}/agents?limit=2")).await;
    assert_eq!(page.as_array().unwrap().len(), 2);
    let (_, rest) = app
        .get(&format!(
            "/companies/{cid}/agents?view=summary&limit=2&offset=2"
        ))
        .await;
    assert_eq!(rest.as_array().unwrap().len(), 1);
    assert_eq!(rest[0]["id"], agents[2].as_str());
    for bad in ["view=full", "limit=0", "offset=-1"] {
        let (s, e) = app.get(&format!("/companies/{cid}/agents?{bad}")).await;
        let field = bad.split('=').next().unwrap();
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {e}");
        assert!(e.to_string().contains(field), "{bad}: {e}");
    }

    let (_, label) = app
        .post(
            &format!("/companies/{cid}/labels"),
            json!({"name": "bug", "color": "#ff0000"}),
        )
        .await;
    let issue = app
        .issue(
            &c,
            json!({"title": "compact me", "description": "long words", "labelIds": [id(&label)]}),
        )
        .await;
    let (s, compact) = app
        .get(&format!("/companies/{cid}/issues?view=compact"))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(compact[0]["identifier"], issue["identifier"]);
    assert_eq!(compact[0]["labelIds"], json!([id(&label)]));
    assert!(compact[0].get("description").is_none(), "{compact}");
    let (s, _) = app.get(&format!("/companies/{cid}/issues?view=tiny")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // ETags: the same answer revalidates to an empty 304; a change makes a new tag.
    let url = format!("{}/companies/{cid}/issues", app.base);
    let r = app.client.get(&url).send().await.unwrap();
    let tag = r.headers()[header::ETAG].to_str().unwrap().to_string();
    assert!(tag.starts_with("W/\""), "{tag}");
    let r = app
        .client
        .get(&url)
        .header(header::IF_NONE_MATCH, &tag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(r.headers()[header::ETAG].to_str().unwrap(), tag);
    assert!(r.bytes().await.unwrap().is_empty());
    app.patch(
        &format!("/issues/{}", id(&issue)),
        json!({"title": "changed"}),
    )
    .await;
    let r = app
        .client
        .get(&url)
        .header(header::IF_NONE_MATCH, &tag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_ne!(r.headers()[header::ETAG].to_str().unwrap(), tag);
    // Writes and errors carry none.
    let r = app
        .client
        .post(format!("{}/companies/{cid}/issues", app.base))
        .json(&json!({"title": "new"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(r.headers().get(header::ETAG).is_none());
    let r = app
        .client
        .get(format!("{}/agents/{}", app.base, uuid::Uuid::new_v4()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.headers().get(header::ETAG).is_none());
}

#[tokio::test]
async fn upgrading_fills_the_totals_from_the_rows_already_there() {
    use paperclip_store::migrate::{self, Approval, MIGRATIONS};
    let db = paperclip_testkit::cluster().create_database().await;
    let before = MIGRATIONS
        .iter()
        .position(|m| m.name == "0016_company_scale")
        .unwrap();
    migrate::run_with(&db.url, "test", Approval::Apply, &MIGRATIONS[..before])
        .await
        .unwrap();
    let mut conn = paperclip_postgres::pool::connect_direct(&db.url)
        .await
        .unwrap();
    for sql in [
        "INSERT INTO companies (id, name, issue_prefix) VALUES ('00000000-0000-0000-0000-00000000000c', 'Old Co', 'OLD')",
        "INSERT INTO agents (id, company_id, name, url_key) VALUES
            ('00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-00000000000c', 'A', 'a')",
        "INSERT INTO issues (id, company_id, title, issue_number, identifier, status)
         SELECT ('00000000-0000-0000-0000-' || lpad(g::text, 12, '0'))::uuid, '00000000-0000-0000-0000-00000000000c',
                'old', g, 'OLD-' || g, (ARRAY['todo', 'done'])[1 + g % 2] FROM generate_series(1, 9) g",
        "INSERT INTO issue_comments (company_id, issue_id, author_agent_id, body, created_at)
         SELECT '00000000-0000-0000-0000-00000000000c', '00000000-0000-0000-0000-000000000001',
                '00000000-0000-0000-0000-0000000000a1', 'c' || g, now() - g * interval '1 minute'
         FROM generate_series(1, 3) g",
        "INSERT INTO issue_comments (company_id, issue_id, author_user_id, body, created_at)
         VALUES ('00000000-0000-0000-0000-00000000000c', '00000000-0000-0000-0000-000000000001',
                 'local-board', 'latest', now())",
        "INSERT INTO cost_events (company_id, agent_id, provider, model, cost_cents, input_tokens)
         SELECT '00000000-0000-0000-0000-00000000000c', '00000000-0000-0000-0000-0000000000a1', 'p', 'm', g, 10
         FROM generate_series(1, 4) g",
    ] {
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    }
    migrate::run(&db.url, "test", Approval::Apply)
        .await
        .unwrap();
    let one = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql);
    assert_eq!(one(SPEND_DRIFT).fetch_one(&mut conn).await.unwrap(), 0);
    assert_eq!(one(TALLY_DRIFT).fetch_one(&mut conn).await.unwrap(), 0);
    assert_eq!(
        one("SELECT sum(cost_cents)::bigint FROM cost_monthly_totals")
            .fetch_one(&mut conn)
            .await
            .unwrap(),
        10
    );
    let (author, other): (String, bool) = sqlx::query_as(
        "SELECT last_author, other_at = (SELECT max(created_at) FROM issue_comments WHERE author_agent_id IS NOT NULL)
         FROM issue_comment_marks",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!((author.as_str(), other), ("user:local-board", true));
}

#[tokio::test]
async fn kept_answers_never_outlive_a_write_whoever_makes_it() {
    let app = TestApp::spawn().await;
    let c = app.company("Fresh Co").await;
    let cid = id(&c).to_string();
    let issue = app.issue(&c, json!({"title": "first"})).await;
    let list = format!("/companies/{cid}/issues");
    let titles = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|i| i["title"].as_str().unwrap().to_string())
            .collect()
    };
    for _ in 0..3 {
        assert_eq!(titles(&app.get(&list).await.1), ["first"]);
    }
    // A write through the API is read back at once (read-your-writes)...
    app.issue(&c, json!({"title": "second", "priority": "critical"}))
        .await;
    assert_eq!(titles(&app.get(&list).await.1), ["second", "first"]);
    // ... and so is one that bypasses the API (no activity row, no live event).
    exec(
        &app,
        &format!(
            "UPDATE issues SET title = 'renamed in SQL' WHERE id = '{}'",
            id(&issue)
        ),
    )
    .await;
    assert_eq!(
        titles(&app.get(&list).await.1),
        ["second", "renamed in SQL"]
    );
    let (_, d) = app.get(&format!("/companies/{cid}/dashboard")).await;
    exec(
        &app,
        &format!(
            "UPDATE issues SET status = 'done' WHERE id = '{}'",
            id(&issue)
        ),
    )
    .await;
    let (_, d2) = app.get(&format!("/companies/{cid}/dashboard")).await;
    assert_ne!(d["tasks"], d2["tasks"]);
    assert_eq!(d2["tasks"]["done"], 1, "{d2}");
    // Board pages are kept too, and just as fresh.
    let page = format!("{}/c/{cid}/issues", app.base.trim_end_matches("/api"));
    let html = || async {
        app.client
            .get(&page)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    assert!(html().await.contains("renamed in SQL"));
    exec(
        &app,
        &format!(
            "UPDATE issues SET title = 'renamed again' WHERE id = '{}'",
            id(&issue)
        ),
    )
    .await;
    let now = html().await;
    assert!(now.contains("renamed again") && !now.contains("renamed in SQL"));
    // Another caller never gets this caller's answer: to an agent of another company the
    // company is not there.
    app.get(&format!("/companies/{cid}/agents")).await;
    let other = app.company("Other Co").await;
    let stranger = app.agent(&other, "Stranger").await;
    let key = app.key(&stranger).await;
    let (s, _) = app
        .call(
            Method::GET,
            &format!("/companies/{cid}/agents"),
            None,
            Some(&key),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
