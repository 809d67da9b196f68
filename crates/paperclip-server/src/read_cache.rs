//! Answers to repeated company reads, reused while the database has not changed.
//!
//! Boards and agents poll the same few lists (issues, agents, the dashboard) far more often than
//! anything writes. Each answer is kept with the database snapshot (`pg_current_snapshot()`)
//! taken before it was computed, and reused only while the current snapshot is still that one.
//! Two equal snapshots see the same committed transactions, so the same rows: once any
//! transaction commits (or even starts writing) after the first snapshot, every later snapshot
//! differs from it for good, since `xmax` only grows. The check is one trivial query, exact on
//! every replica (each asks the shared database), and needs no version counter that writers
//! would have to keep in step.
//!
//! Callers that miss at the same snapshot wait for the first of them to compute the answer
//! (it is theirs too, since it was computed at their snapshot): when a write moves the
//! snapshot, eight pollers of a 1.6 MB list cost one computation, not eight.
//!
//! Only reads that depend on nothing but the database and the request take part (an allow-list
//! of company routes: not health, not plugin or run-log reads, which read this process or
//! files), keyed by their path, query and credentials. An answer is also reused for at most
//! [`MAX_AGE`], for the little that depends on the clock (a 24-hour window, a session's expiry).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use axum::http::{header, HeaderMap, HeaderValue, Uri};
use bytes::Bytes;

/// How long an answer may be reused, at most, even if nothing was written.
pub const MAX_AGE: Duration = Duration::from_secs(1);

/// Bytes of answers kept at most (the least recently stored go first). Answers older than
/// [`MAX_AGE`] are dropped whenever one is stored, so this bounds a burst of distinct reads.
const MAX_BYTES: usize = 16 << 20;

/// Answers kept at most.
const MAX_ENTRIES: usize = 512;

/// One kept answer.
#[derive(Clone)]
pub struct Answer {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub etag: HeaderValue,
}

struct Entry {
    snapshot: String,
    stored: Instant,
    /// Order of storing, for eviction.
    seq: u64,
    answer: Answer,
}

/// What waiting callers receive: `None` until the first caller is done, then its answer (or
/// `None` inside when the answer may not be kept, e.g. an error: each then asks for itself).
type Outcome = Option<Option<Answer>>;

/// This server's kept answers.
#[derive(Default)]
pub struct ReadCache {
    entries: Mutex<(HashMap<u64, Entry>, u64)>,
    /// Answers being computed, by key and snapshot.
    computing: Mutex<HashMap<(u64, String), watch::Receiver<Outcome>>>,
}

/// A caller's part in computing a missed answer.
pub enum Turn {
    /// This caller computes it, and hands it to the others through [`Leader::finish`].
    Lead(Leader),
    /// Another caller at the same snapshot is computing it.
    Wait(watch::Receiver<Outcome>),
}

/// The caller computing an answer. Dropped without [`finish`](Leader::finish) (the request was
/// cancelled), it releases the waiters, which then compute for themselves.
pub struct Leader {
    cache: Arc<ReadCache>,
    key: u64,
    snapshot: String,
    tx: watch::Sender<Outcome>,
}

impl Leader {
    /// Keeps `answer` (if it may be kept) and hands it to the waiting callers.
    pub fn finish(self, answer: Option<Answer>) {
        if let Some(a) = &answer {
            self.cache.put(self.key, self.snapshot.clone(), a.clone());
        }
        self.tx.send_replace(Some(answer));
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        let mut computing = self.cache.computing.lock().expect("read cache lock");
        computing.remove(&(self.key, std::mem::take(&mut self.snapshot)));
    }
}

/// Waits for another caller's answer; `None` when this caller must compute its own.
pub async fn wait(mut rx: watch::Receiver<Outcome>) -> Option<Answer> {
    match rx.wait_for(Option::is_some).await {
        Ok(outcome) => outcome.clone().flatten(),
        Err(_) => None,
    }
}

impl std::fmt::Debug for ReadCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.entries.lock().map(|e| e.0.len()).unwrap_or_default();
        f.debug_struct("ReadCache").field("entries", &n).finish()
    }
}

