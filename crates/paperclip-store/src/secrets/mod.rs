//! Company secrets: encrypted versions, env references, resolution, and master-key operations.
//!
//! Values are encrypted before they reach SQL and decrypted only by [`resolve_env`] (for runs)
//! and the master-key rotation; no function here returns a value to an HTTP caller.

mod inline;

pub use inline::*;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use paperclip_secrets::{cipher, env, MasterKey};
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::PgConnection;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::activity::{self, Entry};
use crate::Actor;
use crate::{Result, StoreError};
use paperclip_postgres::pool::{q, qa, qs};

/// A secret's metadata as upstream serializes it (never its value).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    pub id: Uuid,
    pub company_id: Uuid,
    pub scope: String,
    #[sqlx(skip)]
    pub owner_user_id: Option<String>,
    #[sqlx(skip)]
    pub user_secret_definition_id: Option<Uuid>,
    pub key: String,
    pub name: String,
    pub provider: String,
    pub status: String,
    pub managed_mode: String,
    pub external_ref: Option<String>,
    #[sqlx(skip)]
    pub provider_config_id: Option<Uuid>,
    #[sqlx(skip)]
    pub provider_metadata: Option<Value>,
    pub latest_version: i32,
    pub description: Option<String>,
    pub last_resolved_at: Option<DateTime<Utc>>,
    pub last_rotated_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub created_by_agent_id: Option<Uuid>,
    pub created_by_user_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, company_id, 'company'::text AS scope, key, name, provider, status, managed_mode, external_ref,
    latest_version, description, last_resolved_at, last_rotated_at, deleted_at, created_by_agent_id,
    created_by_user_id, created_at, updated_at";

/// Upstream's key normalization: lowercase, runs of other characters → `-`, trimmed, ≤ 120.
pub fn normalize_key(raw: &str) -> String {
    let mut out = String::new();
    for c in raw.trim().to_lowercase().chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').chars().take(120).collect()
}

fn duplicate(e: &sqlx::Error, name: &str, key: &str) -> Option<StoreError> {
    let sqlx::Error::Database(d) = e else {
        return None;
    };
    if d.code().as_deref() != Some("23505") {
        return None;
    }
    let message = if d.constraint() == Some("company_secrets_key") {
        format!("Secret key already exists: {key}")
    } else {
        format!("Secret already exists: {name}")
    };
    Some(StoreError::conflict(
        message,
        json!({"name": name, "key": key}),
    ))
}

/// A secret to create.
#[derive(Clone, Copy)]
pub struct NewSecret<'a> {
    pub name: &'a str,
    pub key: &'a str,
    pub description: Option<&'a str>,
    pub value: &'a str,
}

/// Creates a secret with version 1 (`secret.created`).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    master: &MasterKey,
    company_id: Uuid,
    new: NewSecret<'_>,
) -> Result<Secret> {
    let NewSecret {
        name,
        key,
        description,
        value,
    } = new;
    let material = serde_json::to_value(cipher::encrypt(master, value)).expect("serializable");
    let inserted: std::result::Result<Secret, sqlx::Error> = qa(&format!(
        "INSERT INTO company_secrets (company_id, key, name, description, latest_version, last_rotated_at,
                                      created_by_agent_id, created_by_user_id)
         VALUES ($1, $2, $3, $4, 1, now(), $5, $6) RETURNING {COLUMNS}"
    ))
    .bind(company_id)
    .bind(key)
    .bind(name)
    .bind(description)
    .bind(actor.agent_id())
    .bind(actor.user_id())
    .fetch_one(&mut *conn)
    .await;
    let secret = match inserted {
        Ok(s) => s,
        Err(e) => {
            return Err(duplicate(&e, name, key)
                .unwrap_or_else(|| StoreError::sql("cannot create the secret")(e)))
        }
    };
    insert_version(conn, actor, secret.id, 1, &material, value).await?;
    activity::record(
        conn,
        actor,
        Entry {
            company_id,
            action: "secret.created",
            entity_type: "secret",
            entity_id: secret.id.to_string(),
            details: json!({"name": name, "key": key, "version": 1}),
        },
    )
    .await?;
    Ok(secret)
}

