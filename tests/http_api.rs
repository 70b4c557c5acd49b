//! The HTTP surface of PROTOCOL.md: creating rooms, the app pages, health,
//! metrics, and the headers every answer carries.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use serde_json::json;
use support::{Response, Server, eventually};

fn assert_room_id(room: &str) {
    // At least 96 bits of randomness in a 64-symbol alphabet: 16 characters.
    assert!(
        room.len() >= 16,
        "room id {room:?} is too short for 96 bits"
    );
    assert!(
        room.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "room id {room:?} uses characters outside [A-Za-z0-9_-]"
    );
}

fn assert_created(response: &Response, capacity: u64) -> String {
    assert_eq!(response.status, 201, "{}", response.text());
    let content_type = response.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let body = response.json();
    let room = body["room"].as_str().expect("room is a string").to_owned();
    assert_eq!(body, json!({ "room": room, "capacity": capacity }));
    assert_eq!(response.header("location"), Some(&*format!("/r/{room}")));
    assert_room_id(&room);
    room
}

#[tokio::test]
async fn create_room_without_body_is_one_to_one() {
    let server = Server::start();
    let response = server.post("/api/rooms", None).await;
    let room = assert_created(&response, 2);
    assert_eq!(
        server.get(&format!("/api/rooms/{room}")).await.json(),
        json!({ "room": room, "capacity": 2, "members": 0 })
    );
}

