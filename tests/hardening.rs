//! Limits and defences, each over real sockets: the message rate, the caps
//! on connections (total and per address) and on room creation, the
//! WebSocket Origin check, graceful shutdown, what the logs may say, and a
//! refused flag stopping the start.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::Server;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// Opens a WebSocket, with an `Origin` header if given: `Ok(())` when it
/// was accepted, else the refusal's status and JSON error code.
async fn upgrade(server: &Server, origin: Option<&str>) -> Result<(), (u16, String)> {
    upgrade_as(server, origin, None).await
}

/// [`upgrade`] with the `Host` header a browser would send for `host`.
async fn upgrade_as(
    server: &Server,
    origin: Option<&str>,
    host: Option<&str>,
) -> Result<(), (u16, String)> {
    let mut request = format!("ws://{}/ws", server.addr)
        .into_client_request()
        .unwrap();
    if let Some(host) = host {
        request
            .headers_mut()
            .insert("Host", HeaderValue::from_str(host).unwrap());
    }
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("Origin", HeaderValue::from_str(origin).unwrap());
    }
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    match tokio_tungstenite::client_async(request, tcp).await {
        Ok(_) => Ok(()),
        Err(tungstenite::Error::Http(response)) => {
            let body: Value =
                serde_json::from_slice(response.body().as_deref().unwrap_or_default())
                    .expect("a JSON error body");
            let code = body["error"]["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            Err((response.status().as_u16(), code))
        }
        Err(other) => panic!("the upgrade failed oddly: {other}"),
    }
}

fn refused(status: u16, code: &str) -> Result<(), (u16, String)> {
    Err((status, code.to_owned()))
}

/// With room for two connections: a third is refused until one of the two
/// closes.
async fn two_connections_and_no_third(server: &Server) {
    let first = server.ws().await;
    let _second = server.ws().await;
    assert_eq!(upgrade(server, None).await, refused(503, "rate-limited"));
    first.close().await;
    support::eventually(support::RECV_TIMEOUT, "a connection closed", || async {
        server.metric("parlor_connections").await == 1
    })
    .await;
    let _third = server.ws().await;
}

#[tokio::test]
async fn messages_over_the_rate_are_refused_with_rate_limited() {
    let server = Server::with_args(&["--message-rate", "5/s,burst=5"]);
    let mut ws = server.ws().await;
    for _ in 0..5 {
        ws.send_json(json!({ "type": "leave" })).await;
    }
    for _ in 0..5 {
        ws.send_json(json!({ "type": "leave" })).await;
    }
    for _ in 0..5 {
        ws.expect_error("not-in-room", Some("leave")).await;
    }
    for _ in 0..5 {
        ws.expect_error("rate-limited", None).await;
    }
    // The bucket refills: the connection is usable again. A join asked
    // until answered with a welcome, each refusal counted.
    let room = server.create_room(None).await;
    let mut refused = 5;
    let started = std::time::Instant::now();
    loop {
        ws.send_json(json!({ "type": "join", "room": room })).await;
        let answer = ws.recv_json().await;
        if answer["type"] == "welcome" {
            break;
        }
        support::assert_error(&answer, "rate-limited", None);
        refused += 1;
        assert!(started.elapsed() < support::RECV_TIMEOUT, "never refilled");
        // Asked again at the pace of `eventually`, not in a tight loop.
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        server
            .metric("parlor_errors_total{code=\"rate-limited\"}")
            .await,
        refused
    );
}

#[tokio::test]
async fn connections_are_capped_in_total() {
    let server = Server::with_args(&["--max-connections", "2"]);
    two_connections_and_no_third(&server).await;
}

#[tokio::test]
async fn connections_per_address_are_capped_when_loopback_is_limited() {
    let server = Server::with_args(&["--limit-loopback", "--max-connections-per-ip", "2"]);
    two_connections_and_no_third(&server).await;

    // Without --limit-loopback, local clients count only towards the total.
    let relaxed = Server::with_args(&["--max-connections-per-ip", "1"]);
    let _a = relaxed.ws().await;
    let _b = relaxed.ws().await;
}

