//! Live events over WebSocket: `GET /api/companies/:id/events/ws[?after=<cursor>]`.
//!
//! One hub per server reads the `live_events` outbox in its one safe order (woken by
//! `LISTEN paperclip_live`, with a 1 s poll) and broadcasts to this server's sockets, so a
//! client on any replica sees what every replica did. A socket first replays what it missed
//! after its cursor from the database, then follows the broadcast, skipping what it already
//! sent: no gaps, no duplicates. The broadcast buffer is bounded; a client that falls behind it
//! is closed with a reason (and resumes from its cursor), never buffered without limit.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use paperclip_postgres::Db;
use paperclip_store::live::{self, Cursor, LiveEvent};
use tokio::sync::{broadcast, Notify};
use uuid::Uuid;

use crate::auth::Auth;
use crate::extract::QueryMap;
use crate::{ApiError, AppState};

/// Events a socket may fall behind the hub before it is closed.
pub const BUFFER: usize = 4096;
/// A client that does not take a message for this long is closed.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// WebSocket close code for "too slow: reconnect with your cursor".
const CLOSE_SLOW: u16 = 4008;

type Shared = Arc<(Cursor, LiveEvent)>;

/// This server's reader of the outbox.
#[derive(Debug)]
pub struct Hub {
    db: Db,
    listen_url: String,
    tx: broadcast::Sender<Shared>,
    head: Mutex<Option<Cursor>>,
    wake: Notify,
}

impl Hub {
    pub fn new(db: Db, listen_url: String) -> Arc<Self> {
        Arc::new(Self {
            db,
            listen_url,
            tx: broadcast::channel(BUFFER).0,
            head: Mutex::new(None),
            wake: Notify::new(),
        })
    }

    /// Sockets connected to this server.
    pub fn clients(&self) -> usize {
        self.tx.receiver_count()
    }

    /// The supervised service: follow the outbox forever.
    pub async fn run_forever(self: Arc<Self>) {
        let listener = tokio::spawn(self.clone().listen());
        let _guard = AbortOnDrop(listener);
        loop {
            match self.round().await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => tracing::warn!("cannot read live events: {e}"),
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    /// Reads and broadcasts one batch; `true` when there may be more.
    async fn round(&self) -> Result<bool, paperclip_store::StoreError> {
        let mut conn = self.db.session().await?;
        let start = *self.head.lock().expect("head");
        let start = match start {
            Some(c) => c,
            None => live::head(&mut conn).await?,
        };
        let batch = live::read(&mut conn, start, None, 500).await?;
        conn.close().await?;
        let more = batch.len() == 500;
        let mut head = start;
        for (c, e) in batch {
            head = c;
            let _ = self.tx.send(Arc::new((c, e)));
        }
        *self.head.lock().expect("head") = Some(head);
        Ok(more)
    }

    async fn listen(self: Arc<Self>) {
        loop {
            let subscribed = async {
                let mut l = sqlx::postgres::PgListener::connect(&self.listen_url).await?;
                l.listen(live::CHANNEL).await?;
                Ok::<_, sqlx::Error>(l)
            }
            .await;
            match subscribed {
                Ok(mut l) => {
                    while l.recv().await.is_ok() {
                        self.wake.notify_one();
                    }
                }
                Err(e) => tracing::warn!("live event notifications unavailable ({e}); polling"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Query of the socket route.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct EventsQuery {
    /// Resume after this cursor (from an event's `cursor`); from now when absent.
    pub after: Option<String>,
}

/// A browser page may only open the socket from this server's own origin (a WebSocket is not
/// bound by CORS: without this, any web page could read the board's events).
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get("origin").and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    url::Url::parse(origin).ok().is_some_and(|u| {
        let authority = match u.port() {
            Some(p) => format!("{}:{p}", u.host_str().unwrap_or("")),
            None => u.host_str().unwrap_or("").to_string(),
        };
        authority.eq_ignore_ascii_case(host)
    })
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn socket(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(cid): Path<String>,
    headers: HeaderMap,
    q: QueryMap<EventsQuery>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    if !same_origin(&headers) {
        return Err(ApiError::Forbidden(
            "Live events may only be opened from this server's own pages".into(),
        ));
    }
    let after = match q.text("after") {
        None => None,
        Some(t) => Some(Cursor::parse(t).ok_or_else(|| {
            ApiError::validation(vec![
                serde_json::json!({"code": "invalid_string", "path": ["after"],
                "message": "after must be a cursor from an event (\"<xid>-<seq>\")"}),
            ])
        })?),
    };
    let mut conn = s.db.session().await?;
    let company = crate::routes::company(&mut conn, &actor, &cid).await?;
    let start = match after {
        Some(c) => c,
        None => live::head(&mut conn).await?,
    };
    conn.close().await?;
    // Subscribe before the replay, so nothing between the two is missed.
    let rx = s.live.tx.subscribe();
    let db = s.db.clone();
    // Clients only send pings and closes: small buffers keep a thousand idle sockets cheap
    // (tungstenite's defaults are 128 KiB each way).
    Ok(upgrade
        .read_buffer_size(4 * 1024)
        .write_buffer_size(8 * 1024)
        .max_message_size(64 * 1024)
        .max_frame_size(64 * 1024)
        .on_upgrade(move |ws| follow(ws, db, company.id, start, rx)))
}

async fn send(ws: &mut WebSocket, e: &LiveEvent) -> bool {
    let text = serde_json::to_string(e).expect("serializable");
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, ws.send(Message::Text(text.into()))).await,
        Ok(Ok(()))
    )
}

async fn close(mut ws: WebSocket, code: u16, reason: String) {
    let _ = tokio::time::timeout(
        Duration::from_secs(2),
        ws.send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }))),
    )
    .await;
}

async fn follow(
    mut ws: WebSocket,
    db: Db,
    company: Uuid,
    mut cursor: Cursor,
    mut rx: broadcast::Receiver<Shared>,
) {
    // What the client missed, from the database.
    loop {
        let batch = async {
            let mut conn = db.session().await.ok()?;
            let b = live::read(&mut conn, cursor, Some(company), 500).await.ok();
            let _ = conn.close().await;
            b
        }
        .await;
        let Some(batch) = batch else {
            return close(ws, 1011, "cannot read live events; reconnect".into()).await;
        };
        let n = batch.len();
        for (c, e) in batch {
            if !send(&mut ws, &e).await {
                return;
            }
            cursor = c;
        }
        if n < 500 {
            break;
        }
    }
    loop {
        tokio::select! {
            got = rx.recv() => match got {
                Ok(ev) => {
                    let (c, e) = &*ev;
                    if e.company_id == company && *c > cursor {
                        if !send(&mut ws, e).await {
                            return close(ws, CLOSE_SLOW, format!("too slow; reconnect with after={cursor}")).await;
                        }
                        cursor = *c;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    return close(ws, CLOSE_SLOW, format!("too slow; reconnect with after={cursor}")).await;
                }
                Err(broadcast::error::RecvError::Closed) => return close(ws, 1001, "server stopping".into()).await,
            },
            incoming = ws.recv() => match incoming {
                None | Some(Err(_) | Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
