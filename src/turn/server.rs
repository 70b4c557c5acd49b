//! The tokio layer of the STUN/TURN server: the listening sockets (UDP and
//! TCP on one port), one UDP socket and one small task per allocation, and a
//! sweeper for lifetimes. The rules live in the I/O-free modules; this file
//! moves bytes between sockets and asks them.
//!
//! All state sits behind one mutex, held for a table lookup and never across
//! a system call or an await: the relay path locks, checks the permission,
//! channel and bandwidth, clones what it needs and unlocks before sending.
//! Sends never wait either: a datagram that does not fit a socket buffer (or
//! a TCP client's bounded queue) is dropped, as a router would, so a slow
//! client only ever loses its own packets.
//!
//! Untrusted input is never trusted for size: UDP reads go to one buffer per
//! worker thread, TCP frames are at most 64 KiB plus a header, and every
//! table (allocations, users, permissions, channels, reservations, TCP
//! connections) has a cap.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::{AbortHandle, JoinHandle};

use super::allocation::{Allocation, BindError, Caps, TokenBucket, granted_lifetime};
use super::auth::{Auth, Verdict};
use super::metrics::{Direction, Discard, TurnMetrics};
use super::stun::{self, Builder, Class, Message, TransactionId, attr, channel_data, method};
use super::{PortRange, Settings};

/// How long a port reserved by EVEN-PORT's R bit waits to be claimed.
const RESERVATION_LIFETIME: Duration = Duration::from_secs(30);
/// Frames queued for one TCP client before new ones are dropped.
const TCP_QUEUE: usize = 128;
/// A TCP connection without an allocation is closed after this much silence.
const TCP_IDLE: Duration = Duration::from_secs(30);
/// Ports tried before an Allocate gives up with 508.
const BIND_ATTEMPTS: usize = 256;
/// Room before a relayed datagram for the largest Data indication header:
/// STUN header, XOR-PEER-ADDRESS for IPv6, DATA attribute header.
const HEADROOM: usize = 20 + 24 + 4;
/// The largest UDP payload.
const MAX_DATAGRAM: usize = 65_535;
/// Datagrams read from one relay socket before other tasks get a turn.
const RELAY_BATCH: usize = 64;
/// Socket buffer asked for on the listening UDP socket (the kernel caps it).
const LISTEN_BUFFER: usize = 4 * 1024 * 1024;
const SOFTWARE: &[u8] = b"parlor";

/// The 5-tuple of a client, given the one listening address: its transport
/// and its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ClientKey {
    Udp(SocketAddr),
    Tcp(SocketAddr),
}

impl ClientKey {
    fn addr(self) -> SocketAddr {
        match self {
            ClientKey::Udp(a) | ClientKey::Tcp(a) => a,
        }
    }
}

/// Where data for a client goes.
#[derive(Clone)]
enum ClientSink {
    Udp(SocketAddr),
    Tcp(mpsc::Sender<Vec<u8>>),
}

/// What a relay task knows of its allocation: whose it is, which one (a
/// client may delete its allocation and make another), and where data for
/// the client goes.
struct RelayRoute {
    key: ClientKey,
    id: u64,
    sink: ClientSink,
}

/// How a packet reached the server, for the sink of a new allocation.
#[derive(Clone, Copy)]
enum Origin<'a> {
    Udp,
    Tcp(&'a mpsc::Sender<Vec<u8>>),
}

/// The address relay sockets of one family bind to, and the one clients
/// are told.
#[derive(Debug, Clone, Copy)]
struct RelayIp {
    bind: IpAddr,
    advertise: IpAddr,
}

/// Stops a relay task when its allocation goes, however it goes.
struct AbortOnDrop(AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct Entry {
    id: u64,
    alloc: Allocation,
    username: Box<str>,
    user: Arc<str>,
    relay: Arc<UdpSocket>,
    relayed: SocketAddr,
    allocate_tid: TransactionId,
    _task: AbortOnDrop,
}

struct User {
    allocations: usize,
    bucket: Option<TokenBucket>,
}

struct Reservation {
    socket: std::net::UdpSocket,
    relayed: SocketAddr,
    expires: Instant,
}

#[derive(Default)]
struct State {
    allocations: HashMap<ClientKey, Entry>,
    users: HashMap<Arc<str>, User>,
    reservations: HashMap<u64, Reservation>,
    next_id: u64,
    rng: u64,
    last_prune: Option<Instant>,
}

impl State {
    fn remove(&mut self, key: ClientKey) -> Option<Entry> {
        let entry = self.allocations.remove(&key)?;
        if let Some(user) = self.users.get_mut(&entry.user) {
            user.allocations -= 1;
            if user.allocations == 0 {
                self.users.remove(&entry.user);
            }
        }
        Some(entry)
    }

    fn random(&mut self) -> u64 {
        self.rng = xorshift(self.rng);
        self.rng
    }
}

fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

fn random_seed() -> u64 {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    u64::from_ne_bytes(bytes) | 1
}

struct Shared {
    settings: Settings,
    auth: Auth,
    metrics: Arc<TurnMetrics>,
    udp: Arc<UdpSocket>,
    caps: Caps,
    relay_v4: Option<RelayIp>,
    relay_v6: Option<RelayIp>,
    state: Mutex<State>,
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
        let mut state = self.shared.lock();
        state.allocations.clear();
        state.reservations.clear();
    }
}