async fn insert_version(
    conn: &mut PgConnection,
    actor: &Actor,
    secret_id: Uuid,
    version: i32,
    material: &Value,
    value: &str,
) -> Result<()> {
    q("INSERT INTO company_secret_versions (secret_id, version, material, value_sha256, status, created_by_agent_id, created_by_user_id)
       VALUES ($1, $2, $3, $4, 'current', $5, $6)")
    .bind(secret_id)
    .bind(version)
    .bind(material)
    .bind(cipher::value_sha256(value))
    .bind(actor.agent_id())
    .bind(actor.user_id())
    .execute(conn)
    .await
    .map_err(StoreError::sql("cannot store the secret version"))?;
    Ok(())
}

/// Active secrets of a company.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(conn: &mut PgConnection, company_id: Uuid) -> Result<Vec<Secret>> {
    qa(&format!("SELECT {COLUMNS} FROM company_secrets WHERE company_id = $1 AND status <> 'deleted' ORDER BY name"))
        .bind(company_id)
        .fetch_all(conn)
        .await
        .map_err(StoreError::sql("cannot list secrets"))
}

/// One secret (deleted ones are not found).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn get(conn: &mut PgConnection, id: Uuid) -> Result<Option<Secret>> {
    qa(&format!(
        "SELECT {COLUMNS} FROM company_secrets WHERE id = $1 AND status <> 'deleted'"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
    .map_err(StoreError::sql("cannot read the secret"))
}

/// Renames or re-describes a secret (`secret.updated`).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn update(
    conn: &mut PgConnection,
    actor: &Actor,
    s: &Secret,
    name: Option<&str>,
    description: Option<Option<&str>>,
) -> Result<Secret> {
    let updated: std::result::Result<Secret, sqlx::Error> = qa(&format!(
        "UPDATE company_secrets SET name = COALESCE($2, name), description = CASE WHEN $3 THEN $4 ELSE description END
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(s.id)
    .bind(name)
    .bind(description.is_some())
    .bind(description.flatten())
    .fetch_one(&mut *conn)
    .await;
    let updated = updated.map_err(|e| {
        duplicate(&e, name.unwrap_or(&s.name), &s.key)
            .unwrap_or_else(|| StoreError::sql("cannot update the secret")(e))
    })?;
    activity::record(
        conn,
        actor,
        Entry {
            company_id: s.company_id,
            action: "secret.updated",
            entity_type: "secret",
            entity_id: s.id.to_string(),
            details: json!({"name": updated.name}),
        },
    )
    .await?;
    Ok(updated)
}

/// Adds version N+1 with a new value; earlier versions become `previous` (`secret.rotated`).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn rotate(
    conn: &mut PgConnection,
    actor: &Actor,
    master: &MasterKey,
    s: &Secret,
    value: &str,
) -> Result<Secret> {
    if s.status != "active" {
        return Err(StoreError::invalid(
            "status",
            "Cannot rotate a non-active secret",
        ));
    }
    // Lock the secret so concurrent rotations get consecutive versions.
    let next: i32 = qs(
        "UPDATE company_secrets SET latest_version = latest_version + 1, last_rotated_at = now()
                        WHERE id = $1 RETURNING latest_version",
    )
    .bind(s.id)
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot rotate the secret"))?;
    q("UPDATE company_secret_versions SET status = 'previous' WHERE secret_id = $1 AND status = 'current'")
        .bind(s.id)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot rotate the secret"))?;
    let material = serde_json::to_value(cipher::encrypt(master, value)).expect("serializable");
    insert_version(conn, actor, s.id, next, &material, value).await?;
    activity::record(
        conn,
        actor,
        Entry {
            company_id: s.company_id,
            action: "secret.rotated",
            entity_type: "secret",
            entity_id: s.id.to_string(),
            details: json!({"name": s.name, "version": next}),
        },
    )
    .await?;
    Ok(get(conn, s.id).await?.expect("exists"))
}

/// Deletes a secret: its versions' material is destroyed, so the value is gone for good
/// (`secret.deleted`).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn delete(conn: &mut PgConnection, actor: &Actor, s: &Secret) -> Result<()> {
    q("UPDATE company_secret_versions SET material = '{}'::jsonb, status = 'destroyed' WHERE secret_id = $1")
        .bind(s.id)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot delete the secret"))?;
    q("UPDATE company_secrets SET status = 'deleted', deleted_at = now() WHERE id = $1")
        .bind(s.id)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot delete the secret"))?;
    activity::record(
        conn,
        actor,
        Entry {
            company_id: s.company_id,
            action: "secret.deleted",
            entity_type: "secret",
            entity_id: s.id.to_string(),
            details: json!({"name": s.name}),
        },
    )
    .await
}

