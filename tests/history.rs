//! What the server keeps for a member reaches it whole, even when the room
//! keeps as much as it may and the send queue is as small as it can be
//! (`--send-queue 1`; docs/operations.md): a newcomer gets the full chat
//! history (200 messages, or 128 KiB) in order; a member who resumes gets
//! the 256 signals parked for it, in order, while the history is full; one
//! signal more gives the seat up, and the member, joining again, gets the
//! history. The smallest queue matters because what is owed on joining is
//! queued past it (docs/protocol.md, "Lifetime").

mod support;

use serde_json::{Value, json};
use std::time::Duration;
use support::{Server, Ws, eventually};

/// The queue sizes to check: the default and the smallest allowed.
const QUEUES: [Option<&str>; 2] = [None, Some("1")];

/// Most chat messages and signals kept (src/rooms/room.rs).
const HISTORY: usize = 200;
const HISTORY_BYTES: usize = 128 * 1024;
const PARKED: usize = 256;

fn server(queue: Option<&str>) -> Server {
    match queue {
        Some(n) => Server::with_args(&["--send-queue", n]),
        None => Server::start(),
    }
}

/// `from` sends each text as chat; every member in `readers` (the sender
/// first) reads its copy before the next goes, so that none falls behind a
/// one-message queue.
async fn chat_all(readers: &mut [&mut Ws], texts: impl IntoIterator<Item = String>) {
    for text in texts {
        readers[0]
            .send_json(json!({ "type": "chat", "text": text }))
            .await;
        for ws in readers.iter_mut() {
            let chat = ws.recv_json().await;
            assert_eq!(
                (chat["type"].as_str(), chat["text"].as_str()),
                (Some("chat"), Some(text.as_str())),
                "{chat}"
            );
        }
    }
}

/// The `history` chat messages that follow a welcome, up to silence.
async fn history_after_welcome(ws: &mut Ws) -> Vec<Value> {
    let mut history = Vec::new();
    while let Some(message) = next_within(ws, Duration::from_millis(500)).await {
        assert_eq!(message["type"], "chat", "{message}");
        assert_eq!(message["history"], true, "{message}");
        history.push(message);
    }
    history
}

/// The next JSON message, or None after `limit` of silence.
async fn next_within(ws: &mut Ws, limit: Duration) -> Option<Value> {
    let frame = ws.rx.next_frame(limit).await?;
    Some(serde_json::from_str(frame.to_text().expect("a text frame")).expect("JSON"))
}

fn texts(history: &[Value]) -> Vec<&str> {
    history
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect()
}

fn times_rise(history: &[Value]) -> bool {
    history
        .windows(2)
        .all(|w| w[0]["time"].as_u64() <= w[1]["time"].as_u64())
}

#[tokio::test]
async fn a_newcomer_gets_the_full_history_in_order() {
    for queue in QUEUES {
        let server = server(queue);
        let room = server.create_room(None).await;
        let (mut a, _) = server.joined(&room, Some("Ada")).await;
        // Five more than are kept: the oldest five are forgotten.
        let sent: Vec<String> = (0..HISTORY + 5).map(|i| format!("m{i}")).collect();
        chat_all(&mut [&mut a], sent.clone()).await;

        let (mut c, _) = server.joined(&room, Some("Cy")).await;
        let history = history_after_welcome(&mut c).await;
        assert_eq!(
            texts(&history),
            sent[5..].iter().map(String::as_str).collect::<Vec<_>>(),
            "queue {queue:?}"
        );
        assert!(history.iter().all(|m| m["name"] == "Ada"));
        assert!(times_rise(&history));
    }
}

#[tokio::test]
async fn a_newcomer_gets_a_history_full_by_bytes_in_order() {
    for queue in QUEUES {
        let server = server(queue);
        let room = server.create_room(None).await;
        let (mut a, _) = server.joined(&room, Some("Ada")).await;
        // 2,000 characters each (the longest message): the bytes run out
        // long before the count.
        let sent: Vec<String> = (0..80)
            .map(|i| format!("{i:04}{}", "x".repeat(1996)))
            .collect();
        chat_all(&mut [&mut a], sent.clone()).await;

        let (mut c, _) = server.joined(&room, Some("Cy")).await;
        let history = history_after_welcome(&mut c).await;
        let got = texts(&history);
        // The newest that fit, in order, and as many as fit: one more would
        // not have.
        assert_eq!(
            got,
            sent[sent.len() - got.len()..]
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            "queue {queue:?}"
        );
        let bytes: usize = got.iter().map(|t| t.len()).sum();
        assert!(bytes <= HISTORY_BYTES, "{bytes}");
        assert!(
            bytes + 2000 * 2 > HISTORY_BYTES,
            "{} kept, {bytes} bytes",
            got.len()
        );
        assert!(times_rise(&history));
    }
}

