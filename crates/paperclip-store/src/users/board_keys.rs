//! Board API keys: a user's named bearer tokens for scripts and the CLI, hashed at rest, shown
//! once, optionally expiring and narrowed to one company, revocable.

use super::*;

/// A board key's metadata (never the hash or the token).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct BoardKey {
    pub id: Uuid,
    pub user_id: String,
    pub name: String,
    pub company_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str =
    "id, user_id, name, company_id, created_at, expires_at, last_used_at, revoked_at";

/// Creates a key; answers it with its plaintext token (shown once).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    user_id: &str,
    name: &str,
    expires_at: Option<DateTime<Utc>>,
    company_id: Option<Uuid>,
) -> Result<(BoardKey, String)> {
    let token = new_token("pcb_");
    let key: BoardKey = qa(&format!(
        "INSERT INTO board_api_keys (user_id, name, key_hash, expires_at, company_id)
         VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    ))
    .bind(user_id)
    .bind(name.trim())
    .bind(hash_token(&token))
    .bind(expires_at)
    .bind(company_id)
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot create the board key"))?;
    record_instance(
        conn,
        actor,
        "board_api_key.created",
        user_id,
        json!({"keyId": key.id, "name": key.name}),
    )
    .await?;
    Ok((key, token))
}

/// A user's keys, newest first.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(conn: &mut PgConnection, user_id: &str) -> Result<Vec<BoardKey>> {
    qa(&format!(
        "SELECT {COLUMNS} FROM board_api_keys WHERE user_id = $1 ORDER BY created_at DESC"
    ))
    .bind(user_id)
    .fetch_all(conn)
    .await
    .map_err(StoreError::sql("cannot list board keys"))
}

/// Revokes one of a user's keys; false if the user has no such key.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn revoke(
    conn: &mut PgConnection,
    actor: &Actor,
    user_id: &str,
    id: Uuid,
) -> Result<bool> {
    let done = q("UPDATE board_api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot revoke the board key"))?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    record_instance(
        conn,
        actor,
        "board_api_key.revoked",
        user_id,
        json!({"keyId": id}),
    )
    .await?;
    Ok(true)
}

/// The user and company narrowing of a live key (not revoked, not expired).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn authenticate(
    conn: &mut PgConnection,
    token: &str,
) -> Result<Option<(String, Option<Uuid>)>> {
    qa("UPDATE board_api_keys SET last_used_at = now()
        WHERE key_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
        RETURNING user_id, company_id")
    .bind(hash_token(token))
    .fetch_optional(conn)
    .await
    .map_err(StoreError::sql("cannot check the board key"))
}