impl TurnServer {
    /// Binds UDP and TCP on `settings.listen` (with port 0: the same free
    /// port for both).
    pub async fn bind(settings: Settings) -> io::Result<TurnServer> {
        let (udp, tcp) = bind_pair(settings.listen)?;
        let local = udp.local_addr()?;
        let (relay_v4, relay_v6) = relay_ips(local.ip(), settings.external_ip);
        if relay_v4.is_none() && relay_v6.is_none() {
            return Err(io::Error::other("no address to relay from"));
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
        let (shared, tcp) = self.into_shared(metrics);
        let connections = Arc::new(Semaphore::new(shared.settings.max_allocations.max(64)));
        let tasks = vec![
            tokio::spawn(udp_loop(shared.clone())),
            tokio::spawn(tcp_accept_loop(shared.clone(), tcp, connections)),
            tokio::spawn(sweep_loop(shared.clone())),
        ];
        TurnHandle { tasks, shared }
    }

    fn into_shared(self, metrics: Arc<TurnMetrics>) -> (Arc<Shared>, TcpListener) {
        let shared = Arc::new(Shared {
            auth: Auth::new(self.settings.realm.clone(), self.settings.secret.clone()),
            settings: self.settings,
            metrics,
            udp: Arc::new(self.udp),
            caps: Caps::default(),
            relay_v4: self.relay_v4,
            relay_v6: self.relay_v6,
            state: Mutex::new(State {
                rng: random_seed(),
                ..State::default()
            }),
        });
        (shared, self.tcp)
    }
}

/// Binds a UDP socket and a TCP listener on the same address and port.
fn bind_pair(addr: SocketAddr) -> io::Result<(UdpSocket, TcpListener)> {
    let attempts = if addr.port() == 0 { 32 } else { 1 };
    let mut last_error = None;
    for _ in 0..attempts {
        let udp = udp_socket(addr, true)?;
        let bound = udp.local_addr()?;
        match std::net::TcpListener::bind(bound) {
            Ok(tcp) => {
                tcp.set_nonblocking(true)?;
                return Ok((UdpSocket::from_std(udp)?, TcpListener::from_std(tcp)?));
            }
            Err(err) => last_error = Some(err),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::other("cannot bind TCP")))
}

/// A non-blocking UDP socket bound to `addr`; IPv6 sockets are IPv6-only,
/// so that an IPv4 peer never shows up on an IPv6 relay.
fn udp_socket(addr: SocketAddr, listener: bool) -> io::Result<std::net::UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        // A listening socket on [::] takes IPv4 clients too.
        socket.set_only_v6(!(listener && addr.ip().is_unspecified()))?;
    }
    if listener {
        let _ = socket.set_recv_buffer_size(LISTEN_BUFFER);
        let _ = socket.set_send_buffer_size(LISTEN_BUFFER);
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// Which addresses relay sockets bind to and advertise, per family.
fn relay_ips(listen: IpAddr, external: Option<IpAddr>) -> (Option<RelayIp>, Option<RelayIp>) {
    let v4_bind = match listen {
        IpAddr::V4(ip) => Some(IpAddr::V4(ip)),
        IpAddr::V6(ip) if ip.is_unspecified() => Some(Ipv4Addr::UNSPECIFIED.into()),
        IpAddr::V6(_) => None,
    };
    let v6_bind = match listen {
        IpAddr::V6(ip) => Some(IpAddr::V6(ip)),
        IpAddr::V4(_) => None,
    };
    let advertise = |bind: IpAddr| -> Option<IpAddr> {
        match external {
            Some(ext) if ext.is_ipv4() == bind.is_ipv4() => Some(ext),
            _ if !bind.is_unspecified() => Some(bind),
            _ => primary_ip(bind.is_ipv4()),
        }
    };
    let relay = |bind: Option<IpAddr>| {
        let bind = bind?;
        Some(RelayIp {
            bind,
            advertise: advertise(bind)?,
        })
    };
    (relay(v4_bind), relay(v6_bind))
}

/// The source address this machine would use towards the Internet: found
/// by asking the routing table (connecting a UDP socket sends nothing).
fn primary_ip(v4: bool) -> Option<IpAddr> {
    let (local, remote): (SocketAddr, SocketAddr) = if v4 {
        (
            (Ipv4Addr::UNSPECIFIED, 0).into(),
            (Ipv4Addr::new(192, 0, 2, 1), 9).into(),
        )
    } else {
        (
            (Ipv6Addr::UNSPECIFIED, 0).into(),
            (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), 9).into(),
        )
    };
    let socket = std::net::UdpSocket::bind(local).ok()?;
    match socket.connect(remote).and_then(|()| socket.local_addr()) {
        Ok(addr) => Some(addr.ip()),
        Err(_) if v4 => Some(Ipv4Addr::LOCALHOST.into()),
        Err(_) => None,
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A client address as clients expect to see it (IPv4-mapped IPv6
/// addresses of a dual-stack socket shown as IPv4).
fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// An error: code and reason phrase.
#[derive(Debug, Clone, Copy)]
struct Failure(u16, &'static str);

const BAD_REQUEST: Failure = Failure(400, "Bad Request");
const FORBIDDEN: Failure = Failure(403, "Forbidden");
const MISMATCH: Failure = Failure(437, "Allocation Mismatch");
const WRONG_CREDENTIALS: Failure = Failure(441, "Wrong Credentials");
const FAMILY_NOT_SUPPORTED: Failure = Failure(440, "Address Family not Supported");
const UNSUPPORTED_TRANSPORT: Failure = Failure(442, "Unsupported Transport Protocol");
const FAMILY_MISMATCH: Failure = Failure(443, "Peer Address Family Mismatch");
const QUOTA: Failure = Failure(486, "Allocation Quota Reached");
const CAPACITY: Failure = Failure(508, "Insufficient Capacity");

/// What a successful request answers with.
enum Success {
    Allocate {
        relayed: SocketAddr,
        lifetime: u32,
        mapped: SocketAddr,
        token: Option<u64>,
    },
    Refresh {
        lifetime: u32,
    },
    Empty,
}

/// Attributes a TURN request may carry that the server understands.
fn known_request_attribute(kind: u16) -> bool {
    matches!(
        kind,
        attr::USERNAME
            | attr::REALM
            | attr::NONCE
            | attr::LIFETIME
            | attr::XOR_PEER_ADDRESS
            | attr::DATA
            | attr::REQUESTED_TRANSPORT
            | attr::REQUESTED_ADDRESS_FAMILY
            | attr::EVEN_PORT
            | attr::RESERVATION_TOKEN
            | attr::CHANNEL_NUMBER
    )
}

/// Attributes a Binding request may carry: ICE's, sent to a STUN server by
/// some clients.
fn known_binding_attribute(kind: u16) -> bool {
    matches!(kind, attr::USERNAME | attr::PRIORITY | attr::USE_CANDIDATE)
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every change to the state is complete before anything can panic,
        // so a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Handles one packet from a client; true when `out` holds a reply.
    fn handle_client_packet(
        self: &Arc<Self>,
        key: ClientKey,
        origin: Origin<'_>,
        packet: &[u8],
        out: &mut Vec<u8>,
    ) -> bool {
        match packet.first() {
            Some(b) if b & 0xC0 == 0 => {}
            Some(b) if b & 0xC0 == 0x40 => {
                match channel_data::parse(packet) {
                    Some((channel, data)) => self.relay_channel_data(key, channel, data),
                    None => self.metrics.dropped(Discard::Malformed),
                }
                return false;
            }
            _ => {
                self.metrics.dropped(Discard::Malformed);
                return false;
            }
        }
        let Ok(msg) = Message::parse(packet) else {
            self.metrics.dropped(Discard::Malformed);
            return false;
        };
        match (msg.class, msg.method) {
            (Class::Request, method::BINDING) => {
                self.binding(&msg, key.addr(), out);
                true
            }
            (Class::Request, _) => {
                self.request(key, origin, &msg, out);
                true
            }
            (Class::Indication, method::SEND) => {
                self.relay_send_indication(key, &msg);
                false
            }
            // Binding indications are keepalives; clients send no responses.
            _ => false,
        }
    }

    fn binding(&self, msg: &Message<'_>, from: SocketAddr, out: &mut Vec<u8>) {
        let unknown = msg.unknown_required(known_binding_attribute);
        let mut b = if unknown.is_empty() {
            self.metrics.binding_request();
            let mut b = Builder::new(out, method::BINDING, Class::Success, msg.transaction_id);
            b.xor_address(attr::XOR_MAPPED_ADDRESS, canonical(from));
            b
        } else {
            let mut b = Builder::new(out, method::BINDING, Class::Error, msg.transaction_id);
            b.error_code(420, "Unknown Attribute")
                .unknown_attributes(&unknown);
            b
        };
        if msg.has_fingerprint {
            b.fingerprint();
        }
    }

    fn request(
        self: &Arc<Self>,
        key: ClientKey,
        origin: Origin<'_>,
        msg: &Message<'_>,
        out: &mut Vec<u8>,
    ) {
        let client = key.addr();
        let now_unix = unix_now();
        let (username, user, mac_key) = match self.auth.check(msg, client, now_unix) {
            Verdict::Accept {
                username,
                user,
                key,
            } => (username, user, key),
            Verdict::Challenge => return self.challenge(msg, client, 401, "Unauthorized", out),
            Verdict::StaleNonce => return self.challenge(msg, client, 438, "Stale Nonce", out),
            Verdict::Reject => {
                self.metrics.auth_failure();
                return self.challenge(msg, client, 401, "Unauthorized", out);
            }
            Verdict::BadRequest => {
                tracing::debug!(%client, "TURN request with MESSAGE-INTEGRITY but no credentials");
                return error(out, msg, BAD_REQUEST, None);
            }
        };
        let unknown = msg.unknown_required(known_request_attribute);
        if !unknown.is_empty() {
            let mut b = Builder::new(out, msg.method, Class::Error, msg.transaction_id);
            b.error_code(420, "Unknown Attribute")
                .unknown_attributes(&unknown);
            b.integrity(&mac_key);
            if msg.has_fingerprint {
                b.fingerprint();
            }
            return;
        }
        let now = Instant::now();
        let result = match msg.method {
            method::ALLOCATE => self.allocate(key, origin, msg, username, user, now),
            method::REFRESH => self.refresh(key, msg, username, now),
            method::CREATE_PERMISSION => self.create_permission(key, msg, username, now),
            method::CHANNEL_BIND => self.channel_bind(key, msg, username, now),
            _ => Err(BAD_REQUEST),
        };
        match result {
            Ok(success) => {
                let mut b = Builder::new(out, msg.method, Class::Success, msg.transaction_id);
                match success {
                    Success::Allocate {
                        relayed,
                        lifetime,
                        mapped,
                        token,
                    } => {
                        b.xor_address(attr::XOR_RELAYED_ADDRESS, relayed)
                            .u32(attr::LIFETIME, lifetime)
                            .xor_address(attr::XOR_MAPPED_ADDRESS, mapped);
                        if let Some(token) = token {
                            b.attr(attr::RESERVATION_TOKEN, &token.to_be_bytes());
                        }
                        b.attr(attr::SOFTWARE, SOFTWARE);
                    }
                    Success::Refresh { lifetime } => {
                        b.u32(attr::LIFETIME, lifetime);
                    }
                    Success::Empty => {}
                }
                b.integrity(&mac_key);
                if msg.has_fingerprint {
                    b.fingerprint();
                }
            }
            Err(failure) => {
                tracing::debug!(
                    client = %client,
                    method = msg.method,
                    code = failure.0,
                    "TURN request refused: {}",
                    failure.1
                );
                error(out, msg, failure, Some(&mac_key))
            }
        }
    }

    /// A 401 or 438 carrying REALM and a fresh NONCE.
    fn challenge(
        &self,
        msg: &Message<'_>,
        client: SocketAddr,
        code: u16,
        reason: &str,
        out: &mut Vec<u8>,
    ) {
        let nonce = self.auth.nonce(client, unix_now());
        let mut b = Builder::new(out, msg.method, Class::Error, msg.transaction_id);
        b.error_code(code, reason)
            .attr(attr::REALM, self.auth.realm().as_bytes())
            .attr(attr::NONCE, nonce.as_bytes());
        if msg.has_fingerprint {
            b.fingerprint();
        }
    }

    fn allocate(
        self: &Arc<Self>,
        key: ClientKey,
        origin: Origin<'_>,
        msg: &Message<'_>,
        username: &str,
        user: &str,
        now: Instant,
    ) -> Result<Success, Failure> {
        let mapped = canonical(key.addr());
        let mut state = self.lock();
        if let Some(entry) = state.allocations.get(&key) {
            // A retransmission gets the same answer; anything else is a
            // second allocation on one 5-tuple.
            if entry.allocate_tid == msg.transaction_id && *entry.username == *username {
                return Ok(Success::Allocate {
                    relayed: entry.relayed,
                    lifetime: entry.alloc.remaining_secs(now),
                    mapped,
                    token: None,
                });
            }
            return Err(MISMATCH);
        }
        match msg.get(attr::REQUESTED_TRANSPORT) {
            Some([17, _, _, _]) => {}
            Some([_, _, _, _]) => return Err(UNSUPPORTED_TRANSPORT),
            _ => return Err(BAD_REQUEST),
        }
        let token = match msg.get(attr::RESERVATION_TOKEN) {
            None => None,
            Some(v) => Some(u64::from_be_bytes(v.try_into().map_err(|_| BAD_REQUEST)?)),
        };
        let even_port = match msg.get(attr::EVEN_PORT) {
            None => None,
            Some([flags, ..]) => Some(flags & 0x80 != 0),
            Some([]) => return Err(BAD_REQUEST),
        };
        let family = match msg.get(attr::REQUESTED_ADDRESS_FAMILY) {
            None => None,
            Some([0x01, _, _, _]) => Some(true),
            Some([0x02, _, _, _]) => Some(false),
            Some([_, _, _, _]) => return Err(FAMILY_NOT_SUPPORTED),
            Some(_) => return Err(BAD_REQUEST),
        };
        if token.is_some() && (even_port.is_some() || family.is_some()) {
            return Err(BAD_REQUEST);
        }
        if state.allocations.len() >= self.settings.max_allocations {
            self.metrics.allocation_refused();
            return Err(CAPACITY);
        }
        let user_count = state.users.get(user).map_or(0, |u| u.allocations);
        if user_count >= self.settings.user_allocations {
            self.metrics.allocation_refused();
            return Err(QUOTA);
        }
        let lifetime = granted_lifetime(
            msg.get_u32(attr::LIFETIME)
                .map(|s| Duration::from_secs(s.into())),
            self.settings.max_lifetime,
        );

        let (socket, relayed, new_token) = match token {
            Some(token) => {
                let reservation = state
                    .reservations
                    .remove(&token)
                    .filter(|r| now < r.expires)
                    .ok_or(CAPACITY)?;
                (reservation.socket, reservation.relayed, None)
            }
            None => {
                let v4 = family.unwrap_or(true);
                let relay_ip = if v4 { self.relay_v4 } else { self.relay_v6 };
                let relay_ip = relay_ip.ok_or(FAMILY_NOT_SUPPORTED)?;
                let reserve = even_port == Some(true);
                let bound = self.bind_relay(&mut state, relay_ip, even_port.is_some(), reserve);
                let Some((socket, port, reserved)) = bound else {
                    self.metrics.allocation_refused();
                    return Err(CAPACITY);
                };
                let relayed = SocketAddr::new(relay_ip.advertise, port);
                let token = reserved.map(|reserved| {
                    let token = random_seed();
                    state.reservations.insert(
                        token,
                        Reservation {
                            socket: reserved,
                            relayed: SocketAddr::new(relay_ip.advertise, port + 1),
                            expires: now + RESERVATION_LIFETIME,
                        },
                    );
                    token
                });
                (socket, relayed, token)
            }
        };
        let socket = Arc::new(UdpSocket::from_std(socket).map_err(|_| CAPACITY)?);
        let sink = match origin {
            Origin::Udp => ClientSink::Udp(key.addr()),
            Origin::Tcp(tx) => ClientSink::Tcp(tx.clone()),
        };
        state.next_id += 1;
        let id = state.next_id;
        let route = RelayRoute { key, id, sink };
        let task = tokio::spawn(relay_loop(self.clone(), socket.clone(), route));
        let user: Arc<str> = Arc::from(user);
        let bandwidth = self.settings.user_bandwidth;
        let record = state.users.entry(user.clone()).or_insert_with(|| User {
            allocations: 0,
            bucket: (bandwidth > 0).then(|| TokenBucket::new(bandwidth, now)),
        });
        record.allocations += 1;
        state.allocations.insert(
            key,
            Entry {
                id,
                alloc: Allocation::new(now, lifetime, self.caps),
                username: username.into(),
                user,
                relay: socket,
                relayed,
                allocate_tid: msg.transaction_id,
                _task: AbortOnDrop(task.abort_handle()),
            },
        );
        self.metrics.allocation_created();
        self.metrics.set_allocations(state.allocations.len());
        tracing::debug!(client = %key.addr(), %relayed, "TURN allocation");
        Ok(Success::Allocate {
            relayed,
            lifetime: lifetime.as_secs() as u32,
            mapped,
            token: new_token,
        })
    }

    /// Binds a relay socket on a random port of the range: an even one if
    /// asked, and with the next port held back too if `reserve`.
    fn bind_relay(
        &self,
        state: &mut State,
        relay_ip: RelayIp,
        even: bool,
        reserve: bool,
    ) -> Option<(std::net::UdpSocket, u16, Option<std::net::UdpSocket>)> {
        let PortRange { low, high } = self.settings.relay_ports;
        if reserve && state.reservations.len() >= self.settings.max_allocations.min(1024) {
            return None;
        }
        let span = u64::from(high - low) + 1;
        let start = state.random() % span;
        let mut tried = 0;
        for step in 0..span {
            if tried >= BIND_ATTEMPTS {
                break;
            }
            let port = low + ((start + step) % span) as u16;
            if even && port % 2 == 1 || reserve && port == u16::MAX {
                continue;
            }
            if reserve && port + 1 > high {
                continue;
            }
            tried += 1;
            let Ok(socket) = udp_socket(SocketAddr::new(relay_ip.bind, port), false) else {
                continue;
            };
            if !reserve {
                return Some((socket, port, None));
            }
            if let Ok(next) = udp_socket(SocketAddr::new(relay_ip.bind, port + 1), false) {
                return Some((socket, port, Some(next)));
            }
        }
        None
    }

    fn refresh(
        &self,
        key: ClientKey,
        msg: &Message<'_>,
        username: &str,
        now: Instant,
    ) -> Result<Success, Failure> {
        let mut state = self.lock();
        let entry = state.allocations.get_mut(&key).ok_or(MISMATCH)?;
        if *entry.username != *username {
            return Err(WRONG_CREDENTIALS);
        }
        match msg.get(attr::REQUESTED_ADDRESS_FAMILY) {
            None => {}
            Some([0x01, _, _, _]) if entry.relayed.is_ipv4() => {}
            Some([0x02, _, _, _]) if entry.relayed.is_ipv6() => {}
            Some(_) => return Err(FAMILY_MISMATCH),
        }
        let requested = msg.get_u32(attr::LIFETIME);
        if requested == Some(0) {
            let removed = state.remove(key);
            self.metrics.set_allocations(state.allocations.len());
            drop(state);
            drop(removed);
            return Ok(Success::Refresh { lifetime: 0 });
        }
        let lifetime = granted_lifetime(
            requested.map(|s| Duration::from_secs(s.into())),
            self.settings.max_lifetime,
        );
        entry.alloc.refresh(now, lifetime);
        Ok(Success::Refresh {
            lifetime: lifetime.as_secs() as u32,
        })
    }

    /// Checks a peer address of a request against the allocation's family
    /// and the filter.
    fn check_peer(&self, peer: SocketAddr, relayed: SocketAddr) -> Result<(), Failure> {
        if peer.is_ipv4() != relayed.is_ipv4() {
            return Err(FAMILY_MISMATCH);
        }
        if !self.settings.filter.permits(peer.ip()) {
            self.metrics.peer_refused();
            tracing::debug!(%peer, "TURN peer refused by the address filter");
            return Err(FORBIDDEN);
        }
        Ok(())
    }

    fn create_permission(
        &self,
        key: ClientKey,
        msg: &Message<'_>,
        username: &str,
        now: Instant,
    ) -> Result<Success, Failure> {
        let mut state = self.lock();
        let entry = state.allocations.get_mut(&key).ok_or(MISMATCH)?;
        if *entry.username != *username {
            return Err(WRONG_CREDENTIALS);
        }
        let mut ips = Vec::new();
        for peer in msg.xor_addresses(attr::XOR_PEER_ADDRESS) {
            let peer = peer.map_err(|_| BAD_REQUEST)?;
            self.check_peer(peer, entry.relayed)?;
            if ips.len() >= self.caps.permissions {
                return Err(CAPACITY);
            }
            ips.push(peer.ip());
        }
        if ips.is_empty() {
            return Err(BAD_REQUEST);
        }
        if !entry.alloc.can_permit(&ips, now) {
            return Err(CAPACITY);
        }
        for ip in ips {
            entry.alloc.permit(ip, now);
        }
        Ok(Success::Empty)
    }

    fn channel_bind(
        &self,
        key: ClientKey,
        msg: &Message<'_>,
        username: &str,
        now: Instant,
    ) -> Result<Success, Failure> {
        let mut state = self.lock();
        let entry = state.allocations.get_mut(&key).ok_or(MISMATCH)?;
        if *entry.username != *username {
            return Err(WRONG_CREDENTIALS);
        }
        let number = match msg.get(attr::CHANNEL_NUMBER) {
            Some([a, b, _, _]) => u16::from_be_bytes([*a, *b]),
            _ => return Err(BAD_REQUEST),
        };
        if !channel_data::CHANNELS.contains(&number) {
            return Err(BAD_REQUEST);
        }
        let peer = match msg.get_xor_address(attr::XOR_PEER_ADDRESS) {
            Some(Ok(peer)) => peer,
            _ => return Err(BAD_REQUEST),
        };
        self.check_peer(peer, entry.relayed)?;
        match entry.alloc.bind_channel(number, peer, now) {
            Ok(()) => Ok(Success::Empty),
            Err(BindError::Conflict) => Err(BAD_REQUEST),
            Err(BindError::Full) => Err(CAPACITY),
        }
    }

    /// Finds the relay socket for data from `key` to `peer`, if the
    /// allocation, the permission and the user's bandwidth allow it.
    fn route_to_peer(
        &self,
        key: ClientKey,
        peer: Result<SocketAddr, u16>,
        len: usize,
    ) -> Option<(Arc<UdpSocket>, SocketAddr)> {
        let now = Instant::now();
        let mut state = self.lock();
        let State {
            allocations, users, ..
        } = &mut *state;
        let Some(entry) = allocations.get(&key) else {
            self.metrics.dropped(Discard::NoAllocation);
            return None;
        };
        let peer = match peer {
            Ok(peer) => peer,
            Err(channel) => match entry.alloc.channel_peer(channel, now) {
                Some(peer) => peer,
                None => {
                    self.metrics.dropped(Discard::NoAllocation);
                    return None;
                }
            },
        };
        if !entry.alloc.permits(peer.ip(), now) {
            self.metrics.dropped(Discard::NoPermission);
            return None;
        }
        if !take_bandwidth(users, &entry.user, len, now) {
            self.metrics.dropped(Discard::Bandwidth);
            return None;
        }
        Some((entry.relay.clone(), peer))
    }

    fn relay_channel_data(&self, key: ClientKey, channel: u16, data: &[u8]) {
        if let Some((relay, peer)) = self.route_to_peer(key, Err(channel), data.len()) {
            self.send_to_peer(&relay, peer, data);
        }
    }

    fn relay_send_indication(&self, key: ClientKey, msg: &Message<'_>) {
        let (Some(Ok(peer)), Some(data)) = (
            msg.get_xor_address(attr::XOR_PEER_ADDRESS),
            msg.get(attr::DATA),
        ) else {
            self.metrics.dropped(Discard::Malformed);
            return;
        };
        if let Some((relay, peer)) = self.route_to_peer(key, Ok(peer), data.len()) {
            self.send_to_peer(&relay, peer, data);
        }
    }

    fn send_to_peer(&self, relay: &UdpSocket, peer: SocketAddr, data: &[u8]) {
        match send_now(relay, data, peer) {
            Ok(_) => self.metrics.relayed(Direction::ToPeer, data.len()),
            Err(_) => self.metrics.dropped(Discard::Congested),
        }
    }

    /// Relays a datagram from `peer`, which sits in `buf` at [`HEADROOM`],
    /// to the client of the allocation.
    fn relay_to_client(
        &self,
        route: &RelayRoute,
        buf: &mut [u8],
        len: usize,
        peer: SocketAddr,
        rng: &mut u64,
    ) {
        let now = Instant::now();
        let channel = {
            let mut state = self.lock();
            let State {
                allocations, users, ..
            } = &mut *state;
            let Some(entry) = allocations.get(&route.key).filter(|e| e.id == route.id) else {
                return;
            };
            if !entry.alloc.permits(peer.ip(), now) {
                self.metrics.dropped(Discard::NoPermission);
                return;
            }
            if !take_bandwidth(users, &entry.user, len, now) {
                self.metrics.dropped(Discard::Bandwidth);
                return;
            }
            entry.alloc.channel_for(peer, now)
        };
        let stream = matches!(route.sink, ClientSink::Tcp(_));
        let frame = match channel {
            Some(channel) => channel_data_frame(buf, len, channel, stream),
            None => {
                *rng = xorshift(*rng);
                let a = rng.to_ne_bytes();
                *rng = xorshift(*rng);
                let b = rng.to_ne_bytes();
                let mut tid = [0u8; 12];
                tid[..8].copy_from_slice(&a);
                tid[8..].copy_from_slice(&b[..4]);
                match data_indication_frame(buf, len, peer, tid) {
                    Some(range) => range,
                    None => {
                        self.metrics.dropped(Discard::Malformed);
                        return;
                    }
                }
            }
        };
        let sent = match &route.sink {
            ClientSink::Udp(client) => send_now(&self.udp, &buf[frame], *client).is_ok(),
            ClientSink::Tcp(tx) => tx.try_send(buf[frame].to_vec()).is_ok(),
        };
        if sent {
            self.metrics.relayed(Direction::ToClient, len);
        } else {
            self.metrics.dropped(Discard::Congested);
        }
    }

    /// Removes expired allocations and reservations; now and then, prunes
    /// expired permissions and channels.
    fn sweep(&self, now: Instant) {
        let mut state = self.lock();
        let expired: Vec<ClientKey> = state
            .allocations
            .iter()
            .filter(|(_, e)| e.alloc.is_expired(now))
            .map(|(k, _)| *k)
            .collect();
        let removed: Vec<Entry> = expired
            .into_iter()
            .filter_map(|k| state.remove(k))
            .collect();
        state.reservations.retain(|_, r| now < r.expires);
        if state
            .last_prune
            .is_none_or(|last| now.duration_since(last) >= Duration::from_secs(30))
        {
            for entry in state.allocations.values_mut() {
                entry.alloc.prune(now);
            }
            state.last_prune = Some(now);
        }
        self.metrics.set_allocations(state.allocations.len());
        drop(state);
        if !removed.is_empty() {
            tracing::debug!(expired = removed.len(), "TURN allocations expired");
        }
    }

    fn has_allocation(&self, key: ClientKey) -> bool {
        self.lock().allocations.contains_key(&key)
    }

    fn forget(&self, key: ClientKey) {
        let mut state = self.lock();
        let removed = state.remove(key);
        self.metrics.set_allocations(state.allocations.len());
        drop(state);
        drop(removed);
    }
}

/// Sends a datagram now or not at all. Straight to the socket, past
/// tokio's readiness cache, which starts out "not writable" for a new socket
/// until the reactor next runs, and which nothing here ever waits on.
fn send_now(socket: &UdpSocket, data: &[u8], to: SocketAddr) -> io::Result<usize> {
    socket2::SockRef::from(socket).send_to(data, &to.into())
}

fn take_bandwidth(
    users: &mut HashMap<Arc<str>, User>,
    user: &str,
    len: usize,
    now: Instant,
) -> bool {
    match users.get_mut(user).and_then(|u| u.bucket.as_mut()) {
        Some(bucket) => bucket.take(len, now),
        None => true,
    }
}

/// Frames `len` bytes at `buf[HEADROOM..]` as ChannelData (padded to four
/// bytes on a stream); returns the frame's range in `buf`.
fn channel_data_frame(
    buf: &mut [u8],
    len: usize,
    channel: u16,
    stream: bool,
) -> std::ops::Range<usize> {
    let start = HEADROOM - 4;
    buf[start..HEADROOM].copy_from_slice(&channel_data::header(channel, len as u16));
    let mut end = HEADROOM + len;
    if stream {
        let padded = HEADROOM + stun::padded(len);
        buf[end..padded].fill(0);
        end = padded;
    }
    start..end
}

/// Frames `len` bytes at `buf[HEADROOM..]` as a Data indication from `peer`,
/// writing the header in the headroom; None if too big for STUN.
fn data_indication_frame(
    buf: &mut [u8],
    len: usize,
    peer: SocketAddr,
    tid: TransactionId,
) -> Option<std::ops::Range<usize>> {
    let mut address = [0u8; 20];
    let address_len = stun::encode_xor_address(&mut address, peer, &tid);
    let header_len = stun::HEADER_LEN + 4 + address_len + 4;
    let padded = stun::padded(len);
    let body_len = header_len - stun::HEADER_LEN + padded;
    if body_len > usize::from(u16::MAX) {
        return None;
    }
    let start = HEADROOM - header_len;
    let header = &mut buf[start..HEADROOM];
    header[0..2]
        .copy_from_slice(&stun::message_type(method::DATA, Class::Indication).to_be_bytes());
    header[2..4].copy_from_slice(&(body_len as u16).to_be_bytes());
    header[4..8].copy_from_slice(&stun::MAGIC_COOKIE.to_be_bytes());
    header[8..20].copy_from_slice(&tid);
    header[20..22].copy_from_slice(&attr::XOR_PEER_ADDRESS.to_be_bytes());
    header[22..24].copy_from_slice(&(address_len as u16).to_be_bytes());
    header[24..24 + address_len].copy_from_slice(&address[..address_len]);
    let data = 24 + address_len;
    header[data..data + 2].copy_from_slice(&attr::DATA.to_be_bytes());
    header[data + 2..data + 4].copy_from_slice(&(len as u16).to_be_bytes());
    buf[HEADROOM + len..HEADROOM + padded].fill(0);
    Some(start..HEADROOM + padded)
}

fn error(out: &mut Vec<u8>, msg: &Message<'_>, Failure(code, reason): Failure, key: Option<&[u8]>) {
    let mut b = Builder::new(out, msg.method, Class::Error, msg.transaction_id);
    b.error_code(code, reason);
    if let Some(key) = key {
        b.integrity(key);
    }
    if msg.has_fingerprint {
        b.fingerprint();
    }
}

async fn udp_loop(shared: Arc<Shared>) {
    let udp = shared.udp.clone();
    let mut buf = vec![0u8; MAX_DATAGRAM + 1];
    let mut out = Vec::with_capacity(512);
    loop {
        let (len, from) = match udp.recv_from(&mut buf).await {
            Ok(received) => received,
            Err(err) => {
                tracing::debug!(%err, "TURN UDP receive error");
                continue;
            }
        };
        let key = ClientKey::Udp(from);
        if shared.handle_client_packet(key, Origin::Udp, &buf[..len], &mut out) {
            // Replies are rare next to data: wait for room rather than drop.
            let _ = udp.send_to(&out, from).await;
        }
    }
}

thread_local! {
    /// One receive buffer per worker thread for all relay sockets, so an
    /// allocation costs no buffer of its own.
    static RELAY_BUFFER: RefCell<Vec<u8>> = RefCell::new(vec![0u8; HEADROOM + MAX_DATAGRAM + 4]);
}

async fn relay_loop(shared: Arc<Shared>, socket: Arc<UdpSocket>, route: RelayRoute) {
    let mut rng = random_seed();
    loop {
        if socket.readable().await.is_err() {
            return;
        }
        let mut drained = false;
        for _ in 0..RELAY_BATCH {
            let received = RELAY_BUFFER.with_borrow_mut(|buf| {
                match socket.try_recv_from(&mut buf[HEADROOM..HEADROOM + MAX_DATAGRAM]) {
                    Ok((len, peer)) => {
                        shared.relay_to_client(&route, buf, len, peer, &mut rng);
                        true
                    }
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => false,
                    // ICMP errors reported on the socket: ignore.
                    Err(_) => true,
                }
            });
            if !received {
                drained = true;
                break;
            }
        }
        if !drained {
            tokio::task::yield_now().await;
        }
    }
}

async fn tcp_accept_loop(shared: Arc<Shared>, listener: TcpListener, slots: Arc<Semaphore>) {
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors, most likely: wait, don't spin.
                tracing::warn!(%err, "TURN TCP accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            serve_tcp(shared, stream, remote).await;
            drop(slot);
        });
    }
}

/// Length of the frame at the start of a TCP stream: STUN, or ChannelData
/// padded to four bytes; None when more bytes are needed, Err when the
/// stream is not TURN.
fn tcp_frame_len(bytes: &[u8]) -> Result<Option<usize>, ()> {
    let Some(first) = bytes.first() else {
        return Ok(None);
    };
    match first & 0xC0 {
        0x00 => Ok(stun::stun_frame_len(bytes)),
        0x40 => Ok(channel_data::stream_frame_len(bytes)),
        _ => Err(()),
    }
}

async fn serve_tcp(shared: Arc<Shared>, stream: TcpStream, remote: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let key = ClientKey::Tcp(remote);
    let (mut reader, writer) = stream.into_split();
    let (tx, rx) = mpsc::channel(TCP_QUEUE);
    let writer = tokio::spawn(tcp_write_loop(writer, rx));
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut out = Vec::with_capacity(512);
    'connection: loop {
        let mut start = 0;
        loop {
            let len = match tcp_frame_len(&buf[start..]) {
                Ok(Some(len)) => len,
                Ok(None) => break,
                Err(()) => {
                    shared.metrics.dropped(Discard::Malformed);
                    break 'connection;
                }
            };
            if buf.len() - start < len {
                break;
            }
            let frame = &buf[start..start + len];
            if shared.handle_client_packet(key, Origin::Tcp(&tx), frame, &mut out) {
                // A reply that does not fit the queue is lost like a UDP
                // datagram; the client retransmits.
                let _ = tx.try_send(out.clone());
            }
            start += len;
        }
        buf.drain(..start);
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(4096);
        }
        match tokio::time::timeout(TCP_IDLE, reader.read_buf(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(_)) => {}
            Err(_) if shared.has_allocation(key) => {}
            Err(_) => break,
        }
    }
    shared.forget(key);
    drop(tx);
    // Let queued replies go out, briefly.
    let _ = tokio::time::timeout(Duration::from_secs(1), writer).await;
}

