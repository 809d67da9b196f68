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
pub mod projects;
pub mod runs;
pub mod secrets;
pub mod users;
pub mod work_products;

/// Start of the current UTC calendar month, the budget window.
pub const MONTH_START: &str = "date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'";

pub use error::StoreError;
pub use paperclip_domain::{Actor, ActorKind, BoardAccess, CompanyGrant, MembershipRole};
pub use paperclip_postgres::{Db, Session};

/// `Result` with this crate's error.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
