//! One room: who is in it, in what order, whether each member's connection
//! is up, and how many it holds.
//!
//! Plain data with no I/O and no clock of its own: time comes in as an
//! argument, so every rule here is unit-tested without sockets or sleeps.
//! Members are known by peer id, never by a connection: where a member's
//! connection lives (this process or another) is the delivery layer's
//! business.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::{ErrorCode, Refusal, RoomKind};

/// A member of a room as other members see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct PeerInfo {
    pub(crate) id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
}

/// Most messages kept for a member whose connection is down; past this the
/// seat is given up rather than let a message be lost.
pub(crate) const MAX_PARKED_MESSAGES: usize = 256;
/// Most bytes kept for such a member.
pub(crate) const MAX_PARKED_BYTES: usize = 1024 * 1024;

/// Most chat messages a room remembers for newcomers.
pub(crate) const MAX_CHAT_HISTORY: usize = 200;
/// Most bytes of chat a room remembers: text, names and peer ids.
pub(crate) const MAX_CHAT_HISTORY_BYTES: usize = 128 * 1024;

/// A chat message as the room remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChatEntry {
    pub(crate) from: String,
    pub(crate) name: Option<String>,
    pub(crate) text: String,
    /// Unix time in milliseconds.
    pub(crate) time: u64,
}

impl ChatEntry {
    /// The bytes it holds, as counted against [`MAX_CHAT_HISTORY_BYTES`].
    fn size(&self) -> usize {
        self.from.len() + self.name.as_ref().map_or(0, String::len) + self.text.len()
    }
}

/// Whether a member's connection is up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Presence {
    /// Connected. `epoch` tells this connection's hold on the seat from an
    /// earlier one's: it grows each time the seat is taken (see [`Seat`]).
    ///
    /// [`Seat`]: super::Seat
    Here { epoch: u64 },
    /// The connection was lost at `since`; the seat is kept for a grace
    /// period so that the member can resume, and messages for it wait here.
    Away {
        since: SystemTime,
        parked: Vec<String>,
        parked_bytes: usize,
    },
}

/// Someone in a room: how the others see them and how to reach them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Member {
    pub(super) peer: PeerInfo,
    pub(super) presence: Presence,
}

impl Member {
    pub(super) fn is_here(&self) -> bool {
        matches!(self.presence, Presence::Here { .. })
    }

    /// True when the connection holding the seat at `epoch` still holds it.
    pub(super) fn is_held_at(&self, epoch: u64) -> bool {
        self.presence == Presence::Here { epoch }
    }

    /// Keeps `message` for when the member is back. False when the member
    /// is here, or when too much is waiting already.
    pub(super) fn park(&mut self, message: &str) -> bool {
        match &mut self.presence {
            Presence::Away {
                parked,
                parked_bytes,
                ..
            } if parked.len() < MAX_PARKED_MESSAGES
                && *parked_bytes + message.len() <= MAX_PARKED_BYTES =>
            {
                parked.push(message.to_owned());
                *parked_bytes += message.len();
                true
            }
            _ => false,
        }
    }
}

#[derive(Debug)]
pub(super) struct Room {
    kind: RoomKind,
    capacity: usize,
    /// Oldest first: the order `welcome` lists peers in, and the order that
    /// decides who is polite in perfect negotiation.
    members: Vec<Member>,
    /// When the room last became empty (or was created); `None` while
    /// somebody is in it.
    empty_since: Option<SystemTime>,
    /// The latest chat messages, oldest first, within the limits above.
    chat: VecDeque<ChatEntry>,
    chat_bytes: usize,
    /// The epoch the next taker of a seat gets.
    next_epoch: u64,
    /// When it was created, while nobody has ever joined it; `None` once
    /// someone has. Rooms nobody joins are forgotten sooner.
    unjoined_since: Option<SystemTime>,
    /// When this room was made, here (by `POST /api/rooms`, or again by a
    /// resume after the store lost it).
    created: SystemTime,
}

