//! Which address a request comes from, behind a reverse proxy. The socket's
//! peer is the proxy; the proxy names the client in `X-Forwarded-For`. That
//! header is whatever the sender wrote, so it is believed only from the
//! proxies the operator lists (`--trust-forwarded-for`), and only as far
//! back as the hops are trusted: a client may write anything at the left of
//! the list, and only the hop that a trusted proxy appended is real.
//!
//! A TCP proxy names the client in a PROXY protocol header instead
//! (`super::proxy_protocol`): that is one more hop, the nearest after the
//! socket's, under the same rule. Everything that counts or logs clients
//! by address asks here.

use std::net::IpAddr;

use axum::http::HeaderMap;

use super::listener::ClientAddr;
use crate::turn::Cidr;

const FORWARDED_FOR: &str = "x-forwarded-for";

/// The client's address: the socket's peer, or when that is a trusted
/// proxy, the nearest hop that is not one, the PROXY header's address
/// first and then `X-Forwarded-For` from its end. Canonical (an IPv4
/// client is never `::ffff:a.b.c.d`).
pub(crate) fn client_ip(addr: &ClientAddr, headers: &HeaderMap, trusted: &[Cidr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|cidr| cidr.contains(ip));
    let mut client = addr.peer.ip().to_canonical();
    if !is_trusted(client) {
        return client;
    }
    if let Some(proxied) = addr.proxied {
        client = proxied.to_canonical();
        if !is_trusted(client) {
            return client;
        }
    }
    // Several headers count as one list, in order.
    let hops: Vec<&str> = headers
        .get_all(FORWARDED_FOR)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .collect();
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            // Garbage where an address should be: the hop before it is the
            // last one known.
            return client;
        };
        client = ip.to_canonical();
        if !is_trusted(client) {
            return client;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    /// A connection from `text`, without a PROXY header.
    fn peer(text: &str) -> ClientAddr {
        ClientAddr::direct(std::net::SocketAddr::new(ip(text), 40000))
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(FORWARDED_FOR, value.parse().unwrap());
        }
        headers
    }

    fn trusted() -> Vec<Cidr> {
        vec![
            "127.0.0.0/8".parse().unwrap(),
            "10.0.0.0/8".parse().unwrap(),
        ]
    }

    #[test]
    fn only_a_trusted_peer_is_believed() {
        let headers = forwarded(&["203.0.113.9"]);
        assert_eq!(
            client_ip(&peer("127.0.0.1"), &headers, &trusted()),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(&peer("::ffff:127.0.0.1"), &headers, &trusted()),
            ip("203.0.113.9"),
            "an IPv4 proxy seen by a [::] listener"
        );
        assert_eq!(
            client_ip(&peer("198.51.100.1"), &headers, &trusted()),
            ip("198.51.100.1")
        );
        assert_eq!(
            client_ip(&peer("127.0.0.1"), &headers, &[]),
            ip("127.0.0.1")
        );
        assert_eq!(
            client_ip(&peer("127.0.0.1"), &HeaderMap::new(), &trusted()),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn what_a_client_wrote_at_the_left_is_ignored() {
        // The client claimed 1.2.3.4; the trusted proxy appended its real
        // address; a second trusted proxy appended the first's.
        let headers = forwarded(&["1.2.3.4, 203.0.113.9", "10.0.0.5"]);
        assert_eq!(
            client_ip(&peer("127.0.0.1"), &headers, &trusted()),
            ip("203.0.113.9")
        );
        let garbage = forwarded(&["1.2.3.4, not-an-address"]);
        assert_eq!(
            client_ip(&peer("127.0.0.1"), &garbage, &trusted()),
            ip("127.0.0.1")
        );
        let mapped = forwarded(&["::ffff:203.0.113.9"]);
        assert_eq!(
            client_ip(&peer("127.0.0.1"), &mapped, &trusted()),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn a_proxy_protocol_header_is_the_nearest_hop() {
        let proxied = |peer_text: &str, client: &str| ClientAddr {
            proxied: Some(ip(client)),
            ..peer(peer_text)
        };
        let none = HeaderMap::new();
        assert_eq!(
            client_ip(&proxied("127.0.0.1", "203.0.113.9"), &none, &trusted()),
            ip("203.0.113.9")
        );
        let claimed = forwarded(&["1.2.3.4"]);
        assert_eq!(
            client_ip(&proxied("127.0.0.1", "203.0.113.9"), &claimed, &trusted()),
            ip("203.0.113.9"),
            "what the client wrote is its own claim"
        );
        assert_eq!(
            client_ip(&proxied("127.0.0.1", "10.0.0.5"), &claimed, &trusted()),
            ip("1.2.3.4"),
            "a trusted HTTP proxy behind the TCP proxy"
        );
        assert_eq!(
            client_ip(
                &proxied("::ffff:127.0.0.1", "::ffff:203.0.113.9"),
                &none,
                &trusted()
            ),
            ip("203.0.113.9")
        );
    }
}
