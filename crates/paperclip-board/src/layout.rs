//! The frame every page shares (head, navigation, company switcher) and small pieces used by
//! many pages: status badges, times, money, pagers.

use chrono::{DateTime, Utc};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use paperclip_store::companies::Company;
use uuid::Uuid;

use crate::assets;

/// Which navigation entry a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Home,
    Dashboard,
    Org,
    Agents,
    Issues,
    Goals,
    Projects,
    Approvals,
    Costs,
    Activity,
    Settings,
}

/// What the frame needs to know about the request.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// The signed-in account's email (authenticated mode); None for the local board.
    pub account: Option<String>,
    /// Companies for the switcher.
    pub companies: &'a [Company],
    /// The company the page is about, if any.
    pub company: Option<&'a Company>,
    pub nav: Nav,
    /// The live-event cursor of "now" when the page was read: the page's socket resumes from
    /// here, so nothing committed after the read is missed.
    pub cursor: Option<String>,
    /// Pending approvals (a badge in the navigation).
    pub pending_approvals: i64,
}

impl Ctx<'_> {
    /// `/c/<company>/<rest>`.
    pub fn href(&self, rest: &str) -> String {
        match self.company {
            Some(c) => company_href(c.id, rest),
            None => "/".into(),
        }
    }
}

pub fn company_href(company: Uuid, rest: &str) -> String {
    if rest.is_empty() {
        format!("/c/{company}")
    } else {
        format!("/c/{company}/{rest}")
    }
}

const NAV: &[(Nav, &str, &str)] = &[
    (Nav::Dashboard, "", "Dashboard"),
    (Nav::Org, "org", "Org chart"),
    (Nav::Agents, "agents", "Agents"),
    (Nav::Issues, "issues", "Issues"),
    (Nav::Goals, "goals", "Goals"),
    (Nav::Projects, "projects", "Projects"),
    (Nav::Approvals, "approvals", "Approvals"),
    (Nav::Costs, "costs", "Costs"),
    (Nav::Activity, "activity", "Activity"),
    (Nav::Settings, "settings", "Settings"),
];

/// A whole page.
pub fn page(ctx: &Ctx<'_>, title: &str, content: Markup) -> Markup {
    let full_title = match ctx.company {
        Some(c) => format!("{title} · {} · Paperclip", c.name),
        None => format!("{title} · Paperclip"),
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (full_title) }
                link rel="stylesheet" href=(assets::CSS_PATH);
                script src=(assets::JS_PATH) defer {}
            }
            body data-company-id=[ctx.company.map(|c| c.id.to_string())]
                 data-cursor=[ctx.cursor.as_deref()] {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/" { "Paperclip" }
                    @if let Some(c) = ctx.company {
                        nav.main aria-label="Company" {
                            @for (nav, rest, label) in NAV {
                                a href=(company_href(c.id, rest))
                                  aria-current=[(*nav == ctx.nav).then_some("page")] {
                                    (label)
                                    @if *nav == Nav::Approvals && ctx.pending_approvals > 0 {
                                        " " span.count { (ctx.pending_approvals) }
                                    }
                                }
                            }
                        }
                    }
                    @if ctx.companies.len() > 1 || ctx.company.is_none() {
                        details.switcher {
                            summary { "Companies" }
                            ul {
                                @for c in ctx.companies {
                                    li { a href=(company_href(c.id, "")) { (c.name) } }
                                }
                                li { a href="/onboarding" { "New company…" } }
                            }
                        }
                    }
                    span.live-state id="live-state" aria-live="polite" {}
                    @if let Some(email) = &ctx.account {
                        (api_form("POST", "/api/auth/sign-out", "go:/sign-in", "inline account", html! {
                            span.muted { (email) } " "
                            button type="submit" { "Sign out" }
                        }))
                    }
                }
                main id="main" tabindex="-1" {
                    h1 { (title) }
                    (content)
                }
            }
        }
    }
}

