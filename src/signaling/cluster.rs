//! Delivery in a cluster: the room store's scripts publish each event to
//! the channel of the instance holding the receiver's connection, and
//! [`ClusterDelivery`] hands what arrives on this instance's channel to
//! its own connections ([`LocalConnections`]).
//!
//! Everything a member hears from others comes through the channel, also
//! from members on this same instance, so that it hears the events of its
//! room in the one order the scripts made them. What the hub queues
//! directly is only what the caller is owed (its `welcome`, the messages
//! parked for it, the chat history, its errors).
//!
//! An event names the epoch of the receiver's connection. One can arrive
//! for a seat whose `welcome` is not queued yet (the join's answer is on
//! its way back from Redis while the others already signal the
//! newcomer): it waits, bounded, until the seat is attached, so that it
//! comes after the `welcome`, and is dropped if the seat is never
//! attached here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use futures_util::StreamExt;
use tokio::sync::watch;

use super::delivery::{Delivery, LocalConnections, push};
use super::hub::encode_chat;
use super::metrics::{Metrics, Out};
use super::outbox::Outbox;
use super::protocol::ServerMessage;
use crate::rooms::{Published, RedisEvents, RedisStore, RoomEvent, Seat};

/// Longest an event waits for its seat to be attached.
const EARLY_WAIT: Duration = Duration::from_secs(10);
/// Most events waiting for one seat.
const EARLY_MESSAGES: usize = 256;
/// Most bytes of events waiting for one seat.
const EARLY_BYTES: usize = 1024 * 1024;

pub(crate) struct ClusterDelivery {
    local: LocalConnections,
    metrics: Arc<Metrics>,
    /// Each seat held here: the epoch attached, and what waits for a
    /// later epoch of the seat.
    seats: Mutex<HashMap<(String, String), Slot>>,
}

#[derive(Default)]
struct Slot {
    attached: Option<u64>,
    early: Option<Early>,
}

/// Events for an epoch of a seat not attached yet.
struct Early {
    epoch: u64,
    since: Instant,
    messages: Vec<(Utf8Bytes, Out)>,
    bytes: usize,
}

impl ClusterDelivery {
    pub(crate) fn new(metrics: Arc<Metrics>) -> Self {
        ClusterDelivery {
            local: LocalConnections::new(metrics.clone()),
            metrics,
            seats: Mutex::default(),
        }
    }

    fn seats(&self) -> MutexGuard<'_, HashMap<(String, String), Slot>> {
        // Every change is a few steps that cannot panic half way.
        self.seats.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Delivers what arrives on this instance's channel until the
    /// subscription ends or `outages` says Redis went away (a subscription
    /// may not notice that its connection is gone); the caller subscribes
    /// again.
    async fn run(&self, mut events: RedisEvents, outages: &mut watch::Receiver<u64>) {
        let mut stream = std::pin::pin!(events.stream());
        loop {
            tokio::select! {
                published = stream.next() => match published {
                    Some(published) => self.receive(published),
                    None => return,
                },
                _ = outages.changed() => return,
            }
        }
    }

    /// Delivers one event to its receivers held here.
    fn receive(&self, published: Published) {
        let (message, kind) = match &published.event {
            RoomEvent::Joined(peer) => {
                (ServerMessage::PeerJoined { peer }.encode(), Out::PeerJoined)
            }
            RoomEvent::Left(id) => (ServerMessage::PeerLeft { id }.encode(), Out::PeerLeft),
            RoomEvent::Chat(entry) => (encode_chat(entry, false).to_string(), Out::Chat),
            RoomEvent::Signal(text) => (text.clone(), Out::Signal),
            RoomEvent::Evict => {
                for (peer, epoch) in &published.to {
                    if self.attached(&published.room, peer) == Some(*epoch) {
                        self.local.evict(&published.room, peer);
                    }
                }
                return;
            }
        };
        let message = Utf8Bytes::from(message);
        for (peer, epoch) in published.to {
            self.deliver_at(published.room.clone(), peer, epoch, message.clone(), kind);
        }
    }

    fn attached(&self, room: &str, peer: &str) -> Option<u64> {
        self.seats()
            .get(&(room.to_owned(), peer.to_owned()))
            .and_then(|slot| slot.attached)
    }

    /// Queues `message` for the connection of `peer` at `epoch`: now if it
    /// is attached, later if it is about to be, never if it is gone.
    fn deliver_at(&self, room: String, peer: String, epoch: u64, message: Utf8Bytes, kind: Out) {
        let now = Instant::now();
        let mut seats = self.seats();
        let key = (room, peer);
        let slot = match seats.get_mut(&key) {
            Some(slot) if slot.attached == Some(epoch) => {
                drop(seats);
                return self.local.deliver(&key.0, &key.1, message, kind);
            }
            Some(slot) if slot.attached.is_some_and(|held| held > epoch) => return,
            Some(slot) => slot,
            None => {
                seats.retain(|_, slot| {
                    slot.early
                        .take_if(|early| now.duration_since(early.since) > EARLY_WAIT);
                    slot.attached.is_some() || slot.early.is_some()
                });
                seats.entry(key).or_default()
            }
        };
        let early = slot.early.get_or_insert_with(|| Early {
            epoch,
            since: now,
            messages: Vec::new(),
            bytes: 0,
        });
        if early.epoch != epoch {
            // Meant for an older connection that will never be attached.
            if early.epoch > epoch {
                return;
            }
            *early = Early {
                epoch,
                since: now,
                messages: Vec::new(),
                bytes: 0,
            };
        }
        if early.messages.len() < EARLY_MESSAGES && early.bytes + message.len() <= EARLY_BYTES {
            early.bytes += message.len();
            early.messages.push((message, kind));
        }
    }
}

