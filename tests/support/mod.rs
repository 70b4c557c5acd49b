//! Helpers shared by the integration tests: the real `parlor` binary on
//! 127.0.0.1 with an ephemeral port (the one way the tests start it, and the
//! one reader of its start-up lines), a tiny HTTP/1.1 client, a
//! WebSocket client that speaks PROTOCOL.md in JSON, a TLS client that
//! trusts the printed certificate, and HAProxy in front.
//!
//! Every helper that waits has a deadline, so a server that never answers
//! makes a test fail quickly instead of hanging.

#![allow(dead_code, unused_imports)]

mod haproxy;
mod http;
mod messages;
mod redis;
mod server;
mod startup;
mod tls;
mod ws;

use std::time::{Duration, Instant};

pub use haproxy::Haproxy;
pub use http::{Response, http_request};
pub use messages::{WELCOME_EXTENSIONS, assert_error, assert_welcome, welcome_core};
pub use redis::RedisServer;
pub use server::{Process, Server, command};
pub use startup::{Startup, StartupLine};
pub use tls::connect_pinned;
pub use ws::{Ended, Stream, Welcome, Ws, WsRx, WsTx, expect_nothing_queued};

/// How long a test waits for a message it expects.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(5);

/// Polls `check` until it is true or `limit` passes.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return;
        }
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
