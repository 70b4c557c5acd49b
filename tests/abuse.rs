//! Clients that misbehave on purpose: a reader that never reads yet keeps
//! answering pings, frames that break the WebSocket rules, hang-ups that
//! must be answered. Each is bounded and told what happened.

mod support;

use std::time::Duration;

use serde_json::json;
use support::{Ended, Server, eventually};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

/// Signal data just under the 64 KiB frame limit.
fn big_pad() -> String {
    "p".repeat(60 * 1024)
}

/// A blasts `count` big signals at B; B never reads but sends a pong every
/// 200 ms (which keeps the ping timeout at bay); returns once the server
/// has dropped B as too slow, failing after `limit`.
async fn stuck_reader_is_dropped(server: &Server, count: usize, limit: Duration) {
    let (_room, (mut a, _), (b, b_welcome)) = server.two_in_room().await;
    let (mut b_tx, _b_rx) = b.split();
    let ponger = tokio::spawn(async move {
        loop {
            if b_tx
                .try_send_message(Message::Pong(Default::default()))
                .await
                .is_err()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let pad = big_pad();
    for seq in 0..count {
        a.signal(&b_welcome.id, json!({ "seq": seq, "pad": pad }))
            .await;
    }
    eventually(limit, "the stuck reader is dropped", || async {
        server.metric("parlor_slow_clients_dropped_total").await == 1
    })
    .await;
    ponger.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_never_reads_is_dropped_by_the_bytes_it_holds() {
    // 200 messages are fewer than the 256 of --send-queue, but 12 MiB.
    let server = Server::start();
    stuck_reader_is_dropped(&server, 200, Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_never_reads_is_dropped_after_the_write_timeout() {
    // The queue could hold it all: only the write timeout catches it.
    let server = Server::with_args(&["--send-queue-bytes", "64M", "--write-timeout", "1s"]);
    stuck_reader_is_dropped(&server, 200, Duration::from_secs(10)).await;
}

#[tokio::test]
async fn a_close_frame_is_answered_and_the_member_is_gone() {
    let server = Server::start();
    let (room, (mut a, _), (b, b_welcome)) = server.two_in_room().await;
    let (mut b_tx, mut b_rx) = b.split();
    b_tx.send_message(Message::Close(Some(
        tokio_tungstenite::tungstenite::protocol::CloseFrame {
            code: 1000.into(),
            reason: "bye".into(),
        },
    )))
    .await;
    match b_rx.expect_end(Duration::from_secs(5)).await {
        Ended::Closed(Some(frame)) => assert_eq!(u16::from(frame.code), 1000),
        other => panic!("the close frame was not answered: {other:?}"),
    }
    // A clean close is a leave: no seat is held for it.
    a.expect_peer_left(&b_welcome.id).await;
    assert_eq!(server.members(&room).await, Some(1));
}

/// Sends raw bytes on a WebSocket that finished its handshake, and returns
/// the close code the server answers with.
async fn close_code_for(raw: &[u8]) -> u16 {
    let server = Server::start();
    let mut tcp = server.ws().await.into_tcp();
    tcp.write_all(raw).await.unwrap();
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = [0u8; 256];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server did not close the connection");
    // A close frame from the server: 0x88, unmasked length, 2-byte code.
    assert!(got.len() >= 4 && got[0] == 0x88, "no close frame: {got:?}");
    u16::from_be_bytes([got[2], got[3]])
}

#[tokio::test]
async fn a_frame_that_breaks_the_framing_rules_is_answered_with_1002() {
    // A client must mask its frames (RFC 6455, 5.1): this one does not.
    assert_eq!(close_code_for(&[0x81, 0x02, b'h', b'i']).await, 1002);
}

#[tokio::test]
async fn a_text_frame_that_is_not_utf8_is_answered_with_1007() {
    // Masked with a zero key, so the payload is as written: 0xFF 0xFE.
    assert_eq!(
        close_code_for(&[0x81, 0x82, 0, 0, 0, 0, 0xFF, 0xFE]).await,
        1007
    );
}

#[tokio::test]
async fn a_replaced_connection_is_told_why() {
    let server = Server::start();
    let (room, _a, (mut stale, b_welcome)) = server.two_in_room().await;
    let token = b_welcome.raw["resume"].as_str().unwrap().to_owned();
    let mut b = server.ws().await;
    b.send_json(json!({ "type": "join", "room": room, "resume": token }))
        .await;
    assert_eq!(b.recv_json().await["type"], "welcome");
    match stale.expect_end(Duration::from_secs(5)).await {
        Ended::Closed(Some(frame)) => {
            assert!(frame.reason.contains("replaced"), "{frame:?}");
            assert!(!frame.reason.contains("slow"), "{frame:?}");
        }
        other => panic!("no close frame: {other:?}"),
    }
}
