//! How a bundle row becomes the target's: new ids, references followed or cleared (foreign
//! keys, uuid columns, ids inside JSON and arrays), and the rules per table the catalog cannot
//! know (issue numbers, cold boot, secrets without values, new file keys, webhook URLs).

use chrono::Utc;
use serde_json::{json, Map, Value};
use sqlx::PgConnection;
use uuid::Uuid;

use super::run::Run;
use super::{Blobs, TABLES};
use crate::{Result, StoreError};
use paperclip_domain::routines::Schedule;

impl<B: Blobs> Run<'_, B> {
    /// A bundle row as the target's: new ids, references followed or cleared, per-table rules.
    pub(super) async fn transform(
        &mut self,
        conn: &mut PgConnection,
        table: &str,
        row: Value,
    ) -> Result<Value> {
        let Value::Object(mut r) = row else {
            return Err(StoreError::invalid(
                "bundle",
                format!("a {table} row is not an object"),
            ));
        };
        let cols = self.columns(conn, table).await?;
        let mut out = Map::new();
        for c in cols.iter() {
            if c.generated {
                continue;
            }
            if c.name == "company_id" {
                out.insert(c.name.clone(), json!(self.company_id));
                continue;
            }
            // A column the bundle lacks (it comes from an older Paperclip) is left out of the
            // insert, so the column's default applies.
            let Some(v) = r.remove(&c.name) else {
                continue;
            };
            let v = if c.name == "id" {
                match v.as_str().and_then(|s| Uuid::parse_str(s).ok()) {
                    Some(old) => json!(self.id(old)),
                    None => v,
                }
            } else if let Some(target) = &c.references {
                self.reference(target, &v)
            } else if c.json {
                self.remap_json(v)
            } else {
                self.uuid_column(&c.name, v)
            };
            out.insert(c.name.clone(), v);
        }
        self.rules(table, &mut out).await?;
        Ok(Value::Object(out))
    }

    /// A foreign key: followed when it names a bundle row (or the company), cleared otherwise.
    fn reference(&mut self, target: &str, v: &Value) -> Value {
        let Some(old) = v.as_str().and_then(|s| Uuid::parse_str(s).ok()) else {
            return Value::Null;
        };
        if target == "companies" || TABLES.iter().any(|(t, _, _)| *t == target) {
            json!(self.id(old))
        } else {
            Value::Null
        }
    }

    /// A uuid (or uuid array) column without a foreign key: followed when it names a row the
    /// bundle holds (or will: a document's latest revision), cleared when it names what the
    /// bundle leaves out (a run).
    fn uuid_column(&mut self, name: &str, v: Value) -> Value {
        match v {
            Value::String(s) if Uuid::parse_str(&s).is_ok() && name != "origin_id" => {
                let old = Uuid::parse_str(&s).expect("checked");
                match self.ids.get(&old) {
                    Some(new) => json!(new),
                    None if name == "latest_revision_id" => json!(self.id(old)),
                    None if name.ends_with("_id") => Value::Null,
                    None => Value::String(s),
                }
            }
            Value::Array(items) => {
                Value::Array(items.into_iter().map(|i| self.remap_json(i)).collect())
            }
            other => other,
        }
    }

    /// Ids of bundle rows inside JSON (a secret binding's `secretId`, an approval's agent). A
    /// binding may name a secret before its row comes (agents come first): its id is allocated.
    fn remap_json(&mut self, v: Value) -> Value {
        match v {
            Value::String(s) => match Uuid::parse_str(&s).ok().and_then(|u| self.ids.get(&u)) {
                Some(new) => json!(new),
                None => Value::String(s),
            },
            Value::Array(items) => {
                Value::Array(items.into_iter().map(|i| self.remap_json(i)).collect())
            }
            Value::Object(m) => Value::Object(
                m.into_iter()
                    .map(|(k, v)| {
                        let secret = (k == "secretId")
                            .then(|| v.as_str().and_then(|s| Uuid::parse_str(s).ok()))
                            .flatten();
                        let v = match secret {
                            Some(old) => json!(self.id(old)),
                            None => self.remap_json(v),
                        };
                        (k, v)
                    })
                    .collect(),
            ),
            other => other,
        }
    }

    /// What the generic mapping cannot know.
    async fn rules(&mut self, table: &str, r: &mut Map<String, Value>) -> Result<()> {
        match table {
            "issues" => {
                let n = self.next_number;
                self.next_number += 1;
                r.insert("issue_number".into(), json!(n));
                r.insert("identifier".into(), json!(format!("{}-{n}", self.prefix)));
                r.insert("execution_locked_at".into(), Value::Null);
                if r.get("origin_kind").and_then(Value::as_str)
                    == Some(crate::routines::ORIGIN_KIND)
                {
                    if let Some(old) = r
                        .get("origin_id")
                        .and_then(Value::as_str)
                        .and_then(|s| Uuid::parse_str(s).ok())
                    {
                        let new = self.id(old);
                        r.insert("origin_id".into(), json!(new.to_string()));
                    }
                }
            }
            "agents" => {
                // Boots cold: the timer starts over.
                r.insert("timer_next_at".into(), Value::Null);
            }
            "company_secrets" => {
                // Values never travel: the secret waits for one.
                r.insert("latest_version".into(), json!(0));
                r.insert("last_resolved_at".into(), Value::Null);
            }
            "assets" => {
                let id = r
                    .get("id")
                    .and_then(Value::as_str)
                    .and_then(|s| Uuid::parse_str(s).ok());
                if let Some(id) = id {
                    let key = format!("{}/imports/{id}", self.company_id);
                    self.asset_keys.insert(id, key.clone());
                    r.insert("object_key".into(), json!(key));
                }
            }
            "routine_triggers" => match r.get("kind").and_then(Value::as_str) {
                Some("webhook") => {
                    r.insert(
                        "public_id".into(),
                        json!(Uuid::new_v4().simple().to_string()[..24].to_string()),
                    );
                    r.insert("enabled".into(), json!(false));
                }
                Some("schedule") => {
                    let expr = r
                        .get("cron_expression")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let tz = r.get("timezone").and_then(Value::as_str);
                    let next = Schedule::parse(expr, tz)
                        .ok()
                        .and_then(|s| s.next_after(Utc::now()));
                    r.insert("next_run_at".into(), json!(next));
                }
                _ => {}
            },
            _ => {}
        }
        Ok(())
    }
}
