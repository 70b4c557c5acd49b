//! Chat (an extension, docs/protocol.md): to everyone in the room, stamped by
//! the server, remembered for newcomers, refused when malformed.

mod support;

use serde_json::json;
use support::Server;

#[tokio::test]
async fn chat_reaches_everyone_and_newcomers_get_the_history() {
    let server = Server::start();
    let room = server.create_room(Some(3)).await;
    let other = server.create_room(None).await;
    let (mut a, a_welcome) = server.joined(&room, Some("Ada")).await;
    let (mut b, b_welcome) = server.joined(&room, None).await;
    a.expect_peer_joined(&b_welcome.id, None).await;
    let (mut outsider, _) = server.joined(&other, None).await;

    a.send_json(json!({ "type": "chat", "text": "hello 👋" }))
        .await;
    for ws in [&mut a, &mut b] {
        let chat = ws.recv_json().await;
        assert_eq!(chat["type"], "chat");
        assert_eq!(chat["from"], a_welcome.id.as_str());
        assert_eq!(chat["name"], "Ada");
        assert_eq!(chat["text"], "hello 👋");
        assert!(chat["time"].as_u64().unwrap() > 1_700_000_000_000);
        assert!(chat.get("history").is_none());
    }
    b.send_json(json!({ "type": "chat", "text": "hi" })).await;
    a.recv_json().await;
    b.recv_json().await;
    outsider.expect_nothing_queued().await;

    let mut c = server.ws().await;
    c.send_json(json!({ "type": "join", "room": room })).await;
    assert_eq!(c.recv_json().await["type"], "welcome");
    let first = c.recv_json().await;
    assert_eq!(
        (&first["text"], &first["history"]),
        (&json!("hello 👋"), &json!(true))
    );
    let second = c.recv_json().await;
    assert_eq!(second["text"], "hi");
    assert_eq!(second["from"], b_welcome.id.as_str());
    assert!(second.get("name").is_none());
    c.expect_nothing_queued().await;
    assert_eq!(
        server
            .metric("parlor_messages_in_total{type=\"chat\"}")
            .await,
        2
    );
    // Two messages to two members, then both again as history to the third.
    assert_eq!(
        server
            .metric("parlor_messages_out_total{type=\"chat\"}")
            .await,
        6
    );
}

#[tokio::test]
async fn malformed_chat_is_refused() {
    let server = Server::start();
    let mut lonely = server.ws().await;
    lonely
        .send_json(json!({ "type": "chat", "text": "anyone?" }))
        .await;
    lonely.expect_error("not-in-room", Some("chat")).await;

    let room = server.create_room(None).await;
    let (mut a, _) = server.joined(&room, None).await;
    let too_long = "x".repeat(2001);
    for bad in [
        json!({ "type": "chat" }),
        json!({ "type": "chat", "text": " " }),
        json!({ "type": "chat", "text": 7 }),
        json!({ "type": "chat", "text": too_long }),
    ] {
        a.send_json(bad).await;
        a.expect_error("bad-request", Some("chat")).await;
    }
    a.send_json(json!({ "type": "chat", "text": "x".repeat(2000) }))
        .await;
    assert_eq!(a.recv_json().await["type"], "chat");
}

#[tokio::test]
async fn the_history_of_a_room_is_forgotten_when_it_empties() {
    let server = Server::start();
    let room = server.create_room(None).await;
    let (mut a, _) = server.joined(&room, Some("Ada")).await;
    a.send_json(json!({ "type": "chat", "text": "private" }))
        .await;
    assert_eq!(a.recv_json().await["type"], "chat");
    a.leave().await;
    assert_eq!(server.members(&room).await, Some(0));

    // The room is still there, but what was said in it is not.
    let (mut b, _) = server.joined(&room, None).await;
    b.expect_nothing_queued().await;
}
