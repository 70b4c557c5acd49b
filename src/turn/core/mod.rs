//! The STUN/TURN request core: every rule of the built-in server as plain
//! state and plain functions, with no socket, no task and no clock, so that
//! the rules are tested with crafted STUN messages and a made-up clock.
//!
//! The boundary, in the manner of str0m: the caller says what happened —
//! "this packet came from this client at this time"
//! ([`Core::handle_packet`]), "the relay socket you asked for is open, or
//! not" ([`Core::relay_opened`]), "this datagram came from a peer to that
//! relay" ([`Core::peer_datagram`]), "time has passed" ([`Core::sweep`]), "the
//! client's connection closed" ([`Core::forget`]) — and gets back what to do
//! as data: a reply written to a buffer, bytes to relay to a peer, a relay
//! socket to open, handles to close ([`Outcome`], [`Framing`],
//! [`Released`]). Time comes in as [`Now`]; randomness as a seed.
//!
//! Sockets stay opaque: the core keeps the shell's handles ([`Handles`])
//! next to the allocations, so that one lookup under the lock finds the
//! relay socket of a packet, and hands them back when an allocation goes,
//! so that the shell closes them after unlocking.
//!
//! The shells ([`super::server`]) hold the core behind one mutex and never
//! make a system call while holding it. That is why an Allocate takes two
//! steps: the core decides and reserves (the allocation counts against the
//! caps while pending), the shell binds the socket outside the lock, and the
//! core then commits or rolls back ([`allocate`]).
//!
//! The rules themselves are in [`allocate`] (Allocate) and [`requests`]
//! (authentication, Binding, Refresh, CreatePermission, ChannelBind); this
//! file holds the state, the dispatch and the relay checks.

mod allocate;
mod frame;
mod plan;
mod requests;
mod stream;
#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) use tests::settings as test_settings;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Settings;
use super::allocation::{Allocation, Caps};
use super::auth::Auth;
use super::filter::OwnAddresses;
use super::metrics::{Discard, TurnMetrics};
use super::stun::{Class, Error, Message, TransactionId, attr, channel_data, method};
use crate::limits::TokenBucket;

pub(crate) use allocate::{OpenRelay, Opened, RelaySource};
pub(crate) use frame::{HEADROOM, MAX_DATAGRAM, channel_data_frame, data_indication_frame};
pub(crate) use plan::{PortPlan, Rng};
pub(crate) use stream::{
    Budget, FRAME_TIMEOUT, HALF_FRAME_BYTES, IDLE_TIMEOUT, MAX_FRAME, QUEUE_BYTES, StreamClock,
    TcpAdmissions,
};

/// How long a port reserved by EVEN-PORT's R bit waits to be claimed.
const RESERVATION_LIFETIME: Duration = Duration::from_secs(30);
/// How often the sweep prunes expired permissions and channels.
const PRUNE_INTERVAL: Duration = Duration::from_secs(30);
/// Unauthenticated answers (Binding responses, 401 and 438 challenges, 400
/// to requests without credentials) per source address: a burst, then a
/// steady rate. Such answers go to whatever source a datagram claims, so
/// without a limit the server amplifies floods at spoofed victims.
const UNAUTHENTICATED_BURST: f64 = 32.0;
const UNAUTHENTICATED_PER_SECOND: f64 = 16.0;
/// Most source addresses tracked for that rate; past it (a flood from
/// many spoofed sources), new sources are not answered until the sweep
/// forgets sources whose bucket is full again.
const UNAUTHENTICATED_SOURCES: usize = 65_536;

/// The 5-tuple of a client: its transport and its address, and for TLS
/// the server port it reached (the HTTPS port or `--turns-listen`; UDP and
/// TCP have one listening address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ClientKey {
    Udp(SocketAddr),
    Tcp(SocketAddr),
    Tls(SocketAddr, u16),
}

impl ClientKey {
    pub(crate) fn addr(self) -> SocketAddr {
        match self {
            ClientKey::Udp(a) | ClientKey::Tcp(a) | ClientKey::Tls(a, _) => a,
        }
    }

