//! The delivery seam: where the hub hands "send this to peer P of room R"
//! to whoever holds P's connection.
//!
//! [`LocalConnections`] is the delivery of a single instance: a table of the
//! outboxes of the connections in this process, by room and peer. A
//! delivery for several instances keeps such a table for its own
//! connections and passes anything else to the instance holding the seat;
//! the hub does not change.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::ws::Utf8Bytes;

use super::metrics::{Metrics, Out};
use super::outbox::{Eviction, Outbox, Push};
use crate::rooms::Seat;

/// Reaches the connection that holds a seat, wherever it is.
pub(crate) trait Delivery: Send + Sync {
    /// This process now holds `seat`'s connection, whose messages go to
    /// `outbox`.
    fn attach(&self, seat: &Seat, outbox: Arc<Outbox>);
    /// The connection of `seat` that wrote to `outbox` is gone; a newer
    /// connection of the same seat stays attached.
    fn detach(&self, seat: &Seat, outbox: &Arc<Outbox>);
    /// Closes whatever connection holds peer `peer` of `room`: it has been
    /// replaced by a newer one, and is told so.
    fn evict(&self, room: &str, peer: &str);
    /// Queues `message` for peer `peer` of `room`; nothing happens if no
    /// connection holds that seat any more.
    fn deliver(&self, room: &str, peer: &str, message: Utf8Bytes, kind: Out);
}

/// Enough shards that deliveries to different rooms seldom meet on a lock.
const SHARDS: usize = 16;

/// The connections of this process, by room and peer id. One flat table
/// whose keys share the session's own copies of the ids, since an idle
/// connection's bytes count (docs/benchmarks.md).
pub(crate) struct LocalConnections {
    shards: Box<[Mutex<Table>]>,
    hasher: RandomState,
    metrics: Arc<Metrics>,
}

/// One shard: the outbox of each seat.
type Table = HashMap<SeatKey, Arc<Outbox>>;

/// A room id and a peer id, owned.
struct SeatKey(Arc<str>, Arc<str>);

/// A room id and a peer id, owned or borrowed, so that a delivery looks up
/// `(&str, &str)` without copying either.
trait Ids {
    fn ids(&self) -> (&str, &str);
}

impl Ids for SeatKey {
    fn ids(&self) -> (&str, &str) {
        (&self.0, &self.1)
    }
}

impl Ids for (&str, &str) {
    fn ids(&self) -> (&str, &str) {
        *self
    }
}

impl<'a> Borrow<dyn Ids + 'a> for SeatKey {
    fn borrow(&self) -> &(dyn Ids + 'a) {
        self
    }
}

impl Hash for dyn Ids + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.ids().hash(state);
    }
}

impl PartialEq for dyn Ids + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.ids() == other.ids()
    }
}

impl Eq for dyn Ids + '_ {}

impl Hash for SeatKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self as &dyn Ids).hash(state);
    }
}

impl PartialEq for SeatKey {
    fn eq(&self, other: &Self) -> bool {
        self.ids() == other.ids()
    }
}

impl Eq for SeatKey {}

impl LocalConnections {
    pub(crate) fn new(metrics: Arc<Metrics>) -> Self {
        LocalConnections {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
            metrics,
        }
    }

    fn shard(&self, room: &str) -> MutexGuard<'_, Table> {
        let index = self.hasher.hash_one(room) as usize % SHARDS;
        // Every change here is a single insert or remove: a panic elsewhere
        // cannot leave the table half changed.
        self.shards[index].lock().unwrap_or_else(|e| e.into_inner())
    }

    fn outbox(&self, room: &str, peer: &str) -> Option<Arc<Outbox>> {
        self.shard(room).get(&(room, peer) as &dyn Ids).cloned()
    }
}

impl Delivery for LocalConnections {
    fn attach(&self, seat: &Seat, outbox: Arc<Outbox>) {
        let key = SeatKey(seat.room.clone(), seat.peer.clone());
        self.shard(&seat.room).insert(key, outbox);
    }

    fn detach(&self, seat: &Seat, outbox: &Arc<Outbox>) {
        let mut shard = self.shard(&seat.room);
        let key = (&*seat.room, &*seat.peer);
        if shard
            .get(&key as &dyn Ids)
            .is_some_and(|held| Arc::ptr_eq(held, outbox))
        {
            shard.remove(&key as &dyn Ids);
        }
    }

    fn evict(&self, room: &str, peer: &str) {
        if let Some(outbox) = self.outbox(room, peer) {
            outbox.evict(Eviction::Replaced);
        }
    }

    fn deliver(&self, room: &str, peer: &str, message: Utf8Bytes, kind: Out) {
        // Pushed outside the table's lock: an outbox has its own.
        if let Some(outbox) = self.outbox(room, peer) {
            push(&self.metrics, &outbox, message, kind);
        }
    }
}

/// Queues `message` on `outbox`, counting what became of it.
pub(crate) fn push(metrics: &Metrics, outbox: &Outbox, message: Utf8Bytes, kind: Out) {
    count(metrics, outbox.push(message), kind);
}

/// Queues `message` on `outbox` past its limits: see [`Outbox::push_owed`].
pub(crate) fn push_owed(metrics: &Metrics, outbox: &Outbox, message: Utf8Bytes, kind: Out) {
    count(metrics, outbox.push_owed(message), kind);
}

fn count(metrics: &Metrics, pushed: Push, kind: Out) {
    match pushed {
        Push::Queued => metrics.message_out(kind),
        // Counted by the session as it closes, like every other way a
        // client turns out too slow.
        Push::Overflowed | Push::Refused => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signaling::outbox::OutboxLimits;

    const LIMITS: OutboxLimits = OutboxLimits {
        messages: 8,
        bytes: 1024,
    };

    fn seat(room: &str, peer: &str, epoch: u64) -> Seat {
        Seat {
            room: room.into(),
            peer: peer.into(),
            epoch,
        }
    }

    /// A table with one connection attached to each of `seats`, in order.
    fn table_with<const N: usize>(seats: [Seat; N]) -> (LocalConnections, [Arc<Outbox>; N]) {
        let table = LocalConnections::new(Arc::default());
        let outboxes = seats.map(|seat| {
            let outbox = Arc::new(Outbox::new(LIMITS));
            table.attach(&seat, outbox.clone());
            outbox
        });
        (table, outboxes)
    }

    #[test]
    fn messages_reach_only_the_attached_seat() {
        let (table, [a, b]) = table_with([seat("r1", "p", 1), seat("r2", "p", 1)]);
        table.deliver("r1", "p", "one".into(), Out::Signal);
        table.deliver("r1", "q", "lost".into(), Out::Signal);
        assert_eq!(a.try_next().as_deref(), Some("one"));
        assert_eq!(a.try_next(), None);
        assert_eq!(b.try_next(), None, "same peer id, other room");
    }

    #[test]
    fn a_stale_connection_does_not_detach_its_successor() {
        let (table, [old, new]) = table_with([seat("r", "p", 1), seat("r", "p", 2)]);
        table.detach(&seat("r", "p", 1), &old);
        table.deliver("r", "p", "still here".into(), Out::Signal);
        assert_eq!(new.try_next().as_deref(), Some("still here"));
        table.detach(&seat("r", "p", 2), &new);
        assert!(table.shard("r").is_empty());
    }
}
