//! The tokio shells of the STUN/TURN server: the listening sockets (UDP and
//! TCP on one port, TLS on the HTTPS port and optionally one of its own),
//! one UDP socket and one small task per allocation, and a sweeper for
//! lifetimes. The rules are in the sans-IO [`super::core`]; the
//! shells receive, ask it, and do what it answers.
//!
//! The core sits behind one mutex, held for a table lookup and never across
//! a system call or an await: a shell locks, asks, unlocks and only then
//! sends, binds, spawns or closes. Sends never wait either: a datagram that
//! does not fit a socket buffer (or a TCP client's bounded queue) is
//! dropped, as a router would, so a slow client only ever loses its own
//! packets.
//!
//! Untrusted input is never trusted for size: UDP reads go to one buffer per
//! worker thread, TCP frames are at most 64 KiB plus a header, and every
//! table (allocations, users, permissions, channels, reservations, TCP
//! connections) has a cap.
//!
//! Files: this one starts the server and turns the core's answers into
//! actions; [`sockets`] binds, [`udp`], [`tcp`] and [`tls`] serve clients,
//! [`relay`] opens relay sockets and runs their tasks, [`sweep`] ages
//! allocations.

mod relay;
mod sockets;
mod sweep;
mod tcp;
mod tls;
mod udp;

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rustls::ServerConfig;
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;

use super::Settings;
use super::auth::Auth;
use super::core::{
    Advertised, Budget, ClientKey, Core, HALF_FRAME_BYTES, Now, Outcome, TcpAdmissions,
};
use super::metrics::{Direction, Discard, TurnMetrics};
use relay::Sockets;
use sockets::RelayIp;
pub(crate) use tls::{ALPN as TLS_ALPN, TlsEntry};

/// How a packet reached the server, for the sink of a new allocation.
#[derive(Clone, Copy)]
enum Origin<'a> {
    Udp,
    Tcp(&'a tcp::TcpSink),
}

/// What the tasks share: the core and the listening UDP socket.
struct Shared {
    core: Mutex<Core<Sockets>>,
    metrics: Arc<TurnMetrics>,
    udp: Arc<UdpSocket>,
    relay_v4: Option<RelayIp>,
    relay_v6: Option<RelayIp>,
    /// Stream connections (TCP and TLS), in all and per client address.
    tcp: Mutex<TcpAdmissions>,
    /// Bytes of half-received frames over all stream connections.
    half_frames: Budget,
}

/// A bound, not yet running STUN/TURN server.
pub struct TurnServer {
    settings: Settings,
    udp: UdpSocket,
    tcp: TcpListener,
    local: SocketAddr,
    relay_v4: Option<RelayIp>,
    relay_v6: Option<RelayIp>,
}

/// The running server's tasks; dropping it stops them.
pub struct TurnHandle {
    tasks: Vec<JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl Drop for TurnHandle {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        // Relay tasks hold the shared state; dropping the allocations stops
        // them and breaks the cycle.
        let released = self.shared.lock().clear();
        drop(released);
    }
}

