//! The room store of a single instance: every room in this process's memory.
//!
//! Rooms are spread over shards by a hash of their id, each behind its own
//! lock held only for the few steps of one operation; two rooms in
//! different shards never wait for each other, and no lock is held across
//! an await. The counts that caps need (rooms, members) are atomics, so a
//! metrics scrape or a room-count check takes no shard lock.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use super::room::{Member, Room, elapsed};
use super::store::{
    AwaySeat, Chat, JoinRequest, Joined, Left, Occupancy, Resume, RoomStore, RoomSummary, Route,
    Seat, StoreFuture, unix_millis,
};
use super::{ChatEntry, ErrorCode, PeerInfo, Refusal, RoomKind, ids};

/// Enough shards that two busy rooms rarely share one, few enough that a
/// sweep over all of them is cheap.
const SHARDS: usize = 64;

/// Limits a store enforces on its own.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StoreLimits {
    pub(crate) max_rooms: usize,
}

pub(crate) struct MemoryStore {
    limits: StoreLimits,
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    rooms: AtomicUsize,
    members: AtomicUsize,
}

#[derive(Debug, Default)]
struct Shard {
    rooms: HashMap<String, Room>,
    /// Seats whose connection went down, oldest first.
    away: VecDeque<AwaySeat>,
}

impl MemoryStore {
    pub(crate) fn new(limits: StoreLimits) -> Self {
        MemoryStore {
            limits,
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
            rooms: AtomicUsize::new(0),
            members: AtomicUsize::new(0),
        }
    }