impl Delivery for ClusterDelivery {
    fn attach(&self, seat: &Seat, outbox: Arc<Outbox>) {
        self.local.attach(seat, outbox.clone());
        let early = {
            let mut seats = self.seats();
            let slot = seats
                .entry((seat.room.to_string(), seat.peer.to_string()))
                .or_default();
            slot.attached = Some(seat.epoch);
            slot.early
                .take_if(|early| early.epoch <= seat.epoch)
                .filter(|early| early.epoch == seat.epoch)
        };
        for (message, kind) in early.map(|e| e.messages).unwrap_or_default() {
            push(&self.metrics, &outbox, message, kind);
        }
    }

    fn detach(&self, seat: &Seat, outbox: &Arc<Outbox>) {
        self.local.detach(seat, outbox);
        let mut seats = self.seats();
        let key = (seat.room.to_string(), seat.peer.to_string());
        if let Some(slot) = seats.get_mut(&key) {
            if slot.attached == Some(seat.epoch) {
                slot.attached = None;
            }
            if slot.attached.is_none() && slot.early.is_none() {
                seats.remove(&key);
            }
        }
    }

    fn evict(&self, room: &str, peer: &str) {
        self.local.evict(room, peer);
    }

    /// Nothing: the store published this event already, to the instance
    /// holding `peer`, in the one order of its room; it arrives through
    /// this instance's channel (`deliver_at`) like every other.
    fn deliver(&self, _room: &str, _peer: &str, _message: Utf8Bytes, _kind: Out) {}
}

/// Keeps [`ClusterDelivery`] fed from this instance's channel (`first`
/// is subscribed already), subscribing again whenever the subscription is
/// lost; the store refuses requests while it is.
pub(crate) async fn listen(
    store: Arc<RedisStore>,
    delivery: Arc<ClusterDelivery>,
    first: RedisEvents,
) {
    let mut outages = store.outages();
    let mut events = Some(first);
    loop {
        if let Some(subscribed) = events.take() {
            delivery.run(subscribed, &mut outages).await;
            store.set_subscribed(false);
            // The store's own connection is likely gone too.
            store.lost("the event subscription ended");
            tracing::warn!("cluster: lost the event subscription; subscribing again");
        }
        outages = store.outages();
        match store.events().await {
            Ok(subscribed) => {
                tracing::info!("cluster: subscribed to this instance's events again");
                store.set_subscribed(true);
                events = Some(subscribed);
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;

    use super::*;
    use crate::signaling::outbox::{Eviction, OutboxLimits};

    const LIMITS: OutboxLimits = OutboxLimits {
        messages: 8,
        bytes: 1024,
    };

    fn seat(epoch: u64) -> Seat {
        Seat {
            room: "r".into(),
            peer: "p".into(),
            epoch,
        }
    }

    fn signal(epoch: u64, text: &str) -> Published {
        serde_json::from_value(serde_json::json!({
            "r": "r", "to": [["p", epoch]], "ev": {"k": "s", "m": text}
        }))
        .unwrap()
    }

    fn drain(outbox: &Outbox) -> Vec<String> {
        std::iter::from_fn(|| outbox.try_next().map(|m| m.to_string())).collect()
    }

    #[test]
    fn events_for_a_seat_about_to_be_attached_come_after_its_welcome() {
        let delivery = ClusterDelivery::new(Arc::default());
        delivery.receive(signal(1, "early"));
        let outbox = Arc::new(Outbox::new(LIMITS));
        outbox.push("welcome".into());
        delivery.attach(&seat(1), outbox.clone());
        delivery.receive(signal(1, "later"));
        assert_eq!(drain(&outbox), ["welcome", "early", "later"]);
    }

    #[test]
    fn each_connection_of_a_seat_gets_only_its_own_events() {
        let delivery = ClusterDelivery::new(Arc::default());
        let old = Arc::new(Outbox::new(LIMITS));
        delivery.attach(&seat(1), old.clone());
        // The seat is taken back here at epoch 2: what is meant for 2
        // waits for it, what was meant for 1 reaches only 1.
        delivery.receive(signal(2, "for the new one"));
        delivery.receive(signal(1, "for the old one"));
        let new = Arc::new(Outbox::new(LIMITS));
        delivery.attach(&seat(2), new.clone());
        delivery.detach(&seat(1), &old);
        delivery.receive(signal(1, "too late"));
        assert_eq!(drain(&old), ["for the old one"]);
        assert_eq!(drain(&new), ["for the new one"]);
        delivery.detach(&seat(2), &new);
        assert!(delivery.seats().is_empty());
    }

    #[test]
    fn an_eviction_reaches_only_the_connection_it_names() {
        let delivery = ClusterDelivery::new(Arc::default());
        let outbox = Arc::new(Outbox::new(LIMITS));
        delivery.attach(&seat(2), outbox.clone());
        let evict = |epoch: u64| -> Published {
            serde_json::from_value(serde_json::json!({
                "r": "r", "to": [["p", epoch]], "ev": {"k": "x"}
            }))
            .unwrap()
        };
        delivery.receive(evict(1));
        assert_eq!(outbox.evicted().now_or_never(), None);
        delivery.receive(evict(2));
        assert_eq!(outbox.evicted().now_or_never(), Some(Eviction::Replaced));
    }
}
