//! The listeners the HTTP server accepts on: plain TCP and TLS, each behind
//! a [`Guarded`] listener that caps the connections still speaking HTTP and
//! closes those that do not finish a request in time; and the client
//! address each connection carries into the handlers.
//!
//! Without these, a client that opens connections and sends half a request
//! on each holds them forever: 2,048 of them took every file descriptor
//! (`/healthz` stopped answering), and one kept the process alive after
//! SIGTERM. A connection upgraded to a WebSocket leaves both: the session
//! has its own liveness rules and its own caps.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use super::tls::TlsListener;

/// The client's address, from a plain or a TLS listener alike, and a handle
/// on its connection for the WebSocket upgrade.
#[derive(Debug, Clone)]
pub(crate) struct ClientAddr(pub(crate) SocketAddr, pub(crate) Connection);

impl Connected<IncomingStream<'_, Guarded<PlainListener>>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, Guarded<PlainListener>>) -> Self {
        ClientAddr(*stream.remote_addr(), stream.io().connection.clone())
    }
}

impl Connected<IncomingStream<'_, Guarded<TlsListener>>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, Guarded<TlsListener>>) -> Self {
        ClientAddr(*stream.remote_addr(), stream.io().connection.clone())
    }
}

/// Plain TCP, with Nagle's algorithm off: signaling messages are small and
/// latency-bound.
pub(crate) struct PlainListener(pub(crate) TcpListener);

impl Listener for PlainListener {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, addr) = Listener::accept(&mut self.0).await;
        let _ = stream.set_nodelay(true);
        (stream, addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// The limits on connections that speak HTTP (not yet, or never, a
/// WebSocket).
#[derive(Debug, Clone, Copy)]
pub(crate) struct HttpLimits {
    /// Most such connections at once; one more is closed as it arrives.
    pub(crate) max_connections: usize,
    /// How long a connection has to send a whole request, from its opening
    /// or from the last bytes of its previous answer; an idle keep-alive
    /// connection is closed after it too.
    pub(crate) request_timeout: Duration,
}

/// A listener whose connections are capped and timed, see the module.
pub(crate) struct Guarded<L> {
    inner: L,
    limits: HttpLimits,
    slots: Arc<Semaphore>,
}

impl<L> Guarded<L> {
    pub(crate) fn new(inner: L, limits: HttpLimits) -> Self {
        Guarded {
            inner,
            limits,
            slots: Arc::new(Semaphore::new(limits.max_connections)),
        }
    }
}

impl<L> Listener for Guarded<L>
where
    L: Listener<Addr = SocketAddr>,
    L::Io: Unpin,
{
    type Io = GuardedStream<L::Io>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (io, addr) = self.inner.accept().await;
            // At the cap the newcomer is closed at once: it learns so now,
            // where waiting would leave it hanging unanswered.
            let Ok(slot) = self.slots.clone().try_acquire_owned() else {
                drop(io);
                continue;
            };
            let timeout = self.limits.request_timeout;
            return (
                GuardedStream {
                    inner: io,
                    timeout,
                    deadline: Box::pin(tokio::time::sleep(timeout)),
                    connection: Connection(Arc::new(ConnectionState {
                        upgraded: AtomicBool::new(false),
                        slot: Mutex::new(Some(slot)),
                    })),
                },
                addr,
            );
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A handle on one accepted connection.
#[derive(Debug, Clone)]
pub(crate) struct Connection(Arc<ConnectionState>);

#[derive(Debug)]
struct ConnectionState {
    upgraded: AtomicBool,
    /// Its place under [`HttpLimits::max_connections`].
    slot: Mutex<Option<OwnedSemaphorePermit>>,
}

impl Connection {
    /// The connection becomes a WebSocket: the request timeout and the cap
    /// of HTTP connections no longer apply to it.
    pub(crate) fn upgrading(&self) {
        self.0.upgraded.store(true, Ordering::Relaxed);
        let slot = self.0.slot.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(slot);
    }
}

/// A connection that fails its reads once its request deadline passes,
/// unless it became a WebSocket. Every write of an answer moves the
/// deadline on: the client then has the whole timeout for its next request.
pub(crate) struct GuardedStream<S> {
    inner: S,
    timeout: Duration,
    deadline: Pin<Box<Sleep>>,
    connection: Connection,
}

impl<S: AsyncRead + Unpin> AsyncRead for GuardedStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.connection.0.upgraded.load(Ordering::Relaxed)
            && this.deadline.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no complete request in time",
            )));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for GuardedStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            let next = Instant::now() + this.timeout;
            this.deadline.as_mut().reset(next);
        }
        written
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            let next = Instant::now() + this.timeout;
            this.deadline.as_mut().reset(next);
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
