//! Figures: latency percentiles, live progress on stderr while a run goes
//! on, and the numbers that end up in the JSON summary.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use serde::Serialize;

/// Round-trip or operation latencies, in microseconds.
#[derive(Debug, Default)]
pub struct Latencies {
    samples: Vec<u32>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Percentiles {
    pub count: usize,
    pub p50_us: u32,
    pub p99_us: u32,
    pub p999_us: u32,
    pub max_us: u32,
}

impl Latencies {
    pub fn record(&mut self, elapsed: Duration) {
        self.samples
            .push(elapsed.as_micros().min(u32::MAX as u128) as u32);
    }

    pub fn merge(&mut self, other: Latencies) {
        self.samples.extend(other.samples);
    }

    pub fn percentiles(mut self) -> Percentiles {
        self.samples.sort_unstable();
        let at = |q: f64| -> u32 {
            if self.samples.is_empty() {
                return 0;
            }
            let rank = ((self.samples.len() as f64) * q).ceil() as usize;
            self.samples[rank.clamp(1, self.samples.len()) - 1]
        };
        Percentiles {
            count: self.samples.len(),
            p50_us: at(0.50),
            p99_us: at(0.99),
            p999_us: at(0.999),
            max_us: self.samples.last().copied().unwrap_or(0),
        }
    }
}

/// Counters shared by the tasks of a run.
#[derive(Debug, Default)]
pub struct Counters {
    pub done: AtomicU64,
    pub errors: AtomicU64,
}

impl Counters {
    pub fn error(&self, what: &str, err: &dyn std::fmt::Display) {
        // The first few errors are worth reading; after that, counting is enough.
        if self.errors.fetch_add(1, Relaxed) < 5 {
            eprintln!("error: {what}: {err}");
        }
    }
}

/// Prints `label`/s and the error count to stderr every second until
/// dropped.
pub struct Progress {
    task: tokio::task::JoinHandle<()>,
}

impl Progress {
    pub fn start(label: &'static str, counters: Arc<Counters>) -> Progress {
        let task = tokio::spawn(async move {
            let start = Instant::now();
            let mut last = 0;
            let mut ticks = tokio::time::interval(Duration::from_secs(1));
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let done = counters.done.load(Relaxed);
                eprintln!(
                    "{:>5.1}s  {label}/s {:>9}  errors {}",
                    start.elapsed().as_secs_f64(),
                    done - last,
                    counters.errors.load(Relaxed)
                );
                last = done;
            }
        });
        Progress { task }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Resident memory of process `pid`, in bytes, from /proc.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut l = Latencies::default();
        for us in 1..=1000u64 {
            l.record(Duration::from_micros(us));
        }
        let p = l.percentiles();
        assert_eq!(
            (p.count, p.p50_us, p.p99_us, p.p999_us, p.max_us),
            (1000, 500, 990, 999, 1000)
        );
        assert_eq!(Latencies::default().percentiles().max_us, 0);
    }

    #[test]
    fn reads_own_rss() {
        assert!(rss_bytes(std::process::id()).unwrap() > 0);
    }
}
