//! Signing in and belonging: the sign-in page, the invite landing page (sign up with the link,
//! or accept it when signed in), and the members section of a company's settings (members and
//! their roles, invite links, join requests).

use maud::{html, Markup};
use paperclip_api_types::access::InviteSummary;
use paperclip_domain::MembershipRole;
use paperclip_store::users::members::{Invite, JoinRequest, Member};

use crate::layout::{action, api_form, badge, page, when, Ctx};

pub fn sign_in(ctx: &Ctx<'_>) -> Markup {
    page(
        ctx,
        "Sign in",
        html! {
            section.panel {
                (api_form("POST", "/api/auth/sign-in/email", "go:/", "stack", html! {
                    label { "Email" input type="email" name="email" autocomplete="username" required; }
                    label { "Password" input type="password" name="password" autocomplete="current-password" required; }
                    button type="submit" { "Sign in" }
                }))
                p.muted { "New here? Open the invite link an admin of your company sent you." }
            }
        },
    )
}

/// The invite page. `signed_in`: accept with the current account; else sign up with the link.
pub fn invite(ctx: &Ctx<'_>, inv: &InviteSummary, token: &str, signed_in: bool) -> Markup {
    let what = match (&inv.company_name, inv.invite_type.as_str()) {
        (_, "bootstrap_ceo") => "Become this Paperclip instance's first admin".to_string(),
        (Some(name), _) => format!("Join {name}"),
        (None, _) => "Join a company".to_string(),
    };
    let accept = format!("/api/invites/{token}/accept");
    page(
        ctx,
        &what,
        html! {
            section.panel {
                p { "Status " (badge(&inv.status)) " · expires " (when(inv.expires_at)) }
                @if let Some(role) = &inv.human_role { p { "Role: " (role) } }
                @if inv.status != "active" {
                    p.problem { "This invite cannot be used any more. Ask for a new link." }
                } @else if signed_in {
                    (api_form("POST", &accept, "go:/", "stack", html! {
                        input type="hidden" name="requestType" value="human";
                        button type="submit" { "Accept invite" }
                    }))
                } @else {
                    h2 { "Create your account" }
                    (api_form("POST", "/api/auth/sign-up/email", "go:/", "stack", html! {
                        input type="hidden" name="inviteToken" value=(token);
                        label { "Name" input type="text" name="name" autocomplete="name"; }
                        label { "Email" input type="email" name="email" autocomplete="username" required; }
                        label { "Password (10 characters or more)" input type="password" name="password" autocomplete="new-password" minlength="10" required; }
                        button type="submit" { "Sign up and accept" }
                    }))
                    p.muted { "Have an account? " a href="/sign-in" { "Sign in" } ", then open this link again." }
                }
            }
        },
    )
}

/// What the members section shows.
#[derive(Debug)]
pub struct Members<'a> {
    pub members: &'a [Member],
    pub invites: &'a [Invite],
    pub requests: &'a [JoinRequest],
    /// The caller may manage members (owner, admin, instance admin).
    pub manage: bool,
}

pub fn members(ctx: &Ctx<'_>, m: &Members<'_>) -> Markup {
    let c = ctx.company.expect("a company page");
    html! {
        section.panel id="members" data-live {
            h2 { "Members" }
            @if m.members.is_empty() { p.muted { "No members yet: on this machine the local board runs the company." } }
            div.table-wrap { table {
                thead { tr { th { "Name" } th { "Email" } th { "Role" } th { "Status" } @if m.manage { th { "Change" } } } }
                tbody { @for x in m.members { tr {
                    td { (x.name) } td { (x.email) } td { (x.membership_role) } td { (badge(&x.status)) }
                    @if m.manage { td {
                        (api_form("PATCH", &format!("/api/companies/{}/members/{}", c.id, x.id), "reload", "inline", html! {
                            select name="membershipRole" aria-label="Role" {
                                @for r in MembershipRole::NAMES { option value=(r) selected[*r == x.membership_role] { (r) } }
                            }
                            button type="submit" { "Set role" }
                        }))
                        @if x.status == "active" { (action("POST", &format!("/api/companies/{}/members/{}/archive", c.id, x.id), "Remove")) }
                    } }
                } } }
            } }
        }
        @if m.manage {
            section.panel id="join-requests" data-live {
                h2 { "Join requests" }
                @if m.requests.is_empty() { p.muted { "None." } }
                ul.feed { @for j in m.requests { li {
                    (j.name) " <" (j.email) "> as " (j.membership_role) " " (badge(&j.status)) " " (when(j.created_at))
                    @if j.status == "pending_approval" {
                        " " (action("POST", &format!("/api/companies/{}/join-requests/{}/approve", c.id, j.id), "Approve"))
                        " " (action("POST", &format!("/api/companies/{}/join-requests/{}/reject", c.id, j.id), "Reject"))
                    }
                } } }
            }
            section.panel id="invites" {
                h2 { "Invite someone" }
                form.stack data-api=(format!("/api/companies/{}/invites", c.id)) data-method="POST" data-then="none" data-show="inviteUrl" {
                    label { "Role" select name="humanRole" { @for r in MembershipRole::NAMES { option value=(r) selected[*r == "operator"] { (r) } } } }
                    label { "Expires in (hours)" input type="number" name="expiresInHours" value="72" min="1" max="720" data-type="int"; }
                    button type="submit" { "Create invite link" }
                    p.muted { "The link is shown once; send it to the person you invite." }
                    output.form-error role="alert" {}
                }
                ul.feed { @for i in m.invites { li {
                    (i.human_role.as_deref().unwrap_or("operator")) " " (badge(&i.status)) " created " (when(i.created_at)) " · expires " (when(i.expires_at))
                    @if i.status == "active" { " " (action("POST", &format!("/api/invites/{}/revoke", i.id), "Revoke")) }
                } } }
            }
        }
    }
}