impl ReadCache {
    /// The answer kept for `key`, if it was computed at `snapshot` less than [`MAX_AGE`] ago.
    pub fn get(&self, key: u64, snapshot: &str) -> Option<Answer> {
        let entries = self.entries.lock().expect("read cache lock");
        entries
            .0
            .get(&key)
            .filter(|e| e.snapshot == snapshot && e.stored.elapsed() < MAX_AGE)
            .map(|e| e.answer.clone())
    }

    /// Whether this caller computes the answer for `key` at `snapshot`, or waits for another's.
    pub fn turn(self: &Arc<Self>, key: u64, snapshot: &str) -> Turn {
        let mut computing = self.computing.lock().expect("read cache lock");
        let id = (key, snapshot.to_string());
        if let Some(rx) = computing.get(&id) {
            return Turn::Wait(rx.clone());
        }
        let (tx, rx) = watch::channel(None);
        computing.insert(id, rx);
        Turn::Lead(Leader {
            cache: self.clone(),
            key,
            snapshot: snapshot.to_string(),
            tx,
        })
    }

    /// Keeps `answer`, computed after `snapshot` was taken.
    pub fn put(&self, key: u64, snapshot: String, answer: Answer) {
        if answer.body.len() > MAX_BYTES / 8 {
            return;
        }
        let mut guard = self.entries.lock().expect("read cache lock");
        let (entries, seq) = &mut *guard;
        *seq += 1;
        entries.insert(
            key,
            Entry {
                snapshot,
                stored: Instant::now(),
                seq: *seq,
                answer,
            },
        );
        // Expired answers go first, then the oldest, until both limits hold.
        entries.retain(|_, e| e.stored.elapsed() < MAX_AGE);
        let mut bytes: usize = entries.values().map(|e| e.answer.body.len()).sum();
        while entries.len() > MAX_ENTRIES || bytes > MAX_BYTES {
            let Some(oldest) = entries.iter().min_by_key(|(_, e)| e.seq).map(|(k, _)| *k) else {
                break;
            };
            if let Some(e) = entries.remove(&oldest) {
                bytes -= e.answer.body.len();
            }
        }
    }
}

/// Company reads that depend only on the database and the request.
const API_ROUTES: &[&str] = &[
    "issues",
    "agents",
    "org",
    "dashboard",
    "activity",
    "sidebar-badges",
    "costs/summary",
    "costs/by-agent",
    "costs/by-project",
    "heartbeat-runs",
    "labels",
    "projects",
    "goals",
    "approvals",
];

/// Board pages (under `/c/{companyId}/`) that show only what the database holds: not settings
/// (plugin workers, backup files), onboarding or a run's page (its log file).
const BOARD_PAGES: &[&str] = &[
    "org",
    "activity",
    "goals",
    "projects",
    "approvals",
    "costs",
    "agents",
    "issues",
];

/// Whether a `GET` of `path` takes part.
fn takes_part(path: &str) -> bool {
    if let Some(rest) = path.strip_prefix("/companies/") {
        return rest
            .split_once('/')
            .is_some_and(|(_, route)| API_ROUTES.contains(&route));
    }
    let Some(rest) = path.strip_prefix("/c/") else {
        return false;
    };
    match rest.split('/').collect::<Vec<_>>().as_slice() {
        [_] => true,
        [_, page] => BOARD_PAGES.contains(page),
        [_, "agents" | "issues", _] => true,
        _ => false,
    }
}