#[tokio::test]
async fn room_creation_is_rate_limited_per_address() {
    let server = Server::with_args(&["--limit-loopback", "--room-creation-rate", "2/min,burst=2"]);
    server.create_room(None).await;
    server.create_room(None).await;
    let refused = server.post("/api/rooms", None).await;
    refused.assert_error(429, "rate-limited");
    assert_eq!(server.metric("parlor_rooms").await, 2);
}

#[tokio::test]
async fn only_the_servers_own_origin_may_open_the_websocket() {
    let server = Server::with_args(&["--allowed-origin", "https://app.example.org"]);
    assert_eq!(
        upgrade(&server, Some("https://evil.example")).await,
        refused(403, "bad-request")
    );
    assert_eq!(
        upgrade(&server, Some("null")).await,
        refused(403, "bad-request")
    );
    // Refused before any WebSocket opened: the server counts none. (The
    // accepted upgrades below are counted: the metric would tell.)
    assert_eq!(server.metric("parlor_connections_total").await, 0);
    let own = format!("http://{}", server.addr);
    assert_eq!(upgrade(&server, Some(&own)).await, Ok(()), "same origin");
    assert_eq!(
        upgrade(&server, Some("https://app.example.org")).await,
        Ok(()),
        "allowed"
    );
    assert_eq!(
        upgrade(&server, Some("http://127.0.0.1:1")).await,
        refused(403, "bad-request"),
        "another port is another origin"
    );
    support::eventually(support::RECV_TIMEOUT, "two WebSockets counted", || async {
        server.metric("parlor_connections_total").await == 2
    })
    .await;
}

#[tokio::test]
async fn the_origin_check_holds_against_dns_rebinding_and_other_schemes() {
    let server = Server::start();
    let port = server.addr.port();
    // A page of evil.example whose name now resolves to this server: its
    // Origin matches the Host its browser sends, yet it is not the server.
    let rebound = format!("evil.example:{port}");
    assert_eq!(
        upgrade_as(&server, Some(&format!("http://{rebound}")), Some(&rebound)).await,
        refused(403, "bad-request")
    );
    // Another scheme is another origin.
    assert_eq!(
        upgrade(&server, Some(&format!("https://{}", server.addr))).await,
        refused(403, "bad-request")
    );
    // The names a plain server is reached by without DNS still work.
    let local = format!("localhost:{port}");
    assert_eq!(
        upgrade_as(&server, Some(&format!("http://{local}")), Some(&local)).await,
        Ok(())
    );
}

#[tokio::test]
async fn logs_name_rooms_and_peers_but_no_secrets() {
    let secret = "turn-secret-never-logged";
    let mut server = Server::with_logs(&[
        "--turn-listen",
        "127.0.0.1:0",
        "--log-format",
        "json",
        "--turn-secret",
        secret,
    ]);
    let response = server.post("/api/rooms", None).await;
    let room = response.json()["room"].as_str().unwrap().to_owned();
    let mut a = server.ws().await;
    let a_welcome = a.join(&room, Some("Ada")).await;
    let mut b = server.ws().await;
    let b_welcome = b.join(&room, Some("Bob")).await;
    a.expect_peer_joined(&b_welcome.id, Some("Bob")).await;
    let sdp =
        "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\na=ice-pwd:sdp-ice-password";
    b.signal(
        &a_welcome.id,
        json!({ "description": { "type": "offer", "sdp": sdp } }),
    )
    .await;
    b.signal(&a_welcome.id, json!({ "candidate": { "candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host ufrag-secret" } }))
        .await;
    a.recv_json().await;
    a.recv_json().await;
    b.leave().await;
    a.expect_peer_left(&b_welcome.id).await;
    server.terminate();
    let logs = server.logs();

    let lines: Vec<Value> = logs
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    let joins = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "joined")
        .count();
    assert_eq!(joins, 2, "{logs}");
    // The room is named by a tag, the same on every line of that room;
    // its id is the key to the call and is never logged.
    let tags: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "joined" || l["fields"]["message"] == "left")
        .map(|l| &l["fields"]["room"])
        .collect();
    assert!(
        tags.len() == 3 && tags.iter().all(|t| t.is_string() && *t == tags[0]),
        "{logs}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "left"
                && l["fields"]["peer"] == b_welcome.id.as_str()),
        "{logs}"
    );
    let credential = a_welcome.raw["iceServers"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|s| s["credential"].as_str())
        .expect("the welcome carries TURN credentials")
        .to_owned();
    let token = a_welcome.raw["resume"].as_str().unwrap().to_owned();
    for secret in [
        secret,
        &room,
        "sdp-ice-password",
        "ufrag-secret",
        "v=0",
        &credential,
        &token,
    ] {
        assert!(
            !logs.contains(secret),
            "the logs contain {secret:?}:\n{logs}"
        );
    }
}

