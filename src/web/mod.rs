//! The web server: HTTP routes (the room API, the app, the WebSocket
//! upgrade, health and metrics), the listeners (plain TCP and TLS, the
//! latter shared with TURN over TLS, either behind the PROXY protocol),
//! and the web client embedded in the binary.

pub(crate) mod acme;
mod assets;
mod forwarded;
mod keys;
mod listener;
mod proxy_protocol;
mod routes;
mod serve;
mod sniff;
mod tls;

pub(crate) use listener::PlainListener;
pub(crate) use proxy_protocol::ProxyProtocol;
pub(crate) use routes::{AppState, allowed_origins, router};
pub(crate) use serve::{HttpLimits, serve};
pub use tls::Certificate;
pub(crate) use tls::{Acme, TlsListener, TurnHandoff, from_files, self_signed};
