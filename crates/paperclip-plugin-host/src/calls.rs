//! Calls from a worker to the host, each checked against the manifest's capabilities and, within
//! an invocation, against the invoking company.

use std::sync::Arc;

use paperclip_api_types::host_calls::HostCall;
use paperclip_api_types::issues::IssueView;
use paperclip_store::{self as store, issues::Issue, Actor, ActorKind};
use serde_json::{json, Value};
use uuid::Uuid;

use super::params::{commit, from_db, str_param, uuid_list, uuid_param};
use super::{db_calls, PluginHost, Slot};
use crate::worker::{codes, RpcError};

/// Within an invocation, a plugin only touches the invoking company's objects.
fn check_scope(scope: Option<Uuid>, company: Uuid) -> Result<(), RpcError> {
    match scope {
        Some(c) if c != company => Err(RpcError::new(
            codes::INVOCATION_SCOPE_DENIED,
            "object not found in the invoking company",
        )),
        _ => Ok(()),
    }
}

/// Loads the issue named by `params[$key]`, checked against the invocation's company.
macro_rules! load_issue {
    ($conn:expr, $params:expr, $scope:expr, $key:literal) => {{
        let id = uuid_param(&$params, $key)?;
        let issue: Issue = store::issues::get(&mut $conn, id)
            .await
            .map_err(from_db)?
            .ok_or_else(|| RpcError::new(codes::INVALID_PARAMS, "issue not found"))?;
        check_scope($scope, issue.company_id)?;
        issue
    }};
}

/// [`dispatch`] with owned arguments, boxed here (a plain function, not a closure) so the
/// compiler checks `Send` with concrete lifetimes.
pub fn dispatch_owned(
    host: Arc<PluginHost>,
    slot: Arc<Slot>,
    method: String,
    params: Value,
) -> crate::worker::BoxFut<Result<Value, RpcError>> {
    Box::pin(async move { dispatch(&host, &slot, &method, params).await })
}

/// Answers one call from the worker of `slot`.
pub async fn dispatch(
    host: &Arc<PluginHost>,
    slot: &Slot,
    method: &str,
    params: Value,
) -> Result<Value, RpcError> {
    let call = HostCall::from_method(method).ok_or_else(|| {
        RpcError::new(
            codes::METHOD_NOT_FOUND,
            format!("unknown host method {method}"),
        )
    })?;
    if call == HostCall::ConfigGet {
        let company = params
            .get("companyId")
            .and_then(Value::as_str)
            .and_then(|c| Uuid::parse_str(c).ok());
        let mut s = host.db.session().await.map_err(from_db)?;
        let config = paperclip_store::plugins::config_get(&mut s, slot.plugin.id, company)
            .await
            .map_err(from_db)?;
        s.close().await.map_err(from_db)?;
        return Ok(config);
    }
    if call == HostCall::Log {
        let message = params
            .get("message")
            .and_then(|m| m.as_str())
            .unwrap_or_default()
            .to_string();
        tracing::info!(plugin = %slot.plugin.plugin_key, "{message}");
        return Ok(Value::Null);
    }
    let cap = call.capability().unwrap_or_default();
    if !slot.manifest.has(cap) {
        return Err(RpcError::new(
            codes::CAPABILITY_DENIED,
            format!("{method} needs the {cap} capability, which the manifest does not declare"),
        ));
    }
    let (initiator, scope) = host.initiator(&params).unwrap_or((Actor::system(), None));
    let actor = Actor {
        kind: ActorKind::Plugin {
            plugin_id: slot.plugin.id,
            plugin_key: slot.plugin.plugin_key.clone(),
            initiating_type: initiator.actor_type().to_string(),
            initiating_id: initiator.actor_id(),
            initiating_agent_id: initiator.agent_id(),
        },
        run_id: initiator.run_id,
    };
    // Two smaller state machines instead of one large one (each boxed with an explicit `Send`
    // bound), which keeps rustc's Send analysis local and the errors readable. Which half
    // serves a call is a detail of this file; `call.access()` says what the call does.
    let first_half = matches!(
        call,
        HostCall::DbNamespace
            | HostCall::DbQuery
            | HostCall::DbExecute
            | HostCall::IssuesGet
            | HostCall::IssuesList
            | HostCall::IssuesGetSubtree
            | HostCall::IssuesOrchestration
            | HostCall::DocumentsList
            | HostCall::DocumentsGet
    );
    if first_half {
        reads(host, slot, call, params, scope).await
    } else {
        writes(host, slot, call, params, actor, scope).await
    }
}

