//! The state of one allocation (RFC 8656): its lifetime, permissions and
//! channel bindings, plus the bucket that caps a user's bandwidth.
//! Free of I/O and of clocks: every operation is told `now`, so the rules of
//! time are tested without waiting.
//!
//! Permissions and channels are kept in small vectors with a hard cap: a
//! browser uses a handful, a linear scan of a few entries beats hashing, and
//! the cap bounds memory whatever a client asks for.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::limits::TokenBucket;

/// A permission lasts 300 s unless refreshed (RFC 8656 section 9).
pub const PERMISSION_LIFETIME: Duration = Duration::from_secs(300);
/// A channel binding lasts 600 s unless refreshed (section 12).
pub const CHANNEL_LIFETIME: Duration = Duration::from_secs(600);
/// After a binding expires, its number and its peer stay reserved for
/// another 300 s, so that late packets are not misdelivered (section 12).
pub const CHANNEL_QUARANTINE: Duration = Duration::from_secs(300);
/// The lifetime given when the client asks for none or for less.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(600);

/// Caps on one allocation's tables.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    pub permissions: usize,
    pub channels: usize,
}

impl Default for Caps {
    fn default() -> Self {
        Caps {
            permissions: 64,
            channels: 64,
        }
    }
}

/// Why a channel cannot be bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindError {
    /// The number is bound to another peer, or the peer to another number.
    Conflict,
    /// The allocation has as many channels as it may.
    Full,
}

#[derive(Debug, Clone, Copy)]
struct Channel {
    number: u16,
    peer: SocketAddr,
    expires: Instant,
}

#[derive(Debug, Clone)]
pub struct Allocation {
    expires: Instant,
    caps: Caps,
    permissions: Vec<(IpAddr, Instant)>,
    channels: Vec<Channel>,
}

/// The lifetime to grant for a request asking `requested` (RFC 8656
/// section 7.2): the request capped at `max`, but never less than the
/// default (or `max`, if that is smaller).
pub fn granted_lifetime(requested: Option<Duration>, max: Duration) -> Duration {
    let floor = DEFAULT_LIFETIME.min(max);
    requested.unwrap_or(DEFAULT_LIFETIME).min(max).max(floor)
}

impl Allocation {
    pub fn new(now: Instant, lifetime: Duration, caps: Caps) -> Self {
        Allocation {
            expires: now + lifetime,
            caps,
            permissions: Vec::new(),
            channels: Vec::new(),
        }
    }

    pub fn is_expired(&self, now: Instant) -> bool {
        now >= self.expires
    }

    /// Seconds left, for the LIFETIME attribute.
    pub fn remaining_secs(&self, now: Instant) -> u32 {
        self.expires
            .saturating_duration_since(now)
            .as_secs()
            .min(u32::MAX.into()) as u32
    }

    pub fn refresh(&mut self, now: Instant, lifetime: Duration) {
        self.expires = now + lifetime;
    }

    /// Whether packets from and to `ip` may pass.
    pub fn permits(&self, ip: IpAddr, now: Instant) -> bool {
        self.permissions
            .iter()
            .any(|(p, expires)| *p == ip && now < *expires)
    }

    /// Whether installing permissions for all of `ips` would fit.
    pub fn can_permit(&self, ips: &[IpAddr], now: Instant) -> bool {
        let live = self.permissions.iter().filter(|(_, e)| now < *e);
        let existing: Vec<IpAddr> = live.map(|(ip, _)| *ip).collect();
        let mut new: Vec<IpAddr> = ips
            .iter()
            .copied()
            .filter(|ip| !existing.contains(ip))
            .collect();
        new.sort_unstable();
        new.dedup();
        existing.len() + new.len() <= self.caps.permissions
    }

    /// Installs or refreshes the permission for `ip`; false if the table is
    /// full.
    pub fn permit(&mut self, ip: IpAddr, now: Instant) -> bool {
        let expires = now + PERMISSION_LIFETIME;
        if let Some(entry) = self.permissions.iter_mut().find(|(p, _)| *p == ip) {
            entry.1 = expires;
            return true;
        }
        if self.permissions.len() >= self.caps.permissions {
            self.permissions.retain(|(_, e)| now < *e);
            if self.permissions.len() >= self.caps.permissions {
                return false;
            }
        }
        self.permissions.push((ip, expires));
        true
    }

