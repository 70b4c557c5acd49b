//! The room registry: every room of this server and which connection is in
//! which room, behind a small interface.
//!
//! The interface is the seam for running several Parlor instances: an
//! implementation backed by a shared store (Redis, say) keeps the same rules
//! and answers, while [`MemoryRegistry`] keeps everything in this process.
//! Implementations do no I/O towards clients: they return who must be told
//! what, and the caller (the hub) does the telling.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::ids;
use crate::protocol::{ErrorCode, PeerInfo, Refusal};
use crate::room::{ConnId, Member, Room};

/// What a successful join produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    pub peer: PeerInfo,
    /// The others already in the room, oldest first.
    pub peers: Vec<PeerInfo>,
    /// Their connections, to be told `peer-joined`.
    pub notify: Vec<ConnId>,
}

/// What a leave produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Left {
    pub peer_id: String,
    /// The members still in the room, to be told `peer-left`.
    pub notify: Vec<ConnId>,
}

/// Where a signal goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub to: ConnId,
}

/// A room as seen from outside: for the HTTP API and the pre-join screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomSummary {
    pub capacity: usize,
    pub members: usize,
}

/// Totals for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Occupancy {
    pub rooms: usize,
    pub members: usize,
}

/// The rules of rooms. Every refusal leaves the registry exactly as it was.
pub trait RoomRegistry: Send {
    /// Makes a room with a fresh unguessable id.
    fn create_room(&mut self, capacity: usize, now: Instant) -> Result<String, Refusal>;
    fn room_summary(&self, room: &str) -> Option<RoomSummary>;
    fn join(
        &mut self,
        conn: ConnId,
        room: &str,
        name: Option<String>,
        now: Instant,
    ) -> Result<Joined, Refusal>;
    fn leave(&mut self, conn: ConnId, now: Instant) -> Result<Left, Refusal>;
    /// Finds the connection of peer `to` in the room of `from`.
    fn route_signal(&self, from: ConnId, to: &str) -> Result<Route, Refusal>;
    /// Forgets rooms that have been empty for `idle`; returns how many.
    fn forget_idle_rooms(&mut self, now: Instant, idle: Duration) -> usize;
    fn occupancy(&self) -> Occupancy;
}

/// Limits a registry enforces on its own.
#[derive(Debug, Clone, Copy)]
pub struct RegistryLimits {
    pub max_rooms: usize,
}

/// A registry that lives in this process's memory.
#[derive(Debug)]
pub struct MemoryRegistry {
    limits: RegistryLimits,
    rooms: HashMap<String, Room>,
    /// Which room each joined connection is in.
    joined: HashMap<ConnId, String>,
}

impl MemoryRegistry {
    pub fn new(limits: RegistryLimits) -> Self {
        MemoryRegistry {
            limits,
            rooms: HashMap::new(),
            joined: HashMap::new(),
        }
    }

    fn room_of(&self, conn: ConnId) -> Result<(&str, &Room), Refusal> {
        let not_in_room = || Refusal::new(ErrorCode::NotInRoom, "you are not in a room");
        let room_id = self.joined.get(&conn).ok_or_else(not_in_room)?;
        let room = self.rooms.get(room_id).ok_or_else(not_in_room)?;
        Ok((room_id, room))
    }
}

fn fresh_peer_id(room: &Room) -> String {
    loop {
        let id = ids::peer_id();
        if room.member_by_peer_id(&id).is_none() {
            return id;
        }
    }
}

impl RoomRegistry for MemoryRegistry {
    fn create_room(&mut self, capacity: usize, now: Instant) -> Result<String, Refusal> {
        if self.rooms.len() >= self.limits.max_rooms {
            return Err(Refusal::new(
                ErrorCode::RateLimited,
                "this server has as many rooms as it may hold; try again later",
            ));
        }
        let id = loop {
            let id = ids::room_id();
            if !self.rooms.contains_key(&id) {
                break id;
            }
        };
        self.rooms.insert(id.clone(), Room::new(capacity, now));
        Ok(id)
    }

