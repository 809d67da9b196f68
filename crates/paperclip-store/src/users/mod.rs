//! Board users of an `authenticated` deployment: accounts and passwords, instance admins,
//! sessions ([`sessions`]), company memberships, invites and join requests ([`members`]), board
//! API keys ([`board_keys`]), and instance-level audit rows (sign-ins, failed sign-ins) that
//! also drive login throttling across replicas.

pub mod board_keys;
pub mod members;
pub mod sessions;

use chrono::{DateTime, Utc};
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{Actor, BoardAccess, CompanyGrant, MembershipRole, Result, StoreError};
use paperclip_postgres::pool::{q, qa, qs};

pub use crate::agents::hash_token;

/// A board user as the API shows it (never the password hash).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
    pub is_instance_admin: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const USER_COLUMNS: &str = "u.id, u.email, u.name,
    EXISTS (SELECT 1 FROM instance_user_roles r WHERE r.user_id = u.id AND r.role = 'instance_admin') AS is_instance_admin,
    u.created_at, u.updated_at";

/// A random token with a recognisable prefix (`pcs_` sessions, `pcb_` board keys, `pci_`
/// invites): 48 alphanumerics, about 285 bits.
pub fn new_token(prefix: &str) -> String {
    let secret: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(48)
        .map(char::from)
        .collect();
    format!("{prefix}{secret}")
}

/// Lower-cased, trimmed email: the one spelling stored and looked up.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Creates a user whose password was hashed already (argon2id, see the server's `password`).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn create(
    conn: &mut PgConnection,
    email: &str,
    name: &str,
    password_hash: &str,
) -> Result<User> {
    let id = Uuid::new_v4().to_string();
    let email = normalize_email(email);
    let taken: bool = qs("SELECT EXISTS (SELECT 1 FROM board_users WHERE email = $1)")
        .bind(&email)
        .fetch_one(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot check the email"))?;
    if taken {
        return Err(StoreError::conflict(
            "An account with this email exists; sign in instead",
            json!({"field": "email"}),
        ));
    }
    q("INSERT INTO board_users (id, email, name, password_hash) VALUES ($1, $2, $3, $4)")
        .bind(&id)
        .bind(&email)
        .bind(name.trim())
        .bind(password_hash)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot create the user"))?;
    get(conn, &id)
        .await?
        .ok_or_else(|| StoreError::conflict("The user vanished", json!({})))
}

/// A user by id.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn get(conn: &mut PgConnection, id: &str) -> Result<Option<User>> {
    qa(&format!(
        "SELECT {USER_COLUMNS} FROM board_users u WHERE u.id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
    .map_err(StoreError::sql("cannot read the user"))
}

/// A user and their password hash by email, for sign-in.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn by_email(conn: &mut PgConnection, email: &str) -> Result<Option<(User, String)>> {
    let Some(id): Option<String> = qs("SELECT id FROM board_users WHERE email = $1")
        .bind(normalize_email(email))
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot find the user"))?
    else {
        return Ok(None);
    };
    let hash: String = qs("SELECT password_hash FROM board_users WHERE id = $1")
        .bind(&id)
        .fetch_one(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot read the password"))?;
    Ok(get(conn, &id).await?.map(|u| (u, hash)))
}

/// The stored password hash of a user.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn password_hash(conn: &mut PgConnection, id: &str) -> Result<Option<String>> {
    qs("SELECT password_hash FROM board_users WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(StoreError::sql("cannot read the password"))
}

/// Replaces a user's password hash.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn set_password(conn: &mut PgConnection, id: &str, hash: &str) -> Result<()> {
    q("UPDATE board_users SET password_hash = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(hash)
        .execute(conn)
        .await
        .map_err(StoreError::sql("cannot change the password"))?;
    Ok(())
}

/// Every user, oldest first (instance admins).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(conn: &mut PgConnection) -> Result<Vec<User>> {
    qa(&format!(
        "SELECT {USER_COLUMNS} FROM board_users u ORDER BY u.created_at, u.id"
    ))
    .fetch_all(conn)
    .await
    .map_err(StoreError::sql("cannot list users"))
}

/// Whether any instance admin exists (else the instance is `bootstrap_pending`).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn admin_exists(conn: &mut PgConnection) -> Result<bool> {
    qs("SELECT EXISTS (SELECT 1 FROM instance_user_roles WHERE role = 'instance_admin')")
        .fetch_one(conn)
        .await
        .map_err(StoreError::sql("cannot check for an instance admin"))
}