    /// Whether frames to this client go over a stream, padded to four bytes.
    pub(crate) fn is_stream(self) -> bool {
        !matches!(self, ClientKey::Udp(_))
    }
}

/// The time, on the two clocks the rules need: a monotonic one for
/// lifetimes and rates, Unix seconds for credentials and nonces.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Now {
    pub(crate) mono: Instant,
    pub(crate) unix: u64,
}

/// The shell's handles, which the core keeps but never looks into.
pub(crate) trait Handles {
    /// The relay socket of a live allocation, cloned for every packet
    /// relayed to a peer; the allocation is closed when the last clone goes.
    type Relay: Clone;
    /// A socket held back by an EVEN-PORT reservation.
    type Reserved;
}

/// The addresses clients are told their relayed addresses are on, per
/// family; a family without one is not offered.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Advertised {
    pub(crate) v4: Option<IpAddr>,
    pub(crate) v6: Option<IpAddr>,
}

/// What to do after a packet from a client (or after a relay was opened).
pub(crate) enum Outcome<'p, H: Handles> {
    /// Nothing to send.
    Silent,
    /// Send the reply written to the output buffer back to the client.
    Reply,
    /// Send the reply, then close this relay: the request deleted its
    /// allocation.
    ReplyAndClose(H::Relay),
    /// Send `data` to `peer` from the allocation's relay socket.
    ToPeer {
        relay: H::Relay,
        peer: SocketAddr,
        data: &'p [u8],
    },
    /// Open a relay socket as told, outside the lock, then report with
    /// [`Core::relay_opened`].
    Open(OpenRelay<H>),
    /// Nothing to send; close these: the allocation they were opened for
    /// went away in the meantime.
    Discard(Released<H>),
}

/// Handles the core let go of, to be closed by dropping them outside the
/// lock.
pub(crate) struct Released<H: Handles> {
    pub(crate) relays: Vec<H::Relay>,
    pub(crate) reserved: Vec<H::Reserved>,
}

impl<H: Handles> Default for Released<H> {
    fn default() -> Self {
        Released {
            relays: Vec::new(),
            reserved: Vec::new(),
        }
    }
}

/// How a datagram from a peer goes to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// As ChannelData on this channel.
    Channel(u16),
    /// As a Data indication.
    Indication,
}

/// A live allocation.
struct Entry<H: Handles> {
    /// Tells this allocation from an earlier one of the same client.
    id: u64,
    alloc: Allocation,
    username: Box<str>,
    user: Arc<str>,
    relay: H::Relay,
    relayed: SocketAddr,
    allocate_tid: TransactionId,
}

/// A user's, or a client address's, allocations (live and pending) and
/// shared bandwidth.
struct User {
    allocations: usize,
    bucket: Option<TokenBucket>,
}

/// A port held back for a later Allocate with the reservation's token.
struct Reservation<H: Handles> {
    socket: H::Reserved,
    relayed: SocketAddr,
    expires: Instant,
}

/// An Allocate accepted and waiting for its relay socket: it counts against
/// the caps, and it holds what the answer needs.
struct Pending {
    id: u64,
    username: Box<str>,
    user: Arc<str>,
    tid: TransactionId,
    fingerprint: bool,
    mac_key: [u8; 16],
    lifetime: Duration,
    advertise: IpAddr,
    /// Whether the next port is to be reserved too (EVEN-PORT's R bit).
    reserve: bool,
}

/// The state of the server and its rules; see the module comment.
pub(crate) struct Core<H: Handles> {
    settings: Settings,
    advertised: Advertised,
    /// The server's own addresses, refused as peers but for relayed ones.
    own: OwnAddresses,
    auth: Auth,
    metrics: Arc<TurnMetrics>,
    caps: Caps,
    allocations: HashMap<ClientKey, Entry<H>>,
    pending: HashMap<ClientKey, Pending>,
    users: HashMap<Arc<str>, User>,
    /// The same per client address ([`address_of`]): a user name costs a
    /// client nothing to mint, its address does.
    addresses: HashMap<IpAddr, User>,
    reservations: HashMap<u64, Reservation<H>>,
    /// The rate of unauthenticated answers, per source address.
    unauthenticated: HashMap<IpAddr, TokenBucket>,
    next_id: u64,
    rng: Rng,
    last_prune: Option<Instant>,
}

