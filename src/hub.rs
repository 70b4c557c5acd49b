//! The hub: the room registry plus one bounded outbox per connection, and the
//! only place where the registry's answers become messages to clients.
//!
//! Deliveries happen while the registry lock is held. That keeps one total
//! order of room events: a newcomer's `welcome` is queued before anyone can
//! learn its id from `peer-joined`, so nothing addressed to it can overtake
//! its `welcome`. Queuing never blocks (`try_send`); a client whose queue is
//! full is too slow to keep up and is told to go, so memory stays bounded.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::watch;

use crate::config::Config;
use crate::ids::{self, ResumeKey};
use crate::limits::{AddressLimits, AddressTable, ConnectionRefused};
use crate::metrics::{Metrics, Out};
use crate::outbox::{Outbox, Push};
use crate::protocol::{ErrorCode, Refusal, ServerMessage};
use crate::registry::{Delivery, Left, MemoryRegistry, RegistryLimits, RoomRegistry, RoomSummary};
use crate::room::{ChatEntry, ConnId};
use crate::turn::IceServers;

/// The default capacity of a room created without one: a one-to-one call.
pub const DEFAULT_CAPACITY: u64 = 2;

pub struct Hub {
    state: Mutex<State>,
    /// Kept apart from `state`: it is about addresses, not rooms, and is
    /// touched only when connections open and close.
    addresses: Mutex<AddressTable>,
    next_conn: AtomicU64,
    metrics: Metrics,
    /// The `iceServers` of each `welcome`, with per-member TURN credentials.
    ice_servers: IceServers,
    max_capacity: u64,
    send_queue: usize,
    resume_key: ResumeKey,
    resume_grace: Duration,
    /// Becomes true once, when the server starts shutting down.
    shutting_down: watch::Sender<bool>,
}

struct State {
    registry: Box<dyn RoomRegistry>,
    outboxes: HashMap<ConnId, Arc<Outbox>>,
}

/// A connection's end of the hub: its id and the messages queued for it.
pub struct Connection {
    pub id: ConnId,
    pub outbox: Arc<Outbox>,
}

