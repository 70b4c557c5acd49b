//! Rooms: who is in which room, and the rules of joining, leaving, resuming
//! a lost connection, relaying and chat.
//!
//! - [`room`]: one room as plain data, with time passed in;
//! - [`store`]: the interface to wherever rooms live ([`RoomStore`]), keyed by
//!   room and peer ids, async, with no lock over all rooms;
//! - [`memory`]: the store of a single instance, in this process;
//! - [`redis`]: the store shared by several instances, in Redis;
//! - [`ids`] and [`resume`]: unguessable room ids and signed resume tokens;
//! - [`refusal`]: the error codes every refused request carries.
//!
//! Nothing here knows a socket or a connection: the signaling layer turns
//! the store's answers into messages.

mod ids;
mod memory;
mod redis;
mod refusal;
mod resume;
mod room;
mod store;

#[cfg(test)]
pub(crate) mod contract;

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

pub(crate) use memory::{MemoryStore, StoreLimits};
pub(crate) use redis::{Events as RedisEvents, Published, RedisStore, RoomEvent, keep_alive};
pub(crate) use refusal::{ErrorCode, Refusal};
pub(crate) use resume::ResumeKey;
pub(crate) use room::{ChatEntry, PeerInfo};
pub(crate) use store::{JoinRequest, Left, Occupancy, RoomStore, RoomSummary, Route, Seat};

/// How a room carries its media. Only a mesh today (every member sends to
/// every other, browser to browser); a selective forwarding unit is the next
/// kind. Carried from creation through the store to `welcome`, so that a
/// client knows what it joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RoomKind {
    #[default]
    Mesh,
}

impl RoomKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RoomKind::Mesh => "mesh",
        }
    }
}

impl fmt::Display for RoomKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RoomKind {
    type Err = Refusal;

    fn from_str(text: &str) -> Result<RoomKind, Refusal> {
        match text {
            "mesh" => Ok(RoomKind::Mesh),
            _ => Err(Refusal::bad_request(format!(
                "unknown room kind {text:?}; this server makes \"mesh\" rooms"
            ))),
        }
    }
}
