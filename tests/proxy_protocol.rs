//! `--proxy-protocol`: behind a TCP proxy, the client named in the PROXY
//! header is the one the per-address limits count. A real HAProxy
//! (`send-proxy-v2`) in front of parlor, over HTTP and HTTPS, and v1
//! headers written by hand on raw sockets; a header from an untrusted peer
//! and a trusted peer without one are refused.
//!
//! Parlor listens on 127.0.0.1 and trusts only the proxy at 127.0.0.4
//! (127.0.0.1 is the start-up check's, which sends no header); clients
//! connect from 127.0.0.2 and 127.0.0.3. Linux routes all of 127/8 on
//! loopback.

mod support;

use std::net::{IpAddr, SocketAddr};

use support::{Haproxy, Server, connect_pinned};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// The proxy's address.
const PROXY: &str = "127.0.0.4";

/// Parlor behind the proxy at [`PROXY`], allowing two rooms per client.
fn behind_proxy(extra: &[&str]) -> Server {
    let mut args = vec![
        "--proxy-protocol",
        "--trust-forwarded-for",
        "127.0.0.4/32",
        "--room-creation-rate",
        "2/min,burst=2",
    ];
    args.extend_from_slice(extra);
    Server::with_logs(&args)
}

/// A connection to `to` from the address `source`.
async fn connect_from(source: &str, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("a socket");
    let source: IpAddr = source.parse().expect("an address");
    socket
        .bind(SocketAddr::new(source, 0))
        .expect("bind the source address");
    socket.connect(to).await.expect("connect")
}

/// Writes `prefix` and then `POST /api/rooms` from `source` to `to`; the
/// answer's status, or `None` when the connection was closed unanswered.
async fn create_room(to: SocketAddr, source: &str, prefix: &[u8]) -> Option<u16> {
    let mut stream = connect_from(source, to).await;
    let mut bytes = prefix.to_vec();
    bytes.extend_from_slice(
        b"POST /api/rooms HTTP/1.1\r\nHost: parlor\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    let mut answer = Vec::new();
    let exchange = async {
        stream.write_all(&bytes).await?;
        stream.read_to_end(&mut answer).await
    };
    // A refused connection may end in a reset: closed unanswered too.
    let _ = tokio::time::timeout(support::RECV_TIMEOUT, exchange)
        .await
        .expect("an answer or a close in time");
    let status = answer.get(9..12)?;
    Some(std::str::from_utf8(status).ok()?.parse().expect("a status"))
}

/// A v1 header naming `client` as the source.
fn v1(client: &str) -> Vec<u8> {
    format!("PROXY TCP4 {client} 127.0.0.1 40000 443\r\n").into_bytes()
}

#[tokio::test]
async fn v1_headers_name_clients_that_are_limited_each_on_its_own() {
    let mut server = behind_proxy(&[]);
    let to = server.addr;
    let proxy = PROXY;
    assert_eq!(create_room(to, proxy, &v1("192.0.2.1")).await, Some(201));
    assert_eq!(create_room(to, proxy, &v1("192.0.2.1")).await, Some(201));
    assert_eq!(create_room(to, proxy, &v1("192.0.2.1")).await, Some(429));
    assert_eq!(
        create_room(to, proxy, &v1("192.0.2.2")).await,
        Some(201),
        "another client behind the same proxy"
    );

    // Anyone else may not send a header, and counts by its own address.
    assert_eq!(create_room(to, "127.0.0.2", &v1("192.0.2.9")).await, None);
    assert_eq!(create_room(to, "127.0.0.2", b"").await, Some(201));
    assert_eq!(create_room(to, "127.0.0.2", b"").await, Some(201));
    assert_eq!(create_room(to, "127.0.0.2", b"").await, Some(429));

    // The proxy without a header is refused, and the log says why.
    assert_eq!(create_room(to, proxy, b"").await, None);
    // Broken headers close the connection and change nothing.
    for broken in [
        &b"PROXY TCP4 192.0.2.1 127.0.0.1 40000\r\n"[..],
        &[b'P'; 200][..],
        b"PROXY TCP4 192.0.2.1 127.0.0.1 40000 443 and then some words that go on\r\n",
    ] {
        assert_eq!(create_room(to, proxy, broken).await, None, "{broken:?}");
    }
    assert_eq!(create_room(to, proxy, &v1("192.0.2.2")).await, Some(201));
    assert_eq!(create_room(to, proxy, &v1("192.0.2.2")).await, Some(429));
    server.terminate();
    let logs = server.logs();
    assert!(
        logs.contains("refused a connection from a trusted proxy: no PROXY protocol header"),
        "{logs}"
    );
}

/// HAProxy passing TCP on to `backend` from [`PROXY`], with a v2 PROXY
/// header.
fn haproxy(backend: SocketAddr) -> Haproxy {
    Haproxy::start(|front| {
        format!(
            "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  \
             timeout server 30s\n\
             frontend front\n  bind {front}\n  default_backend parlor\n\
             backend parlor\n  server parlor {backend} send-proxy-v2 source {PROXY}\n"
        )
    })
}

#[tokio::test]
async fn behind_haproxy_each_client_is_limited_on_its_own() {
    let server = behind_proxy(&[]);
    let haproxy = haproxy(server.addr);
    let to = haproxy.front;
    assert_eq!(create_room(to, "127.0.0.2", b"").await, Some(201));
    assert_eq!(create_room(to, "127.0.0.2", b"").await, Some(201));
    assert_eq!(create_room(to, "127.0.0.2", b"").await, Some(429));
    assert_eq!(create_room(to, "127.0.0.3", b"").await, Some(201));
}

#[tokio::test]
async fn behind_haproxy_https_reads_the_header_before_the_handshake() {
    let server = behind_proxy(&["--tls-self-signed", "--turn-disable"]);
    let haproxy = haproxy(server.addr);
    let mut tls = connect_pinned(haproxy.front, server.fingerprint(), &[])
        .await
        .expect("a handshake through haproxy");
    tls.write_all(
        b"POST /api/rooms HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut answer = String::new();
    tls.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    // Anyone but the proxy still reaches parlor without a header.
    let direct = connect_pinned(server.addr, server.fingerprint(), &[]).await;
    assert!(direct.is_ok(), "an untrusted peer without a header");
}
