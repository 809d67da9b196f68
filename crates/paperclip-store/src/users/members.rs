//! Who belongs to a company: memberships with roles, invite links (expiring, single use) and
//! the join requests an accepted invite opens, which an owner or admin approves.

use super::*;

/// A company member.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub id: Uuid,
    pub company_id: Uuid,
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub membership_role: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const MEMBER: &str =
    "SELECT m.id, m.company_id, m.user_id, u.email, u.name, m.membership_role, m.status,
    m.created_at, m.updated_at FROM company_memberships m JOIN board_users u ON u.id = m.user_id";

/// An invite (never its token).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Invite {
    pub id: Uuid,
    pub company_id: Option<Uuid>,
    pub company_name: Option<String>,
    pub invite_type: String,
    pub allowed_join_types: String,
    pub human_role: Option<String>,
    pub created_by_user_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub accepted_by_user_id: Option<String>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// `active`, `accepted`, `revoked` or `expired`.
    pub status: String,
}

const INVITE: &str = "SELECT i.id, i.company_id, c.name AS company_name, i.invite_type, i.allowed_join_types,
    i.human_role, i.created_by_user_id, i.created_at, i.expires_at, i.accepted_at, i.accepted_by_user_id,
    i.revoked_at,
    CASE WHEN i.revoked_at IS NOT NULL THEN 'revoked' WHEN i.accepted_at IS NOT NULL THEN 'accepted'
         WHEN i.expires_at <= now() THEN 'expired' ELSE 'active' END AS status
    FROM invites i LEFT JOIN companies c ON c.id = i.company_id";

/// A request to join a company, opened by accepting its invite.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct JoinRequest {
    pub id: Uuid,
    pub company_id: Uuid,
    pub invite_id: Uuid,
    pub request_type: String,
    pub requesting_user_id: String,
    pub email: String,
    pub name: String,
    pub membership_role: String,
    pub status: String,
    pub decided_by_user_id: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

const JOIN: &str =
    "SELECT j.id, j.company_id, j.invite_id, j.request_type, j.requesting_user_id, u.email, u.name,
    j.membership_role, j.status, j.decided_by_user_id, j.decided_at, j.created_at
    FROM join_requests j JOIN board_users u ON u.id = j.requesting_user_id";

fn company_entry(
    company_id: Uuid,
    action: &'static str,
    entity: &'static str,
    id: String,
    details: Value,
) -> crate::activity::Entry<'static> {
    crate::activity::Entry {
        company_id,
        action,
        entity_type: entity,
        entity_id: id,
        details,
    }
}

/// A company's members, owners first.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(conn: &mut PgConnection, company_id: Uuid) -> Result<Vec<Member>> {
    qa(&format!(
        "{MEMBER} WHERE m.company_id = $1
         ORDER BY array_position(ARRAY['owner','admin','operator','viewer'], m.membership_role), u.email"
    ))
    .bind(company_id)
    .fetch_all(conn)
    .await
    .map_err(StoreError::sql("cannot list members"))
}

/// Adds (or reactivates) a membership.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn add(
    conn: &mut PgConnection,
    actor: &Actor,
    company_id: Uuid,
    user_id: &str,
    role: MembershipRole,
) -> Result<Member> {
    let id: Uuid = qs(
        "INSERT INTO company_memberships (company_id, user_id, membership_role, status)
        VALUES ($1, $2, $3, 'active')
        ON CONFLICT (company_id, user_id) DO UPDATE SET membership_role = EXCLUDED.membership_role,
            status = 'active', updated_at = now()
        RETURNING id",
    )
    .bind(company_id)
    .bind(user_id)
    .bind(role.as_str())
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot add the member"))?;
    crate::activity::record(
        conn,
        actor,
        company_entry(
            company_id,
            "member.added",
            "member",
            id.to_string(),
            json!({"userId": user_id, "membershipRole": role.as_str()}),
        ),
    )
    .await?;
    get(conn, company_id, id)
        .await?
        .ok_or_else(|| StoreError::conflict("The membership vanished", json!({})))
}

/// One membership of a company.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn get(conn: &mut PgConnection, company_id: Uuid, id: Uuid) -> Result<Option<Member>> {
    qa(&format!("{MEMBER} WHERE m.company_id = $1 AND m.id = $2"))
        .bind(company_id)
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(StoreError::sql("cannot read the member"))
}

