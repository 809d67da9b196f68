//! `paperclipai company export|import`: a company as a bundle file, against the instance's
//! database (the server may be running; the export reads one snapshot, the import writes one
//! transaction), or through a server's API when `--api-base` / `PAPERCLIP_API_URL` names one
//! (`client/bundles.rs`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use paperclip_config::Settings;
use paperclip_postgres::{Db, Ownership};
use paperclip_server::files::Files;
use paperclip_store::portability::{self, Collide, Decisions, Source, Target};
use paperclip_store::{Actor, ActorKind, BoardAccess, StoreError};

use crate::client::bundles::ImportArgs;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter};

#[derive(Debug, Subcommand)]
pub enum CompanyCommand {
    /// Companies you can see (over the API).
    List,
    /// One company (over the API).
    Get { id: String },
    /// Write a company as a bundle (secret names and bindings, never values).
    Export {
        /// The company's id.
        id: String,
        /// The bundle file (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Read a bundle into a new company, or into an existing one with --company-id.
    Import(ImportArgs),
}

pub async fn run(api: &crate::client::ClientArgs, cmd: CompanyCommand) -> anyhow::Result<ExitCode> {
    // A server named: export and import go through its API, as upstream's client does.
    let remote = api.api_base.is_some();
    match cmd {
        CompanyCommand::List => crate::client::companies::company_list(api).await,
        CompanyCommand::Get { id } => crate::client::companies::company_get(api, &id).await,
        CompanyCommand::Export { id, out } if remote => {
            crate::client::bundles::export(api, &id, out).await
        }
        CompanyCommand::Import(a) if remote => crate::client::bundles::import(api, &a).await,
        CompanyCommand::Export { id, out } => {
            on_instance(async |db, files| export(db, files, &id, out).await).await
        }
        CompanyCommand::Import(a) => {
            let (target, decisions) = plan(&a)?;
            on_instance(async |db, files| {
                import(db, files, &a.file, &target, &decisions, a.preview).await
            })
            .await
        }
    }
}

/// Runs `f` against the instance's database and file storage.
async fn on_instance(
    f: impl AsyncFnOnce(&Db, &Files) -> anyhow::Result<ExitCode>,
) -> anyhow::Result<ExitCode> {
    let mut settings = Settings::load_from_process()?;
    let mut target = crate::target::acquire(&mut settings, Ownership::OwnOrAttach).await?;
    let db = Db::connect(&target.app_url, &settings.pool).await?;
    let files = Files::open(&settings.storage).context("cannot open file storage")?;
    let result = f(&db, &files).await;
    db.close().await;
    target.shutdown()?;
    result
}

/// Where an import goes and how it decides collisions, from its arguments.
fn plan(a: &ImportArgs) -> anyhow::Result<(Target, Decisions)> {
    let target = match &a.company_id {
        Some(c) => Target::Existing {
            company_id: c.parse().context("--company-id must be a UUID")?,
        },
        None => Target::NewCompany {
            name: a.name.clone(),
        },
    };
    let mut per_object = HashMap::new();
    for d in &a.decide {
        let (object, action) = d
            .rsplit_once('=')
            .with_context(|| format!("--decide {d:?}: expected table:id=action"))?;
        let action: Collide = action.parse().map_err(anyhow::Error::msg)?;
        per_object.insert(object.to_string(), action);
    }
    let decisions = Decisions {
        default: a.collisions.parse().map_err(anyhow::Error::msg)?,
        per_object,
    };
    Ok((target, decisions))
}

/// Writes bundle lines to a file or standard output.
struct Out<W>(BufWriter<W>);

impl<W: tokio::io::AsyncWrite + Unpin + Send> portability::Sink for Out<W> {
    async fn line(&mut self, mut line: Vec<u8>) -> paperclip_store::Result<()> {
        line.push(b'\n');
        self.0
            .write_all(&line)
            .await
            .map_err(|e| StoreError::invalid("out", format!("cannot write the bundle: {e}")))
    }
}

async fn export(
    db: &Db,
    files: &Files,
    id: &str,
    out: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let company_id: uuid::Uuid = id.parse().context("the company id must be a UUID")?;
    let mut tx = db.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let counts = match &out {
        Some(path) => {
            // Written beside, then renamed: a cut-short export never leaves a bundle behind.
            let part = path.with_extension("partial");
            let f = tokio::fs::File::create(&part)
                .await
                .with_context(|| format!("cannot create {}", part.display()))?;
            let mut sink = Out(BufWriter::new(f));
            let counts = portability::export(&mut tx, company_id, files, &mut sink).await?;
            sink.0.flush().await?;
            sink.0.into_inner().sync_all().await?;
            tokio::fs::rename(&part, path).await?;
            counts
        }
        None => {
            let mut sink = Out(BufWriter::new(tokio::io::stdout()));
            let counts = portability::export(&mut tx, company_id, files, &mut sink).await?;
            sink.0.flush().await?;
            counts
        }
    };
    tx.commit().await?;
    if let Some(path) = out {
        let total: u64 = counts.values().sum();
        eprintln!("Exported {total} rows to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads bundle lines from a file.
struct In(tokio::io::Lines<BufReader<tokio::fs::File>>);

impl Source for In {
    async fn next_line(&mut self) -> paperclip_store::Result<Option<Vec<u8>>> {
        self.0
            .next_line()
            .await
            .map(|l| l.map(String::into_bytes))
            .map_err(|e| StoreError::invalid("file", format!("cannot read the bundle: {e}")))
    }
}

async fn open(file: &PathBuf) -> anyhow::Result<In> {
    let f = tokio::fs::File::open(file)
        .await
        .with_context(|| format!("cannot open {}", file.display()))?;
    Ok(In(BufReader::new(f).lines()))
}

async fn import(
    db: &Db,
    files: &Files,
    file: &PathBuf,
    target: &Target,
    decisions: &Decisions,
    preview: bool,
) -> anyhow::Result<ExitCode> {
    let actor = Actor {
        kind: ActorKind::Board {
            user_id: "local-board".into(),
            access: BoardAccess::Instance,
        },
        run_id: None,
    };
    let outcome = if preview {
        let mut conn = db.session().await?;
        let p = portability::preview(&mut conn, &mut open(file).await?, target, decisions).await?;
        conn.close().await?;
        p
    } else {
        let mut written = Vec::new();
        let done = async {
            let mut tx = db.begin().await?;
            let imported = portability::import(
                &mut tx,
                &actor,
                &mut open(file).await?,
                target,
                decisions,
                files,
                &mut written,
            )
            .await?;
            tx.commit().await?;
            Ok::<_, anyhow::Error>(imported)
        }
        .await;
        if done.is_err() {
            for k in &written {
                let _ = files.storage.delete(k).await;
            }
        }
        done?
    };
    println!("{}", serde_json::to_string_pretty(&outcome)?);
    Ok(ExitCode::SUCCESS)
}
