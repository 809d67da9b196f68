//! Background work of one server under one supervisor: each task has a name, runs its rounds one
//! at a time (single-flight within the process; work that must be single-flight across replicas
//! takes its own database lock, as backups do), records its last run and last error for
//! `/api/health`, and stops on shutdown.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use paperclip_api_types::health::TaskStatus;

type Round = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// The supervisor of this server's background tasks.
#[derive(Debug, Default)]
pub struct Supervisor {
    status: Arc<Mutex<BTreeMap<&'static str, TaskStatus>>>,
    handles: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Supervisor {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Runs `round` every `period` (the first after one period), never two at once; a round that
    /// outlasts the period delays the next instead of piling up.
    pub fn every<F>(&self, name: &'static str, period: Duration, round: F)
    where
        F: Fn() -> Round + Send + 'static,
    {
        self.status
            .lock()
            .expect("task status")
            .insert(name, TaskStatus::default());
        let status = self.status.clone();
        let handle = tokio::spawn(async move {
            let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                ticker.tick().await;
                set(&status, name, |s| s.running = true);
                let result = round().await;
                set(&status, name, |s| {
                    s.running = false;
                    s.runs += 1;
                    s.last_run_at = Some(chrono::Utc::now());
                    if let Err(e) = &result {
                        s.last_error = Some(e.clone());
                        s.last_error_at = s.last_run_at;
                    } else {
                        s.last_error = None;
                    }
                });
                if let Err(e) = result {
                    tracing::error!(task = name, "background task failed: {e}");
                }
            }
        });
        self.handles.lock().expect("task handles").push(handle);
    }

    /// Runs a long-lived service (a loop that waits on notifications, like the plugin
    /// reconciler). A service that returns or panics is recorded as an error and restarted after
    /// a second; `runs` counts its starts.
    pub fn service<F, Fut>(&self, name: &'static str, make: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.status
            .lock()
            .expect("task status")
            .insert(name, TaskStatus::default());
        let status = self.status.clone();
        let handle = tokio::spawn(async move {
            loop {
                set(&status, name, |s| {
                    s.running = true;
                    s.runs += 1;
                    s.last_run_at = Some(chrono::Utc::now());
                });
                // Aborting the supervisor's task drops this guard, which aborts the service.
                let mut service = AbortOnDrop(tokio::spawn(make()));
                let outcome = match service.await_inner().await {
                    Ok(()) => "stopped unexpectedly; restarting".to_string(),
                    Err(e) if e.is_panic() => format!("panicked ({}); restarting", panic_text(e)),
                    Err(e) => format!("{e}; restarting"),
                };
                tracing::error!(task = name, "background service {outcome}");
                set(&status, name, |s| {
                    s.running = false;
                    s.last_error = Some(outcome.clone());
                    s.last_error_at = Some(chrono::Utc::now());
                });
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        self.handles.lock().expect("task handles").push(handle);
    }

    /// Every task's status, by name.
    pub fn report(&self) -> BTreeMap<String, TaskStatus> {
        let status = self.status.lock().expect("task status");
        status
            .iter()
            .map(|(k, v)| ((*k).to_string(), v.clone()))
            .collect()
    }

    /// Stops every task (a round in progress is dropped; each round's work is transactional or
    /// cleans up after itself, as backups do).
    pub fn shutdown(&self) {
        for h in self.handles.lock().expect("task handles").drain(..) {
            h.abort();
        }
    }
}

fn set(
    status: &Mutex<BTreeMap<&'static str, TaskStatus>>,
    name: &'static str,
    f: impl FnOnce(&mut TaskStatus),
) {
    if let Some(s) = status.lock().expect("task status").get_mut(name) {
        f(s);
    }
}

/// A spawned task that is aborted when its handle is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl AbortOnDrop {
    async fn await_inner(&mut self) -> Result<(), tokio::task::JoinError> {
        (&mut self.0).await
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn panic_text(e: tokio::task::JoinError) -> String {
    let payload = e.into_panic();
    payload
        .downcast_ref::<&str>()
        .map(ToString::to_string)
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn rounds_run_one_at_a_time_and_report_their_outcome() {
        use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
        let sup = Supervisor::new();
        // (rounds started, rounds running now, most running at once)
        let counters = Arc::new((AtomicU32::new(0), AtomicU32::new(0), AtomicU32::new(0)));
        let c = counters.clone();
        sup.every("flaky", Duration::from_secs(60), move || {
            let c = c.clone();
            Box::pin(async move {
                let i = c.0.fetch_add(1, SeqCst);
                let now = c.1.fetch_add(1, SeqCst) + 1;
                c.2.fetch_max(now, SeqCst);
                tokio::time::sleep(Duration::from_secs(90)).await; // longer than the period
                c.1.fetch_sub(1, SeqCst);
                if i == 0 {
                    Err("first round failed".to_string())
                } else {
                    Ok(())
                }
            })
        });
        tokio::time::sleep(Duration::from_secs(61 + 90)).await;
        let s = sup.report()["flaky"].clone();
        assert_eq!(
            (s.runs, s.last_error.as_deref()),
            (1, Some("first round failed"))
        );
        tokio::time::sleep(Duration::from_secs(200)).await;
        let s = sup.report()["flaky"].clone();
        assert!(s.runs >= 2, "{s:?}");
        assert!(s.last_error.is_none() && s.last_error_at.is_some(), "{s:?}");
        assert_eq!(counters.2.load(SeqCst), 1, "never two rounds at once");
        sup.shutdown();
    }

    #[tokio::test(start_paused = true)]
    async fn a_service_that_panics_is_restarted_and_shutdown_stops_it() {
        use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
        let sup = Supervisor::new();
        let starts = Arc::new(AtomicU32::new(0));
        let alive = Arc::new(AtomicU32::new(0));
        let (s2, a2) = (starts.clone(), alive.clone());
        sup.service("svc", move || {
            let (starts, alive) = (s2.clone(), a2.clone());
            async move {
                if starts.fetch_add(1, SeqCst) == 0 {
                    panic!("boom");
                }
                loop {
                    alive.fetch_add(1, SeqCst);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        let s = sup.report()["svc"].clone();
        assert_eq!(starts.load(SeqCst), 2, "restarted once after the panic");
        assert!(s.running && s.runs == 2, "{s:?}");
        assert!(s.last_error.as_deref().unwrap().contains("boom"), "{s:?}");
        sup.shutdown();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let before = alive.load(SeqCst);
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(
            alive.load(SeqCst),
            before,
            "the service stopped with the supervisor"
        );
    }
}