/// Validates an env map for persistence on a company's agent or project: names, binding shapes,
/// the redacted placeholder, references to this company's active secrets, and (in strict mode)
/// no inline sensitive values. Returns the normalized map.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn check_env(
    conn: &mut PgConnection,
    company_id: Uuid,
    env_value: &Value,
    strict: bool,
    field: &'static str,
) -> Result<Value> {
    let checked = env::check(env_value).map_err(|m| StoreError::invalid(field, m))?;
    if strict {
        if let Some(k) = checked.sensitive_plain.first() {
            return Err(StoreError::invalid(
                field,
                format!("Strict secret mode requires secret references for sensitive key: {k}"),
            ));
        }
    }
    if !checked.refs.is_empty() {
        let ids: Vec<Uuid> = checked
            .refs
            .iter()
            .map(|r| {
                Uuid::parse_str(&r.secret_id).map_err(|_| {
                    StoreError::invalid(field, format!("env.{}: secretId must be a UUID", r.key))
                })
            })
            .collect::<Result<_>>()?;
        let found: Vec<(Uuid, i32)> = qa("SELECT id, latest_version FROM company_secrets WHERE company_id = $1 AND status = 'active' AND id = ANY($2)")
            .bind(company_id)
            .bind(&ids)
            .fetch_all(&mut *conn)
            .await
            .map_err(StoreError::sql("cannot check secret references"))?;
        for (r, id) in checked.refs.iter().zip(&ids) {
            match found.iter().find(|(f, _)| f == id) {
                None => {
                    return Err(StoreError::invalid(
                        field,
                        format!("env.{}: secret {id} does not exist in this company", r.key),
                    ))
                }
                Some((_, latest)) if r.version.is_some_and(|v| v > *latest) => {
                    return Err(StoreError::invalid(
                        field,
                        format!(
                            "env.{}: secret {id} has no version {}",
                            r.key,
                            r.version.unwrap_or(0)
                        ),
                    ))
                }
                Some(_) => {}
            }
        }
    }
    Ok(Value::Object(checked.env))
}