impl TurnServer {
    /// Binds UDP and TCP on `settings.listen` (with port 0: the same free
    /// port for both).
    pub async fn bind(settings: Settings) -> io::Result<TurnServer> {
        let (udp, tcp) = sockets::bind_pair(settings.listen)?;
        let local = udp.local_addr()?;
        let (relay_v4, relay_v6) = sockets::relay_ips(local.ip(), settings.external_ip);
        if relay_v4.is_none() && relay_v6.is_none() {
            return Err(io::Error::other("no address to relay from"));
        }
        if relay_v4.is_none() {
            // Clients ask for IPv4 relayed addresses unless they say
            // otherwise, and browsers never say otherwise: every Allocate
            // would get 440.
            return Err(io::Error::other(format!(
                "{} is one IPv6 address, from which no IPv4 relay can be offered, and \
                 clients ask for IPv4 relays by default; listen on [::]:{} to serve \
                 both families, or on an IPv4 address",
                local.ip(),
                settings.listen.port()
            )));
        }
        for relay in [relay_v4, relay_v6].into_iter().flatten() {
            tracing::info!(
                listen = %local,
                relayed = %relay.advertise,
                ports = %settings.relay_ports,
                "TURN relays on {}, advertised as {}",
                relay.bind,
                relay.advertise
            );
        }
        Ok(TurnServer {
            settings,
            udp,
            tcp,
            local,
            relay_v4,
            relay_v6,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Starts serving, counting in `metrics`; the server runs until the
    /// handle is dropped.
    pub fn spawn(self, metrics: Arc<TurnMetrics>) -> TurnHandle {
        let tcp = TcpAdmissions::new(
            tcp_connections(&self.settings),
            self.settings.tcp_per_ip.max(1),
        );
        let advertised = Advertised {
            v4: self.relay_v4.map(|r| r.advertise),
            v6: self.relay_v6.map(|r| r.advertise),
        };
        let auth = Auth::new(self.settings.realm.clone(), self.settings.secret.clone());
        let seed = u64::from_ne_bytes(crate::random::bytes());
        let listen_ip = self.settings.listen.ip();
        let mut core = Core::new(self.settings, advertised, auth, metrics.clone(), seed);
        if listen_ip.is_unspecified() {
            // Listening everywhere: every address of the machine is the
            // server's own.
            let interfaces = if_addrs::get_if_addrs().unwrap_or_default();
            core.add_own_addresses(interfaces.iter().map(|i| i.ip()));
        }
        let shared = Arc::new(Shared {
            core: Mutex::new(core),
            metrics,
            udp: Arc::new(self.udp),
            relay_v4: self.relay_v4,
            relay_v6: self.relay_v6,
            tcp: Mutex::new(tcp),
            half_frames: Budget::new(HALF_FRAME_BYTES),
        });
        let tasks = vec![
            tokio::spawn(udp::serve(shared.clone())),
            tokio::spawn(tcp::accept(shared.clone(), self.tcp)),
            tokio::spawn(sweep::run(shared.clone())),
        ];
        TurnHandle { tasks, shared }
    }
}

impl TurnHandle {
    /// Serves TURN over TLS on `listener` too, a port of its own, with the
    /// certificate of `config`.
    pub(crate) fn serve_tls(&mut self, listener: TcpListener, config: Arc<ServerConfig>) {
        let shared = self.shared.clone();
        self.tasks
            .push(tokio::spawn(tls::accept(shared, listener, config)));
    }

    /// Where the HTTPS listener hands the connections that speak TURN.
    pub(crate) fn tls_entry(&self) -> TlsEntry {
        TlsEntry {
            shared: self.shared.clone(),
        }
    }
}

/// Most stream connections (TCP and TLS) at once, for everyone: one per allocation, and
/// some to spare for clients that only ask for Binding.
pub(crate) fn tcp_connections(settings: &Settings) -> usize {
    settings.max_allocations.max(64)
}

/// The time, for the core.
fn now() -> Now {
    Now {
        mono: Instant::now(),
        unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Core<Sockets>> {
        // Every change to the state is complete before anything can panic,
        // so a poisoned lock is still consistent.
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Handles one packet from a client; true when `out` holds a reply.
    fn handle_client_packet(
        self: &Arc<Self>,
        key: ClientKey,
        origin: Origin<'_>,
        packet: &[u8],
        out: &mut Vec<u8>,
    ) -> bool {
        let outcome = self.lock().handle_packet(key, packet, now(), out);
        self.perform(key, origin, outcome, out)
    }

    /// Does what the core answered, with the lock released; true when
    /// `out` holds a reply.
    fn perform(
        self: &Arc<Self>,
        key: ClientKey,
        origin: Origin<'_>,
        outcome: Outcome<'_, Sockets>,
        out: &mut Vec<u8>,
    ) -> bool {
        match outcome {
            Outcome::Silent => false,
            Outcome::Reply => true,
            Outcome::ReplyAndClose(relay) => {
                drop(relay);
                true
            }
            Outcome::ToPeer { relay, peer, data } => {
                match relay::send_now(&relay.socket, data, peer) {
                    Ok(_) => self.metrics.relayed(Direction::ToPeer, data.len()),
                    Err(_) => self.metrics.dropped(Discard::Congested),
                }
                false
            }
            Outcome::Open(open) => {
                let id = open.id;
                let opened = relay::open(self, key, origin, open);
                let outcome = self
                    .lock()
                    .relay_opened(key, id, opened, Instant::now(), out);
                self.perform(key, origin, outcome, out)
            }
            Outcome::Discard(released) => {
                drop(released);
                false
            }
        }
    }

    fn tcp_admit(&self, ip: std::net::IpAddr) -> bool {
        self.tcp.lock().unwrap_or_else(|e| e.into_inner()).admit(ip)
    }

    fn tcp_release(&self, ip: std::net::IpAddr) {
        self.tcp
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .release(ip)
    }

    fn has_allocation(&self, key: ClientKey) -> bool {
        self.lock().has_allocation(key)
    }

    /// Forgets a client whose connection closed.
    fn forget(&self, key: ClientKey) {
        let released = self.lock().forget(key);
        drop(released);
    }
}
