//! Connections that end badly and rooms nobody uses: abrupt disconnects,
//! silent clients, slow readers, idle rooms.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::{Server, eventually};
use tokio::io::AsyncReadExt;

/// How long a test waits for what a short server bound makes happen: far
/// past the bound, so that only a server that never does it fails, never
/// a slow machine. (How soon it happens is for benchmarks.)
const GENEROUS: Duration = Duration::from_secs(20);

/// Fast pings, and no resume grace: a lost member's seat goes at once.
const LIVENESS: [&str; 6] = [
    "--ping-interval",
    "200ms",
    "--ping-timeout",
    "1s",
    "--resume-grace",
    "0s",
];

#[tokio::test]
async fn a_dropped_tcp_connection_yields_peer_left_promptly() {
    // Default pings (every 10 s or more): the prompt peer-left must come
    // from the closed socket, not from a ping timeout. No resume grace.
    let server = Server::with_args(&["--resume-grace", "0s"]);
    let room = server.create_room(Some(3)).await;
    let (mut a, _) = server.joined(&room, None).await;
    let (b, wb) = server.joined(&room, None).await;
    let (c, wc) = server.joined(&room, None).await;
    a.recv_json().await;
    a.recv_json().await;

    // b goes away without a close frame: the socket is just closed (FIN).
    let started = Instant::now();
    drop(b.into_tcp());
    a.expect_peer_left(&wb.id).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // c's socket is reset (RST), as when a process dies.
    let tcp = c.into_tcp();
    tcp.set_zero_linger().unwrap();
    let started = Instant::now();
    drop(tcp);
    a.expect_peer_left(&wc.id).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    a.expect_nothing_queued().await;
    assert_eq!(server.members(&room).await, Some(1));
    // The seats are free again.
    let (_d, wd) = server.joined(&room, None).await;
    a.expect_peer_joined(&wd.id, None).await;
}

