//! Agent API keys: created once with their plaintext, stored as SHA-256, revoked, authenticated.

use super::*;

/// An API key's metadata (never the hash or the token).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    pub id: Uuid,
    pub agent_id: Uuid,
    pub company_id: Uuid,
    pub name: String,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// SHA-256 hex of a token: what the database stores.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Creates a key and returns it with its plaintext token (shown once).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn create_key(
    conn: &mut PgConnection,
    actor: &Actor,
    agent: &Agent,
    name: &str,
) -> Result<(ApiKey, String)> {
    let secret: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(48)
        .map(char::from)
        .collect();
    let token = format!("pcp_{secret}");
    let key: ApiKey = qa(
        "INSERT INTO agent_api_keys (agent_id, company_id, name, key_hash) VALUES ($1, $2, $3, $4)
         RETURNING id, agent_id, company_id, name, last_used_at, revoked_at, created_at",
    )
    .bind(agent.id)
    .bind(agent.company_id)
    .bind(name)
    .bind(hash_token(&token))
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot create the key"))?;
    activity::record(
        conn,
        actor,
        Entry {
            company_id: agent.company_id,
            action: "agent.key_created",
            entity_type: "agent",
            entity_id: agent.id.to_string(),
            details: json!({"keyId": key.id, "name": name}),
        },
    )
    .await?;
    Ok((key, token))
}

/// Keys of an agent, newest first.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list_keys(conn: &mut PgConnection, agent_id: Uuid) -> Result<Vec<ApiKey>> {
    qa(
        "SELECT id, agent_id, company_id, name, last_used_at, revoked_at, created_at
        FROM agent_api_keys WHERE agent_id = $1 ORDER BY created_at DESC",
    )
    .bind(agent_id)
    .fetch_all(conn)
    .await
    .map_err(StoreError::sql("cannot list keys"))
}

/// Revokes a key; false if the agent has no such key.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn revoke_key(
    conn: &mut PgConnection,
    actor: &Actor,
    agent: &Agent,
    key_id: Uuid,
) -> Result<bool> {
    let done = q("UPDATE agent_api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 AND agent_id = $2")
        .bind(key_id)
        .bind(agent.id)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot revoke the key"))?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    activity::record(
        conn,
        actor,
        Entry {
            company_id: agent.company_id,
            action: "agent.key_revoked",
            entity_type: "agent",
            entity_id: agent.id.to_string(),
            details: json!({"keyId": key_id}),
        },
    )
    .await?;
    Ok(true)
}

/// Resolves a bearer token to `(agent_id, company_id)` if the key is live and the agent may act.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn authenticate(conn: &mut PgConnection, token: &str) -> Result<Option<(Uuid, Uuid)>> {
    qa("UPDATE agent_api_keys k SET last_used_at = now()
        FROM agents a
        WHERE k.key_hash = $1 AND k.revoked_at IS NULL AND a.id = k.agent_id
          AND a.status NOT IN ('terminated', 'pending_approval')
        RETURNING k.agent_id, k.company_id")
    .bind(hash_token(token))
    .fetch_optional(conn)
    .await
    .map_err(StoreError::sql("cannot check the API key"))
}