/// Changes a member's role or status. A company keeps at least one active owner.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn update(
    conn: &mut PgConnection,
    actor: &Actor,
    company_id: Uuid,
    id: Uuid,
    role: Option<MembershipRole>,
    status: Option<&str>,
) -> Result<Option<Member>> {
    // One writer per company's membership list at a time: the last-owner check holds.
    q("SELECT id FROM companies WHERE id = $1 FOR UPDATE")
        .bind(company_id)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot lock the company"))?;
    let Some(before) = get(conn, company_id, id).await? else {
        return Ok(None);
    };
    let new_role = role.map_or(before.membership_role.clone(), |r| r.as_str().to_string());
    let new_status = status.unwrap_or(&before.status).to_string();
    if before.membership_role == "owner"
        && before.status == "active"
        && (new_role != "owner" || new_status != "active")
    {
        let owners: i64 = qs(
            "SELECT count(*) FROM company_memberships
            WHERE company_id = $1 AND membership_role = 'owner' AND status = 'active' AND id <> $2",
        )
        .bind(company_id)
        .bind(id)
        .fetch_one(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot count owners"))?;
        if owners == 0 {
            return Err(StoreError::conflict(
                "A company keeps at least one active owner; make another member owner first",
                json!({"memberId": id}),
            ));
        }
    }
    q(
        "UPDATE company_memberships SET membership_role = $3, status = $4, updated_at = now()
       WHERE company_id = $1 AND id = $2",
    )
    .bind(company_id)
    .bind(id)
    .bind(&new_role)
    .bind(&new_status)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot update the member"))?;
    crate::activity::record(
        conn,
        actor,
        company_entry(
            company_id,
            "member.updated",
            "member",
            id.to_string(),
            json!({"membershipRole": new_role, "status": new_status}),
        ),
    )
    .await?;
    get(conn, company_id, id).await
}

/// Creates an invite; answers it with its token (shown once). `company_id` None is the
/// bootstrap invite that makes the first instance admin.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn create_invite(
    conn: &mut PgConnection,
    actor: &Actor,
    company_id: Option<Uuid>,
    role: Option<MembershipRole>,
    ttl_secs: i64,
) -> Result<(Invite, String)> {
    let token = new_token("pci_");
    let kind = if company_id.is_some() {
        "company_join"
    } else {
        "bootstrap_ceo"
    };
    let id: Uuid = qs("INSERT INTO invites (company_id, invite_type, token_hash, human_role, created_by_user_id, expires_at)
        VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6)) RETURNING id")
    .bind(company_id)
    .bind(kind)
    .bind(hash_token(&token))
    .bind(role.map(MembershipRole::as_str))
    .bind(actor.user_id())
    .bind(ttl_secs as f64)
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot create the invite"))?;
    match company_id {
        Some(c) => {
            crate::activity::record(
                conn,
                actor,
                company_entry(
                    c,
                    "invite.created",
                    "invite",
                    id.to_string(),
                    json!({"humanRole": role.map(MembershipRole::as_str)}),
                ),
            )
            .await?;
        }
        None => {
            record_instance(
                conn,
                actor,
                "invite.bootstrap_created",
                &id.to_string(),
                json!({}),
            )
            .await?;
        }
    }
    let invite = invite(conn, id)
        .await?
        .ok_or_else(|| StoreError::conflict("The invite vanished", json!({})))?;
    Ok((invite, token))
}

/// An invite by id.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn invite(conn: &mut PgConnection, id: Uuid) -> Result<Option<Invite>> {
    qa(&format!("{INVITE} WHERE i.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(StoreError::sql("cannot read the invite"))
}

/// An invite by its token.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn invite_by_token(conn: &mut PgConnection, token: &str) -> Result<Option<Invite>> {
    qa(&format!("{INVITE} WHERE i.token_hash = $1"))
        .bind(hash_token(token))
        .fetch_optional(conn)
        .await
        .map_err(StoreError::sql("cannot read the invite"))
}

/// A company's invites, newest first.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn invites(conn: &mut PgConnection, company_id: Uuid) -> Result<Vec<Invite>> {
    qa(&format!(
        "{INVITE} WHERE i.company_id = $1 ORDER BY i.created_at DESC LIMIT 200"
    ))
    .bind(company_id)
    .fetch_all(conn)
    .await
    .map_err(StoreError::sql("cannot list invites"))
}

