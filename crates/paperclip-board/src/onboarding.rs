//! First run: create the company and its goal, hire the CEO with an adapter, check the
//! adapter's environment.

use maud::{html, Markup};
use paperclip_runs::adapters::{AdapterInfo, ConfigField};
use paperclip_store::{agents::Agent, goals::Goal};

use crate::layout::{api_form, company_href, page, Ctx};

/// `/onboarding`: the company form.
pub fn new_company(ctx: &Ctx<'_>) -> Markup {
    let first = ctx.companies.is_empty();
    page(
        ctx,
        if first {
            "Welcome to Paperclip"
        } else {
            "New company"
        },
        html! {
            @if first {
                p { "Paperclip runs a company of AI agents. Start with the company, its goal and its CEO." }
            }
            ol.steps {
                li { strong { "1. Company" } }
                li.muted { "2. Goal" }
                li.muted { "3. CEO" }
            }
            (api_form("POST", "/api/companies", "go:/c/{id}/onboarding", "stack", html! {
                label { "Company name" input name="name" required maxlength="200" autofocus; }
                label { "What it does (optional)" textarea name="description" maxlength="10000" {} }
                label { "Monthly budget in dollars (0: none)"
                    input name="budgetMonthlyCents" data-type="cents" inputmode="decimal" value="0"; }
                button type="submit" { "Create company" }
            }))
        },
    )
}

/// What the company's first-run page shows.
#[derive(Debug)]
pub struct Steps<'a> {
    pub goal: Option<&'a Goal>,
    pub ceo: Option<&'a Agent>,
    pub adapters: &'a [AdapterInfo],
    /// The adapter whose fields the hire form shows.
    pub adapter: &'a AdapterInfo,
}

/// `/c/:id/onboarding`: goal, CEO, environment check.
pub fn steps(ctx: &Ctx<'_>, s: &Steps<'_>) -> Markup {
    let c = ctx.company.expect("a company page");
    let api = |rest: &str| format!("/api/companies/{}/{rest}", c.id);
    page(
        ctx,
        "Set up your company",
        html! {
            ol.steps {
                li { span.done-mark { "✓ " } "1. Company " strong { (c.name) } " (issues are " code { (c.issue_prefix) "-1" } ", " code { (c.issue_prefix) "-2" } "…)" }
                li {
                    @if let Some(g) = s.goal {
                        span.done-mark { "✓ " } "2. Goal: " (g.title)
                    } @else {
                        strong { "2. The company's goal" }
                        (api_form("POST", &api("goals"), "reload", "stack", html! {
                            input type="hidden" name="level" value="company";
                            label { "Goal" input name="title" required maxlength="500" placeholder="Build the best note-taking app"; }
                            label { "Details (optional)" textarea name="description" {} }
                            button type="submit" { "Set the goal" }
                        }))
                    }
                }
                li {
                    @if let Some(a) = s.ceo {
                        span.done-mark { "✓ " } "3. CEO: " a href=(company_href(c.id, &format!("agents/{}", a.id))) { (a.name) }
                        " (" (a.adapter_type) ")"
                    } @else {
                        strong { "3. Hire the CEO" }
                        p { "Adapter: "
                            @for (i, ad) in s.adapters.iter().filter(|a| !a.disabled).enumerate() {
                                @if i > 0 { " · " }
                                @if ad.kind == s.adapter.kind { strong { (ad.label) } }
                                @else { a href=(format!("?adapter={}", ad.kind)) { (ad.label) } }
                            }
                        }
                        p.muted { (s.adapter.description) }
                        (api_form("POST", &api("agents"), "reload", "stack", html! {
                            input type="hidden" name="role" value="ceo";
                            input type="hidden" name="adapterType" value=(s.adapter.kind);
                            label { "Name" input name="name" required maxlength="200" value="CEO"; }
                            label { "Title (optional)" input name="title" maxlength="200" value="Chief Executive Officer"; }
                            @for f in &s.adapter.config_fields { (config_field(f)) }
                            label { "Monthly budget in dollars (0: none)"
                                input name="budgetMonthlyCents" data-type="cents" inputmode="decimal" value="0"; }
                            button type="submit" { "Hire" }
                        }))
                        h2 { "Check the environment" }
                        p.muted { "Runs the adapter's checks with the fields above (nothing is saved)." }
                        form.stack data-api=(api(&format!("adapters/{}/test-environment", s.adapter.kind)))
                             data-method="POST" data-show="*" {
                            @for f in &s.adapter.config_fields { (config_field(f)) }
                            button.secondary type="submit" { "Check environment" }
                            output.form-error role="alert" {}
                        }
                    }
                }
            }
            @if s.goal.is_some() && s.ceo.is_some() {
                p { a href=(company_href(c.id, "")) { "Go to the dashboard →" } }
            }
        },
    )
}

/// One `adapterConfig` field as a form control of its type.
pub fn config_field(f: &ConfigField) -> Markup {
    let name = format!("adapterConfig.{}", f.name);
    let label = format!("{} — {}", f.name, f.description);
    html! {
        label {
            (label) @if f.required { " (required)" }
            @match f.kind {
                "integer" => input name=(name) data-type="int" inputmode="numeric" required[f.required];,
                "boolean" => input name=(name) type="checkbox";,
                "string[]" => textarea name=(name) data-type="lines" placeholder="one per line" {},
                "object" => textarea name=(name) data-type="json" placeholder="{}" {},
                _ => input name=(name) required[f.required];,
            }
        }
    }
}

/// `/` with more than one company: pick one.
pub fn home(ctx: &Ctx<'_>) -> Markup {
    page(
        ctx,
        "Companies",
        html! {
            div.grid { @for c in ctx.companies {
                section.panel {
                    h2 { a href=(company_href(c.id, "")) { (c.name) } }
                    p.muted { (c.status) " · " code { (c.issue_prefix) } }
                    @if let Some(d) = &c.description { p { (d) } }
                }
            } }
            p { a href="/onboarding" { "New company…" } }
        },
    )
}
