//! One room: who is in it, in what order, whether each member's connection
//! is up, and how many it holds.
//!
//! Plain data with no I/O and no clock of its own: time comes in as an
//! argument, so every rule here is unit-tested without sockets or sleeps.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::protocol::{ErrorCode, PeerInfo, Refusal};

/// The server's handle for one WebSocket connection.
pub type ConnId = u64;

/// Most messages kept for a member whose connection is down; past this the
/// seat is given up rather than let a message be lost.
pub const MAX_PARKED_MESSAGES: usize = 256;
/// Most bytes kept for such a member.
pub const MAX_PARKED_BYTES: usize = 1024 * 1024;

/// Most chat messages a room remembers for newcomers.
pub const MAX_CHAT_HISTORY: usize = 200;
/// Most bytes of chat text a room remembers.
pub const MAX_CHAT_HISTORY_BYTES: usize = 128 * 1024;

/// A chat message as the room remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatEntry {
    pub from: String,
    pub name: Option<String>,
    pub text: String,
    /// Unix time in milliseconds.
    pub time: u64,
}

/// Whether a member's connection is up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    Here(ConnId),
    /// The connection was lost at `since`; the seat is kept for a grace
    /// period so that the member can resume, and messages for it wait here.
    Away {
        since: Instant,
        parked: Vec<String>,
        parked_bytes: usize,
    },
}

/// Someone in a room: how the others see them and how to reach them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub peer: PeerInfo,
    pub presence: Presence,
}

impl Member {
    pub fn conn(&self) -> Option<ConnId> {
        match self.presence {
            Presence::Here(conn) => Some(conn),
            Presence::Away { .. } => None,
        }
    }

    /// Keeps `message` for when the member is back. False when the member
    /// is here, or when too much is waiting already.
    pub fn park(&mut self, message: &str) -> bool {
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
pub struct Room {
    capacity: usize,
    /// Oldest first: the order `welcome` lists peers in, and the order that
    /// decides who is polite in perfect negotiation.
    members: Vec<Member>,
    /// When the room last became empty (or was created); `None` while
    /// somebody is in it.
    empty_since: Option<Instant>,
    /// The latest chat messages, oldest first, within the limits above.
    chat: VecDeque<ChatEntry>,
    chat_bytes: usize,
}

impl Room {
    pub fn new(capacity: usize, now: Instant) -> Self {
        Room {
            capacity,
            members: Vec::with_capacity(capacity),
            empty_since: Some(now),
            chat: VecDeque::new(),
            chat_bytes: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// The connections of members that are here, except `except`.
    pub fn connections_except(&self, except: &str) -> Vec<ConnId> {
        self.members
            .iter()
            .filter(|m| m.peer.id != except)
            .filter_map(Member::conn)
            .collect()
    }

    /// Adds a member, refusing with `room-full` at capacity.
    pub fn admit(&mut self, member: Member) -> Result<(), Refusal> {
        if self.members.len() >= self.capacity {
            return Err(Refusal::new(ErrorCode::RoomFull, "this room is full"));
        }
        self.members.push(member);
        self.empty_since = None;
        Ok(())
    }

    /// Removes the member with `peer_id`, if there is one.
    pub fn remove(&mut self, peer_id: &str, now: Instant) -> Option<Member> {
        let index = self.members.iter().position(|m| m.peer.id == peer_id)?;
        let member = self.members.remove(index);
        if self.members.is_empty() {
            self.empty_since = Some(now);
        }
        Some(member)
    }

    pub fn member(&self, peer_id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.peer.id == peer_id)
    }

    pub fn member_mut(&mut self, peer_id: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.peer.id == peer_id)
    }

    /// Members whose connection has been down for at least `grace`.
    pub fn away_for(&self, now: Instant, grace: Duration) -> Vec<String> {
        self.members
            .iter()
            .filter(|m| match m.presence {
                Presence::Away { since, .. } => now.saturating_duration_since(since) >= grace,
                Presence::Here(_) => false,
            })
            .map(|m| m.peer.id.clone())
            .collect()
    }

    /// Remembers a chat message, forgetting the oldest beyond the limits.
    pub fn remember_chat(&mut self, entry: ChatEntry) {
        self.chat_bytes += entry.text.len();
        self.chat.push_back(entry);
        while self.chat.len() > MAX_CHAT_HISTORY || self.chat_bytes > MAX_CHAT_HISTORY_BYTES {
            let oldest = self.chat.pop_front().expect("not empty while over a limit");
            self.chat_bytes -= oldest.text.len();
        }
    }

    pub fn chat_history(&self) -> impl Iterator<Item = &ChatEntry> {
        self.chat.iter()
    }

    /// True when the room has been empty for at least `idle` at `now`.
    pub fn is_idle(&self, now: Instant, idle: Duration) -> bool {
        self.empty_since
            .is_some_and(|since| now.saturating_duration_since(since) >= idle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(conn: ConnId) -> Member {
        Member {
            peer: PeerInfo {
                id: format!("p{conn}"),
                name: None,
            },
            presence: Presence::Here(conn),
        }
    }

    fn away(id: &str, since: Instant) -> Member {
        Member {
            peer: PeerInfo {
                id: id.into(),
                name: None,
            },
            presence: Presence::Away {
                since,
                parked: Vec::new(),
                parked_bytes: 0,
            },
        }
    }

    #[test]
    fn admits_up_to_capacity_in_order() {
        let now = Instant::now();
        let mut room = Room::new(2, now);
        room.admit(member(1)).unwrap();
        room.admit(member(2)).unwrap();
        let err = room.admit(member(3)).unwrap_err();
        assert_eq!(err.code, ErrorCode::RoomFull);
        let ids: Vec<_> = room.members().iter().filter_map(Member::conn).collect();
        assert_eq!(ids, [1, 2]);
    }

    #[test]
    fn idle_clock_runs_only_while_empty() {
        let t0 = Instant::now();
        let idle = Duration::from_secs(10);
        let mut room = Room::new(2, t0);
        assert!(!room.is_idle(t0 + Duration::from_secs(9), idle));
        assert!(room.is_idle(t0 + idle, idle));
        room.admit(member(1)).unwrap();
        assert!(!room.is_idle(t0 + Duration::from_secs(100), idle));
        let left_at = t0 + Duration::from_secs(100);
        assert_eq!(room.remove("p1", left_at).unwrap().conn(), Some(1));
        assert!(!room.is_idle(left_at + Duration::from_secs(9), idle));
        assert!(room.is_idle(left_at + idle, idle));
    }

    #[test]
    fn away_members_keep_their_seat_but_are_not_notified() {
        let t0 = Instant::now();
        let mut room = Room::new(3, t0);
        room.admit(member(1)).unwrap();
        room.admit(away("gone", t0)).unwrap();
        room.admit(member(3)).unwrap();
        assert_eq!(room.connections_except("p1"), [3]);
        let grace = Duration::from_secs(30);
        assert!(
            room.away_for(t0 + Duration::from_secs(29), grace)
                .is_empty()
        );
        assert_eq!(room.away_for(t0 + grace, grace), ["gone"]);
    }

    #[test]
    fn chat_history_keeps_the_latest_within_its_limits() {
        let mut room = Room::new(2, Instant::now());
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
    fn parking_is_bounded_and_only_for_away_members() {
        let t0 = Instant::now();
        let mut here = member(1);
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
