//! Collisions: a bundle object whose name an object of the target company already has, and
//! what to do about it (rename, skip, replace), by default or per object.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{Result, StoreError};
use paperclip_postgres::pool::qa;

/// What to do with a bundle object whose name an object of the target already has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Collide {
    /// Import it under a new name (`… (imported)`).
    Rename,
    /// Keep the target's object; what named the bundle's names the target's.
    Skip,
    /// Overwrite the target's object with the bundle's.
    Replace,
}

impl std::str::FromStr for Collide {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "rename" => Ok(Self::Rename),
            "skip" => Ok(Self::Skip),
            "replace" => Ok(Self::Replace),
            other => Err(format!("{other:?} is not rename, skip or replace")),
        }
    }
}

/// How an import decides collisions: a default, and choices per object (`table:id` of the
/// bundle's object, as the preview lists them).
#[derive(Debug, Clone)]
pub struct Decisions {
    pub default: Collide,
    pub per_object: HashMap<String, Collide>,
}

/// A bundle object that collides with one of the target's.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Collision {
    /// `table:id`, the key a decision names.
    pub object: String,
    pub table: String,
    pub name: String,
    pub existing_id: Uuid,
    /// What the import will do with it.
    pub action: Collide,
}

/// The name column of each table whose objects can collide, and the unique key kept with it.
pub(super) const NATURAL: &[(&str, &str, Option<&str>)] = &[
    ("company_secrets", "name", Some("key")),
    ("labels", "name", None),
    ("agents", "name", Some("url_key")),
    ("goals", "title", None),
    ("projects", "name", None),
    ("routines", "title", None),
];

/// Existing names of the target's collidable objects: table → lower(name) → id.
pub(super) async fn existing_names(
    conn: &mut PgConnection,
    company_id: Option<Uuid>,
) -> Result<HashMap<&'static str, HashMap<String, Uuid>>> {
    let mut out = HashMap::new();
    let Some(cid) = company_id else {
        return Ok(out);
    };
    for (table, col, _) in NATURAL {
        let rows: Vec<(String, Uuid)> = qa(&format!(
            "SELECT lower({col}), id FROM {table} WHERE company_id = $1"
        ))
        .bind(cid)
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot read the target's names"))?;
        out.insert(*table, rows.into_iter().collect());
    }
    Ok(out)
}

pub(super) fn decide(d: &Decisions, object: &str) -> Collide {
    d.per_object.get(object).copied().unwrap_or(d.default)
}

pub(super) fn collision(
    names: &HashMap<&'static str, HashMap<String, Uuid>>,
    table: &str,
    row: &Value,
    decisions: &Decisions,
) -> Option<Collision> {
    let (t, col, _) = NATURAL.iter().find(|(t, _, _)| *t == table)?;
    let name = row[*col].as_str()?;
    let existing_id = *names.get(t)?.get(&name.to_lowercase())?;
    let object = format!("{table}:{}", row["id"].as_str().unwrap_or_default());
    Some(Collision {
        action: decide(decisions, &object),
        object,
        table: table.into(),
        name: name.into(),
        existing_id,
    })
}
