//! Agents: the list, one agent (configuration, heartbeat policy, budget, keys, controls, runs),
//! the org chart and one run with its live log.

use std::collections::HashMap;

use maud::{html, Markup};
use paperclip_store::agents::{Agent, ApiKey, OrgMember};
use paperclip_store::runs::Run;
use uuid::Uuid;

use crate::layout::{
    action, agent_link, api_form, badge, json_block, page, pager, short, spend, when, Ctx, Names,
};

#[derive(Debug)]
pub struct AgentList<'a> {
    pub agents: &'a [Agent],
    pub status: Option<&'a str>,
    pub offset: i64,
    pub limit: i64,
    pub more: bool,
    pub total: i64,
    pub names: &'a Names,
}

pub fn list(ctx: &Ctx<'_>, l: &AgentList<'_>) -> Markup {
    let base = match l.status {
        Some(s) => ctx.href(&format!("agents?status={s}")),
        None => ctx.href("agents"),
    };
    page(
        ctx,
        "Agents",
        html! {
            form.filters method="get" {
                label { "Status"
                    select name="status" {
                        option value="" { "any" }
                        @for s in paperclip_domain::AgentStatus::NAMES { option value=(s) selected[l.status == Some(*s)] { (s) } }
                    }
                }
                button.secondary type="submit" { "Filter" }
                span.muted { (l.total) " agents" }
                a href=(ctx.href("onboarding")) { "Hire…" }
            }
            div.table-wrap id="agent-list" data-live {
                table {
                    thead { tr { th { "Name" } th { "Role" } th { "Status" } th.hide-sm { "Adapter" }
                        th.hide-sm { "Reports to" } th { "Spend" } th.hide-sm { "Last heartbeat" } } }
                    tbody {
                        @for a in l.agents { tr {
                            td { a href=(ctx.href(&format!("agents/{}", a.id))) { (a.name) } }
                            td { (a.role) @if let Some(t) = &a.title { br; span.muted { (t) } } }
                            td { (badge(&a.status)) }
                            td.hide-sm { (a.adapter_type) }
                            td.hide-sm { @if let Some(m) = a.reports_to { (agent_link(ctx, l.names, m)) } }
                            td { (spend(a.spent_monthly_cents, a.budget_monthly_cents)) }
                            td.hide-sm { @if let Some(t) = a.last_heartbeat_at { (when(t)) } @else { span.muted { "never" } } }
                        } }
                    }
                }
            }
            (pager(&base, l.offset, l.limit, l.more))
        },
    )
}

#[derive(Debug)]
pub struct AgentDetail<'a> {
    pub agent: &'a Agent,
    pub keys: &'a [ApiKey],
    pub runs: &'a [Run],
    pub names: &'a Names,
}

pub fn detail(ctx: &Ctx<'_>, d: &AgentDetail<'_>) -> Markup {
    let a = d.agent;
    let api = format!("/api/agents/{}", a.id);
    page(
        ctx,
        &a.name,
        html! {
            section.panel id="agent-head" data-live {
                dl.kv {
                    dt { "Status" } dd { (badge(&a.status))
                        @if let Some(r) = &a.pause_reason { " " span.muted { (r) } }
                        @if let Some(r) = &a.error_reason { " " span.problem { (r) } } }
                    dt { "Role" } dd { (a.role) @if let Some(t) = &a.title { " · " (t) } }
                    dt { "Reports to" } dd { @if let Some(m) = a.reports_to { (agent_link(ctx, d.names, m)) } @else { "the board" } }
                    dt { "Adapter" } dd { code { (a.adapter_type) } }
                    dt { "Budget" } dd { (spend(a.spent_monthly_cents, a.budget_monthly_cents)) }
                    dt { "Last heartbeat" } dd { @if let Some(t) = a.last_heartbeat_at { (when(t)) } @else { "never" } }
                }
            }
            @if a.status != "terminated" {
                p {
                    (api_form("POST", &format!("{api}/wakeup"), "reload", "inline", html! {
                        input type="hidden" name="source" value="on_demand";
                        input type="hidden" name="reason" value="Woken from the board";
                        button type="submit" { "Wake now" }
                    }))
                    @if a.status == "paused" { (action("POST", &format!("{api}/resume"), "Resume")) }
                    @else { (action("POST", &format!("{api}/pause"), "Pause")) }
                    form.inline data-api=(format!("{api}/terminate")) data-method="POST"
                         data-confirm=(format!("Terminate {}? It will never run again.", a.name)) {
                        button.danger type="submit" { "Terminate" }
                        output.form-error role="alert" {}
                    }
                }
            }
            h2 { "Runs" }
            div.table-wrap id="agent-runs" data-live {
                table {
                    thead { tr { th { "Run" } th { "Status" } th { "Source" } th.hide-sm { "Started" } th.hide-sm { "Finished" } } }
                    tbody { @for r in d.runs { tr {
                        td { a href=(ctx.href(&format!("runs/{}", r.id))) { (short(r.id)) } }
                        td { (badge(&r.status)) @if let Some(e) = &r.error_code { " " span.muted { (e) } } }
                        td { (r.invocation_source) }
                        td.hide-sm { @if let Some(t) = r.started_at { (when(t)) } }
                        td.hide-sm { @if let Some(t) = r.finished_at { (when(t)) } }
                    } } }
                }
                @if d.runs.is_empty() { p.muted { "No runs yet." } }
            }
            div.grid {
                section.panel {
                    h2 { "Budget" }
                    (api_form("PATCH", &api, "reload", "row", html! {
                        label { "Monthly budget in dollars (0: none)"
                            input name="budgetMonthlyCents" data-type="cents" inputmode="decimal"
                                  value=(format!("{:.2}", a.budget_monthly_cents as f64 / 100.0)); }
                        button type="submit" { "Save" }
                    }))
                }
                section.panel {
                    h2 { "API keys" }
                    ul.feed { @for k in d.keys { li {
                        strong { (k.name) } " · created " (when(k.created_at))
                        @if let Some(t) = k.last_used_at { " · used " (when(t)) }
                        @if k.revoked_at.is_some() { " " (badge("revoked")) }
                        @else { " " (action("DELETE", &format!("{api}/keys/{}", k.id), "Revoke")) }
                    } } }
                    form.row data-api=(format!("{api}/keys")) data-method="POST" data-show="key"
                         data-show-label="Copy it now, it is shown once: " {
                        label { "New key name" input name="name" required maxlength="200"; }
                        button type="submit" { "Create key" }
                        output.form-error role="alert" {}
                    }
                }
            }
            h2 { "Heartbeat policy" }
            p.muted { "runtimeConfig: when and how the agent is woken (" code { "heartbeat.enabled" } ", "
                code { "heartbeat.intervalSec" } ", " code { "heartbeat.wakeOnDemand" } "…)." }
            (api_form("PATCH", &api, "reload", "stack", html! {
                textarea name="runtimeConfig" data-type="json" aria-label="runtimeConfig" {
                    (serde_json::to_string_pretty(&a.runtime_config).unwrap_or_default())
                }
                button type="submit" { "Save policy" }
            }))
            h2 { "Adapter configuration" }
            (api_form("PATCH", &api, "reload", "stack", html! {
                textarea name="adapterConfig" data-type="json" aria-label="adapterConfig" {
                    (serde_json::to_string_pretty(&a.adapter_config).unwrap_or_default())
                }
                button type="submit" { "Save configuration" }
            }))
            h2 { "Permissions" }
            (json_block(&a.permissions))
        },
    )
}

