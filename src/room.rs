//! One room: who is in it, in what order, and how many it holds.
//!
//! Plain data with no I/O and no clock of its own: time comes in as an
//! argument, so every rule here is unit-tested without sockets or sleeps.

use std::time::Instant;

use crate::protocol::{ErrorCode, PeerInfo, Refusal};

/// The server's handle for one WebSocket connection.
pub type ConnId = u64;

/// Someone in a room: the connection they speak through and how the others
/// see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub conn: ConnId,
    pub peer: PeerInfo,
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
}

impl Room {
    pub fn new(capacity: usize, now: Instant) -> Self {
        Room {
            capacity,
            members: Vec::with_capacity(capacity),
            empty_since: Some(now),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn members(&self) -> &[Member] {
        &self.members
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

    /// Removes the member speaking through `conn`, if there is one.
    pub fn remove(&mut self, conn: ConnId, now: Instant) -> Option<Member> {
        let index = self.members.iter().position(|m| m.conn == conn)?;
        let member = self.members.remove(index);
        if self.members.is_empty() {
            self.empty_since = Some(now);
        }
        Some(member)
    }

    pub fn member_by_peer_id(&self, peer_id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.peer.id == peer_id)
    }

    /// True when the room has been empty for at least `idle` at `now`.
    pub fn is_idle(&self, now: Instant, idle: std::time::Duration) -> bool {
        self.empty_since
            .is_some_and(|since| now.saturating_duration_since(since) >= idle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn member(conn: ConnId) -> Member {
        Member {
            conn,
            peer: PeerInfo {
                id: format!("p{conn}"),
                name: None,
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
        let ids: Vec<_> = room.members().iter().map(|m| m.conn).collect();
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
        assert_eq!(room.remove(1, left_at).unwrap().conn, 1);
        assert!(!room.is_idle(left_at + Duration::from_secs(9), idle));
        assert!(room.is_idle(left_at + idle, idle));
    }

    #[test]
    fn remove_unknown_connection_changes_nothing() {
        let now = Instant::now();
        let mut room = Room::new(2, now);
        room.admit(member(1)).unwrap();
        assert!(room.remove(9, now).is_none());
        assert_eq!(room.members().len(), 1);
        assert!(room.member_by_peer_id("p1").is_some());
        assert!(room.member_by_peer_id("p9").is_none());
    }
}
