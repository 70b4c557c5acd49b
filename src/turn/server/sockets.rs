//! Binding: the listening UDP socket and TCP listener on one port, relay
//! sockets, and which address relays bind to and advertise per family.
//! Kept apart so that the socket options (IPv6-only relays, big listening
//! buffers) are in one place.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, UdpSocket};

/// Socket buffer asked for on the listening UDP socket (the kernel caps it).
const LISTEN_BUFFER: usize = 4 * 1024 * 1024;

/// The address relay sockets of one family bind to, and the one clients
/// are told.
#[derive(Debug, Clone, Copy)]
pub(super) struct RelayIp {
    pub(super) bind: IpAddr,
    pub(super) advertise: IpAddr,
}

/// Binds a UDP socket and a TCP listener on the same address and port.
pub(super) fn bind_pair(addr: SocketAddr) -> io::Result<(UdpSocket, TcpListener)> {
    let attempts = if addr.port() == 0 { 32 } else { 1 };
    let mut last_error = None;
    for _ in 0..attempts {
        let udp = udp_socket(addr, true)?;
        let bound = udp.local_addr()?;
        match std::net::TcpListener::bind(bound) {
            Ok(tcp) => {
                tcp.set_nonblocking(true)?;
                return Ok((UdpSocket::from_std(udp)?, TcpListener::from_std(tcp)?));
            }
            Err(err) => last_error = Some(err),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::other("cannot bind TCP")))
}

/// A non-blocking UDP socket bound to `addr`; IPv6 sockets are IPv6-only,
/// so that an IPv4 peer never shows up on an IPv6 relay.
pub(super) fn udp_socket(addr: SocketAddr, listener: bool) -> io::Result<std::net::UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        // A listening socket on [::] takes IPv4 clients too.
        socket.set_only_v6(!(listener && addr.ip().is_unspecified()))?;
    }
    if listener {
        let _ = socket.set_recv_buffer_size(LISTEN_BUFFER);
        let _ = socket.set_send_buffer_size(LISTEN_BUFFER);
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// Which addresses relay sockets bind to and advertise, per family.
pub(super) fn relay_ips(
    listen: IpAddr,
    external: Option<IpAddr>,
) -> (Option<RelayIp>, Option<RelayIp>) {
    let v4_bind = match listen {
        IpAddr::V4(ip) => Some(IpAddr::V4(ip)),
        IpAddr::V6(ip) if ip.is_unspecified() => Some(Ipv4Addr::UNSPECIFIED.into()),
        IpAddr::V6(_) => None,
    };
    let v6_bind = match listen {
        IpAddr::V6(ip) => Some(IpAddr::V6(ip)),
        IpAddr::V4(_) => None,
    };
    let advertise = |bind: IpAddr| -> Option<IpAddr> {
        match external {
            Some(ext) if ext.is_ipv4() == bind.is_ipv4() => Some(ext),
            _ if !bind.is_unspecified() => Some(bind),
            _ => primary_ip(bind.is_ipv4()),
        }
    };
    let relay = |bind: Option<IpAddr>| {
        let bind = bind?;
        Some(RelayIp {
            bind,
            advertise: advertise(bind)?,
        })
    };
    (relay(v4_bind), relay(v6_bind))
}

/// The source address this machine would use towards the Internet: found
/// by asking the routing table (connecting a UDP socket sends nothing).
fn primary_ip(v4: bool) -> Option<IpAddr> {
    let (local, remote): (SocketAddr, SocketAddr) = if v4 {
        (
            (Ipv4Addr::UNSPECIFIED, 0).into(),
            (Ipv4Addr::new(192, 0, 2, 1), 9).into(),
        )
    } else {
        (
            (Ipv6Addr::UNSPECIFIED, 0).into(),
            (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), 9).into(),
        )
    };
    let socket = std::net::UdpSocket::bind(local).ok()?;
    match socket.connect(remote).and_then(|()| socket.local_addr()) {
        Ok(addr) => Some(addr.ip()),
        Err(_) if v4 => Some(Ipv4Addr::LOCALHOST.into()),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_addresses_per_family() {
        let (v4, v6) = relay_ips("127.0.0.1".parse().unwrap(), None);
        assert_eq!(
            v4.unwrap().advertise,
            "127.0.0.1".parse::<IpAddr>().unwrap()
        );
        assert!(v6.is_none());
        let (v4, v6) = relay_ips(
            "127.0.0.1".parse().unwrap(),
            Some("203.0.113.1".parse().unwrap()),
        );
        assert_eq!(v4.unwrap().bind, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(
            v4.unwrap().advertise,
            "203.0.113.1".parse::<IpAddr>().unwrap()
        );
        assert!(v6.is_none());
        let (v4, v6) = relay_ips("::1".parse().unwrap(), None);
        assert!(v4.is_none());
        assert_eq!(v6.unwrap().advertise, "::1".parse::<IpAddr>().unwrap());
        let (v4, _) = relay_ips("::".parse().unwrap(), None);
        assert_eq!(v4.unwrap().bind, IpAddr::from(Ipv4Addr::UNSPECIFIED));
        assert!(!v4.unwrap().advertise.is_unspecified());
    }
}