impl Room {
    pub(super) fn new(kind: RoomKind, capacity: usize, now: SystemTime) -> Self {
        Room {
            kind,
            capacity,
            members: Vec::with_capacity(capacity),
            empty_since: Some(now),
            chat: VecDeque::new(),
            chat_bytes: 0,
            next_epoch: 1,
            unjoined_since: Some(now),
            created: now,
        }
    }

    /// The room as one that has been used: it is then kept for the idle
    /// timeout, never forgotten as unjoined.
    pub(super) fn into_used(mut self) -> Self {
        self.unjoined_since = None;
        self
    }

    pub(super) fn created(&self) -> SystemTime {
        self.created
    }

    pub(super) fn kind(&self) -> RoomKind {
        self.kind
    }

    /// A fresh epoch for a connection taking a seat.
    fn new_epoch(&mut self) -> u64 {
        let epoch = self.next_epoch;
        self.next_epoch += 1;
        epoch
    }

    pub(super) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(super) fn members(&self) -> &[Member] {
        &self.members
    }

    /// The members that are here, except `except`: who must hear of a
    /// change.
    pub(super) fn present_except(&self, except: &str) -> Vec<String> {
        self.present()
            .filter(|id| *id != except)
            .map(str::to_owned)
            .collect()
    }

    /// The peer ids of the members that are here.
    pub(super) fn present(&self) -> impl Iterator<Item = &str> {
        self.members
            .iter()
            .filter(|m| m.is_here())
            .map(|m| m.peer.id.as_str())
    }

    /// Everyone in the room, oldest first, except `except`.
    pub(super) fn others(&self, except: &str) -> Vec<PeerInfo> {
        self.members
            .iter()
            .filter(|m| m.peer.id != except)
            .map(|m| m.peer.clone())
            .collect()
    }

    /// Seats a newcomer, refusing with `room-full` at capacity; returns the
    /// epoch of its hold on the seat.
    pub(super) fn admit(&mut self, peer: PeerInfo) -> Result<u64, Refusal> {
        if self.members.len() >= self.capacity {
            return Err(Refusal::new(ErrorCode::RoomFull, "this room is full"));
        }
        let epoch = self.new_epoch();
        self.members.push(Member {
            peer,
            presence: Presence::Here { epoch },
        });
        self.empty_since = None;
        self.unjoined_since = None;
        Ok(epoch)
    }

    /// Gives `peer_id`'s seat to a new connection: returns its epoch and
    /// what the seat held before: the messages parked while it was away, or
    /// `None` when another connection still held it. `None` overall when
    /// there is no such member.
    pub(super) fn take_back(&mut self, peer_id: &str) -> Option<(u64, Option<Vec<String>>)> {
        self.member(peer_id)?;
        let epoch = self.new_epoch();
        let member = self.member_mut(peer_id).expect("just found");
        let previous = std::mem::replace(&mut member.presence, Presence::Here { epoch });
        let parked = match previous {
            Presence::Here { .. } => None,
            Presence::Away { parked, .. } => Some(parked),
        };
        Some((epoch, parked))
    }

    /// Marks the member held at `epoch` as away since `since`, keeping its
    /// seat; false if that connection no longer holds the seat.
    pub(super) fn mark_away(&mut self, peer_id: &str, epoch: u64, since: SystemTime) -> bool {
        match self.member_mut(peer_id) {
            Some(member) if member.is_held_at(epoch) => {
                member.presence = Presence::Away {
                    since,
                    parked: Vec::new(),
                    parked_bytes: 0,
                };
                true
            }
            _ => false,
        }
    }

    /// True when `peer_id` is away and has been since `since`.
    pub(super) fn is_away_since(&self, peer_id: &str, since: SystemTime) -> bool {
        self.member(peer_id)
            .is_some_and(|m| matches!(m.presence, Presence::Away { since: s, .. } if s == since))
    }

