//! The rules of TURN over TCP, free of I/O: how many connections one
//! address may hold ([`TcpAdmissions`]), when a connection has waited too
//! long ([`StreamClock`]), and the byte budgets of what a connection holds
//! in memory, half-received frames in and queued frames out ([`Budget`]).
//!
//! A TCP client costs the server a file descriptor, a task and buffers for
//! as long as it stays, so these are what keeps a few addresses that open
//! many connections, trickle bytes or never read from taking the server.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A whole frame must arrive within this time of its first byte: a client
/// that trickles a frame byte by byte is closed, however often it sends.
pub(crate) const FRAME_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection without an allocation is closed after this long without a
/// complete frame (bytes of an incomplete one do not count).
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest frame on a stream: a STUN message of the longest length.
/// (ChannelData, padded, is at most 4 + 65,535 + 3 bytes.)
pub(crate) const MAX_FRAME: usize = 20 + 65_535;
/// Bytes queued for one TCP client before new frames are dropped: a
/// client that does not read costs this much, not a queue of big frames.
pub(crate) const QUEUE_BYTES: usize = 256 * 1024;
/// Bytes of half-received frames over all TCP connections together; a
/// connection whose frame would go past it is closed.
pub(crate) const HALF_FRAME_BYTES: usize = 32 * 1024 * 1024;

/// Counts TCP connections, in all and per client address.
#[derive(Debug)]
pub(crate) struct TcpAdmissions {
    total: usize,
    per_ip: usize,
    open: usize,
    by_ip: HashMap<IpAddr, usize>,
}

impl TcpAdmissions {
    /// At most `total` connections, `per_ip` from one address.
    pub(crate) fn new(total: usize, per_ip: usize) -> Self {
        TcpAdmissions {
            total,
            per_ip,
            open: 0,
            by_ip: HashMap::new(),
        }
    }

    /// Counts a new connection from `ip`, or refuses it at a cap.
    pub(crate) fn admit(&mut self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        if self.open >= self.total {
            return false;
        }
        let count = self.by_ip.entry(ip).or_insert(0);
        if *count >= self.per_ip {
            return false;
        }
        *count += 1;
        self.open += 1;
        true
    }

    /// Gives back the place of a connection from `ip` that closed.
    pub(crate) fn release(&mut self, ip: IpAddr) {
        let ip = ip.to_canonical();
        if let Some(count) = self.by_ip.get_mut(&ip) {
            *count -= 1;
            self.open -= 1;
            if *count == 0 {
                self.by_ip.remove(&ip);
            }
        }
    }

    #[cfg(test)]
    fn addresses(&self) -> usize {
        self.by_ip.len()
    }
}

/// When a TCP connection is to be closed for waiting too long; told the
/// time whenever bytes arrive.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamClock {
    last_frame: Instant,
    frame_started: Option<Instant>,
}

impl StreamClock {
    pub(crate) fn new(now: Instant) -> Self {
        StreamClock {
            last_frame: now,
            frame_started: None,
        }
    }

    /// Bytes arrived at `now`: `completed` frames were cut out of the
    /// stream, and `pending` bytes of the next one wait for the rest.
    pub(crate) fn received(&mut self, now: Instant, completed: usize, pending: usize) {
        if completed > 0 {
            self.last_frame = now;
            self.frame_started = None;
        }
        if pending == 0 {
            self.frame_started = None;
        } else if self.frame_started.is_none() {
            self.frame_started = Some(now);
        }
    }

    /// When to close the connection if nothing completes before; None when
    /// it may wait for ever (its allocation's lifetime bounds it).
    pub(crate) fn deadline(&self, has_allocation: bool) -> Option<Instant> {
        match self.frame_started {
            Some(started) => Some(started + FRAME_TIMEOUT),
            None if has_allocation => None,
            None => Some(self.last_frame + IDLE_TIMEOUT),
        }
    }
}

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
    fn connections_are_capped_per_address_and_in_all() {
        let mut tcp = TcpAdmissions::new(5, 2);
        let a: IpAddr = "203.0.113.1".parse().unwrap();
        let b: IpAddr = "203.0.113.2".parse().unwrap();
        assert!(tcp.admit(a) && tcp.admit(a));
        assert!(!tcp.admit(a));
        assert!(!tcp.admit("::ffff:203.0.113.1".parse().unwrap()));
        assert!(tcp.admit(b) && tcp.admit(b));
        assert!(tcp.admit("203.0.113.3".parse().unwrap()));
        assert!(!tcp.admit("203.0.113.4".parse().unwrap()), "server full");
        tcp.release(a);
        assert!(tcp.admit(a));
        for ip in [a, a, b, b] {
            tcp.release(ip);
        }
        tcp.release(b);
        assert_eq!(tcp.addresses(), 1);
    }

    #[test]
    fn trickled_bytes_do_not_put_off_the_deadline() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut clock = StreamClock::new(t0);
        assert_eq!(clock.deadline(false), Some(t0 + IDLE_TIMEOUT));
        assert_eq!(clock.deadline(true), None);
        // One byte every 5 s: the frame's deadline stays where its first
        // byte put it, with or without an allocation.
        for i in 1..=3 {
            clock.received(t0 + s(5 * i), 0, i as usize);
            assert_eq!(clock.deadline(false), Some(t0 + s(5) + FRAME_TIMEOUT));
            assert_eq!(clock.deadline(true), Some(t0 + s(5) + FRAME_TIMEOUT));
        }
        // The frame completes: idle from then on.
        clock.received(t0 + s(20), 1, 0);
        assert_eq!(clock.deadline(false), Some(t0 + s(20) + IDLE_TIMEOUT));
        assert_eq!(clock.deadline(true), None);
        // A frame completes and the next one starts in the same read.
        clock.received(t0 + s(21), 2, 3);
        assert_eq!(clock.deadline(false), Some(t0 + s(21) + FRAME_TIMEOUT));
    }

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
