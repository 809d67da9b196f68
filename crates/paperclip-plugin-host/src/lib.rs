//! The plugin host: one worker process per ready plugin, supervised and restarted with backoff.
//!
//! Which plugins run is decided by the database (`plugins.status = 'ready'`), and every replica
//! reconciles its workers against it every few seconds: no replica keeps plugin state that
//! another could contradict.

mod calls;
mod db_calls;
mod params;
mod sandbox;
pub mod worker;

pub use db_calls::{DB_CALLS_PER_PLUGIN, DB_CALL_QUEUE_WAIT};
pub use sandbox::{WorkerSandbox, WORKER_ACCOUNT};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use paperclip_plugins::Manifest;
use paperclip_postgres::Db;
use paperclip_store::plugins::{self, Namespace, Plugin};
use paperclip_store::Actor;
use serde_json::{json, Value};
use uuid::Uuid;

use self::worker::{codes, RpcError, Worker};
use paperclip_secrets::SecretsState;

/// Issues as lists answer them, the same for plugin host calls and the REST routes.
pub fn issue_list(
    rows: Vec<paperclip_store::issues::Issue>,
) -> paperclip_api_types::issues::IssueList<paperclip_store::issues::Issue> {
    paperclip_api_types::issues::IssueList::from_rows(
        rows,
        |i| i.description.as_mut(),
        |i| i.updated_at,
    )
}

/// What the host needs from the server.
pub struct PluginHost {
    pub db: Db,
    /// Direct URL for plugin roles and migrations.
    pub migration_url: String,
    pub secrets: Arc<SecretsState>,
    slots: Mutex<HashMap<Uuid, Arc<Slot>>>,
    invocations: Mutex<HashMap<String, (Actor, Option<Uuid>)>>,
    /// How long a request to a worker (e.g. `handleApiRequest`) may take.
    pub call_timeout: std::sync::RwLock<Duration>,
    /// How workers are confined.
    pub sandbox: WorkerSandbox,
    /// One reconcile at a time, so a plugin never gets a second worker while the first stops.
    reconciling: tokio::sync::Mutex<()>,
}

/// A supervised plugin.
pub struct Slot {
    pub plugin: Plugin,
    pub manifest: Manifest,
    pub namespace: Option<Namespace>,
    current: tokio::sync::RwLock<Option<Arc<Worker>>>,
    stop: tokio::sync::Notify,
    stopped: std::sync::atomic::AtomicBool,
    pub restarts: std::sync::atomic::AtomicU32,
    /// A worker is up and answered `initialize`.
    pub running: std::sync::atomic::AtomicBool,
    /// The supervising task, awaited by `stop`.
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Permits for `db.query`/`db.execute` calls in flight.
    pub db_calls: tokio::sync::Semaphore,
}

impl Slot {
    /// The running worker, if any.
    pub async fn worker(&self) -> Option<Arc<Worker>> {
        self.current.read().await.clone()
    }
}

/// How long a request waits for a plugin's worker that is starting (spawned, not yet through
/// `initialize`) before it answers 503.
pub const WORKER_STARTUP_PATIENCE: Duration = Duration::from_secs(5);

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost").finish_non_exhaustive()
    }
}

