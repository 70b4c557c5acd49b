//! Allocate (RFC 8656 section 7), in two steps so that no socket is bound
//! under the server's lock:
//!
//! 1. [`Core::allocate`] checks the request and the caps and, if it may go
//!    ahead, records a [`Pending`](super::Pending) allocation, which counts
//!    against the server's and the user's caps from that moment, and asks
//!    the shell to open a relay socket ([`OpenRelay`]): on a port of a
//!    [`PortPlan`], or the socket of a reservation.
//! 2. The shell binds outside the lock and reports with
//!    [`Core::relay_opened`], which commits the allocation and answers, or
//!    rolls back and answers 508; if the client went away meanwhile, the
//!    shell gets its sockets back to close.
//!
//! So two clients racing for the last place cannot both get it, and a
//! retransmitted Allocate that arrives between the steps waits for the
//! answer to its next retransmission instead of making a second one.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::super::allocation::{Allocation, bandwidth_bucket, granted_lifetime};
use super::super::stun::{Message, attr, method};
use super::requests::{
    BAD_REQUEST, CAPACITY, FAMILY_NOT_SUPPORTED, Failure, MISMATCH, QUOTA, Reply, Success,
    UNSUPPORTED_TRANSPORT,
};
use super::{
    ClientKey, Core, Entry, Handles, Outcome, Pending, PortPlan, RESERVATION_LIFETIME, Released,
    Reservation, User, address_of, canonical,
};

/// The shell's task between the two steps.
pub(crate) struct OpenRelay<H: Handles> {
    /// The allocation's id, to pass back to [`Core::relay_opened`], and for
    /// the relay task to tell its allocation from a later one.
    pub(crate) id: u64,
    pub(crate) source: RelaySource<H>,
}

/// Where the relay socket of a new allocation comes from.
pub(crate) enum RelaySource<H: Handles> {
    /// A new socket on the relay address of the family (IPv4 if `v4`),
    /// bound to the first port of `plan` that is free; if the plan reserves
    /// the next port, that one is bound too and held back.
    Bind { v4: bool, plan: PortPlan },
    /// The socket a reservation held back, bound to `port`.
    Reserved { socket: H::Reserved, port: u16 },
}

/// What the shell made of an [`OpenRelay`].
pub(crate) enum Opened<H: Handles> {
    /// The relay is open on `port`; with a reserving plan, so is the next
    /// port, whose socket is held back under `token` (a random number the
    /// client needs to claim it).
    Relay {
        relay: H::Relay,
        port: u16,
        reserved: Option<(H::Reserved, u64)>,
    },
    /// No port of the plan could be bound.
    NoPort,
    /// A socket was bound but could not be used.
    Unusable,
}

impl<H: Handles> Opened<H> {
    fn into_released(self) -> Released<H> {
        let mut released = Released::default();
        if let Opened::Relay {
            relay, reserved, ..
        } = self
        {
            released.relays.push(relay);
            released.reserved.extend(reserved.map(|(socket, _)| socket));
        }
        released
    }
}

/// What the first step of an Allocate comes to.
pub(super) enum Allocated<H: Handles> {
    /// An answer now: the retransmission of an Allocate already done.
    Answer(Success),
    /// Open a relay socket.
    Open(OpenRelay<H>),
    /// A retransmission of an Allocate still opening its relay: no answer
    /// yet, the client asks again.
    Wait,
}

