//! Which peers the relay may talk to.
//!
//! A TURN relay sends packets wherever its clients ask, from the server's own
//! network position. Left open, it lets anyone with credentials reach the
//! server's loopback services and its private network (CVE-2020-26262 in
//! coturn). So by default the relay refuses peers in every range that is not
//! globally routable: unspecified, loopback, private (RFC 1918, shared
//! address space, unique local), link-local, multicast, broadcast and
//! reserved, for IPv4 and IPv6, including IPv4 addresses wrapped in IPv6
//! (mapped, compatible, 6to4, NAT64). An explicit allow-list of CIDR ranges
//! opens chosen ranges again, for tests on loopback and for LAN deployments.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

/// An address range such as `10.0.0.0/8` or `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn new(ip: IpAddr, prefix: u8) -> Option<Cidr> {
        let bits = match ip {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        (prefix <= bits).then(|| Cidr {
            network: mask(ip, prefix),
            prefix,
        })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4-mapped IPv6 address is the IPv4 address it wraps.
        let ip = ip.to_canonical();
        match (self.network, ip) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                mask(ip, self.prefix) == self.network
            }
            _ => false,
        }
    }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(v4) & m))
        }
        IpAddr::V6(v6) => {
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & m))
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl FromStr for Cidr {
    type Err = String;

    /// `ADDRESS/PREFIX`, or a bare address for a single host. Host bits
    /// below the prefix are cleared (`127.0.0.1/8` is `127.0.0.0/8`).
    fn from_str(text: &str) -> Result<Cidr, String> {
        let text = text.trim();
        let (ip, prefix) = match text.split_once('/') {
            Some((ip, prefix)) => (ip, Some(prefix)),
            None => (text, None),
        };
        let ip: IpAddr = ip
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| format!("{text:?} is not an IP address or CIDR range"))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text:?}: the prefix length must be 0 to {max}"))?,
        };
        Cidr::new(ip, prefix).ok_or_else(|| format!("{text:?} is not a CIDR range"))
    }
}

/// The relay's peer policy: refuse non-global addresses unless allow-listed.
#[derive(Debug, Clone, Default)]
pub struct PeerFilter {
    allowed: Vec<Cidr>,
}

impl PeerFilter {
    pub fn new(allowed: Vec<Cidr>) -> Self {
        PeerFilter { allowed }
    }

    /// Whether the relay may exchange packets with `ip`.
    pub fn permits(&self, ip: IpAddr) -> bool {
        self.is_allow_listed(ip) || is_global(ip)
    }

    fn is_allow_listed(&self, ip: IpAddr) -> bool {
        self.allowed.iter().any(|cidr| cidr.contains(ip))
    }
}

/// The server's own addresses (where it listens, relays from and is
/// advertised), which the relay must not reach: from there a client could
/// talk to the TURN port itself, or to any other service of the machine.
/// Only relayed addresses of other allocations (ports in the relay range)
/// stay reachable, so that two clients of this server can relay to each
/// other; other ports only when the operator allow-listed the address.
/// The TURN port itself never.
#[derive(Debug, Clone)]
pub struct OwnAddresses {
    ips: Vec<IpAddr>,
    turn_port: u16,
    relay_ports: (u16, u16),
}

impl OwnAddresses {
    pub fn new(turn_port: u16, relay_ports: (u16, u16)) -> Self {
        OwnAddresses {
            ips: Vec::new(),
            turn_port,
            relay_ports,
        }
    }

    /// Adds one of the server's addresses; the unspecified ones are not
    /// addresses and are skipped.
    pub fn add(&mut self, ip: IpAddr) {
        let ip = ip.to_canonical();
        if !ip.is_unspecified() && !self.ips.contains(&ip) {
            self.ips.push(ip);
        }
    }

    /// Whether the relay may send to `peer`, as far as the server's own
    /// addresses go.
    pub fn permits(&self, peer: SocketAddr, filter: &PeerFilter) -> bool {
        let ip = peer.ip().to_canonical();
        if !self.ips.contains(&ip) {
            return true;
        }
        let port = peer.port();
        if port == self.turn_port {
            return false;
        }
        (self.relay_ports.0..=self.relay_ports.1).contains(&port) || filter.is_allow_listed(ip)
    }
}