fn reads<'a>(
    host: &'a Arc<PluginHost>,
    slot: &'a Slot,
    call: HostCall,
    params: Value,
    scope: Option<Uuid>,
) -> crate::worker::BoxFutA<'a, Result<Value, RpcError>> {
    Box::pin(reads_inner(host, slot, call, params, scope))
}

async fn reads_inner(
    host: &Arc<PluginHost>,
    slot: &Slot,
    call: HostCall,
    params: Value,
    scope: Option<Uuid>,
) -> Result<Value, RpcError> {
    let in_scope = |company: Uuid| check_scope(scope, company);
    let db = &host.db;
    match call {
        HostCall::DbNamespace => {
            Ok(json!({"namespace": db_calls::namespace(slot)?.namespace_name}))
        }
        HostCall::DbQuery | HostCall::DbExecute => db_calls::run(host, slot, call, &params).await,
        HostCall::IssuesGet => {
            let mut s = db.session().await.map_err(from_db)?;
            let issue = load_issue!(s, params, scope, "issueId");
            s.close().await.map_err(from_db)?;
            Ok(json!(IssueView::of(issue)))
        }
        HostCall::IssuesList => {
            let company = uuid_param(&params, "companyId")?;
            in_scope(company)?;
            let filter = store::issues::Filter {
                statuses: params
                    .get("status")
                    .and_then(Value::as_str)
                    .map(|s| s.split(',').map(str::to_string).collect())
                    .unwrap_or_default(),
                parent_id: params
                    .get("parentId")
                    .and_then(Value::as_str)
                    .and_then(|s| Uuid::parse_str(s).ok()),
                limit: params
                    .get("limit")
                    .and_then(Value::as_i64)
                    .unwrap_or(100)
                    .clamp(1, 500),
                ..Default::default()
            };
            let mut s = db.session().await.map_err(from_db)?;
            let rows = store::issues::list(&mut s, company, &filter)
                .await
                .map_err(from_db)?;
            s.close().await.map_err(from_db)?;
            Ok(json!(crate::issue_list(rows)))
        }
        HostCall::IssuesGetSubtree => {
            let mut s = db.session().await.map_err(from_db)?;
            let issue = load_issue!(s, params, scope, "issueId");
            let tree = store::orchestration::subtree(&mut s, &issue)
                .await
                .map_err(from_db)?;
            s.close().await.map_err(from_db)?;
            Ok(
                json!({"issueIds": tree.iter().map(|i| i.id).collect::<Vec<_>>(), "issues": tree.into_iter().map(IssueView::of).collect::<Vec<_>>()}),
            )
        }
        HostCall::IssuesOrchestration => {
            let mut s = db.session().await.map_err(from_db)?;
            let issue = load_issue!(s, params, scope, "issueId");
            let include = params
                .get("includeSubtree")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            let summary = store::orchestration::summary(&mut s, &issue, include)
                .await
                .map_err(from_db)?;
            s.close().await.map_err(from_db)?;
            Ok(summary)
        }
        HostCall::DocumentsList => {
            let mut s = db.session().await.map_err(from_db)?;
            let issue = load_issue!(s, params, scope, "issueId");
            let docs = store::documents::list(&mut s, issue.id)
                .await
                .map_err(from_db)?;
            s.close().await.map_err(from_db)?;
            Ok(json!(docs))
        }
        HostCall::DocumentsGet => {
            let mut s = db.session().await.map_err(from_db)?;
            let issue = load_issue!(s, params, scope, "issueId");
            let doc = store::documents::get(&mut s, issue.id, str_param(&params, "key")?)
                .await
                .map_err(from_db)?;
            s.close().await.map_err(from_db)?;
            Ok(json!(doc))
        }
        _ => Err(RpcError::new(
            codes::METHOD_NOT_FOUND,
            format!("unknown host method {}", call.method()),
        )),
    }
}

fn writes<'a>(
    host: &'a Arc<PluginHost>,
    slot: &'a Slot,
    call: HostCall,
    params: Value,
    actor: Actor,
    scope: Option<Uuid>,
) -> crate::worker::BoxFutA<'a, Result<Value, RpcError>> {
    Box::pin(writes_inner(host, slot, call, params, actor, scope))
}