    /// Removes the member with `peer_id`, if there is one. The last one
    /// out takes the chat with it: nobody is left to whom it was said, and
    /// an empty room kept for a day should cost next to nothing.
    pub(super) fn remove(&mut self, peer_id: &str, now: SystemTime) -> Option<Member> {
        let index = self.members.iter().position(|m| m.peer.id == peer_id)?;
        let member = self.members.remove(index);
        if self.members.is_empty() {
            self.empty_since = Some(now);
            self.chat = VecDeque::new();
            self.chat_bytes = 0;
        }
        Some(member)
    }

    pub(super) fn member(&self, peer_id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.peer.id == peer_id)
    }

    pub(super) fn member_mut(&mut self, peer_id: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.peer.id == peer_id)
    }

    /// Remembers a chat message, forgetting the oldest beyond the limits.
    pub(super) fn remember_chat(&mut self, entry: ChatEntry) {
        self.chat_bytes += entry.size();
        self.chat.push_back(entry);
        while self.chat.len() > MAX_CHAT_HISTORY || self.chat_bytes > MAX_CHAT_HISTORY_BYTES {
            let oldest = self.chat.pop_front().expect("not empty while over a limit");
            self.chat_bytes -= oldest.size();
        }
    }

    pub(super) fn chat_history(&self) -> impl Iterator<Item = &ChatEntry> {
        self.chat.iter()
    }

    /// True when nobody has ever joined the room, made `timeout` or more
    /// before `now`.
    pub(super) fn is_unjoined_past(&self, now: SystemTime, timeout: Duration) -> bool {
        self.unjoined_since
            .is_some_and(|since| elapsed(since, now) >= timeout)
    }

    /// True when the room has been empty for at least `idle` at `now`.
    pub(super) fn is_idle(&self, now: SystemTime, idle: Duration) -> bool {
        self.empty_since
            .is_some_and(|since| elapsed(since, now) >= idle)
    }
}