#[tokio::test]
async fn create_room_with_capacity() {
    let server = Server::start();
    for capacity in [2, 3, 6] {
        let body = json!({ "capacity": capacity }).to_string();
        let response = server.post("/api/rooms", Some(&body)).await;
        let room = assert_created(&response, capacity);
        let status = server.get(&format!("/api/rooms/{room}")).await;
        assert_eq!(status.status, 200);
        assert_eq!(
            status.json(),
            json!({ "room": room, "capacity": capacity, "members": 0 })
        );
    }
    // An empty object and extra fields are fine: capacity defaults to 2.
    assert_created(&server.post("/api/rooms", Some("{}")).await, 2);
    assert_created(&server.post("/api/rooms", Some(" \r\n")).await, 2);
    assert_created(
        &server
            .post("/api/rooms", Some(r#"{"capacity":3,"topic":"x"}"#))
            .await,
        3,
    );
}

#[tokio::test]
async fn room_ids_are_random_and_distinct() {
    let server = Server::start();
    let mut seen = HashSet::new();
    for _ in 0..40 {
        let room = assert_created(&server.post("/api/rooms", None).await, 2);
        assert!(
            seen.insert(room.clone()),
            "room id {room} was handed out twice"
        );
    }
    // Distinct ids that also differ early on (not a counter in disguise).
    let prefixes: HashSet<_> = seen.iter().map(|r| &r[..8]).collect();
    assert_eq!(prefixes.len(), seen.len(), "ids share prefixes: {seen:?}");
}

#[tokio::test]
async fn create_room_refuses_bad_capacities_and_bodies() {
    let server = Server::start();
    for body in [
        r#"{"capacity":1}"#,
        r#"{"capacity":0}"#,
        r#"{"capacity":-1}"#,
        r#"{"capacity":7}"#,
        r#"{"capacity":1000000000000}"#,
        r#"{"capacity":2.5}"#,
        r#"{"capacity":"2"}"#,
        r#"{"capacity":true}"#,
        r#"{"capacity":{}}"#,
        r#"{"capacity":2"#,
        "capacity=2",
        "not json",
        "null",
        "\"x\"",
        "[3]",
        "[]",
    ] {
        let response = server.post("/api/rooms", Some(body)).await;
        assert_eq!(response.status, 400, "body {body}: {}", response.text());
        response.assert_error(400, "bad-request");
    }
    // A body over 4 KiB is not read.
    let big = format!(r#"{{"capacity":2,"pad":"{}"}}"#, "x".repeat(5000));
    assert_eq!(server.post("/api/rooms", Some(&big)).await.status, 413);
    // Nothing was created by the refusals.
    assert_eq!(server.metric("parlor_rooms").await, 0);
    assert_eq!(server.metric("parlor_rooms_created_total").await, 0);
}

#[tokio::test]
async fn max_room_capacity_is_configurable() {
    let server = Server::with_args(&["--max-room-capacity", "3"]);
    assert_created(
        &server.post("/api/rooms", Some(r#"{"capacity":3}"#)).await,
        3,
    );
    server
        .post("/api/rooms", Some(r#"{"capacity":4}"#))
        .await
        .assert_error(400, "bad-request");

    let server = Server::with_args(&["--max-room-capacity", "10"]);
    assert_created(
        &server.post("/api/rooms", Some(r#"{"capacity":10}"#)).await,
        10,
    );
    server
        .post("/api/rooms", Some(r#"{"capacity":11}"#))
        .await
        .assert_error(400, "bad-request");
}

#[tokio::test]
async fn room_count_cap_refuses_more_rooms_until_some_are_forgotten() {
    let server = Server::with_args(&["--max-rooms", "2", "--room-idle-timeout", "1s"]);
    assert_created(&server.post("/api/rooms", None).await, 2);
    assert_created(&server.post("/api/rooms", None).await, 2);
    let refused = server.post("/api/rooms", None).await;
    refused.assert_error(503, "rate-limited");
    assert_eq!(server.metric("parlor_rooms").await, 2);
    // Unused rooms are forgotten after the idle timeout, freeing the cap.
    eventually(Duration::from_secs(4), "idle rooms forgotten", || async {
        server.metric("parlor_rooms").await == 0
    })
    .await;
    assert_created(&server.post("/api/rooms", None).await, 2);
}

#[tokio::test]
async fn room_status_extension() {
    let server = Server::start();
    let room = server.create_room(Some(3)).await;
    let response = server.get(&format!("/api/rooms/{room}")).await;
    assert_eq!(response.status, 200);
    assert!(
        response
            .header("content-type")
            .unwrap_or_default()
            .starts_with("application/json")
    );
    assert_eq!(
        response.json(),
        json!({ "room": room, "capacity": 3, "members": 0 })
    );
    let (_a, _) = server.joined(&room, Some("Ada")).await;
    assert_eq!(server.members(&room).await, Some(1));

    let missing = server.get("/api/rooms/AAAAAAAAAAAAAAAAAAAAAA").await;
    missing.assert_error(404, "room-not-found");
}

#[tokio::test]
async fn app_pages_are_html() {
    let server = Server::start();
    let room = server.create_room(None).await;
    for path in ["/".to_owned(), format!("/r/{room}")] {
        let response = server.get(&path).await;
        assert_eq!(response.status, 200, "{path}");
        let content_type = response.header("content-type").unwrap_or_default();
        assert!(
            content_type.starts_with("text/html"),
            "{path}: {content_type}"
        );
        let body = response.text().to_ascii_lowercase();
        assert!(
            body.contains("<html") || body.contains("<!doctype html"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn healthz_metrics_and_unknown_paths() {
    let server = Server::start();
    let health = server.get("/healthz").await;
    assert_eq!(health.status, 200);

    let unknown = server.get("/no/such/path").await;
    assert_eq!(unknown.status, 404);
    assert_eq!(server.get("/api/nope").await.status, 404);

    let metrics = server.get("/metrics").await;
    assert_eq!(metrics.status, 200);
    let content_type = metrics.header("content-type").unwrap_or_default();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = metrics.text();
    let mut samples = 0;
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            assert!(
                line.is_empty() || line.starts_with("# HELP ") || line.starts_with("# TYPE "),
                "{line}"
            );
            continue;
        }
        let (name, value) = line.rsplit_once(' ').expect("`name value`");
        assert!(name.starts_with("parlor_"), "{line}");
        assert!(value.parse::<f64>().is_ok(), "{line}");
        samples += 1;
    }
    assert!(samples >= 5, "{text}");
    assert!(
        text.contains("# TYPE parlor_rooms_created_total counter"),
        "{text}"
    );

    // Counters move with activity.
    let before = server.metric("parlor_rooms_created_total").await;
    let room = server.create_room(None).await;
    assert_eq!(
        server.metric("parlor_rooms_created_total").await,
        before + 1
    );
    assert_eq!(server.metric("parlor_rooms").await, 1);
    let (_a, _) = server.joined(&room, None).await;
    assert_eq!(server.metric("parlor_members").await, 1);
    assert_eq!(server.metric("parlor_connections").await, 1);
}

#[tokio::test]
async fn every_answer_carries_security_headers() {
    let server = Server::start();
    let room = server.create_room(None).await;
    let answers = [
        server.get("/").await,
        server.get(&format!("/r/{room}")).await,
        server.get("/healthz").await,
        server.get("/metrics").await,
        server.get("/nope").await,
        server.get(&format!("/api/rooms/{room}")).await,
        server.get("/api/rooms/missing").await,
        server.post("/api/rooms", None).await,
        server.post("/api/rooms", Some("{")).await,
    ];
    for response in &answers {
        let csp = response
            .header("content-security-policy")
            .unwrap_or_else(|| panic!("no CSP on {response:?}"));
        assert!(csp.contains("default-src"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(response.header("referrer-policy"), Some("no-referrer"));
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
    }
}
