//! Limits that keep one client, or one address, from taking the server for
//! itself: a token bucket for message and room-creation rates, and a table
//! of per-address counts. Plain data driven by the time passed in, so the
//! rules are tested without clocks or sockets.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

/// A token bucket: `burst` tokens at most, refilled at `per_second`.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    tokens: f64,
    burst: f64,
    per_second: f64,
    updated: Instant,
}

impl TokenBucket {
    pub fn new(rate: Rate, now: Instant) -> Self {
        TokenBucket {
            tokens: rate.burst as f64,
            burst: rate.burst as f64,
            per_second: rate.per_second,
            updated: now,
        }
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
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
    fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.burst
    }
}

/// A sustained rate with a burst allowance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: u32,
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

/// Per-address state: open connections and a room-creation bucket.
#[derive(Debug)]
struct Address {
    connections: u32,
    room_creations: TokenBucket,
}

/// Connection caps and the room-creation rate, per client address.
#[derive(Debug, Clone, Copy)]
pub struct AddressLimits {
    pub max_connections: u32,
    pub max_connections_per_address: u32,
    pub room_creation_rate: Rate,
    /// Whether loopback clients are limited per address too. Off by default:
    /// behind a reverse proxy on the same machine every client would share
    /// one loopback address, and local tools and tests are trusted.
    pub limit_loopback: bool,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionRefused {
    ServerFull,
    AddressFull,
}

/// Counts per client address. An entry lives while it has a connection or
/// a bucket that is not yet full, so the table cannot outgrow the number of
/// active addresses.
#[derive(Debug)]
pub struct AddressTable {
    limits: AddressLimits,
    connections: u32,
    addresses: HashMap<IpAddr, Address>,
}

impl AddressTable {
    pub fn new(limits: AddressLimits) -> Self {
        AddressTable {
            limits,
            connections: 0,
            addresses: HashMap::new(),
        }
    }

    fn is_exempt(&self, ip: IpAddr) -> bool {
        ip.is_loopback() && !self.limits.limit_loopback
    }

    fn entry(&mut self, ip: IpAddr, now: Instant) -> &mut Address {
        let rate = self.limits.room_creation_rate;
        self.addresses.entry(ip).or_insert_with(|| Address {
            connections: 0,
            room_creations: TokenBucket::new(rate, now),
        })
    }

    /// Counts a new connection from `ip`, or refuses it at a limit.
    pub fn open_connection(&mut self, ip: IpAddr, now: Instant) -> Result<(), ConnectionRefused> {
        if self.connections >= self.limits.max_connections {
            return Err(ConnectionRefused::ServerFull);
        }
        if self.is_exempt(ip) {
            self.connections += 1;
            return Ok(());
        }
        let max = self.limits.max_connections_per_address;
        let address = self.entry(ip, now);
        if address.connections >= max {
            return Err(ConnectionRefused::AddressFull);
        }
        address.connections += 1;
        self.connections += 1;
        Ok(())
    }

    pub fn close_connection(&mut self, ip: IpAddr, now: Instant) {
        if self.is_exempt(ip) {
            self.connections = self.connections.saturating_sub(1);
        } else if let Some(address) = self.addresses.get_mut(&ip) {
            self.connections = self.connections.saturating_sub(1);
            address.connections = address.connections.saturating_sub(1);
            if address.connections == 0 && address.room_creations.is_full(now) {
                self.addresses.remove(&ip);
            }
        }
    }

    /// Takes a room-creation token for `ip`.
    pub fn create_room(&mut self, ip: IpAddr, now: Instant) -> bool {
        self.is_exempt(ip) || self.entry(ip, now).room_creations.try_take(now)
    }

    /// Drops entries that hold nothing: no connection, a full bucket.
    pub fn prune(&mut self, now: Instant) {
        self.addresses
            .retain(|_, a| a.connections > 0 || !a.room_creations.is_full(now));
    }

    pub fn len(&self) -> usize {
        self.addresses.len()
    }

    pub fn is_empty(&self) -> bool {
        self.addresses.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limits(max_connections: u32, per_address: u32, rate: Rate) -> AddressLimits {
        AddressLimits {
            max_connections,
            max_connections_per_address: per_address,
            room_creation_rate: rate,
            limit_loopback: false,
        }
    }

    #[test]
    fn loopback_counts_only_towards_the_total_unless_asked() {
        let t0 = Instant::now();
        let rate = Rate {
            per_second: 1.0,
            burst: 1,
        };
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let mut table = AddressTable::new(limits(3, 1, rate));
        for _ in 0..3 {
            assert_eq!(table.open_connection(local, t0), Ok(()));
            assert!(table.create_room(local, t0));
        }
        assert_eq!(
            table.open_connection(local, t0),
            Err(ConnectionRefused::ServerFull)
        );
        table.close_connection(local, t0);
        assert_eq!(table.open_connection(local, t0), Ok(()));
        assert!(table.is_empty());

        let mut strict = AddressTable::new(AddressLimits {
            limit_loopback: true,
            ..limits(3, 1, rate)
        });
        assert_eq!(strict.open_connection(local, t0), Ok(()));
        assert_eq!(
            strict.open_connection(local, t0),
            Err(ConnectionRefused::AddressFull)
        );
        assert!(strict.create_room(local, t0));
        assert!(!strict.create_room(local, t0));
    }

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

    #[test]
    fn connections_per_address_are_capped_and_released() {
        let t0 = Instant::now();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let mut table = AddressTable::new(limits(
            3,
            2,
            Rate {
                per_second: 1.0,
                burst: 1,
            },
        ));
        assert_eq!(table.open_connection(ip, t0), Ok(()));
        assert_eq!(table.open_connection(ip, t0), Ok(()));
        assert_eq!(
            table.open_connection(ip, t0),
            Err(ConnectionRefused::AddressFull)
        );
        assert_eq!(table.open_connection(other, t0), Ok(()));
        let third: IpAddr = "192.0.2.3".parse().unwrap();
        assert_eq!(
            table.open_connection(third, t0),
            Err(ConnectionRefused::ServerFull)
        );
        table.close_connection(ip, t0);
        assert_eq!(table.open_connection(ip, t0), Ok(()));
        table.close_connection(ip, t0);
        table.close_connection(ip, t0);
        table.close_connection(other, t0);
        assert!(
            table.is_empty(),
            "entries with nothing to remember are dropped"
        );
    }

    #[test]
    fn room_creation_is_rate_limited_per_address() {
        let t0 = Instant::now();
        let ip: IpAddr = "2001:db8::1".parse().unwrap();
        let other: IpAddr = "2001:db8::2".parse().unwrap();
        let mut table = AddressTable::new(limits(
            10,
            10,
            Rate {
                per_second: 1.0,
                burst: 2,
            },
        ));
        assert!(table.create_room(ip, t0));
        assert!(table.create_room(ip, t0));
        assert!(!table.create_room(ip, t0));
        assert!(table.create_room(other, t0));
        assert!(table.create_room(ip, at(t0, 1000)));
        table.prune(at(t0, 1000));
        // `other` has refilled and is dropped; `ip` is still refilling.
        assert_eq!(table.len(), 1);
        table.prune(at(t0, 5000));
        assert!(table.is_empty());
    }
}
