//! Authenticated deployments from the command line: `auth bootstrap-ceo` (the first admin's
//! one-time invite link), `allowed-hostname add|remove|list`, and `token board
//! create|list|revoke` (a user's board API keys).

use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Subcommand;
use paperclip_config::Settings;
use paperclip_postgres::Ownership;
use paperclip_store::users::{self, members};
use paperclip_store::{Actor, ActorKind, BoardAccess};

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Print a one-time invite URL that makes its claimer the first instance admin (and owner
    /// of the companies the local board ran).
    BootstrapCeo {
        /// Create a new invite even though an instance admin exists (earlier bootstrap invites
        /// are revoked).
        #[arg(long)]
        force: bool,
        /// Hours until the link expires.
        #[arg(long, default_value_t = 72, value_parser = clap::value_parser!(i64).range(1..=720))]
        expires_hours: i64,
        /// The board's address as users reach it (default: PAPERCLIP_PUBLIC_URL, else the
        /// configured host and port).
        #[arg(long)]
        base_url: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum HostnameCommand {
    /// Allow a host name (authenticated + private mode answers only names it knows).
    Add { host: String },
    /// Stop allowing a host name.
    Remove { host: String },
    /// List the allowed host names.
    List,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Board API keys of a user.
    #[command(subcommand)]
    Board(BoardTokenCommand),
    /// API keys of an agent, over the API.
    Agent(crate::client::Client<crate::client::agents::AgentTokenCommand>),
}

#[derive(Debug, Subcommand)]
pub enum BoardTokenCommand {
    /// Create a key for the user with this email; the token is printed once.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "cli")]
        name: String,
        /// Days until the key expires (default: never).
        #[arg(long, value_parser = clap::value_parser!(i64).range(1..=3650))]
        expires_days: Option<i64>,
    },
    /// List the user's keys.
    List {
        #[arg(long)]
        email: String,
    },
    /// Revoke one of the user's keys.
    Revoke {
        #[arg(long)]
        email: String,
        key_id: uuid::Uuid,
    },
}

/// Runs `f` on a direct connection to the instance's (migrated) database.
async fn with_db<T>(
    f: impl AsyncFnOnce(&mut sqlx::PgConnection, &Settings) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let mut settings = Settings::load_from_process()?;
    let mut target = crate::target::acquire(&mut settings, Ownership::OwnOrAttach).await?;
    let result = async {
        paperclip_store::migrate::run(
            &target.migration_url,
            target.label,
            paperclip_store::migrate::Approval::Apply,
        )
        .await?;
        let mut conn = paperclip_postgres::pool::connect_direct(&target.migration_url).await?;
        f(&mut conn, &settings).await
    }
    .await;
    target.shutdown()?;
    result
}

fn cli_actor() -> Actor {
    Actor {
        kind: ActorKind::Board {
            user_id: "cli".into(),
            access: BoardAccess::Instance,
        },
        run_id: None,
    }
}

pub async fn auth(cmd: AuthCommand) -> anyhow::Result<ExitCode> {
    let AuthCommand::BootstrapCeo {
        force,
        expires_hours,
        base_url,
    } = cmd;
    let url = with_db(async |conn, settings| {
        use sqlx::Connection;
        if settings.server.deployment_mode != paperclip_domain::DeploymentMode::Authenticated {
            crate::ui::info("Note: this instance runs local_trusted; the invite works once it runs with PAPERCLIP_DEPLOYMENT_MODE=authenticated.");
        }
        let mut tx = conn.begin().await?;
        if users::admin_exists(&mut tx).await? && !force {
            bail!("an instance admin exists already; pass --force to create another bootstrap invite");
        }
        sqlx::query("UPDATE invites SET revoked_at = now() WHERE invite_type = 'bootstrap_ceo' AND revoked_at IS NULL AND accepted_at IS NULL")
            .persistent(false)
            .execute(&mut *tx)
            .await?;
        let (_, token) = members::create_invite(&mut tx, &cli_actor(), None, None, expires_hours * 3600).await?;
        tx.commit().await?;
        let base = base_url
            .or_else(|| settings.server.auth.public_url.clone())
            .unwrap_or_else(|| {
                let host = if settings.server.host.is_unspecified() {
                    "localhost".to_string()
                } else {
                    settings.server.host.to_string()
                };
                format!("http://{host}:{}", settings.server.port)
            });
        Ok(format!("{}/invite/{token}", base.trim_end_matches('/')))
    })
    .await?;
    println!("{url}");
    crate::ui::info(&format!(
        "Open it to create the first admin account; it works once and expires in {expires_hours} h."
    ));
    Ok(ExitCode::SUCCESS)
}

pub fn hostname(cmd: HostnameCommand) -> anyhow::Result<ExitCode> {
    let mut settings = Settings::load_from_process()?;
    let mut hosts = settings
        .config
        .strings("server.allowedHostnames")?
        .unwrap_or_default();
    let valid = |h: &str| {
        !h.is_empty()
            && h.len() <= 253
            && h.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    };
    match cmd {
        HostnameCommand::List => {
            if hosts.is_empty() {
                println!("No host names allowed besides loopback ones.");
            }
            hosts.iter().for_each(|h| println!("{h}"));
            return Ok(ExitCode::SUCCESS);
        }
        HostnameCommand::Add { host } => {
            let host = host.trim().to_ascii_lowercase();
            if !valid(&host) {
                bail!(
                    "{host:?} is not a host name (letters, digits, '-' and '.'; no scheme or port)"
                );
            }
            if !hosts.contains(&host) {
                hosts.push(host.clone());
            }
            println!("Allowed {host}. Restart the server to apply.");
        }
        HostnameCommand::Remove { host } => {
            let host = host.trim().to_ascii_lowercase();
            let before = hosts.len();
            hosts.retain(|h| *h != host);
            if hosts.len() == before {
                bail!("{host:?} was not allowed");
            }
            println!("Removed {host}. Restart the server to apply.");
        }
    }
    settings
        .config
        .set("server.allowedHostnames", serde_json::json!(hosts));
    settings.config.save("allowed-hostname")?;
    Ok(ExitCode::SUCCESS)
}

pub async fn token(cmd: TokenCommand) -> anyhow::Result<ExitCode> {
    let cmd = match cmd {
        TokenCommand::Board(cmd) => cmd,
        TokenCommand::Agent(c) => return crate::client::agents::token(&c.api, c.command).await,
    };
    with_db(async |conn, _| {
        let email = match &cmd {
            BoardTokenCommand::Create { email, .. }
            | BoardTokenCommand::List { email }
            | BoardTokenCommand::Revoke { email, .. } => email.clone(),
        };
        let (user, _) = users::by_email(conn, &email)
            .await?
            .with_context(|| format!("no user with email {email:?}"))?;
        match cmd {
            BoardTokenCommand::Create {
                name, expires_days, ..
            } => {
                let expires = expires_days.map(|d| chrono::Utc::now() + chrono::Duration::days(d));
                let (key, token) =
                    users::board_keys::create(conn, &cli_actor(), &user.id, &name, expires, None)
                        .await?;
                println!("{token}");
                crate::ui::info(&format!(
                    "Board key {} ({}) for {}: shown once, use it as `Authorization: Bearer <token>`.",
                    key.id, key.name, user.email
                ));
            }
            BoardTokenCommand::List { .. } => {
                let keys = users::board_keys::list(conn, &user.id).await?;
                if keys.is_empty() {
                    println!("No board keys.");
                }
                for k in keys {
                    let state = if k.revoked_at.is_some() {
                        "revoked".to_string()
                    } else if k.expires_at.is_some_and(|e| e <= chrono::Utc::now()) {
                        "expired".to_string()
                    } else {
                        "active".to_string()
                    };
                    println!("{}  {:<20} {:<8} created {}", k.id, k.name, state, k.created_at.format("%Y-%m-%d %H:%M"));
                }
            }
            BoardTokenCommand::Revoke { key_id, .. } => {
                if !users::board_keys::revoke(conn, &cli_actor(), &user.id, key_id).await? {
                    bail!("{} has no board key {key_id}", user.email);
                }
                println!("Revoked {key_id}.");
            }
        }
        Ok(())
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}
