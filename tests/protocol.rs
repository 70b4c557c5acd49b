//! The WebSocket protocol of PROTOCOL.md, message by message: joining,
//! leaving, relaying signals, every error code, and the frame rules.
//!
//! Past 600 lines on purpose: PROTOCOL.md is one contract, read top to
//! bottom; the sections below follow its order.

mod support;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use support::{Ended, Server, assert_error};

// ---------------------------------------------------------------------------
// join
// ---------------------------------------------------------------------------

#[tokio::test]
async fn first_join_gets_welcome_with_no_peers() {
    let server = Server::start();
    let room = server.create_room(None).await;
    let mut a = server.ws().await;
    a.send_json(json!({ "type": "join", "room": room, "name": "Ada" }))
        .await;
    let welcome = a.recv_json().await;
    let id = welcome["id"].as_str().expect("id is a string").to_owned();
    assert!(!id.is_empty());
    // iceServers depends on configuration (the built-in TURN server may be
    // there or not); everything else is exact.
    let ice = welcome["iceServers"].clone();
    assert!(ice.is_array(), "{welcome}");
    assert_eq!(
        support::welcome_core(&welcome),
        json!({ "type": "welcome", "room": room, "id": id, "peers": [], "iceServers": ice })
    );
    a.expect_nothing_queued().await;
    assert_eq!(server.members(&room).await, Some(1));
}

#[tokio::test]
async fn no_ice_servers_configured_is_an_empty_list() {
    let server = Server::with_args(&["--turn-disable"]);
    let room = server.create_room(None).await;
    let (_a, welcome) = server.joined(&room, None).await;
    assert_eq!(welcome.raw["iceServers"], json!([]));
}

#[tokio::test]
async fn ice_servers_are_rtc_ice_server_objects() {
    let server = Server::with_args(&[
        "--turn-disable",
        "--ice-server",
        "stun:stun.example.org:3478",
        "--ice-server",
        "stun:stun2.example.org:3478",
    ]);
    let room = server.create_room(None).await;
    let (_a, welcome) = server.joined(&room, None).await;
    let ice = welcome.raw["iceServers"].as_array().unwrap();
    let urls: Vec<Value> = ice
        .iter()
        .flat_map(|s| match &s["urls"] {
            Value::Array(list) => list.clone(),
            one => vec![one.clone()],
        })
        .collect();
    assert_eq!(
        urls,
        [
            json!("stun:stun.example.org:3478"),
            json!("stun:stun2.example.org:3478")
        ]
    );
}

#[tokio::test]
async fn later_joins_list_earlier_peers_oldest_first() {
    let server = Server::start();
    let room = server.create_room(Some(4)).await;
    let (mut a, wa) = server.joined(&room, Some("Ada")).await;

    let (mut b, wb) = server.joined(&room, None).await;
    assert_eq!(wb.peers, vec![json!({ "id": wa.id, "name": "Ada" })]);
    a.expect_peer_joined(&wb.id, None).await;

    let (mut c, wc) = server.joined(&room, Some("Cy")).await;
    assert_eq!(
        wc.peers,
        vec![
            json!({ "id": wa.id, "name": "Ada" }),
            json!({ "id": wb.id })
        ]
    );
    a.expect_peer_joined(&wc.id, Some("Cy")).await;
    b.expect_peer_joined(&wc.id, Some("Cy")).await;

    let ids = [&wa.id, &wb.id, &wc.id];
    assert!(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2]);

    // Once the oldest leaves, the order of the rest stays.
    a.leave().await;
    b.expect_peer_left(&wa.id).await;
    c.expect_peer_left(&wa.id).await;
    let (_d, wd) = server.joined(&room, None).await;
    assert_eq!(
        wd.peers,
        vec![json!({ "id": wb.id }), json!({ "id": wc.id, "name": "Cy" })]
    );
    b.expect_peer_joined(&wd.id, None).await;
    c.expect_peer_joined(&wd.id, None).await;
    a.expect_nothing_queued().await;
}

