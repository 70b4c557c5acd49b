//! The HTTP server's own accept loop, in place of `axum::serve`: it caps the
//! connections still speaking HTTP, closes those that do not send a request
//! head in time, and ends within its bound on shutdown whatever clients do.
//!
//! Without these, a client that opens connections and sends half a request
//! on each holds them forever: 2,048 of them stopped `/healthz`, and one
//! kept the process alive after SIGTERM (`axum::serve`'s graceful shutdown
//! waits for every connection).
//!
//! The timeout is hyper's own header read timeout, on hyper's timer: it
//! runs while a request head is awaited, from the connection's opening or
//! the end of the previous answer, so an idle keep-alive connection is
//! closed after it too. A request whose handling (its body included) takes
//! longer than the same timeout is answered 408 and the connection closed.
//! Each connection's task holds its place under the
//! cap; when the connection becomes a WebSocket, hyper hands the socket to
//! the upgrade and the task ends, taking its place, its timer and the
//! HTTP state with it. An idle WebSocket costs what it did under
//! `axum::serve`: the upgraded socket and its session, nothing more.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::serve::Listener;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tower_service::Service;

use super::listener::ClientAddr;
use super::proxy_protocol::ProxyProtocol;
use super::sniff::Prefixed;

/// The limits on connections that speak HTTP (not yet, or never, a
/// WebSocket).
#[derive(Debug, Clone, Copy)]
pub(crate) struct HttpLimits {
    /// Most such connections at once; one more is closed as it arrives.
    pub(crate) max_connections: usize,
    /// How long a connection has to send a whole request head, from its
    /// opening or from the end of its previous answer; and how long a
    /// request may take to be handled, its body included.
    pub(crate) request_timeout: Duration,
}

/// Serves `router` on `listener` until `shutdown` completes; then stops
/// accepting, asks every HTTP connection to finish (an idle one closes at
/// once, one with a request under way after its answer) and waits for them
/// until `grace` after the signal, no longer. Returns that deadline, so
/// that what else must drain is held to the same bound. With `proxy`, each
/// connection's PROXY header is read first, in its place under the cap
/// (for a listener that has not read it itself, as TLS does before its
/// handshake).
pub(crate) async fn serve<L>(
    mut listener: L,
    router: Router,
    limits: HttpLimits,
    proxy: Option<ProxyProtocol>,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> Instant
where
    L: Listener<Addr = ClientAddr>,
    L::Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let max = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(max));
    let (stop, stopping) = watch::channel(());
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.request_timeout);
    let builder = Arc::new(builder);

    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (io, addr) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        // At the cap the newcomer is closed at once: it learns so now,
        // where waiting would leave it hanging unanswered.
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            drop(io);
            continue;
        };
        let (router, builder, mut stopping) = (router.clone(), builder.clone(), stopping.clone());
        let timeout = limits.request_timeout;
        let proxy = proxy.clone();
        tokio::spawn(async move {
            let (io, addr) = match proxy {
                Some(proxy) => match proxy.accept(io, addr.peer).await {
                    Some(accepted) => accepted,
                    None => return,
                },
                None => (Prefixed::new(Vec::new(), io), addr),
            };
            let service = service_fn(move |mut request: axum::extract::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(addr));
                let mut router = router.clone();
                async move {
                    // A request whose body never comes in full holds no
                    // place for longer than a head may take.
                    match tokio::time::timeout(timeout, router.call(request)).await {
                        Ok(answered) => answered,
                        Err(_) => Ok(timed_out()),
                    }
                }
            });
            let connection = builder
                .serve_connection(TokioIo::new(io), service)
                .with_upgrades();
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = stopping.changed() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(slot);
        });
    }
    let until = Instant::now() + grace;
    drop(listener);
    drop(stopping);
    let _ = stop.send(());
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    if tokio::time::timeout_at(until, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("closing with HTTP requests still unfinished");
    }
    until
}

/// The answer to a request not handled within the request timeout.
fn timed_out() -> Response {
    (StatusCode::REQUEST_TIMEOUT, [(header::CONNECTION, "close")]).into_response()
}
