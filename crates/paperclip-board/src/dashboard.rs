//! The company's dashboard: agents by status, live runs, open work, spend, approvals, activity.

use maud::{html, Markup};
use paperclip_store::{activity::Activity, approvals::Approval, runs::Run};

use crate::layout::{agent_link, badge, page, spend, when, Ctx, Names};
use crate::work::activity_feed;

#[derive(Debug)]
pub struct Dashboard<'a> {
    pub agents_by_status: &'a [(String, i64)],
    pub issues_by_status: &'a [(String, i64)],
    pub live_runs: &'a [Run],
    pub pending: &'a [Approval],
    pub pending_count: i64,
    pub activity: &'a [Activity],
    pub names: &'a Names,
}

pub fn render(ctx: &Ctx<'_>, d: &Dashboard<'_>) -> Markup {
    let c = ctx.company.expect("a company page");
    let total = |rows: &[(String, i64)]| rows.iter().map(|r| r.1).sum::<i64>();
    let open: i64 = d
        .issues_by_status
        .iter()
        .filter(|(s, _)| !matches!(s.as_str(), "done" | "cancelled"))
        .map(|r| r.1)
        .sum();
    page(
        ctx,
        "Dashboard",
        html! {
            div.grid id="dash-stats" data-live {
                section.panel {
                    h2 { "Agents" }
                    div.stat { (total(d.agents_by_status)) }
                    ul.feed { @for (s, n) in d.agents_by_status { li { (badge(s)) " " (n) } } }
                    a href=(ctx.href("agents")) { "All agents →" }
                }
                section.panel {
                    h2 { "Open work" }
                    div.stat { (open) }
                    ul.feed { @for (s, n) in d.issues_by_status { li {
                        a href=(ctx.href(&format!("issues?status={s}"))) { (badge(s)) } " " (n)
                    } } }
                    a href=(ctx.href("issues?view=board")) { "Board →" }
                }
                section.panel {
                    h2 { "Spend this month" }
                    p { (spend(c.spent_monthly_cents, c.budget_monthly_cents)) }
                    a href=(ctx.href("costs")) { "Costs →" }
                }
                section.panel {
                    h2 { "Pending approvals" }
                    div.stat { (d.pending_count) }
                    ul.feed { @for a in d.pending { li { (a.kind) " · " (when(a.created_at)) } } }
                    a href=(ctx.href("approvals")) { "Approvals →" }
                }
            }
            div.grid {
                section.panel id="dash-runs" data-live {
                    h2 { "Live runs" }
                    @if d.live_runs.is_empty() { p.muted { "No agent is running." } }
                    ul.feed { @for r in d.live_runs { li {
                        (badge(&r.status)) " " (agent_link(ctx, d.names, r.agent_id)) " · "
                        a href=(ctx.href(&format!("runs/{}", r.id))) { "run " (crate::layout::short(r.id)) }
                        " · " (r.invocation_source)
                    } } }
                }
                section.panel id="dash-activity" data-live {
                    h2 { "Recent activity" }
                    (activity_feed(ctx, d.activity, d.names))
                    a href=(ctx.href("activity")) { "All activity →" }
                }
            }
        },
    )
}
