//! The PROXY protocol (HAProxy's, v1 text and v2 binary) on the web port.
//! A TCP proxy (HAProxy, a cloud load balancer) that passes connections on
//! untouched cannot add `X-Forwarded-For`; it writes the client's address
//! in a header before the connection's first byte instead (before the TLS
//! ClientHello on HTTPS). With `--proxy-protocol`, a connection from an
//! address in `--trust-forwarded-for` must open with that header; one from
//! anyone else may not (it could claim any address) and is served by its
//! socket address when it sends none.
//!
//! [`parse`] reads a header from bytes and owns no socket; [`ProxyProtocol`]
//! is the thin shell that reads them, within the HTTP request timeout, into
//! a buffer of [`V1_MAX`] bytes, and hands what follows the header on
//! untouched.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

use super::listener::ClientAddr;
use super::sniff::Prefixed;
use crate::turn::Cidr;

/// The longest v1 header, its CRLF included (the spec's bound).
const V1_MAX: usize = 107;
const V1_START: &[u8] = b"PROXY ";
const V2_SIGNATURE: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";
/// The v2 fixed part: signature, version and command, family, length.
const V2_FIXED: usize = 16;

/// A header read in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// The client, or `None` when the proxy names none (v1 `UNKNOWN`, v2
    /// `LOCAL`, a family other than IPv4 and IPv6): the connection is then
    /// its own socket's.
    pub(crate) source: Option<SocketAddr>,
    /// The header's length in bytes; what follows is the client's. May be
    /// more than was parsed: v2 TLVs are skipped unread.
    pub(crate) len: usize,
}

/// What the first bytes of a connection are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// Too few bytes to tell yet.
    Incomplete,
    /// Not a PROXY header at all.
    Absent,
    Header(Header),
    /// A PROXY header, broken.
    Invalid(&'static str),
}

/// Reads a PROXY header from the start of `bytes`.
pub(crate) fn parse(bytes: &[u8]) -> Parsed {
    if starts_with(bytes, V2_SIGNATURE) {
        if bytes.len() < V2_SIGNATURE.len() {
            return Parsed::Incomplete;
        }
        return parse_v2(bytes);
    }
    if starts_with(bytes, V1_START) {
        if bytes.len() < V1_START.len() {
            return Parsed::Incomplete;
        }
        return parse_v1(bytes);
    }
    Parsed::Absent
}

/// Whether `bytes` could be the start of `signature` (all of it, or as
/// much as there is).
fn starts_with(bytes: &[u8], signature: &[u8]) -> bool {
    let n = bytes.len().min(signature.len());
    bytes[..n] == signature[..n]
}

fn parse_v1(bytes: &[u8]) -> Parsed {
    let window = &bytes[..bytes.len().min(V1_MAX)];
    let Some(end) = window.windows(2).position(|pair| pair == b"\r\n") else {
        return if bytes.len() >= V1_MAX {
            Parsed::Invalid("a v1 header longer than 107 bytes")
        } else {
            Parsed::Incomplete
        };
    };
    let len = end + 2;
    let Ok(line) = std::str::from_utf8(&window[V1_START.len()..end]) else {
        return Parsed::Invalid("a v1 header that is not text");
    };
    let fields: Vec<&str> = line.split(' ').collect();
    let source = match fields.as_slice() {
        // Whatever follows UNKNOWN is to be ignored.
        ["UNKNOWN", ..] => None,
        ["TCP4", src, dst, sport, dport] => {
            match v1_endpoints::<Ipv4Addr>(src, dst, sport, dport) {
                Some(source) => Some(source),
                None => return Parsed::Invalid("a v1 TCP4 header with bad addresses"),
            }
        }
        ["TCP6", src, dst, sport, dport] => {
            match v1_endpoints::<Ipv6Addr>(src, dst, sport, dport) {
                Some(source) => Some(source),
                None => return Parsed::Invalid("a v1 TCP6 header with bad addresses"),
            }
        }
        _ => return Parsed::Invalid("a v1 header of unknown form"),
    };
    Parsed::Header(Header { source, len })
}

/// The source of a v1 line, if all four fields are well formed.
fn v1_endpoints<A>(src: &str, dst: &str, sport: &str, dport: &str) -> Option<SocketAddr>
where
    A: std::str::FromStr + Into<IpAddr>,
{
    let port = |text: &str| {
        // Decimal digits only: `u16`'s parser takes a leading `+` too.
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        text.parse::<u16>().ok()
    };
    let source: A = src.parse().ok()?;
    dst.parse::<A>().ok()?;
    port(dport)?;
    Some(SocketAddr::new(source.into(), port(sport)?))
}

