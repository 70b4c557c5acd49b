//! The rules of TURN over TCP, free of I/O: the byte budgets of what a
//! connection holds in memory ([`Budget`]).
//!
//! A TCP client costs the server buffers for as long as it stays, so these
//! are what keeps a client that never reads from taking the server's memory.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes queued for one TCP client before new frames are dropped: a
/// client that does not read costs this much, not a queue of big frames.
pub(crate) const QUEUE_BYTES: usize = 256 * 1024;

/// A count of bytes held against a cap, shared by the tasks that hold
/// them (a client's queue and its writer; every reader's half frames).
#[derive(Debug)]
pub(crate) struct Budget {
    cap: usize,
    held: AtomicUsize,
}

impl Budget {
    pub(crate) fn new(cap: usize) -> Self {
        Budget {
            cap,
            held: AtomicUsize::new(0),
        }
    }

    /// Takes `bytes` if they fit under the cap; else takes nothing.
    pub(crate) fn take(&self, bytes: usize) -> bool {
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(bytes).filter(|total| *total <= self.cap)
            })
            .is_ok()
    }

    /// Gives back `bytes` taken earlier.
    pub(crate) fn give(&self, bytes: usize) {
        self.held.fetch_sub(bytes, Ordering::AcqRel);
    }

    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_cap_bytes_held() {
        let budget = Budget::new(100);
        assert!(budget.take(60));
        assert!(!budget.take(41));
        assert!(budget.take(40));
        assert!(!budget.take(1));
        budget.give(60);
        assert_eq!(budget.held(), 40);
        assert!(budget.take(60));
        assert!(!budget.take(usize::MAX));
    }
}
