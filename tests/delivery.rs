//! Delivery guarantees: per-sender order, room isolation, and many rooms at
//! once.

mod support;

use std::collections::HashMap;

use serde_json::json;
use support::{Server, expect_nothing_queued};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_signals_arrive_in_order() {
    let server = Server::start();
    let (_room, (a, wa), (mut b, wb)) = server.two_in_room().await;
    let (mut a_tx, mut a_rx) = a.split();

    let to = wb.id.clone();
    let sender = tokio::spawn(async move {
        for seq in 0..1000u32 {
            a_tx.signal(
                &to,
                json!({ "seq": seq, "candidate": { "candidate": "x".repeat(seq as usize % 200) } }),
            )
            .await;
        }
        a_tx
    });
    for seq in 0..1000u32 {
        let message = b.recv_json().await;
        assert_eq!(message["type"], "signal", "{message}");
        assert_eq!(message["from"], wa.id);
        assert_eq!(message["data"]["seq"], seq, "out of order: {message}");
        assert_eq!(
            message["data"]["candidate"]["candidate"]
                .as_str()
                .unwrap()
                .len(),
            seq as usize % 200
        );
    }
    let mut a_tx = sender.await.unwrap();
    b.expect_nothing_queued().await;
    expect_nothing_queued(&mut a_tx, &mut a_rx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_far_over_the_send_queue_reaches_a_reading_peer() {
    // 1,000 signals written in one go reach the server as one burst. The
    // receiver reads all the time, so it is not slow and must get them all,
    // even though the burst is four times the default send queue (256).
    let server = Server::start();
    let (_room, (a, wa), (mut b, wb)) = server.two_in_room().await;
    let (mut a_tx, mut a_rx) = a.split();
    let receiver = tokio::spawn(async move {
        for seq in 0..1000u32 {
            b.expect_signal(&wa.id, json!({ "seq": seq })).await;
        }
        b
    });
    for seq in 0..1000u32 {
        a_tx.feed_text(
            json!({ "type": "signal", "to": wb.id, "data": { "seq": seq } }).to_string(),
        )
        .await
        .unwrap();
    }
    a_tx.flush().await.unwrap();
    let mut b = receiver.await.unwrap();
    b.expect_nothing_queued().await;
    expect_nothing_queued(&mut a_tx, &mut a_rx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interleaved_senders_keep_per_sender_order() {
    // Each receiver gets 2 * EACH signals: within the default send queue
    // (256), so no scheduling hiccup can make a reading receiver "slow".
    const EACH: u64 = 120;
    let server = Server::start();
    let room = server.create_room(Some(3)).await;
    let (a, wa) = server.joined(&room, None).await;
    let (b, wb) = server.joined(&room, None).await;
    let (c, wc) = server.joined(&room, None).await;
    let members = [(a, wa.id), (b, wb.id), (c, wc.id)];
    let ids: Vec<String> = members.iter().map(|(_, id)| id.clone()).collect();

    let mut tasks = Vec::new();
    for (index, (ws, id)) in members.into_iter().enumerate() {
        let (mut tx, mut rx) = ws.split();
        // Drain the peer-joined messages each got before the sending starts.
        for _ in index..2 {
            assert_eq!(rx.recv_json().await["type"], "peer-joined");
        }
        let others: Vec<String> = ids.iter().filter(|o| **o != id).cloned().collect();
        let sender = tokio::spawn(async move {
            for seq in 0..EACH {
                for to in &others {
                    tx.signal(to, json!({ "seq": seq, "to": to })).await;
                }
            }
            tx
        });
        let own = id.clone();
        let receiver = tokio::spawn(async move {
            let mut next: HashMap<String, u64> = HashMap::new();
            for _ in 0..2 * EACH {
                let message = rx.recv_json().await;
                assert_eq!(message["type"], "signal", "{message}");
                assert_eq!(message["data"]["to"], own.as_str(), "misrouted: {message}");
                let from = message["from"].as_str().unwrap().to_owned();
                assert_ne!(from, own);
                let expected = next.entry(from.clone()).or_default();
                assert_eq!(message["data"]["seq"], *expected, "order from {from}");
                *expected += 1;
            }
            (next, rx)
        });
        tasks.push((id, sender, receiver));
    }
    // Keep every connection open until all are checked.
    let mut open = Vec::new();
    for (id, sender, receiver) in tasks {
        let tx = sender.await.unwrap();
        let (counts, rx) = receiver.await.unwrap();
        assert_eq!(counts.len(), 2, "{id} heard from both others");
        assert!(counts.values().all(|n| *n == EACH), "{counts:?}");
        open.push((tx, rx));
    }
    for (tx, rx) in &mut open {
        expect_nothing_queued(tx, rx).await;
    }
}

/// The same activity in one room: a watcher, two members who join, signal
/// both ways and leave. Every message is checked exactly, so anything from
/// another room running the same script fails it.
async fn script(server: &Server, room: &str, tag: &str) {
    let (mut w, ww) = server.joined(room, Some(&format!("{tag}-watch"))).await;
    let (mut a, wa) = server.joined(room, Some(tag)).await;
    let (mut b, wb) = server.joined(room, None).await;
    assert_eq!(wb.peers.len(), 2);
    w.expect_peer_joined(&wa.id, Some(tag)).await;
    w.expect_peer_joined(&wb.id, None).await;
    a.expect_peer_joined(&wb.id, None).await;
    for n in 0..50 {
        a.signal(&wb.id, json!({ "tag": tag, "n": n })).await;
        b.signal(&wa.id, json!({ "tag": tag, "n": n })).await;
        // Peer ids are only unique within a room: try the same id shapes.
        w.signal(&ww.id, json!({})).await;
    }
    for n in 0..50 {
        b.expect_signal(&wa.id, json!({ "tag": tag, "n": n })).await;
        a.expect_signal(&wb.id, json!({ "tag": tag, "n": n })).await;
        w.expect_error("peer-not-found", Some("signal")).await;
    }
    b.leave().await;
    a.expect_peer_left(&wb.id).await;
    w.expect_peer_left(&wb.id).await;
    a.leave().await;
    w.expect_peer_left(&wa.id).await;
    for ws in [&mut w, &mut a, &mut b] {
        ws.expect_nothing_queued().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_never_see_each_other() {
    let server = Server::start();
    let red = server.create_room(Some(3)).await;
    let blue = server.create_room(Some(3)).await;
    tokio::join!(script(&server, &red, "red"), script(&server, &blue, "blue"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_pairs_in_fifty_rooms_at_once() {
    const PAIRS: usize = 50;
    const SIGNALS: u64 = 20;
    let server = std::sync::Arc::new(Server::start());
    let mut tasks = Vec::new();
    for pair in 0..PAIRS {
        let server = server.clone();
        tasks.push(tokio::spawn(async move {
            let room = server.create_room(None).await;
            let (mut a, wa) = server.joined(&room, Some(&format!("a{pair}"))).await;
            let (mut b, wb) = server.joined(&room, Some(&format!("b{pair}"))).await;
            assert_eq!(
                wb.peers,
                vec![json!({ "id": wa.id, "name": format!("a{pair}") })]
            );
            a.expect_peer_joined(&wb.id, Some(&format!("b{pair}")))
                .await;
            for n in 0..SIGNALS {
                a.signal(&wb.id, json!({ "pair": pair, "n": n })).await;
                b.signal(&wa.id, json!({ "pair": pair, "n": n, "back": true }))
                    .await;
            }
            for n in 0..SIGNALS {
                b.expect_signal(&wa.id, json!({ "pair": pair, "n": n }))
                    .await;
                a.expect_signal(&wb.id, json!({ "pair": pair, "n": n, "back": true }))
                    .await;
            }
            (room, a, b, wb.id)
        }));
    }
    let mut pairs = Vec::new();
    for task in tasks {
        pairs.push(task.await.unwrap());
    }
    assert_eq!(server.metric("parlor_rooms").await, PAIRS as u64);
    assert_eq!(server.metric("parlor_members").await, 2 * PAIRS as u64);
    for (room, _, _, _) in &pairs {
        assert_eq!(server.members(room).await, Some(2));
    }
    // Everyone leaves; each a hears only its own b leave.
    for (_, _, b, _) in &mut pairs {
        b.leave().await;
    }
    for (_, a, _, b_id) in &mut pairs {
        a.expect_peer_left(b_id).await;
    }
    // Every leave was handled by now: nothing else is on its way.
    for (_, a, b, _) in &mut pairs {
        a.expect_nothing_queued().await;
        b.expect_nothing_queued().await;
    }
}