fn parse_v2(bytes: &[u8]) -> Parsed {
    let Some(fixed) = bytes.get(..V2_FIXED) else {
        return Parsed::Incomplete;
    };
    let (version, command) = (fixed[12] >> 4, fixed[12] & 0x0F);
    if version != 2 {
        return Parsed::Invalid("a v2 header of another version");
    }
    let family = fixed[13] >> 4;
    let len = usize::from(u16::from_be_bytes([fixed[14], fixed[15]]));
    // The addresses a family needs: source, destination, both ports.
    let needs = match family {
        0 | 3 => 0,
        1 => 12,
        2 => 36,
        _ => return Parsed::Invalid("a v2 header of unknown address family"),
    };
    if len < needs {
        return Parsed::Invalid("a v2 header too short for its addresses");
    }
    let header = |source| {
        Parsed::Header(Header {
            source,
            len: V2_FIXED + len,
        })
    };
    match command {
        // LOCAL: the proxy's own connection (a health check), no client.
        0 => return header(None),
        1 => {}
        _ => return Parsed::Invalid("a v2 header of unknown command"),
    }
    let Some(block) = bytes.get(V2_FIXED..V2_FIXED + needs) else {
        return Parsed::Incomplete;
    };
    let source = match family {
        1 => {
            let ip: [u8; 4] = block[..4].try_into().expect("4 bytes");
            let port = u16::from_be_bytes([block[8], block[9]]);
            Some(SocketAddr::new(Ipv4Addr::from(ip).into(), port))
        }
        2 => {
            let ip: [u8; 16] = block[..16].try_into().expect("16 bytes");
            let port = u16::from_be_bytes([block[32], block[33]]);
            Some(SocketAddr::new(Ipv6Addr::from(ip).into(), port))
        }
        // UNSPEC and UNIX name no address of the internet.
        _ => None,
    };
    header(source)
}

/// The PROXY protocol's settings: whom to expect a header from, and how
/// long it may take.
#[derive(Debug, Clone)]
pub(crate) struct ProxyProtocol {
    /// The proxies (`--trust-forwarded-for`): they must send a header;
    /// anyone else must not.
    pub(crate) trusted: Arc<[Cidr]>,
    /// How long the header may take to arrive (`--http-request-timeout`).
    pub(crate) wait: Duration,
}