/// A and B in a room whose history is full; then B's network goes away (no
/// close frame) and the server has noticed. Returns the server, the room,
/// A, A's id, B's id and B's resume token.
async fn full_room_with_b_away(
    queue: Option<&str>,
) -> (Server, String, Ws, String, String, String) {
    let server = server(queue);
    let room = server.create_room(None).await;
    let (mut a, a_welcome) = server.joined(&room, Some("Ada")).await;
    let (mut b, b_welcome) = server.joined(&room, Some("Bob")).await;
    a.expect_peer_joined(&b_welcome.id, Some("Bob")).await;
    chat_all(&mut [&mut a, &mut b], (0..HISTORY).map(|i| format!("m{i}"))).await;

    drop(b.into_tcp());
    eventually(
        Duration::from_secs(5),
        "the server to notice B is gone",
        || async { server.metric("parlor_connections").await == 1 },
    )
    .await;
    assert_eq!(server.members(&room).await, Some(2), "B's seat is held");
    let token = b_welcome.raw["resume"]
        .as_str()
        .expect("a resume token")
        .to_owned();
    (server, room, a, a_welcome.id, b_welcome.id, token)
}

#[tokio::test]
async fn a_member_resumes_with_the_most_parked_signals_while_the_history_is_full() {
    for queue in QUEUES {
        let (server, room, mut a, a_id, b_id, token) = full_room_with_b_away(queue).await;
        for n in 0..PARKED {
            a.signal(&b_id, json!({ "n": n })).await;
        }
        // All kept: A hears no error and no peer-left.
        a.expect_nothing_queued().await;
        assert_eq!(server.members(&room).await, Some(2));

        let mut b = server.ws().await;
        b.send_json(json!({ "type": "join", "room": room, "resume": token }))
            .await;
        let welcome = b.recv_json().await;
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        assert_eq!(welcome["resumed"], true);
        assert_eq!(welcome["id"], b_id.as_str());
        for n in 0..PARKED {
            b.expect_signal(&a_id, json!({ "n": n })).await;
        }
        // A resumed member gets no history (it has it) and nothing else.
        b.expect_nothing_queued().await;
        // The call goes on both ways.
        b.signal(&a_id, json!({ "back": true })).await;
        a.expect_signal(&b_id, json!({ "back": true })).await;
        assert_eq!(
            server.metric("parlor_resumes_total").await,
            1,
            "queue {queue:?}"
        );
    }
}

#[tokio::test]
async fn one_signal_past_the_parking_gives_the_seat_up_and_a_rejoin_gets_the_history() {
    for queue in QUEUES {
        let (server, room, mut a, _a_id, b_id, token) = full_room_with_b_away(queue).await;
        for n in 0..PARKED {
            a.signal(&b_id, json!({ "n": n })).await;
        }
        a.expect_nothing_queued().await;
        a.signal(&b_id, json!({ "n": PARKED })).await;
        a.expect_peer_left(&b_id).await;
        assert_eq!(server.members(&room).await, Some(1));

        // The token went with the seat; B joins again as a newcomer and
        // gets the whole history.
        let mut b = server.ws().await;
        b.send_json(json!({ "type": "join", "room": room, "resume": token }))
            .await;
        b.expect_error("bad-request", Some("join")).await;
        let welcome = b.join(&room, Some("Bob")).await;
        assert_ne!(welcome.id, b_id);
        let history = history_after_welcome(&mut b).await;
        let expected: Vec<String> = (0..HISTORY).map(|i| format!("m{i}")).collect();
        assert_eq!(
            texts(&history),
            expected.iter().map(String::as_str).collect::<Vec<_>>(),
            "queue {queue:?}"
        );
    }
}
