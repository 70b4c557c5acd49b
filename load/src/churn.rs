//! Churn mode: workers create a room, join it twice, wait for `welcome` and
//! `peer-joined`, then both leave; over and over, on kept-open connections.
//! Measures rooms per second and the latency of one such join.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;

use crate::client::{Http, Result, Target, expect, join, leave};
use crate::report::{Counters, Latencies, Percentiles, Progress};

#[derive(Debug, Args)]
pub struct ChurnArgs {
    /// Workers, each with its own HTTP connection and two WebSockets.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// How long to run.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
}

#[derive(Debug, Serialize)]
pub struct ChurnSummary {
    mode: &'static str,
    concurrency: usize,
    duration_s: f64,
    rooms: u64,
    rooms_per_sec: f64,
    /// Create room, two joins, both `welcome`s and the `peer-joined`.
    join: Percentiles,
    errors: u64,
}

pub async fn run(target: Target, peer: Target, args: ChurnArgs) -> Result<ChurnSummary> {
    let counters = Arc::new(Counters::default());
    let progress = Progress::start("rooms", counters.clone());
    let stop_at = Instant::now() + args.duration;
    let mut workers = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let (target, peer, counters) = (target.clone(), peer.clone(), counters.clone());
        workers.push(tokio::spawn(async move {
            let result = cycle_until(&target, &peer, stop_at, &counters).await;
            result.unwrap_or_else(|err| {
                counters.error("worker", &err);
                Latencies::default()
            })
        }));
    }
    let mut latencies = Latencies::default();
    for worker in workers {
        latencies.merge(worker.await?);
    }
    drop(progress);
    let join = latencies.percentiles();
    Ok(ChurnSummary {
        mode: "churn",
        concurrency: args.concurrency,
        duration_s: args.duration.as_secs_f64(),
        rooms: join.count as u64,
        rooms_per_sec: join.count as f64 / args.duration.as_secs_f64(),
        join,
        errors: counters.errors.load(Relaxed),
    })
}

async fn cycle_until(
    target: &Target,
    peer: &Target,
    stop_at: Instant,
    counters: &Counters,
) -> Result<Latencies> {
    let mut http = Http::connect(target, None).await?;
    let mut a = target.websocket("/ws", None).await?;
    let mut b = peer.websocket("/ws", None).await?;
    let mut latencies = Latencies::default();
    while Instant::now() < stop_at {
        let started = Instant::now();
        let room = http.create_room(2).await?;
        join(&mut a, &room).await?;
        join(&mut b, &room).await?;
        expect(&mut a, "peer-joined").await?;
        latencies.record(started.elapsed());
        counters.done.fetch_add(1, Relaxed);
        leave(&mut a).await?;
        expect(&mut b, "peer-left").await?;
        leave(&mut b).await?;
    }
    Ok(latencies)
}
