//! The engine of one server: claims queued runs (woken by `LISTEN`, with a poll as fallback),
//! executes them within a slot budget, renews its leases, recovers lost runs and ticks the timer.
//! Every decision that must hold across replicas is taken in PostgreSQL (see
//! `paperclip_store::runs`); this process only holds what it is running.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use paperclip_postgres::Db;
use paperclip_secrets::SecretsState;
use paperclip_store::runs;
use tokio::sync::{watch, Notify, Semaphore};
use uuid::Uuid;

use crate::adapters::Registry;
use crate::token::RunTokens;
use crate::{executor, procfs, Result};

/// How the engine of this server behaves.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// This process's lease owner id (`<host>:<pid>:<random>`): unique per start.
    pub owner: String,
    /// This machine's name (a restarted server kills lost runs' leftovers only on its own host).
    pub host: String,
    /// Where run logs go (`<instance>/data/run-logs`).
    pub log_dir: PathBuf,
    /// How long a claim holds without renewal.
    pub lease: Duration,
    /// How often leases are renewed and lost runs looked for.
    pub renew_every: Duration,
    /// The queue is polled this often when no notification arrives.
    pub poll_every: Duration,
    /// Runs this server executes at once (the rest wait in the queue for any replica).
    pub max_parallel: usize,
    /// This server owns the database alone (embedded PostgreSQL): every running run not its own
    /// is lost at startup, without waiting for leases to expire.
    pub exclusive: bool,
    /// The direct URL `LISTEN` connects to.
    pub listen_url: String,
}

impl EngineConfig {
    /// Defaults for a server writing logs under `log_dir` and listening on `listen_url`.
    pub fn new(log_dir: PathBuf, listen_url: String, exclusive: bool) -> Self {
        let host = procfs::host_name();
        Self {
            owner: format!("{host}:{}:{}", std::process::id(), Uuid::new_v4().simple()),
            host,
            log_dir,
            lease: Duration::from_secs(30),
            renew_every: Duration::from_secs(5),
            poll_every: Duration::from_secs(1),
            max_parallel: 64,
            exclusive,
            listen_url,
        }
    }
}

/// Where startup recovery stands (`/api/health` `startupRecovery`).
#[derive(Debug, Clone)]
pub struct RecoveryState {
    /// `pending`, `recovering`, `ready` or `failed`.
    pub phase: &'static str,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    /// Runs found lost at startup.
    pub recovered_runs: usize,
    pub error: Option<String>,
}

/// The heartbeat engine of this server.
#[derive(Debug)]
pub struct Engine {
    pub(crate) cfg: EngineConfig,
    pub(crate) db: Db,
    pub(crate) secrets: Arc<SecretsState>,
    pub(crate) tokens: RunTokens,
    pub(crate) adapters: Registry,
    api_url: OnceLock<String>,
    slots: Arc<Semaphore>,
    wake: Notify,
    running: Mutex<HashMap<Uuid, watch::Sender<bool>>>,
    recovery: Mutex<RecoveryState>,
    stopping: AtomicBool,
    last_renewal: Mutex<Instant>,
}

impl Engine {
    pub fn new(
        cfg: EngineConfig,
        db: Db,
        secrets: Arc<SecretsState>,
        tokens: RunTokens,
        adapters: Registry,
    ) -> Arc<Self> {
        Arc::new(Self {
            slots: Arc::new(Semaphore::new(cfg.max_parallel)),
            cfg,
            db,
            secrets,
            tokens,
            adapters,
            api_url: OnceLock::new(),
            wake: Notify::new(),
            running: Mutex::new(HashMap::new()),
            recovery: Mutex::new(RecoveryState {
                phase: "pending",
                updated_at: chrono::Utc::now(),
                recovered_runs: 0,
                error: None,
            }),
            stopping: AtomicBool::new(false),
            last_renewal: Mutex::new(Instant::now()),
        })
    }

    /// The adapters this engine runs.
    pub fn adapters(&self) -> &Registry {
        &self.adapters
    }