impl<H: Handles> Core<H> {
    /// A core with no allocations. `seed` drives the choice of relay ports.
    pub(crate) fn new(
        settings: Settings,
        advertised: Advertised,
        auth: Auth,
        metrics: Arc<TurnMetrics>,
        seed: u64,
    ) -> Self {
        let ports = settings.relay_ports;
        let mut own = OwnAddresses::new(settings.listen.port(), (ports.low, ports.high));
        for ip in [
            Some(settings.listen.ip()),
            settings.external_ip,
            advertised.v4,
            advertised.v6,
        ]
        .into_iter()
        .flatten()
        {
            own.add(ip);
        }
        Core {
            settings,
            advertised,
            own,
            auth,
            metrics,
            caps: Caps::default(),
            allocations: HashMap::new(),
            pending: HashMap::new(),
            users: HashMap::new(),
            addresses: HashMap::new(),
            reservations: HashMap::new(),
            unauthenticated: HashMap::new(),
            next_id: 0,
            rng: Rng::new(seed),
            last_prune: None,
        }
    }

    /// Adds to the server's own addresses, which the relay refuses as
    /// peers: the shell's, such as every interface address when it listens
    /// on an unspecified address.
    pub(crate) fn add_own_addresses(&mut self, ips: impl IntoIterator<Item = IpAddr>) {
        for ip in ips {
            self.own.add(ip);
        }
    }

