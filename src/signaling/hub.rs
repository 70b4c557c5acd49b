//! The hub: where the room store's answers become messages to clients.
//!
//! Sessions call the hub; the hub asks the [`RoomStore`] what happens and
//! hands each resulting message to the [`Delivery`], which reaches the
//! connection that holds the receiver's seat. Every operation on a room
//! holds that room's turn ([`RoomOrder`]) from the store call until its
//! messages are queued, so each room has one order of events: a newcomer's
//! `welcome` is queued before anyone can learn its id from `peer-joined`,
//! and nobody hears of two changes in an order the store did not make them.
//! Queuing never blocks; a client whose queue is full is too slow to keep
//! up and is told to go, so memory stays bounded.
//!
//! With a store shared by several instances (Redis), the store sends the
//! events it makes itself, in its own order across instances, and the
//! cluster's delivery takes them from there; what the hub hands it is
//! dropped (see `docs/architecture.md`, "Several instances").

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, SystemTime};

use axum::extract::ws::Utf8Bytes;

use super::delivery::{Delivery, push, push_owed};
use super::metrics::{Metrics, Out};
use super::order::RoomOrder;
use super::outbox::{Outbox, OutboxLimits};
use super::protocol::ServerMessage;
use crate::metrics::{Exposition, Source};
use crate::rooms::{
    ChatEntry, JoinRequest, Left, Refusal, ResumeKey, RoomKind, RoomStore, RoomSummary, Route, Seat,
};
use crate::turn::IceServers;

/// The default capacity of a room created without one: a one-to-one call.
pub(crate) const DEFAULT_CAPACITY: u64 = 2;

/// What the hub is configured with.
pub(crate) struct HubSettings {
    /// The largest capacity a client may ask for.
    pub(crate) max_capacity: u64,
    /// What may wait for one connection before it counts as too slow.
    pub(crate) send_queue: OutboxLimits,
    pub(crate) resume_key: ResumeKey,
    /// How long a lost connection's seat is held for it to resume.
    pub(crate) resume_grace: Duration,
    /// How long an empty room is kept: how long a resume token may make
    /// its room again (see [`crate::rooms::Resume`]).
    pub(crate) room_idle_timeout: Duration,
    /// The `iceServers` of each `welcome`, with per-member TURN credentials.
    pub(crate) ice_servers: IceServers,
}

pub(crate) struct Hub {
    settings: HubSettings,
    store: Arc<dyn RoomStore>,
    delivery: Arc<dyn Delivery>,
    order: RoomOrder,
    metrics: Arc<Metrics>,
    /// Connections open now, members or not.
    open: AtomicUsize,
    /// Keys the room tags of the logs; random per process.
    log_key: RandomState,
}

impl Hub {
    pub(crate) fn new(
        settings: HubSettings,
        store: Arc<dyn RoomStore>,
        delivery: Arc<dyn Delivery>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Hub {
            settings,
            store,
            delivery,
            order: RoomOrder::new(),
            metrics,
            open: AtomicUsize::new(0),
            log_key: RandomState::new(),
        }
    }

