//! The company-wide pages: home, first run, dashboard, org chart, activity, goals, projects,
//! approvals, costs and settings.

use axum::extract::State;
use paperclip_board as board;
use paperclip_board::Nav;
use paperclip_store as store;

use super::{
    frame, html, names, offset_param, redirect, CompanyPage, PageError, PageResult, Params, PAGE,
};
use crate::auth::Auth;
use crate::{ApiError, AppState};

pub async fn home(State(s): State<AppState>, auth: Result<Auth, ApiError>) -> PageResult {
    // Not signed in: the sign-in page (PageError redirects a 401).
    let Auth(actor) = auth?;
    let mut conn = s.db.session().await?;
    let f = frame(&mut conn, &actor, None).await?;
    conn.close().await?;
    match f.companies.as_slice() {
        // A new member whose join request waits: nothing to open, nothing to create.
        [] if !actor.is_instance_admin() => html(board::layout::problem(
            &f.ctx(Nav::Home),
            "No company yet",
            "You are signed in, but no company has let you in yet: an owner or admin approves your join request under Settings.",
        )),
        [] => redirect("/onboarding"),
        [only] => redirect(&format!("/c/{}", only.id)),
        _ => html(board::onboarding::home(&f.ctx(Nav::Home))),
    }
}

pub async fn onboarding(State(s): State<AppState>, auth: Result<Auth, ApiError>) -> PageResult {
    let Auth(actor) = auth?;
    let mut conn = s.db.session().await?;
    let f = frame(&mut conn, &actor, None).await?;
    conn.close().await?;
    html(board::onboarding::new_company(&f.ctx(Nav::Home)))
}

pub async fn company_onboarding(
    State(s): State<AppState>,
    CompanyPage {
        mut conn, frame: f, ..
    }: CompanyPage,
    q: Params,
) -> PageResult {
    let adapters = s.runs.adapters().list();
    let kind = super::param(&q, "adapter").unwrap_or("process");
    let adapter = adapters
        .iter()
        .find(|a| a.kind == kind && !a.disabled)
        .ok_or_else(|| {
            PageError(ApiError::BadRequest {
                message: format!("adapter {kind:?} is not an available adapter"),
                details: None,
            })
        })?;
    let c = f.company();
    let goals = store::goals::list(&mut conn, c.id).await?;
    // The CEO step is done once someone holds the role (not merely once any agent exists).
    let ceo_id = store::agents::org_members(&mut conn, c.id)
        .await?
        .into_iter()
        .find(|m| m.role == "ceo")
        .map(|m| m.id);
    let ceo = match ceo_id {
        Some(id) => store::agents::get(&mut conn, id).await?,
        None => None,
    };
    conn.close().await?;
    let goal = goals
        .iter()
        .find(|g| g.level == "company")
        .or(goals.first());
    html(board::onboarding::steps(
        &f.ctx(Nav::Dashboard),
        &board::onboarding::Steps {
            goal,
            ceo: ceo.as_ref(),
            adapters: &adapters,
            adapter,
        },
    ))
}

pub async fn dashboard(
    CompanyPage {
        mut conn, frame: f, ..
    }: CompanyPage,
) -> PageResult {
    let c = f.company();
    let d = store::companies::dashboard(&mut conn, c).await?;
    let live_runs = store::runs::list(
        &mut conn,
        c.id,
        &store::runs::Filter {
            statuses: vec!["queued".into(), "running".into()],
            limit: 20,
            ..Default::default()
        },
    )
    .await?;
    let mut pending = store::approvals::list(&mut conn, c.id, Some("pending")).await?;
    pending.truncate(5);
    let names = names(
        &mut conn,
        c.id,
        live_runs
            .iter()
            .map(|r| r.agent_id)
            .chain(
                d.recent_activity
                    .iter()
                    .flat_map(board::work::activity_agents),
            )
            .collect::<Vec<_>>(),
    )
    .await?;
    conn.close().await?;
    if d.agents_by_status.is_empty() && d.issues_by_status.is_empty() {
        // A company with nobody in it yet: finish the first run.
        return redirect(&format!("/c/{}/onboarding", c.id));
    }
    html(board::dashboard::render(
        &f.ctx(Nav::Dashboard),
        &board::dashboard::Dashboard {
            agents_by_status: &d.agents_by_status,
            issues_by_status: &d.issues_by_status,
            live_runs: &live_runs,
            pending: &pending,
            pending_count: d.pending_approvals,
            activity: &d.recent_activity,
            names: &names,
        },
    ))
}

pub async fn org(
    CompanyPage {
        mut conn, frame: f, ..
    }: CompanyPage,
) -> PageResult {
    let members = store::agents::org_members(&mut conn, f.company().id).await?;
    conn.close().await?;
    html(board::agents::org(&f.ctx(Nav::Org), &members))
}

