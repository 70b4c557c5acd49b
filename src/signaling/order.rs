//! One order of events per room.
//!
//! The hub asks the room store and then queues what its answer says; if two
//! operations on one room did those two steps interleaved, a member could
//! hear of them in the other order (a `peer-left` for someone its `welcome`
//! still lists). So every operation on a room holds that room's turn from
//! its store call until its deliveries are queued. Rooms are independent,
//! and a client only ever hears of its own room, so rooms do not wait for
//! each other: turns are striped by room id, one lock per stripe.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use tokio::sync::{Mutex, MutexGuard};

/// Enough stripes that busy rooms seldom share one.
const STRIPES: usize = 256;

pub(crate) struct RoomOrder {
    stripes: Box<[Mutex<()>]>,
    hasher: RandomState,
}

/// A room's turn; the next operation on the room waits until it is dropped.
pub(crate) type Turn<'a> = MutexGuard<'a, ()>;

impl RoomOrder {
    pub(crate) fn new() -> Self {
        RoomOrder {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            hasher: RandomState::new(),
        }
    }

    /// Waits for `room`'s turn. Turns are fair (first come, first served).
    pub(crate) async fn turn(&self, room: &str) -> Turn<'_> {
        let index = self.hasher.hash_one(room) as usize % STRIPES;
        self.stripes[index].lock().await
    }
}
