//! Parlor: self-hosted video calls in one binary.
//!
//! The server serves the web app, creates rooms and relays signaling between
//! the browsers in a room; media flows browser to browser.
//!
//! Layers, from the wire inwards:
//! - [`http`]: routes, the room API, security headers;
//! - [`session`]: one WebSocket connection, with liveness and back-pressure;
//! - [`hub`]: the registry plus per-connection outboxes, where answers
//!   become deliveries;
//! - [`registry`] and [`room`]: the rules of rooms, free of I/O;
//! - [`protocol`]: the messages of PROTOCOL.md;
//! - [`turn`]: the built-in STUN/TURN server and the ICE servers handed out.

pub mod assets;
pub mod config;
pub mod http;
pub mod hub;
pub mod ids;
pub mod limits;
pub mod metrics;
pub mod outbox;
pub mod protocol;
pub mod registry;
pub mod room;
pub mod server;
pub mod session;
pub mod tls;
pub mod turn;
