//! One import's state: new ids allocated at first sight, rows queued per table in batches, a
//! row held back until its same-table parent (a manager, a parent issue) is queued, and
//! collisions with the target's objects skipped, replaced or renamed.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::{json, Value};
use sqlx::PgConnection;
use uuid::Uuid;

use super::collide::{Collide, Collision, NATURAL};
use super::{columns, Blobs, Column, Counts};
use crate::{Result, StoreError};
use paperclip_postgres::pool::q;

/// Rows inserted per statement.
const BATCH: usize = 500;

/// The state of one import.
pub(super) struct Run<'a, B: Blobs> {
    pub(super) company_id: Uuid,
    pub(super) prefix: String,
    pub(super) next_number: i32,
    pub(super) ids: HashMap<Uuid, Uuid>,
    pub(super) names: HashMap<&'static str, HashMap<String, Uuid>>,
    pub(super) blobs: &'a B,
    pub(super) columns: HashMap<String, Arc<[Column]>>,
    /// Rows waiting to be inserted, of one table.
    pub(super) batch: Vec<Value>,
    pub(super) batch_table: Option<String>,
    /// Rows of the current table waiting for a parent of the same table.
    pub(super) waiting: Vec<(Uuid, Value)>,
    /// Old ids of the current table's rows already queued.
    pub(super) queued: HashSet<Uuid>,
    /// New object keys of assets, by new asset id.
    pub(super) asset_keys: HashMap<Uuid, String>,
    pub(super) counts: Counts,
}

