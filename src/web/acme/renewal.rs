//! When to order a certificate: the rules, free of I/O, with the time
//! passed in. A certificate is renewed when a third of its lifetime is
//! left (day 60 of Let's Encrypt's 90, hour 4 of a 6-hour test
//! certificate), which leaves two renewal attempts' worth of backoff
//! before it expires; a failed order is retried with a doubling delay.

use std::time::{Duration, SystemTime};

/// The first delay after a failed order. Let's Encrypt allows 5 failed
/// validations per account and name an hour; this spends them slowly.
const FIRST_RETRY: Duration = Duration::from_secs(30);
/// The longest delay between attempts.
const LAST_RETRY: Duration = Duration::from_secs(6 * 3600);

/// When the certificate valid from `not_before` to `not_after` is renewed:
/// at two thirds of its lifetime.
pub(crate) fn renew_at(not_before: SystemTime, not_after: SystemTime) -> SystemTime {
    let lifetime = not_after.duration_since(not_before).unwrap_or_default();
    not_before + lifetime / 3 * 2
}

/// The delay before the next attempt after `failures` failures in a row
/// (at least 1).
pub(crate) fn retry_delay(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    FIRST_RETRY.saturating_mul(1 << doublings).min(LAST_RETRY)
}

/// The next order: when it is due, and how many attempts have failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Renewal {
    due: SystemTime,
    failures: u32,
}

impl Renewal {
    /// For a server whose certificate is valid from `not_before` to
    /// `not_after`; `None` when it has no usable one and must order now.
    pub(crate) fn new(validity: Option<(SystemTime, SystemTime)>, now: SystemTime) -> Renewal {
        let due = validity.map_or(now, |(from, to)| renew_at(from, to));
        Renewal { due, failures: 0 }
    }

    /// When to order.
    pub(crate) fn due(&self) -> SystemTime {
        self.due
    }

    /// A certificate valid from `not_before` to `not_after` was obtained.
    pub(crate) fn obtained(&mut self, not_before: SystemTime, not_after: SystemTime) {
        self.due = renew_at(not_before, not_after);
        self.failures = 0;
    }

    /// The order failed at `now`; returns the delay before the next one.
    pub(crate) fn failed(&mut self, now: SystemTime) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let delay = retry_delay(self.failures);
        self.due = now + delay;
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn certificates_are_renewed_with_a_third_of_their_life_left() {
        let issued = at(1_800_000_000);
        assert_eq!(renew_at(issued, issued + 90 * DAY), issued + 60 * DAY);
        assert_eq!(
            renew_at(issued, issued + Duration::from_secs(6 * 3600)),
            issued + Duration::from_secs(4 * 3600)
        );
        assert_eq!(
            renew_at(issued, issued + Duration::from_secs(30)),
            issued + Duration::from_secs(20)
        );
        // Nonsense dates renew at once rather than never.
        assert_eq!(renew_at(issued, issued - DAY), issued);
    }

    #[test]
    fn failures_back_off_doubling_up_to_a_bound() {
        assert_eq!(retry_delay(1), Duration::from_secs(30));
        assert_eq!(retry_delay(2), Duration::from_secs(60));
        assert_eq!(retry_delay(5), Duration::from_secs(480));
        assert_eq!(retry_delay(11), LAST_RETRY);
        assert_eq!(retry_delay(u32::MAX), LAST_RETRY);
    }

    #[test]
    fn a_renewal_is_due_now_without_a_certificate_and_later_with_one() {
        let now = at(1_800_000_000);
        assert_eq!(Renewal::new(None, now).due(), now);
        let kept = Renewal::new(Some((now - 10 * DAY, now + 80 * DAY)), now);
        assert_eq!(kept.due(), now + 50 * DAY);
        // One kept past its renewal time is due in the past: at once.
        let late = Renewal::new(Some((now - 70 * DAY, now + 20 * DAY)), now);
        assert!(late.due() <= now);
    }

    #[test]
    fn failures_delay_the_order_and_success_resets_them() {
        let now = at(1_800_000_000);
        let mut renewal = Renewal::new(None, now);
        assert_eq!(renewal.failed(now), Duration::from_secs(30));
        assert_eq!(renewal.due(), now + Duration::from_secs(30));
        let later = now + Duration::from_secs(30);
        assert_eq!(renewal.failed(later), Duration::from_secs(60));
        assert_eq!(renewal.due(), later + Duration::from_secs(60));
        renewal.obtained(later, later + 90 * DAY);
        assert_eq!(renewal.due(), later + 60 * DAY);
        assert_eq!(renewal.failed(later), Duration::from_secs(30));
    }
}
