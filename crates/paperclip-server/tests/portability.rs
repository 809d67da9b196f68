//! Company portability against a real PostgreSQL and real storage: a company with 1,000 issues
//! and every kind of object goes out as a bundle, comes back as a new company, and goes out
//! again as the same bundle (modulo ids); secrets' values never leave; imports into an existing
//! company decide collisions per object; a damaged bundle changes nothing.

mod common;

use std::collections::HashMap;

use common::auth::{exec, sql_i64};
use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const SECRET_VALUE: &str = "sk-live-never-leaves-0123456789";

async fn export(app: &TestApp, cid: &str) -> String {
    let res = app
        .client
        .post(format!("{}/companies/{cid}/export", app.base))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/x-ndjson");
    res.text().await.unwrap()
}

async fn import(app: &TestApp, query: &str, bundle: &str) -> (StatusCode, Value) {
    let res = app
        .client
        .post(format!("{}/companies/import{query}", app.base))
        .header("content-type", "application/x-ndjson")
        .body(bundle.to_string())
        .send()
        .await
        .unwrap();
    (res.status(), res.json().await.unwrap())
}

/// A company with every kind of object a bundle carries.
async fn rich_company(app: &TestApp) -> (Value, Value) {
    let c = app.company("Source Co").await;
    let cid = id(&c).to_string();
    let (_, secret) = app
        .post(
            &format!("/companies/{cid}/secrets"),
            json!({"name": "OpenAI key", "key": "openai", "value": SECRET_VALUE}),
        )
        .await;
    let (s, ceo) = app
        .post(
            &format!("/companies/{cid}/agents"),
            json!({"name": "CEO", "role": "ceo", "adapterType": "process", "adapterConfig": {"command": "true",
                   "env": {"OPENAI_API_KEY": {"type": "secret_ref", "secretId": id(&secret)}, "MODE": "fast"}},
                   "runtimeConfig": {"heartbeat": {"enabled": false}}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{ceo}");
    let (_, dev) = app
        .post(
            &format!("/companies/{cid}/agents"),
            json!({"name": "Dev", "role": "engineer", "reportsTo": id(&ceo), "adapterType": "process",
                   "adapterConfig": {"command": "true"}, "runtimeConfig": {"heartbeat": {"enabled": false}}}),
        )
        .await;
    app.key(&dev).await; // an API key, which must not travel
    let (_, label) = app
        .post(
            &format!("/companies/{cid}/labels"),
            json!({"name": "bug", "color": "#aa0000"}),
        )
        .await;
    let (_, goal) = app
        .post(&format!("/companies/{cid}/goals"), json!({"title": "Grow"}))
        .await;
    let (_, sub) = app
        .post(
            &format!("/companies/{cid}/goals"),
            json!({"title": "Ship", "parentId": id(&goal), "ownerAgentId": id(&dev)}),
        )
        .await;
    let (_, project) = app
        .post(
            &format!("/companies/{cid}/projects"),
            json!({"name": "Web", "goalId": id(&sub), "leadAgentId": id(&dev)}),
        )
        .await;
    // 1,000 issues (bulk SQL: every status and priority, a parent chain, some in the project).
    exec(
        app,
        &format!(
            "INSERT INTO issues (company_id, title, description, issue_number, identifier, priority, status,
                                 assignee_agent_id, project_id, goal_id, created_at)
             SELECT '{cid}', 'Bulk ' || g, 'Text ' || g, g, 'SOU-' || g,
                    (ARRAY['low','medium','high','critical'])[1 + g % 4],
                    (ARRAY['backlog','todo','in_review','done','cancelled','blocked'])[1 + g % 6],
                    CASE WHEN g % 3 = 0 THEN '{dev}'::uuid END,
                    CASE WHEN g % 5 = 0 THEN '{project}'::uuid END,
                    CASE WHEN g % 7 = 0 THEN '{goal}'::uuid END,
                    now() - (1000 - g) * interval '1 second'
             FROM generate_series(1, 997) g",
            dev = id(&dev),
            project = id(&project),
            goal = id(&goal)
        ),
    )
    .await;
    exec(
        app,
        &format!("UPDATE companies SET issue_counter = 997 WHERE id = '{cid}'"),
    )
    .await;
    exec(
        app,
        &format!(
            "UPDATE issues i SET parent_id = p.id FROM issues p
             WHERE i.company_id = '{cid}' AND p.company_id = '{cid}' AND p.issue_number = i.issue_number - 1
               AND i.issue_number % 10 = 0"
        ),
    )
    .await;
    // The rest through the API: labels, blockers, comments, a document's revisions, a file, a
    // work product, an approval, a routine with triggers and the issue it created.
    let main = app
        .issue(&c, json!({"title": "Main", "labelIds": [id(&label)], "assigneeAgentId": id(&dev), "projectId": id(&project)}))
        .await;
    let mid = id(&main).to_string();
    let blocker = app.issue(&c, json!({"title": "Blocker"})).await;
    app.patch(
        &format!("/issues/{mid}"),
        json!({"blockedByIssueIds": [id(&blocker)]}),
    )
    .await;
    app.post(&format!("/issues/{mid}/comments"), json!({"body": "First"}))
        .await;
    app.post(
        &format!("/issues/{mid}/comments"),
        json!({"body": "Second @Dev"}),
    )
    .await;
    let (_, d1) = app
        .call(
            Method::PUT,
            &format!("/issues/{mid}/documents/plan"),
            Some(json!({"title": "Plan", "format": "markdown", "body": "v1"})),
            None,
        )
        .await;
    app.call(
        Method::PUT,
        &format!("/issues/{mid}/documents/plan"),
        Some(json!({"title": "Plan", "format": "markdown", "body": "v2", "baseRevisionId": d1["latestRevisionId"]})),
        None,
    )
    .await;
    app.attach_text(&c, &main, "attached bytes").await;
    app.post(
        &format!("/issues/{mid}/work-products"),
        json!({"type": "branch", "provider": "git", "title": "feature"}),
    )
    .await;
    app.post(
        &format!("/companies/{cid}/approvals"),
        json!({"type": "request_board_approval", "payload": {"agentId": id(&dev)}, "issueIds": [mid]}),
    )
    .await;
    let (_, routine) = app
        .post(
            &format!("/companies/{cid}/routines"),
            json!({"title": "Weekly", "assigneeAgentId": id(&dev), "labelIds": [id(&label)], "projectId": id(&project)}),
        )
        .await;
    app.post(
        &format!("/routines/{}/triggers", id(&routine)),
        json!({"kind": "schedule", "cronExpression": "0 9 * * MON", "timezone": "Europe/Paris"}),
    )
    .await;
    app.post(
        &format!("/routines/{}/triggers", id(&routine)),
        json!({"kind": "webhook", "signingMode": "hmac_sha256"}),
    )
    .await;
    app.post(&format!("/routines/{}/run", id(&routine)), json!({}))
        .await;
    (c, dev)
}

/// A bundle with ids replaced by their order of first appearance, and what an import resets
/// by design (a new company's own row, new webhook URLs, cold boot) masked.
fn normalized(bundle: &str) -> Vec<Value> {
    let mut ids: HashMap<String, String> = HashMap::new();
    fn walk(v: &mut Value, ids: &mut HashMap<String, String>) {
        match v {
            Value::String(s) if uuid::Uuid::parse_str(s).is_ok() => {
                let n = ids.len();
                *s = ids
                    .entry(s.clone())
                    .or_insert_with(|| format!("id{n}"))
                    .clone();
            }
            Value::Array(a) => a.iter_mut().for_each(|x| walk(x, ids)),
            Value::Object(o) => o.values_mut().for_each(|x| walk(x, ids)),
            _ => {}
        }
    }
    bundle
        .lines()
        .map(|l| {
            let mut r: Value = serde_json::from_str(l).unwrap();
            if r["type"] == "manifest" {
                return json!({"type": "manifest", "tables": r["tables"], "omitted": r["omitted"]});
            }
            if r["type"] == "row" {
                let table = r["table"].as_str().unwrap().to_string();
                let row = r["row"].as_object_mut().unwrap();
                let mask: &[&str] = match table.as_str() {
                    "issues" => &[
                        "identifier",
                        "execution_locked_at",
                        "checkout_run_id",
                        "execution_run_id",
                    ],
                    "company_secrets" => &["latest_version", "last_resolved_at"],
                    "agents" => &["timer_next_at"],
                    "assets" => &["object_key"],
                    "routine_triggers" => &["public_id", "enabled", "next_run_at"],
                    _ => &[],
                };
                for m in mask {
                    row.insert((*m).into(), json!("masked"));
                }
            }
            walk(&mut r, &mut ids);
            r
        })
        .collect()
}

#[tokio::test]
async fn export_import_export_gives_the_same_bundle() {
    let app = TestApp::spawn().await;
    let (c, _) = rich_company(&app).await;
    let first = export(&app, id(&c)).await;
    assert!(
        !first.contains(SECRET_VALUE),
        "a secret value left in the bundle"
    );
    assert!(!first.contains("pcp_"), "an API key left in the bundle");
    let manifest: Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
    let omitted: Vec<&str> = manifest["omitted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["table"].as_str().unwrap())
        .collect();
    for t in [
        "activity_log",
        "heartbeat_runs",
        "agent_wakeup_requests",
        "agent_api_keys",
        "company_secret_versions",
    ] {
        assert!(omitted.contains(&t), "{t} is said to be left out");
    }
    let end: Value = serde_json::from_str(first.lines().last().unwrap()).unwrap();
    assert_eq!(end["counts"]["issues"], 1000);
    for table in [
        "labels",
        "agents",
        "company_secrets",
        "goals",
        "projects",
        "issue_labels",
        "issue_relations",
        "issue_comments",
        "issue_documents",
        "document_revisions",
        "approvals",
        "issue_approvals",
        "assets",
        "issue_attachments",
        "issue_work_products",
        "routines",
        "routine_triggers",
    ] {
        assert!(
            end["counts"][table].as_u64().unwrap() > 0,
            "{table} is empty in the fixture"
        );
    }

    let (s, imported) = import(&app, "?name=Copy%20Co", &first).await;
    assert_eq!(s, StatusCode::OK, "{imported}");
    let copy = imported["companyId"].as_str().unwrap().to_string();
    assert_eq!(imported["companyName"], "Copy Co");
    let second = export(&app, &copy).await;
    let (a, b) = (normalized(&first), normalized(&second));
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y);
    }

    // The copy boots cold, renumbered, with its file and its secret binding re-bound.
    for t in ["agent_wakeup_requests", "heartbeat_runs"] {
        assert_eq!(
            sql_i64(
                &app,
                &format!("SELECT count(*) FROM {t} WHERE company_id = '{copy}'")
            )
            .await,
            0,
            "{t}"
        );
    }
    let (_, issues) = app.get(&format!("/companies/{copy}/issues?q=Main")).await;
    let main = &issues[0];
    let prefix = main["identifier"]
        .as_str()
        .unwrap()
        .split('-')
        .next()
        .unwrap()
        .to_string();
    assert_ne!(prefix, "SOU");
    let (_, files) = app.get(&format!("/issues/{}/attachments", id(main))).await;
    let res = app
        .client
        .get(format!(
            "{}/attachments/{}/content",
            app.base,
            id(&files[0])
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.text().await.unwrap(), "attached bytes");
    let (_, agents) = app.get(&format!("/companies/{copy}/agents")).await;
    let ceo = agents
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "CEO")
        .unwrap();
    let bound = ceo["adapterConfig"]["env"]["OPENAI_API_KEY"]["secretId"]
        .as_str()
        .unwrap();
    let (_, secrets) = app.get(&format!("/companies/{copy}/secrets")).await;
    assert!(secrets
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["id"] == bound && s["key"] == "openai"));
    let (_, dash) = app.get(&format!("/companies/{copy}/dashboard")).await;
    let (_, orig) = app.get(&format!("/companies/{}/dashboard", id(&c))).await;
    assert_eq!(dash["tasks"], orig["tasks"], "the status tally is rebuilt");
    // Every company table is carried or said to be left out.
    let mut conn = paperclip_postgres::pool::connect_direct(&app.db.url)
        .await
        .unwrap();
    assert_eq!(
        paperclip_store::portability::unclassified_tables(&mut conn)
            .await
            .unwrap(),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn an_import_into_an_existing_company_decides_collisions_per_object() {
    let app = TestApp::spawn().await;
    let src = app.company("Source").await;
    let sid = id(&src).to_string();
    let (_, label) = app
        .post(
            &format!("/companies/{sid}/labels"),
            json!({"name": "bug", "color": "#aa0000"}),
        )
        .await;
    let (_, project) = app
        .post(
            &format!("/companies/{sid}/projects"),
            json!({"name": "Web", "description": "from the bundle"}),
        )
        .await;
    let agent = app.agent(&src, "Dev").await;
    app.issue(&src, json!({"title": "Carried", "labelIds": [id(&label)], "projectId": id(&project), "assigneeAgentId": id(&agent)})).await;
    let bundle = export(&app, &sid).await;

    let dst = app.company("Target").await;
    let did = id(&dst).to_string();
    let (_, their_label) = app
        .post(
            &format!("/companies/{did}/labels"),
            json!({"name": "BUG", "color": "#00aa00"}),
        )
        .await;
    let (_, their_project) = app
        .post(
            &format!("/companies/{did}/projects"),
            json!({"name": "web", "description": "theirs"}),
        )
        .await;
    app.agent(&dst, "Dev").await;
    let before = sql_i64(
        &app,
        &format!("SELECT count(*) FROM issues WHERE company_id = '{did}'"),
    )
    .await;

    let (s, preview) = import(&app, &format!("/preview?companyId={did}"), &bundle).await;
    assert_eq!(s, StatusCode::OK, "{preview}");
    let collisions = preview["collisions"].as_array().unwrap();
    assert_eq!(collisions.len(), 3, "{preview}");
    assert_eq!(
        sql_i64(
            &app,
            &format!("SELECT count(*) FROM issues WHERE company_id = '{did}'")
        )
        .await,
        before,
        "a preview writes nothing"
    );
    let object = |table: &str| {
        collisions.iter().find(|c| c["table"] == table).unwrap()["object"]
            .as_str()
            .unwrap()
            .to_string()
    };

    let query = format!(
        "?companyId={did}&collisions=rename&decide={}=skip,{}=replace",
        object("labels"),
        object("projects")
    );
    let (s, done) = import(&app, &query, &bundle).await;
    assert_eq!(s, StatusCode::OK, "{done}");
    // Skipped: the target's label carries the imported issue; replaced: the target's project
    // has the bundle's fields; renamed: a second agent.
    let (_, issues) = app.get(&format!("/companies/{did}/issues?q=Carried")).await;
    let carried = &issues[0];
    assert_eq!(carried["labelIds"], json!([id(&their_label)]));
    assert_eq!(carried["projectId"], their_project["id"]);
    let (_, p) = app.get(&format!("/projects/{}", id(&their_project))).await;
    assert_eq!(p["description"], "from the bundle");
    let (_, agents) = app.get(&format!("/companies/{did}/agents")).await;
    let mut names: Vec<&str> = agents
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["Dev", "Dev (imported)"]);
    let renamed = agents
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "Dev (imported)")
        .unwrap();
    assert_eq!(carried["assigneeAgentId"], renamed["id"]);
    // Issues continue the target's numbering.
    assert_eq!(carried["issueNumber"], before + 1);
}