#[tokio::test]
async fn full_room_refuses_and_tells_nobody() {
    let server = Server::start();
    let (room, (mut a, wa), (mut b, wb)) = server.two_in_room().await;

    let mut c = server.ws().await;
    c.send_json(json!({ "type": "join", "room": room, "name": "Eve" }))
        .await;
    c.expect_error("room-full", Some("join")).await;
    a.expect_nothing_queued().await;
    b.expect_nothing_queued().await;
    assert_eq!(server.members(&room).await, Some(2));

    // The refused connection is untouched: it may join elsewhere.
    let other = server.create_room(None).await;
    let wc = c.join(&other, None).await;
    assert!(wc.peers.is_empty());
    // And the full room still works for its members.
    a.signal(&wb.id, json!({ "n": 1 })).await;
    b.expect_signal(&wa.id, json!({ "n": 1 })).await;
}

#[tokio::test]
async fn a_seat_freed_by_leave_can_be_taken() {
    let server = Server::start();
    let room = server.create_room(None).await;
    let (mut a, _) = server.joined(&room, None).await;
    let (mut b, wb) = server.joined(&room, None).await;
    a.recv_json().await; // peer-joined
    b.leave().await;
    a.expect_peer_left(&wb.id).await;
    let (_c, wc) = server.joined(&room, None).await;
    assert_eq!(wc.peers.len(), 1);
    a.expect_peer_joined(&wc.id, None).await;
}

#[tokio::test]
async fn unknown_room_is_not_found() {
    let server = Server::start();
    let mut a = server.ws().await;
    for room in ["AAAAAAAAAAAAAAAAAAAAAA", "", "../etc", "r/../x"] {
        a.send_json(json!({ "type": "join", "room": room })).await;
        a.expect_error("room-not-found", Some("join")).await;
    }
    // Joining does not create: the room still does not exist.
    assert_eq!(server.members("AAAAAAAAAAAAAAAAAAAAAA").await, None);
    // And the connection can still join a real room.
    let room = server.create_room(None).await;
    a.join(&room, None).await;
}

#[tokio::test]
async fn join_while_joined_is_already_joined() {
    let server = Server::start();
    let (room, (mut a, wa), (mut b, wb)) = server.two_in_room().await;
    let other = server.create_room(None).await;

    for target in [&other, &room, &"AAAAAAAAAAAAAAAAAAAAAA".to_owned()] {
        a.send_json(json!({ "type": "join", "room": target })).await;
        a.expect_error("already-joined", Some("join")).await;
    }
    b.expect_nothing_queued().await;
    assert_eq!(server.members(&room).await, Some(2));
    assert_eq!(server.members(&other).await, Some(0));
    // Still a member, with the same id.
    b.signal(&wa.id, json!({ "still": "here" })).await;
    a.expect_signal(&wb.id, json!({ "still": "here" })).await;
}

#[tokio::test]
async fn join_needs_a_string_room() {
    let server = Server::start();
    let room = server.create_room(None).await;
    let mut a = server.ws().await;
    a.send_json(json!({ "type": "join" })).await;
    a.expect_error("bad-request", Some("join")).await;
    for bad in [json!(5), json!(null), json!(["x"]), json!({ "id": room })] {
        a.send_json(json!({ "type": "join", "room": bad })).await;
        let message = a.recv_json().await;
        assert_eq!(message["type"], "error");
        assert_eq!(message["code"], "bad-request", "{message}");
    }
    assert_eq!(server.members(&room).await, Some(0));
    a.join(&room, None).await;
}

// ---------------------------------------------------------------------------
// names
// ---------------------------------------------------------------------------