#[tokio::test]
async fn sigterm_closes_every_session_with_going_away_and_exits() {
    let mut server = Server::with_logs(&["--turn-listen", "127.0.0.1:0"]);
    let mut ws = server.ws().await;
    support::eventually(support::RECV_TIMEOUT, "the session runs", || async {
        server.metric("parlor_connections").await == 1
    })
    .await;
    let waiter = tokio::spawn(async move { ws.expect_end(Duration::from_secs(5)).await });
    let took = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(took < Duration::from_secs(6), "exited after {took:?}");
    match waiter.await.unwrap() {
        support::Ended::Closed(Some(frame)) => assert_eq!(u16::from(frame.code), 1001),
        other => panic!("expected a 1001 close frame, got {other:?}"),
    }
}

/// `POST /api/rooms` as a proxy forwarding for `client`; the status.
async fn create_for(server: &Server, client: &str) -> u16 {
    support::http_request(
        server.addr,
        "POST",
        "/api/rooms",
        None,
        &[("X-Forwarded-For", client)],
    )
    .await
    .status
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_is_limited_on_its_own() {
    let server = Server::with_args(&[
        "--trust-forwarded-for",
        "127.0.0.0/8",
        "--room-creation-rate",
        "2/min,burst=2",
    ]);
    assert_eq!(create_for(&server, "203.0.113.1").await, 201);
    assert_eq!(create_for(&server, "203.0.113.1").await, 201);
    assert_eq!(create_for(&server, "203.0.113.1").await, 429);
    // Another client behind the same proxy is not affected, and a forged
    // address at the left of the list changes nothing.
    assert_eq!(create_for(&server, "203.0.113.2").await, 201);
    assert_eq!(create_for(&server, "9.9.9.9, 203.0.113.1").await, 429);
    // Without the flag the header means nothing: loopback stays exempt.
    let plain = Server::with_args(&["--room-creation-rate", "2/min,burst=2"]);
    for _ in 0..3 {
        assert_eq!(create_for(&plain, "203.0.113.1").await, 201);
    }
}

#[test]
fn a_refused_flag_stops_the_start_at_once_with_parlors_message() {
    // On a thread, so that a start that hangs fails the test instead.
    for (flag, says) in [
        (
            &["--no-such-flag"][..],
            "unexpected argument '--no-such-flag'",
        ),
        (
            &["--ping-interval", "nonsense"][..],
            "invalid value 'nonsense'",
        ),
    ] {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(Server::try_with_args(flag).err()));
        let why = rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("parlor {flag:?}: no answer within 10 s"))
            .unwrap_or_else(|| panic!("parlor started with {flag:?}"));
        assert!(
            why.contains(says) && why.contains("exit status: 2"),
            "{why}"
        );
    }
}
