//! Parlor: self-hosted video calls in one binary.
//!
//! The server serves the web app, creates rooms, relays signaling between
//! the browsers in a room, and runs STUN and TURN; media flows browser to
//! browser. `docs/architecture.md` follows a message and a packet through
//! these layers.
//!
//! Layers, from the wire inwards (each uses only those below it):
//! - [`server`]: start-up and shutdown, the one place that wires the parts
//!   together from the [`config`];
//! - `web`: HTTP routes, TLS, ACME certificates, the embedded web client;
//! - `signaling`: WebSocket sessions, outboxes, and the hub that turns the
//!   room store's answers into deliveries, through the delivery seam;
//! - `rooms`: the rules of rooms, free of I/O, behind the room store seam
//!   (in memory, or in Redis, shared by several instances, with `--redis`);
//! - [`turn`]: the built-in STUN/TURN server: a codec and rules free of I/O,
//!   and thin UDP, TCP and TLS shells;
//! - `limits` (token buckets, per-address caps), `metrics` (the one
//!   Prometheus writer), `shutdown` and `random`, used by all of the above;
//! - `state`: the state directory, what a restart must not forget (the
//!   keys, the list of rooms), read and written only by [`server`].
//!
//! Where the next engine plugs in: a selective forwarding unit is a new
//! folder beside `turn/`, chosen per room by `rooms::RoomKind`. The store
//! shared through Redis came in that way: a `RoomStore` (`rooms/redis/`)
//! and a `Delivery` (`signaling/cluster.rs`), chosen in [`server`].

pub mod config;
mod limits;
mod metrics;
mod random;
mod rooms;
pub mod server;
pub mod shutdown;
mod signaling;
mod state;
pub mod turn;
mod web;

pub use web::Certificate;
