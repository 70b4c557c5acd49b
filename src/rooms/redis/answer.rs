//! What the scripts answer, in JSON, as the store reads it: one shape for
//! every script (fields a script does not set stay empty), turned into the
//! store's types, and the refusals the scripts name by a tag.

use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer};

use crate::rooms::store::Left;
use crate::rooms::{ChatEntry, ErrorCode, PeerInfo, Refusal};

/// What any script answers; fields a script does not set stay empty.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Answer {
    pub(super) counts: (usize, usize),
    pub(super) err: Option<String>,
    pub(super) retry: bool,
    pub(super) exists: bool,
    pub(super) epoch: u64,
    pub(super) peer: Option<Peer>,
    pub(super) kind: Option<String>,
    pub(super) cap: usize,
    pub(super) members: usize,
    #[serde(deserialize_with = "list")]
    pub(super) peers: Vec<Peer>,
    #[serde(deserialize_with = "list")]
    pub(super) notify: Vec<String>,
    pub(super) resumed: bool,
    #[serde(deserialize_with = "list")]
    pub(super) parked: Vec<String>,
    pub(super) replaced: bool,
    #[serde(deserialize_with = "list")]
    pub(super) history: Vec<Entry>,
    pub(super) left: Option<LeftAnswer>,
    pub(super) route: Option<String>,
    pub(super) entry: Option<Entry>,
    #[serde(deserialize_with = "list")]
    pub(super) away: Vec<AwayAnswer>,
    pub(super) forgotten: usize,
    pub(super) swept: usize,
    #[cfg(test)]
    pub(super) dump: String,
    #[cfg(test)]
    #[serde(deserialize_with = "list")]
    pub(super) problems: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Peer {
    pub(super) id: String,
    pub(super) name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Entry {
    pub(super) from: String,
    pub(super) name: Option<String>,
    pub(super) text: String,
    pub(super) time: u64,
}

#[derive(Debug, Deserialize)]
pub(super) struct LeftAnswer {
    pub(super) room: String,
    pub(super) peer_id: String,
    #[serde(deserialize_with = "list")]
    pub(super) notify: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct AwayAnswer {
    pub(super) room: String,
    pub(super) peer: String,
    pub(super) since: u64,
}

/// A JSON list, which Lua's encoder writes as `{}` when empty.
fn list<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Vec<T>, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Object(map) if map.is_empty() => Ok(Vec::new()),
        value => serde_json::from_value(value).map_err(serde::de::Error::custom),
    }
}

impl From<Peer> for PeerInfo {
    fn from(peer: Peer) -> Self {
        PeerInfo {
            id: peer.id,
            name: peer.name,
        }
    }
}

impl From<Entry> for ChatEntry {
    fn from(e: Entry) -> Self {
        ChatEntry {
            from: e.from,
            name: e.name,
            text: e.text,
            time: e.time,
        }
    }
}

impl From<LeftAnswer> for Left {
    fn from(left: LeftAnswer) -> Self {
        Left {
            room: left.room,
            peer_id: left.peer_id,
            notify: left.notify,
        }
    }
}

/// Why a script refused, as the memory store says it.
pub(super) fn refusal(tag: &str) -> Refusal {
    match tag {
        "max-rooms" => Refusal::new(
            ErrorCode::RateLimited,
            "this server has as many rooms as it may hold; try again later",
        ),
        "no-room" => Refusal::new(ErrorCode::RoomNotFound, "this room does not exist"),
        "gone" => Refusal::new(ErrorCode::RoomNotFound, "this room does not exist any more"),
        "full" => Refusal::new(ErrorCode::RoomFull, "this room is full"),
        "spent" => Refusal::bad_request(
            "this seat was given up (you left, or did not come back in time); \
             join the room again without the token",
        ),
        "no-peer" => Refusal::new(
            ErrorCode::PeerNotFound,
            "no other peer with that id is in your room",
        ),
        _ => Refusal::not_in_room(),
    }
}

/// What a client is told while Redis cannot be reached.
pub(super) fn unavailable() -> Refusal {
    Refusal::new(
        ErrorCode::RateLimited,
        "rooms are unavailable: this server cannot reach its room store; try again shortly",
    )
}
