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

/// How much may wait in one outbox before its connection counts as too
/// slow: messages and bytes, whichever is reached first. Counting bytes
/// too is what bounds memory: 256 relayed signals of 64 KiB would be 16 MiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OutboxLimits {
    pub(crate) messages: usize,
    pub(crate) bytes: usize,
}

pub(crate) struct Outbox {
    queue: Mutex<Queue>,
    limits: OutboxLimits,
    /// Wakes the writer: a message is waiting.
    ready: Notify,
    /// Wakes the reader: the connection must close.
    evicted: Notify,
}

struct Queue {
    messages: VecDeque<Utf8Bytes>,
    /// Bytes of text in `messages`.
    bytes: usize,
    /// Set when a message did not fit: nothing after it is queued either,
    /// so the client sees its messages end, never a gap.
    overflowed: bool,
    /// Why the connection must close, once it must.
    eviction: Option<Eviction>,
}

/// Why a connection is told to close by someone other than its reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Eviction {
    /// Its outbox overflowed, or its client stopped draining it.
    TooSlow,
    /// A newer connection took its seat with the resume token.
    Replaced,
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
    pub(crate) fn new(limits: OutboxLimits) -> Self {
        Outbox {
            queue: Mutex::new(Queue {
                messages: VecDeque::new(),
                bytes: 0,
                overflowed: false,
                eviction: None,
            }),
            limits,
            ready: Notify::new(),
            evicted: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `text` if it fits within the limits; otherwise the connection
    /// is evicted as too slow.
    pub(crate) fn push(&self, text: Utf8Bytes) -> Push {
        let mut queue = self.lock();
        if queue.overflowed {
            return Push::Refused;
        }
        if queue.messages.len() >= self.limits.messages
            || queue.bytes + text.len() > self.limits.bytes
        {
            queue.overflowed = true;
            // The connection is closing: free what it will never read.
            queue.messages = VecDeque::new();
            queue.bytes = 0;
            drop(queue);
            self.evict(Eviction::TooSlow);
            return Push::Overflowed;
        }
        self.queue_locked(queue, text)
    }

    /// Queues `text` whatever the outbox holds: for what the server has
    /// promised to deliver (a `welcome` and the messages kept for the
    /// member), which the room store bounds on its own.
    pub(crate) fn push_owed(&self, text: Utf8Bytes) -> Push {
        let queue = self.lock();
        if queue.overflowed {
            return Push::Refused;
        }
        self.queue_locked(queue, text)
    }

    fn queue_locked(&self, mut queue: MutexGuard<'_, Queue>, text: Utf8Bytes) -> Push {
        queue.bytes += text.len();
        queue.messages.push_back(text);
        drop(queue);
        self.ready.notify_one();
        Push::Queued
    }

    /// Tells the connection's reader to close the connection; the first
    /// reason given is the one the client is told.
    pub(crate) fn evict(&self, why: Eviction) {
        self.lock().eviction.get_or_insert(why);
        self.evicted.notify_one();
    }

    /// Completes once the connection has been evicted, with the reason.
    pub(crate) async fn evicted(&self) -> Eviction {
        loop {
            if let Some(why) = self.lock().eviction {
                return why;
            }
            self.evicted.notified().await;
        }
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
        let mut queue = self.lock();
        let text = queue.messages.pop_front()?;
        queue.bytes -= text.len();
        Some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn delivers_in_order_and_wakes_the_writer() {
        let outbox = std::sync::Arc::new(Outbox::new(limits(4, 1024)));
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

    fn limits(messages: usize, bytes: usize) -> OutboxLimits {
        OutboxLimits { messages, bytes }
    }

    #[tokio::test]
    async fn bytes_are_bounded_too() {
        let outbox = Outbox::new(limits(256, 10));
        assert_eq!(outbox.push("12345".into()), Push::Queued);
        assert_eq!(outbox.try_next().as_deref(), Some("12345"));
        assert_eq!(outbox.push("1234567890".into()), Push::Queued);
        assert_eq!(outbox.push("x".into()), Push::Overflowed);
        let why = tokio::time::timeout(Duration::from_secs(5), outbox.evicted())
            .await
            .expect("eviction is signalled");
        assert_eq!(why, Eviction::TooSlow);
    }

    #[tokio::test]
    async fn what_is_owed_is_queued_past_the_limits() {
        let outbox = Outbox::new(limits(1, 4));
        assert_eq!(outbox.push_owed("welcome".into()), Push::Queued);
        assert_eq!(outbox.push_owed("parked".into()), Push::Queued);
        assert_eq!(outbox.try_next().as_deref(), Some("welcome"));
        assert_eq!(outbox.try_next().as_deref(), Some("parked"));
        assert_eq!(outbox.push("ok".into()), Push::Queued);
    }

    #[tokio::test]
    async fn the_first_reason_to_evict_is_kept() {
        let outbox = Outbox::new(limits(1, 4));
        outbox.evict(Eviction::Replaced);
        outbox.evict(Eviction::TooSlow);
        assert_eq!(outbox.evicted().await, Eviction::Replaced);
    }

    #[tokio::test]
    async fn overflow_evicts_and_takes_nothing_more() {
        let outbox = Outbox::new(limits(2, 1024));
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
