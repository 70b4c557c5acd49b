//! The listeners the HTTP server accepts on: plain TCP and TLS, and the
//! client address each connection carries into the handlers.

use std::net::{IpAddr, SocketAddr};

use axum::serve::Listener;
use tokio::net::{TcpListener, TcpStream};

/// Where a connection comes from, from a plain or a TLS listener alike;
/// [`super::forwarded::client_ip`] tells from it which client to count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientAddr {
    /// The socket's peer.
    pub(crate) peer: SocketAddr,
    /// The client the peer named in a PROXY protocol header, if it sent
    /// one (`super::proxy_protocol`).
    pub(crate) proxied: Option<IpAddr>,
}

impl ClientAddr {
    /// A connection without a PROXY header.
    pub(crate) fn direct(peer: SocketAddr) -> ClientAddr {
        ClientAddr {
            peer,
            proxied: None,
        }
    }
}

/// Plain TCP, with Nagle's algorithm off: signaling messages are small and
/// latency-bound.
pub(crate) struct PlainListener(pub(crate) TcpListener);

impl Listener for PlainListener {
    type Io = TcpStream;
    type Addr = ClientAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, addr) = Listener::accept(&mut self.0).await;
        let _ = stream.set_nodelay(true);
        (stream, ClientAddr::direct(addr))
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.0.local_addr().map(ClientAddr::direct)
    }
}