impl<H: Handles> Core<H> {
    /// The first step of an Allocate from an authenticated `username`.
    pub(super) fn allocate(
        &mut self,
        key: ClientKey,
        msg: &Message<'_>,
        username: &str,
        user: &str,
        mac_key: [u8; 16],
        now: Instant,
    ) -> Result<Allocated<H>, Failure> {
        if let Some(entry) = self.allocations.get(&key) {
            // A retransmission gets the same answer; anything else is a
            // second allocation on one 5-tuple.
            if entry.allocate_tid == msg.transaction_id && *entry.username == *username {
                return Ok(Allocated::Answer(Success::Allocate {
                    relayed: entry.relayed,
                    lifetime: entry.alloc.remaining_secs(now),
                    mapped: canonical(key.addr()),
                    token: None,
                }));
            }
            return Err(MISMATCH);
        }
        if let Some(pending) = self.pending.get(&key) {
            if pending.tid == msg.transaction_id && *pending.username == *username {
                return Ok(Allocated::Wait);
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
        // Pending allocations count: they are allocations being made.
        if self.allocations.len() + self.pending.len() >= self.settings.max_allocations {
            self.metrics.allocation_refused();
            return Err(CAPACITY);
        }
        let user_count = self.users.get(user).map_or(0, |u| u.allocations);
        if user_count >= self.settings.user_allocations {
            self.metrics.allocation_refused();
            return Err(QUOTA);
        }
        let address = address_of(key);
        let address_count = self.addresses.get(&address).map_or(0, |a| a.allocations);
        if address_count >= self.settings.address_allocations {
            self.metrics.allocation_refused();
            return Err(QUOTA);
        }
        let lifetime = granted_lifetime(
            msg.get_u32(attr::LIFETIME)
                .map(|s| Duration::from_secs(s.into())),
            self.settings.max_lifetime,
        );

        let (source, advertise, reserve) = match token {
            Some(token) => {
                // An expired reservation is left for the sweep to close.
                if self
                    .reservations
                    .get(&token)
                    .is_none_or(|r| now >= r.expires)
                {
                    return Err(CAPACITY);
                }
                let reservation = self.reservations.remove(&token).ok_or(CAPACITY)?;
                let source = RelaySource::Reserved {
                    socket: reservation.socket,
                    port: reservation.relayed.port(),
                };
                (source, reservation.relayed.ip(), false)
            }
            None => {
                let v4 = family.unwrap_or(true);
                let advertised = if v4 {
                    self.advertised.v4
                } else {
                    self.advertised.v6
                };
                let advertise = advertised.ok_or(FAMILY_NOT_SUPPORTED)?;
                let reserve = even_port == Some(true);
                if reserve && self.reservations_held() >= self.settings.max_allocations.min(1024) {
                    self.metrics.allocation_refused();
                    return Err(CAPACITY);
                }
                let random = self.rng.next_u64();
                let plan = PortPlan::new(
                    self.settings.relay_ports,
                    random,
                    even_port.is_some(),
                    reserve,
                );
                (RelaySource::Bind { v4, plan }, advertise, reserve)
            }
        };

        self.next_id += 1;
        let id = self.next_id;
        let user: Arc<str> = Arc::from(user);
        let bandwidth = self.settings.user_bandwidth;
        let record = self.users.entry(user.clone()).or_insert_with(|| User {
            allocations: 0,
            bucket: (bandwidth > 0).then(|| bandwidth_bucket(bandwidth, now)),
        });
        record.allocations += 1;
        let bandwidth = self.settings.address_bandwidth;
        let record = self.addresses.entry(address).or_insert_with(|| User {
            allocations: 0,
            bucket: (bandwidth > 0).then(|| bandwidth_bucket(bandwidth, now)),
        });
        record.allocations += 1;
        self.pending.insert(
            key,
            Pending {
                id,
                username: username.into(),
                user,
                tid: msg.transaction_id,
                fingerprint: msg.has_fingerprint,
                mac_key,
                lifetime,
                advertise,
                reserve,
            },
        );
        Ok(Allocated::Open(OpenRelay { id, source }))
    }

    /// Reservations made and being made, for their cap.
    fn reservations_held(&self) -> usize {
        self.reservations.len() + self.pending.values().filter(|p| p.reserve).count()
    }

    /// The second step of an Allocate: the shell opened the relay of
    /// allocation `id` of `key`, or could not. Writes the answer to `out`.
    pub(crate) fn relay_opened(
        &mut self,
        key: ClientKey,
        id: u64,
        opened: Opened<H>,
        now: Instant,
        out: &mut Vec<u8>,
    ) -> Outcome<'static, H> {
        let pending = match self.pending.remove(&key) {
            Some(pending) if pending.id == id => pending,
            // The client went away (and maybe came back), or the server is
            // stopping.
            other => {
                if let Some(other) = other {
                    self.pending.insert(key, other);
                }
                return Outcome::Discard(opened.into_released());
            }
        };
        let reply = Reply {
            method: method::ALLOCATE,
            tid: pending.tid,
            fingerprint: pending.fingerprint,
        };
        let (relay, port, reserved) = match opened {
            Opened::Relay {
                relay,
                port,
                reserved,
            } => (relay, port, reserved),
            Opened::NoPort => {
                self.metrics.allocation_refused();
                return self.roll_back(key, pending, reply, out);
            }
            Opened::Unusable => return self.roll_back(key, pending, reply, out),
        };
        let relayed = SocketAddr::new(pending.advertise, port);
        let token = reserved.map(|(socket, token)| {
            self.reservations.insert(
                token,
                Reservation {
                    socket,
                    relayed: SocketAddr::new(pending.advertise, port + 1),
                    expires: now + RESERVATION_LIFETIME,
                },
            );
            token
        });
        self.allocations.insert(
            key,
            Entry {
                id,
                alloc: Allocation::new(now, pending.lifetime, self.caps),
                username: pending.username,
                user: pending.user,
                relay,
                relayed,
                allocate_tid: pending.tid,
            },
        );
        self.metrics.allocation_created();
        self.metrics.set_allocations(self.allocations.len());
        tracing::debug!(client = %key.addr(), %relayed, "TURN allocation");
        let success = Success::Allocate {
            relayed,
            lifetime: pending.lifetime.as_secs() as u32,
            mapped: canonical(key.addr()),
            token,
        };
        reply.success(out, success, &pending.mac_key);
        Outcome::Reply
    }

    /// Gives back the place a pending allocation held, answering 508.
    fn roll_back(
        &mut self,
        key: ClientKey,
        pending: Pending,
        reply: Reply,
        out: &mut Vec<u8>,
    ) -> Outcome<'static, H> {
        self.release_user(key, &pending.user);
        reply.refuse(out, key.addr(), CAPACITY, &pending.mac_key);
        Outcome::Reply
    }
}