    /// Binds (or refreshes) `number` to `peer`, and installs or refreshes
    /// the permission for the peer's address, as ChannelBind does.
    pub fn bind_channel(
        &mut self,
        number: u16,
        peer: SocketAddr,
        now: Instant,
    ) -> Result<(), BindError> {
        let quarantine_over = |c: &Channel| now >= c.expires + CHANNEL_QUARANTINE;
        self.channels.retain(|c| !quarantine_over(c));
        let by_number = self.channels.iter().position(|c| c.number == number);
        let by_peer = self.channels.iter().position(|c| c.peer == peer);
        let index = match (by_number, by_peer) {
            (Some(a), Some(b)) if a == b => Some(a),
            (None, None) => None,
            _ => return Err(BindError::Conflict),
        };
        let new_permission = !self
            .permissions
            .iter()
            .any(|(ip, e)| *ip == peer.ip() && now < *e);
        if index.is_none() && self.channels.len() >= self.caps.channels
            || new_permission && !self.can_permit(&[peer.ip()], now)
        {
            return Err(BindError::Full);
        }
        let expires = now + CHANNEL_LIFETIME;
        match index {
            Some(i) => self.channels[i].expires = expires,
            None => self.channels.push(Channel {
                number,
                peer,
                expires,
            }),
        }
        let permitted = self.permit(peer.ip(), now);
        debug_assert!(permitted, "room was checked above");
        Ok(())
    }

    /// The peer a live binding of `number` leads to.
    pub fn channel_peer(&self, number: u16, now: Instant) -> Option<SocketAddr> {
        self.channels
            .iter()
            .find(|c| c.number == number && now < c.expires)
            .map(|c| c.peer)
    }

    /// The channel live-bound to `peer`, if any.
    pub fn channel_for(&self, peer: SocketAddr, now: Instant) -> Option<u16> {
        self.channels
            .iter()
            .find(|c| c.peer == peer && now < c.expires)
            .map(|c| c.number)
    }

    /// Forgets expired permissions and channels past their quarantine.
    pub fn prune(&mut self, now: Instant) {
        self.permissions.retain(|(_, e)| now < *e);
        self.channels
            .retain(|c| now < c.expires + CHANNEL_QUARANTINE);
    }

    #[cfg(test)]
    pub fn permission_count(&self) -> usize {
        self.permissions.len()
    }

    #[cfg(test)]
    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }
}