/// Whether `ip` is outside every range refused by default.
pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => is_global_v6(v6),
    }
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    // The IANA IPv4 Special-Purpose Address Registry, every block not
    // marked globally reachable, plus multicast and the 6to4 relay anycast
    // block (RFC 7526, deprecated).
    let [a, b, c, _] = ip.octets();
    !(a == 0 // "this network", including the unspecified address
        || a == 10 // private
        || a == 127 // loopback
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 169 && b == 254) // link-local
        || (a == 172 && (16..32).contains(&b)) // private
        || (a == 192 && b == 168) // private
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // documentation (TEST-NET-1)
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast, deprecated
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // documentation (TEST-NET-2)
        || (a == 203 && b == 0 && c == 113) // documentation (TEST-NET-3)
        || a >= 224) // multicast, reserved, broadcast
}

fn is_global_v6(ip: Ipv6Addr) -> bool {
    // The IANA IPv6 Special-Purpose Address Registry, every block not
    // marked globally reachable, plus multicast and the deprecated
    // site-local and IPv4-compatible ranges. Of the blocks that carry an
    // IPv4 address, NAT64 (64:ff9b::/96) and 6to4 (2002::/16) reach it, so
    // they are judged by that address.
    let segments = ip.segments();
    let octets = ip.octets();
    let embedded_v4 =
        |at: usize| Ipv4Addr::new(octets[at], octets[at + 1], octets[at + 2], octets[at + 3]);
    if ip.is_unspecified() || ip.is_loopback() {
        return false;
    }
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_global_v4(embedded_v4(12));
    }
    if segments[0] == 0x2002 {
        return is_global_v4(embedded_v4(2));
    }
    !(segments[..5] == [0, 0, 0, 0, 0] // IPv4-mapped (::ffff:0:0/96) and -compatible
        || segments[..3] == [0x64, 0xff9b, 1] // local-use IPv4/IPv6 translation
        || segments[..4] == [0x100, 0, 0, 0] // discard-only
        || segments[..4] == [0x100, 0, 0, 1] // dummy IPv6 prefix
        || (segments[0] == 0x2001 && segments[1] < 0x200) // IETF protocol assignments, Teredo
        || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation
        || (segments[0] == 0x3fff && segments[1] < 0x1000) // documentation
        || segments[0] == 0x5f00 // segment routing (SRv6) SIDs
        || (segments[0] & 0xfe00) == 0xfc00 // unique local
        || (segments[0] & 0xffc0) == 0xfe80 // link-local
        || (segments[0] & 0xffc0) == 0xfec0 // site-local, deprecated
        || (segments[0] & 0xff00) == 0xff00) // multicast
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn refuses_non_global_ranges_by_default() {
        let filter = PeerFilter::default();
        for refused in [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "127.255.255.254",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "::",
            "::1",
            "fe80::1",
            "fd00::1",
            "fc00::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "2002:c0a8:101::1",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.254",
            "192.88.99.1",
            "::ffff:8.8.8.8",
            "64:ff9b:1::808:808",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:1ff::1",
            "3fff::1",
            "3fff:fff::1",
            "5f00::1",
            "100:0:0:1::1",
            "2002:c000:0201::1",
        ] {
            assert!(!filter.permits(ip(refused)), "{refused} must be refused");
        }
    }

    #[test]
    fn permits_global_addresses() {
        let filter = PeerFilter::default();
        for allowed in [
            "1.1.1.1",
            "8.8.4.4",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "11.0.0.1",
            "193.0.0.1",
            "2a00:1450:4001:80b::200e",
            "2606:4700::1111",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "192.0.3.1",
            "198.51.101.1",
            "203.0.112.1",
            "192.88.98.1",
            "2001:200::1",
            "3fff:1000::1",
            "5f01::1",
        ] {
            assert!(filter.permits(ip(allowed)), "{allowed} must be allowed");
        }
    }

    #[test]
    fn own_addresses_are_refused_but_for_relayed_ones() {
        let mut own = OwnAddresses::new(3478, (49152, 65535));
        own.add(ip("0.0.0.0"));
        own.add(ip("8.8.8.8"));
        own.add(ip("2606:4700::1"));
        let open = PeerFilter::default();
        let peer = |text: &str| text.parse::<SocketAddr>().unwrap();
        for refused in [
            "8.8.8.8:3478",
            "8.8.8.8:22",
            "8.8.8.8:443",
            "[::ffff:8.8.8.8]:80",
            "[2606:4700::1]:3478",
            "[2606:4700::1]:8080",
        ] {
            assert!(
                !own.permits(peer(refused), &open),
                "{refused} must be refused"
            );
        }
        for allowed in [
            "8.8.8.8:49152",
            "8.8.8.8:65535",
            "[2606:4700::1]:50000",
            "8.8.4.4:3478",
            "0.0.0.0:80",
        ] {
            assert!(
                own.permits(peer(allowed), &open),
                "{allowed} must be allowed"
            );
        }
        // An allow-listed own address opens its other ports, never the
        // TURN port.
        let lan = PeerFilter::new(vec!["8.8.8.8/32".parse().unwrap()]);
        assert!(own.permits(peer("8.8.8.8:8080"), &lan));
        assert!(!own.permits(peer("8.8.8.8:3478"), &lan));
    }

    #[test]
    fn allow_list_opens_chosen_ranges() {
        let filter = PeerFilter::new(vec![
            "127.0.0.0/8".parse().unwrap(),
            "fd00::/8".parse().unwrap(),
        ]);
        assert!(filter.permits(ip("127.0.0.1")));
        assert!(filter.permits(ip("127.9.9.9")));
        assert!(filter.permits(ip("::ffff:127.0.0.1")));
        assert!(filter.permits(ip("fd12::1")));
        assert!(!filter.permits(ip("10.0.0.1")));
        assert!(!filter.permits(ip("::1")));
        assert!(!filter.permits(ip("fe80::1")));
        let lan = PeerFilter::new(vec!["192.168.1.0/24".parse().unwrap()]);
        assert!(lan.permits(ip("192.168.1.200")));
        assert!(!lan.permits(ip("192.168.2.1")));
        let everything =
            PeerFilter::new(vec!["0.0.0.0/0".parse().unwrap(), "::/0".parse().unwrap()]);
        assert!(everything.permits(ip("127.0.0.1")));
        assert!(everything.permits(ip("::1")));
    }

    #[test]
    fn parses_cidrs() {
        assert_eq!(
            "127.0.0.0/8".parse::<Cidr>().unwrap().to_string(),
            "127.0.0.0/8"
        );
        assert_eq!(
            "127.0.0.1/8".parse::<Cidr>().unwrap().to_string(),
            "127.0.0.0/8"
        );
        assert_eq!(
            "10.1.2.3".parse::<Cidr>().unwrap().to_string(),
            "10.1.2.3/32"
        );
        assert_eq!(" ::1 ".parse::<Cidr>().unwrap().to_string(), "::1/128");
        assert_eq!(
            "[fd00::]/8".parse::<Cidr>().unwrap().to_string(),
            "fd00::/8"
        );
        assert_eq!(
            "0.0.0.0/0".parse::<Cidr>().unwrap().to_string(),
            "0.0.0.0/0"
        );
        assert_eq!(
            "2001:db8::/32".parse::<Cidr>().unwrap().to_string(),
            "2001:db8::/32"
        );
        for bad in [
            "",
            "/8",
            "127.0.0.0/33",
            "::/129",
            "127.0.0.0/-1",
            "127.0.0/8",
            "host/8",
            "1.2.3.4/x",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cidr_families_do_not_mix() {
        let v4: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(v4.contains(ip("1.2.3.4")));
        assert!(v4.contains(ip("::ffff:1.2.3.4")));
        assert!(!v4.contains(ip("2001:db8::1")));
        let v6: Cidr = "::/0".parse().unwrap();
        assert!(!v6.contains(ip("1.2.3.4")));
    }
}