/// A page for a failure the user can act on (404, 400, …).
pub fn problem(ctx: &Ctx<'_>, title: &str, message: &str) -> Markup {
    page(
        ctx,
        title,
        html! { p.problem role="alert" { (message) } p { a href="/" { "Back to the board" } } },
    )
}

/// A status as a coloured label (the colour comes from the class, the word stays readable).
pub fn badge(status: &str) -> Markup {
    let class = format!(
        "badge s-{}",
        status.replace(|c: char| !c.is_ascii_alphanumeric(), "-")
    );
    html! { span class=(class) { (status.replace('_', " ")) } }
}

/// `2026-12-02 15:04 UTC` inside a `<time>` whose title is the exact instant.
pub fn when(t: DateTime<Utc>) -> Markup {
    html! { time datetime=(t.to_rfc3339()) title=(t.to_rfc3339()) { (t.format("%Y-%m-%d %H:%M UTC")) } }
}

/// Cents as dollars: `$12.34`.
pub fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let c = cents.unsigned_abs();
    format!("{sign}${}.{:02}", c / 100, c % 100)
}

/// Spend against a budget, as text and a meter (no budget: spend only).
pub fn spend(spent: i64, budget: i64) -> Markup {
    html! {
        @if budget > 0 {
            span { (money(spent)) " of " (money(budget)) }
            " "
            meter min="0" max=(budget) value=(spent.min(budget)) high=(budget * 8 / 10) optimum="0" {}
        } @else {
            span { (money(spent)) " (no budget)" }
        }
    }
}

/// Previous/next links for a list read `limit` rows at a time from `offset`; `more` says a
/// next page exists. `base` is the page's URL with its other query parameters.
pub fn pager(base: &str, offset: i64, limit: i64, more: bool) -> Markup {
    let sep = if base.contains('?') { '&' } else { '?' };
    html! {
        nav.pager aria-label="Pages" {
            @if offset > 0 {
                a rel="prev" href=(format!("{base}{sep}offset={}", (offset - limit).max(0))) { "← Newer" }
            }
            span { "Rows " (offset + 1) "–" (offset + limit) }
            @if more {
                a rel="next" href=(format!("{base}{sep}offset={}", offset + limit)) { "Older →" }
            }
        }
    }
}

/// A form that the board's script sends to the JSON API: `method path`, then what to do with
/// the answer (`reload`, or `go:<url>` where `{id}` is the created object's id).
pub fn api_form(method: &str, path: &str, then: &str, class: &str, fields: Markup) -> Markup {
    html! {
        form class=(class) data-api=(path) data-method=(method) data-then=(then) {
            (fields)
            output.form-error role="alert" {}
        }
    }
}

/// A one-button form (pause, approve, back up now…).
pub fn action(method: &str, path: &str, label: &str) -> Markup {
    api_form(
        method,
        path,
        "reload",
        "inline",
        html! { button type="submit" { (label) } },
    )
}

/// Pretty JSON in a `<pre>` (escaped like every other value).
pub fn json_block(v: &serde_json::Value) -> Markup {
    let text = serde_json::to_string_pretty(v).unwrap_or_default();
    html! { pre.json { (text) } }
}

/// A literal piece of markup we built ourselves (sanitized markdown).
pub fn trusted(html: String) -> Markup {
    PreEscaped(html)
}

/// Short id for display.
pub fn short(id: Uuid) -> String {
    id.to_string()[..8].to_string()
}

/// Display names of the agents a page mentions (read in one query by the handler).
pub type Names = std::collections::HashMap<Uuid, String>;

/// An agent's name, or its short id when it is not among `names` (deleted).
pub fn agent_name(names: &Names, id: Uuid) -> String {
    names.get(&id).cloned().unwrap_or_else(|| short(id))
}

/// A link to an agent's page.
pub fn agent_link(ctx: &Ctx<'_>, names: &Names, id: Uuid) -> Markup {
    html! { a href=(ctx.href(&format!("agents/{id}"))) { (agent_name(names, id)) } }
}