/// Whether an unused, unexpired bootstrap invite exists.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn bootstrap_invite_active(conn: &mut PgConnection) -> Result<bool> {
    qs(
        "SELECT EXISTS (SELECT 1 FROM invites WHERE invite_type = 'bootstrap_ceo'
        AND revoked_at IS NULL AND accepted_at IS NULL AND expires_at > now())",
    )
    .fetch_one(conn)
    .await
    .map_err(StoreError::sql("cannot check the bootstrap invite"))
}

/// Revokes an invite (used ones stay as they are).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn revoke_invite(conn: &mut PgConnection, actor: &Actor, inv: &Invite) -> Result<Invite> {
    q("UPDATE invites SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 AND accepted_at IS NULL")
        .bind(inv.id)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot revoke the invite"))?;
    match inv.company_id {
        Some(c) => {
            crate::activity::record(
                conn,
                actor,
                company_entry(c, "invite.revoked", "invite", inv.id.to_string(), json!({})),
            )
            .await?;
        }
        None => {
            record_instance(
                conn,
                actor,
                "invite.revoked",
                &inv.id.to_string(),
                json!({}),
            )
            .await?;
        }
    }
    invite(conn, inv.id)
        .await?
        .ok_or_else(|| StoreError::conflict("The invite vanished", json!({})))
}

/// What accepting an invite did.
#[derive(Debug, Clone)]
pub enum Accepted {
    /// The bootstrap invite: the user is an instance admin and owns every company that had no
    /// owner (the companies of `local_trusted`'s implicit board).
    InstanceAdmin { claimed_companies: u64 },
    /// A company invite: a join request waits for an owner or admin.
    JoinRequest(Box<JoinRequest>),
}

/// Accepts an invite for `user_id`, once: the invite row is locked, so two accepts race to one
/// winner. An expired, revoked or used invite is refused (409).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn accept(conn: &mut PgConnection, user_id: &str, token: &str) -> Result<Accepted> {
    let row: Option<(Uuid, Option<Uuid>, Option<String>, String)> = qa(
        "SELECT id, company_id, human_role,
            CASE WHEN revoked_at IS NOT NULL THEN 'revoked' WHEN accepted_at IS NOT NULL THEN 'accepted'
                 WHEN expires_at <= now() THEN 'expired' ELSE 'active' END
         FROM invites WHERE token_hash = $1 FOR UPDATE",
    )
    .bind(hash_token(token))
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot read the invite"))?;
    let Some((id, company_id, role, status)) = row else {
        return Err(paperclip_domain::DomainError::NotFound("Invite not found".into()).into());
    };
    if status != "active" {
        let why = match status.as_str() {
            "accepted" => "This invite has been used already",
            "revoked" => "This invite was revoked",
            _ => "This invite has expired",
        };
        return Err(StoreError::conflict(why, json!({"inviteStatus": status})));
    }
    q("UPDATE invites SET accepted_at = now(), accepted_by_user_id = $2 WHERE id = $1")
        .bind(id)
        .bind(user_id)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot accept the invite"))?;
    let actor = Actor {
        kind: crate::ActorKind::Board {
            user_id: user_id.to_string(),
            access: BoardAccess::Companies {
                grants: Vec::new(),
                mutating: true,
            },
        },
        run_id: None,
    };
    match company_id {
        None => {
            q("INSERT INTO instance_user_roles (user_id, role) VALUES ($1, 'instance_admin') ON CONFLICT DO NOTHING")
                .bind(user_id)
                .execute(&mut *conn)
                .await
                .map_err(StoreError::sql("cannot make the instance admin"))?;
            let claimed = claim_local_board(conn, user_id).await?;
            record_instance(
                conn,
                &actor,
                "auth.bootstrap_claimed",
                user_id,
                json!({"inviteId": id, "claimedCompanies": claimed}),
            )
            .await?;
            Ok(Accepted::InstanceAdmin {
                claimed_companies: claimed,
            })
        }
        Some(company_id) => {
            let role = role.unwrap_or_else(|| "operator".into());
            let jid: Uuid = qs("INSERT INTO join_requests (company_id, invite_id, request_type, requesting_user_id, membership_role)
                VALUES ($1, $2, 'human', $3, $4) RETURNING id")
            .bind(company_id)
            .bind(id)
            .bind(user_id)
            .bind(&role)
            .fetch_one(&mut *conn)
            .await
            .map_err(StoreError::sql("cannot open the join request"))?;
            crate::activity::record(
                conn,
                &actor,
                company_entry(
                    company_id,
                    "join_request.created",
                    "join_request",
                    jid.to_string(),
                    json!({"inviteId": id}),
                ),
            )
            .await?;
            let j = join_request(conn, company_id, jid)
                .await?
                .ok_or_else(|| StoreError::conflict("The join request vanished", json!({})))?;
            Ok(Accepted::JoinRequest(Box::new(j)))
        }
    }
}

