//! The accept loop: what a client that never finishes its request can hold, and for how long.
//!
//! `axum::serve` has no limits of its own, so a few hundred slowloris sockets used to stay open
//! for a minute and, under a 1,024-descriptor limit, starve the server of the descriptors its
//! database connections need. Here every connection needs a permit (over the cap it is closed at
//! once), a request head must arrive within [`HEADER_TIMEOUT`] (which also closes idle
//! keep-alive connections), and a body must keep arriving ([`BODY_TIMEOUT`], in the router).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Time to send a whole request head (and the longest a keep-alive connection idles).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest pause while a request body arrives.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// Descriptors kept back from client connections (database pool, files, plugin pipes).
const RESERVED_FDS: u64 = 256;

/// Open client connections at most: the open-file limit less a reserve, within 64..=16,384.
pub fn connection_cap() -> usize {
    let soft = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or(1024, |(soft, _)| soft);
    soft.saturating_sub(RESERVED_FDS).clamp(64, 16_384) as usize
}

/// Serves `app` on `listener` until `shutdown`, then lets open requests finish.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let cap = connection_cap();
    let permits = Arc::new(Semaphore::new(cap));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(HEADER_TIMEOUT));
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    let mut refused = 0u64;
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(s) => s,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning; the cap should prevent it.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            refused += 1;
            if refused.is_power_of_two() {
                tracing::warn!("{cap} connections are open; refused {refused} so far");
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        // Every request knows its connection's peer (login throttling per client address).
        let service = TowerToHyperService::new(tower::ServiceExt::map_request(
            app.clone(),
            move |mut req: axum::extract::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(crate::session::PeerAddr(peer));
                req
            },
        ));
        let builder = builder.clone();
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
