//! Goals, projects, the approvals inbox, costs and the activity feed.

use maud::{html, Markup};
use paperclip_domain::{GoalLevel, ProjectStatus};
use paperclip_store::activity::Activity;
use paperclip_store::approvals::Approval;
use paperclip_store::costs::{Spend, Totals};
use paperclip_store::goals::Goal;
use paperclip_store::projects::Project;

use crate::layout::{
    agent_link, api_form, badge, json_block, money, page, pager, spend, when, Ctx, Names,
};

/// A list of activity rows: who did what to which object, when.
pub fn activity_feed(ctx: &Ctx<'_>, items: &[Activity], names: &Names) -> Markup {
    html! {
        ul.feed {
            @for a in items { li {
                (when(a.created_at)) " · "
                @match (a.actor_type.as_str(), a.agent_id) {
                    ("agent", Some(id)) => (agent_link(ctx, names, id)),
                    ("agent", None) => "an agent",
                    ("system", _) => "system",
                    _ => "board",
                }
                " " code { (a.action) } " "
                (entity_link(ctx, names, a))
            } }
            @if items.is_empty() { li.muted { "Nothing yet." } }
        }
    }
}

/// Agents an activity row mentions: its actor and, for agent rows, its object.
pub fn activity_agents(a: &Activity) -> impl Iterator<Item = uuid::Uuid> + '_ {
    let object = (a.entity_type == "agent")
        .then(|| a.entity_id.parse().ok())
        .flatten();
    a.agent_id.into_iter().chain(object)
}

fn entity_link(ctx: &Ctx<'_>, names: &Names, a: &Activity) -> Markup {
    let named = match a.entity_type.as_str() {
        "agent" => a
            .entity_id
            .parse()
            .ok()
            .and_then(|id| names.get(&id).cloned()),
        "heartbeat_run" => Some(format!(
            "run {}",
            a.entity_id.get(..8).unwrap_or(&a.entity_id)
        )),
        _ => None,
    };
    let label = named.unwrap_or_else(|| {
        a.details
            .as_ref()
            .and_then(|d| {
                d.get("identifier")
                    .or_else(|| d.get("name"))
                    .or_else(|| d.get("title"))
            })
            .and_then(|v| v.as_str())
            .map_or_else(|| a.entity_type.clone(), str::to_string)
    });
    let path = match a.entity_type.as_str() {
        "issue" => Some(format!("issues/{}", a.entity_id)),
        "agent" => Some(format!("agents/{}", a.entity_id)),
        "heartbeat_run" | "run" => Some(format!("runs/{}", a.entity_id)),
        "approval" => Some("approvals".to_string()),
        "goal" => Some("goals".to_string()),
        "project" => Some("projects".to_string()),
        _ => None,
    };
    html! {
        @match path {
            Some(p) => a href=(ctx.href(&p)) { (label) },
            None => span { (label) },
        }
    }
}

pub fn activity(
    ctx: &Ctx<'_>,
    items: &[Activity],
    names: &Names,
    offset: i64,
    limit: i64,
    more: bool,
) -> Markup {
    page(
        ctx,
        "Activity",
        html! {
            div.panel id="activity" data-live { (activity_feed(ctx, items, names)) }
            (pager(&ctx.href("activity"), offset, limit, more))
        },
    )
}

pub fn goals(ctx: &Ctx<'_>, goals: &[Goal], names: &Names) -> Markup {
    let c = ctx.company.expect("a company page");
    page(
        ctx,
        "Goals",
        html! {
            div.table-wrap id="goals" data-live { table {
                thead { tr { th { "Goal" } th { "Level" } th { "Status" } th.hide-sm { "Owner" } th.hide-sm { "Parent" } } }
                tbody { @for g in goals { tr {
                    td { strong { (g.title) } @if let Some(d) = &g.description { br; span.muted { (d) } } }
                    td { (g.level) }
                    td { (badge(&g.status)) }
                    td.hide-sm { @if let Some(a) = g.owner_agent_id { (agent_link(ctx, names, a)) } }
                    td.hide-sm { @if let Some(p) = g.parent_id.and_then(|p| goals.iter().find(|x| x.id == p)) { (p.title) } }
                } } }
            } }
            h2 { "New goal" }
            (api_form("POST", &format!("/api/companies/{}/goals", c.id), "reload", "stack", html! {
                label { "Title" input name="title" required maxlength="500"; }
                label { "Description" textarea name="description" {} }
                label { "Level" select name="level" { @for l in GoalLevel::NAMES { option value=(l) { (l) } } } }
                label { "Parent" select name="parentId" { option value="" { "none" }
                    @for g in goals { option value=(g.id) { (g.title) } } } }
                button type="submit" { "Create goal" }
            }))
        },
    )
}