    /// What the logs call `room`: a room id is the key to a call, and logs
    /// travel further than calls should, so they carry a keyed hash of it
    /// instead, enough to follow one room through the log of this process.
    fn tag(&self, room: &str) -> String {
        format!("{:016x}", self.log_key.hash_one(room))
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// False while the room store cannot be reached.
    pub(crate) fn store_reachable(&self) -> bool {
        self.store.reachable()
    }

    /// Completes when no connection is left.
    pub(crate) async fn drained(&self) {
        while self.open.load(Relaxed) > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A new connection's outbox.
    pub(crate) fn connect(&self) -> Arc<Outbox> {
        self.open.fetch_add(1, Relaxed);
        self.metrics.connection_opened();
        Arc::new(Outbox::new(self.settings.send_queue))
    }

    /// Forgets a connection, and its seat if it has one. A member whose
    /// connection was lost (rather than closed) keeps its seat for the
    /// resume grace period.
    pub(crate) async fn disconnect(&self, seat: Option<&Seat>, outbox: &Arc<Outbox>, lost: bool) {
        if let Some(seat) = seat {
            let keep_seat = lost && !self.settings.resume_grace.is_zero();
            let _turn = self.order.turn(&seat.room).await;
            if let Some(left) = self.store.disconnect(seat, now(), keep_seat).await {
                tracing::info!(room = %self.tag(&left.room), peer = %left.peer_id, "left: connection closed");
                self.tell_left(left);
            }
            self.delivery.detach(seat, outbox);
        }
        self.open.fetch_sub(1, Relaxed);
        self.metrics.connection_closed();
    }

    /// Gives up the seats of members that did not come back in time.
    pub(crate) async fn release_away(&self) {
        let now = now();
        for away in self.store.away_past(now, self.settings.resume_grace).await {
            let _turn = self.order.turn(&away.room).await;
            if let Some(left) = self.store.release_away(&away, now).await {
                tracing::info!(room = %self.tag(&left.room), peer = %left.peer_id, "left: did not resume in time");
                self.tell_left(left);
            }
        }
    }

    /// Creates a room; `capacity` defaults to a one-to-one room.
    pub(crate) async fn create_room(
        &self,
        kind: RoomKind,
        capacity: Option<u64>,
    ) -> Result<(String, u64), Refusal> {
        let capacity = capacity.unwrap_or(DEFAULT_CAPACITY);
        if !(2..=self.settings.max_capacity).contains(&capacity) {
            return Err(Refusal::bad_request(format!(
                "capacity must be between 2 and {}",
                self.settings.max_capacity
            )));
        }
        let room = self
            .store
            .create_room(kind, capacity as usize, now())
            .await?;
        self.metrics.room_created();
        Ok((room, capacity))
    }

    pub(crate) async fn room_summary(&self, room: &str) -> Option<RoomSummary> {
        self.store.room_summary(room).await
    }

    /// Puts the connection of `outbox` in `room` (or back in its seat, with
    /// a resume token): queues its `welcome` and whatever waited for it,
    /// and tells the others. `host` is the client's `Host` header, which
    /// names the TURN server in `iceServers` when the server listens on
    /// every address.
    pub(crate) async fn join(
        &self,
        outbox: &Arc<Outbox>,
        room: &str,
        name: Option<String>,
        resume_token: Option<&str>,
        host: Option<&str>,
    ) -> Result<Seat, Refusal> {
        let resume = match resume_token {
            Some(token) => Some(
                self.settings
                    .resume_key
                    .verify(room, token, self.settings.room_idle_timeout)
                    .ok_or_else(|| {
                        Refusal::bad_request("the resume token is not valid for this room")
                    })?,
            ),
            None => None,
        };
        let request = JoinRequest {
            room: room.to_owned(),
            name,
            resume,
        };
        let _turn = self.order.turn(room).await;
        let joined = self.store.join(request, now()).await?;
        if joined.replaced {
            // The seat's earlier connection is stale; the member is here now.
            self.delivery.evict(room, &joined.peer.id);
        }
        let token = self
            .settings
            .resume_key
            .sign(room, &joined.peer.id, joined.capacity, now());
        let ice_servers =
            self.settings
                .ice_servers
                .for_peer(&joined.peer.id, host, SystemTime::now());
        let welcome = ServerMessage::Welcome {
            room,
            id: &joined.peer.id,
            peers: &joined.peers,
            ice_servers: &ice_servers,
            resume: &token,
            kind: joined.kind,
            resumed: joined.resumed,
        };
        // What the member is owed goes in whatever the outbox's limits: the
        // store bounds it (parked messages, chat history), and losing any
        // of it would break the promise that nothing kept is lost.
        push_owed(&self.metrics, outbox, welcome.encode().into(), Out::Welcome);
        for message in joined.parked {
            push_owed(&self.metrics, outbox, message.into(), Out::Signal);
        }
        for entry in &joined.history {
            push_owed(&self.metrics, outbox, encode_chat(entry, true), Out::Chat);
        }
        // Attached once what the member is owed is queued: whatever reaches
        // the seat from now on comes after its `welcome`.
        self.delivery.attach(&joined.seat, outbox.clone());
        let peer_joined: Utf8Bytes = ServerMessage::PeerJoined { peer: &joined.peer }
            .encode()
            .into();
        for other in &joined.notify {
            self.delivery
                .deliver(room, other, peer_joined.clone(), Out::PeerJoined);
        }
        if joined.resumed {
            self.metrics.resumed();
        } else if resume_token.is_some() {
            self.metrics.rejoined();
        }
        tracing::info!(room = %self.tag(room), peer = %joined.peer.id, resumed = joined.resumed, "joined");
        Ok(joined.seat)
    }

    /// An explicit `leave` of the connection of `outbox`.
    pub(crate) async fn leave(&self, seat: &Seat, outbox: &Arc<Outbox>) -> Result<(), Refusal> {
        let _turn = self.order.turn(&seat.room).await;
        let left = self.store.leave(seat, now()).await?;
        self.delivery.detach(seat, outbox);
        tracing::info!(room = %self.tag(&left.room), peer = %left.peer_id, "left");
        self.tell_left(left);
        Ok(())
    }

    /// Sends a chat message from `seat` to everyone in its room, itself
    /// included, and keeps it for those who join later.
    pub(crate) async fn chat(&self, seat: &Seat, text: String) -> Result<(), Refusal> {
        let _turn = self.order.turn(&seat.room).await;
        let chat = self.store.chat(seat, text, now()).await?;
        let message = encode_chat(&chat.entry, false);
        for member in &chat.notify {
            self.delivery
                .deliver(&seat.room, member, message.clone(), Out::Chat);
        }
        Ok(())
    }

    /// Relays `message` (an encoded `signal` from `seat`) to peer `to` of
    /// the same room, or keeps it for `to` while its connection is down.
    pub(crate) async fn signal(
        &self,
        seat: &Seat,
        to: &str,
        message: Utf8Bytes,
    ) -> Result<(), Refusal> {
        let _turn = self.order.turn(&seat.room).await;
        match self
            .store
            .route_signal(seat, to, message.as_str(), now())
            .await?
        {
            Route::Now => self.delivery.deliver(&seat.room, to, message, Out::Signal),
            Route::Parked => {}
            Route::SeatReleased(left) => {
                tracing::info!(room = %self.tag(&left.room), peer = %left.peer_id, "left: too much waited for it");
                self.tell_left(left);
            }
        }
        Ok(())
    }

    /// Queues an `error` on `outbox`.
    pub(crate) fn refuse(&self, outbox: &Outbox, refusal: &Refusal, reference: Option<&str>) {
        self.metrics.error(refusal.code);
        let text = ServerMessage::Error {
            code: refusal.code,
            message: &refusal.message,
            reference,
        }
        .encode();
        push(&self.metrics, outbox, text.into(), Out::Error);
    }

    /// Forgets rooms that have been empty for `idle`, and rooms nobody
    /// joined within `unjoined` of their creation.
    pub(crate) async fn forget_idle(&self, idle: Duration, unjoined: Duration) -> usize {
        let now = now();
        self.store.forget_idle_rooms(now, idle).await
            + self.store.forget_unjoined_rooms(now, unjoined).await
    }

    /// Tells the others that a member left, and takes back its TURN
    /// credentials.
    fn tell_left(&self, left: Left) {
        self.settings
            .ice_servers
            .revoke(&left.peer_id, SystemTime::now());
        let peer_left: Utf8Bytes = ServerMessage::PeerLeft { id: &left.peer_id }
            .encode()
            .into();
        for other in &left.notify {
            self.delivery
                .deliver(&left.room, other, peer_left.clone(), Out::PeerLeft);
        }
    }
}

impl Source for Hub {
    fn render(&self, out: &mut Exposition) {
        self.metrics.render(self.store.occupancy(), out);
    }
}

/// The store's clock: wall time, which every instance sharing a store
/// agrees on.
fn now() -> SystemTime {
    SystemTime::now()
}

pub(super) fn encode_chat(entry: &ChatEntry, history: bool) -> Utf8Bytes {
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