    fn shard(&self, room: &str) -> MutexGuard<'_, Shard> {
        let index = self.hasher.hash_one(room) as usize % SHARDS;
        lock(&self.shards[index])
    }

    /// Counts one more room, unless the server holds as many as it may.
    fn reserve_room(&self) -> Result<(), Refusal> {
        self.rooms
            .fetch_update(Relaxed, Relaxed, |n| {
                (n < self.limits.max_rooms).then_some(n + 1)
            })
            .map(drop)
            .map_err(|_| {
                Refusal::new(
                    ErrorCode::RateLimited,
                    "this server has as many rooms as it may hold; try again later",
                )
            })
    }

    fn create_room_now(
        &self,
        kind: RoomKind,
        capacity: usize,
        now: SystemTime,
    ) -> Result<String, Refusal> {
        self.reserve_room()?;
        loop {
            let id = ids::room_id();
            let mut shard = self.shard(&id);
            if !shard.rooms.contains_key(&id) {
                shard
                    .rooms
                    .insert(id.clone(), Room::new(kind, capacity, now));
                return Ok(id);
            }
        }
    }

    fn restore_room_now(
        &self,
        room: &str,
        kind: RoomKind,
        capacity: usize,
        now: SystemTime,
    ) -> Result<bool, Refusal> {
        let mut shard = self.shard(room);
        if shard.rooms.contains_key(room) {
            return Ok(false);
        }
        self.reserve_room()?;
        // A room kept across a restart is not one made in bulk and never
        // used: it keeps the idle timeout, not the unjoined one.
        shard
            .rooms
            .insert(room.to_owned(), Room::new(kind, capacity, now).into_used());
        Ok(true)
    }

    fn join_now(&self, request: JoinRequest, now: SystemTime) -> Result<Joined, Refusal> {
        let mut shard = self.shard(&request.room);
        if let Some(resume) = request.resume {
            return self.resume_seat(&mut shard, request.room, request.name, resume, now);
        }
        let room = shard
            .rooms
            .get_mut(&request.room)
            .ok_or_else(|| Refusal::new(ErrorCode::RoomNotFound, "this room does not exist"))?;
        let peer = PeerInfo {
            id: fresh_peer_id(room),
            name: request.name,
        };
        let peers = room.others(&peer.id);
        let notify = room.present_except(&peer.id);
        let epoch = room.admit(peer.clone())?;
        self.members.fetch_add(1, Relaxed);
        Ok(Joined {
            seat: Seat {
                room: request.room.into(),
                peer: peer.id.as_str().into(),
                epoch,
            },
            kind: room.kind(),
            capacity: room.capacity(),
            history: room.chat_history().cloned().collect(),
            peer,
            peers,
            notify,
            resumed: false,
            parked: Vec::new(),
            replaced: false,
        })
    }

    fn resume_seat(
        &self,
        shard: &mut Shard,
        room_id: String,
        name: Option<String>,
        resume: Resume,
        now: SystemTime,
    ) -> Result<Joined, Refusal> {
        if !shard.rooms.contains_key(&room_id) {
            if now >= resume.remakes_until {
                // Old enough to belong to a room that expired.
                return Err(Refusal::new(
                    ErrorCode::RoomNotFound,
                    "this room does not exist any more",
                ));
            }
            // The store forgot the room (the server restarted): make it again.
            self.reserve_room()?;
            let room = Room::new(resume.kind, resume.capacity, now);
            shard.rooms.insert(room_id.clone(), room);
        }
        let room = shard.rooms.get_mut(&room_id).expect("present or just made");
        let (epoch, peer, resumed, parked, replaced) = match room.take_back(&resume.peer_id) {
            Some((epoch, previous)) => {
                let peer = room
                    .member(&resume.peer_id)
                    .expect("just taken back")
                    .peer
                    .clone();
                let (parked, replaced) = match previous {
                    Some(parked) => (parked, false),
                    None => (Vec::new(), true),
                };
                (epoch, peer, true, parked, replaced)
            }
            None if resume.issued >= room.created() => {
                // Made in this room's present life for a seat that is gone.
                return Err(Refusal::bad_request(
                    "this seat was given up (you left, or did not come back in time); \
                     join the room again without the token",
                ));
            }
            None => {
                let peer = PeerInfo {
                    id: resume.peer_id,
                    name,
                };
                // A room made again just now is empty, so only an existing
                // room can refuse here, and then nothing has changed.
                let epoch = room.admit(peer.clone())?;
                self.members.fetch_add(1, Relaxed);
                (epoch, peer, false, Vec::new(), false)
            }
        };
        Ok(Joined {
            seat: Seat {
                room: room_id.into(),
                peer: peer.id.as_str().into(),
                epoch,
            },
            kind: room.kind(),
            capacity: room.capacity(),
            history: if resumed {
                Vec::new()
            } else {
                room.chat_history().cloned().collect()
            },
            peers: room.others(&peer.id),
            notify: if resumed {
                Vec::new()
            } else {
                room.present_except(&peer.id)
            },
            peer,
            resumed,
            parked,
            replaced,
        })
    }

    /// Removes `peer_id` from `room_id` and says who must hear of it.
    fn remove_member(
        &self,
        shard: &mut Shard,
        room_id: &str,
        peer_id: &str,
        now: SystemTime,
    ) -> Option<Left> {
        let room = shard.rooms.get_mut(room_id)?;
        let member = room.remove(peer_id, now)?;
        self.members.fetch_sub(1, Relaxed);
        Some(Left {
            room: room_id.to_owned(),
            peer_id: member.peer.id,
            notify: room.present_except(peer_id),
        })
    }

    fn leave_now(&self, seat: &Seat, now: SystemTime) -> Result<Left, Refusal> {
        let mut shard = self.shard(&seat.room);
        held(&shard, seat).ok_or_else(Refusal::not_in_room)?;
        self.remove_member(&mut shard, &seat.room, &seat.peer, now)
            .ok_or_else(Refusal::not_in_room)
    }

    fn disconnect_now(&self, seat: &Seat, now: SystemTime, keep_seat: bool) -> Option<Left> {
        let mut shard = self.shard(&seat.room);
        held(&shard, seat)?;
        if !keep_seat {
            return self.remove_member(&mut shard, &seat.room, &seat.peer, now);
        }
        let room = shard.rooms.get_mut(&*seat.room)?;
        if room.mark_away(&seat.peer, seat.epoch, now) {
            shard.away.push_back(AwaySeat {
                room: seat.room.to_string(),
                peer: seat.peer.to_string(),
                since: now,
            });
        }
        None
    }

    fn route_signal_now(
        &self,
        from: &Seat,
        to: &str,
        message: &str,
        now: SystemTime,
    ) -> Result<Route, Refusal> {
        let mut shard = self.shard(&from.room);
        held(&shard, from).ok_or_else(Refusal::not_in_room)?;
        let peer_not_found = || {
            Refusal::new(
                ErrorCode::PeerNotFound,
                "no other peer with that id is in your room",
            )
        };
        if *from.peer == *to {
            return Err(peer_not_found());
        }
        let member = shard
            .rooms
            .get_mut(&*from.room)
            .and_then(|room| room.member_mut(to))
            .ok_or_else(peer_not_found)?;
        if member.is_here() {
            return Ok(Route::Now);
        }
        if member.park(message) {
            return Ok(Route::Parked);
        }
        let left = self
            .remove_member(&mut shard, &from.room, to, now)
            .expect("the member was just found");
        Ok(Route::SeatReleased(left))
    }

    fn chat_now(&self, from: &Seat, text: String, now: SystemTime) -> Result<Chat, Refusal> {
        let mut shard = self.shard(&from.room);
        let name = held(&shard, from)
            .ok_or_else(Refusal::not_in_room)?
            .peer
            .name
            .clone();
        let room = shard
            .rooms
            .get_mut(&*from.room)
            .ok_or_else(Refusal::not_in_room)?;
        let entry = ChatEntry {
            from: from.peer.to_string(),
            name,
            text,
            time: unix_millis(now),
        };
        room.remember_chat(entry.clone());
        let notify = room.present().map(str::to_owned).collect();
        Ok(Chat { entry, notify })
    }

    fn away_past_now(&self, now: SystemTime, grace: Duration) -> Vec<AwaySeat> {
        let mut expired = Vec::new();
        for shard in self.shards.iter() {
            let mut shard = lock(shard);
            while shard
                .away
                .front()
                .is_some_and(|seat| elapsed(seat.since, now) >= grace)
            {
                expired.extend(shard.away.pop_front());
            }
        }
        expired.sort_by_key(|seat| seat.since);
        expired
    }

    fn release_away_now(&self, seat: &AwaySeat, now: SystemTime) -> Option<Left> {
        let mut shard = self.shard(&seat.room);
        let still_away = shard
            .rooms
            .get(&seat.room)
            .is_some_and(|room| room.is_away_since(&seat.peer, seat.since));
        if !still_away {
            return None;
        }
        self.remove_member(&mut shard, &seat.room, &seat.peer, now)
    }

    fn forget_idle_rooms_now(&self, now: SystemTime, idle: Duration) -> usize {
        self.forget_rooms_where(|room| room.is_idle(now, idle))
    }

    fn forget_unjoined_rooms_now(&self, now: SystemTime, timeout: Duration) -> usize {
        self.forget_rooms_where(|room| room.is_unjoined_past(now, timeout))
    }

    fn forget_rooms_where(&self, forget: impl Fn(&Room) -> bool) -> usize {
        let mut forgotten = 0;
        for shard in self.shards.iter() {
            let mut shard = lock(shard);
            let before = shard.rooms.len();
            shard.rooms.retain(|_, room| !forget(room));
            forgotten += before - shard.rooms.len();
        }
        self.rooms.fetch_sub(forgotten, Relaxed);
        forgotten
    }
}

