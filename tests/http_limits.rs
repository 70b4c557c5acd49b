//! Plain HTTP connections that never finish a request: each is closed after
//! the request timeout, they are capped in number, and none of them keeps
//! the server from shutting down in time.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use support::{Server, eventually};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A connection that sent half a request and waits.
async fn half_request(addr: SocketAddr) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        .await
        .unwrap();
    tcp
}

/// Waits up to `limit` for the server to close `tcp`; returns what it read.
async fn closed_within(tcp: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    tokio::time::timeout(limit, async {
        let mut buf = [0u8; 512];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .ok()
    .map(|()| got)
}

#[tokio::test]
async fn a_half_sent_request_is_closed_after_the_request_timeout() {
    let server = Server::with_args(&["--http-request-timeout", "1s"]);
    let started = Instant::now();
    let mut tcp = half_request(server.addr).await;
    assert!(
        closed_within(&mut tcp, Duration::from_secs(5))
            .await
            .is_some(),
        "a half-sent request was kept open"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "closed too soon"
    );
    assert_eq!(server.get("/healthz").await.status, 200);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_request_timeout() {
    let server = Server::with_args(&["--http-request-timeout", "1s"]);
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let got = closed_within(&mut tcp, Duration::from_secs(5))
        .await
        .expect("an idle keep-alive connection was kept open");
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&got)
    );
}

#[tokio::test]
async fn sigterm_ends_the_process_in_time_despite_a_half_sent_request() {
    // The default flags: the request timeout (10 s) is longer than the
    // bound, so it is the shutdown that ends the connection.
    let mut server = Server::start();
    let _tcp = half_request(server.addr).await;
    assert_eq!(server.get("/healthz").await.status, 200);
    let took = server.terminate();
    assert!(took < Duration::from_secs(7), "exit took {took:?}");
}

#[tokio::test]
async fn sigterm_ends_the_process_in_time_despite_a_request_never_finished() {
    let mut server = Server::with_args(&["--http-request-timeout", "1h"]);
    let _tcp = half_request(server.addr).await;
    let took = server.terminate();
    assert!(took < Duration::from_secs(7), "exit took {took:?}");
}

#[tokio::test]
async fn http_connections_are_capped_and_websockets_are_not_counted() {
    let server = Server::with_args(&[
        "--max-http-connections",
        "4",
        "--http-request-timeout",
        "1h",
    ]);
    let room = server.create_room(None).await;
    // WebSockets leave the count as they upgrade, just after the 101; until
    // then some of four requests held now would be refused. So: four held,
    // a fifth after them in the accept queue, and then the four completed:
    // again until all four were taken.
    let mut sockets = Vec::new();
    for _ in 0..6 {
        sockets.push(server.ws().await);
    }
    let started = Instant::now();
    loop {
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(half_request(server.addr).await);
        }
        let mut fifth = TcpStream::connect(server.addr).await.unwrap();
        let got = closed_within(&mut fifth, Duration::from_secs(5))
            .await
            .expect("a connection over the cap is closed at once");
        assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
        // The WebSockets still work over the cap.
        sockets[0]
            .send_json(serde_json::json!({ "type": "leave" }))
            .await;
        sockets[0].expect_error("not-in-room", Some("leave")).await;
        let mut taken = 0;
        for mut tcp in held {
            if tcp
                .write_all(b"1\r\nConnection: close\r\n\r\n")
                .await
                .is_ok()
                && closed_within(&mut tcp, Duration::from_secs(5))
                    .await
                    .is_some_and(|got| got.starts_with(b"HTTP/1.1 200"))
            {
                taken += 1;
            }
        }
        if taken == 4 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the server never took four requests with WebSockets open"
        );
    }
    sockets[0].join(&room, None).await;
    eventually(
        Duration::from_secs(5),
        "/healthz answers a new client once the others closed",
        || async {
            let mut tcp = TcpStream::connect(server.addr).await.unwrap();
            let request = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
            if tcp.write_all(request).await.is_err() {
                return false;
            }
            let got = closed_within(&mut tcp, Duration::from_secs(2)).await;
            got.is_some_and(|got| got.starts_with(b"HTTP/1.1 200"))
        },
    )
    .await;
}

#[tokio::test]
async fn a_request_whose_body_never_comes_is_answered_408() {
    let server = Server::with_args(&["--http-request-timeout", "1s"]);
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(
        b"POST /api/rooms HTTP/1.1\r\nHost: localhost\r\n\
          Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    )
    .await
    .unwrap();
    let got = closed_within(&mut tcp, Duration::from_secs(5))
        .await
        .expect("a request with half its body was kept open");
    assert!(
        got.starts_with(b"HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&got)
    );
}