/// Time from `since` to `now`; zero if the clock went back.
pub(super) fn elapsed(since: SystemTime, now: SystemTime) -> Duration {
    now.duration_since(since).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(id: &str) -> PeerInfo {
        PeerInfo {
            id: id.into(),
            name: None,
        }
    }

    fn member(n: u64) -> PeerInfo {
        peer(&format!("p{n}"))
    }

    fn away(id: &str, since: SystemTime) -> Member {
        Member {
            peer: peer(id),
            presence: Presence::Away {
                since,
                parked: Vec::new(),
                parked_bytes: 0,
            },
        }
    }

    #[test]
    fn admits_up_to_capacity_in_order() {
        let now = SystemTime::now();
        let mut room = Room::new(RoomKind::Mesh, 2, now);
        room.admit(member(1)).unwrap();
        room.admit(member(2)).unwrap();
        let err = room.admit(member(3)).unwrap_err();
        assert_eq!(err.code, ErrorCode::RoomFull);
        let ids: Vec<_> = room.members().iter().map(|m| m.peer.id.as_str()).collect();
        assert_eq!(ids, ["p1", "p2"]);
    }

    #[test]
    fn idle_clock_runs_only_while_empty() {
        let t0 = SystemTime::now();
        let idle = Duration::from_secs(10);
        let mut room = Room::new(RoomKind::Mesh, 2, t0);
        assert!(!room.is_idle(t0 + Duration::from_secs(9), idle));
        assert!(room.is_idle(t0 + idle, idle));
        room.admit(member(1)).unwrap();
        assert!(!room.is_idle(t0 + Duration::from_secs(100), idle));
        let left_at = t0 + Duration::from_secs(100);
        assert!(room.remove("p1", left_at).unwrap().is_held_at(1));
        assert!(!room.is_idle(left_at + Duration::from_secs(9), idle));
        assert!(room.is_idle(left_at + idle, idle));
    }

    #[test]
    fn only_a_room_nobody_joined_counts_as_unjoined() {
        let t0 = SystemTime::now();
        let timeout = Duration::from_secs(600);
        let mut room = Room::new(RoomKind::Mesh, 2, t0);
        assert!(!room.is_unjoined_past(t0 + Duration::from_secs(599), timeout));
        assert!(room.is_unjoined_past(t0 + timeout, timeout));
        room.admit(member(1)).unwrap();
        room.remove("p1", t0);
        assert!(!room.is_unjoined_past(t0 + timeout * 10, timeout));
    }

    #[test]
    fn away_members_keep_their_seat_but_are_not_notified() {
        let t0 = SystemTime::now();
        let mut room = Room::new(RoomKind::Mesh, 3, t0);
        room.admit(member(1)).unwrap();
        let epoch = room.admit(peer("gone")).unwrap();
        assert!(room.mark_away("gone", epoch, t0));
        assert!(room.is_away_since("gone", t0));
        room.admit(member(3)).unwrap();
        assert_eq!(room.present_except("p1"), ["p3"]);
        assert_eq!(room.others("p1").len(), 2);
    }

    #[test]
    fn chat_history_keeps_the_latest_within_its_limits() {
        let mut room = Room::new(RoomKind::Mesh, 2, SystemTime::now());
        let entry = |n: usize, len: usize| ChatEntry {
            from: "p".into(),
            name: None,
            text: "x".repeat(len),
            time: n as u64,
        };
        for n in 0..MAX_CHAT_HISTORY + 5 {
            room.remember_chat(entry(n, 4));
        }
        let times: Vec<_> = room.chat_history().map(|e| e.time).collect();
        assert_eq!(times.len(), MAX_CHAT_HISTORY);
        assert_eq!(times[0], 5);
        room.remember_chat(entry(9999, MAX_CHAT_HISTORY_BYTES - 10));
        assert!(room.chat_history().map(|e| e.text.len()).sum::<usize>() <= MAX_CHAT_HISTORY_BYTES);
        assert_eq!(room.chat_history().last().unwrap().time, 9999);
    }

    #[test]
    fn names_count_towards_the_history_bytes() {
        let mut room = Room::new(RoomKind::Mesh, 2, SystemTime::now());
        for n in 0..MAX_CHAT_HISTORY {
            room.remember_chat(ChatEntry {
                from: "p".repeat(22),
                name: Some("n".repeat(256)),
                text: "x".repeat(1000),
                time: n as u64,
            });
        }
        let kept: usize = room
            .chat_history()
            .map(|e| e.from.len() + e.name.as_ref().map_or(0, String::len) + e.text.len())
            .sum();
        assert!(kept <= MAX_CHAT_HISTORY_BYTES, "{kept}");
    }

    #[test]
    fn the_last_one_out_takes_the_chat_with_it() {
        let t0 = SystemTime::now();
        let mut room = Room::new(RoomKind::Mesh, 2, t0);
        room.admit(member(1)).unwrap();
        room.remember_chat(ChatEntry {
            from: "p1".into(),
            name: None,
            text: "x".repeat(2000),
            time: 1,
        });
        room.remove("p1", t0);
        assert_eq!(room.chat_history().count(), 0);
    }

    #[test]
    fn parking_is_bounded_and_only_for_away_members() {
        let t0 = SystemTime::now();
        let mut here = Member {
            peer: member(1),
            presence: Presence::Here { epoch: 1 },
        };
        assert!(!here.park("x"));
        let mut gone = away("gone", t0);
        for _ in 0..MAX_PARKED_MESSAGES {
            assert!(gone.park("x"));
        }
        assert!(!gone.park("x"));
        let mut big = away("big", t0);
        assert!(!big.park(&"x".repeat(MAX_PARKED_BYTES + 1)));
    }
}
