//! Resuming after a lost connection (an extension, docs/protocol.md): the
//! seat is held for the grace period, messages for it wait, and the resume
//! token takes it back with the same peer id; across a restart too, when the
//! server keeps its key.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Server, Welcome};

fn token(welcome: &Welcome) -> String {
    welcome.raw["resume"]
        .as_str()
        .expect("welcome carries a resume token")
        .to_owned()
}

async fn resume(server: &Server, room: &str, token: &str) -> (support::Ws, Value) {
    let mut ws = server.ws().await;
    ws.send_json(json!({ "type": "join", "room": room, "resume": token }))
        .await;
    let welcome = ws.recv_json().await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    (ws, welcome)
}

/// Waits until the server has seen the other member's connection go (its
/// count of connections is down to `a`'s), and checks that `a` was told
/// nothing: the seat is held.
async fn lost(server: &Server, a: &mut support::Ws) {
    support::eventually(support::RECV_TIMEOUT, "the loss seen", || async {
        server.metric("parlor_connections").await == 1
    })
    .await;
    a.expect_nothing_queued().await;
}

#[tokio::test]
async fn a_lost_member_takes_its_seat_back_and_gets_what_waited() {
    let server = Server::with_args(&["--resume-grace", "30s"]);
    let room = server.create_room(None).await;
    let (mut a, a_welcome) = server.joined(&room, Some("Ada")).await;
    let (b, b_welcome) = server.joined(&room, Some("Bob")).await;
    a.expect_peer_joined(&b_welcome.id, Some("Bob")).await;

    // B's network goes away: no close frame.
    drop(b.into_tcp());
    lost(&server, &mut a).await;
    a.signal(&b_welcome.id, json!({ "n": 1 })).await;
    a.signal(&b_welcome.id, json!({ "n": 2 })).await;
    // Held for B, not refused.
    a.expect_nothing_queued().await;
    assert_eq!(server.members(&room).await, Some(2), "the seat is held");

    let (mut b, welcome) = resume(&server, &room, &token(&b_welcome)).await;
    assert_eq!(welcome["id"], b_welcome.id.as_str(), "same peer id");
    assert_eq!(welcome["resumed"], true);
    assert_eq!(
        welcome["peers"],
        json!([{ "id": a_welcome.id, "name": "Ada" }])
    );
    b.expect_signal(&a_welcome.id, json!({ "n": 1 })).await;
    b.expect_signal(&a_welcome.id, json!({ "n": 2 })).await;
    // A never heard B leave or come back, and the call goes on.
    a.expect_nothing_queued().await;
    b.signal(&a_welcome.id, json!({ "n": 3 })).await;
    a.expect_signal(&b_welcome.id, json!({ "n": 3 })).await;
    assert_eq!(server.metric("parlor_resumes_total").await, 1);
}

#[tokio::test]
async fn a_second_connection_replaces_a_stale_one() {
    let server = Server::start();
    let (room, (mut a, a_welcome), (mut stale, b_welcome)) = server.two_in_room().await;
    let (mut b, welcome) = resume(&server, &room, &token(&b_welcome)).await;
    assert_eq!(welcome["id"], b_welcome.id.as_str());
    stale.expect_end(Duration::from_secs(5)).await;
    a.signal(&b_welcome.id, json!({ "to": "new" })).await;
    b.expect_signal(&a_welcome.id, json!({ "to": "new" })).await;
    a.expect_nothing_queued().await;
}

#[tokio::test]
async fn a_forged_or_foreign_token_is_refused_and_changes_nothing() {
    let server = Server::start();
    let room = server.create_room(None).await;
    let other = server.create_room(None).await;
    let (_a, a_welcome) = server.joined(&room, None).await;
    let mut ws = server.ws().await;
    for bad in ["", "not-a-token", &token(&a_welcome)[1..]] {
        ws.send_json(json!({ "type": "join", "room": room, "resume": bad }))
            .await;
        ws.expect_error("bad-request", Some("join")).await;
    }
    // A genuine token for another room.
    ws.send_json(json!({ "type": "join", "room": other, "resume": token(&a_welcome) }))
        .await;
    ws.expect_error("bad-request", Some("join")).await;
    assert_eq!(server.members(&room).await, Some(1));
    assert_eq!(server.members(&other).await, Some(0));
}

