//! Sign-in sessions: a random cookie token stored as its SHA-256, a CSRF token the board sends
//! back on every mutation, a fixed expiry, and revocation (sign-out, password change, the
//! user's own session list).

use super::*;

/// A session as the API shows it (never the token).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub id: Uuid,
    pub user_id: String,
    pub user_agent: Option<String>,
    pub ip_address: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str =
    "id, user_id, user_agent, ip_address, created_at, last_seen_at, expires_at, revoked_at";

/// A live session found by its cookie token.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub session: Session,
    pub csrf_token: String,
}

/// Starts a session; answers it with its cookie token and CSRF token (shown once).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn create(
    conn: &mut PgConnection,
    user_id: &str,
    ttl_secs: i64,
    user_agent: Option<&str>,
    ip: &str,
) -> Result<(Session, String, String)> {
    let token = new_token("pcs_");
    let csrf = new_token("");
    let s: Session = qa(&format!(
        "INSERT INTO user_sessions (user_id, token_hash, csrf_token, user_agent, ip_address, expires_at)
         VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6)) RETURNING {COLUMNS}"
    ))
    .bind(user_id)
    .bind(hash_token(&token))
    .bind(&csrf)
    .bind(user_agent.map(|u| u.chars().take(400).collect::<String>()))
    .bind(ip)
    .bind(ttl_secs as f64)
    .fetch_one(conn)
    .await
    .map_err(StoreError::sql("cannot start the session"))?;
    Ok((s, token, csrf))
}

/// The live (unexpired, unrevoked) session of a cookie token. Marks it seen at most once a
/// minute, so reads do not write on every request.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn resolve(conn: &mut PgConnection, token: &str) -> Result<Option<Resolved>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        session: Session,
        csrf_token: String,
    }
    let row: Option<Row> = qa(&format!(
        "SELECT {COLUMNS}, csrf_token FROM user_sessions
         WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()"
    ))
    .bind(hash_token(token))
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot read the session"))?;
    let Some(row) = row else { return Ok(None) };
    if (Utc::now() - row.session.last_seen_at).num_seconds() > 60 {
        q("UPDATE user_sessions SET last_seen_at = now() WHERE id = $1")
            .bind(row.session.id)
            .execute(conn)
            .await
            .map_err(StoreError::sql("cannot touch the session"))?;
    }
    Ok(Some(Resolved {
        session: row.session,
        csrf_token: row.csrf_token,
    }))
}

/// A user's sessions, newest first (live ones and the last 20 ended).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(conn: &mut PgConnection, user_id: &str) -> Result<Vec<Session>> {
    qa(&format!(
        "SELECT {COLUMNS} FROM user_sessions WHERE user_id = $1
         ORDER BY (revoked_at IS NULL AND expires_at > now()) DESC, created_at DESC LIMIT 100"
    ))
    .bind(user_id)
    .fetch_all(conn)
    .await
    .map_err(StoreError::sql("cannot list sessions"))
}

/// Ends one of a user's sessions; false if the user has no such live session.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn revoke(conn: &mut PgConnection, user_id: &str, id: Uuid) -> Result<bool> {
    let done = q("UPDATE user_sessions SET revoked_at = now() WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL")
        .bind(id)
        .bind(user_id)
        .execute(conn)
        .await
        .map_err(StoreError::sql("cannot end the session"))?;
    Ok(done.rows_affected() == 1)
}

/// Ends every live session of a user except `keep`; answers how many ended.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn revoke_others(
    conn: &mut PgConnection,
    user_id: &str,
    keep: Option<Uuid>,
) -> Result<u64> {
    let done = q("UPDATE user_sessions SET revoked_at = now()
                  WHERE user_id = $1 AND revoked_at IS NULL AND id IS DISTINCT FROM $2")
    .bind(user_id)
    .bind(keep)
    .execute(conn)
    .await
    .map_err(StoreError::sql("cannot end the sessions"))?;
    Ok(done.rows_affected())
}
