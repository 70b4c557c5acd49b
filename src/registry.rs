//! The room registry: every room of this server and which connection is in
//! which room, behind a small interface.
//!
//! The interface is the seam for running several Parlor instances: an
//! implementation backed by a shared store (Redis, say) keeps the same rules
//! and answers, while [`MemoryRegistry`] keeps everything in this process.
//! Implementations do no I/O towards clients: they return who must be told
//! what, and the caller (the hub) does the telling.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::ids;
use crate::protocol::{ErrorCode, PeerInfo, Refusal};
use crate::room::{ChatEntry, ConnId, Member, Presence, Room};

/// A member claiming its seat back, from a resume token already verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    pub peer_id: String,
    /// The room's capacity, to make the room again if the server forgot it
    /// (it restarted).
    pub capacity: usize,
}

/// What a successful join produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    pub peer: PeerInfo,
    pub capacity: usize,
    /// The others in the room, oldest first.
    pub peers: Vec<PeerInfo>,
    /// Connections to be told `peer-joined`; none when a held seat was
    /// taken back, since for the others the member never left.
    pub notify: Vec<ConnId>,
    /// True when the member took back a seat held for it.
    pub resumed: bool,
    /// Messages that waited for the member while its connection was down.
    pub parked: Vec<String>,
    /// An older connection that still held the seat and must be closed.
    pub replaced: Option<ConnId>,
    /// The room's chat so far, for a member that was not here: empty when
    /// a held seat was taken back.
    pub history: Vec<ChatEntry>,
}

/// A chat message to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chat {
    pub entry: ChatEntry,
    /// Everyone in the room whose connection is up, the sender included.
    pub notify: Vec<ConnId>,
}

/// What a leave produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Left {
    pub room: String,
    pub peer_id: String,
    /// The members still in the room, to be told `peer-left`.
    pub notify: Vec<ConnId>,
}

/// What became of a signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Deliver it to this connection.
    Now(ConnId),
    /// The receiver's connection is down; the message waits for it.
    Parked,
    /// The receiver's connection is down and too much waits already: its
    /// seat is given up, and the others must be told.
    SeatReleased(Left),
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
        resume: Option<Resume>,
        now: Instant,
    ) -> Result<Joined, Refusal>;
    /// An explicit `leave`.
    fn leave(&mut self, conn: ConnId, now: Instant) -> Result<Left, Refusal>;
    /// The connection is gone. With `keep_seat` the member stays in the
    /// room, away, until it resumes or [`RoomRegistry::release_away`]
    /// gives the seat up; otherwise it leaves now.
    fn disconnect(&mut self, conn: ConnId, now: Instant, keep_seat: bool) -> Option<Left>;
    /// Finds where a signal from `from` to peer `to` goes; `message` is kept
    /// if the receiver is away.
    fn route_signal(&mut self, from: ConnId, to: &str, message: &str) -> Result<Delivery, Refusal>;
    /// Remembers a chat message from `conn` and says who must get it.
    fn chat(&mut self, conn: ConnId, text: String, time: u64) -> Result<Chat, Refusal>;
    /// Gives up the seats of members away for at least `grace`.
    fn release_away(&mut self, now: Instant, grace: Duration) -> Vec<Left>;
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
    /// Where each joined connection is: room id and peer id.
    joined: HashMap<ConnId, (String, String)>,
    /// Seats whose connection went down, oldest first: room, peer, since.
    away: VecDeque<(String, String, Instant)>,
    members: usize,
}

impl MemoryRegistry {
    pub fn new(limits: RegistryLimits) -> Self {
        MemoryRegistry {
            limits,
            rooms: HashMap::new(),
            joined: HashMap::new(),
            away: VecDeque::new(),
            members: 0,
        }
    }

    fn check_room_limit(&self) -> Result<(), Refusal> {
        if self.rooms.len() >= self.limits.max_rooms {
            return Err(Refusal::new(
                ErrorCode::RateLimited,
                "this server has as many rooms as it may hold; try again later",
            ));
        }
        Ok(())
    }

    /// Removes `peer_id` from `room_id` and says who must hear of it.
    fn remove_member(&mut self, room_id: &str, peer_id: &str, now: Instant) -> Option<Left> {
        let room = self.rooms.get_mut(room_id)?;
        let member = room.remove(peer_id, now)?;
        if let Some(conn) = member.conn() {
            self.joined.remove(&conn);
        }
        self.members -= 1;
        Some(Left {
            room: room_id.to_owned(),
            peer_id: member.peer.id,
            notify: room.connections_except(peer_id),
        })
    }