    fn room_summary(&self, room: &str) -> Option<RoomSummary> {
        self.rooms.get(room).map(|r| RoomSummary {
            capacity: r.capacity(),
            members: r.members().len(),
        })
    }

    fn join(
        &mut self,
        conn: ConnId,
        room_id: &str,
        name: Option<String>,
        _now: Instant,
    ) -> Result<Joined, Refusal> {
        if self.joined.contains_key(&conn) {
            return Err(Refusal::new(
                ErrorCode::AlreadyJoined,
                "you are already in a room; leave it first",
            ));
        }
        let room = self
            .rooms
            .get_mut(room_id)
            .ok_or_else(|| Refusal::new(ErrorCode::RoomNotFound, "this room does not exist"))?;
        let peer = PeerInfo {
            id: fresh_peer_id(room),
            name,
        };
        let peers: Vec<PeerInfo> = room.members().iter().map(|m| m.peer.clone()).collect();
        let notify = room.members().iter().map(|m| m.conn).collect();
        room.admit(Member {
            conn,
            peer: peer.clone(),
        })?;
        self.joined.insert(conn, room_id.to_owned());
        Ok(Joined {
            peer,
            peers,
            notify,
        })
    }

    fn leave(&mut self, conn: ConnId, now: Instant) -> Result<Left, Refusal> {
        self.room_of(conn)?;
        let room_id = self.joined.remove(&conn).expect("checked by room_of");
        let room = self.rooms.get_mut(&room_id).expect("checked by room_of");
        let member = room
            .remove(conn, now)
            .expect("joined index matches the room");
        Ok(Left {
            peer_id: member.peer.id,
            notify: room.members().iter().map(|m| m.conn).collect(),
        })
    }

    fn route_signal(&self, from: ConnId, to: &str) -> Result<Route, Refusal> {
        let (_, room) = self.room_of(from)?;
        match room.member_by_peer_id(to) {
            Some(member) if member.conn != from => Ok(Route { to: member.conn }),
            _ => Err(Refusal::new(
                ErrorCode::PeerNotFound,
                "no other peer with that id is in your room",
            )),
        }
    }

    fn forget_idle_rooms(&mut self, now: Instant, idle: Duration) -> usize {
        let before = self.rooms.len();
        self.rooms.retain(|_, room| !room.is_idle(now, idle));
        before - self.rooms.len()
    }