/// A user's bandwidth: `rate` bytes per second, in bursts of up to a second's
/// worth (at least 64 KiB, a whole datagram).
pub(crate) fn bandwidth_bucket(rate: u64, now: Instant) -> TokenBucket {
    TokenBucket::with(rate as f64, rate.max(64 * 1024) as f64, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn lifetimes_follow_rfc8656() {
        let max = secs(3600);
        assert_eq!(granted_lifetime(None, max), secs(600));
        assert_eq!(granted_lifetime(Some(secs(30)), max), secs(600));
        assert_eq!(granted_lifetime(Some(secs(1200)), max), secs(1200));
        assert_eq!(granted_lifetime(Some(secs(999_999)), max), secs(3600));
        assert_eq!(granted_lifetime(Some(secs(1200)), secs(300)), secs(300));
        assert_eq!(granted_lifetime(None, secs(300)), secs(300));
    }

    #[test]
    fn allocation_expires_and_refreshes() {
        let t0 = Instant::now();
        let mut a = Allocation::new(t0, secs(600), Caps::default());
        assert!(!a.is_expired(t0 + secs(599)));
        assert!(a.is_expired(t0 + secs(600)));
        assert_eq!(a.remaining_secs(t0 + secs(100)), 500);
        a.refresh(t0 + secs(500), secs(600));
        assert!(!a.is_expired(t0 + secs(1099)));
        assert!(a.is_expired(t0 + secs(1100)));
        assert_eq!(a.remaining_secs(t0 + secs(5000)), 0);
    }

    #[test]
    fn permissions_are_per_ip_and_expire() {
        let t0 = Instant::now();
        let mut a = Allocation::new(t0, secs(600), Caps::default());
        let peer = addr("198.51.100.1:4000");
        assert!(!a.permits(peer.ip(), t0));
        assert!(a.permit(peer.ip(), t0));
        // Any port of that address.
        assert!(a.permits(addr("198.51.100.1:1").ip(), t0 + secs(299)));
        assert!(!a.permits(addr("198.51.100.2:4000").ip(), t0));
        assert!(!a.permits(peer.ip(), t0 + secs(300)));
        // Refreshing extends it.
        assert!(a.permit(peer.ip(), t0 + secs(200)));
        assert!(a.permits(peer.ip(), t0 + secs(499)));
        assert_eq!(a.permission_count(), 1);
    }

    #[test]
    fn permission_table_is_capped_but_reuses_expired_slots() {
        let t0 = Instant::now();
        let caps = Caps {
            permissions: 2,
            channels: 2,
        };
        let mut a = Allocation::new(t0, secs(600), caps);
        let ip = |n: u8| IpAddr::from([198, 51, 100, n]);
        assert!(a.permit(ip(1), t0));
        assert!(a.permit(ip(2), t0));
        assert!(!a.permit(ip(3), t0));
        assert!(a.permit(ip(2), t0), "refreshing is not growing");
        assert!(!a.can_permit(&[ip(3)], t0));
        assert!(a.can_permit(&[ip(1), ip(2)], t0));
        // Once the first two expire, there is room again.
        assert!(a.can_permit(&[ip(3), ip(4)], t0 + secs(300)));
        assert!(a.permit(ip(3), t0 + secs(300)));
        assert_eq!(a.permission_count(), 1);
    }

    #[test]
    fn channel_binding_rules() {
        let t0 = Instant::now();
        let mut a = Allocation::new(t0, secs(3600), Caps::default());
        let p1 = addr("198.51.100.1:4000");
        let p2 = addr("198.51.100.1:4001");
        assert_eq!(a.bind_channel(0x4000, p1, t0), Ok(()));
        // Binding installs the permission.
        assert!(a.permits(p1.ip(), t0));
        assert_eq!(a.channel_peer(0x4000, t0), Some(p1));
        assert_eq!(a.channel_for(p1, t0), Some(0x4000));
        assert_eq!(a.channel_for(p2, t0), None);
        // Same pair again: a refresh.
        assert_eq!(a.bind_channel(0x4000, p1, t0 + secs(500)), Ok(()));
        // The number to another peer, or the peer to another number: no.
        assert_eq!(a.bind_channel(0x4000, p2, t0), Err(BindError::Conflict));
        assert_eq!(a.bind_channel(0x4001, p1, t0), Err(BindError::Conflict));
        assert_eq!(a.bind_channel(0x4001, p2, t0), Ok(()));
        // Expiry, then quarantine, then free again.
        let expired = t0 + secs(500) + CHANNEL_LIFETIME;
        assert_eq!(a.channel_peer(0x4000, expired), None);
        assert_eq!(a.channel_for(p1, expired), None);
        assert_eq!(
            a.bind_channel(0x4000, p2, expired),
            Err(BindError::Conflict)
        );
        // The same pair may be re-bound during quarantine.
        assert_eq!(a.bind_channel(0x4000, p1, expired), Ok(()));
        let later = expired + CHANNEL_LIFETIME + CHANNEL_QUARANTINE;
        a.prune(later);
        assert_eq!(a.channel_count(), 0);
        assert_eq!(a.permission_count(), 0);
        assert_eq!(a.bind_channel(0x4000, p2, later), Ok(()));
    }

    #[test]
    fn channel_table_is_capped() {
        let t0 = Instant::now();
        let caps = Caps {
            permissions: 8,
            channels: 2,
        };
        let mut a = Allocation::new(t0, secs(600), caps);
        assert_eq!(a.bind_channel(0x4000, addr("198.51.100.1:1"), t0), Ok(()));
        assert_eq!(a.bind_channel(0x4001, addr("198.51.100.1:2"), t0), Ok(()));
        assert_eq!(
            a.bind_channel(0x4002, addr("198.51.100.1:3"), t0),
            Err(BindError::Full)
        );
        // A full permission table stops a channel to a new address too.
        let caps = Caps {
            permissions: 1,
            channels: 8,
        };
        let mut a = Allocation::new(t0, secs(600), caps);
        assert_eq!(a.bind_channel(0x4000, addr("198.51.100.1:1"), t0), Ok(()));
        assert_eq!(
            a.bind_channel(0x4001, addr("198.51.100.2:1"), t0),
            Err(BindError::Full)
        );
        assert_eq!(a.bind_channel(0x4001, addr("198.51.100.1:2"), t0), Ok(()));
    }

    #[test]
    fn token_bucket_limits_rate() {
        let t0 = Instant::now();
        let mut bucket = bandwidth_bucket(100_000, t0);
        // A full second's burst first.
        assert!(bucket.take(100_000, t0));
        assert!(!bucket.take(1, t0));
        // Then 100 bytes per millisecond.
        assert!(bucket.take(100, t0 + Duration::from_millis(1)));
        assert!(!bucket.take(1, t0 + Duration::from_millis(1)));
        assert!(bucket.take(1000, t0 + Duration::from_millis(11)));
        // Never more than the burst, however long it was idle.
        assert!(!bucket.take(100_001, t0 + secs(100)));
        assert!(bucket.take(100_000, t0 + secs(100)));
        // Small rates still let a normal packet through.
        let mut small = bandwidth_bucket(1, t0);
        assert!(small.take(1500, t0));
    }
}