    fn resume_seat(
        &mut self,
        conn: ConnId,
        room_id: &str,
        name: Option<String>,
        resume: Resume,
        now: Instant,
    ) -> Result<Joined, Refusal> {
        if !self.rooms.contains_key(room_id) {
            // The server forgot the room (it restarted): make it again.
            self.check_room_limit()?;
            self.rooms
                .insert(room_id.to_owned(), Room::new(resume.capacity, now));
        }
        let room = self.rooms.get_mut(room_id).expect("present or just made");
        let (resumed, parked, replaced, peer) = match room.member_mut(&resume.peer_id) {
            Some(member) => {
                let previous = std::mem::replace(&mut member.presence, Presence::Here(conn));
                let (parked, replaced) = match previous {
                    Presence::Here(old) => (Vec::new(), Some(old)),
                    Presence::Away { parked, .. } => (parked, None),
                };
                (true, parked, replaced, member.peer.clone())
            }
            None => {
                let peer = PeerInfo {
                    id: resume.peer_id,
                    name,
                };
                // A room made again just now is empty, so only an existing
                // room can refuse here, and then nothing has changed.
                room.admit(Member {
                    peer: peer.clone(),
                    presence: Presence::Here(conn),
                })?;
                self.members += 1;
                (false, Vec::new(), None, peer)
            }
        };
        if let Some(old) = replaced {
            self.joined.remove(&old);
        }
        let room = &self.rooms[room_id];
        self.joined
            .insert(conn, (room_id.to_owned(), peer.id.clone()));
        Ok(Joined {
            capacity: room.capacity(),
            history: if resumed {
                Vec::new()
            } else {
                room.chat_history().cloned().collect()
            },
            peers: others(room, &peer.id),
            notify: if resumed {
                Vec::new()
            } else {
                room.connections_except(&peer.id)
            },
            peer,
            resumed,
            parked,
            replaced,
        })
    }
}

fn others(room: &Room, peer_id: &str) -> Vec<PeerInfo> {
    room.members()
        .iter()
        .filter(|m| m.peer.id != peer_id)
        .map(|m| m.peer.clone())
        .collect()
}

fn fresh_peer_id(room: &Room) -> String {
    loop {
        let id = ids::peer_id();
        if room.member(&id).is_none() {
            return id;
        }
    }
}

fn not_in_room() -> Refusal {
    Refusal::new(ErrorCode::NotInRoom, "you are not in a room")
}

impl RoomRegistry for MemoryRegistry {
    fn create_room(&mut self, capacity: usize, now: Instant) -> Result<String, Refusal> {
        self.check_room_limit()?;
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
        resume: Option<Resume>,
        now: Instant,
    ) -> Result<Joined, Refusal> {
        if self.joined.contains_key(&conn) {
            return Err(Refusal::new(
                ErrorCode::AlreadyJoined,
                "you are already in a room; leave it first",
            ));
        }
        if let Some(resume) = resume {
            return self.resume_seat(conn, room_id, name, resume, now);
        }
        let room = self
            .rooms
            .get_mut(room_id)
            .ok_or_else(|| Refusal::new(ErrorCode::RoomNotFound, "this room does not exist"))?;
        let peer = PeerInfo {
            id: fresh_peer_id(room),
            name,
        };
        let peers = others(room, &peer.id);
        let notify = room.connections_except(&peer.id);
        let capacity = room.capacity();
        room.admit(Member {
            peer: peer.clone(),
            presence: Presence::Here(conn),
        })?;
        self.members += 1;
        self.joined
            .insert(conn, (room_id.to_owned(), peer.id.clone()));
        let history = room.chat_history().cloned().collect();
        Ok(Joined {
            peer,
            capacity,
            peers,
            notify,
            resumed: false,
            parked: Vec::new(),
            replaced: None,
            history,
        })
    }

    fn leave(&mut self, conn: ConnId, now: Instant) -> Result<Left, Refusal> {
        let (room_id, peer_id) = self.joined.get(&conn).cloned().ok_or_else(not_in_room)?;
        self.remove_member(&room_id, &peer_id, now)
            .ok_or_else(not_in_room)
    }

