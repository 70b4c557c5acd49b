//! The built-in STUN and TURN server, so that calls connect across NATs and
//! firewalls with nothing else to install.
//!
//! - STUN Binding (RFC 8489) tells a browser its public address.
//! - TURN (RFC 8656) relays media for browsers that cannot reach each other:
//!   allocations, permissions, channels, refreshes and lifetimes, over UDP,
//!   TCP and TLS (the client leg; relayed addresses are UDP); TLS on the
//!   HTTPS port itself, which hands over connections that speak STUN.
//! - Credentials are ephemeral, the TURN REST API scheme of coturn's
//!   `use-auth-secret`: each `welcome` carries a username `<expiry>:<peer>`
//!   and its HMAC password ([`credentials`]). Parlor can hand out such
//!   credentials for an external coturn instead ([`ice`]).
//! - The relay refuses non-public peers unless allow-listed ([`filter`]),
//!   and caps allocations, permissions, channels, lifetimes and bandwidth.
//!
//! Layers: [`stun`] is the message codec; [`auth`], [`credentials`],
//! [`filter`] and [`allocation`] are rules free of I/O and of clocks;
//! [`core`] holds the server's state and request rules, sans I/O; [`server`]
//! is the thin tokio layer that owns the sockets and tasks.
//!
//! Of the modules only [`stun`] and [`credentials`] are public, for tests
//! and tools that speak TURN to the server; the rest of the crate uses the
//! re-exports below.

mod allocation;
mod auth;
mod core;
pub mod credentials;
mod files;
mod filter;
mod ice;
mod metrics;
mod server;
pub mod stun;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

pub(crate) use files::raise_file_limit;
pub(crate) use filter::{Cidr, PeerFilter};
pub(crate) use ice::{IceServers, Turn as IceTurn, TurnsPort};
pub(crate) use metrics::TurnMetrics;
pub(crate) use server::{TLS_ALPN, TurnServer};

use credentials::Secret;

/// The STUN/TURN port of RFC 8489 and RFC 8656.
pub(crate) const DEFAULT_PORT: u16 = 3478;

/// A range of UDP ports, `LOW-HIGH`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PortRange {
    pub(crate) low: u16,
    pub(crate) high: u16,
}

impl PortRange {
    pub(crate) fn parse(text: &str) -> Result<PortRange, String> {
        let (low, high) = text
            .split_once('-')
            .ok_or_else(|| format!("{text:?} is not a port range like 49152-65535"))?;
        let port = |p: &str| {
            p.trim()
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("{p:?} is not a port number from 1 to 65535"))
        };
        let (low, high) = (port(low)?, port(high)?);
        if low > high {
            return Err(format!("the range {text:?} is empty"));
        }
        Ok(PortRange { low, high })
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        usize::from(self.high - self.low) + 1
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.low, self.high)
    }
}

/// Bytes per second: a whole number with an optional SI suffix, k, M or G
/// (powers of 1000), e.g. `500k`, `10M`; `0` means no limit.
pub(crate) fn parse_byte_rate(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, factor) = match text.char_indices().last() {
        Some((i, 'k' | 'K')) => (&text[..i], 1_000),
        Some((i, 'M' | 'm')) => (&text[..i], 1_000_000),
        Some((i, 'G' | 'g')) => (&text[..i], 1_000_000_000),
        _ => (text, 1),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or_else(|| format!("{text:?} is not a rate like 500k or 10M (bytes per second)"))
}

/// Everything the built-in server needs, resolved from the flags once at
/// start (see `config`).
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) listen: SocketAddr,
    pub(crate) external_ip: Option<IpAddr>,
    pub(crate) relay_ports: PortRange,
    pub(crate) realm: String,
    pub(crate) secret: Secret,
    pub(crate) filter: PeerFilter,
    pub(crate) max_allocations: usize,
    pub(crate) user_allocations: usize,
    /// Most allocations at once from one client address (an IPv4 address,
    /// or an IPv6 /64), whatever users they are made for.
    pub(crate) address_allocations: usize,
    /// Bytes per second per user; 0 for no limit.
    pub(crate) user_bandwidth: u64,
    /// Bytes per second per client address, its users together; 0 for no
    /// limit.
    pub(crate) address_bandwidth: u64,
    pub(crate) max_lifetime: Duration,
    /// Most TCP connections at once from one client address.
    pub(crate) tcp_per_ip: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges() {
        assert_eq!(
            PortRange::parse("49152-65535"),
            Ok(PortRange {
                low: 49152,
                high: 65535
            })
        );
        assert_eq!(PortRange::parse("5000-5000").unwrap().len(), 1);
        for bad in ["", "5000", "0-10", "10-5", "1-70000", "a-b", "-5"] {
            assert!(PortRange::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn byte_rates() {
        assert_eq!(parse_byte_rate("0"), Ok(0));
        assert_eq!(parse_byte_rate("1500"), Ok(1500));
        assert_eq!(parse_byte_rate("500k"), Ok(500_000));
        assert_eq!(parse_byte_rate("10M"), Ok(10_000_000));
        assert_eq!(parse_byte_rate("2G"), Ok(2_000_000_000));
        for bad in ["", "M", "1.5M", "-1", "10T", "99999999999999999999"] {
            assert!(parse_byte_rate(bad).is_err(), "{bad:?}");
        }
    }
}