/// The org chart: everyone not terminated, under their manager.
pub fn org(ctx: &Ctx<'_>, members: &[OrgMember]) -> Markup {
    let ids: std::collections::HashSet<Uuid> = members.iter().map(|m| m.id).collect();
    let mut children: HashMap<Option<Uuid>, Vec<&OrgMember>> = HashMap::new();
    for m in members {
        // A manager that is gone (terminated) puts its reports at the top.
        let parent = m.reports_to.filter(|p| ids.contains(p));
        children.entry(parent).or_default().push(m);
    }
    fn level(
        ctx: &Ctx<'_>,
        children: &HashMap<Option<Uuid>, Vec<&OrgMember>>,
        at: Option<Uuid>,
        depth: usize,
    ) -> Markup {
        html! {
            @if let Some(list) = children.get(&at) {
                ul { @for m in list { li {
                    span.node {
                        a href=(ctx.href(&format!("agents/{}", m.id))) { (m.name) }
                        span.muted { (m.title.as_deref().unwrap_or(&m.role)) }
                        (badge(&m.status))
                    }
                    // Reporting cycles cannot be stored, but a bound keeps a bad row harmless.
                    @if depth < 64 { (level(ctx, children, Some(m.id), depth + 1)) }
                } } }
            }
        }
    }
    page(
        ctx,
        "Org chart",
        html! {
            @if members.is_empty() { p { "No agents yet. " a href=(ctx.href("onboarding")) { "Hire the CEO" } } }
            div.org id="org" data-live { (level(ctx, &children, None, 0)) }
        },
    )
}

/// One run: what woke it, how it ended, and its log (followed live while it runs).
pub fn run(ctx: &Ctx<'_>, r: &Run, names: &Names, log: &str, log_offset: u64) -> Markup {
    let live = matches!(r.status.as_str(), "queued" | "running");
    page(
        ctx,
        &format!("Run {}", short(r.id)),
        html! {
            section.panel id="run-head" data-live {
                dl.kv {
                    dt { "Agent" } dd { (agent_link(ctx, names, r.agent_id)) }
                    dt { "Status" } dd { (badge(&r.status))
                        @if let Some(e) = &r.error_code { " " code { (e) } }
                        @if let Some(e) = &r.error { " " span.problem { (e) } } }
                    dt { "Woken by" } dd { (r.invocation_source) @if let Some(t) = &r.trigger_detail { " · " (t) } }
                    dt { "Created" } dd { (when(r.created_at)) }
                    dt { "Started" } dd { @if let Some(t) = r.started_at { (when(t)) } }
                    dt { "Finished" } dd { @if let Some(t) = r.finished_at { (when(t)) } }
                    dt { "Exit" } dd { @if let Some(c) = r.exit_code { (c) } @if let Some(s) = &r.signal { " " (s) } }
                    @if let Some(u) = &r.usage_json { dt { "Usage" } dd { code { (u.to_string()) } } }
                }
                @if live { (action("POST", &format!("/api/heartbeat-runs/{}/cancel", r.id), "Cancel run")) }
            }
            h2 { "Log" }
            pre id="run-log" data-run-log=(r.id) data-offset=(log_offset) data-follow=[live.then_some("1")]
                aria-live="off" tabindex="0" { (log) }
        },
    )
}