/// A poisoned shard is still consistent: every operation validates before
/// it mutates, so a panic cannot leave a room half changed.
fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard.lock().unwrap_or_else(|e| e.into_inner())
}

/// The member at `seat`, if that connection still holds the seat.
fn held<'a>(shard: &'a Shard, seat: &Seat) -> Option<&'a Member> {
    shard
        .rooms
        .get(&*seat.room)?
        .member(&seat.peer)
        .filter(|m| m.is_held_at(seat.epoch))
}

fn fresh_peer_id(room: &Room) -> String {
    loop {
        let id = ids::peer_id();
        if room.member(&id).is_none() {
            return id;
        }
    }
}

/// Every operation is done by the time it is asked for; the future only
/// hands the answer over.
fn ready<'a, T: Send + 'a>(answer: T) -> StoreFuture<'a, T> {
    Box::pin(std::future::ready(answer))
}

impl RoomStore for MemoryStore {
    fn create_room(
        &self,
        kind: RoomKind,
        capacity: usize,
        now: SystemTime,
    ) -> StoreFuture<'_, Result<String, Refusal>> {
        ready(self.create_room_now(kind, capacity, now))
    }

    fn restore_room<'a>(
        &'a self,
        room: &'a str,
        kind: RoomKind,
        capacity: usize,
        now: SystemTime,
    ) -> StoreFuture<'a, Result<bool, Refusal>> {
        ready(self.restore_room_now(room, kind, capacity, now))
    }

    fn room_summary<'a>(&'a self, room: &'a str) -> StoreFuture<'a, Option<RoomSummary>> {
        ready(self.shard(room).rooms.get(room).map(|r| RoomSummary {
            kind: r.kind(),
            capacity: r.capacity(),
            members: r.members().len(),
        }))
    }

    fn join(
        &self,
        request: JoinRequest,
        now: SystemTime,
    ) -> StoreFuture<'_, Result<Joined, Refusal>> {
        ready(self.join_now(request, now))
    }

    fn leave<'a>(
        &'a self,
        seat: &'a Seat,
        now: SystemTime,
    ) -> StoreFuture<'a, Result<Left, Refusal>> {
        ready(self.leave_now(seat, now))
    }

    fn disconnect<'a>(
        &'a self,
        seat: &'a Seat,
        now: SystemTime,
        keep_seat: bool,
    ) -> StoreFuture<'a, Option<Left>> {
        ready(self.disconnect_now(seat, now, keep_seat))
    }

    fn route_signal<'a>(
        &'a self,
        from: &'a Seat,
        to: &'a str,
        message: &'a str,
        now: SystemTime,
    ) -> StoreFuture<'a, Result<Route, Refusal>> {
        ready(self.route_signal_now(from, to, message, now))
    }

    fn chat<'a>(
        &'a self,
        from: &'a Seat,
        text: String,
        now: SystemTime,
    ) -> StoreFuture<'a, Result<Chat, Refusal>> {
        ready(self.chat_now(from, text, now))
    }

    fn away_past(&self, now: SystemTime, grace: Duration) -> StoreFuture<'_, Vec<AwaySeat>> {
        ready(self.away_past_now(now, grace))
    }

    fn release_away<'a>(
        &'a self,
        seat: &'a AwaySeat,
        now: SystemTime,
    ) -> StoreFuture<'a, Option<Left>> {
        ready(self.release_away_now(seat, now))
    }

    fn forget_idle_rooms(&self, now: SystemTime, idle: Duration) -> StoreFuture<'_, usize> {
        ready(self.forget_idle_rooms_now(now, idle))
    }

    fn forget_unjoined_rooms(&self, now: SystemTime, timeout: Duration) -> StoreFuture<'_, usize> {
        ready(self.forget_unjoined_rooms_now(now, timeout))
    }

    fn occupancy(&self) -> Occupancy {
        Occupancy {
            rooms: self.rooms.load(Relaxed),
            members: self.members.load(Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rooms::contract::{self, Inspect, properties};

    impl Inspect for MemoryStore {
        fn snapshot(&self) -> String {
            let mut rooms = Vec::new();
            let mut away = Vec::new();
            for shard in self.shards.iter() {
                let shard = lock(shard);
                rooms.extend(
                    shard
                        .rooms
                        .iter()
                        .map(|(id, room)| format!("{id}:{room:?}")),
                );
                away.extend(shard.away.iter().map(|seat| format!("{seat:?}")));
            }
            rooms.sort();
            away.sort();
            format!("{rooms:?}{away:?}{:?}", self.occupancy())
        }

        fn check_invariants(&self) {
            let (mut rooms, mut members) = (0, 0);
            for shard in self.shards.iter() {
                let shard = lock(shard);
                rooms += shard.rooms.len();
                for room in shard.rooms.values() {
                    assert!(room.members().len() <= room.capacity());
                    members += room.members().len();
                }
            }
            assert_eq!(
                self.occupancy(),
                Occupancy { rooms, members },
                "the counts agree with the rooms"
            );
        }
    }

    #[test]
    fn keeps_the_room_store_contract() {
        contract::check_store(MemoryStore::new);
    }

    #[test]
    fn any_sequence_of_events_keeps_the_store_consistent() {
        properties::check_random_sequences(MemoryStore::new, 512);
    }
}
