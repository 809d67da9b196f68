//! Board users and who belongs where: sign-up and sign-in, sessions, board API keys, invites,
//! join requests, members, instance admins (authenticated mode).

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `POST /auth/sign-up/email`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignUp {
    #[schemars(required, with = "String", length(min = 3, max = 320))]
    pub email: Option<String>,
    #[schemars(required, with = "String", length(min = 10, max = 256))]
    pub password: Option<String>,
    #[schemars(length(max = 200))]
    pub name: Option<String>,
    /// An invite link's token: required while sign-up is closed (`auth.disableSignUp`), and
    /// accepted with the new account in one step.
    pub invite_token: Option<String>,
}

/// `POST /auth/sign-in/email`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignIn {
    #[schemars(required, with = "String", length(min = 1, max = 320))]
    pub email: Option<String>,
    #[schemars(required, with = "String", length(min = 1, max = 256))]
    pub password: Option<String>,
}

/// `POST /auth/change-password`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangePassword {
    #[schemars(required, with = "String", length(min = 1, max = 256))]
    pub current_password: Option<String>,
    #[schemars(required, with = "String", length(min = 10, max = 256))]
    pub new_password: Option<String>,
    /// End every other session of the account (default true).
    pub revoke_other_sessions: Option<bool>,
}

/// `POST /auth/revoke-session`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevokeSession {
    #[schemars(required, with = "Uuid")]
    pub id: Option<Uuid>,
}

/// The signed-in user.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionUser {
    pub id: String,
    pub email: Option<String>,
    pub name: String,
    pub is_instance_admin: bool,
}

/// The session behind a cookie.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    pub id: Uuid,
    pub user_id: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// `GET /auth/get-session` and what signing in answers: `{session, user}` as upstream, plus
/// the CSRF token a browser sends back in `X-Paperclip-CSRF` and the companies it reaches.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthSession {
    /// Null for the implicit board of `local_trusted` mode and for bearer keys.
    pub session: Option<SessionInfo>,
    pub user: SessionUser,
    pub csrf_token: Option<String>,
    /// `local_implicit`, `session` or `board_key`.
    pub source: String,
    /// Companies the user is an active member of (instance admins reach every company).
    pub company_ids: Vec<Uuid>,
}

/// `{ "success": true }`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Done {
    pub success: bool,
}

/// `POST /board-api-keys`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateBoardKey {
    #[schemars(required, with = "String", length(min = 1, max = 120))]
    pub name: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Narrow the key to one company the user reaches.
    pub requested_company_id: Option<Uuid>,
}

/// `POST /companies/{companyId}/invites`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateInvite {
    /// Only `human` invites are served here (agents are hired, not invited).
    #[schemars(extend("enum" = ["human"]))]
    pub allowed_join_types: Option<String>,
    #[schemars(extend("enum" = crate::one_of(paperclip_domain::MembershipRole::NAMES, true)))]
    pub human_role: Option<String>,
    /// Hours until the link expires (default 72, at most 720).
    #[schemars(range(min = 1, max = 720))]
    pub expires_in_hours: Option<i64>,
}

/// `POST /invites/{token}/accept`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcceptInvite {
    #[schemars(extend("enum" = ["human"]))]
    pub request_type: Option<String>,
}

/// `PATCH /companies/{companyId}/members/{memberId}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PatchMember {
    #[schemars(extend("enum" = crate::one_of(paperclip_domain::MembershipRole::NAMES, false)))]
    pub membership_role: Option<String>,
    #[schemars(extend("enum" = ["active", "suspended"]))]
    pub status: Option<String>,
}

/// `POST /companies/{companyId}/invites`: the invite and, this once, its token and link.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedInvite<I> {
    #[serde(flatten)]
    pub invite: I,
    /// The token (`pci_…`); never stored, never shown again.
    pub token: String,
    /// The link to send: the board's invite page for this token.
    pub invite_url: String,
}

/// What accepting an invite did.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcceptedInvite<J> {
    /// `instance_admin` (the bootstrap invite) or `join_request` (waits for approval).
    pub outcome: String,
    pub join_request: Option<J>,
    /// Companies the first admin took over from `local_trusted`'s implicit board.
    pub claimed_companies: Option<u64>,
}

/// `GET /invites/{token}`: what the link offers, for the invite page (no sign-in needed).
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InviteSummary {
    pub id: Uuid,
    pub company_id: Option<Uuid>,
    pub company_name: Option<String>,
    /// `company_join` or `bootstrap_ceo`.
    pub invite_type: String,
    pub human_role: Option<String>,
    pub expires_at: DateTime<Utc>,
    /// `active`, `accepted`, `revoked` or `expired`.
    pub status: String,
    /// Whether a new account may be created with this link (sign-up is otherwise closed).
    pub sign_up_allowed: bool,
}

/// The body of an action that takes no input (`{}` or none); any field is refused by name.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoInput {}
