//! Signaling: the WebSocket protocol between clients and the server.
//!
//! - [`protocol`]: the messages of PROTOCOL.md, parsed and encoded;
//! - [`session`]: one WebSocket, from upgrade to close, with liveness,
//!   rate limits and back-pressure;
//! - [`outbox`]: a connection's bounded queue of messages to write;
//! - [`hub`]: turns the room store's answers into deliveries, one order of
//!   events per room ([`order`]);
//! - [`delivery`]: the seam between the hub and whoever holds a member's
//!   connection; [`LocalConnections`] for the connections of this process;
//! - [`cluster`]: delivery in a cluster, from this instance's Redis channel;
//! - [`metrics`]: signaling's counters.

mod cluster;
mod delivery;
mod hub;
mod metrics;
mod order;
mod outbox;
mod protocol;
mod session;

pub(crate) use cluster::{ClusterDelivery, listen as listen_cluster};
pub(crate) use delivery::{Delivery, LocalConnections};
pub(crate) use hub::{Hub, HubSettings};
pub(crate) use metrics::Metrics;
pub(crate) use outbox::OutboxLimits;
pub(crate) use protocol::MAX_FRAME_BYTES;
pub(crate) use session::{SessionSettings, run as run_session};
