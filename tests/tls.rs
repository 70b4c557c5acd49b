//! HTTPS and WSS with `--tls-self-signed`: the printed fingerprint is the
//! certificate the server presents (and not another server's), and the API
//! and the WebSocket protocol work over TLS. The client trusts exactly that
//! fingerprint.

mod support;

use futures_util::{SinkExt, StreamExt};
use support::{Server, connect_pinned};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::tungstenite::Message;

/// Parlor over HTTPS with a self-signed certificate, without TURN.
fn start() -> Server {
    let server = Server::with_args(&["--tls-self-signed", "--turn-disable"]);
    assert!(server.startup.https, "{:?}", server.startup);
    let names = server.startup.certificate_names.join(", ");
    assert!(
        names.contains("localhost") && names.contains("127.0.0.1"),
        "{names}"
    );
    server
}

async fn connect(server: &Server, fingerprint: &str) -> std::io::Result<TlsStream<TcpStream>> {
    connect_pinned(server.addr, fingerprint, &[]).await
}

#[tokio::test]
async fn https_serves_the_api_with_the_printed_certificate() {
    let server = start();
    let mut tls = connect(&server, server.fingerprint())
        .await
        .expect("handshake");
    tls.write_all(
        b"POST /api/rooms HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut answer = String::new();
    tls.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert!(answer.contains("\"capacity\":2"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("strict-transport-security: max-age=31536000"),
        "HTTPS answers carry HSTS: {answer}"
    );
}

/// The printed fingerprint names the certificate this server presents and
/// no other: each server makes its own, a client pinning one server's
/// fingerprint is refused by the handshake with another, and pinning the
/// other's printed fingerprint gets through.
#[tokio::test]
async fn a_pin_on_one_servers_fingerprint_fails_against_another() {
    let server = start();
    let other = start();
    assert_ne!(server.fingerprint(), other.fingerprint());
    assert!(
        connect(&other, server.fingerprint()).await.is_err(),
        "a certificate other than the pinned one is refused"
    );
    connect(&other, other.fingerprint())
        .await
        .expect("the other server's own printed fingerprint");
    connect(&server, server.fingerprint())
        .await
        .expect("and the first one's");
}

#[tokio::test]
async fn wss_carries_the_protocol() {
    let server = start();
    let tls = connect(&server, server.fingerprint()).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async("wss://localhost/ws", tls)
        .await
        .expect("WebSocket over TLS");
    ws.send(Message::text(r#"{"type":"join","room":"nope"}"#))
        .await
        .unwrap();
    let Some(Ok(Message::Text(text))) = ws.next().await else {
        panic!("no answer");
    };
    let answer: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["type"], "error");
    assert_eq!(answer["code"], "room-not-found");
}
