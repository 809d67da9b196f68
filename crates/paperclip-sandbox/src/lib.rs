//! OS confinement of the processes Paperclip starts.
//!
//! PostgreSQL's privileges stop what a plugin's SQL may do; this crate stops what its *process*
//! may do: which account it runs as, which files it can open, whom it can signal, whether it
//! may open TCP connections, how much memory, CPU, processes and files it gets, and that it
//! dies with the server. Linux only (Landlock); elsewhere the account, environment and limits
//! still apply and [`landlock_support`] says the file-system wall is missing.

mod account;
mod confine;
mod error;

pub use account::Account;
pub use confine::{
    confine, landlock_support, own_group_dying_with_server, spawn_on_stable_thread,
    system_read_paths, LandlockSupport, Limits, Network, Policy,
};
pub use error::{Result, SandboxError};
