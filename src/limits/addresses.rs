//! Per-address limits: connection caps and the room-creation rate, so that
//! one address cannot take the server for itself. [`AddressTable`] is the
//! rules, plain data driven by the time passed in; [`AddressGate`] is the
//! table behind a lock, as the HTTP layer uses it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use super::{Rate, TokenBucket};

/// Per-address state: open connections and a room-creation bucket.
#[derive(Debug)]
struct Address {
    connections: u32,
    room_creations: TokenBucket,
}

/// Connection caps and the room-creation rate, per client address.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AddressLimits {
    pub(crate) max_connections: u32,
    pub(crate) max_connections_per_address: u32,
    pub(crate) room_creation_rate: Rate,
    /// Whether loopback clients are limited per address too. Off by default:
    /// behind a reverse proxy on the same machine every client would share
    /// one loopback address, and local tools and tests are trusted.
    pub(crate) limit_loopback: bool,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnectionRefused {
    ServerFull,
    AddressFull,
}

/// Counts per client address. An entry lives while it has a connection or
/// a bucket that is not yet full, so the table cannot outgrow the number of
/// active addresses.
#[derive(Debug)]
pub(crate) struct AddressTable {
    limits: AddressLimits,
    connections: u32,
    addresses: HashMap<IpAddr, Address>,
}

impl AddressTable {
    pub(crate) fn new(limits: AddressLimits) -> Self {
        AddressTable {
            limits,
            connections: 0,
            addresses: HashMap::new(),
        }
    }

    /// Whether `ip` (already a [`client_key`]) escapes the per-address caps.
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
    pub(crate) fn open_connection(
        &mut self,
        ip: IpAddr,
        now: Instant,
    ) -> Result<(), ConnectionRefused> {
        let ip = client_key(ip);
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

    pub(crate) fn close_connection(&mut self, ip: IpAddr, now: Instant) {
        let ip = client_key(ip);
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
    pub(crate) fn create_room(&mut self, ip: IpAddr, now: Instant) -> bool {
        let ip = client_key(ip);
        self.is_exempt(ip) || self.entry(ip, now).room_creations.try_take(now)
    }

    /// Drops entries that hold nothing: no connection, a full bucket.
    pub(crate) fn prune(&mut self, now: Instant) {
        self.addresses
            .retain(|_, a| a.connections > 0 || !a.room_creations.is_full(now));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.addresses.len()
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.addresses.is_empty()
    }
}

/// The address a client is counted under: IPv4 written as IPv6
/// (`::ffff:127.0.0.1`, as a listener on `[::]` sees IPv4 clients) is the
/// IPv4 address it stands for, and an IPv6 address stands for its /64,
/// because one subscriber is routinely given a whole /64 and could
/// otherwise take a fresh address for each connection.
pub(crate) fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) if !v6.is_loopback() => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        other => other,
    }
}

/// The address table, shared by every HTTP handler; touched only when
/// connections open and close and rooms are created.
pub(crate) struct AddressGate {
    table: Mutex<AddressTable>,
}

impl AddressGate {
    pub(crate) fn new(limits: AddressLimits) -> Arc<Self> {
        Arc::new(AddressGate {
            table: Mutex::new(AddressTable::new(limits)),
        })
    }

    fn table(&self) -> MutexGuard<'_, AddressTable> {
        // Every change is a counter step: a poisoned lock is still sound.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a connection from `ip` against the connection caps; the
    /// returned admission gives the place back when dropped.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Admission, ConnectionRefused> {
        self.table().open_connection(ip, Instant::now())?;
        Ok(Admission {
            gate: self.clone(),
            ip,
        })
    }

    /// Takes a room-creation token for `ip`; false means too many, too fast.
    pub(crate) fn may_create_room(&self, ip: IpAddr) -> bool {
        self.table().create_room(ip, Instant::now())
    }

    /// Forgets addresses that have nothing left to count.
    pub(crate) fn prune(&self) {
        self.table().prune(Instant::now());
    }
}

/// A connection's place under the connection caps, held for its lifetime.
pub(crate) struct Admission {
    gate: Arc<AddressGate>,
    ip: IpAddr,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.gate.table().close_connection(self.ip, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

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

    #[test]
    fn ipv4_written_as_ipv6_is_the_same_client() {
        let t0 = Instant::now();
        let rate = Rate {
            per_second: 1.0,
            burst: 1,
        };
        // A listener on [::] sees IPv4 loopback clients so: still exempt.
        let mapped_loopback: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let mut table = AddressTable::new(limits(10, 1, rate));
        assert_eq!(table.open_connection(mapped_loopback, t0), Ok(()));
        assert_eq!(table.open_connection(mapped_loopback, t0), Ok(()));
        assert!(table.create_room(mapped_loopback, t0));
        assert!(table.create_room(mapped_loopback, t0));
        // And a mapped client address shares the caps of its IPv4 form.
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        let plain: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(table.open_connection(mapped, t0), Ok(()));
        assert_eq!(
            table.open_connection(plain, t0),
            Err(ConnectionRefused::AddressFull)
        );
        assert!(table.create_room(plain, t0));
        assert!(!table.create_room(mapped, t0));
        table.close_connection(plain, t0);
        assert_eq!(table.open_connection(mapped, t0), Ok(()));
    }

    #[test]
    fn ipv6_clients_are_counted_per_64() {
        let t0 = Instant::now();
        let rate = Rate {
            per_second: 1.0,
            burst: 1,
        };
        let mut table = AddressTable::new(limits(10, 1, rate));
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let elsewhere: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(table.open_connection(a, t0), Ok(()));
        assert_eq!(
            table.open_connection(b, t0),
            Err(ConnectionRefused::AddressFull)
        );
        assert_eq!(table.open_connection(elsewhere, t0), Ok(()));
        assert!(table.create_room(b, t0));
        assert!(!table.create_room(a, t0));
        table.close_connection(b, t0);
        assert_eq!(table.open_connection(b, t0), Ok(()));
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
        let other: IpAddr = "2001:db8:0:1::2".parse().unwrap();
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