pub async fn activity(
    CompanyPage {
        mut conn, frame: f, ..
    }: CompanyPage,
    q: Params,
) -> PageResult {
    let offset = offset_param(&q)?;
    let c = f.company();
    let mut items = store::activity::list(
        &mut conn,
        c.id,
        &store::activity::Filter {
            limit: PAGE + 1,
            offset,
            ..Default::default()
        },
    )
    .await?;
    let more = items.len() as i64 > PAGE;
    items.truncate(PAGE as usize);
    let mentioned: Vec<_> = items
        .iter()
        .flat_map(board::work::activity_agents)
        .collect();
    let names = names(&mut conn, c.id, mentioned).await?;
    conn.close().await?;
    html(board::work::activity(
        &f.ctx(Nav::Activity),
        &items,
        &names,
        offset,
        PAGE,
        more,
    ))
}

pub async fn goals(
    CompanyPage {
        mut conn, frame: f, ..
    }: CompanyPage,
) -> PageResult {
    let c = f.company();
    let goals = store::goals::list(&mut conn, c.id).await?;
    let names = names(
        &mut conn,
        c.id,
        goals.iter().filter_map(|g| g.owner_agent_id),
    )
    .await?;
    conn.close().await?;
    html(board::work::goals(&f.ctx(Nav::Goals), &goals, &names))
}

pub async fn projects(
    CompanyPage {
        mut conn, frame: f, ..
    }: CompanyPage,
) -> PageResult {
    let c = f.company();
    let projects = store::projects::list(&mut conn, c.id).await?;
    let goals = store::goals::list(&mut conn, c.id).await?;
    let names = names(
        &mut conn,
        c.id,
        projects.iter().filter_map(|p| p.lead_agent_id),
    )
    .await?;
    conn.close().await?;
    html(board::work::projects(
        &f.ctx(Nav::Projects),
        &projects,
        &goals,
        &names,
    ))
}

pub async fn approvals(
    CompanyPage {
        mut conn, frame: f, ..
    }: CompanyPage,
) -> PageResult {
    let c = f.company();
    let all = store::approvals::list(&mut conn, c.id, None).await?;
    let (pending, mut decided): (Vec<_>, Vec<_>) =
        all.into_iter().partition(|a| a.status == "pending");
    decided.truncate(PAGE as usize);
    let names = names(
        &mut conn,
        c.id,
        pending
            .iter()
            .chain(&decided)
            .filter_map(|a| a.requested_by_agent_id),
    )
    .await?;
    conn.close().await?;
    html(board::work::approvals(
        &f.ctx(Nav::Approvals),
        &pending,
        &decided,
        &names,
    ))
}

pub async fn costs(
    CompanyPage {
        mut conn, frame: f, ..
    }: CompanyPage,
) -> PageResult {
    let c = f.company();
    let totals = store::costs::totals(&mut conn, c.id).await?;
    let by_agent = store::costs::by(&mut conn, c.id, false).await?;
    let by_project = store::costs::by(&mut conn, c.id, true).await?;
    conn.close().await?;
    html(board::work::costs(
        &f.ctx(Nav::Costs),
        &totals,
        &by_agent,
        &by_project,
    ))
}

pub async fn settings(
    State(s): State<AppState>,
    CompanyPage {
        mut conn,
        frame: f,
        actor,
    }: CompanyPage,
) -> PageResult {
    let c = f.company();
    let secrets = store::secrets::list(&mut conn, c.id).await?;
    let plugins = store::plugins::list(&mut conn).await?;
    let manage = actor.can_manage_members(c.id);
    let members = store::users::members::list(&mut conn, c.id).await?;
    let (invites, requests) = if manage {
        (
            store::users::members::invites(&mut conn, c.id).await?,
            store::users::members::join_requests(&mut conn, c.id).await?,
        )
    } else {
        (Vec::new(), Vec::new())
    };
    conn.close().await?;
    let health = crate::health::report(&s)
        .await
        .map_err(|_| PageError(ApiError::Unavailable))?;
    let dir = s.backup.dir.clone();
    let mut backups = tokio::task::spawn_blocking(move || paperclip_backup::list(&dir))
        .await
        .map_err(|e| PageError(ApiError::Internal(e.into())))?
        .unwrap_or_default();
    backups.sort_by_key(|b| std::cmp::Reverse(b.created_at));
    backups.truncate(20);
    html(board::settings::render(
        &f.ctx(Nav::Settings),
        &board::settings::Settings {
            health: &health,
            secrets: &secrets,
            plugins: &plugins,
            backups: &backups,
            members: board::access::Members {
                members: &members,
                invites: &invites,
                requests: &requests,
                manage,
            },
        },
    ))
}