    /// Handles one packet from a client: STUN or ChannelData. A reply, if
    /// any, is written to `out`.
    pub(crate) fn handle_packet<'p>(
        &mut self,
        key: ClientKey,
        packet: &'p [u8],
        now: Now,
        out: &mut Vec<u8>,
    ) -> Outcome<'p, H> {
        match packet.first() {
            Some(b) if b & 0xC0 == 0 => {}
            Some(b) if b & 0xC0 == 0x40 => {
                return match channel_data::parse(packet) {
                    Some((channel, data)) => self.relay_to_peer(key, Err(channel), data, now.mono),
                    None => {
                        self.metrics.dropped(Discard::Malformed);
                        Outcome::Silent
                    }
                };
            }
            _ => {
                self.metrics.dropped(Discard::Malformed);
                return Outcome::Silent;
            }
        }
        let msg = match Message::parse(packet) {
            Ok(msg) => msg,
            Err(Error::BadCookie) if requests::is_classic_binding(packet) => {
                if !self.may_answer_unauthenticated(key, now.mono) {
                    return Outcome::Silent;
                }
                requests::classic_binding(packet, canonical(key.addr()), out);
                self.metrics.binding_request();
                return Outcome::Reply;
            }
            Err(_) => {
                self.metrics.dropped(Discard::Malformed);
                return Outcome::Silent;
            }
        };
        match (msg.class, msg.method) {
            (Class::Request, method::BINDING) => {
                if !self.may_answer_unauthenticated(key, now.mono) {
                    return Outcome::Silent;
                }
                self.binding(&msg, key.addr(), out);
                Outcome::Reply
            }
            (Class::Request, _) => self.request(key, &msg, now, out),
            (Class::Indication, method::SEND) => {
                let (Some(Ok(peer)), Some(data)) = (
                    msg.get_xor_address(attr::XOR_PEER_ADDRESS),
                    msg.get(attr::DATA),
                ) else {
                    self.metrics.dropped(Discard::Malformed);
                    return Outcome::Silent;
                };
                self.relay_to_peer(key, Ok(peer), data, now.mono)
            }
            // Binding indications are keepalives; clients send no responses.
            _ => Outcome::Silent,
        }
    }

    /// Whether an unauthenticated answer may go to the source of `key`
    /// now; counts it if so.
    fn may_answer_unauthenticated(&mut self, key: ClientKey, now: Instant) -> bool {
        let ip = key.addr().ip().to_canonical();
        let full = self.unauthenticated.len() >= UNAUTHENTICATED_SOURCES;
        let allowed = match self.unauthenticated.get_mut(&ip) {
            Some(bucket) => bucket.try_take(now),
            None if full => false,
            None => {
                let mut bucket =
                    TokenBucket::with(UNAUTHENTICATED_PER_SECOND, UNAUTHENTICATED_BURST, now);
                let taken = bucket.try_take(now);
                self.unauthenticated.insert(ip, bucket);
                taken
            }
        };
        if !allowed {
            self.metrics.dropped(Discard::RateLimited);
        }
        allowed
    }

    /// Relays `data` from `key` to `peer` (or to the peer of a channel), if
    /// the allocation, the permission and the user's bandwidth allow it.
    fn relay_to_peer<'p>(
        &mut self,
        key: ClientKey,
        peer: Result<SocketAddr, u16>,
        data: &'p [u8],
        now: Instant,
    ) -> Outcome<'p, H> {
        let Some(entry) = self.allocations.get(&key) else {
            self.metrics.dropped(Discard::NoAllocation);
            return Outcome::Silent;
        };
        let peer = match peer {
            Ok(peer) => peer,
            Err(channel) => match entry.alloc.channel_peer(channel, now) {
                Some(peer) => peer,
                None => {
                    self.metrics.dropped(Discard::NoAllocation);
                    return Outcome::Silent;
                }
            },
        };
        if !entry.alloc.permits(peer.ip(), now) {
            self.metrics.dropped(Discard::NoPermission);
            return Outcome::Silent;
        }
        if !self.own.permits(peer, &self.settings.filter) {
            self.metrics.peer_refused();
            return Outcome::Silent;
        }
        if !take_bandwidth(
            &mut self.users,
            &mut self.addresses,
            key,
            &entry.user,
            data.len(),
            now,
        ) {
            self.metrics.dropped(Discard::Bandwidth);
            return Outcome::Silent;
        }
        Outcome::ToPeer {
            relay: entry.relay.clone(),
            peer,
            data,
        }
    }

    /// How a datagram of `len` bytes from `peer`, received on the relay of
    /// allocation `id` of `key`, goes to the client; None drops it (the
    /// allocation is gone, or the peer has no permission, or the user is
    /// over their bandwidth).
    pub(crate) fn peer_datagram(
        &mut self,
        key: ClientKey,
        id: u64,
        peer: SocketAddr,
        len: usize,
        now: Instant,
    ) -> Option<Framing> {
        let entry = self.allocations.get(&key).filter(|e| e.id == id)?;
        if !entry.alloc.permits(peer.ip(), now) {
            self.metrics.dropped(Discard::NoPermission);
            return None;
        }
        if !take_bandwidth(
            &mut self.users,
            &mut self.addresses,
            key,
            &entry.user,
            len,
            now,
        ) {
            self.metrics.dropped(Discard::Bandwidth);
            return None;
        }
        Some(match entry.alloc.channel_for(peer, now) {
            Some(channel) => Framing::Channel(channel),
            None => Framing::Indication,
        })
    }

    /// Removes expired allocations and reservations, and the allocations
    /// made with credentials since revoked (their member left its room);
    /// now and then, prunes expired permissions and channels. Meant to run
    /// every second.
    pub(crate) fn sweep(&mut self, now: Instant) -> Released<H> {
        let secret = &self.settings.secret;
        let expired: Vec<ClientKey> = self
            .allocations
            .iter()
            .filter(|(_, e)| e.alloc.is_expired(now) || is_revoked(secret, &e.username))
            .map(|(k, _)| *k)
            .collect();
        let mut released = Released::default();
        for key in expired {
            released.relays.extend(self.remove(key));
        }
        let gone: Vec<u64> = self
            .reservations
            .iter()
            .filter(|(_, r)| now >= r.expires)
            .map(|(token, _)| *token)
            .collect();
        for token in gone {
            released
                .reserved
                .extend(self.reservations.remove(&token).map(|r| r.socket));
        }
        if self
            .last_prune
            .is_none_or(|last| now.duration_since(last) >= PRUNE_INTERVAL)
        {
            for entry in self.allocations.values_mut() {
                entry.alloc.prune(now);
            }
            self.last_prune = Some(now);
        }
        self.unauthenticated
            .retain(|_, bucket| !bucket.is_full(now));
        self.metrics.set_allocations(self.allocations.len());
        released
    }

    pub(crate) fn has_allocation(&self, key: ClientKey) -> bool {
        self.allocations.contains_key(&key)
    }

    /// Forgets the client `key`, whose connection closed: its allocation
    /// goes, and so does one still waiting for its relay socket.
    pub(crate) fn forget(&mut self, key: ClientKey) -> Released<H> {
        let mut released = Released::default();
        released.relays.extend(self.remove(key));
        if let Some(pending) = self.pending.remove(&key) {
            self.release_user(key, &pending.user);
        }
        self.metrics.set_allocations(self.allocations.len());
        released
    }

    /// Lets go of everything, as the server stops.
    pub(crate) fn clear(&mut self) -> Released<H> {
        let mut released = Released::default();
        released
            .relays
            .extend(self.allocations.drain().map(|(_, e)| e.relay));
        released
            .reserved
            .extend(self.reservations.drain().map(|(_, r)| r.socket));
        self.pending.clear();
        self.users.clear();
        self.addresses.clear();
        released
    }

    /// Removes the allocation of `key`, returning its relay.
    fn remove(&mut self, key: ClientKey) -> Option<H::Relay> {
        let entry = self.allocations.remove(&key)?;
        self.release_user(key, &entry.user);
        Some(entry.relay)
    }

    /// Gives back one allocation of `user`'s quota and of the quota of
    /// the address of `key`.
    fn release_user(&mut self, key: ClientKey, user: &str) {
        if let Some(record) = self.users.get_mut(user) {
            record.allocations -= 1;
            if record.allocations == 0 {
                self.users.remove(user);
            }
        }
        let address = address_of(key);
        if let Some(record) = self.addresses.get_mut(&address) {
            record.allocations -= 1;
            if record.allocations == 0 {
                self.addresses.remove(&address);
            }
        }
    }
}

