//! A token bucket: the one rate limiter, for messages, room creations and
//! bytes alike. Plain data driven by the time passed in.

use std::time::Instant;

/// A token bucket: `burst` tokens at most, refilled at `per_second`.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    tokens: f64,
    burst: f64,
    per_second: f64,
    updated: Instant,
}

/// Rounding slack, so that a bucket refilled for exactly `n` tokens by a
/// floating-point product gives `n`.
const SLACK: f64 = 1e-9;

impl TokenBucket {
    /// A full bucket for `rate`.
    pub(crate) fn new(rate: Rate, now: Instant) -> Self {
        TokenBucket::with(rate.per_second, rate.burst.into(), now)
    }

    /// A full bucket of `burst` tokens, refilled at `per_second` (a count
    /// of messages, say, or of bytes).
    pub(crate) fn with(per_second: f64, burst: f64, now: Instant) -> Self {
        TokenBucket {
            tokens: burst,
            burst,
            per_second,
            updated: now,
        }
    }

    /// Takes one token if there is one.
    pub(crate) fn try_take(&mut self, now: Instant) -> bool {
        self.take(1, now)
    }

    /// Takes `amount` tokens if there are that many; else takes none.
    pub(crate) fn take(&mut self, amount: usize, now: Instant) -> bool {
        self.refill(now);
        let amount = amount as f64;
        if self.tokens + SLACK >= amount {
            self.tokens = (self.tokens - amount).max(0.0);
            true
        } else {
            false
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        self.updated = now;
    }

    /// True once the bucket has refilled completely: it then holds no
    /// information worth keeping.
    pub(crate) fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.burst
    }
}

/// A sustained rate with a burst allowance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rate {
    pub(crate) per_second: f64,
    pub(crate) burst: u32,
}

impl std::str::FromStr for Rate {
    type Err = String;

    /// `RATE/s` or `RATE/min`, optionally `,burst=N` (the burst defaults to
    /// one second's worth, at least 1): `20/s`, `10/min,burst=5`.
    fn from_str(text: &str) -> Result<Rate, String> {
        let (rate, burst) = match text.split_once(",burst=") {
            Some((rate, burst)) => (rate, Some(burst)),
            None => (text, None),
        };
        let (count, unit) = rate
            .split_once('/')
            .ok_or_else(|| format!("{text}: expected e.g. 20/s or 10/min"))?;
        let count: f64 = count
            .trim()
            .parse()
            .map_err(|_| format!("{text}: {count} is not a number"))?;
        let per_second = match unit.trim() {
            "s" => count,
            "min" => count / 60.0,
            other => return Err(format!("{text}: unit {other} is not s or min")),
        };
        if !(per_second.is_finite() && per_second > 0.0) {
            return Err(format!("{text}: the rate must be positive"));
        }
        let burst = match burst {
            Some(b) => b
                .trim()
                .parse()
                .map_err(|_| format!("{text}: bad burst {b}"))?,
            None => count.ceil().max(1.0) as u32,
        };
        if burst == 0 {
            return Err(format!("{text}: the burst must be at least 1"));
        }
        Ok(Rate { per_second, burst })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn bucket_allows_burst_then_rate() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(
            Rate {
                per_second: 10.0,
                burst: 3,
            },
            t0,
        );
        assert!(bucket.try_take(t0));
        assert!(bucket.try_take(t0));
        assert!(bucket.try_take(t0));
        assert!(!bucket.try_take(t0));
        assert!(!bucket.try_take(at(t0, 50)));
        assert!(bucket.try_take(at(t0, 100)));
        assert!(!bucket.try_take(at(t0, 100)));
        // Refill stops at the burst.
        let later = at(t0, 10_000);
        for _ in 0..3 {
            assert!(bucket.try_take(later));
        }
        assert!(!bucket.try_take(later));
    }

    #[test]
    fn parses_rates() {
        assert_eq!(
            "20/s".parse(),
            Ok(Rate {
                per_second: 20.0,
                burst: 20
            })
        );
        let r: Rate = "30/min,burst=5".parse().unwrap();
        assert_eq!((r.per_second, r.burst), (0.5, 5));
        assert_eq!("0.5/s".parse::<Rate>().unwrap().burst, 1);
        for bad in [
            "",
            "20",
            "x/s",
            "20/h",
            "0/s",
            "-1/s",
            "5/s,burst=0",
            "inf/s",
        ] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
    }
}