impl Hub {
    pub fn new(config: &Config) -> Self {
        Hub {
            state: Mutex::new(State {
                registry: Box::new(MemoryRegistry::new(RegistryLimits {
                    max_rooms: config.max_rooms,
                })),
                outboxes: HashMap::new(),
            }),
            addresses: Mutex::new(AddressTable::new(AddressLimits {
                max_connections: config.max_connections,
                max_connections_per_address: config.max_connections_per_ip,
                room_creation_rate: config.room_creation_rate,
                limit_loopback: config.limit_loopback,
            })),
            next_conn: AtomicU64::new(1),
            metrics: Metrics::default(),
            ice_servers: IceServers::from_config(config),
            max_capacity: config.max_room_capacity.into(),
            send_queue: config.send_queue as usize,
            resume_key: match &config.secret {
                Some(secret) => ResumeKey::new(secret.as_bytes()),
                None => ResumeKey::new(&ids::random_bytes::<32>()),
            },
            resume_grace: config.resume_grace,
            shutting_down: watch::Sender::new(false),
        }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn max_capacity(&self) -> u64 {
        self.max_capacity
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the registry half
        // changed (every operation validates before it mutates), so a
        // poisoned lock is still safe to use.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn addresses(&self) -> MutexGuard<'_, AddressTable> {
        self.addresses.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a connection from `ip` against the connection caps; the
    /// returned admission gives the place back when dropped.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Admission, Refusal> {
        match self.addresses().open_connection(ip, Instant::now()) {
            Ok(()) => Ok(Admission {
                hub: self.clone(),
                ip,
            }),
            Err(refused) => {
                self.metrics.error(ErrorCode::RateLimited);
                Err(Refusal::new(
                    ErrorCode::RateLimited,
                    match refused {
                        ConnectionRefused::ServerFull => "the server has too many connections",
                        ConnectionRefused::AddressFull => "too many connections from your address",
                    },
                ))
            }
        }
    }

    /// Takes a room-creation token for `ip`; false means too many, too fast.
    pub fn may_create_room(&self, ip: IpAddr) -> bool {
        let allowed = self.addresses().create_room(ip, Instant::now());
        if !allowed {
            self.metrics.error(ErrorCode::RateLimited);
        }
        allowed
    }

    /// Marks the server as shutting down: health checks fail from now on
    /// and every session is told to close.
    pub fn begin_shutdown(&self) {
        self.shutting_down.send_replace(true);
    }

    pub fn is_shutting_down(&self) -> bool {
        *self.shutting_down.borrow()
    }

    /// Completes once the server is shutting down.
    pub fn shutdown_started(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut receiver = self.shutting_down.subscribe();
        async move {
            let _ = receiver.wait_for(|stopping| *stopping).await;
        }
    }

    /// Completes when no connection is left.
    pub async fn drained(&self) {
        while !self.lock().outboxes.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Registers a new connection.
    pub fn connect(&self) -> Connection {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let outbox = Arc::new(Outbox::new(self.send_queue));
        self.lock().outboxes.insert(id, outbox.clone());
        self.metrics.connection_opened();
        Connection { id, outbox }
    }

    /// Forgets a connection. A member whose connection was lost (rather
    /// than closed) keeps its seat for the resume grace period.
    pub fn disconnect(&self, conn: ConnId, lost: bool) {
        let keep_seat = lost && !self.resume_grace.is_zero();
        let mut state = self.lock();
        if let Some(left) = state.registry.disconnect(conn, Instant::now(), keep_seat) {
            tracing::info!(room = %left.room, peer = %left.peer_id, "left: connection closed");
            self.tell_left(&state, left);
        }
        state.outboxes.remove(&conn);
        drop(state);
        self.metrics.connection_closed();
    }

    /// Gives up the seats of members that did not come back in time.
    pub fn release_away(&self) {
        let mut state = self.lock();
        for left in state
            .registry
            .release_away(Instant::now(), self.resume_grace)
        {
            tracing::info!(room = %left.room, peer = %left.peer_id, "left: did not resume in time");
            self.tell_left(&state, left);
        }
    }

    /// Creates a room; `capacity` defaults to a one-to-one room.
    pub fn create_room(&self, capacity: Option<u64>) -> Result<(String, u64), Refusal> {
        let capacity = capacity.unwrap_or(DEFAULT_CAPACITY);
        if !(2..=self.max_capacity).contains(&capacity) {
            return Err(Refusal::bad_request(format!(
                "capacity must be between 2 and {}",
                self.max_capacity
            )));
        }
        let room = self
            .lock()
            .registry
            .create_room(capacity as usize, Instant::now())?;
        self.metrics.room_created();
        Ok((room, capacity))
    }

    pub fn room_summary(&self, room: &str) -> Option<RoomSummary> {
        self.lock().registry.room_summary(room)
    }

    /// Puts `conn` in `room` (or back in its seat, with a resume token):
    /// queues its `welcome` and whatever waited for it, and tells the
    /// others. Returns the member's peer id.
    pub fn join(
        &self,
        conn: ConnId,
        room: &str,
        name: Option<String>,
        resume_token: Option<&str>,
    ) -> Result<String, Refusal> {
        self.join_from(conn, room, name, resume_token, None)
    }

    /// [`Hub::join`] for a client that reached the server as `host` (its
    /// `Host` header), which names the TURN server in `iceServers` when the
    /// server listens on every address.
    pub fn join_from(
        &self,
        conn: ConnId,
        room: &str,
        name: Option<String>,
        resume_token: Option<&str>,
        host: Option<&str>,
    ) -> Result<String, Refusal> {
        let resume = match resume_token {
            Some(token) => Some(self.resume_key.verify(room, token).ok_or_else(|| {
                Refusal::bad_request("the resume token is not valid for this room")
            })?),
            None => None,
        };
        let mut state = self.lock();
        let joined = state
            .registry
            .join(conn, room, name, resume, Instant::now())?;
        if let Some(old) = joined.replaced {
            // The seat's earlier connection is stale; the member is here now.
            if let Some(outbox) = state.outboxes.get(&old) {
                outbox.evict();
            }
        }
        let token = self.resume_key.sign(room, &joined.peer.id, joined.capacity);
        let ice_servers =
            self.ice_servers
                .for_peer(&joined.peer.id, host, std::time::SystemTime::now());
        let welcome = ServerMessage::Welcome {
            room,
            id: &joined.peer.id,
            peers: &joined.peers,
            ice_servers: &ice_servers,
            resume: &token,
            resumed: joined.resumed,
        };
        self.deliver(&state, conn, welcome.encode().into(), Out::Welcome);
        for message in joined.parked {
            self.deliver(&state, conn, message.into(), Out::Signal);
        }
        for entry in &joined.history {
            self.deliver(&state, conn, encode_chat(entry, true), Out::Chat);
        }
        let peer_joined: Utf8Bytes = ServerMessage::PeerJoined { peer: &joined.peer }
            .encode()
            .into();
        for other in joined.notify {
            self.deliver(&state, other, peer_joined.clone(), Out::PeerJoined);
        }
        if joined.resumed {
            self.metrics.resumed();
        } else if resume_token.is_some() {
            self.metrics.rejoined();
        }
        tracing::info!(room, peer = %joined.peer.id, resumed = joined.resumed, "joined");
        Ok(joined.peer.id)
    }

    pub fn leave(&self, conn: ConnId) -> Result<(), Refusal> {
        let mut state = self.lock();
        let left = state.registry.leave(conn, Instant::now())?;
        tracing::info!(room = %left.room, peer = %left.peer_id, "left");
        self.tell_left(&state, left);
        Ok(())
    }

    /// Sends a chat message from `conn` to everyone in its room, itself
    /// included, and keeps it for those who join later.
    pub fn chat(&self, conn: ConnId, text: String) -> Result<(), Refusal> {
        let time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut state = self.lock();
        let chat = state.registry.chat(conn, text, time)?;
        let message = encode_chat(&chat.entry, false);
        for member in chat.notify {
            self.deliver(&state, member, message.clone(), Out::Chat);
        }
        Ok(())
    }

    fn tell_left(&self, state: &State, left: Left) {
        let peer_left: Utf8Bytes = ServerMessage::PeerLeft { id: &left.peer_id }
            .encode()
            .into();
        for other in left.notify {
            self.deliver(state, other, peer_left.clone(), Out::PeerLeft);
        }
    }

    /// Relays `message` (an encoded `signal` from `conn`) to peer `to` of the
    /// same room, or keeps it for `to` while its connection is down.
    pub fn signal(&self, conn: ConnId, to: &str, message: Utf8Bytes) -> Result<(), Refusal> {
        let mut state = self.lock();
        match state.registry.route_signal(conn, to, message.as_str())? {
            Delivery::Now(receiver) => self.deliver(&state, receiver, message, Out::Signal),
            Delivery::Parked => {}
            Delivery::SeatReleased(left) => {
                tracing::info!(room = %left.room, peer = %left.peer_id, "left: too much waited for it");
                self.tell_left(&state, left);
            }
        }
        Ok(())
    }

    /// Queues an `error` for `conn`.
    pub fn refuse(&self, conn: ConnId, refusal: &Refusal, reference: Option<&str>) {
        self.metrics.error(refusal.code);
        let text = ServerMessage::Error {
            code: refusal.code,
            message: &refusal.message,
            reference,
        }
        .encode();
        let state = self.lock();
        self.deliver(&state, conn, text.into(), Out::Error);
    }

    /// Forgets rooms that have been empty for `idle`, and addresses that
    /// have nothing left to count.
    pub fn forget_idle(&self, idle: Duration) -> usize {
        let now = Instant::now();
        self.addresses().prune(now);
        self.lock().registry.forget_idle_rooms(now, idle)
    }

    pub fn render_metrics(&self) -> String {
        let occupancy = self.lock().registry.occupancy();
        self.metrics.render(occupancy)
    }

    fn deliver(&self, state: &State, conn: ConnId, text: Utf8Bytes, kind: Out) {
        let Some(outbox) = state.outboxes.get(&conn) else {
            return;
        };
        match outbox.push(text) {
            Push::Queued => self.metrics.message_out(kind),
            Push::Overflowed => self.metrics.slow_client_dropped(),
            Push::Refused => {}
        }
    }
}

fn encode_chat(entry: &ChatEntry, history: bool) -> Utf8Bytes {
    ServerMessage::Chat {
        from: &entry.from,
        name: entry.name.as_deref(),
        text: &entry.text,
        time: entry.time,
        history,
    }
    .encode()
    .into()
}

/// A connection's place under the connection caps, held for its lifetime.
pub struct Admission {
    hub: Arc<Hub>,
    ip: IpAddr,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.hub
            .addresses()
            .close_connection(self.ip, Instant::now());
    }
}
