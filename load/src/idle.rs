//! Idle mode: opens many joined connections (rooms of two), holds them, and
//! checks that every pair still relays. With `--server-pid` it reads the
//! server's resident memory before and after, giving bytes per connection.
//! Connections come from several 127.0.0.x source addresses, because one
//! source address has only about 28,000 ephemeral ports.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use clap::Args;
use futures_util::SinkExt;
use serde::Serialize;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{Http, Result, Target, Ws, expect, joined_pair};
use crate::report::{Counters, Progress, rss_bytes};

#[derive(Debug, Args)]
pub struct IdleArgs {
    /// Connections to open (rounded down to an even number).
    #[arg(long, default_value_t = 1000)]
    connections: usize,
    /// Source addresses: a range like 127.0.0.1-127.0.0.8, or a list.
    #[arg(long, default_value = "127.0.0.1")]
    sources: String,
    /// How long to hold the connections open.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    hold: Duration,
    /// Connections being set up at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// The server's process id, to read its memory from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
}

#[derive(Debug, Serialize)]
pub struct IdleSummary {
    mode: &'static str,
    connections: usize,
    connected: usize,
    verified: usize,
    setup_s: f64,
    server_rss_before: Option<u64>,
    server_rss_after: Option<u64>,
    server_bytes_per_connection: Option<f64>,
    errors: u64,
}

pub async fn run(target: Target, args: IdleArgs) -> Result<IdleSummary> {
    let sources = Arc::new(parse_sources(&args.sources)?);
    let pairs_wanted = args.connections / 2;
    let rss_before = args.server_pid.and_then(rss_bytes);
    let counters = Arc::new(Counters::default());
    let progress = Progress::start("connections", counters.clone());
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let (target, sources, next, counters) = (
            target.clone(),
            sources.clone(),
            next.clone(),
            counters.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut pairs = Vec::new();
            let mut http = match Http::connect(&target, Some(sources[0])).await {
                Ok(http) => http,
                Err(err) => {
                    counters.error("connect", &err);
                    return pairs;
                }
            };
            loop {
                let index = next.fetch_add(1, Relaxed);
                if index >= pairs_wanted {
                    return pairs;
                }
                let from = |n: usize| Some(sources[n % sources.len()]);
                match joined_pair(
                    &target,
                    &target,
                    &mut http,
                    (from(2 * index), from(2 * index + 1)),
                )
                .await
                {
                    Ok(pair) => {
                        counters.done.fetch_add(2, Relaxed);
                        pairs.push(pair);
                    }
                    Err(err) => counters.error("pair", &err),
                }
            }
        }));
    }
    let mut pairs = Vec::with_capacity(pairs_wanted);
    for worker in workers {
        pairs.extend(worker.await?);
    }
    drop(progress);
    let setup = started.elapsed();
    let connected = pairs.len() * 2;
    eprintln!(
        "{connected} connections up in {:.1}s; holding {:?}",
        setup.as_secs_f64(),
        args.hold
    );
    tokio::time::sleep(args.hold).await;
    let rss_after = args.server_pid.and_then(rss_bytes);

    let mut checks = Vec::new();
    for chunk in chunks(pairs, args.concurrency.max(1)) {
        let counters = counters.clone();
        checks.push(tokio::spawn(async move {
            let mut verified = 0;
            for (mut a, _, mut b, b_id) in chunk {
                match still_relays(&mut a, &mut b, &b_id).await {
                    Ok(()) => verified += 2,
                    Err(err) => counters.error("verify", &err),
                }
            }
            verified
        }));
    }
    let mut verified = 0;
    for check in checks {
        verified += check.await?;
    }
    let per_connection = match (rss_before, rss_after) {
        (Some(before), Some(after)) if connected > 0 => {
            Some(after.saturating_sub(before) as f64 / connected as f64)
        }
        _ => None,
    };
    Ok(IdleSummary {
        mode: "idle",
        connections: pairs_wanted * 2,
        connected,
        verified,
        setup_s: setup.as_secs_f64(),
        server_rss_before: rss_before,
        server_rss_after: rss_after,
        server_bytes_per_connection: per_connection,
        errors: counters.errors.load(Relaxed),
    })
}

async fn still_relays(a: &mut Ws, b: &mut Ws, b_id: &str) -> Result<()> {
    let signal = format!(r#"{{"type":"signal","to":"{b_id}","data":{{"check":1}}}}"#);
    a.send(Message::text(signal)).await?;
    expect(b, "signal").await?;
    Ok(())
}

fn chunks<T>(items: Vec<T>, count: usize) -> Vec<Vec<T>> {
    let size = items.len().div_ceil(count).max(1);
    let mut out = Vec::new();
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        out.push(items.by_ref().take(size).collect());
    }
    out
}

/// `127.0.0.1-127.0.0.8` or `127.0.0.1,127.0.0.2`.
fn parse_sources(spec: &str) -> Result<Vec<IpAddr>> {
    if let Some((first, last)) = spec.split_once('-') {
        let first: Ipv4Addr = first.trim().parse()?;
        let last: Ipv4Addr = last.trim().parse()?;
        let (first, last) = (u32::from(first), u32::from(last));
        if last < first {
            return Err(format!("empty source range {spec}").into());
        }
        return Ok((first..=last)
            .map(|n| IpAddr::V4(Ipv4Addr::from(n)))
            .collect());
    }
    spec.split(',').map(|s| Ok(s.trim().parse()?)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_source_ranges_and_lists() {
        let range = parse_sources("127.0.0.1-127.0.0.3").unwrap();
        assert_eq!(range.len(), 3);
        assert_eq!(range[2], "127.0.0.3".parse::<IpAddr>().unwrap());
        assert_eq!(parse_sources("127.0.0.1, 127.0.0.9").unwrap().len(), 2);
        assert!(parse_sources("127.0.0.3-127.0.0.1").is_err());
    }

    #[test]
    fn chunks_cover_everything() {
        let parts = chunks((0..10).collect(), 3);
        assert_eq!(parts.concat(), (0..10).collect::<Vec<_>>());
        assert!(parts.len() <= 3);
    }
}