impl PluginHost {
    /// The slot and worker of `plugin_id`, waiting up to `patience` while the reconciler starts
    /// it (a request that arrives just after a server start or an enable should not fail).
    pub async fn ready_worker(
        &self,
        plugin_id: Uuid,
        patience: Duration,
    ) -> Option<(Arc<Slot>, Arc<Worker>)> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            if let Some(slot) = self.slot(plugin_id) {
                if let Some(w) = slot.worker().await {
                    return Some((slot, w));
                }
                if slot.stopped.load(std::sync::atomic::Ordering::SeqCst) {
                    return None;
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub fn new(
        db: Db,
        migration_url: String,
        secrets: Arc<SecretsState>,
        sandbox: WorkerSandbox,
    ) -> Arc<Self> {
        Arc::new(Self {
            db,
            migration_url,
            secrets,
            slots: Mutex::default(),
            invocations: Mutex::default(),
            call_timeout: std::sync::RwLock::new(Duration::from_secs(30)),
            sandbox,
            reconciling: tokio::sync::Mutex::new(()),
        })
    }

    /// The timeout of requests to workers.
    pub fn call_timeout(&self) -> Duration {
        *self.call_timeout.read().expect("timeout lock")
    }

    /// Changes the timeout of requests to workers (tests, tuning).
    pub fn set_call_timeout(&self, timeout: Duration) {
        *self.call_timeout.write().expect("timeout lock") = timeout;
    }

    /// Database access for plugin SQL.
    pub fn access(&self) -> plugins::Access<'_> {
        plugins::Access {
            url: &self.migration_url,
            key: &self.secrets.key,
        }
    }

    /// The slot of a running plugin.
    pub fn slot(&self, plugin_id: Uuid) -> Option<Arc<Slot>> {
        self.slots.lock().expect("slots").get(&plugin_id).cloned()
    }

    /// Starts workers of ready plugins and stops the others; call periodically.
    pub async fn reconcile(self: &Arc<Self>) {
        let _one_at_a_time = self.reconciling.lock().await;
        let ready: Vec<Plugin> = match self.db.session().await {
            Ok(mut s) => {
                let all = plugins::list(&mut s).await.unwrap_or_default();
                let _ = s.close().await;
                all.into_iter().filter(|p| p.status == "ready").collect()
            }
            Err(_) => return,
        };
        let running: Vec<Uuid> = self.slots.lock().expect("slots").keys().copied().collect();
        for id in running {
            let keep = ready.iter().any(|p| {
                p.id == id
                    && self
                        .slot(id)
                        // Restart only for a new install (version, folder or manifest), not for
                        // bookkeeping such as `last_error`, which a crash itself writes.
                        .is_some_and(|s| {
                            s.plugin.version == p.version
                                && s.plugin.install_path == p.install_path
                                && s.plugin.manifest == p.manifest
                        })
            });
            if !keep {
                self.stop(id).await;
            }
        }
        for p in ready {
            if self.slot(p.id).is_none() {
                self.start(p).await;
            }
        }
    }

    /// The reconciler: starts and stops this process's workers to match the registry, at once
    /// when any server changes a plugin (`LISTEN` on [`plugins::CHANGED_CHANNEL`], over the
    /// direct URL since a transaction pooler cannot carry `LISTEN`) and every 3 s in any case.
    /// Runs until dropped; the server's `App` runs it under the task supervisor.
    pub async fn reconcile_forever(self: Arc<Self>) {
        let subscribed = async {
            let mut l = sqlx::postgres::PgListener::connect(&self.migration_url).await?;
            l.listen(plugins::CHANGED_CHANNEL).await?;
            Ok::<_, sqlx::Error>(l)
        }
        .await;
        let mut listener = subscribed
            .inspect_err(|e| {
                tracing::warn!("plugin change notifications unavailable ({e}); polling");
            })
            .ok();
        loop {
            self.reconcile().await;
            match listener.as_mut() {
                Some(l) => {
                    if let Ok(Err(_)) = tokio::time::timeout(Duration::from_secs(3), l.recv()).await
                    {
                        // Lost and not yet back: keep polling, not spinning.
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
                None => tokio::time::sleep(Duration::from_secs(3)).await,
            }
        }
    }

    async fn start(self: &Arc<Self>, plugin: Plugin) {
        let manifest: Manifest = match serde_json::from_value(plugin.manifest.clone()) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(plugin = %plugin.plugin_key, "bad stored manifest: {e}");
                return;
            }
        };
        let namespace = match self.db.session().await {
            Ok(mut s) => {
                let ns = plugins::namespace(&mut s, plugin.id).await.ok().flatten();
                let _ = s.close().await;
                ns
            }
            Err(_) => None,
        };
        let slot = Arc::new(Slot {
            plugin,
            manifest,
            namespace,
            current: Default::default(),
            stop: Default::default(),
            stopped: Default::default(),
            restarts: Default::default(),
            running: Default::default(),
            task: Mutex::default(),
            db_calls: tokio::sync::Semaphore::new(DB_CALLS_PER_PLUGIN),
        });
        self.slots
            .lock()
            .expect("slots")
            .insert(slot.plugin.id, slot.clone());
        let host = self.clone();
        let s2 = slot.clone();
        let task = tokio::spawn(async move { host.supervise(s2).await });
        *slot.task.lock().expect("task") = Some(task);
    }

    /// Stops a plugin's worker within a deadline (`shutdown`, grace, SIGKILL of its process
    /// group). The slot stays registered until the process is gone, so no second worker of the
    /// plugin can start meanwhile.
    pub async fn stop(&self, plugin_id: Uuid) {
        let Some(slot) = self.slot(plugin_id) else {
            return;
        };
        slot.stopped
            .store(true, std::sync::atomic::Ordering::SeqCst);
        slot.stop.notify_waiters();
        let current = slot.current.write().await.take();
        if let Some(w) = current {
            w.shutdown().await;
        }
        let task = slot.task.lock().expect("task").take();
        if let Some(task) = task {
            // The supervisor ends once its worker is gone; one still starting a worker is
            // given the initialize timeout, then dropped (dropping a worker kills it).
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(12), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
        self.slots.lock().expect("slots").remove(&plugin_id);
    }

    /// Stops every worker (server shutdown).
    pub async fn stop_all(&self) {
        let ids: Vec<Uuid> = self.slots.lock().expect("slots").keys().copied().collect();
        for id in ids {
            self.stop(id).await;
        }
    }

    async fn supervise(self: Arc<Self>, slot: Arc<Slot>) {
        let mut backoff = Duration::from_secs(1);
        while !slot.stopped.load(std::sync::atomic::Ordering::SeqCst) {
            match self.run_once(&slot).await {
                Ok(()) => backoff = Duration::from_secs(1),
                Err(_) if slot.stopped.load(std::sync::atomic::Ordering::SeqCst) => break,
                Err(e) => {
                    tracing::warn!(plugin = %slot.plugin.plugin_key, "plugin worker failed: {e}");
                    self.set_error(&slot, Some(&e)).await;
                }
            }
            if slot.stopped.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
            slot.restarts
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = slot.stop.notified() => break,
            }
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
    }

    async fn set_error(&self, slot: &Slot, error: Option<&str>) {
        if let Ok(mut s) = self.db.session().await {
            let _ = plugins::set_last_error(&mut s, slot.plugin.id, error).await;
            let _ = s.close().await;
        }
    }

    /// Runs the worker until it exits.
    async fn run_once(self: &Arc<Self>, slot: &Arc<Slot>) -> Result<(), String> {
        let cmd = self.sandbox.command(slot)?;
        let host = self.clone();
        let s2 = slot.clone();
        let dispatch: worker::Dispatch = Arc::new(move |method, params| {
            calls::dispatch_owned(host.clone(), s2.clone(), method, params)
        });
        let program = cmd.get_program().to_string_lossy().into_owned();
        let w = Worker::spawn(cmd, &slot.plugin.plugin_key, dispatch)
            .map_err(|e| format!("cannot start {program}: {e}"))?;
        let init = w
            .call(
                "initialize",
                json!({
                    "manifest": slot.plugin.manifest, "config": {}, "apiVersion": 1,
                    "instanceInfo": {"hostVersion": env!("CARGO_PKG_VERSION")},
                    "databaseNamespace": slot.namespace.as_ref().map(|n| n.namespace_name.clone()),
                }),
                Duration::from_secs(10),
            )
            .await;
        let init = match init {
            Ok(v) => v,
            Err(e) => {
                w.shutdown().await;
                return Err(format!("initialize failed: {}", e.message));
            }
        };
        if init.get("ok").and_then(Value::as_bool) == Some(false) {
            w.shutdown().await;
            return Err("the worker answered initialize with ok: false".into());
        }
        {
            // `stop` sets `stopped` before it takes `current`: checked under the same lock, a
            // worker that came up during a stop is shut down here rather than left running.
            let mut current = slot.current.write().await;
            if slot.stopped.load(std::sync::atomic::Ordering::SeqCst) {
                drop(current);
                w.shutdown().await;
                return Ok(());
            }
            *current = Some(w.clone());
        }
        slot.running
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if slot.manifest.has("events.subscribe") {
            tokio::spawn(deliver_events(self.db.clone(), slot.plugin.id, w.clone()));
        }
        self.set_error(slot, None).await;
        let status = w.wait().await;
        slot.running
            .store(false, std::sync::atomic::Ordering::SeqCst);
        slot.current.write().await.take();
        if slot.stopped.load(std::sync::atomic::Ordering::SeqCst) {
            Ok(())
        } else {
            Err(format!("the worker exited ({status})"))
        }
    }

    /// Remembers who triggered a worker call, so the worker's host calls are attributed to them.
    pub fn begin_invocation(&self, actor: Actor, company_id: Option<Uuid>) -> String {
        let id = Uuid::new_v4().to_string();
        self.invocations
            .lock()
            .expect("invocations")
            .insert(id.clone(), (actor, company_id));
        id
    }

    /// Forgets an invocation.
    pub fn end_invocation(&self, id: &str) {
        self.invocations.lock().expect("invocations").remove(id);
    }

    fn initiator(&self, params: &Value) -> Option<(Actor, Option<Uuid>)> {
        let id = params.get("invocationId").and_then(Value::as_str)?;
        self.invocations
            .lock()
            .expect("invocations")
            .get(id)
            .cloned()
    }
}

/// Delivers queued events to one worker until it goes away: claimed with SKIP LOCKED (one replica
/// delivers each event), deleted when the worker acknowledges, kept (attempt counted) when it fails,
/// so a restarted worker gets what was not acknowledged and never an acknowledged event again.
async fn deliver_events(db: Db, plugin_id: Uuid, worker: Arc<Worker>) {
    while worker.is_alive() {
        let w = worker.clone();
        let db2 = db.clone();
        // sqlx transactions trip rustc's Send analysis inside spawned tasks; run each round on a
        // blocking thread of this runtime instead (see `plugins::run_unsend`).
        let alive = paperclip_postgres::pool::run_unsend(move || async move {
            deliver_round(&db2, plugin_id, &w).await
        })
        .await;
        if !alive {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// One delivery round; false once the worker is gone.
async fn deliver_round(db: &Db, plugin_id: Uuid, worker: &Worker) -> bool {
    let Ok(mut tx) = db.begin().await else {
        return true;
    };
    let events = plugins::claim_events(&mut tx, plugin_id, 20)
        .await
        .unwrap_or_default();
    let mut alive = true;
    for (outbox_id, event) in events {
        match worker
            .call("onEvent", json!({"event": event}), Duration::from_secs(10))
            .await
        {
            Ok(_) => {
                let _ = plugins::ack_event(&mut tx, outbox_id).await;
            }
            // A worker that does not handle events acknowledges them by not implementing it.
            Err(e)
                if e.code == codes::METHOD_NOT_FOUND || e.code == codes::METHOD_NOT_IMPLEMENTED =>
            {
                let _ = plugins::ack_event(&mut tx, outbox_id).await;
            }
            Err(e) => {
                let _ = plugins::fail_event(&mut tx, outbox_id).await;
                alive = e.code != codes::WORKER_UNAVAILABLE;
                break;
            }
        }
    }
    let _ = tx.commit().await;
    alive
}

/// Maps a worker RPC failure to an HTTP status for scoped routes.
pub fn http_status(e: &RpcError) -> u16 {
    match e.code {
        codes::CAPABILITY_DENIED => 403,
        codes::METHOD_NOT_IMPLEMENTED | codes::METHOD_NOT_FOUND => 501,
        codes::WORKER_UNAVAILABLE => 503,
        _ => 502,
    }
}