/// Whether the credentials of `username`, which were good when checked,
/// have been revoked since.
fn is_revoked(secret: &super::credentials::Secret, username: &str) -> bool {
    super::credentials::check_username(username, 0)
        .is_ok_and(|name| secret.is_revoked(name.user, name.expiry))
}

/// The address a client's allocations and bandwidth count under: the same
/// rule as the web server's per-address caps (an IPv6 client counts as its
/// /64, an IPv4-mapped one as IPv4).
pub(super) fn address_of(key: ClientKey) -> IpAddr {
    crate::limits::client_key(key.addr().ip())
}

/// Takes `len` bytes from the bucket of the address of `key`, then from
/// that of `user`; false if either is short. (A datagram the user's bucket
/// refuses has been charged to the address: the address pays for the
/// users it runs over their limit.)
fn take_bandwidth(
    users: &mut HashMap<Arc<str>, User>,
    addresses: &mut HashMap<IpAddr, User>,
    key: ClientKey,
    user: &str,
    len: usize,
    now: Instant,
) -> bool {
    let address = addresses
        .get_mut(&address_of(key))
        .and_then(|a| a.bucket.as_mut());
    let user = users.get_mut(user).and_then(|u| u.bucket.as_mut());
    address.is_none_or(|bucket| bucket.take(len, now))
        && user.is_none_or(|bucket| bucket.take(len, now))
}

/// A client address as clients expect to see it (IPv4-mapped IPv6
/// addresses of a dual-stack socket shown as IPv4).
fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}
