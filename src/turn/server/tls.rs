//! TURN over TLS (`turns:`, RFC 8656 section 3.1 and RFC 7443): the same
//! stream serving as TURN over TCP ([`super::tcp::serve`]), over the
//! decrypted stream, under the same caps (the TCP ones: TLS and TCP
//! connections count together, in all and per client address), the same
//! deadlines and the same bounded queues.
//!
//! TLS connections arrive two ways: on a port of their own
//! (`--turns-listen`, [`accept`]), and from the HTTPS port, whose listener
//! hands over those whose first bytes are STUN ([`TlsEntry`]).

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::super::core::{ClientKey, FRAME_TIMEOUT};
use super::Shared;
use super::tcp::{Admission, accept_with, serve};

/// The ALPN protocol id of TURN over TLS (RFC 7443).
pub(crate) const ALPN: &[u8] = b"stun.turn";

/// Accepts TURN over TLS on a port of its own. A connection takes its
/// place under the caps before its handshake, which must end within the
/// time a frame may take to arrive.
pub(super) async fn accept(shared: Arc<Shared>, listener: TcpListener, config: Arc<ServerConfig>) {
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    // Only TURN is spoken here: a client that offers ALPN must offer
    // "stun.turn"; one that offers none is welcome too.
    let mut config = (*config).clone();
    config.alpn_protocols = vec![ALPN.to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));
    accept_with(shared, listener, move |shared, stream, remote| {
        let acceptor = acceptor.clone();
        async move {
            let handshake = tokio::time::timeout(FRAME_TIMEOUT, acceptor.accept(stream)).await;
            match handshake {
                Ok(Ok(tls)) => serve_tls(shared, tls, ClientKey::Tls(remote, port)).await,
                _ => tracing::debug!(client = %remote, "TURN TLS handshake failed or too slow"),
            }
        }
    })
    .await
}

/// Serves one client over TLS: the stream is split by a lock, as TLS
/// state cannot be read and written apart.
async fn serve_tls<S>(shared: Arc<Shared>, stream: S, key: ClientKey)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (reader, writer) = tokio::io::split(stream);
    serve(shared, reader, writer, key).await
}

/// Where another listener hands the TLS connections it found to speak
/// TURN: the HTTPS port, which serves both.
#[derive(Clone)]
pub(crate) struct TlsEntry {
    pub(super) shared: Arc<Shared>,
}

impl TlsEntry {
    /// Serves `stream`, a TLS connection from `remote` to the server's
    /// `port` whose handshake is done, in a task of its own; or closes it
    /// at once when a cap is reached.
    pub(crate) fn serve<S>(&self, stream: S, remote: SocketAddr, port: u16)
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let Some(admission) = Admission::new(&self.shared, remote) else {
            tracing::debug!(client = %remote, "TURN TLS connection refused at a cap");
            return;
        };
        let shared = self.shared.clone();
        tokio::spawn(async move {
            serve_tls(shared, stream, ClientKey::Tls(remote, port)).await;
            drop(admission);
        });
    }
}