#[tokio::test]
async fn the_seat_is_given_up_when_the_grace_period_ends() {
    let server = Server::with_args(&["--resume-grace", "500ms"]);
    let (room, (mut a, _), (b, b_welcome)) = server.two_in_room().await;
    let lost_at = std::time::Instant::now();
    drop(b.into_tcp());
    a.expect_peer_left(&b_welcome.id).await;
    // Not before the grace was over.
    assert!(lost_at.elapsed() >= Duration::from_millis(500));
    // The token expired with its seat: coming back late is a new join.
    let mut late = server.ws().await;
    late.send_json(json!({ "type": "join", "room": room, "resume": token(&b_welcome) }))
        .await;
    let refused = late.expect_error("bad-request", Some("join")).await;
    assert!(
        refused["message"].as_str().unwrap().contains("given up"),
        "{refused}"
    );
    a.expect_nothing_queued().await;
    let (_b, welcome) = server.joined(&room, None).await;
    assert_ne!(welcome.id, b_welcome.id, "a new join, a new peer id");
    a.expect_peer_joined(&welcome.id, None).await;
    assert_eq!(server.metric("parlor_resumes_total").await, 0);
}

#[tokio::test]
async fn a_token_does_not_bring_back_a_room_that_expired() {
    let server = Server::with_args(&["--room-idle-timeout", "1s"]);
    let room = server.create_room(None).await;
    let (a, a_welcome) = server.joined(&room, None).await;
    a.close().await;
    support::eventually(Duration::from_secs(5), "the room expires", || async {
        server.members(&room).await.is_none()
    })
    .await;
    let mut ws = server.ws().await;
    ws.send_json(json!({ "type": "join", "room": room, "resume": token(&a_welcome) }))
        .await;
    ws.expect_error("room-not-found", Some("join")).await;
    assert_eq!(server.members(&room).await, None);
    assert_eq!(server.metric("parlor_rooms").await, 0);
}

#[tokio::test]
async fn calls_resume_across_a_restart_with_the_same_secret() {
    let first = Server::with_args(&["--secret", "shared-key"]);
    let room = first.create_room(Some(3)).await;
    let (_a, a_welcome) = first.joined(&room, Some("Ada")).await;
    let (_b, b_welcome) = first.joined(&room, Some("Bob")).await;
    drop(first);

    let second = Server::with_args(&["--secret", "shared-key"]);
    let (mut a, welcome) = resume(&second, &room, &token(&a_welcome)).await;
    assert_eq!(welcome["id"], a_welcome.id.as_str());
    assert_eq!(welcome["peers"], json!([]));
    let (_b, welcome) = resume(&second, &room, &token(&b_welcome)).await;
    assert_eq!(welcome["id"], b_welcome.id.as_str());
    a.expect_peer_joined(&b_welcome.id, None).await;
    let status = second.get(&format!("/api/rooms/{room}")).await.json();
    assert_eq!(status["capacity"], 3, "the capacity came with the token");

    let third = Server::with_args(&["--secret", "another-key"]);
    let mut ws = third.ws().await;
    ws.send_json(json!({ "type": "join", "room": room, "resume": token(&a_welcome) }))
        .await;
    ws.expect_error("bad-request", Some("join")).await;
}

#[tokio::test]
async fn every_message_kept_for_a_lost_member_reaches_it() {
    // 256 messages is the documented most that waits for a lost member;
    // with its `welcome` they are more than the 256 of --send-queue.
    let server = Server::start();
    let (room, (mut a, a_welcome), (b, b_welcome)) = server.two_in_room().await;
    drop(b.into_tcp());
    lost(&server, &mut a).await;
    for n in 0..256 {
        a.signal(&b_welcome.id, json!({ "n": n })).await;
    }
    a.expect_nothing_queued().await;
    assert_eq!(server.members(&room).await, Some(2), "the seat is held");

    let (mut b, welcome) = resume(&server, &room, &token(&b_welcome)).await;
    assert_eq!(welcome["resumed"], true);
    for n in 0..256 {
        b.expect_signal(&a_welcome.id, json!({ "n": n })).await;
    }
    b.signal(&a_welcome.id, json!({ "still": "here" })).await;
    a.expect_signal(&b_welcome.id, json!({ "still": "here" }))
        .await;
}

/// A room made through the API and never joined is still there after the
/// server is killed and started again on the same state directory: its
/// invite link outlives the restart.
#[tokio::test]
async fn a_room_nobody_joined_yet_outlives_a_restart() {
    let state = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("parlor-kept-rooms-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state);
    let args = ["--state-dir", state.to_str().unwrap()];
    let server = Server::with_args(&args);
    let room = server.create_room(Some(3)).await;
    drop(server);
    let server = Server::with_args(&args);
    assert_eq!(
        server.members(&room).await,
        Some(0),
        "the room is known again"
    );
    assert_eq!(server.members("never-made-room-id-000").await, None);
}