#[tokio::test]
async fn a_dropped_connection_outside_a_room_is_forgotten() {
    let server = Server::start();
    let ws = server.ws().await;
    eventually(Duration::from_secs(2), "connection counted", || async {
        server.metric("parlor_connections").await == 1
    })
    .await;
    drop(ws.into_tcp());
    eventually(Duration::from_secs(2), "connection forgotten", || async {
        server.metric("parlor_connections").await == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_member_is_dropped_within_the_ping_timeout() {
    let server = Server::with_args(&LIVENESS);
    let room = server.create_room(Some(3)).await;
    let (mut a, _) = server.joined(&room, None).await;
    let (mut c, wc) = server.joined(&room, None).await;
    let (b, wb) = server.joined(&room, None).await;
    // b stops reading and answering pings, but its TCP connection stays.
    let silent_since = Instant::now();
    let b_tcp = b.into_tcp();
    a.expect_peer_joined(&wc.id, None).await;
    a.expect_peer_joined(&wb.id, None).await;
    c.expect_peer_joined(&wb.id, None).await;

    let (left_a, left_c) =
        tokio::join!(a.recv_json_within(GENEROUS), c.recv_json_within(GENEROUS),);
    let elapsed = silent_since.elapsed();
    for left in [left_a, left_c] {
        assert_eq!(left, json!({ "type": "peer-left", "id": wb.id }));
    }
    // Ping timeout 1 s: not earlier (give or take a ping interval); later
    // only by what a loaded machine adds.
    assert!(
        elapsed >= Duration::from_millis(700),
        "dropped after {elapsed:?}"
    );

    // Members that answer pings stay, however quiet they are: eight pings
    // (1.6 s at 200 ms) outlast the 1 s ping timeout.
    tokio::join!(
        a.expect_only_pings(8, GENEROUS),
        c.expect_only_pings(8, GENEROUS),
    );
    assert_eq!(server.members(&room).await, Some(2));
    a.signal(&wc.id, json!({ "alive": true })).await;
    c.recv_json().await;
    assert_eq!(server.metric("parlor_ping_timeouts_total").await, 1);
    drop(b_tcp);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_client_that_answers_pings_is_kept() {
    let server = Server::with_args(&LIVENESS);
    let room = server.create_room(None).await;
    let (mut a, wa) = server.joined(&room, None).await;
    let (mut b, wb) = server.joined(&room, None).await;
    a.recv_json().await;
    // Two and a half ping timeouts of nothing but pings and pongs.
    tokio::join!(
        a.expect_only_pings(13, GENEROUS),
        b.expect_only_pings(13, GENEROUS),
    );
    assert_eq!(server.members(&room).await, Some(2));
    b.signal(&wa.id, json!({})).await;
    a.expect_signal(&wb.id, json!({})).await;
}

#[tokio::test]
async fn an_unjoined_silent_connection_is_closed() {
    let server = Server::with_args(&LIVENESS);
    let ws = server.ws().await;
    let mut tcp = ws.into_tcp();
    // The server gives up after the ping timeout and closes the socket.
    let drained = tokio::time::timeout(GENEROUS, async {
        let mut buf = [0u8; 1024];
        while tcp.read(&mut buf).await.map(|n| n > 0).unwrap_or(false) {}
    })
    .await;
    assert!(drained.is_ok(), "the server kept a silent connection open");
    assert_eq!(server.metric("parlor_connections").await, 0);
}

fn rss_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS");
    kb * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_cannot_keep_up_is_disconnected_and_memory_stays_bounded() {
    slow_reader(&["--resume-grace", "0s"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_kept_for_resume_still_bounds_memory() {
    // With the default resume grace the evicted member's seat is kept and
    // signals for it are held, but only so many: then it is given up.
    slow_reader(&[]).await;
}

/// a blasts 16 KiB signals at b, which never reads, with a send queue of 8;
/// c watches.
async fn slow_reader(extra: &[&str]) {
    const FRAME_DATA: usize = 16 * 1024;
    const TOTAL: usize = 32 << 20;
    let mut args = vec![
        "--send-queue",
        "8",
        "--message-rate",
        "1000000/s,burst=1000000",
    ];
    args.extend_from_slice(extra);
    let server = Server::with_args(&args);
    let room = server.create_room(Some(3)).await;
    let (mut a, wa) = server.joined(&room, None).await;
    let (mut c, wc) = server.joined(&room, None).await;
    // b never reads until the end; its TCP connection stays open.
    let (mut b, wb) = server.joined(&room, None).await;
    a.expect_peer_joined(&wc.id, None).await;
    a.expect_peer_joined(&wb.id, None).await;
    c.expect_peer_joined(&wb.id, None).await;

    // Up to 32 MiB for b, or until the server gives up on b. A server that
    // queued without bound would take all of it in memory. a sends a
    // sentinel (an unknown type, refused to a alone) after every few
    // signals and reads up to its answer: a's messages are answered in
    // order, so what the server owes a (peer-left for b, then a
    // peer-not-found for each signal to b after that) never exceeds the
    // send queue, however slowly the machine runs a's writer.
    const BATCH: usize = 4;
    let pid = server.pid();
    let baseline = rss_of(pid);
    let mut peak = baseline;
    let pad = "p".repeat(FRAME_DATA);
    let frames = TOTAL / FRAME_DATA;
    let mut sent = 0;
    let mut refused = 0u32;
    let mut b_left = false;
    while sent < frames && !b_left {
        for _ in 0..BATCH {
            a.signal(&wb.id, json!({ "seq": sent, "pad": pad })).await;
            sent += 1;
        }
        a.send_json(json!({ "type": "sentinel" })).await;
        loop {
            let message = a.recv_json_within(GENEROUS).await;
            if message["ref"] == "sentinel" {
                break;
            }
            if message == json!({ "type": "peer-left", "id": wb.id }) {
                assert!(!b_left && refused == 0, "peer-left first, once");
                b_left = true;
                continue;
            }
            assert!(b_left, "a refusal before peer-left: {message}");
            support::assert_error(&message, "peer-not-found", Some("signal"));
            refused += 1;
        }
        if sent % 64 == 0 {
            peak = peak.max(rss_of(pid));
        }
    }
    peak = peak.max(rss_of(pid));
    assert!(
        sent < frames,
        "b was never dropped; {} MiB sent",
        TOTAL >> 20
    );
    // b is gone: signals to it are refused, and a is still served.
    a.signal(&wb.id, json!({ "late": true })).await;
    a.expect_error("peer-not-found", Some("signal")).await;
    refused += 1;
    let growth = peak.saturating_sub(baseline);
    assert!(
        growth < 16 << 20,
        "RSS grew by {} MiB while {} MiB were sent to a stuck reader",
        growth >> 20,
        (sent * FRAME_DATA) >> 20
    );

    // The others are unaffected.
    c.expect_peer_left(&wb.id).await;
    a.signal(&wc.id, json!({ "after": true })).await;
    c.expect_signal(&wa.id, json!({ "after": true })).await;
    c.signal(&wa.id, json!({ "back": true })).await;
    a.expect_signal(&wc.id, json!({ "back": true })).await;
    assert_eq!(server.members(&room).await, Some(2));
    assert_eq!(server.metric("parlor_slow_clients_dropped_total").await, 1);

    // The server closed b's connection. What b got before is an unbroken
    // run of a's signals from the first: an end, never a gap.
    let (texts, ended) = b.rx.drain_until_end(Duration::from_secs(10)).await;
    assert!(
        !texts.is_empty() && texts.len() <= sent,
        "b got {}",
        texts.len()
    );
    for (seq, text) in texts.iter().enumerate() {
        let message: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(message["type"], "signal");
        assert_eq!(message["from"], wa.id.as_str());
        assert_eq!(message["data"]["seq"], seq, "gap in what b received");
    }
    if let support::Ended::Closed(Some(close)) = &ended {
        assert_eq!(u16::from(close.code), 1008, "{close:?}");
    }
    eprintln!(
        "slow reader: rss growth {} KiB, b got {} of {sent}, a refused {refused}, {ended:?}",
        growth >> 10,
        texts.len()
    );
}

#[tokio::test]
async fn idle_rooms_are_forgotten_and_used_rooms_kept() {
    let server = Server::with_args(&["--room-idle-timeout", "1s"]);
    let unused = server.create_room(None).await;
    let used = server.create_room(None).await;
    let left = server.create_room(None).await;
    let (mut a, wa) = server.joined(&used, None).await;
    let (mut l, _) = server.joined(&left, None).await;
    assert_eq!(server.members(&unused).await, Some(0));

    let started = Instant::now();
    eventually(GENEROUS, "unused room forgotten", || async {
        server.members(&unused).await.is_none()
    })
    .await;
    let mut probe = server.ws().await;
    probe
        .send_json(json!({ "type": "join", "room": unused }))
        .await;
    probe.expect_error("room-not-found", Some("join")).await;
    server
        .get(&format!("/api/rooms/{unused}"))
        .await
        .assert_error(404, "room-not-found");

    // The idle clock of a room starts when its last member leaves.
    l.leave().await;
    l.expect_nothing_queued().await;
    assert_eq!(server.members(&left).await, Some(0));
    eventually(GENEROUS, "left room forgotten", || async {
        server.members(&left).await.is_none()
    })
    .await;

    // A room with a member outlives the idle timeout many times over.
    a.expect_nothing_queued().await;
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_eq!(server.members(&used).await, Some(1));
    let wb = probe.join(&used, None).await;
    assert_eq!(wb.peers, vec![json!({ "id": wa.id })]);
    a.expect_peer_joined(&wb.id, None).await;
}

#[tokio::test]
async fn a_room_emptied_by_a_lost_connection_is_forgotten_too() {
    let server = Server::with_args(&["--room-idle-timeout", "1s", "--resume-grace", "0s"]);
    let room = server.create_room(None).await;
    let (a, _) = server.joined(&room, None).await;
    drop(a.into_tcp());
    eventually(GENEROUS, "room forgotten", || async {
        server.members(&room).await.is_none()
    })
    .await;
}

#[tokio::test]
async fn closing_politely_yields_peer_left() {
    let server = Server::start();
    let room = server.create_room(None).await;
    let (mut a, _) = server.joined(&room, None).await;
    let (b, wb) = server.joined(&room, None).await;
    a.recv_json().await;
    b.close().await;
    a.expect_peer_left(&wb.id).await;
    a.expect_nothing_queued().await;
    assert_eq!(server.members(&room).await, Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_connection_yields_peer_left_once_the_resume_grace_is_over() {
    // PROTOCOL.md: peer-left within 60 s of a loss, any grace included. Here
    // with a 1 s grace: no peer-left at first, then peer-left.
    let server = Server::with_args(&["--resume-grace", "1s"]);
    let room = server.create_room(None).await;
    let (mut a, _) = server.joined(&room, None).await;
    let (b, wb) = server.joined(&room, None).await;
    a.recv_json().await;
    let lost_at = Instant::now();
    drop(b.into_tcp());
    // Not before the grace is over: the time it came is checked below.
    let left = a.recv_json_within(GENEROUS).await;
    assert_eq!(left, json!({ "type": "peer-left", "id": wb.id }));
    let elapsed = lost_at.elapsed();
    assert!(elapsed >= Duration::from_millis(900), "after {elapsed:?}");
    assert_eq!(server.members(&room).await, Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_member_yields_peer_left_after_ping_timeout_plus_grace() {
    let server = Server::with_args(&[
        "--ping-interval",
        "200ms",
        "--ping-timeout",
        "1s",
        "--resume-grace",
        "1s",
    ]);
    let room = server.create_room(None).await;
    let (mut a, _) = server.joined(&room, None).await;
    let (b, wb) = server.joined(&room, None).await;
    let silent_since = Instant::now();
    let b_tcp = b.into_tcp();
    a.recv_json().await;
    let left = a.recv_json_within(GENEROUS).await;
    assert_eq!(left, json!({ "type": "peer-left", "id": wb.id }));
    let elapsed = silent_since.elapsed();
    assert!(elapsed >= Duration::from_millis(1700), "after {elapsed:?}");
    drop(b_tcp);
}

#[tokio::test]
async fn rooms_nobody_joined_are_forgotten_sooner() {
    let server = Server::with_args(&["--unjoined-room-timeout", "1s"]);
    let unjoined = server.create_room(None).await;
    let used = server.create_room(None).await;
    let (a, _) = server.joined(&used, None).await;
    a.close().await;
    eventually(GENEROUS, "unjoined room forgotten", || async {
        server.members(&unjoined).await.is_none()
    })
    .await;
    assert_eq!(
        server.members(&used).await,
        Some(0),
        "a room someone joined waits for --room-idle-timeout"
    );
}