    /// Where this server writes run logs.
    pub fn log_dir(&self) -> PathBuf {
        self.cfg.log_dir.clone()
    }

    /// The run tokens it issues.
    pub fn tokens(&self) -> &RunTokens {
        &self.tokens
    }

    /// Sets `PAPERCLIP_API_URL` once the server knows its address.
    pub fn set_api_url(&self, url: String) {
        let _ = self.api_url.set(url);
    }

    pub(crate) fn api_url(&self) -> String {
        self.api_url
            .get()
            .cloned()
            .unwrap_or_else(|| "http://127.0.0.1:3100/api".into())
    }

    /// Startup recovery, for `/api/health`.
    pub fn recovery(&self) -> RecoveryState {
        self.recovery.lock().expect("recovery").clone()
    }

    /// Runs executing in this process now.
    pub fn running_here(&self) -> usize {
        self.running.lock().expect("running").len()
    }

    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    fn set_recovery(&self, phase: &'static str, recovered: usize, error: Option<String>) {
        *self.recovery.lock().expect("recovery") = RecoveryState {
            phase,
            updated_at: chrono::Utc::now(),
            recovered_runs: recovered,
            error,
        };
    }

    /// The claim service: recovers at startup, then claims and executes queued runs until the
    /// task is dropped. Notifications (`QUEUED_CHANNEL`, `CANCEL_CHANNEL`) make it react at once;
    /// the poll makes it correct without them.
    pub async fn claim_forever(self: Arc<Self>) {
        if self.recovery().phase != "ready" {
            self.set_recovery("recovering", 0, None);
            match self
                .recover(self.cfg.exclusive.then_some(self.cfg.owner.as_str()))
                .await
            {
                Ok(n) => self.set_recovery("ready", n, None),
                Err(e) => {
                    // Expired leases are retried by the lease task; a failure here is reported,
                    // not fatal.
                    tracing::error!("heartbeat startup recovery failed: {e}");
                    self.set_recovery("failed", 0, Some(e.to_string()));
                }
            }
        }
        let listener = tokio::spawn(self.clone().listen());
        let _listener = AbortOnDrop(listener);
        loop {
            let free = self.slots.available_permits();
            if free > 0 && !self.is_stopping() {
                let batch = free.min(16);
                match self.claim_batch(batch).await {
                    Ok(n) if n == batch => continue,
                    Ok(_) => {}
                    Err(e) => tracing::warn!("cannot claim heartbeat runs: {e}"),
                }
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.cfg.poll_every) => {}
            }
        }
    }

    async fn listen(self: Arc<Self>) {
        loop {
            let subscribed = async {
                let mut l = sqlx::postgres::PgListener::connect(&self.cfg.listen_url).await?;
                l.listen_all([runs::QUEUED_CHANNEL, runs::CANCEL_CHANNEL])
                    .await?;
                Ok::<_, sqlx::Error>(l)
            }
            .await;
            match subscribed {
                Ok(mut l) => loop {
                    match l.recv().await {
                        Ok(n) if n.channel() == runs::CANCEL_CHANNEL => {
                            if let Ok(id) = Uuid::parse_str(n.payload()) {
                                self.stop_local(id);
                            }
                        }
                        Ok(_) => self.wake.notify_one(),
                        Err(e) => {
                            tracing::warn!("heartbeat notifications interrupted ({e}); polling");
                            break;
                        }
                    }
                },
                Err(e) => tracing::warn!("heartbeat notifications unavailable ({e}); polling"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    async fn claim_batch(self: &Arc<Self>, n: usize) -> Result<usize> {
        let mut tx = self.db.begin().await?;
        let claimed = runs::claim(&mut tx, &self.cfg.owner, self.cfg.lease, n as i64).await?;
        tx.commit()
            .await
            .map_err(paperclip_store::StoreError::sql("cannot commit the claim"))?;
        let count = claimed.len();
        for c in claimed {
            let permit = self
                .slots
                .clone()
                .acquire_owned()
                .await
                .expect("never closed");
            let (stop_tx, stop_rx) = watch::channel(false);
            self.running
                .lock()
                .expect("running")
                .insert(c.run.id, stop_tx);
            let engine = self.clone();
            tokio::spawn(async move {
                let id = c.run.id;
                executor::execute(&engine, c, stop_rx).await;
                engine.running.lock().expect("running").remove(&id);
                drop(permit);
                // A slot is free here, and the agent may have a run waiting for its turn.
                engine.wake.notify_one();
            });
        }
        Ok(count)
    }

    /// Tells a run executing here to stop (no effect on runs elsewhere).
    fn stop_local(&self, id: Uuid) {
        if let Some(tx) = self.running.lock().expect("running").get(&id) {
            let _ = tx.send(true);
        }
    }

    /// One round of the lease task: renew this server's leases (stopping runs whose cancel was
    /// requested), then recover runs whose owner's lease expired.
    pub async fn lease_round(&self) -> std::result::Result<(), String> {
        let renewed = async {
            let mut conn = self.db.session().await?;
            let cancels = runs::renew(&mut conn, &self.cfg.owner, self.cfg.lease).await?;
            conn.close().await?;
            Ok::<_, crate::RunsError>(cancels)
        }
        .await;
        match renewed {
            Ok(cancels) => {
                *self.last_renewal.lock().expect("renewal") = Instant::now();
                for id in cancels {
                    self.stop_local(id);
                }
            }
            Err(e) => {
                // Past two thirds of the lease another replica may take our runs over: stop them
                // here rather than let one heartbeat run twice.
                if self.last_renewal.lock().expect("renewal").elapsed() > self.cfg.lease * 2 / 3 {
                    tracing::error!(
                        "cannot renew heartbeat leases ({e}); stopping this server's runs"
                    );
                    self.stop_all();
                }
                return Err(format!("cannot renew heartbeat leases: {e}"));
            }
        }
        self.recover(None)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }

    /// Recovers lost runs (see [`runs::recover`]) and kills what they left on this host.
    async fn recover(&self, all_but: Option<&str>) -> Result<usize> {
        let mut tx = self.db.begin().await?;
        let lost = runs::recover(&mut tx, all_but).await?;
        tx.commit().await.map_err(paperclip_store::StoreError::sql(
            "cannot commit the recovery",
        ))?;
        for l in &lost {
            tracing::warn!(run = %l.id, retry = ?l.retry_run_id, "heartbeat run lost its server; marked process_lost");
            if let (Some(pgid), Some(since), Some(host)) =
                (l.process_group_id, l.process_start_ticks, &l.process_host)
            {
                if *host == self.cfg.host {
                    let killed = procfs::kill_group_members(pgid, since);
                    if killed > 0 {
                        tracing::warn!(run = %l.id, "killed {killed} leftover process(es) of the lost run");
                    }
                }
            }
        }
        if !lost.is_empty() {
            self.wake.notify_one();
        }
        Ok(lost.len())
    }

    /// One timer tick (single-flight across replicas).
    pub async fn timer_round(&self) -> std::result::Result<(), String> {
        let r = async {
            let mut tx = self.db.begin().await?;
            runs::tick(&mut tx).await?;
            tx.commit().await.map_err(paperclip_store::StoreError::sql(
                "cannot commit the timer tick",
            ))?;
            Ok::<_, crate::RunsError>(())
        }
        .await;
        r.map_err(|e| format!("timer tick failed: {e}"))
    }

    fn stop_all(&self) {
        for tx in self.running.lock().expect("running").values() {
            let _ = tx.send(true);
        }
    }

    /// Stops this server's runs (each is recorded as failed with `server_shutdown`) and waits up
    /// to `patience` for them to be written.
    pub async fn shutdown(&self, patience: Duration) {
        self.stopping.store(true, Ordering::SeqCst);
        self.stop_all();
        let deadline = Instant::now() + patience;
        while self.running_here() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
