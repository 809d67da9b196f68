//! Paperclip's heartbeat engine: it turns queued wakeups into runs of agents.
//!
//! - [`Engine`]: claims queued runs under a lease (`FOR UPDATE SKIP LOCKED`, woken by
//!   `LISTEN`), executes them within a slot budget, renews and recovers leases, ticks the timer.
//!   The queue, the coalescing, `maxConcurrentRuns` and recovery are decided in PostgreSQL
//!   (`paperclip_store::runs`), so any number of replicas run each wakeup once.
//! - [`adapters`]: how a run reaches an agent (`process`, `http`; the coding-agent CLIs
//!   implement the same [`adapters::Adapter`] trait).
//! - [`log`]: the NDJSON run log with secrets redacted; [`token`]: run tokens.

pub mod adapters;
mod engine;
mod error;
mod executor;
pub mod log;
pub mod procfs;
pub mod token;

pub use engine::{Engine, EngineConfig, RecoveryState};
pub use error::{Result, RunsError};
