//! Settings: secrets (names only, never values), plugins with their status and last error, the
//! database, backups with "back up now", and the health warnings.

use maud::{html, Markup};
use paperclip_api_types::health::Health;
use paperclip_backup::Listed;
use paperclip_store::plugins::Plugin;
use paperclip_store::secrets::Secret;

use crate::layout::{action, api_form, badge, page, when, Ctx};

#[derive(Debug)]
pub struct Settings<'a> {
    pub health: &'a Health,
    pub secrets: &'a [Secret],
    pub plugins: &'a [Plugin],
    pub backups: &'a [Listed],
    pub members: crate::access::Members<'a>,
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / f64::from(1u32 << 30)),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / f64::from(1u32 << 20)),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

pub fn render(ctx: &Ctx<'_>, s: &Settings<'_>) -> Markup {
    let c = ctx.company.expect("a company page");
    let h = s.health;
    page(
        ctx,
        "Settings",
        html! {
            section.panel id="health" data-live {
                h2 { "Health " (badge(h.status)) }
                @if h.warnings.is_empty() { p.muted { "No warnings." } }
                ul.feed { @for w in &h.warnings { li.problem { code { (w.code) } " " (w.message) } } }
                dl.kv {
                    dt { "Version" } dd { (h.version) }
                    dt { "Deployment" } dd { (h.deployment_mode) }
                    dt { "Database" } dd { (h.database.mode) " · pool " (h.database.pool.size) "/" (h.database.pool.max)
                        " (" (h.database.pool.idle) " idle) · prepared statements "
                        (if h.database.prepared_statements { "on" } else { "off" }) }
                    dt { "Startup recovery" } dd { (h.startup_recovery.phase) " · " (h.startup_recovery.recovered_runs) " runs recovered" }
                    dt { "Background tasks" } dd {
                        @for (name, t) in &h.background_tasks {
                            code { (name) } " " (if t.running { "running" } else { "idle" })
                            @if let Some(e) = &t.last_error { " " span.problem { (e) } }
                            br;
                        }
                    }
                }
            }
            h2 { "Secrets" }
            p.muted { "Values are encrypted at rest and never shown; agents get them through secret references." }
            div.table-wrap { table {
                thead { tr { th { "Name" } th { "Key" } th { "Provider" } th { "Version" } th.hide-sm { "Last rotated" } } }
                tbody { @for x in s.secrets { tr {
                    td { (x.name) @if let Some(d) = &x.description { br; span.muted { (d) } } }
                    td { code { (x.key) } }
                    td { (x.provider) }
                    td { (x.latest_version) }
                    td.hide-sm { @if let Some(t) = x.last_rotated_at { (when(t)) } }
                } } }
            } }
            (api_form("POST", &format!("/api/companies/{}/secrets", c.id), "reload", "row", html! {
                label { "Name" input name="name" required maxlength="200"; }
                label { "Value" input name="value" type="password" required autocomplete="off"; }
                button type="submit" { "Add secret" }
            }))
            h2 { "Plugins" }
            div.table-wrap id="plugins" data-live { table {
                thead { tr { th { "Plugin" } th { "Version" } th { "Status" } th { "Last error" } } }
                tbody { @for p in s.plugins { tr {
                    td { (p.display_name.as_deref().unwrap_or(&p.plugin_key)) br; code.muted { (p.plugin_key) } }
                    td { (p.version) }
                    td { (badge(&p.status)) }
                    td { @if let Some(e) = &p.last_error { span.problem { (e) } } }
                } } }
            } }
            @if s.plugins.is_empty() { p.muted { "No plugins installed (" code { "paperclipai plugin install <folder>" } ")." } }
            h2 { "Backups" }
            @let b = &h.database_backup;
            p { (badge(&b.status)) " "
                @if b.enabled { "Scheduled; a backup older than " (b.max_age_hours) " h is a warning." } @else { "Scheduled backups are off." }
                " Folder: " code { (b.backup_dir) } }
            @if let Some(f) = &b.last_failure { p.problem { "Last failure: " (f.error) } }
            (action("POST", "/api/instance/database-backups", "Back up now"))
            div.table-wrap { table {
                thead { tr { th { "File" } th { "Created" } th { "Size" } } }
                tbody { @for l in s.backups { tr {
                    td { code { (l.path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default()) } }
                    td { (when(l.created_at)) }
                    td { (size(l.size_bytes)) }
                } } }
            } }
            (crate::access::members(ctx, &s.members))
        },
    )
}