/// Board claim: every company without an active owner (those `local_trusted`'s implicit board
/// ran) gets `user_id` as owner, and work assigned to the implicit board moves to them.
async fn claim_local_board(conn: &mut PgConnection, user_id: &str) -> Result<u64> {
    let done = q("INSERT INTO company_memberships (company_id, user_id, membership_role, status)
        SELECT c.id, $1, 'owner', 'active' FROM companies c
        WHERE NOT EXISTS (SELECT 1 FROM company_memberships m
                          WHERE m.company_id = c.id AND m.membership_role = 'owner' AND m.status = 'active')
        ON CONFLICT (company_id, user_id) DO UPDATE SET membership_role = 'owner', status = 'active', updated_at = now()")
    .bind(user_id)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot claim the companies"))?;
    q("UPDATE issues SET assignee_user_id = $1 WHERE assignee_user_id = $2")
        .bind(user_id)
        .bind(paperclip_domain::LOCAL_BOARD_USER)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot move the board's issues"))?;
    Ok(done.rows_affected())
}

/// One join request of a company.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn join_request(
    conn: &mut PgConnection,
    company_id: Uuid,
    id: Uuid,
) -> Result<Option<JoinRequest>> {
    qa(&format!("{JOIN} WHERE j.company_id = $1 AND j.id = $2"))
        .bind(company_id)
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(StoreError::sql("cannot read the join request"))
}

/// A company's join requests, pending first.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn join_requests(conn: &mut PgConnection, company_id: Uuid) -> Result<Vec<JoinRequest>> {
    qa(&format!(
        "{JOIN} WHERE j.company_id = $1 ORDER BY (j.status = 'pending_approval') DESC, j.created_at DESC LIMIT 200"
    ))
    .bind(company_id)
    .fetch_all(conn)
    .await
    .map_err(StoreError::sql("cannot list join requests"))
}

/// Approves (the user becomes a member with the invite's role) or rejects a pending request.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn decide(
    conn: &mut PgConnection,
    actor: &Actor,
    company_id: Uuid,
    id: Uuid,
    approve: bool,
) -> Result<Option<JoinRequest>> {
    let status: Option<String> =
        qs("SELECT status FROM join_requests WHERE company_id = $1 AND id = $2 FOR UPDATE")
            .bind(company_id)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(StoreError::sql("cannot read the join request"))?;
    let Some(status) = status else {
        return Ok(None);
    };
    if status != "pending_approval" {
        return Err(StoreError::conflict(
            format!("The join request was {status} already"),
            json!({"status": status}),
        ));
    }
    let new = if approve { "approved" } else { "rejected" };
    q("UPDATE join_requests SET status = $3, decided_by_user_id = $4, decided_at = now() WHERE company_id = $1 AND id = $2")
        .bind(company_id)
        .bind(id)
        .bind(new)
        .bind(actor.user_id())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot decide the join request"))?;
    let j = join_request(conn, company_id, id)
        .await?
        .ok_or_else(|| StoreError::conflict("The join request vanished", json!({})))?;
    let action = if approve {
        "join_request.approved"
    } else {
        "join_request.rejected"
    };
    crate::activity::record(
        conn,
        actor,
        company_entry(
            company_id,
            action,
            "join_request",
            id.to_string(),
            json!({"userId": j.requesting_user_id}),
        ),
    )
    .await?;
    if approve {
        let role = j
            .membership_role
            .parse()
            .unwrap_or(MembershipRole::Operator);
        add(conn, actor, company_id, &j.requesting_user_id, role).await?;
    }
    Ok(Some(j))
}