    fn disconnect(&mut self, conn: ConnId, now: Instant, keep_seat: bool) -> Option<Left> {
        let (room_id, peer_id) = self.joined.get(&conn).cloned()?;
        if !keep_seat {
            return self.remove_member(&room_id, &peer_id, now);
        }
        self.joined.remove(&conn);
        let member = self.rooms.get_mut(&room_id)?.member_mut(&peer_id)?;
        member.presence = Presence::Away {
            since: now,
            parked: Vec::new(),
            parked_bytes: 0,
        };
        self.away.push_back((room_id, peer_id, now));
        None
    }

    fn route_signal(&mut self, from: ConnId, to: &str, message: &str) -> Result<Delivery, Refusal> {
        let (room_id, from_peer) = self.joined.get(&from).ok_or_else(not_in_room)?;
        let peer_not_found = || {
            Refusal::new(
                ErrorCode::PeerNotFound,
                "no other peer with that id is in your room",
            )
        };
        if from_peer == to {
            return Err(peer_not_found());
        }
        let room_id = room_id.clone();
        let member = self
            .rooms
            .get_mut(&room_id)
            .and_then(|room| room.member_mut(to))
            .ok_or_else(peer_not_found)?;
        if let Some(conn) = member.conn() {
            return Ok(Delivery::Now(conn));
        }
        if member.park(message) {
            return Ok(Delivery::Parked);
        }
        let left = self
            .remove_member(&room_id, to, Instant::now())
            .expect("the member was just found");
        Ok(Delivery::SeatReleased(left))
    }

    fn chat(&mut self, conn: ConnId, text: String, time: u64) -> Result<Chat, Refusal> {
        let (room_id, peer_id) = self.joined.get(&conn).ok_or_else(not_in_room)?;
        let room = self.rooms.get_mut(room_id).ok_or_else(not_in_room)?;
        let name = room.member(peer_id).and_then(|m| m.peer.name.clone());
        let entry = ChatEntry {
            from: peer_id.clone(),
            name,
            text,
            time,
        };
        room.remember_chat(entry.clone());
        let notify = room.members().iter().filter_map(Member::conn).collect();
        Ok(Chat { entry, notify })
    }

    fn release_away(&mut self, now: Instant, grace: Duration) -> Vec<Left> {
        let mut released = Vec::new();
        while let Some((_, _, since)) = self.away.front() {
            if now.saturating_duration_since(*since) < grace {
                break;
            }
            let (room_id, peer_id, since) = self.away.pop_front().expect("front exists");
            // Only if still away since then: it may have resumed, or left.
            let still_away = self
                .rooms
                .get(&room_id)
                .and_then(|room| room.member(&peer_id))
                .is_some_and(
                    |m| matches!(m.presence, Presence::Away { since: s, .. } if s == since),
                );
            if still_away {
                released.extend(self.remove_member(&room_id, &peer_id, now));
            }
        }
        released
    }

    fn forget_idle_rooms(&mut self, now: Instant, idle: Duration) -> usize {
        let before = self.rooms.len();
        self.rooms.retain(|_, room| !room.is_idle(now, idle));
        before - self.rooms.len()
    }

