//! The sweeper: once a second, tells the core the time so that expired
//! allocations and reservations go, and closes what they held after
//! unlocking.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Shared;

pub(super) async fn run(shared: Arc<Shared>) {
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    loop {
        ticks.tick().await;
        let released = shared.lock().sweep(Instant::now());
        if !released.relays.is_empty() {
            tracing::debug!(expired = released.relays.len(), "TURN allocations expired");
        }
        drop(released);
    }
}