/// Makes or unmakes an instance admin; false if no such user. The last admin cannot be demoted:
/// the instance would lock everyone out of its own routes.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn set_instance_admin(
    conn: &mut PgConnection,
    actor: &Actor,
    user_id: &str,
    admin: bool,
) -> Result<bool> {
    if get(conn, user_id).await?.is_none() {
        return Ok(false);
    }
    // Serializes promotions and demotions, so two demotions cannot both pass the last-admin check.
    q("SELECT pg_advisory_xact_lock(hashtext('paperclip.instance_admins'))")
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot lock the admin list"))?;
    if admin {
        q("INSERT INTO instance_user_roles (user_id, role) VALUES ($1, 'instance_admin') ON CONFLICT DO NOTHING")
            .bind(user_id)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::sql("cannot promote the user"))?;
    } else {
        let others: i64 = qs("SELECT count(*) FROM instance_user_roles WHERE role = 'instance_admin' AND user_id <> $1")
            .bind(user_id)
            .fetch_one(&mut *conn)
            .await
            .map_err(StoreError::sql("cannot count admins"))?;
        if others == 0 {
            return Err(StoreError::conflict(
                "The last instance admin cannot be demoted; promote another user first",
                json!({"userId": user_id}),
            ));
        }
        q("DELETE FROM instance_user_roles WHERE user_id = $1 AND role = 'instance_admin'")
            .bind(user_id)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::sql("cannot demote the user"))?;
    }
    let action = if admin {
        "user.promoted_instance_admin"
    } else {
        "user.demoted_instance_admin"
    };
    record_instance(conn, actor, action, user_id, json!({})).await?;
    Ok(true)
}

/// What a board user may reach: every company (instance admin) or their active memberships.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn access_of(conn: &mut PgConnection, user_id: &str) -> Result<BoardAccess> {
    let admin: bool = qs("SELECT EXISTS (SELECT 1 FROM instance_user_roles WHERE user_id = $1 AND role = 'instance_admin')")
        .bind(user_id)
        .fetch_one(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot read the user's roles"))?;
    if admin {
        return Ok(BoardAccess::Instance);
    }
    let rows: Vec<(Uuid, String)> = qa(
        "SELECT company_id, membership_role FROM company_memberships WHERE user_id = $1 AND status = 'active'",
    )
    .bind(user_id)
    .fetch_all(conn)
    .await
    .map_err(StoreError::sql("cannot read the user's memberships"))?;
    Ok(BoardAccess::Companies {
        grants: rows
            .into_iter()
            .filter_map(|(company_id, role)| {
                Some(CompanyGrant {
                    company_id,
                    role: role.parse::<MembershipRole>().ok()?,
                })
            })
            .collect(),
        mutating: false,
    })
}

/// An instance-level audit row (no company): sign-ins, failed sign-ins, admin changes.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn record_instance(
    conn: &mut PgConnection,
    actor: &Actor,
    action: &str,
    entity_id: &str,
    details: Value,
) -> Result<()> {
    q("INSERT INTO activity_log (company_id, actor_type, actor_id, action, entity_type, entity_id, details)
       VALUES (NULL, $1, $2, $3, 'user', $4, $5)")
        .bind(actor.actor_type())
        .bind(actor.actor_id())
        .bind(action)
        .bind(entity_id)
        .bind(details)
        .execute(conn)
        .await
        .map_err(StoreError::sql("cannot record the event"))?;
    Ok(())
}

/// Records a failed sign-in (the email tried and the client address; never the password).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn record_failed_sign_in(
    conn: &mut PgConnection,
    email: &str,
    client: &str,
    reason: &str,
) -> Result<()> {
    let email = normalize_email(email);
    record_instance(
        conn,
        &Actor::system(),
        "auth.sign_in_failed",
        &email,
        json!({"email": email, "clientAddress": client, "reason": reason}),
    )
    .await
}

/// Failed sign-ins in the last `window_secs` for this email and from this client address.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn recent_failures(
    conn: &mut PgConnection,
    email: &str,
    client: &str,
    window_secs: i64,
) -> Result<(i64, i64)> {
    qa("SELECT count(*) FILTER (WHERE entity_id = $1), count(*) FILTER (WHERE details->>'clientAddress' = $2)
        FROM activity_log
        WHERE company_id IS NULL AND action = 'auth.sign_in_failed'
          AND created_at > now() - make_interval(secs => $3)")
    .bind(normalize_email(email))
    .bind(client)
    .bind(window_secs as f64)
    .fetch_one(conn)
    .await
    .map_err(StoreError::sql("cannot count failed sign-ins"))
}
