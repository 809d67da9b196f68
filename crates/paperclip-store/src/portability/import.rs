//! Importing a bundle into a new company or an existing one, in the caller's transaction.
//!
//! Every row gets a new id (ordered like the bundle, so the company lists as it did); every
//! reference between the bundle's rows follows, whether it is a foreign key, a uuid column, an
//! id inside a JSON value or array, or a routine named by an issue's origin. References to what
//! the bundle leaves out (runs, users' sessions) are cleared. Issues are renumbered from the
//! target's counter. Nothing queued or running comes along: the company boots cold.

use std::collections::{HashMap, HashSet};
use std::future::Future;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::PgConnection;
use uuid::Uuid;

use super::collide::{collision, existing_names, Collision, Decisions};
use super::run::Run;
use super::{Blobs, Counts, Manifest, Record, FORMAT, TABLES, VERSION};
use crate::activity::{self, Entry};
use crate::{Actor, Result, StoreError};
use paperclip_postgres::pool::{q, qs};

/// Where a bundle's lines come from.
pub trait Source: Send {
    /// The next line, `None` at the end.
    fn next_line(&mut self) -> impl Future<Output = Result<Option<Vec<u8>>>> + Send;
}

/// Where an import goes.
#[derive(Debug, Clone)]
pub enum Target {
    /// A new company, named as the bundle's unless a name is given.
    NewCompany { name: Option<String> },
    /// An existing company: objects that collide by name are decided per object.
    Existing { company_id: Uuid },
}

/// What an import did (or, previewed, would do).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Imported {
    /// The company the bundle went into (`None` in a preview into a new company).
    pub company_id: Option<Uuid>,
    pub company_name: String,
    /// Rows per table the bundle holds.
    pub counts: Counts,
    pub collisions: Vec<Collision>,
    /// What the user has to do next (secrets to set, webhooks to re-arm).
    pub notes: Vec<String>,
    /// What the bundle left out, and why (from its manifest).
    #[schemars(with = "Vec<Value>")]
    pub omitted: Vec<super::Omission>,
}

async fn read_record(src: &mut impl Source) -> Result<Option<Record>> {
    let Some(line) = src.next_line().await? else {
        return Ok(None);
    };
    if line.iter().all(u8::is_ascii_whitespace) {
        return Box::pin(read_record(src)).await;
    }
    serde_json::from_slice(&line)
        .map(Some)
        .map_err(|e| StoreError::invalid("bundle", format!("a line is not a bundle record: {e}")))
}

async fn read_manifest(conn: &mut PgConnection, src: &mut impl Source) -> Result<Manifest> {
    let Some(Record::Manifest(m)) = read_record(src).await? else {
        return Err(StoreError::invalid(
            "bundle",
            "the first line must be the manifest",
        ));
    };
    if m.format != FORMAT || m.version != VERSION {
        return Err(StoreError::invalid(
            "bundle",
            format!(
                "this is {} version {}; Paperclip reads {FORMAT} version {VERSION}",
                m.format, m.version
            ),
        ));
    }
    let ours: i64 = qs("SELECT COALESCE(max(version), 0) FROM paperclip_migrations")
        .fetch_one(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot read the schema version"))?;
    if m.schema_version > ours {
        return Err(StoreError::invalid(
            "bundle",
            format!(
                "the bundle comes from a newer Paperclip (schema {} > {ours}): upgrade first",
                m.schema_version
            ),
        ));
    }
    Ok(m)
}

fn name_of(m: &Manifest) -> String {
    m.company["name"]
        .as_str()
        .unwrap_or("Imported company")
        .to_string()
}

/// Reads a bundle without writing: its counts, and what collides in the target.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn preview(
    conn: &mut PgConnection,
    src: &mut impl Source,
    target: &Target,
    decisions: &Decisions,
) -> Result<Imported> {
    let m = read_manifest(conn, src).await?;
    let target_id = match target {
        Target::Existing { company_id } => Some(*company_id),
        Target::NewCompany { .. } => None,
    };
    let names = existing_names(conn, target_id).await?;
    let mut counts = Counts::new();
    let mut collisions = Vec::new();
    let mut ended = None;
    while let Some(r) = read_record(src).await? {
        match r {
            Record::Row { table, row } => {
                if let Some(c) = collision(&names, &table, &row, decisions) {
                    collisions.push(c);
                }
                *counts.entry(table).or_default() += 1;
            }
            Record::End { counts } => ended = Some(counts),
            Record::Blob { .. } | Record::Manifest(_) => {}
        }
    }
    check_end(ended, &counts)?;
    let company_name = match target {
        Target::NewCompany { name } => name.clone().unwrap_or_else(|| name_of(&m)),
        Target::Existing { company_id } => qs("SELECT name FROM companies WHERE id = $1")
            .bind(company_id)
            .fetch_one(&mut *conn)
            .await
            .map_err(StoreError::sql("cannot read the company"))?,
    };
    Ok(Imported {
        company_id: target_id,
        company_name,
        notes: notes(&counts),
        counts,
        collisions,
        omitted: m.omitted,
    })
}

fn check_end(ended: Option<Counts>, read: &Counts) -> Result<()> {
    let Some(declared) = ended else {
        return Err(StoreError::invalid(
            "bundle",
            "the bundle is cut short: it has no end line",
        ));
    };
    for (table, n) in &declared {
        let got = read.get(table).copied().unwrap_or_default();
        if got != *n {
            return Err(StoreError::invalid(
                "bundle",
                format!(
                    "the bundle is damaged: its end line counts {n} {table} rows, it holds {got}"
                ),
            ));
        }
    }
    Ok(())
}