#[tokio::test]
async fn names_up_to_64_characters() {
    let server = Server::start();
    let room = server.create_room(Some(6)).await;
    let (mut a, _) = server.joined(&room, None).await;

    let mut members = Vec::new();
    for name in [
        "x".repeat(64),
        "é".repeat(64),
        "語".repeat(64),
        "Ada Lovelace 🙂".into(),
    ] {
        let (member, welcome) = server.joined(&room, Some(&name)).await;
        a.expect_peer_joined(&welcome.id, Some(&name)).await;
        members.push(member);
    }
    // A name of nothing but white space counts as none (docs/protocol.md).
    for blank in ["", "   ", "\t"] {
        let (member, welcome) = server.joined(&room, Some(blank)).await;
        a.expect_peer_joined(&welcome.id, None).await;
        member.close().await;
        a.expect_peer_left(&welcome.id).await;
    }
    assert_eq!(server.members(&room).await, Some(5));
}

#[tokio::test]
async fn names_over_64_characters_are_refused() {
    let server = Server::start();
    let room = server.create_room(None).await;
    let (mut a, _) = server.joined(&room, None).await;
    let mut b = server.ws().await;
    for name in ["x".repeat(65), "é".repeat(65), "y".repeat(1000)] {
        b.send_json(json!({ "type": "join", "room": room, "name": name }))
            .await;
        b.expect_error("bad-request", Some("join")).await;
    }
    b.send_json(json!({ "type": "join", "room": room, "name": 42 }))
        .await;
    let message = b.recv_json().await;
    assert_eq!(message["code"], "bad-request", "{message}");
    a.expect_nothing_queued().await;
    assert_eq!(server.members(&room).await, Some(1));
    // Nothing changed: the same connection joins with a good name.
    let wb = b.join(&room, Some("Bob")).await;
    a.expect_peer_joined(&wb.id, Some("Bob")).await;
}

// ---------------------------------------------------------------------------
// leave
// ---------------------------------------------------------------------------

#[tokio::test]
async fn leave_has_no_reply_and_tells_the_others() {
    let server = Server::start();
    let room = server.create_room(Some(3)).await;
    let (mut a, wa) = server.joined(&room, Some("Ada")).await;
    let (mut b, wb) = server.joined(&room, None).await;
    let (mut c, wc) = server.joined(&room, None).await;
    a.expect_peer_joined(&wb.id, None).await;
    a.expect_peer_joined(&wc.id, None).await;
    b.expect_peer_joined(&wc.id, None).await;

    a.leave().await;
    a.expect_nothing_queued().await;
    b.expect_peer_left(&wa.id).await;
    c.expect_peer_left(&wa.id).await;
    assert_eq!(server.members(&room).await, Some(2));

    // Out of the room: signals to former peers are refused.
    a.signal(&wb.id, json!({})).await;
    a.expect_error("not-in-room", Some("signal")).await;
    // And former peers cannot reach it.
    b.signal(&wa.id, json!({})).await;
    b.expect_error("peer-not-found", Some("signal")).await;

    // The connection may join again, and the others hear of it.
    let again = a.join(&room, Some("Ada")).await;
    assert_eq!(
        again.peers,
        vec![json!({ "id": wb.id }), json!({ "id": wc.id })]
    );
    b.expect_peer_joined(&again.id, Some("Ada")).await;
    c.expect_peer_joined(&again.id, Some("Ada")).await;
    b.signal(&again.id, json!({ "hi": true })).await;
    a.expect_signal(&wb.id, json!({ "hi": true })).await;
}

#[tokio::test]
async fn leave_and_join_another_room() {
    let server = Server::start();
    let first = server.create_room(None).await;
    let second = server.create_room(None).await;
    let (mut a, _) = server.joined(&first, None).await;
    a.leave().await;
    a.expect_nothing_queued().await;
    let welcome = a.join(&second, None).await;
    assert!(welcome.peers.is_empty());
    assert_eq!(server.members(&first).await, Some(0));
    assert_eq!(server.members(&second).await, Some(1));
}