async fn writes_inner(
    host: &Arc<PluginHost>,
    slot: &Slot,
    call: HostCall,
    params: Value,
    actor: Actor,
    scope: Option<Uuid>,
) -> Result<Value, RpcError> {
    let _ = &actor;
    let in_scope = |company: Uuid| check_scope(scope, company);
    let db = &host.db;
    match call {
        HostCall::IssuesCreate => {
            let company = uuid_param(&params, "companyId")?;
            in_scope(company)?;
            let own = format!("plugin:{}", slot.plugin.plugin_key);
            let origin = params
                .get("originKind")
                .and_then(Value::as_str)
                .unwrap_or(&own)
                .to_string();
            if origin != own && !origin.starts_with(&format!("{own}:")) {
                return Err(RpcError::new(
                    codes::CAPABILITY_DENIED,
                    format!("Plugin may only use originKind values under {own}"),
                ));
            }
            let text = |k: &str| params.get(k).and_then(Value::as_str).map(str::to_string);
            let new = store::issues::NewIssue {
                title: str_param(&params, "title")?.to_string(),
                description: text("description"),
                status: text("status").unwrap_or_else(|| "backlog".into()),
                priority: text("priority").unwrap_or_else(|| "medium".into()),
                assignee_agent_id: params
                    .get("assigneeAgentId")
                    .and_then(Value::as_str)
                    .and_then(|s| Uuid::parse_str(s).ok()),
                assignee_user_id: None,
                parent_id: params
                    .get("parentId")
                    .and_then(Value::as_str)
                    .and_then(|s| Uuid::parse_str(s).ok()),
                project_id: None,
                goal_id: None,
                billing_code: text("billingCode"),
                origin_kind: origin,
                origin_id: text("originId"),
            };
            if !store::issues::STATUSES.contains(&new.status.as_str())
                || !store::issues::PRIORITIES.contains(&new.priority.as_str())
            {
                return Err(RpcError::new(
                    codes::INVALID_PARAMS,
                    "invalid status or priority",
                ));
            }
            let blockers = uuid_list(&params, "blockedByIssueIds")?;
            let mut tx = db.begin().await.map_err(from_db)?;
            let issue = store::issues::create(&mut tx, &actor, company, &new)
                .await
                .map_err(from_db)?;
            if !blockers.is_empty() {
                store::orchestration::set_blocked_by(&mut tx, &actor, &issue, &blockers)
                    .await
                    .map_err(from_db)?;
            }
            commit(tx).await?;
            Ok(json!(IssueView::of(issue)))
        }
        HostCall::IssuesUpdate => {
            let mut tx = db.begin().await.map_err(from_db)?;
            let issue = load_issue!(tx, params, scope, "issueId");
            let text = |k: &str| params.get(k).and_then(Value::as_str).map(str::to_string);
            let patch = store::issues::IssuePatch {
                title: text("title"),
                status: text("status"),
                priority: text("priority"),
                description: params
                    .get("description")
                    .map(|v| v.as_str().map(str::to_string)),
                ..Default::default()
            };
            let updated = store::issues::update(&mut tx, &actor, &issue, &patch)
                .await
                .map_err(from_db)?;
            commit(tx).await?;
            Ok(json!(IssueView::of(updated)))
        }
        HostCall::SetBlockedBy => {
            let mut tx = db.begin().await.map_err(from_db)?;
            let issue = load_issue!(tx, params, scope, "issueId");
            let blockers = uuid_list(&params, "blockedByIssueIds")?;
            store::orchestration::set_blocked_by(&mut tx, &actor, &issue, &blockers)
                .await
                .map_err(from_db)?;
            commit(tx).await?;
            Ok(json!({"issueId": issue.id, "blockedByIssueIds": blockers}))
        }
        HostCall::DocumentsUpsert => {
            let mut tx = db.begin().await.map_err(from_db)?;
            let issue = load_issue!(tx, params, scope, "issueId");
            let write = store::documents::Write {
                key: str_param(&params, "key")?,
                title: params.get("title").and_then(Value::as_str),
                format: params
                    .get("format")
                    .and_then(Value::as_str)
                    .unwrap_or("markdown"),
                body: str_param(&params, "body")?,
                base_revision_id: params
                    .get("baseRevisionId")
                    .and_then(Value::as_str)
                    .and_then(|s| Uuid::parse_str(s).ok()),
            };
            let doc = store::documents::upsert(&mut tx, &actor, &issue, &write)
                .await
                .map_err(from_db)?;
            commit(tx).await?;
            Ok(json!(doc))
        }
        HostCall::CreateComment => {
            let mut tx = db.begin().await.map_err(from_db)?;
            let issue = load_issue!(tx, params, scope, "issueId");
            let c = store::comments::create(&mut tx, &actor, &issue, str_param(&params, "body")?)
                .await
                .map_err(from_db)?;
            commit(tx).await?;
            Ok(json!(c))
        }
        HostCall::RequestWakeup => {
            let mut tx = db.begin().await.map_err(from_db)?;
            let issue = load_issue!(tx, params, scope, "issueId");
            let not_queued = |reason: &str| Ok(json!({"queued": false, "reason": reason}));
            if issue.status == "done" || issue.status == "cancelled" {
                return not_queued("issue is in a terminal status");
            }
            let Some(agent_id) = issue.assignee_agent_id else {
                return not_queued("issue has no assignee agent");
            };
            let agent = store::agents::get(&mut tx, agent_id)
                .await
                .map_err(from_db)?
                .ok_or_else(|| RpcError::new(codes::INVALID_PARAMS, "assignee not found"))?;
            let w = store::runs::Wake {
                source: paperclip_domain::WakeupSource::Automation,
                trigger: Some(paperclip_domain::WakeupTrigger::System),
                reason: Some(params.get("reason").and_then(Value::as_str).map_or_else(
                    || format!("plugin:{}", slot.plugin.plugin_key),
                    str::to_string,
                )),
                payload: Some(json!({"issueId": issue.id, "pluginKey": slot.plugin.plugin_key})),
                idempotency_key: params
                    .get("idempotencyKey")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                context: store::runs::WakeContext {
                    issue_id: Some(issue.id),
                    ..Default::default()
                },
            };
            // Admission (paused, terminated, budget, archived company, policy) is the engine's:
            // a refused wakeup is recorded as skipped and reported with its reason.
            let e = store::runs::enqueue(&mut tx, &actor, &agent, &w)
                .await
                .map_err(from_db)?;
            commit(tx).await?;
            Ok(match e.outcome {
                store::runs::Outcome::Skipped(r) => json!({"queued": false, "reason": r.message(),
                    "code": r.code(), "wakeupRequestId": e.wakeup.id}),
                store::runs::Outcome::Duplicate => {
                    json!({"queued": true, "wakeupRequestId": e.wakeup.id,
                    "deduplicated": true, "runId": e.wakeup.run_id})
                }
                _ => json!({"queued": true, "wakeupRequestId": e.wakeup.id, "deduplicated": false,
                    "runId": e.run().map(|r| r.id)}),
            })
        }
        HostCall::StateGet | HostCall::StateSet | HostCall::StateDelete => {
            let k = paperclip_store::plugins::StateKey {
                scope_kind: params
                    .get("scopeKind")
                    .and_then(Value::as_str)
                    .unwrap_or("instance")
                    .to_string(),
                scope_id: params
                    .get("scopeId")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                namespace: params
                    .get("namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("default")
                    .to_string(),
                key: str_param(&params, "stateKey")?.to_string(),
            };
            // Company-scoped state belongs to the invoking company.
            if k.scope_kind == "company" {
                let c = k
                    .scope_id
                    .as_deref()
                    .and_then(|c| Uuid::parse_str(c).ok())
                    .ok_or_else(|| {
                        RpcError::new(codes::INVALID_PARAMS, "scopeId must be a company id")
                    })?;
                in_scope(c)?;
            }
            let mut s = db.session().await.map_err(from_db)?;
            let out = match call {
                HostCall::StateGet => {
                    paperclip_store::plugins::state_get(&mut s, slot.plugin.id, &k)
                        .await
                        .map(|v| json!({"value": v}))
                }
                HostCall::StateSet => paperclip_store::plugins::state_set(
                    &mut s,
                    slot.plugin.id,
                    &k,
                    params.get("value").unwrap_or(&Value::Null),
                )
                .await
                .map(|()| json!({})),
                _ => paperclip_store::plugins::state_delete(&mut s, slot.plugin.id, &k)
                    .await
                    .map(|d| json!({"deleted": d})),
            }
            .map_err(from_db)?;
            s.close().await.map_err(from_db)?;
            Ok(out)
        }
        HostCall::DocumentsDelete => {
            let mut tx = db.begin().await.map_err(from_db)?;
            let issue = load_issue!(tx, params, scope, "issueId");
            let doc = store::documents::get(&mut tx, issue.id, str_param(&params, "key")?)
                .await
                .map_err(from_db)?;
            let deleted = match doc {
                Some(d) => {
                    store::documents::delete(&mut tx, &actor, &issue, &d)
                        .await
                        .map_err(from_db)?;
                    true
                }
                None => false,
            };
            commit(tx).await?;
            Ok(json!({"deleted": deleted}))
        }
        _ => Err(RpcError::new(
            codes::METHOD_NOT_FOUND,
            format!("unknown host method {}", call.method()),
        )),
    }
}