impl<B: Blobs> Run<'_, B> {
    /// The new id of `old`, allocated when first seen (a row may be named before it comes:
    /// an issue's routine, a document's latest revision).
    pub(super) fn id(&mut self, old: Uuid) -> Uuid {
        *self.ids.entry(old).or_insert_with(Uuid::now_v7)
    }

    pub(super) async fn columns(
        &mut self,
        conn: &mut PgConnection,
        table: &str,
    ) -> Result<Arc<[Column]>> {
        // Read once per table; handed out per row, so shared rather than copied.
        if !self.columns.contains_key(table) {
            let cols = columns(conn, table).await?;
            self.columns.insert(table.into(), cols.into());
        }
        Ok(self.columns[table].clone())
    }

    /// A colliding row: skipped or replaced (answers `true`: nothing to insert), or renamed and
    /// added (`false`).
    pub(super) async fn collide(
        &mut self,
        conn: &mut PgConnection,
        table: &str,
        mut row: Value,
        c: &Collision,
    ) -> Result<bool> {
        let old = row["id"].as_str().and_then(|s| Uuid::parse_str(s).ok());
        match c.action {
            Collide::Skip | Collide::Replace => {
                if let Some(old) = old {
                    self.ids.insert(old, c.existing_id);
                }
                if c.action == Collide::Replace {
                    let row = self.transform(conn, table, row).await?;
                    let cols: Vec<String> = self
                        .columns(conn, table)
                        .await?
                        .iter()
                        .filter(|k| {
                            !k.generated
                                && !["id", "company_id", "created_at"].contains(&k.name.as_str())
                        })
                        .filter(|k| row.get(&k.name).is_some())
                        .map(|k| k.name.clone())
                        .collect();
                    let list = cols.join(", ");
                    q(&format!(
                        "UPDATE {table} SET ({list}) = (SELECT {list} FROM jsonb_populate_record(NULL::{table}, $1))
                         WHERE id = $2"
                    ))
                    .bind(&row)
                    .bind(c.existing_id)
                    .execute(&mut *conn)
                    .await
                    .map_err(StoreError::sql("cannot replace an object"))?;
                }
                Ok(true)
            }
            Collide::Rename => {
                let (t, col, key) = NATURAL
                    .iter()
                    .find(|(t, _, _)| *t == table)
                    .expect("collidable");
                let taken = self.names.entry(*t).or_default();
                let base = row[*col].as_str().unwrap_or_default().to_string();
                let mut n = 1;
                let name = loop {
                    let candidate = if n == 1 {
                        format!("{base} (imported)")
                    } else {
                        format!("{base} (imported {n})")
                    };
                    if !taken.contains_key(&candidate.to_lowercase()) {
                        break candidate;
                    }
                    n += 1;
                };
                taken.insert(name.to_lowercase(), Uuid::nil());
                row[*col] = json!(name);
                if let Some(k) = key {
                    if let Some(v) = row[*k].as_str() {
                        row[*k] = json!(format!(
                            "{v}-imported-{}",
                            &Uuid::new_v4().simple().to_string()[..6]
                        ));
                    }
                }
                self.add(conn, table, row).await?;
                Ok(false)
            }
        }
    }

    /// Queues a row for insertion (or holds it until its same-table parent is queued).
    pub(super) async fn add(
        &mut self,
        conn: &mut PgConnection,
        table: &str,
        row: Value,
    ) -> Result<()> {
        let old = row["id"].as_str().and_then(|s| Uuid::parse_str(s).ok());
        let parent = self.self_parent(conn, table, &row).await?;
        if let (Some(old), Some(p)) = (old, parent) {
            if !self.queued.contains(&p) {
                self.waiting.push((old, row));
                return Ok(());
            }
        }
        self.queue(conn, table, old, row).await?;
        // Rows that waited for this one may go now (and their own children after them).
        let mut released = true;
        while released && !self.waiting.is_empty() {
            released = false;
            let waiting = std::mem::take(&mut self.waiting);
            for (o, r) in waiting {
                let p = self.self_parent(conn, table, &r).await?;
                if p.is_none_or(|p| self.queued.contains(&p)) {
                    self.queue(conn, table, Some(o), r).await?;
                    released = true;
                } else {
                    self.waiting.push((o, r));
                }
            }
        }
        Ok(())
    }

    /// The old id a row's same-table reference names (a manager, a parent issue or goal).
    async fn self_parent(
        &mut self,
        conn: &mut PgConnection,
        table: &str,
        row: &Value,
    ) -> Result<Option<Uuid>> {
        let cols = self.columns(conn, table).await?;
        Ok(cols
            .iter()
            .filter(|c| c.references.as_deref() == Some(table) && c.name != "id")
            .find_map(|c| row[&c.name].as_str().and_then(|s| Uuid::parse_str(s).ok())))
    }

    async fn queue(
        &mut self,
        conn: &mut PgConnection,
        table: &str,
        old: Option<Uuid>,
        row: Value,
    ) -> Result<()> {
        if let Some(o) = old {
            self.queued.insert(o);
        }
        let row = self.transform(conn, table, row).await?;
        self.batch.push(row);
        if self.batch.len() >= BATCH {
            self.flush(conn).await?;
        }
        Ok(())
    }

    /// Ends a table: rows still waiting for a parent the bundle does not hold lose that parent.
    pub(super) async fn finish_table(&mut self, conn: &mut PgConnection) -> Result<()> {
        if let Some(table) = self.batch_table.clone() {
            let waiting = std::mem::take(&mut self.waiting);
            for (o, r) in waiting {
                self.queue(conn, &table, Some(o), r).await?;
            }
        }
        self.flush(conn).await?;
        self.queued.clear();
        Ok(())
    }

    pub(super) async fn flush(&mut self, conn: &mut PgConnection) -> Result<()> {
        let Some(table) = self.batch_table.clone() else {
            return Ok(());
        };
        if self.batch.is_empty() {
            return Ok(());
        }
        // The columns the rows carry: one an older bundle lacks takes its default.
        let cols: Vec<String> = self
            .columns(conn, &table)
            .await?
            .iter()
            .filter(|c| !c.generated && self.batch.iter().any(|r| r.get(&c.name).is_some()))
            .map(|c| c.name.clone())
            .collect();
        let list = cols.join(", ");
        let rows = Value::Array(std::mem::take(&mut self.batch));
        let started = std::time::Instant::now();
        q(&format!(
            "INSERT INTO {table} ({list}) SELECT {list} FROM jsonb_populate_recordset(NULL::{table}, $1)"
        ))
        .bind(&rows)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot insert the bundle's rows"))?;
        tracing::debug!(table = %table, took_ms = started.elapsed().as_millis() as u64, "inserted a batch");
        Ok(())
    }
}
