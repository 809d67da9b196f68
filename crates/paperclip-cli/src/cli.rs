//! Command-line grammar (upstream's command names, including the `db:migrate` spellings).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Paperclip: the control plane for autonomous AI companies.
#[derive(Debug, Parser)]
#[command(name = "paperclipai", version, about)]
pub struct Cli {
    /// Show debug logs.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the server (embedded PostgreSQL unless DATABASE_URL is set).
    Run {
        /// Maintenance: the database and the API only; no agent runs, schedules, plugin
        /// workers or scheduled backups (wakeups queue until a normal start).
        #[arg(long)]
        maintenance: bool,
    },
    /// First-run setup, then start the server (`--yes` accepts every default).
    Onboard {
        /// Accept all defaults without asking.
        #[arg(short, long)]
        yes: bool,
    },
    /// Database commands.
    #[command(subcommand)]
    Db(DbCommand),
    /// PostgreSQL binaries: `postgres install` fetches a build for machines without one.
    #[command(subcommand)]
    Postgres(crate::postgres::PostgresCommand),
    /// Apply pending migrations (alias of `db migrate`).
    #[command(name = "db:migrate", hide = true)]
    DbMigrateAlias,
    /// Take a backup (alias of `db backup`).
    #[command(name = "db:backup", hide = true)]
    DbBackupAlias {
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
        #[arg(long)]
        retention_days: Option<u32>,
        #[arg(long)]
        json: bool,
    },
    /// Show database status (alias of `db status`).
    #[command(name = "db:status", hide = true)]
    DbStatusAlias {
        #[arg(long)]
        json: bool,
    },
    /// Check this machine and instance, printing one fix per problem.
    Doctor,
    /// Change configuration sections (`--section secrets`); interactive on a terminal, or by flags.
    Configure {
        /// The section to configure (only `secrets` so far).
        #[arg(long)]
        section: String,
        /// Secrets provider.
        #[arg(long, value_parser = ["local_encrypted", "aws_secrets_manager", "gcp_secret_manager", "vault"])]
        provider: Option<String>,
        /// Require secret references for sensitive env keys.
        #[arg(long, conflicts_with = "no_strict")]
        strict: bool,
        /// Allow inline values for sensitive env keys.
        #[arg(long)]
        no_strict: bool,
        /// Master key file of the local_encrypted provider.
        #[arg(long)]
        key_file: Option<std::path::PathBuf>,
    },
    /// Company secrets maintenance.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Plugins: install, list, enable, disable, uninstall.
    #[command(subcommand)]
    Plugin(crate::plugins::PluginCommand),
    /// Authenticated mode: `auth bootstrap-ceo` prints the first admin's invite link.
    #[command(subcommand)]
    Auth(crate::access::AuthCommand),
    /// Host names an authenticated, private server answers to.
    #[command(subcommand, name = "allowed-hostname")]
    AllowedHostname(crate::access::HostnameCommand),
    /// API tokens: `token board create|list|revoke` (the instance's database), `token agent
    /// create|list|revoke` (over the API).
    #[command(subcommand)]
    Token(crate::access::TokenCommand),
    /// Companies: `company list|get` over the API; `company export|import` as bundle files.
    Company(crate::client::Client<crate::company::CompanyCommand>),
    /// Agents over the API: list, get, wake, pause, resume.
    Agent(crate::client::Client<crate::client::agents::AgentCommand>),
    /// Issues over the API: list, get, create, update, comment, checkout.
    Issue(crate::client::Client<crate::client::issues::IssueCommand>),
    /// Approvals over the API: list, approve, reject.
    Approval(crate::client::Client<crate::client::companies::ApprovalCommand>),
    /// Projects over the API: list, get, create.
    Project(crate::client::Client<crate::client::work::ProjectCommand>),
    /// Goals over the API: list, get, create.
    Goal(crate::client::Client<crate::client::work::GoalCommand>),
    /// Routines over the API: list, get, run.
    Routine(crate::client::Client<crate::client::work::RoutineCommand>),
    /// A company's activity log over the API.
    Activity(crate::client::Client<crate::client::reports::ActivityCommand>),
    /// A company's dashboard over the API.
    Dashboard(crate::client::Client<crate::client::reports::DashboardCommand>),
    /// A company's spend over the API: `cost summary`.
    Cost(crate::client::Client<crate::client::reports::CostCommand>),
    /// Exit 0 when the server and its database answer (`/api/health`).
    Health(crate::client::ClientArgs),
    /// Print a shell completion script (`paperclipai completions bash > /etc/bash_completion.d/paperclipai`).
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Heartbeats: run one now and stream its log.
    #[command(subcommand)]
    Heartbeat(HeartbeatCommand),
    /// Move inline sensitive env values into secrets (alias of `secrets migrate-inline-env`).
    #[command(name = "secrets:migrate-inline-env", hide = true)]
    SecretsMigrateAlias {
        #[arg(long)]
        company_id: Option<String>,
        #[arg(long)]
        apply: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum HeartbeatCommand {
    /// Wake an agent through the running server and stream the run's live log.
    Run(crate::heartbeat::RunArgs),
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Re-encrypt every secret under a new master key (keeps the old key file as a dated backup;
    /// safe to re-run after an interruption).
    RotateMasterKey,
    /// Move sensitive inline env values of agents into secrets (dry run unless --apply).
    MigrateInlineEnv {
        /// Only this company.
        #[arg(long)]
        company_id: Option<String>,
        /// Write the changes (one transaction per agent).
        #[arg(long)]
        apply: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Apply pending migrations to DATABASE_URL, or to the instance's embedded cluster.
    Migrate,
    /// Mode, URL (redacted), server version, data directory, port, applied and pending migrations.
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Back up the database to a file (pg_dump custom format, streamed to disk).
    Backup {
        /// Backup folder (default: database.backup.dir, else <instance>/data/backups).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
        /// Keep every backup for this many days (then weekly for 4 weeks, monthly for 6 months).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=3650))]
        retention_days: Option<u32>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List backups with size and age.
    Backups {
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
    /// Restore a backup into a new database, verify it, then swap it in (the old one is kept).
    Restore {
        /// The backup file.
        file: std::path::PathBuf,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Prove that a backup restores, into a scratch database, without touching the live one.
    Verify {
        /// The backup file.
        file: std::path::PathBuf,
    },
    /// psql on the instance's database (starting the embedded cluster if no server runs);
    /// arguments after `--` go to psql (`db shell -- -c "select 1"`).
    Shell {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// VACUUM (ANALYZE) the database: dead rows' space reusable, planner statistics fresh.
    Vacuum {
        /// VACUUM FULL: rewrite tables and return space to the OS (locks each table meanwhile).
        #[arg(long)]
        full: bool,
        #[arg(long)]
        json: bool,
    },
    /// ANALYZE the database: fresh planner statistics.
    Analyze {
        #[arg(long)]
        json: bool,
    },
}

pub async fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run { maintenance } => {
            crate::run::run(maintenance, crate::postgres::Consent::Ask).await
        }
        Command::Onboard { yes } => {
            if !yes {
                crate::ui::info("Using defaults (interactive onboarding is not implemented; pass --yes to skip this note).");
            }
            let consent = if yes {
                crate::postgres::Consent::Given
            } else {
                crate::postgres::Consent::Ask
            };
            crate::run::run(false, consent).await
        }
        Command::Db(DbCommand::Migrate) | Command::DbMigrateAlias => crate::db::migrate().await,
        Command::Db(DbCommand::Status { json }) | Command::DbStatusAlias { json } => {
            crate::db::status(json).await
        }
        Command::Db(DbCommand::Backup {
            dir,
            retention_days,
            json,
        })
        | Command::DbBackupAlias {
            dir,
            retention_days,
            json,
        } => crate::backups::backup(dir, retention_days, json).await,
        Command::Db(DbCommand::Backups { dir }) => crate::backups::list(dir),
        Command::Db(DbCommand::Restore { file, yes }) => crate::backups::restore(file, yes).await,
        Command::Db(DbCommand::Verify { file }) => crate::backups::verify(file).await,
        Command::Db(DbCommand::Shell { args }) => crate::db::shell(args).await,
        Command::Db(DbCommand::Vacuum { full, json }) => {
            let care = if full {
                paperclip_postgres::maintenance::Care::VacuumFull
            } else {
                paperclip_postgres::maintenance::Care::Vacuum
            };
            crate::db::care(care, json).await
        }
        Command::Db(DbCommand::Analyze { json }) => {
            crate::db::care(paperclip_postgres::maintenance::Care::Analyze, json).await
        }
        Command::Doctor => crate::doctor::run().await,
        Command::Postgres(cmd) => crate::postgres::run(cmd).await,
        Command::Configure {
            section,
            provider,
            strict,
            no_strict,
            key_file,
        } => {
            let strict = match (strict, no_strict) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            };
            crate::secrets::configure(&section, provider, strict, key_file)
        }
        Command::Plugin(cmd) => crate::plugins::run(cmd).await,
        Command::Auth(cmd) => crate::access::auth(cmd).await,
        Command::AllowedHostname(cmd) => crate::access::hostname(cmd),
        Command::Token(cmd) => crate::access::token(cmd).await,
        Command::Company(c) => crate::company::run(&c.api, c.command).await,
        Command::Agent(c) => crate::client::agents::agent(&c.api, c.command).await,
        Command::Issue(c) => crate::client::issues::issue(&c.api, c.command).await,
        Command::Approval(c) => crate::client::companies::approval(&c.api, c.command).await,
        Command::Project(c) => crate::client::work::project(&c.api, c.command).await,
        Command::Goal(c) => crate::client::work::goal(&c.api, c.command).await,
        Command::Routine(c) => crate::client::work::routine(&c.api, c.command).await,
        Command::Activity(c) => crate::client::reports::activity(&c.api, c.command).await,
        Command::Dashboard(c) => crate::client::reports::dashboard(&c.api, c.command).await,
        Command::Cost(c) => crate::client::reports::cost(&c.api, c.command).await,
        Command::Health(api) => crate::client::companies::health(&api).await,
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "paperclipai",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Heartbeat(HeartbeatCommand::Run(args)) => crate::heartbeat::run(args).await,
        Command::Secrets(SecretsCommand::RotateMasterKey) => {
            crate::secrets::rotate_master_key().await
        }
        Command::Secrets(SecretsCommand::MigrateInlineEnv { company_id, apply })
        | Command::SecretsMigrateAlias { company_id, apply } => {
            crate::secrets::migrate_inline_env(company_id, apply).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_grammar_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn upstream_colon_spellings_parse() {
        assert!(matches!(
            Cli::try_parse_from(["paperclipai", "db:migrate"])
                .unwrap()
                .command,
            Command::DbMigrateAlias
        ));
        assert!(matches!(
            Cli::try_parse_from(["paperclipai", "onboard", "--yes"])
                .unwrap()
                .command,
            Command::Onboard { yes: true }
        ));
    }
}