pub fn projects(ctx: &Ctx<'_>, projects: &[Project], goals: &[Goal], names: &Names) -> Markup {
    let c = ctx.company.expect("a company page");
    page(
        ctx,
        "Projects",
        html! {
            div.table-wrap id="projects" data-live { table {
                thead { tr { th { "Project" } th { "Status" } th.hide-sm { "Lead" } th.hide-sm { "Goal" } th.hide-sm { "Target" } } }
                tbody { @for p in projects { tr {
                    td { a href=(ctx.href(&format!("issues?project={}", p.id))) { (p.name) }
                        @if let Some(d) = &p.description { br; span.muted { (d) } } }
                    td { (badge(&p.status)) }
                    td.hide-sm { @if let Some(a) = p.lead_agent_id { (agent_link(ctx, names, a)) } }
                    td.hide-sm { @if let Some(g) = p.goal_id.and_then(|g| goals.iter().find(|x| x.id == g)) { (g.title) } }
                    td.hide-sm { @if let Some(t) = p.target_date { (t.to_string()) } }
                } } }
            } }
            h2 { "New project" }
            (api_form("POST", &format!("/api/companies/{}/projects", c.id), "reload", "stack", html! {
                label { "Name" input name="name" required maxlength="200"; }
                label { "Description" textarea name="description" {} }
                label { "Status" select name="status" { @for s in ProjectStatus::NAMES { option value=(s) { (s) } } } }
                label { "Goal" select name="goalId" { option value="" { "none" }
                    @for g in goals { option value=(g.id) { (g.title) } } } }
                button type="submit" { "Create project" }
            }))
        },
    )
}

/// The approvals inbox: pending first, each with approve / reject / request revision and a note.
pub fn approvals(
    ctx: &Ctx<'_>,
    pending: &[Approval],
    decided: &[Approval],
    names: &Names,
) -> Markup {
    let decide = |a: &Approval, verb: &str, label: &str, class: &str| {
        html! {
            form.row data-api=(format!("/api/approvals/{}/{verb}", a.id)) data-method="POST" data-then="reload" {
                input name="decisionNote" placeholder="Note (optional)" aria-label=(format!("{label} note")) maxlength="10000";
                button class=(class) type="submit" { (label) }
                output.form-error role="alert" {}
            }
        }
    };
    page(
        ctx,
        "Approvals",
        html! {
            div id="approvals" data-live {
                @if pending.is_empty() { p.muted { "Nothing waits for you." } }
                @for a in pending {
                    section.panel {
                        h2 { (a.kind.replace('_', " ")) " " (badge(&a.status)) }
                        p.muted { "Requested "
                            @if let Some(r) = a.requested_by_agent_id { "by " (agent_link(ctx, names, r)) " " }
                            (when(a.created_at)) }
                        (json_block(&a.payload))
                        (decide(a, "approve", "Approve", ""))
                        (decide(a, "reject", "Reject", "danger"))
                        (decide(a, "request-revision", "Request revision", "secondary"))
                    }
                }
                h2 { "Decided" }
                ul.feed { @for a in decided { li {
                    (a.kind) " " (badge(&a.status))
                    @if let Some(t) = a.decided_at { " · " (when(t)) }
                    @if let Some(n) = &a.decision_note { " · " (n) }
                } } }
            }
        },
    )
}

pub fn costs(ctx: &Ctx<'_>, totals: &Totals, by_agent: &[Spend], by_project: &[Spend]) -> Markup {
    let c = ctx.company.expect("a company page");
    let rows = |items: &[Spend], what: &str| {
        html! {
            div.table-wrap { table {
                thead { tr { th { (what) } th { "Spend" } th.hide-sm { "Input tokens" } th.hide-sm { "Output tokens" } } }
                tbody { @for s in items { tr {
                    td { @match (what, s.id) {
                        ("Agent", Some(id)) => a href=(ctx.href(&format!("agents/{id}"))) { (s.name.as_deref().unwrap_or("?")) },
                        _ => (s.name.as_deref().unwrap_or("none")),
                    } }
                    td { (money(s.cost_cents)) }
                    td.hide-sm { (s.input_tokens) }
                    td.hide-sm { (s.output_tokens) }
                } } }
            } }
        }
    };
    page(
        ctx,
        "Costs",
        html! {
            div.grid id="cost-totals" data-live {
                section.panel { h2 { "This month" } div.stat { (money(totals.spent_cents)) }
                    p.muted { (totals.event_count) " cost events · " (totals.input_tokens) " in / " (totals.output_tokens) " out tokens" } }
                section.panel { h2 { "Company budget" } p { (spend(c.spent_monthly_cents, c.budget_monthly_cents)) }
                    (api_form("PATCH", &format!("/api/companies/{}", c.id), "reload", "row", html! {
                        label { "Monthly budget in dollars (0: none)"
                            input name="budgetMonthlyCents" data-type="cents" inputmode="decimal"
                                  value=(format!("{:.2}", c.budget_monthly_cents as f64 / 100.0)); }
                        button type="submit" { "Save" }
                    })) }
            }
            h2 { "By agent" } (rows(by_agent, "Agent"))
            h2 { "By project" } (rows(by_project, "Project"))
        },
    )
}