#[tokio::test]
async fn leave_outside_a_room_is_not_in_room() {
    let server = Server::start();
    let room = server.create_room(None).await;
    let mut a = server.ws().await;
    a.leave().await;
    a.expect_error("not-in-room", Some("leave")).await;
    // After leaving once, a second leave is refused too.
    a.join(&room, None).await;
    a.leave().await;
    a.expect_nothing_queued().await;
    a.leave().await;
    a.expect_error("not-in-room", Some("leave")).await;
    a.join(&room, None).await;
}

// ---------------------------------------------------------------------------
// signal
// ---------------------------------------------------------------------------

#[tokio::test]
async fn signal_is_relayed_to_the_addressed_peer_only() {
    let server = Server::start();
    let room = server.create_room(Some(3)).await;
    let (mut a, wa) = server.joined(&room, None).await;
    let (mut b, wb) = server.joined(&room, None).await;
    let (mut c, wc) = server.joined(&room, None).await;
    a.recv_json().await;
    a.recv_json().await;
    b.recv_json().await;

    let offer =
        json!({ "description": { "type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n" } });
    c.signal(&wa.id, offer.clone()).await;
    a.expect_signal(&wc.id, offer).await;
    b.expect_nothing_queued().await;
    c.expect_nothing_queued().await;

    let candidate = json!({ "candidate": null });
    a.signal(&wb.id, candidate.clone()).await;
    b.expect_signal(&wa.id, candidate).await;
    a.signal(&wc.id, json!({})).await;
    c.expect_signal(&wa.id, json!({})).await;
    a.expect_nothing_queued().await;
}

#[tokio::test]
async fn signal_outside_a_room_is_not_in_room() {
    let server = Server::start();
    let room = server.create_room(None).await;
    let (_a, wa) = server.joined(&room, None).await;
    let mut x = server.ws().await;
    x.signal(&wa.id, json!({ "x": 1 })).await;
    x.expect_error("not-in-room", Some("signal")).await;
}

#[tokio::test]
async fn signal_to_self_unknown_or_other_room_is_peer_not_found() {
    let server = Server::start();
    let room = server.create_room(None).await;
    let elsewhere = server.create_room(None).await;
    let (mut a, wa) = server.joined(&room, None).await;
    let (mut b, wb) = server.joined(&room, None).await;
    let (mut x, wx) = server.joined(&elsewhere, None).await;
    a.expect_peer_joined(&wb.id, None).await;

    for to in [wa.id.as_str(), "nobody", "", wx.id.as_str(), room.as_str()] {
        a.signal(to, json!({ "to": to })).await;
        a.expect_error("peer-not-found", Some("signal")).await;
    }
    x.signal(&wa.id, json!({})).await;
    x.expect_error("peer-not-found", Some("signal")).await;
    b.expect_nothing_queued().await;
    x.expect_nothing_queued().await;

    // Nothing changed for anyone.
    a.signal(&wb.id, json!({ "ok": 1 })).await;
    b.expect_signal(&wa.id, json!({ "ok": 1 })).await;
}