/// The current value of an active secret of `company_id`, for the server to verify something
/// with (a webhook's signature); never sent to a caller. `None` when it is gone.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn reveal(
    conn: &mut PgConnection,
    master: &MasterKey,
    company_id: Uuid,
    secret_id: Uuid,
) -> Result<Option<Zeroizing<String>>> {
    let material: Option<Value> = qs(
        "SELECT v.material FROM company_secret_versions v JOIN company_secrets s ON s.id = v.secret_id
         WHERE s.id = $1 AND s.company_id = $2 AND s.status = 'active' AND v.version = s.latest_version",
    )
    .bind(secret_id)
    .bind(company_id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot read the secret"))?;
    material
        .map(|m| Ok(cipher::decrypt(master, &cipher::from_json(&m)?)?))
        .transpose()
}

/// Resolves an env map for a run: plain values as they are, references decrypted. Only a run
/// calls this; its values never go back to an HTTP caller.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn resolve_env(
    conn: &mut PgConnection,
    master: &MasterKey,
    company_id: Uuid,
    env_value: &Value,
) -> Result<BTreeMap<String, Zeroizing<String>>> {
    let checked = env::check(env_value).map_err(|m| StoreError::invalid("env", m))?;
    let mut out = BTreeMap::new();
    for (k, v) in &checked.env {
        if let Some(p) = v.get("value").and_then(Value::as_str) {
            out.insert(k.clone(), Zeroizing::new(p.to_string()));
        }
    }
    for r in &checked.refs {
        let id = Uuid::parse_str(&r.secret_id).map_err(|_| {
            StoreError::invalid("env", format!("env.{}: secretId must be a UUID", r.key))
        })?;
        let material: Option<Value> = qs(
            "SELECT v.material FROM company_secret_versions v JOIN company_secrets s ON s.id = v.secret_id
             WHERE s.id = $1 AND s.company_id = $2 AND s.status = 'active'
               AND v.version = COALESCE($3, s.latest_version) AND v.status IN ('current', 'previous')",
        )
        .bind(id)
        .bind(company_id)
        .bind(r.version)
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot read the secret"))?;
        let material = material.ok_or_else(|| {
            StoreError::not_found(format!(
                "env.{}: secret {id} (version {}) is not available",
                r.key,
                r.version.map_or_else(|| "latest".into(), |v| v.to_string())
            ))
        })?;
        let value = cipher::decrypt(master, &cipher::from_json(&material)?)?;
        q("UPDATE company_secrets SET last_resolved_at = now() WHERE id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::sql("cannot update the secret"))?;
        out.insert(r.key.clone(), value);
    }
    Ok(out)
}

/// Checks `master` against the stored check value, writing one if there is none. A different key
/// fails with both fingerprints.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn verify_master_key(conn: &mut PgConnection, master: &MasterKey) -> Result<()> {
    let stored: Option<(String, Value)> =
        qa("SELECT fingerprint, material FROM secrets_key_check WHERE singleton_key = 'default'")
            .fetch_optional(&mut *conn)
            .await
            .map_err(StoreError::sql("cannot read the key check"))?;
    match stored {
        Some((fingerprint, material)) => {
            let ok = cipher::from_json(&material)
                .and_then(|m| cipher::decrypt(master, &m))
                .is_ok_and(|t| t.as_str() == cipher::CHECK_PLAINTEXT);
            if ok {
                Ok(())
            } else {
                Err(StoreError::KeyMismatch {
                    stored: fingerprint,
                    current: master.fingerprint(),
                    hint: String::new(),
                })
            }
        }
        None => {
            // Secrets written before the check existed (e.g. an upstream database) must decrypt
            // with this key too, or the check would bless the wrong key.
            let sample: Option<Value> = qs("SELECT material FROM company_secret_versions WHERE status IN ('current', 'previous') LIMIT 1")
                .fetch_optional(&mut *conn)
                .await
                .map_err(StoreError::sql("cannot read secrets"))?;
            if let Some(m) = sample {
                if cipher::decrypt(master, &cipher::from_json(&m)?).is_err() {
                    return Err(StoreError::KeyMismatch {
                        stored: "unknown (no check value yet)".into(),
                        current: master.fingerprint(),
                        hint: String::new(),
                    });
                }
            }
            write_check(conn, master).await
        }
    }
}

async fn write_check(conn: &mut PgConnection, master: &MasterKey) -> Result<()> {
    let material = serde_json::to_value(cipher::encrypt(master, cipher::CHECK_PLAINTEXT))
        .expect("serializable");
    q("INSERT INTO secrets_key_check (fingerprint, material) VALUES ($1, $2)
       ON CONFLICT (singleton_key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, material = EXCLUDED.material, updated_at = now()")
    .bind(master.fingerprint())
    .bind(material)
    .execute(conn)
    .await
    .map_err(StoreError::sql("cannot write the key check"))?;
    Ok(())
}

/// Re-encrypts every stored version from `old` to `new`, and the check value, on `conn` (the
/// caller's transaction). Versions already under `new` (an interrupted earlier run) are left
/// as they are, so re-running is safe. Returns (re-encrypted, already under the new key).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn reencrypt_all(
    conn: &mut PgConnection,
    old: &MasterKey,
    new: &MasterKey,
) -> Result<(usize, usize)> {
    let rows: Vec<(Uuid, Value)> = qa(
        "SELECT id, material FROM company_secret_versions WHERE status <> 'destroyed' FOR UPDATE",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot read secret versions"))?;
    let (mut moved, mut already) = (0, 0);
    for (id, material) in rows {
        let m = cipher::from_json(&material)?;
        if cipher::decrypt(new, &m).is_ok() {
            already += 1;
            continue;
        }
        let value = cipher::decrypt(old, &m)?;
        let fresh = serde_json::to_value(cipher::encrypt(new, &value)).expect("serializable");
        q("UPDATE company_secret_versions SET material = $2 WHERE id = $1")
            .bind(id)
            .bind(fresh)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::sql("cannot store re-encrypted material"))?;
        moved += 1;
    }
    write_check(conn, new).await?;
    Ok((moved, already))
}
