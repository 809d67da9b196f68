//! Running PostgreSQL as an unprivileged user when Paperclip runs as root.
//!
//! PostgreSQL refuses to run as root. In containers and CI Paperclip often is root, so the
//! cluster runs as the `postgres` account (or `PAPERCLIP_EMBEDDED_POSTGRES_OS_USER`), and the
//! data directory belongs to that account. The account handling itself is shared with plugin
//! workers ([`paperclip_sandbox::Account`]).

use paperclip_sandbox::SandboxError;

use crate::{DbError, Result};

/// The account PostgreSQL runs as, when it is not the current one.
pub use paperclip_sandbox::Account as RunAs;

/// `None` when not root (PostgreSQL runs as the current user); otherwise the configured
/// account, default `postgres`.
pub fn resolve(configured: Option<&str>) -> Result<Option<RunAs>> {
    RunAs::resolve(configured.unwrap_or("postgres")).map_err(|e| match e {
        SandboxError::NoAccount { name } => DbError::NoServiceUser { user: name },
        SandboxError::RootAccount { name } => DbError::Unsafe {
            data_dir: Default::default(),
            reason: format!(
                "PAPERCLIP_EMBEDDED_POSTGRES_OS_USER={name} is root; PostgreSQL must run unprivileged"
            ),
        },
        other => DbError::Sandbox(other),
    })
}