    fn occupancy(&self) -> Occupancy {
        Occupancy {
            rooms: self.rooms.len(),
            members: self.joined.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> MemoryRegistry {
        MemoryRegistry::new(RegistryLimits { max_rooms: 100 })
    }

    fn snapshot(r: &MemoryRegistry) -> String {
        let mut rooms: Vec<_> = r.rooms.iter().map(|(k, v)| format!("{k}:{v:?}")).collect();
        rooms.sort();
        let mut joined: Vec<_> = r.joined.iter().collect();
        joined.sort();
        format!("{rooms:?}{joined:?}")
    }

    #[test]
    fn join_lists_earlier_peers_and_notifies_them() {
        let now = Instant::now();
        let mut r = registry();
        let room = r.create_room(3, now).unwrap();
        let a = r.join(1, &room, Some("Ada".into()), now).unwrap();
        assert!(a.peers.is_empty() && a.notify.is_empty());
        assert_eq!(a.peer.name.as_deref(), Some("Ada"));
        let b = r.join(2, &room, None, now).unwrap();
        assert_eq!(b.peers, vec![a.peer.clone()]);
        assert_eq!(b.notify, vec![1]);
        let c = r.join(3, &room, None, now).unwrap();
        assert_eq!(c.peers, vec![a.peer.clone(), b.peer.clone()]);
        assert_eq!(c.notify, vec![1, 2]);
        assert_ne!(a.peer.id, b.peer.id);
        assert_eq!(
            r.occupancy(),
            Occupancy {
                rooms: 1,
                members: 3
            }
        );
    }

    #[test]
    fn refusals_change_nothing() {
        let now = Instant::now();
        let mut r = registry();
        let room = r.create_room(2, now).unwrap();
        let other = r.create_room(2, now).unwrap();
        r.join(1, &room, None, now).unwrap();
        r.join(2, &room, None, now).unwrap();
        let before = snapshot(&r);

        let code = |res: Result<Joined, Refusal>| res.unwrap_err().code;
        assert_eq!(code(r.join(3, &room, None, now)), ErrorCode::RoomFull);
        assert_eq!(code(r.join(3, "nope", None, now)), ErrorCode::RoomNotFound);
        assert_eq!(code(r.join(1, &other, None, now)), ErrorCode::AlreadyJoined);
        assert_eq!(r.leave(3, now).unwrap_err().code, ErrorCode::NotInRoom);
        assert_eq!(
            r.route_signal(3, "x").unwrap_err().code,
            ErrorCode::NotInRoom
        );
        assert_eq!(
            r.route_signal(1, "x").unwrap_err().code,
            ErrorCode::PeerNotFound
        );
        assert_eq!(snapshot(&r), before);
    }

    #[test]
    fn signals_route_only_within_the_room_and_never_to_self() {
        let now = Instant::now();
        let mut r = registry();
        let room = r.create_room(2, now).unwrap();
        let other = r.create_room(2, now).unwrap();
        let a = r.join(1, &room, None, now).unwrap().peer;
        let b = r.join(2, &room, None, now).unwrap().peer;
        let x = r.join(3, &other, None, now).unwrap().peer;
        assert_eq!(r.route_signal(1, &b.id), Ok(Route { to: 2 }));
        assert_eq!(r.route_signal(2, &a.id), Ok(Route { to: 1 }));
        assert_eq!(
            r.route_signal(1, &a.id).unwrap_err().code,
            ErrorCode::PeerNotFound
        );
        assert_eq!(
            r.route_signal(1, &x.id).unwrap_err().code,
            ErrorCode::PeerNotFound
        );
        assert_eq!(
            r.route_signal(3, &a.id).unwrap_err().code,
            ErrorCode::PeerNotFound
        );
    }

    #[test]
    fn leave_notifies_the_rest_and_frees_the_seat() {
        let now = Instant::now();
        let mut r = registry();
        let room = r.create_room(2, now).unwrap();
        let a = r.join(1, &room, None, now).unwrap().peer;
        r.join(2, &room, None, now).unwrap();
        let left = r.leave(1, now).unwrap();
        assert_eq!(left.peer_id, a.id);
        assert_eq!(left.notify, vec![2]);
        // The connection may join again, and gets a new peer id.
        let again = r.join(1, &room, None, now).unwrap();
        assert_ne!(again.peer.id, a.id);
        assert_eq!(again.notify, vec![2]);
    }

    #[test]
    fn empty_rooms_are_forgotten_after_idle_time_only() {
        let t0 = Instant::now();
        let idle = Duration::from_secs(60);
        let mut r = registry();
        let unused = r.create_room(2, t0).unwrap();
        let busy = r.create_room(2, t0).unwrap();
        r.join(1, &busy, None, t0).unwrap();
        assert_eq!(r.forget_idle_rooms(t0 + Duration::from_secs(59), idle), 0);
        assert_eq!(r.forget_idle_rooms(t0 + idle, idle), 1);
        assert!(r.room_summary(&unused).is_none());
        assert_eq!(
            r.room_summary(&busy),
            Some(RoomSummary {
                capacity: 2,
                members: 1
            })
        );
        let t1 = t0 + Duration::from_secs(120);
        r.leave(1, t1).unwrap();
        assert_eq!(r.forget_idle_rooms(t1 + Duration::from_secs(30), idle), 0);
        assert_eq!(r.forget_idle_rooms(t1 + idle, idle), 1);
        assert_eq!(r.occupancy(), Occupancy::default());
    }

    #[test]
    fn room_count_is_capped() {
        let now = Instant::now();
        let mut r = MemoryRegistry::new(RegistryLimits { max_rooms: 1 });
        r.create_room(2, now).unwrap();
        assert_eq!(
            r.create_room(2, now).unwrap_err().code,
            ErrorCode::RateLimited
        );
    }
}
