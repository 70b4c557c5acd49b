//! HTTPS and WSS. Browsers give the camera and microphone only to secure
//! pages, and a page served from another machine is secure only over TLS;
//! so a LAN deployment needs a certificate: one from files, or one made at
//! start for this machine's names and addresses, or one from an ACME CA
//! (`super::acme`). The certificate is chosen at each handshake by
//! [`Keys`], so that a renewed one is served without a restart.
//!
//! TLS handshakes run in their own tasks, so a client that stalls in its
//! handshake cannot hold up anyone else's connection. When the built-in
//! TURN server runs, the same port serves TURN over TLS: connections whose
//! first bytes are STUN, or that asked for it by ALPN, go to TURN
//! ([`TurnHandoff`], [`super::sniff`]). With `--proxy-protocol`, the PROXY
//! header is read before the handshake, in the same task; TURN is handed
//! the socket's peer, not the address in the header.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::ResolvesServerCert;
use sha2::{Digest, Sha256};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use super::keys::{self, ACME_TLS_ALPN, Keys};
use super::listener::ClientAddr;
use super::proxy_protocol::ProxyProtocol;
use super::sniff::{self, Prefixed, Speaks};

/// Longest a client may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Finished handshakes waiting for the HTTP server to take them.
const ACCEPT_QUEUE: usize = 128;

/// A server certificate and what to tell the operator about it.
pub struct Certificate {
    pub(crate) config: Arc<ServerConfig>,
    /// SHA-256 of the certificate, as colon-separated hex (the way browsers
    /// show it), so that a person can check what their browser warns about.
    pub fingerprint: String,
    /// The names and addresses a made-up certificate is valid for.
    pub names: Vec<String>,
    /// What `config` serves, for whoever replaces it (ACME renewal).
    pub(crate) keys: Arc<Keys>,
}

/// Whether the server answers ACME's TLS-ALPN-01 validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Acme {
    No,
    Yes,
}

impl Certificate {
    /// Serves `chain` with `key`.
    pub(crate) fn new(
        chain: Vec<CertificateDer<'static>>,
        key: &PrivateKeyDer<'static>,
        names: Vec<String>,
        acme: Acme,
    ) -> io::Result<Certificate> {
        let leaf = chain.first().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, "no certificate in the chain")
        })?;
        let fingerprint = fingerprint(leaf);
        let served = keys::certified(chain, key)
            .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))?;
        let keys = Arc::new(Keys::new(served));
        Ok(Certificate {
            config: server_config(keys.clone(), acme)?,
            fingerprint,
            names,
            keys,
        })
    }
}

fn server_config(keys: Arc<dyn ResolvesServerCert>, acme: Acme) -> io::Result<Arc<ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_cert_resolver(keys);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    if acme == Acme::Yes {
        config.alpn_protocols.push(ACME_TLS_ALPN.to_vec());
    }
    Ok(Arc::new(config))
}

pub(crate) fn fingerprint(cert: &CertificateDer<'_>) -> String {
    let digest = Sha256::digest(cert.as_ref());
    let hex: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
    hex.join(":")
}

/// Reads a PEM certificate chain and private key.
pub(crate) fn from_files(cert_path: &Path, key_path: &Path) -> io::Result<Certificate> {
    let invalid = |path: &Path, err: rustls::pki_types::pem::Error| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {err}", path.display()),
        )
    };
    let chain = CertificateDer::pem_file_iter(cert_path)
        .map_err(|e| invalid(cert_path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(cert_path, e))?;
    if chain.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: no certificate in the file", cert_path.display()),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| invalid(key_path, e))?;
    Certificate::new(chain, &key, Vec::new(), Acme::No)
}

/// Makes a self-signed certificate for this machine: `localhost`, its host
/// name, the listening address, and every address of its interfaces.
pub(crate) fn self_signed(listen: IpAddr, acme: Acme) -> io::Result<Certificate> {
    let mut names = vec!["localhost".to_owned()];
    if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let host = host.trim();
        if !host.is_empty() && host != "localhost" {
            names.push(host.to_owned());
        }
    }
    let mut addresses = vec![listen];
    if listen.is_unspecified() {
        addresses = if_addrs::get_if_addrs()
            .map(|interfaces| interfaces.into_iter().map(|i| i.ip()).collect())
            .unwrap_or_default();
    }
    for ip in [
        IpAddr::from([127, 0, 0, 1]),
        IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]),
    ] {
        addresses.push(ip);
    }
    for ip in addresses {
        let ip = ip.to_string();
        if !names.contains(&ip) {
            names.push(ip);
        }
    }
    let made = rcgen::generate_simple_self_signed(names.clone()).map_err(io::Error::other)?;
    let key =
        PrivateKeyDer::try_from(made.signing_key.serialize_der()).map_err(io::Error::other)?;
    Certificate::new(vec![made.cert.der().clone()], &key, names, acme)
}

/// A TLS connection whose handshake is done, with the bytes read to sort
/// it put back in front (and under TLS, those read after a PROXY header).
pub(crate) type TlsConnection = Prefixed<TlsStream<Prefixed<TcpStream>>>;

/// Where the HTTPS port hands the connections that speak TURN.
pub(crate) struct TurnHandoff {
    /// Takes a connection and the client's address.
    pub(crate) serve: Box<dyn Fn(TlsConnection, SocketAddr) + Send + Sync>,
    /// The ALPN protocol id that asks for TURN.
    pub(crate) alpn: &'static [u8],
    /// How long a client has, after its handshake, to send the bytes that
    /// tell what it speaks: the HTTP request timeout, after which the HTTP
    /// server would close a silent connection anyway.
    pub(crate) wait: Duration,
    /// Most connections waiting for those bytes at once; one more is
    /// closed at once. The HTTP connection cap: without the sorting, they
    /// would wait under it.
    pub(crate) waiting: usize,
}

