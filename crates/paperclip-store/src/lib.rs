//! The store: every SQL statement of the control plane, one module per resource, and the
//! migrations that shape its tables.
//!
//! Functions take a `&mut PgConnection` (a [`crate::Session`] or a transaction) so a caller can
//! compose several of them in one transaction; every mutation writes its activity row through
//! [`activity::record`] on the same connection, so the audit log and the data never disagree.
//! Rows are returned as types that serialize to upstream's JSON (camelCase).

pub mod activity;
pub mod agents;
pub mod approvals;
pub mod attachments;
pub mod comments;
pub mod companies;
pub mod costs;
pub mod deletes;
pub mod documents;
mod error;
pub mod goals;
pub mod inbox;
pub mod issues;
pub mod keyring;
pub mod labels;
pub mod live;
pub mod migrate;
pub mod orchestration;
pub mod plugins;
pub mod portability;
pub mod projects;
pub mod routines;
pub mod runs;
pub mod secrets;
pub mod users;
pub mod work_products;

/// Start of the current UTC calendar month, the budget window.
pub const MONTH_START: &str = "date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'";

/// Rows of `cost_monthly_totals` (aliased `t`) in the budget window: the current UTC month, and
/// any later one an event was dated in (as `occurred_at >= MONTH_START` counts them).
pub(crate) const IN_BUDGET_WINDOW: &str = "t.month >= paperclip_cost_month(now())";

/// Month-to-date spend of the agent row `a`, from the totals the cost events keep.
pub(crate) const AGENT_SPEND: &str = "COALESCE((SELECT sum(t.cost_cents) FROM cost_monthly_totals t
     WHERE t.company_id = a.company_id AND t.agent_id = a.id AND t.month >= paperclip_cost_month(now())), 0)::bigint";

/// Month-to-date spend of each agent of the company `$1` (`agent_id`, `cents`), to join.
pub(crate) const COMPANY_AGENT_SPEND: &str =
    "(SELECT t.agent_id, sum(t.cost_cents) AS cents FROM cost_monthly_totals t
     WHERE t.company_id = $1 AND t.month >= paperclip_cost_month(now()) GROUP BY t.agent_id)";

/// Month-to-date spend of the company row `c`, from the totals the cost events keep.
pub(crate) const COMPANY_SPEND: &str =
    "COALESCE((SELECT sum(t.cost_cents) FROM cost_monthly_totals t
     WHERE t.company_id = c.id AND t.month >= paperclip_cost_month(now())), 0)::bigint";

pub use error::StoreError;
pub use paperclip_domain::{Actor, ActorKind, BoardAccess, CompanyGrant, MembershipRole};
pub use paperclip_postgres::{Db, Session};

/// The database's current snapshot as text (`xmin:xmax:xip,…`). Two equal snapshots see the
/// same committed transactions, so the same data: the server reuses an answer while it holds.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn current_snapshot(conn: &mut sqlx::PgConnection) -> Result<String> {
    paperclip_postgres::pool::qs("SELECT pg_current_snapshot()::text")
        .fetch_one(conn)
        .await
        .map_err(StoreError::sql("cannot read the snapshot"))
}

/// `Result` with this crate's error.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