#[tokio::test]
async fn a_damaged_bundle_changes_nothing() {
    let app = TestApp::spawn().await;
    let src = app.company("Source").await;
    for i in 0..5 {
        app.issue(&src, json!({"title": format!("i{i}")})).await;
    }
    let bundle = export(&app, id(&src)).await;
    let companies = sql_i64(&app, "SELECT count(*) FROM companies").await;
    let lines: Vec<&str> = bundle.lines().collect();
    let cut = lines[..lines.len() - 2].join("\n");
    let mut bad_count: Vec<String> = lines.iter().map(|l| (*l).to_string()).collect();
    let last = bad_count.len() - 1;
    bad_count[last] = bad_count[last].replace("\"issues\":5", "\"issues\":6");
    let newer = {
        let mut m: Value = serde_json::from_str(lines[0]).unwrap();
        m["schemaVersion"] = json!(9999);
        std::iter::once(m.to_string())
            .chain(lines[1..].iter().map(|l| (*l).to_string()))
            .collect::<Vec<_>>()
            .join("\n")
    };
    for (what, body) in [
        ("from a newer Paperclip", newer),
        ("cut short", cut),
        ("counts that disagree", bad_count.join("\n")),
        ("not a bundle", "{\"hello\": 1}".to_string()),
        (
            "a foreign table",
            bundle.replacen("\"table\":\"issues\"", "\"table\":\"board_users\"", 1),
        ),
    ] {
        let (s, e) = import(&app, "", &body).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {e}");
        assert!(e.to_string().contains("bundle"), "{what}: {e}");
        assert_eq!(
            sql_i64(&app, "SELECT count(*) FROM companies").await,
            companies,
            "{what}"
        );
    }
    // A bad choice in the query is the caller's mistake, named.
    for (query, field) in [
        ("?collisions=merge", "collisions"),
        ("?decide=labels:x", "decide"),
        ("?companyId=nope", "companyId"),
    ] {
        let (s, e) = import(&app, query, &bundle).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{query}: {e}");
        assert!(e.to_string().contains(field), "{query}: {e}");
    }
    assert_eq!(
        sql_i64(&app, "SELECT count(*) FROM companies").await,
        companies
    );
}