fn notes(counts: &Counts) -> Vec<String> {
    let mut out = Vec::new();
    if counts.get("company_secrets").copied().unwrap_or_default() > 0 {
        out.push("Secrets came with their names and bindings, not their values: set each value (PATCH /api/secrets/:id) before agents that use it run.".into());
    }
    if counts.get("routine_triggers").copied().unwrap_or_default() > 0 {
        out.push("Webhook triggers came disabled with a new URL: rotate their secret and enable them. Schedules resume from now.".into());
    }
    out
}

/// Imports a bundle in the caller's transaction. `written` gathers the storage keys of the
/// files it stored, to remove if the import fails or its transaction does not commit.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn import<B: Blobs>(
    conn: &mut PgConnection,
    actor: &Actor,
    src: &mut impl Source,
    target: &Target,
    decisions: &Decisions,
    blobs: &B,
    written: &mut Vec<String>,
) -> Result<Imported> {
    let m = read_manifest(conn, src).await?;
    let old_company = m.company["id"]
        .as_str()
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| StoreError::invalid("bundle", "the manifest names no company id"))?;
    let company = match target {
        Target::NewCompany { name } => {
            let c = &m.company;
            let created = crate::companies::create(
                conn,
                actor,
                &crate::companies::NewCompany {
                    name: name.clone().unwrap_or_else(|| name_of(&m)),
                    description: c["description"].as_str().map(str::to_string),
                    budget_monthly_cents: c["budget_monthly_cents"].as_i64().unwrap_or_default(),
                    require_board_approval_for_new_agents: c
                        ["require_board_approval_for_new_agents"]
                        .as_bool()
                        .unwrap_or_default(),
                },
            )
            .await?;
            created
        }
        Target::Existing { company_id } => {
            q("SELECT 1 FROM companies WHERE id = $1 FOR UPDATE")
                .bind(company_id)
                .execute(&mut *conn)
                .await
                .map_err(StoreError::sql("cannot lock the company"))?;
            crate::companies::get(conn, *company_id)
                .await?
                .ok_or_else(|| StoreError::not_found("Company not found"))?
        }
    };
    let names = existing_names(
        conn,
        matches!(target, Target::Existing { .. }).then_some(company.id),
    )
    .await?;
    let mut run = Run {
        company_id: company.id,
        prefix: company.issue_prefix.clone(),
        next_number: company.issue_counter + 1,
        ids: HashMap::from([(old_company, company.id)]),
        names,
        blobs,
        columns: HashMap::new(),
        batch: Vec::new(),
        batch_table: None,
        waiting: Vec::new(),
        queued: HashSet::new(),
        asset_keys: HashMap::new(),
        counts: Counts::new(),
    };
    let mut collisions = Vec::new();
    let mut ended = None;
    while let Some(r) = read_record(src).await? {
        match r {
            Record::Row { table, row } => {
                if !TABLES.iter().any(|(t, _, _)| *t == table) {
                    return Err(StoreError::invalid(
                        "bundle",
                        format!(
                            "the bundle holds rows of {table:?}, which an import does not take"
                        ),
                    ));
                }
                if run.batch_table.as_deref() != Some(table.as_str()) {
                    run.finish_table(conn).await?;
                    run.batch_table = Some(table.clone());
                }
                *run.counts.entry(table.clone()).or_default() += 1;
                if let Some(c) = collision(&run.names, &table, &row, decisions) {
                    collisions.push(c.clone());
                    if run.collide(conn, &table, row, &c).await? {
                        continue;
                    }
                } else {
                    run.add(conn, &table, row).await?;
                }
            }
            Record::Blob { asset_id, base64 } => {
                run.flush(conn).await?;
                let new = run.ids.get(&asset_id).copied();
                let key = new
                    .and_then(|n| run.asset_keys.get(&n).cloned())
                    .ok_or_else(|| {
                        StoreError::invalid(
                            "bundle",
                            format!("file bytes for unknown asset {asset_id}"),
                        )
                    })?;
                let bytes = B64
                    .decode(base64.as_bytes())
                    .map_err(|e| StoreError::invalid("bundle", format!("asset {asset_id}: {e}")))?;
                run.blobs.write(&key, bytes).await.map_err(|e| {
                    StoreError::invalid("assets", format!("cannot store a file: {e}"))
                })?;
                written.push(key);
            }
            Record::End { counts } => ended = Some(counts),
            Record::Manifest(_) => {
                return Err(StoreError::invalid("bundle", "a second manifest line"));
            }
        }
    }
    run.finish_table(conn).await?;
    check_end(ended, &run.counts)?;
    q("UPDATE companies SET issue_counter = GREATEST(issue_counter, $2) WHERE id = $1")
        .bind(company.id)
        .bind(run.next_number - 1)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot number the company's issues"))?;
    activity::record(
        conn,
        actor,
        Entry {
            company_id: company.id,
            action: "company.imported",
            entity_type: "company",
            entity_id: company.id.to_string(),
            details: json!({"from": old_company, "counts": run.counts, "collisions": collisions.len()}),
        },
    )
    .await?;
    Ok(Imported {
        company_id: Some(company.id),
        company_name: company.name,
        notes: notes(&run.counts),
        counts: run.counts,
        collisions,
        omitted: m.omitted,
    })
}