impl ProxyProtocol {
    /// Reads the header that `stream` from `peer` must (or must not) open
    /// with; returns the stream with what followed the header put back in
    /// front, and the connection's addresses. `None` (the connection is to
    /// be closed) if a trusted proxy sent no valid header, anyone else sent
    /// one, or nothing decided within the wait.
    pub(crate) async fn accept<S>(
        &self,
        mut stream: S,
        peer: SocketAddr,
    ) -> Option<(Prefixed<S>, ClientAddr)>
    where
        S: AsyncRead + Unpin,
    {
        let trusted = self.trusted.iter().any(|cidr| cidr.contains(peer.ip()));
        let read = async {
            let mut buf = [0u8; V1_MAX];
            let mut have = 0;
            let parsed = loop {
                let parsed = parse(&buf[..have]);
                if parsed != Parsed::Incomplete || have == buf.len() {
                    break parsed;
                }
                match stream.read(&mut buf[have..]).await {
                    Ok(0) | Err(_) => return None,
                    Ok(n) => have += n,
                }
            };
            match (parsed, trusted) {
                (Parsed::Absent, false) => Some((buf[..have].to_vec(), ClientAddr::direct(peer))),
                (Parsed::Header(header), true) => {
                    let rest = match header.len.checked_sub(have) {
                        Some(unread) => {
                            // TLVs past the buffer: read and dropped.
                            let mut tlvs = (&mut stream).take(unread as u64);
                            let skipped = tokio::io::copy(&mut tlvs, &mut tokio::io::sink()).await;
                            if skipped.ok()? != unread as u64 {
                                return None;
                            }
                            Vec::new()
                        }
                        None => buf[header.len..have].to_vec(),
                    };
                    let client = ClientAddr {
                        peer,
                        proxied: header.source.map(|source| source.ip()),
                    };
                    Some((rest, client))
                }
                (Parsed::Absent, true) => {
                    tracing::warn!(%peer, "refused a connection from a trusted proxy: no PROXY protocol header (--proxy-protocol is on)");
                    None
                }
                (Parsed::Invalid(why), true) => {
                    tracing::warn!(%peer, "refused a connection from a trusted proxy: {why}");
                    None
                }
                (_, false) => {
                    tracing::debug!(%peer, "refused a PROXY protocol header from an untrusted peer");
                    None
                }
                (Parsed::Incomplete, true) => None,
            }
        };
        let (rest, client) = tokio::time::timeout(self.wait, read).await.ok()??;
        Some((Prefixed::new(rest, stream), client))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(text: &str) -> Option<SocketAddr> {
        Some(text.parse().unwrap())
    }

    fn header(bytes: &[u8]) -> Header {
        match parse(bytes) {
            Parsed::Header(header) => header,
            other => panic!("{other:?} from {bytes:?}"),
        }
    }

    fn invalid(bytes: &[u8]) -> bool {
        matches!(parse(bytes), Parsed::Invalid(_))
    }

    /// A v2 header: command, family byte, addresses and TLVs.
    fn v2(command: u8, family: u8, body: &[u8]) -> Vec<u8> {
        let mut bytes = V2_SIGNATURE.to_vec();
        bytes.push(0x20 | command);
        bytes.push(family);
        bytes.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
        bytes.extend_from_slice(body);
        bytes
    }

    #[test]
    fn v1_names_the_client() {
        let line = b"PROXY TCP4 192.0.2.7 198.51.100.1 40000 443\r\nGET /";
        assert_eq!(
            header(line),
            Header {
                source: source("192.0.2.7:40000"),
                len: line.len() - 5
            }
        );
        let line = b"PROXY TCP6 2001:db8::7 2001:db8::1 40000 443\r\n";
        assert_eq!(header(line).source, source("[2001:db8::7]:40000"));
        assert_eq!(header(b"PROXY UNKNOWN\r\n").source, None);
        assert_eq!(
            header(b"PROXY UNKNOWN 1.2.3.4 whatever\r\n").source,
            None,
            "what follows UNKNOWN is ignored"
        );
    }

    #[test]
    fn v1_is_read_to_its_end_and_no_further() {
        let line = b"PROXY TCP4 192.0.2.7 198.51.100.1 40000 443\r\n";
        for cut in 0..line.len() {
            assert_eq!(parse(&line[..cut]), Parsed::Incomplete, "{cut} bytes");
        }
        let mut long = b"PROXY UNKNOWN ".to_vec();
        long.resize(V1_MAX - 2, b'x');
        long.extend_from_slice(b"\r\n");
        assert_eq!(header(&long).len, V1_MAX, "the longest allowed");
        long.insert(20, b'x');
        assert!(invalid(&long), "one byte too long");
        assert!(invalid(&[b"PROXY ".as_slice(), &[b'x'; 200]].concat()));
    }

    #[test]
    fn broken_v1_is_refused() {
        for line in [
            "PROXY TCP4 192.0.2.7 198.51.100.1 40000\r\n",
            "PROXY TCP4 2001:db8::7 198.51.100.1 40000 443\r\n",
            "PROXY TCP6 192.0.2.7 198.51.100.1 40000 443\r\n",
            "PROXY TCP4 192.0.2.7 198.51.100.1 +4000 443\r\n",
            "PROXY TCP4 192.0.2.7 198.51.100.1 70000 443\r\n",
            "PROXY TCP4  192.0.2.7 198.51.100.1 40000 443\r\n",
            "PROXY UDP4 192.0.2.7 198.51.100.1 40000 443\r\n",
            "PROXY \r\n",
        ] {
            assert!(invalid(line.as_bytes()), "{line:?}");
        }
        assert!(invalid(b"PROXY TCP4 \xff\r\n"));
    }

    #[test]
    fn v2_names_the_client() {
        let mut inet = vec![192, 0, 2, 7, 198, 51, 100, 1];
        inet.extend_from_slice(&40000u16.to_be_bytes());
        inet.extend_from_slice(&443u16.to_be_bytes());
        let bytes = v2(1, 0x11, &inet);
        assert_eq!(
            header(&bytes),
            Header {
                source: source("192.0.2.7:40000"),
                len: 28
            }
        );

        let mut inet6 = "2001:db8::7".parse::<Ipv6Addr>().unwrap().octets().to_vec();
        inet6.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        inet6.extend_from_slice(&[0x9c, 0x40, 1, 0xbb]);
        assert_eq!(
            header(&v2(1, 0x21, &inet6)).source,
            source("[2001:db8::7]:40000")
        );

        // TLVs after the addresses are counted in the length, not read:
        // the header is known from its first 28 bytes.
        let mut with_tlvs = inet.clone();
        with_tlvs.extend_from_slice(&[0x05, 0, 3, 1, 2, 3]);
        with_tlvs.resize(1000, 0);
        let bytes = v2(1, 0x11, &with_tlvs);
        assert_eq!(
            header(&bytes[..28]),
            Header {
                source: source("192.0.2.7:40000"),
                len: 1016
            }
        );
    }

    #[test]
    fn v2_without_a_client_is_the_socket_s() {
        assert_eq!(
            header(&v2(0, 0x00, &[])),
            Header {
                source: None,
                len: 16
            },
            "LOCAL"
        );
        assert_eq!(header(&v2(0, 0x11, &[0; 12])).source, None, "LOCAL, INET");
        assert_eq!(header(&v2(1, 0x00, &[])).source, None, "UNSPEC");
        assert_eq!(header(&v2(1, 0x31, &[0; 216])).source, None, "UNIX");
    }

    #[test]
    fn v2_is_complete_only_with_its_addresses() {
        let bytes = v2(1, 0x11, &[0; 12]);
        for cut in 0..bytes.len() {
            assert_eq!(parse(&bytes[..cut]), Parsed::Incomplete, "{cut} bytes");
        }
    }

    #[test]
    fn broken_v2_is_refused() {
        assert!(invalid(&v2(1, 0x11, &[0; 11])), "too short for INET");
        assert!(invalid(&v2(1, 0x21, &[0; 12])), "too short for INET6");
        assert!(invalid(&v2(2, 0x11, &[0; 12])), "unknown command");
        assert!(invalid(&v2(1, 0x41, &[0; 12])), "unknown family");
        let mut v3 = v2(1, 0x11, &[0; 12]);
        v3[12] = 0x31;
        assert!(invalid(&v3), "version 3");
    }

    #[test]
    fn anything_else_is_absent() {
        assert_eq!(parse(b""), Parsed::Incomplete);
        assert_eq!(parse(b"P"), Parsed::Incomplete, "PROXY or POST");
        assert_eq!(parse(b"POST / HTTP/1.1\r\n"), Parsed::Absent);
        assert_eq!(parse(b"GET"), Parsed::Absent);
        assert_eq!(parse(&[0x16, 3, 1]), Parsed::Absent, "a TLS ClientHello");
        assert_eq!(parse(b"\r\n\r\nX"), Parsed::Absent);
    }

    fn trusting(cidr: &str) -> ProxyProtocol {
        ProxyProtocol {
            trusted: vec![cidr.parse().unwrap()].into(),
            wait: Duration::from_secs(5),
        }
    }

    /// What the server reads after the header, and the client it sees.
    async fn accept(
        protocol: &ProxyProtocol,
        peer: &str,
        sent: &[u8],
    ) -> Option<(Vec<u8>, Option<IpAddr>)> {
        let (mut stream, client) = protocol.accept(sent, peer.parse().unwrap()).await?;
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).await.unwrap();
        Some((rest, client.proxied))
    }

