//! Resolving the configured database into URLs, starting the embedded cluster when needed.
//!
//! This is the one place that knows about modes: everything after it sees an application URL
//! and a migration URL.

use paperclip_config::{DatabaseTarget, InstancePaths};

use crate::embedded::{EmbeddedPostgres, StartOptions};
use crate::{DbError, InstanceLock, Result};

/// How a command wants the embedded cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    /// Own the instance (the server): fail if another process owns it.
    Own,
    /// Own it if free, otherwise attach to the cluster of the process that owns it (CLI tools
    /// such as `db migrate` and `db status` beside a running server).
    OwnOrAttach,
}

/// A database ready to connect to.
#[derive(Debug)]
pub struct Target {
    /// "Embedded PostgreSQL" or "PostgreSQL", for messages.
    pub label: &'static str,
    /// The application URL (`DATABASE_URL`, or the embedded cluster's).
    pub app_url: String,
    /// The direct URL used for DDL (`DATABASE_MIGRATION_URL`, else the application URL).
    pub migration_url: String,
    /// The embedded cluster, when in embedded mode.
    pub embedded: Option<EmbeddedPostgres>,
    /// The instance lock, when this process owns the instance.
    pub lock: Option<InstanceLock>,
    /// The port the embedded cluster took when the configured one was busy.
    pub moved_to_port: Option<u16>,
}

impl Target {
    /// Resolves `database`, starting or attaching to the embedded cluster. When this process
    /// owns the cluster and it had to take another port, [`Target::moved_to_port`] says so
    /// (the caller records it in `config.json`: this crate never writes configuration).
    pub async fn acquire(
        database: &DatabaseTarget,
        paths: &InstancePaths,
        ownership: Ownership,
    ) -> Result<Self> {
        let embedded = match database {
            DatabaseTarget::External { url, migration_url } => {
                return Ok(Self {
                    label: "PostgreSQL",
                    app_url: url.clone(),
                    migration_url: migration_url.clone().unwrap_or_else(|| url.clone()),
                    embedded: None,
                    lock: None,
                    moved_to_port: None,
                })
            }
            DatabaseTarget::Embedded(e) => e.clone(),
        };
        let opts = StartOptions::for_instance(paths, &embedded);
        let lock_path = paths.lock_file();
        let (pg, lock) = match InstanceLock::acquire(&lock_path) {
            Ok(lock) => (EmbeddedPostgres::start(&opts).await?, Some(lock)),
            Err(DbError::InstanceLocked { .. }) if ownership == Ownership::OwnOrAttach => {
                (EmbeddedPostgres::attach(&opts).await?, None)
            }
            Err(e) => return Err(e),
        };
        let moved_to_port = (lock.is_some() && pg.port != embedded.port).then_some(pg.port);
        let url = pg.url();
        Ok(Self {
            label: "Embedded PostgreSQL",
            app_url: url.clone(),
            migration_url: url,
            embedded: Some(pg),
            lock,
            moved_to_port,
        })
    }

    /// True when the database was created from nothing during this start, so migrations are
    /// applied without asking (upstream's first-run rule).
    pub fn is_first_run(&self) -> bool {
        self.embedded
            .as_ref()
            .is_some_and(|pg| pg.initialized_now || pg.database_created)
    }

    /// Stops the embedded cluster if this process started it.
    pub fn shutdown(&mut self) -> Result<()> {
        match self.embedded.as_mut() {
            Some(pg) => pg.stop(),
            None => Ok(()),
        }
    }
}