/// The TURN handoff with the places of the connections it waits on.
struct Sorter {
    turn: TurnHandoff,
    places: Arc<Semaphore>,
}

impl Sorter {
    /// Sends `stream` where it belongs: TURN if it asked by ALPN or its
    /// first bytes are STUN, else HTTP (`http`); closes it if it says
    /// nothing in time or no place is left to wait in.
    async fn route(
        &self,
        stream: TlsStream<Prefixed<TcpStream>>,
        client: ClientAddr,
        http: &mpsc::Sender<(TlsConnection, ClientAddr)>,
    ) {
        let turn = &self.turn;
        let (speaks, stream) = if stream.get_ref().1.alpn_protocol() == Some(turn.alpn) {
            (Speaks::Turn, Prefixed::new(Vec::new(), stream))
        } else {
            let Ok(_place) = self.places.clone().try_acquire_owned() else {
                return;
            };
            match sniff::sort(stream, turn.wait).await {
                Some(sorted) => sorted,
                None => return,
            }
        };
        match speaks {
            Speaks::Http => {
                let _ = http.send((stream, client)).await;
            }
            Speaks::Turn => (turn.serve)(stream, client.peer),
        }
    }
}

/// A listener that yields connections whose TLS handshake is done and
/// that speak HTTP.
pub(crate) struct TlsListener {
    ready: mpsc::Receiver<(TlsConnection, ClientAddr)>,
    local_addr: SocketAddr,
    acceptor_task: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    pub(crate) fn new(
        listener: TcpListener,
        config: Arc<ServerConfig>,
        turn: Option<TurnHandoff>,
        proxy: Option<ProxyProtocol>,
    ) -> io::Result<TlsListener> {
        let local_addr = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(ACCEPT_QUEUE);
        let config = match &turn {
            Some(turn) => {
                // Offered after HTTP: a client that offers both gets HTTP.
                let mut config = (*config).clone();
                config.alpn_protocols.push(turn.alpn.to_vec());
                Arc::new(config)
            }
            None => config,
        };
        let sorter = turn.map(|turn| {
            let places = turn.waiting.clamp(1, Semaphore::MAX_PERMITS);
            Arc::new(Sorter {
                turn,
                places: Arc::new(Semaphore::new(places)),
            })
        });
        let acceptor = TlsAcceptor::from(config);
        let acceptor_task = tokio::spawn(async move {
            loop {
                let (tcp, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        // Out of file descriptors, say: wait rather than spin.
                        tracing::warn!(%err, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
                let (acceptor, tx, sorter) = (acceptor.clone(), tx.clone(), sorter.clone());
                let proxy = proxy.clone();
                tokio::spawn(async move {
                    let (tcp, client) = match proxy {
                        Some(proxy) => match proxy.accept(tcp, peer).await {
                            Some(accepted) => accepted,
                            None => return,
                        },
                        None => (Prefixed::new(Vec::new(), tcp), ClientAddr::direct(peer)),
                    };
                    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp));
                    let Ok(Ok(stream)) = handshake.await else {
                        return;
                    };
                    match sorter {
                        Some(sorter) => sorter.route(stream, client, &tx).await,
                        None => {
                            let _ = tx.send((Prefixed::new(Vec::new(), stream), client)).await;
                        }
                    }
                });
            }
        });
        Ok(TlsListener {
            ready,
            local_addr,
            acceptor_task,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor_task.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsConnection;
    type Addr = ClientAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The acceptor task ends only with the listener itself.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(ClientAddr::direct(self.local_addr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_certificate_covers_local_names() {
        let cert = self_signed(IpAddr::from([127, 0, 0, 1]), Acme::No).unwrap();
        assert!(cert.names.contains(&"localhost".to_owned()));
        assert!(cert.names.contains(&"127.0.0.1".to_owned()));
        assert!(cert.names.contains(&"::1".to_owned()));
        assert_eq!(cert.fingerprint.len(), 32 * 3 - 1);
        assert_eq!(cert.config.alpn_protocols, [b"http/1.1".to_vec()]);
        let acme = self_signed(IpAddr::from([127, 0, 0, 1]), Acme::Yes).unwrap();
        assert_eq!(
            acme.config.alpn_protocols,
            [b"http/1.1".to_vec(), ACME_TLS_ALPN.to_vec()]
        );
    }

    #[test]
    fn files_are_read_and_bad_files_refused() {
        let dir = std::env::temp_dir().join(format!("parlor-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let made = rcgen::generate_simple_self_signed(vec!["parlor.test".to_owned()]).unwrap();
        let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert_path, made.cert.pem()).unwrap();
        std::fs::write(&key_path, made.signing_key.serialize_pem()).unwrap();
        let cert = from_files(&cert_path, &key_path).unwrap();
        assert_eq!(cert.fingerprint, fingerprint(made.cert.der()));

        std::fs::write(&key_path, "not a key").unwrap();
        assert!(from_files(&cert_path, &key_path).is_err());
        let other = rcgen::generate_simple_self_signed(vec!["other.test".to_owned()]).unwrap();
        std::fs::write(&key_path, other.signing_key.serialize_pem()).unwrap();
        assert!(
            from_files(&cert_path, &key_path).is_err(),
            "a key of another certificate"
        );
        std::fs::write(&cert_path, "").unwrap();
        assert!(from_files(&cert_path, &key_path).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
