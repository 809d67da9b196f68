//! Keeps the embedded postmaster alive for as long as the server runs.
//!
//! A postmaster that dies (OOM killer, `kill -9`, a crash) used to leave every request waiting
//! out the pool timeout and then failing until a human restarted Paperclip. The supervisor
//! notices within half a second, marks the pool down (requests fail fast with 503), restarts the
//! cluster through the same start path as a cold start (crash recovery, identity checks, port
//! fallback) with backoff, and points the pool at it again.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

use super::{EmbeddedPostgres, StartOptions};
use crate::Db;

/// How often the postmaster is checked.
const POLL: Duration = Duration::from_millis(500);

/// The supervised cluster.
pub struct Supervised {
    pg: Arc<Mutex<EmbeddedPostgres>>,
    task: tokio::task::JoinHandle<()>,
}

impl Supervised {
    /// Starts watching `pg`; `db` is the pool that must follow it.
    pub fn start(pg: EmbeddedPostgres, opts: StartOptions, db: Db) -> Self {
        let pg = Arc::new(Mutex::new(pg));
        let watched = pg.clone();
        let task = tokio::spawn(async move { watch(watched, opts, db).await });
        Self { pg, task }
    }

    /// Stops watching, then stops the cluster (fast shutdown).
    pub async fn shutdown(self) -> crate::Result<()> {
        self.task.abort();
        let _ = self.task.await;
        let mut pg = self.pg.lock().await;
        pg.stop()
    }
}

async fn watch(pg: Arc<Mutex<EmbeddedPostgres>>, opts: StartOptions, db: Db) {
    loop {
        tokio::time::sleep(POLL).await;
        let (status, pid, port) = {
            let mut guard = pg.lock().await;
            match guard.exited() {
                Some(status) => (status, guard.pid, guard.port),
                None => continue,
            }
        };
        db.set_available(false);
        tracing::error!(
            "the embedded PostgreSQL (PID {pid}) died ({status}); restarting it — requests answer 503 meanwhile"
        );
        let mut backoff = Duration::from_millis(200);
        let mut opts = opts.clone();
        opts.port = port;
        loop {
            let o = opts.clone();
            // sqlx calls inside `start` trip rustc's Send analysis in a spawned task.
            match crate::pool::run_unsend(move || async move { EmbeddedPostgres::start(&o).await })
                .await
            {
                Ok(fresh) => {
                    let url = fresh.url();
                    let (pid, port) = (fresh.pid, fresh.port);
                    // The old handle's child is gone: replacing it stops nothing.
                    *pg.lock().await = fresh;
                    if let Err(e) = db.reconnect_to(&url).await {
                        tracing::error!("cannot point the pool at the restarted PostgreSQL: {e}");
                    }
                    db.set_available(true);
                    tracing::warn!("the embedded PostgreSQL is back (PID {pid}, port {port})");
                    break;
                }
                Err(e) => {
                    tracing::error!(
                        "restarting the embedded PostgreSQL failed: {e}; retrying in {:.1}s",
                        backoff.as_secs_f32()
                    );
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }
}