    fn occupancy(&self) -> Occupancy {
        Occupancy {
            rooms: self.rooms.len(),
            members: self.members,
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
        format!("{rooms:?}{joined:?}{:?}{}", r.away, r.members)
    }

    fn join(r: &mut MemoryRegistry, conn: ConnId, room: &str, now: Instant) -> Joined {
        r.join(conn, room, None, None, now).unwrap()
    }

    #[test]
    fn join_lists_earlier_peers_and_notifies_them() {
        let now = Instant::now();
        let mut r = registry();
        let room = r.create_room(3, now).unwrap();
        let a = r.join(1, &room, Some("Ada".into()), None, now).unwrap();
        assert!(a.peers.is_empty() && a.notify.is_empty() && !a.resumed);
        assert_eq!(a.peer.name.as_deref(), Some("Ada"));
        let b = join(&mut r, 2, &room, now);
        assert_eq!(b.peers, vec![a.peer.clone()]);
        assert_eq!(b.notify, vec![1]);
        let c = join(&mut r, 3, &room, now);
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
        let a = join(&mut r, 1, &room, now).peer;
        join(&mut r, 2, &room, now);
        let before = snapshot(&r);

        let code = |res: Result<Joined, Refusal>| res.unwrap_err().code;
        assert_eq!(code(r.join(3, &room, None, None, now)), ErrorCode::RoomFull);
        assert_eq!(
            code(r.join(3, "nope", None, None, now)),
            ErrorCode::RoomNotFound
        );
        assert_eq!(
            code(r.join(1, &other, None, None, now)),
            ErrorCode::AlreadyJoined
        );
        let claim = Resume {
            peer_id: "newcomer".into(),
            capacity: 2,
        };
        assert_eq!(
            code(r.join(3, &room, None, Some(claim), now)),
            ErrorCode::RoomFull
        );
        assert_eq!(r.leave(3, now).unwrap_err().code, ErrorCode::NotInRoom);
        assert_eq!(
            r.route_signal(3, "x", "m").unwrap_err().code,
            ErrorCode::NotInRoom
        );
        assert_eq!(
            r.route_signal(1, "x", "m").unwrap_err().code,
            ErrorCode::PeerNotFound
        );
        assert_eq!(
            r.route_signal(1, &a.id, "m").unwrap_err().code,
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
        let a = join(&mut r, 1, &room, now).peer;
        let b = join(&mut r, 2, &room, now).peer;
        let x = join(&mut r, 3, &other, now).peer;
        assert_eq!(r.route_signal(1, &b.id, "m"), Ok(Delivery::Now(2)));
        assert_eq!(r.route_signal(2, &a.id, "m"), Ok(Delivery::Now(1)));
        for (from, to) in [(1, &a.id), (1, &x.id), (3, &a.id)] {
            assert_eq!(
                r.route_signal(from, to, "m").unwrap_err().code,
                ErrorCode::PeerNotFound
            );
        }
    }

    #[test]
    fn leave_notifies_the_rest_and_frees_the_seat() {
        let now = Instant::now();
        let mut r = registry();
        let room = r.create_room(2, now).unwrap();
        let a = join(&mut r, 1, &room, now).peer;
        join(&mut r, 2, &room, now);
        let left = r.leave(1, now).unwrap();
        assert_eq!(left.peer_id, a.id);
        assert_eq!(left.notify, vec![2]);
        // The connection may join again, and gets a new peer id.
        let again = join(&mut r, 1, &room, now);
        assert_ne!(again.peer.id, a.id);
        assert_eq!(again.notify, vec![2]);
    }

    #[test]
    fn a_lost_connection_keeps_its_seat_and_its_messages_until_it_resumes() {
        let t0 = Instant::now();
        let mut r = registry();
        let room = r.create_room(2, t0).unwrap();
        let a = join(&mut r, 1, &room, t0).peer;
        let b = join(&mut r, 2, &room, t0).peer;
        assert_eq!(r.disconnect(2, t0, true), None, "nobody is told");
        assert_eq!(r.route_signal(1, &b.id, "m1"), Ok(Delivery::Parked));
        assert_eq!(r.route_signal(1, &b.id, "m2"), Ok(Delivery::Parked));
        assert_eq!(
            r.join(5, &room, None, None, t0).unwrap_err().code,
            ErrorCode::RoomFull,
            "the seat is still taken"
        );
        let claim = Resume {
            peer_id: b.id.clone(),
            capacity: 2,
        };
        let back = r.join(3, &room, None, Some(claim), t0).unwrap();
        assert!(back.resumed);
        assert_eq!(back.peer, b);
        assert_eq!(back.peers, vec![a.clone()]);
        assert!(back.notify.is_empty());
        assert_eq!(back.parked, ["m1", "m2"]);
        assert_eq!(r.route_signal(1, &b.id, "m3"), Ok(Delivery::Now(3)));
        // The old away entry does not release the resumed seat.
        assert!(
            r.release_away(t0 + Duration::from_secs(99), Duration::ZERO)
                .is_empty()
        );
        assert_eq!(r.occupancy().members, 2);
    }

    #[test]
    fn seats_away_past_the_grace_period_are_released() {
        let t0 = Instant::now();
        let grace = Duration::from_secs(30);
        let mut r = registry();
        let room = r.create_room(2, t0).unwrap();
        join(&mut r, 1, &room, t0);
        let b = join(&mut r, 2, &room, t0).peer;
        r.disconnect(2, t0, true);
        assert!(
            r.release_away(t0 + Duration::from_secs(29), grace)
                .is_empty()
        );
        let released = r.release_away(t0 + grace, grace);
        assert_eq!(
            released,
            vec![Left {
                room: room.clone(),
                peer_id: b.id,
                notify: vec![1]
            }]
        );
        assert_eq!(r.occupancy().members, 1);
    }

    #[test]
    fn a_member_that_overflows_its_parked_messages_loses_its_seat() {
        let t0 = Instant::now();
        let mut r = registry();
        let room = r.create_room(2, t0).unwrap();
        join(&mut r, 1, &room, t0);
        let b = join(&mut r, 2, &room, t0).peer;
        r.disconnect(2, t0, true);
        for _ in 0..crate::room::MAX_PARKED_MESSAGES {
            assert_eq!(r.route_signal(1, &b.id, "m"), Ok(Delivery::Parked));
        }
        assert_eq!(
            r.route_signal(1, &b.id, "m"),
            Ok(Delivery::SeatReleased(Left {
                room: room.clone(),
                peer_id: b.id.clone(),
                notify: vec![1]
            }))
        );
        assert_eq!(
            r.route_signal(1, &b.id, "m").unwrap_err().code,
            ErrorCode::PeerNotFound
        );
    }

    #[test]
    fn resuming_after_a_restart_makes_the_room_again_with_the_same_ids() {
        let t0 = Instant::now();
        let mut r = registry();
        let claim = |peer: &str| Resume {
            peer_id: peer.into(),
            capacity: 2,
        };
        let a = r
            .join(1, "room", Some("A".into()), Some(claim("pa")), t0)
            .unwrap();
        assert!(!a.resumed, "a fresh seat, not a held one");
        assert_eq!(a.peer.id, "pa");
        assert_eq!(r.room_summary("room").unwrap().capacity, 2);
        let b = r.join(2, "room", None, Some(claim("pb")), t0).unwrap();
        assert_eq!(b.peers, vec![a.peer]);
        assert_eq!(b.notify, vec![1], "the other learns the peer is back");
    }

    #[test]
    fn a_second_connection_takes_the_seat_from_a_stale_one() {
        let t0 = Instant::now();
        let mut r = registry();
        let room = r.create_room(2, t0).unwrap();
        let a = join(&mut r, 1, &room, t0).peer;
        let claim = Resume {
            peer_id: a.id.clone(),
            capacity: 2,
        };
        let again = r.join(7, &room, None, Some(claim), t0).unwrap();
        assert_eq!(again.replaced, Some(1));
        assert!(again.resumed);
        assert_eq!(
            r.disconnect(1, t0, false),
            None,
            "the old one holds nothing"
        );
        assert_eq!(r.occupancy().members, 1);
    }

    #[test]
    fn an_explicit_disconnect_without_keeping_the_seat_is_a_leave() {
        let t0 = Instant::now();
        let mut r = registry();
        let room = r.create_room(2, t0).unwrap();
        join(&mut r, 1, &room, t0);
        let b = join(&mut r, 2, &room, t0).peer;
        let left = r.disconnect(2, t0, false).unwrap();
        assert_eq!(left.peer_id, b.id);
        assert_eq!(r.disconnect(2, t0, false), None);
    }

    #[test]
    fn chat_reaches_everyone_here_and_newcomers_get_the_history() {
        let t0 = Instant::now();
        let mut r = registry();
        let room = r.create_room(3, t0).unwrap();
        let a = r.join(1, &room, Some("Ada".into()), None, t0).unwrap().peer;
        let b = join(&mut r, 2, &room, t0).peer;
        let chat = r.chat(1, "hello".into(), 42).unwrap();
        assert_eq!(chat.notify, vec![1, 2]);
        assert_eq!(chat.entry.name.as_deref(), Some("Ada"));
        r.disconnect(2, t0, true);
        assert_eq!(
            r.chat(1, "still there?".into(), 43).unwrap().notify,
            vec![1]
        );
        let c = join(&mut r, 3, &room, t0);
        let texts: Vec<_> = c.history.iter().map(|e| e.text.as_str()).collect();
        assert_eq!(texts, ["hello", "still there?"]);
        let claim = Resume {
            peer_id: b.id.clone(),
            capacity: 3,
        };
        let back = r.join(4, &room, None, Some(claim), t0).unwrap();
        assert!(back.resumed && back.history.is_empty());
        assert_eq!(
            r.chat(9, "x".into(), 1).unwrap_err().code,
            ErrorCode::NotInRoom
        );
        let _ = a;
    }

    #[test]
    fn empty_rooms_are_forgotten_after_idle_time_only() {
        let t0 = Instant::now();
        let idle = Duration::from_secs(60);
        let mut r = registry();
        let unused = r.create_room(2, t0).unwrap();
        let busy = r.create_room(2, t0).unwrap();
        join(&mut r, 1, &busy, t0);
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

    mod properties {
        //! Random sequences of events: no panic, the indexes always agree
        //! with the rooms, and every refusal changes nothing.

        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone)]
        enum Event {
            Create(usize),
            Join {
                conn: u64,
                room: usize,
                resume: Option<usize>,
            },
            Leave(u64),
            Disconnect {
                conn: u64,
                keep_seat: bool,
            },
            Signal {
                from: u64,
                to: usize,
            },
            Elapse(u64),
            ReleaseAway,
            ForgetIdle,
        }

        fn event() -> impl Strategy<Value = Event> {
            prop_oneof![
                (2usize..5).prop_map(Event::Create),
                (0u64..6, 0usize..4, proptest::option::of(0usize..8))
                    .prop_map(|(conn, room, resume)| Event::Join { conn, room, resume }),
                (0u64..6).prop_map(Event::Leave),
                (0u64..6, any::<bool>())
                    .prop_map(|(conn, keep_seat)| Event::Disconnect { conn, keep_seat }),
                (0u64..6, 0usize..8).prop_map(|(from, to)| Event::Signal { from, to }),
                (0u64..40).prop_map(Event::Elapse),
                Just(Event::ReleaseAway),
                Just(Event::ForgetIdle),
            ]
        }

        fn check_invariants(r: &MemoryRegistry) {
            let seats: usize = r.rooms.values().map(|room| room.members().len()).sum();
            assert_eq!(seats, r.members, "member count");
            for (conn, (room_id, peer_id)) in &r.joined {
                let member = r.rooms[room_id]
                    .member(peer_id)
                    .expect("indexed member exists");
                assert_eq!(member.conn(), Some(*conn));
            }
            for (room_id, room) in &r.rooms {
                assert!(room.members().len() <= room.capacity());
                for member in room.members() {
                    if let Some(conn) = member.conn() {
                        assert_eq!(r.joined[&conn], (room_id.clone(), member.peer.id.clone()));
                    }
                }
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]
            #[test]
            fn any_sequence_of_events_keeps_the_registry_consistent(
                events in proptest::collection::vec(event(), 1..60)
            ) {
                let grace = Duration::from_secs(30);
                let idle = Duration::from_secs(60);
                let mut now = Instant::now();
                let mut r = MemoryRegistry::new(RegistryLimits { max_rooms: 3 });
                let mut rooms: Vec<String> = vec!["unknown".into()];
                let mut peers: Vec<String> = vec!["nobody".into()];
                for event in events {
                    let before = snapshot(&r);
                    let refused = match event {
                        Event::Create(capacity) => match r.create_room(capacity, now) {
                            Ok(room) => { rooms.push(room); false }
                            Err(_) => true,
                        },
                        Event::Join { conn, room, resume } => {
                            let room = &rooms[room % rooms.len()];
                            let resume = resume.map(|p| Resume {
                                peer_id: peers[p % peers.len()].clone(),
                                capacity: 2,
                            });
                            match r.join(conn, room, None, resume, now) {
                                Ok(joined) => { peers.push(joined.peer.id); false }
                                Err(_) => true,
                            }
                        }
                        Event::Leave(conn) => r.leave(conn, now).is_err(),
                        Event::Disconnect { conn, keep_seat } => {
                            r.disconnect(conn, now, keep_seat);
                            false
                        }
                        Event::Signal { from, to } => {
                            r.route_signal(from, &peers[to % peers.len()], "m").is_err()
                        }
                        Event::Elapse(secs) => { now += Duration::from_secs(secs); false }
                        Event::ReleaseAway => { r.release_away(now, grace); false }
                        Event::ForgetIdle => { r.forget_idle_rooms(now, idle); false }
                    };
                    if refused {
                        prop_assert_eq!(snapshot(&r), before);
                    }
                    check_invariants(&r);
                }
            }
        }
    }
}
