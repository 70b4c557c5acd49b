//! Relay mode: pairs of clients in rooms of two play ping-pong through the
//! server, `in_flight` messages outstanding per pair. Measures relayed
//! messages per second and round-trip latency. With `--floor` the same load
//! goes to `parlor-floor`, the no-parsing forwarder, for comparison.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use clap::Args;
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{Http, Result, Target, Ws, joined_pair, recv_text};
use crate::report::{Counters, Latencies, Percentiles, Progress};

#[derive(Debug, Args)]
pub struct RelayArgs {
    /// Pairs of clients, each pair in its own room.
    #[arg(long, default_value_t = 50)]
    pairs: usize,
    /// Messages outstanding per pair.
    #[arg(long, default_value_t = 4)]
    in_flight: usize,
    /// Bytes of padding in each message's data.
    #[arg(long, default_value_t = 64)]
    payload: usize,
    /// How long to measure.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Load before measuring starts.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// The target is parlor-floor: pair by URL path, no rooms.
    #[arg(long)]
    floor: bool,
}

#[derive(Debug, Serialize)]
pub struct RelaySummary {
    mode: &'static str,
    target: &'static str,
    pairs: usize,
    in_flight: usize,
    payload: usize,
    duration_s: f64,
    relayed_messages: u64,
    relayed_per_sec: f64,
    round_trip: Percentiles,
    errors: u64,
}

struct Pair {
    a: Ws,
    a_id: String,
    b: Ws,
    b_id: String,
}

async fn connect_pair(
    target: &Target,
    peer: &Target,
    http: &mut Http,
    floor: bool,
    index: usize,
) -> Result<Pair> {
    if floor {
        let path = format!("/ws/pair-{index}");
        let a = target.websocket(&path, None).await?;
        let b = target.websocket(&path, None).await?;
        return Ok(Pair {
            a,
            a_id: "a".into(),
            b,
            b_id: "b".into(),
        });
    }
    let (a, a_id, b, b_id) = joined_pair(target, peer, http, (None, None)).await?;
    Ok(Pair { a, a_id, b, b_id })
}

pub async fn run(target: Target, peer: Target, args: RelayArgs) -> Result<RelaySummary> {
    let mut http = Http::connect(&target, None).await?;
    let mut pairs = Vec::with_capacity(args.pairs);
    for index in 0..args.pairs {
        pairs.push(connect_pair(&target, &peer, &mut http, args.floor, index).await?);
    }
    let counters = Arc::new(Counters::default());
    let progress = Progress::start("relayed", counters.clone());
    let measure_from = Instant::now() + args.warmup;
    let stop_at = measure_from + args.duration;
    let pad = "x".repeat(args.payload);
    let mut pingers = Vec::new();
    let mut echoes = Vec::new();
    for pair in pairs {
        echoes.push(tokio::spawn(echo(pair.b, pair.a_id)));
        let window = Window {
            measure_from,
            stop_at,
        };
        let frame = Frame {
            to: pair.b_id,
            pad: pad.clone(),
        };
        pingers.push(tokio::spawn(ping(
            pair.a,
            frame,
            args.in_flight,
            window,
            counters.clone(),
        )));
    }
    let mut latencies = Latencies::default();
    for pinger in pingers {
        match pinger.await? {
            Ok(l) => latencies.merge(l),
            Err(err) => counters.error("pair", &err),
        }
    }
    for echo in echoes {
        echo.abort();
    }
    drop(progress);
    let round_trip = latencies.percentiles();
    // Each round trip is two messages through the server.
    let relayed = 2 * round_trip.count as u64;
    Ok(RelaySummary {
        mode: "relay",
        target: if args.floor { "floor" } else { "parlor" },
        pairs: args.pairs,
        in_flight: args.in_flight,
        payload: args.payload,
        duration_s: args.duration.as_secs_f64(),
        relayed_messages: relayed,
        relayed_per_sec: relayed as f64 / args.duration.as_secs_f64(),
        round_trip,
        errors: counters.errors.load(Relaxed),
    })
}

struct Window {
    measure_from: Instant,
    stop_at: Instant,
}

struct Frame {
    to: String,
    pad: String,
}

impl Frame {
    fn text(&self, seq: u64) -> Message {
        Message::text(format!(
            r#"{{"type":"signal","to":"{}","data":{{"seq":{seq},"pad":"{}"}}}}"#,
            self.to, self.pad
        ))
    }
}

/// Keeps `in_flight` messages outstanding until the window closes, then
/// collects the stragglers. Messages between one pair arrive in order, so the
/// oldest send time always belongs to the next echo.
async fn ping(
    mut ws: Ws,
    frame: Frame,
    in_flight: usize,
    window: Window,
    counters: Arc<Counters>,
) -> Result<Latencies> {
    let mut sent_at = VecDeque::with_capacity(in_flight);
    let mut next_seq = 0;
    for _ in 0..in_flight {
        ws.feed(frame.text(next_seq)).await?;
        sent_at.push_back(Instant::now());
        next_seq += 1;
    }
    ws.flush().await?;
    let mut expected_seq = 0;
    let mut latencies = Latencies::default();
    while let Some(started) = sent_at.pop_front() {
        let text = recv_text(&mut ws).await?;
        let seq = field_u64(&text, "\"seq\":").ok_or_else(|| format!("no seq in {text}"))?;
        if seq != expected_seq {
            return Err(format!("echo {seq} arrived when {expected_seq} was due").into());
        }
        expected_seq += 1;
        let now = Instant::now();
        if now >= window.measure_from && now < window.stop_at {
            latencies.record(now - started);
            counters.done.fetch_add(2, Relaxed);
        }
        if now < window.stop_at {
            ws.send(frame.text(next_seq)).await?;
            sent_at.push_back(Instant::now());
            next_seq += 1;
        }
    }
    let _ = ws.close(None).await;
    Ok(latencies)
}

/// Sends every signal's data back to `to`, until the connection ends.
async fn echo(mut ws: Ws, to: String) -> Result<()> {
    while let Some(frame) = ws.next().await {
        let Message::Text(text) = frame? else {
            continue;
        };
        let Some(at) = text.find("\"data\":") else {
            return Ok(());
        };
        let data = &text[at + 7..text.len() - 1];
        let reply = format!(r#"{{"type":"signal","to":"{to}","data":{data}}}"#);
        ws.send(Message::text(reply)).await?;
    }
    Ok(())
}

/// The unsigned number after `key` in `text`, without parsing the JSON.
fn field_u64(text: &str, key: &str) -> Option<u64> {
    let start = text.find(key)? + key.len();
    let digits = text[start..].bytes().take_while(u8::is_ascii_digit).count();
    text[start..start + digits].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_sequence_numbers() {
        let text = r#"{"type":"signal","from":"x","data":{"seq":42,"pad":"xx"}}"#;
        assert_eq!(field_u64(text, "\"seq\":"), Some(42));
        assert_eq!(field_u64(text, "\"nope\":"), None);
    }
}
