//! Paperclip's PostgreSQL layer: where the database runs and how Paperclip connects to it.
//!
//! Context: PostgreSQL is Paperclip's only store and its coordination engine. When
//! `DATABASE_URL` is unset, Paperclip runs a private cluster under the instance folder; when it
//! is set, it connects to an external or hosted server, possibly through a transaction pooler,
//! with `DATABASE_MIGRATION_URL` as the direct connection for DDL.
//!
//! Design:
//! - [`embedded`] owns the private cluster's whole lifecycle: binaries, `initdb`, start, crash
//!   recovery and stop. One module decides whether a `postmaster.pid` is ours.
//! - [`pool`] builds the application pool ([`Db`]) and makes it pooler-safe.
//! - [`migrate`] is the one migration engine; the migrations belong to `paperclip-store`.
//! - [`InstanceLock`] makes one process the owner of an instance.
//! - [`Target`] resolves the configured database into URLs. It takes typed settings and never
//!   writes configuration, and nothing here knows a control-plane table.
//!
//! Invariants: never `initdb` a non-empty directory, never delete a data directory or a lock
//! file, never run two postmasters on one data directory, never connect to a PostgreSQL on a
//! port just because it answers.

pub mod binaries;
pub mod embedded;
mod error;
mod instance_lock;
pub mod maintenance;
pub mod migrate;
pub mod pool;
pub mod provision;
mod target;
pub mod url;

pub use error::DbError;
pub use instance_lock::InstanceLock;
pub use pool::{Db, Session};
pub use target::{Ownership, Target};

/// `Result` with this crate's error.
pub type Result<T, E = DbError> = std::result::Result<T, E>;