    #[tokio::test]
    async fn only_trusted_peers_send_a_header_and_the_rest_is_handed_on() {
        let protocol = trusting("127.0.0.1/32");
        let proxy = "127.0.0.1:5000";
        let stranger = "192.0.2.9:5000";
        let line = b"PROXY TCP4 192.0.2.7 198.51.100.1 40000 443\r\nGET / HTTP/1.1\r\n";
        assert_eq!(
            accept(&protocol, proxy, line).await,
            Some((b"GET / HTTP/1.1\r\n".to_vec(), "192.0.2.7".parse().ok()))
        );
        assert_eq!(accept(&protocol, stranger, line).await, None);
        assert_eq!(
            accept(&protocol, stranger, b"POST / HTTP/1.1").await,
            Some((b"POST / HTTP/1.1".to_vec(), None)),
            "no header from a stranger: its socket address"
        );
        assert_eq!(accept(&protocol, proxy, b"GET / HTTP/1.1").await, None);
        assert_eq!(
            accept(&protocol, proxy, b"PROXY TCP4 1.2").await,
            None,
            "closed mid-header"
        );
        assert_eq!(
            accept(&protocol, proxy, b"PROXY UNKNOWN\r\n\x16\x03").await,
            Some((vec![0x16, 3], None))
        );

        let mut long = v2(
            1,
            0x11,
            &[[192, 0, 2, 7].as_slice(), &[0; 8], &[0xEE; 500]].concat(),
        );
        long.extend_from_slice(b"GET");
        assert_eq!(
            accept(&protocol, proxy, &long).await,
            Some((b"GET".to_vec(), "192.0.2.7".parse().ok())),
            "TLVs longer than the buffer are skipped"
        );
        long.truncate(300);
        assert_eq!(
            accept(&protocol, proxy, &long).await,
            None,
            "TLVs cut short"
        );
    }

    #[tokio::test]
    async fn a_header_that_never_comes_is_given_up_on() {
        let protocol = ProxyProtocol {
            wait: Duration::from_millis(50),
            ..trusting("127.0.0.1/32")
        };
        let (_writer, reader) = tokio::io::duplex(64);
        let peer = "127.0.0.1:5000".parse().unwrap();
        assert!(protocol.accept(reader, peer).await.is_none());
    }
}
