//! A connection's queue of messages waiting to be written: bounded, and
//! never blocking whoever queues (the hub, holding the registry lock).
//!
//! It is a plain deque behind a mutex rather than a channel because it is
//! made once per connection and mostly sits idle: an empty deque allocates
//! nothing, where a channel allocates a block of slots up front.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::Notify;

pub(crate) struct Outbox {
    queue: Mutex<Queue>,
    capacity: usize,
    /// Wakes the writer: a message is waiting.
    ready: Notify,
    /// Wakes the reader: the connection must close.
    evicted: Notify,
}

struct Queue {
    messages: VecDeque<Utf8Bytes>,
    /// Set when a message did not fit: nothing after it is queued either,
    /// so the client sees its messages end, never a gap.
    overflowed: bool,
}

/// What became of a message given to [`Outbox::push`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Push {
    Queued,
    /// It did not fit: the connection is evicted as too slow.
    Overflowed,
    /// The outbox overflowed earlier; it takes nothing more.
    Refused,
}

impl Outbox {
    pub(crate) fn new(capacity: usize) -> Self {
        Outbox {
            queue: Mutex::new(Queue {
                messages: VecDeque::new(),
                overflowed: false,
            }),
            capacity,
            ready: Notify::new(),
            evicted: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn push(&self, text: Utf8Bytes) -> Push {
        let mut queue = self.lock();
        if queue.overflowed {
            return Push::Refused;
        }
        if queue.messages.len() >= self.capacity {
            queue.overflowed = true;
            // The connection is closing: free what it will never read.
            queue.messages = VecDeque::new();
            drop(queue);
            self.evict();
            return Push::Overflowed;
        }
        queue.messages.push_back(text);
        drop(queue);
        self.ready.notify_one();
        Push::Queued
    }

    /// Tells the connection's reader to close the connection.
    pub(crate) fn evict(&self) {
        self.evicted.notify_one();
    }

    /// Completes once the connection has been evicted.
    pub(crate) async fn evicted(&self) {
        self.evicted.notified().await;
    }

    /// The next message, waiting for one if need be.
    pub(crate) async fn next(&self) -> Utf8Bytes {
        loop {
            if let Some(text) = self.try_next() {
                return text;
            }
            // A notification sent since the check is kept as a permit.
            self.ready.notified().await;
        }
    }

    pub(crate) fn try_next(&self) -> Option<Utf8Bytes> {
        self.lock().messages.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn delivers_in_order_and_wakes_the_writer() {
        let outbox = std::sync::Arc::new(Outbox::new(4));
        let writer = {
            let outbox = outbox.clone();
            tokio::spawn(async move { [outbox.next().await, outbox.next().await] })
        };
        tokio::task::yield_now().await;
        assert_eq!(outbox.push("a".into()), Push::Queued);
        assert_eq!(outbox.push("b".into()), Push::Queued);
        let got = tokio::time::timeout(Duration::from_secs(5), writer)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, ["a", "b"].map(Utf8Bytes::from));
    }

    #[tokio::test]
    async fn overflow_evicts_and_takes_nothing_more() {
        let outbox = Outbox::new(2);
        assert_eq!(outbox.push("1".into()), Push::Queued);
        assert_eq!(outbox.push("2".into()), Push::Queued);
        assert_eq!(outbox.push("3".into()), Push::Overflowed);
        assert_eq!(outbox.push("4".into()), Push::Refused);
        tokio::time::timeout(Duration::from_secs(5), outbox.evicted())
            .await
            .expect("eviction is signalled");
        assert_eq!(outbox.try_next(), None, "the backlog is dropped");
    }
}