#[tokio::test]
async fn signal_data_must_be_an_object() {
    let server = Server::start();
    let room = server.create_room(None).await;
    let (mut a, _) = server.joined(&room, None).await;
    let (mut b, wb) = server.joined(&room, None).await;
    a.recv_json().await;
    let to = &wb.id;
    for data in ["1", "\"offer\"", "[1,2]", "[]", "null", "true", " 7 "] {
        a.send_text(format!(r#"{{"type":"signal","to":"{to}","data":{data}}}"#))
            .await;
        a.expect_error("bad-request", Some("signal")).await;
    }
    // Missing fields.
    a.send_text(format!(r#"{{"type":"signal","to":"{to}"}}"#))
        .await;
    a.expect_error("bad-request", Some("signal")).await;
    a.send_text(r#"{"type":"signal","data":{}}"#).await;
    a.expect_error("bad-request", Some("signal")).await;
    a.send_text(r#"{"type":"signal","to":5,"data":{}}"#).await;
    let message = a.recv_json().await;
    assert_eq!(message["code"], "bad-request", "{message}");
    b.expect_nothing_queued().await;
}

#[derive(Deserialize)]
struct RawSignal<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    from: &'a str,
    #[serde(borrow)]
    data: &'a RawValue,
}

#[tokio::test]
async fn signal_data_is_relayed_byte_for_byte() {
    let server = Server::start();
    let room = server.create_room(None).await;
    let (mut a, wa) = server.joined(&room, None).await;
    let (mut b, wb) = server.joined(&room, None).await;
    a.recv_json().await;

    let payloads = [
        r#"{}"#,
        r#"{ }"#,
        r#"{"b":2,"a":1}"#,
        r#"{ "z" : 1 ,	"a" : [ 1.50, -0.0, 1e2, 1E-7 ] }"#,
        "{\n  \"description\" : {\"type\":\"offer\",\"sdp\":\"v=0\\r\\n\"}\n}",
        r#"{"u":"\u00e9\u0041\ud83d\ude00\/\"","raw":"é😀"}"#,
        r#"{"big":123456789012345678901234567890,"neg":-98765432109876543210.000}"#,
        r#"{"dup":1,"dup":2}"#,
        r#"{"deep":{"a":[{"b":[{"c":null}]}],"t":true,"f":false}}"#,
        r#"{"candidate":null}"#,
    ];
    for data in payloads {
        a.send_text(format!(
            r#"{{"type":"signal","to":"{}","data":{data}}}"#,
            wb.id
        ))
        .await;
        let text = b.recv_text().await;
        let relayed: RawSignal =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("relayed signal {text}: {e}"));
        assert_eq!(relayed.kind, "signal");
        assert_eq!(relayed.from, wa.id);
        assert_eq!(relayed.data.get(), data, "data changed in transit");
        // Exactly three fields.
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value.as_object().unwrap().len(), 3, "{text}");
    }
    // Whitespace around the value and extra envelope fields do not matter.
    a.send_text(format!(
        "{{ \"data\" :  {{\"k\": 1}} , \"extra\": [1], \"to\":\"{}\", \"type\":\"signal\" }}",
        wb.id
    ))
    .await;
    let text = b.recv_text().await;
    let relayed: RawSignal = serde_json::from_str(&text).unwrap();
    assert_eq!(relayed.data.get(), r#"{"k": 1}"#);
}

// ---------------------------------------------------------------------------
// malformed frames
// ---------------------------------------------------------------------------

#[tokio::test]
async fn malformed_frames_are_bad_requests_and_the_connection_stays() {
    let server = Server::start();
    let room = server.create_room(None).await;
    let (mut a, wa) = server.joined(&room, None).await;
    let (mut b, wb) = server.joined(&room, None).await;
    a.recv_json().await;

    let without_ref = [
        "",
        "not json",
        "{",
        "[]",
        r#"[{"type":"leave"}]"#,
        "42",
        "\"join\"",
        "null",
        "{}",
        r#"{"room":"x"}"#,
        r#"{"type":7}"#,
        r#"{"type":null}"#,
        r#"{"type":["leave"]}"#,
        r#"{"type":"leave"} {"type":"leave"}"#,
    ];
    for text in without_ref {
        b.send_text(text).await;
        let message = b.recv_json().await;
        assert_eq!(message["type"], "error", "{text}: {message}");
        assert_eq!(message["code"], "bad-request", "{text}: {message}");
        assert!(message["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(message.get("ref").is_none(), "{text}: {message}");
    }

    for kind in ["dance", "JOIN", "welcome", "error", "peer-joined", ""] {
        b.send_json(json!({ "type": kind, "room": room })).await;
        b.expect_error("bad-request", Some(kind)).await;
    }

    b.send_binary(br#"{"type":"leave"}"#.to_vec()).await;
    b.expect_error("bad-request", None).await;
    b.send_binary(vec![0, 159, 146, 150]).await;
    b.expect_error("bad-request", None).await;

    // Nothing of that reached the other member, and b is still in the room.
    a.expect_nothing_queued().await;
    assert_eq!(server.members(&room).await, Some(2));
    b.signal(&wa.id, json!({ "after": "errors" })).await;
    a.expect_signal(&wb.id, json!({ "after": "errors" })).await;
}

#[tokio::test]
async fn malformed_frames_before_joining_change_nothing() {
    let server = Server::start();
    let room = server.create_room(None).await;
    let mut a = server.ws().await;
    a.send_binary(vec![1, 2, 3]).await;
    a.expect_error("bad-request", None).await;
    a.send_text("}{").await;
    a.expect_error("bad-request", None).await;
    a.send_json(json!({ "type": "hello" })).await;
    a.expect_error("bad-request", Some("hello")).await;
    a.join(&room, None).await;
}

// ---------------------------------------------------------------------------
// frame size
// ---------------------------------------------------------------------------

/// A `signal` frame to `to` padded to exactly `size` bytes.
fn padded_signal(to: &str, size: usize) -> (String, String) {
    let head = format!(r#"{{"type":"signal","to":"{to}","data":{{"pad":""#);
    let tail = r#""}}"#;
    let pad = "x".repeat(size - head.len() - tail.len());
    let frame = format!("{head}{pad}{tail}");
    assert_eq!(frame.len(), size);
    let data = format!(r#"{{"pad":"{pad}"}}"#);
    (frame, data)
}

#[tokio::test]
async fn a_frame_of_64_kib_is_accepted() {
    let server = Server::start();
    let room = server.create_room(None).await;
    let (mut a, wa) = server.joined(&room, None).await;
    let (mut b, wb) = server.joined(&room, None).await;
    a.recv_json().await;

    let (frame, data) = padded_signal(&wb.id, 65536);
    a.send_text(frame).await;
    let text = b.recv_text().await;
    let relayed: RawSignal = serde_json::from_str(&text).unwrap();
    assert_eq!(relayed.from, wa.id);
    assert_eq!(relayed.data.get(), data);

    // An unknown type padded to the limit is answered, not cut off.
    let head = r#"{"type":"padding","pad":""#;
    let frame = format!("{head}{}\"}}", "y".repeat(65536 - head.len() - 2));
    assert_eq!(frame.len(), 65536);
    a.send_text(frame).await;
    a.expect_error("bad-request", Some("padding")).await;

    // Multi-byte characters count as bytes: 65536 bytes of them are fine.
    let head = format!(r#"{{"type":"signal","to":"{}","data":{{"p":""#, wb.id);
    let room_left = 65536 - head.len() - 3;
    let mut pad = "é".repeat(room_left / 2);
    pad.push_str(&"x".repeat(room_left % 2));
    let frame = format!("{head}{pad}\"}}}}");
    assert_eq!(frame.len(), 65536);
    a.send_text(frame).await;
    let text = b.recv_text().await;
    let relayed: RawSignal = serde_json::from_str(&text).unwrap();
    assert_eq!(relayed.data.get(), format!(r#"{{"p":"{pad}"}}"#));

    a.signal(&wb.id, json!({ "still": "open" })).await;
    b.expect_signal(&wa.id, json!({ "still": "open" })).await;
}

#[tokio::test]
async fn a_frame_over_64_kib_closes_with_1009() {
    let server = Server::start();
    let room = server.create_room(None).await;
    let (mut a, wa) = server.joined(&room, None).await;
    let (mut b, wb) = server.joined(&room, None).await;
    a.recv_json().await;

    let (frame, _) = padded_signal(&wa.id, 65537);
    b.send_text(frame).await;
    match b.expect_end(std::time::Duration::from_secs(5)).await {
        Ended::Closed(Some(close)) => assert_eq!(u16::from(close.code), 1009, "{close:?}"),
        other => panic!("expected a close frame with 1009, got {other:?}"),
    }
    // The oversized signal was not relayed; the sender is gone.
    a.expect_peer_left(&wb.id).await;
    a.expect_nothing_queued().await;
    assert_eq!(server.members(&room).await, Some(1));
}

#[tokio::test]
async fn an_oversized_frame_outside_a_room_closes_with_1009() {
    let server = Server::start();
    let mut a = server.ws().await;
    let frame = format!(r#"{{"type":"x","p":"{}"}}"#, "z".repeat(200_000));
    a.send_text(frame).await;
    match a.expect_end(std::time::Duration::from_secs(5)).await {
        Ended::Closed(Some(close)) => assert_eq!(u16::from(close.code), 1009, "{close:?}"),
        other => panic!("expected a close frame with 1009, got {other:?}"),
    }
    // The server is fine.
    assert_eq!(server.get("/healthz").await.status, 200);
}

// ---------------------------------------------------------------------------
// errors leave everything as it was
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_storm_of_refusals_changes_no_room() {
    let server = Server::start();
    let room = server.create_room(None).await;
    let other = server.create_room(Some(3)).await;
    let (mut a, wa) = server.joined(&room, Some("Ada")).await;
    let (mut b, wb) = server.joined(&room, Some("Bob")).await;
    a.recv_json().await;
    let (mut x, wx) = server.joined(&other, None).await;
    let mut y = server.ws().await;

    // Every refusable request from every kind of connection.
    y.send_json(json!({ "type": "join", "room": room })).await;
    y.expect_error("room-full", Some("join")).await;
    y.send_json(json!({ "type": "leave" })).await;
    y.expect_error("not-in-room", Some("leave")).await;
    y.signal(&wa.id, json!({})).await;
    y.expect_error("not-in-room", Some("signal")).await;
    a.send_json(json!({ "type": "join", "room": other })).await;
    a.expect_error("already-joined", Some("join")).await;
    a.signal(&wx.id, json!({})).await;
    a.expect_error("peer-not-found", Some("signal")).await;
    x.signal(&wb.id, json!({})).await;
    x.expect_error("peer-not-found", Some("signal")).await;
    b.send_json(json!({ "type": "join", "room": room, "name": "Bob" }))
        .await;
    b.expect_error("already-joined", Some("join")).await;

    for ws in [&mut a, &mut b, &mut x, &mut y] {
        ws.expect_nothing_queued().await;
    }
    assert_eq!(server.members(&room).await, Some(2));
    assert_eq!(server.members(&other).await, Some(1));

    // The rooms behave exactly as before.
    let (mut z, wz) = server.joined(&other, None).await;
    assert_eq!(wz.peers, vec![json!({ "id": wx.id })]);
    x.expect_peer_joined(&wz.id, None).await;
    z.signal(&wx.id, json!({ "z": 1 })).await;
    x.expect_signal(&wz.id, json!({ "z": 1 })).await;
    b.signal(&wa.id, json!({ "b": 1 })).await;
    a.expect_signal(&wb.id, json!({ "b": 1 })).await;
    let wy = y.join(&other, None).await;
    assert_eq!(
        wy.peers,
        vec![json!({ "id": wx.id }), json!({ "id": wz.id })]
    );
}

#[test]
fn error_shape_helper_rejects_wrong_shapes() {
    // The helper the suite leans on must itself be able to fail.
    let good = json!({ "type": "error", "code": "room-full", "message": "full", "ref": "join" });
    assert_error(&good, "room-full", Some("join"));
    for bad in [
        json!({ "type": "error", "code": "room-full", "message": "full" }),
        json!({ "type": "error", "code": "room-full", "message": "", "ref": "join" }),
        json!({ "type": "error", "code": "bad-request", "message": "x", "ref": "join" }),
        json!({ "type": "error", "code": "room-full", "message": "x", "ref": "join", "more": 1 }),
    ] {
        let result = std::panic::catch_unwind(|| assert_error(&bad, "room-full", Some("join")));
        assert!(result.is_err(), "accepted {bad}");
    }
}
