//! What the scripts publish, as this instance receives it on its channel:
//! the events of rooms for the connections it holds, in the one order the
//! scripts made them (Redis delivers one channel's messages in order).

use futures_util::{Stream, StreamExt};
use redis::aio::PubSubSink;
use serde::Deserialize;

use super::answer::{Entry, Peer};
use crate::rooms::{ChatEntry, PeerInfo};

/// One event for some members of a room, all held by this instance.
#[derive(Debug, Deserialize)]
pub(crate) struct Published {
    #[serde(rename = "r")]
    pub(crate) room: String,
    /// Each receiver's peer id, and the epoch of the connection that held
    /// its seat when the event was made: a later connection of the same
    /// seat gets nothing meant for an earlier one, and the reverse.
    pub(crate) to: Vec<(String, u64)>,
    #[serde(rename = "ev")]
    pub(crate) event: RoomEvent,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "k", from = "Wire")]
pub(crate) enum RoomEvent {
    Joined(PeerInfo),
    Left(String),
    Chat(ChatEntry),
    /// An encoded `signal`, as its sender's instance made it.
    Signal(String),
    /// A newer connection took the seat, on another instance.
    Evict,
}

/// The events as the scripts write them.
#[derive(Deserialize)]
#[serde(tag = "k")]
enum Wire {
    #[serde(rename = "j")]
    Joined { peer: Peer },
    #[serde(rename = "l")]
    Left { id: String },
    #[serde(rename = "c")]
    Chat(Entry),
    #[serde(rename = "s")]
    Signal { m: String },
    #[serde(rename = "x")]
    Evict,
}

impl From<Wire> for RoomEvent {
    fn from(wire: Wire) -> Self {
        match wire {
            Wire::Joined { peer } => RoomEvent::Joined(peer.into()),
            Wire::Left { id } => RoomEvent::Left(id),
            Wire::Chat(entry) => RoomEvent::Chat(entry.into()),
            Wire::Signal { m } => RoomEvent::Signal(m),
            Wire::Evict => RoomEvent::Evict,
        }
    }
}

/// A subscription to this instance's channel; it ends when the connection
/// to Redis does.
pub(crate) struct Events {
    /// Holds the subscription open.
    _sink: PubSubSink,
    stream: redis::aio::PubSubStream,
}

impl Events {
    pub(super) fn new(sink: PubSubSink, stream: redis::aio::PubSubStream) -> Self {
        Events {
            _sink: sink,
            stream,
        }
    }

    /// The events, in order; payloads this build cannot read are logged
    /// and skipped.
    pub(crate) fn stream(&mut self) -> impl Stream<Item = Published> + '_ {
        (&mut self.stream).filter_map(|message| async move {
            let payload = message.get_payload_bytes();
            match serde_json::from_slice(payload) {
                Ok(published) => Some(published),
                Err(err) => {
                    tracing::error!(%err, "cluster: an event this build does not read");
                    None
                }
            }
        })
    }
}