/// The cache key of a `GET` of `uri` (relative to `/api` or not) with these request headers,
/// when the route takes part.
pub fn key(uri: &Uri, headers: &HeaderMap) -> Option<u64> {
    let path = uri.path();
    let path = path.strip_prefix("/api").unwrap_or(path);
    if !takes_part(path) {
        return None;
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    path.hash(&mut h);
    uri.query().hash(&mut h);
    // Who is asking: the same credentials resolve to the same caller in the same database.
    for name in [header::AUTHORIZATION, header::COOKIE] {
        headers.get(&name).map(HeaderValue::as_bytes).hash(&mut h);
    }
    headers
        .get("x-paperclip-run-id")
        .map(HeaderValue::as_bytes)
        .hash(&mut h);
    Some(h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(body: &'static [u8]) -> Answer {
        Answer {
            headers: HeaderMap::new(),
            body: Bytes::from_static(body),
            etag: HeaderValue::from_static("W/\"1\""),
        }
    }

    #[test]
    fn only_listed_company_reads_take_part_and_callers_do_not_share() {
        let h = HeaderMap::new();
        let uri = |s: &str| s.parse::<Uri>().unwrap();
        let k = key(&uri("/api/companies/c1/issues?status=todo"), &h).unwrap();
        assert_eq!(key(&uri("/companies/c1/issues?status=todo"), &h), Some(k));
        assert_ne!(key(&uri("/companies/c1/issues?status=done"), &h), Some(k));
        assert_ne!(key(&uri("/companies/c2/issues?status=todo"), &h), Some(k));
        let mut bearer = HeaderMap::new();
        bearer.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        assert_ne!(
            key(&uri("/companies/c1/issues?status=todo"), &bearer),
            Some(k)
        );
        for other in [
            "/api/health",
            "/api/companies/c1",
            "/api/companies/c1/live-runs",
            "/api/issues/x",
            "/c/c1/settings",
            "/c/c1/runs/r1",
            "/c/c1/onboarding",
            "/",
        ] {
            assert_eq!(key(&uri(other), &h), None, "{other}");
        }
        for page in [
            "/c/c1",
            "/c/c1/issues",
            "/c/c1/issues/PAP-1",
            "/c/c1/agents/a1",
            "/c/c1/costs",
        ] {
            assert!(key(&uri(page), &h).is_some(), "{page}");
        }
    }

    #[test]
    fn an_answer_is_reused_only_at_its_snapshot_and_while_young() {
        let c = ReadCache::default();
        c.put(1, "10:12:".into(), answer(b"[1]"));
        assert_eq!(c.get(1, "10:12:").unwrap().body, Bytes::from_static(b"[1]"));
        assert!(c.get(1, "10:13:").is_none(), "a newer snapshot");
        assert!(c.get(2, "10:12:").is_none(), "another key");
        c.entries.lock().unwrap().0.get_mut(&1).unwrap().stored -= MAX_AGE;
        assert!(c.get(1, "10:12:").is_none(), "too old");
    }

    #[tokio::test]
    async fn callers_at_one_snapshot_share_one_computation() {
        let c = Arc::new(ReadCache::default());
        let Turn::Lead(lead) = c.turn(7, "5:9:") else {
            panic!("the first caller computes")
        };
        let Turn::Wait(rx) = c.turn(7, "5:9:") else {
            panic!("the second waits")
        };
        assert!(
            matches!(c.turn(7, "5:10:"), Turn::Lead(_)),
            "another snapshot computes"
        );
        let waiter = tokio::spawn(wait(rx));
        lead.finish(Some(answer(b"[7]")));
        assert_eq!(
            waiter.await.unwrap().unwrap().body,
            Bytes::from_static(b"[7]")
        );
        assert!(c.get(7, "5:9:").is_some(), "kept");
        assert!(
            matches!(c.turn(7, "5:9:"), Turn::Lead(_)),
            "done: the next miss computes"
        );

        // A leader that goes away (its request cancelled) releases the waiters.
        let Turn::Lead(lead) = c.turn(8, "5:9:") else {
            panic!()
        };
        let Turn::Wait(rx) = c.turn(8, "5:9:") else {
            panic!()
        };
        drop(lead);
        assert!(wait(rx).await.is_none());
    }

    #[test]
    fn the_limits_hold() {
        let c = ReadCache::default();
        for k in 0..(MAX_ENTRIES as u64 + 10) {
            c.put(k, "1:1:".into(), answer(b"[]"));
        }
        assert_eq!(c.entries.lock().unwrap().0.len(), MAX_ENTRIES);
        assert!(
            c.get(MAX_ENTRIES as u64 + 9, "1:1:").is_some(),
            "the newest stays"
        );
    }
}