async fn tcp_write_loop(mut writer: OwnedWriteHalf, mut rx: mpsc::Receiver<Vec<u8>>) {
    let mut batch = Vec::with_capacity(16 * 1024);
    while let Some(first) = rx.recv().await {
        batch.clear();
        batch.extend_from_slice(&first);
        while batch.len() < 64 * 1024 {
            match rx.try_recv() {
                Ok(frame) => batch.extend_from_slice(&frame),
                Err(_) => break,
            }
        }
        if writer.write_all(&batch).await.is_err() {
            return;
        }
    }
}

async fn sweep_loop(shared: Arc<Shared>) {
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    loop {
        ticks.tick().await;
        shared.sweep(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_indications_parse_back() {
        for peer in ["198.51.100.7:4000", "[2001:db8::7]:4000"] {
            let peer: SocketAddr = peer.parse().unwrap();
            for len in [0usize, 1, 3, 4, 5, 100, 1500] {
                let mut buf = vec![0xAAu8; HEADROOM + len + 4];
                for (i, b) in buf[HEADROOM..HEADROOM + len].iter_mut().enumerate() {
                    *b = i as u8;
                }
                let range = data_indication_frame(&mut buf, len, peer, [9; 12]).unwrap();
                let msg = Message::parse(&buf[range]).unwrap();
                assert_eq!((msg.method, msg.class), (method::DATA, Class::Indication));
                assert_eq!(msg.get_xor_address(attr::XOR_PEER_ADDRESS), Some(Ok(peer)));
                let data = msg.get(attr::DATA).unwrap();
                assert_eq!(data.len(), len);
                assert!(data.iter().enumerate().all(|(i, b)| *b == i as u8));
            }
        }
        let mut buf = vec![0u8; HEADROOM + MAX_DATAGRAM + 4];
        assert!(
            data_indication_frame(
                &mut buf,
                MAX_DATAGRAM,
                "1.2.3.4:5".parse().unwrap(),
                [0; 12]
            )
            .is_none()
        );
    }

    #[test]
    fn channel_data_frames_pad_on_streams_only() {
        let mut buf = vec![0xAAu8; HEADROOM + 16];
        let range = channel_data_frame(&mut buf, 5, 0x4001, false);
        assert_eq!(range.len(), 9);
        assert_eq!(
            channel_data::parse(&buf[range]),
            Some((0x4001, &[0xAA; 5][..]))
        );
        let range = channel_data_frame(&mut buf, 5, 0x4001, true);
        assert_eq!(range.len(), 12);
        assert_eq!(&buf[range.end - 3..range.end], &[0, 0, 0]);
    }

    #[test]
    fn tcp_framing() {
        assert_eq!(tcp_frame_len(&[]), Ok(None));
        assert_eq!(tcp_frame_len(&[0, 1]), Ok(None));
        assert_eq!(tcp_frame_len(&[0, 1, 0, 8]), Ok(Some(28)));
        assert_eq!(tcp_frame_len(&[0x40, 0, 0, 1]), Ok(Some(8)));
        assert_eq!(tcp_frame_len(&[0x80]), Err(()));
        assert_eq!(tcp_frame_len(&[0xC0, 0, 0, 0]), Err(()));
    }

    #[test]
    fn relay_addresses_per_family() {
        let (v4, v6) = relay_ips("127.0.0.1".parse().unwrap(), None);
        assert_eq!(
            v4.unwrap().advertise,
            "127.0.0.1".parse::<IpAddr>().unwrap()
        );
        assert!(v6.is_none());
        let (v4, v6) = relay_ips(
            "127.0.0.1".parse().unwrap(),
            Some("203.0.113.1".parse().unwrap()),
        );
        assert_eq!(v4.unwrap().bind, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(
            v4.unwrap().advertise,
            "203.0.113.1".parse::<IpAddr>().unwrap()
        );
        assert!(v6.is_none());
        let (v4, v6) = relay_ips("::1".parse().unwrap(), None);
        assert!(v4.is_none());
        assert_eq!(v6.unwrap().advertise, "::1".parse::<IpAddr>().unwrap());
        let (v4, _) = relay_ips("::".parse().unwrap(), None);
        assert_eq!(v4.unwrap().bind, IpAddr::from(Ipv4Addr::UNSPECIFIED));
        assert!(!v4.unwrap().advertise.is_unspecified());
    }

    /// Random requests, signed and not, well-formed and corrupted, for
    /// every method, from a client with an allocation and from strangers:
    /// the server answers or drops, never panics, and still works after.
    #[tokio::test]
    async fn request_handling_survives_random_input() {
        use super::super::credentials::{self, Secret};
        use super::super::filter::PeerFilter;

        let settings = Settings {
            listen: "127.0.0.1:0".parse().unwrap(),
            external_ip: None,
            relay_ports: PortRange {
                low: 49152,
                high: 65535,
            },
            realm: "parlor".into(),
            secret: Secret::new("fuzz"),
            filter: PeerFilter::new(vec!["127.0.0.0/8".parse().unwrap()]),
            max_allocations: 50,
            user_allocations: 50,
            user_bandwidth: 0,
            max_lifetime: Duration::from_secs(3600),
        };
        let metrics = Arc::new(TurnMetrics::default());
        let server = TurnServer::bind(settings).await.unwrap();
        let (shared, _tcp) = server.into_shared(metrics.clone());
        let client: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let key = ClientKey::Udp(client);
        let creds = credentials::issue(&Secret::new("fuzz"), "fuzzer", unix_now() + 3600);
        let mac_key = credentials::long_term_key(&creds.username, "parlor", &creds.password);
        let nonce = shared.auth.nonce(client, unix_now());
        let sign = |b: &mut Builder| {
            b.attr(attr::USERNAME, creds.username.as_bytes())
                .attr(attr::REALM, b"parlor")
                .attr(attr::NONCE, nonce.as_bytes())
                .integrity(&mac_key)
                .fingerprint();
        };
        let mut out = Vec::new();
        let mut request = Vec::new();
        {
            let mut b = Builder::new(&mut request, method::ALLOCATE, Class::Request, [1; 12]);
            b.attr(attr::REQUESTED_TRANSPORT, &[17, 0, 0, 0]);
            sign(&mut b);
        }
        assert!(shared.handle_client_packet(key, Origin::Udp, &request, &mut out));
        assert_eq!(Message::parse(&out).unwrap().class, Class::Success);

        let mut rng = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = |n: u64| {
            rng = xorshift(rng);
            rng % n
        };
        let methods = [
            0x001, 0x003, 0x004, 0x006, 0x007, 0x008, 0x009, 0x00A, 0xFFF,
        ];
        let classes = [
            Class::Request,
            Class::Request,
            Class::Indication,
            Class::Success,
        ];
        let kinds = [
            attr::LIFETIME,
            attr::XOR_PEER_ADDRESS,
            attr::XOR_PEER_ADDRESS,
            attr::DATA,
            attr::REQUESTED_TRANSPORT,
            attr::REQUESTED_ADDRESS_FAMILY,
            attr::EVEN_PORT,
            attr::RESERVATION_TOKEN,
            attr::CHANNEL_NUMBER,
            attr::CHANNEL_NUMBER,
            attr::DONT_FRAGMENT,
            attr::USERNAME,
            0x8000,
            0x0031,
        ];
        for round in 0..20_000u32 {
            let tid = [(round % 251) as u8; 12];
            let method = methods[next(methods.len() as u64) as usize];
            let class = classes[next(4) as usize];
            let mut b = Builder::new(&mut request, method, class, tid);
            for _ in 0..next(4) {
                let kind = kinds[next(kinds.len() as u64) as usize];
                let value: Vec<u8> = match (kind, next(4)) {
                    // Plausible values: a loopback or private peer, a low
                    // channel number, a lifetime, IPv4 UDP.
                    (attr::XOR_PEER_ADDRESS, 0..=2) => {
                        let mut addr = [0u8; 20];
                        let ip = if next(4) == 0 {
                            [10, 0, 0, 1]
                        } else {
                            [127, 0, 0, 1]
                        };
                        let peer = SocketAddr::from((ip, 50000 + next(4) as u16));
                        let len = stun::encode_xor_address(&mut addr, peer, &tid);
                        addr[..len].to_vec()
                    }
                    (attr::CHANNEL_NUMBER, 0..=2) => vec![0x40, next(4) as u8, 0, 0],
                    (attr::LIFETIME, 0..=2) => (next(4) as u32 * 300).to_be_bytes().to_vec(),
                    (attr::REQUESTED_TRANSPORT, 0..=2) => vec![17, 0, 0, 0],
                    _ => (0..next(24)).map(|_| next(256) as u8).collect(),
                };
                b.attr(kind, &value);
            }
            if next(4) > 0 {
                sign(&mut b);
            }
            let mut packet = request.clone();
            if next(4) == 0 {
                let at = next(packet.len() as u64) as usize;
                packet[at] ^= 1 << next(8);
            }
            if next(10) == 0 {
                packet.truncate(next(packet.len() as u64 + 1) as usize);
            }
            let from = if next(5) == 0 {
                ClientKey::Udp(SocketAddr::from(([127, 0, 0, 2], 1 + next(9) as u16)))
            } else {
                key
            };
            shared.handle_client_packet(from, Origin::Udp, &packet, &mut out);
            // ChannelData on the low channels, sometimes with a length
            // past the end.
            let len = next(40) as usize;
            let mut data = vec![0x40, next(4) as u8, 0, len as u8];
            data.extend((0..(len + 4).saturating_sub(next(8) as usize)).map(|_| next(256) as u8));
            shared.handle_client_packet(key, Origin::Udp, &data, &mut out);
        }
        // Every path was taken...
        let mut text = String::new();
        metrics.render(&mut text);
        for reached in [
            "parlor_turn_peers_refused_total ",
            "parlor_turn_relayed_packets_total{direction=\"to_peer\"} ",
            "parlor_turn_dropped_packets_total{reason=\"malformed\"} ",
        ] {
            let line = text.lines().find(|l| l.starts_with(reached)).unwrap();
            assert!(!line.ends_with(" 0"), "never reached: {line}");
        }
        // ...the server still answers, and the tables are within their caps.
        let mut binding = Vec::new();
        Builder::new(&mut binding, method::BINDING, Class::Request, [9; 12]);
        assert!(shared.handle_client_packet(key, Origin::Udp, &binding, &mut out));
        assert_eq!(Message::parse(&out).unwrap().class, Class::Success);
        let state = shared.lock();
        assert!(state.allocations.len() <= 50);
        for entry in state.allocations.values() {
            assert!(entry.alloc.permission_count() <= 64);
            assert!(entry.alloc.channel_count() <= 64);
        }
        drop(state);
        shared.lock().allocations.clear();
    }
}
