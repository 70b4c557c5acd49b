//! Which ports a new relay socket tries, and the small random number
//! generator that picks where to start. Separate from the request rules
//! because it is arithmetic on its own: the core decides the plan (so that
//! the choice is deterministic under a seeded generator in tests), and the
//! shell walks it, binding one port after another outside the lock.

use super::super::PortRange;
use super::super::stun::TransactionId;

/// Ports tried before an Allocate gives up with 508.
pub(crate) const BIND_ATTEMPTS: usize = 256;

/// A xorshift generator: fast, and good enough to spread relay ports and
/// transaction ids. Not for secrets: reservation tokens and nonce keys come
/// from the operating system.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value; zero, which xorshift cannot
    /// leave, is nudged).
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A transaction id for a Data indication.
    pub(crate) fn transaction_id(&mut self) -> TransactionId {
        let a = self.next_u64().to_ne_bytes();
        let b = self.next_u64().to_ne_bytes();
        let mut tid = [0u8; 12];
        tid[..8].copy_from_slice(&a);
        tid[8..].copy_from_slice(&b[..4]);
        tid
    }
}

/// The ports to try for one relay socket, in order: from a random start,
/// wrapping around the range; only even ones if asked; only ones whose
/// successor is in the range too when that successor is to be reserved
/// (EVEN-PORT with the R bit); at most [`BIND_ATTEMPTS`] of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PortPlan {
    range: PortRange,
    start: u64,
    even: bool,
    reserve: bool,
}

impl PortPlan {
    /// A plan over `range` starting at the offset `random` picks.
    pub(crate) fn new(range: PortRange, random: u64, even: bool, reserve: bool) -> PortPlan {
        let span = u64::from(range.high - range.low) + 1;
        PortPlan {
            range,
            start: random % span,
            even,
            reserve,
        }
    }

    /// Whether the port after the one bound is to be bound and held back.
    pub(crate) fn reserves_next(&self) -> bool {
        self.reserve
    }

    pub(crate) fn ports(&self) -> impl Iterator<Item = u16> + use<> {
        let PortPlan {
            range: PortRange { low, high },
            start,
            even,
            reserve,
        } = *self;
        let span = u64::from(high - low) + 1;
        (0..span)
            .map(move |step| low + ((start + step) % span) as u16)
            .filter(move |&port| {
                if even && port % 2 == 1 || reserve && port == u16::MAX {
                    return false;
                }
                !(reserve && port + 1 > high)
            })
            .take(BIND_ATTEMPTS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(low: u16, high: u16) -> PortRange {
        PortRange { low, high }
    }

    #[test]
    fn plans_wrap_from_a_random_start() {
        let plan = PortPlan::new(range(5000, 5004), 3, false, false);
        assert_eq!(
            plan.ports().collect::<Vec<_>>(),
            [5003, 5004, 5000, 5001, 5002]
        );
        let plan = PortPlan::new(range(5000, 5004), 8, false, false);
        assert_eq!(plan.ports().next(), Some(5003));
    }

    #[test]
    fn even_and_reserving_plans_skip_what_cannot_work() {
        let plan = PortPlan::new(range(5001, 5006), 0, true, false);
        assert_eq!(plan.ports().collect::<Vec<_>>(), [5002, 5004, 5006]);
        // The last even port has no successor in the range.
        let plan = PortPlan::new(range(5001, 5006), 0, true, true);
        assert_eq!(plan.ports().collect::<Vec<_>>(), [5002, 5004]);
        assert!(plan.reserves_next());
        let plan = PortPlan::new(range(65534, 65535), 0, true, true);
        assert_eq!(plan.ports().count(), 1);
        let plan = PortPlan::new(range(65535, 65535), 0, false, true);
        assert_eq!(plan.ports().count(), 0);
    }

    #[test]
    fn plans_stop_after_the_attempts() {
        let plan = PortPlan::new(range(1, 65535), 12345, false, false);
        assert_eq!(plan.ports().count(), BIND_ATTEMPTS);
        let plan = PortPlan::new(range(1, 65535), 12345, true, false);
        assert!(plan.ports().all(|p| p % 2 == 0));
        assert_eq!(plan.ports().count(), BIND_ATTEMPTS);
    }

    #[test]
    fn the_generator_is_deterministic_and_never_stuck() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        assert_eq!(a.next_u64(), b.next_u64());
        assert_eq!(a.transaction_id(), b.transaction_id());
        let mut zero = Rng::new(0);
        assert_ne!(zero.next_u64(), 0);
    }
}