#[tokio::test]
async fn an_older_bundle_imports_with_the_defaults_of_columns_it_lacks() {
    let app = TestApp::spawn().await;
    let src = app.company("Old Co").await;
    for i in 0..3 {
        app.issue(&src, json!({"title": format!("old {i}")})).await;
    }
    let bundle = export(&app, id(&src)).await;
    // As an older Paperclip wrote it: issues without the columns later migrations added.
    let strip = |bundle: &str, column: &str| -> String {
        bundle
            .lines()
            .map(|l| {
                let mut v: Value = serde_json::from_str(l).unwrap();
                if v["type"] == "row" && v["table"] == "issues" {
                    v["row"].as_object_mut().unwrap().remove(column);
                }
                v.to_string()
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let old = strip(&strip(&bundle, "origin_kind"), "request_depth");
    let (s, done) = import(&app, "?name=Old%20copy", &old).await;
    assert_eq!(s, StatusCode::OK, "{done}");
    let copy = done["companyId"].as_str().unwrap();
    let kinds = sql_i64(
        &app,
        &format!(
            "SELECT count(*) FROM issues WHERE company_id = '{copy}' AND origin_kind = 'manual' AND request_depth = 0"
        ),
    )
    .await;
    assert_eq!(kinds, 3, "the defaults applied");
    // A column with no default cannot be left out: refused, named, nothing kept.
    let companies = sql_i64(&app, "SELECT count(*) FROM companies").await;
    let (s, e) = import(&app, "", &strip(&bundle, "title")).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(
        sql_i64(&app, "SELECT count(*) FROM companies").await,
        companies
    );
}
