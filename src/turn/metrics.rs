//! TURN counters for `/metrics`: plain relaxed atomics, bumped on the relay
//! path, rendered through the server's one Prometheus writer.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::metrics::{Exposition, Kind, Source};

/// Why a packet was dropped instead of relayed or answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discard {
    /// Not STUN, not ChannelData, or breaking their rules.
    Malformed,
    /// Data for a client without an allocation or on an unbound channel.
    NoAllocation,
    /// Data to or from a peer without a permission.
    NoPermission,
    /// Over the user's bandwidth.
    Bandwidth,
    /// The client's or the peer's socket could not take it.
    Congested,
    /// An unauthenticated request over its source's rate: not answered.
    RateLimited,
}

impl Discard {
    const ALL: [Discard; 6] = [
        Discard::Malformed,
        Discard::NoAllocation,
        Discard::NoPermission,
        Discard::Bandwidth,
        Discard::Congested,
        Discard::RateLimited,
    ];

    fn label(self) -> &'static str {
        match self {
            Discard::Malformed => "malformed",
            Discard::NoAllocation => "no_allocation",
            Discard::NoPermission => "no_permission",
            Discard::Bandwidth => "bandwidth",
            Discard::Congested => "congested",
            Discard::RateLimited => "rate_limited",
        }
    }
}

/// Which way relayed data went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    ToPeer,
    ToClient,
}

#[derive(Debug, Default)]
pub struct TurnMetrics {
    allocations: AtomicU64,
    allocations_total: AtomicU64,
    allocation_refusals: AtomicU64,
    auth_failures: AtomicU64,
    binding_requests: AtomicU64,
    peers_refused: AtomicU64,
    relayed_bytes: [AtomicU64; 2],
    relayed_packets: [AtomicU64; 2],
    dropped: [AtomicU64; Discard::ALL.len()],
}

impl TurnMetrics {
    pub fn set_allocations(&self, n: usize) {
        self.allocations.store(n as u64, Relaxed);
    }

    pub fn allocation_created(&self) {
        self.allocations_total.fetch_add(1, Relaxed);
    }

    /// An Allocate refused for a quota or for lack of ports.
    pub fn allocation_refused(&self) {
        self.allocation_refusals.fetch_add(1, Relaxed);
    }

    pub fn auth_failure(&self) {
        self.auth_failures.fetch_add(1, Relaxed);
    }

    pub fn binding_request(&self) {
        self.binding_requests.fetch_add(1, Relaxed);
    }

    pub fn peer_refused(&self) {
        self.peers_refused.fetch_add(1, Relaxed);
    }

    pub fn relayed(&self, direction: Direction, bytes: usize) {
        let i = direction as usize;
        self.relayed_bytes[i].fetch_add(bytes as u64, Relaxed);
        self.relayed_packets[i].fetch_add(1, Relaxed);
    }

    pub fn dropped(&self, why: Discard) {
        self.dropped[why as usize].fetch_add(1, Relaxed);
    }
}

impl TurnMetrics {
    /// The exposition of these metrics alone, appended to `out`.
    #[cfg(test)]
    pub(crate) fn render(&self, out: &mut String) {
        let mut exposition = Exposition::default();
        Source::render(self, &mut exposition);
        out.push_str(&exposition.into_text());
    }
}

impl Source for TurnMetrics {
    fn render(&self, out: &mut Exposition) {
        use Kind::{Counter, Gauge};
        let load = |a: &AtomicU64| a.load(Relaxed);
        out.single(
            "parlor_turn_allocations",
            Gauge,
            "TURN allocations that exist now.",
            load(&self.allocations),
        );
        let counters = [
            (
                "parlor_turn_allocations_total",
                "TURN allocations created.",
                &self.allocations_total,
            ),
            (
                "parlor_turn_allocation_refusals_total",
                "TURN allocations refused for a quota or for lack of relay ports.",
                &self.allocation_refusals,
            ),
            (
                "parlor_turn_auth_failures_total",
                "TURN requests refused for bad, expired or forged credentials.",
                &self.auth_failures,
            ),
            (
                "parlor_turn_binding_requests_total",
                "STUN Binding requests answered.",
                &self.binding_requests,
            ),
            (
                "parlor_turn_peers_refused_total",
                "Permissions and channels refused by the peer address filter.",
                &self.peers_refused,
            ),
        ];
        for (name, help, value) in counters {
            out.single(name, Counter, help, load(value));
        }
        let directions = ["{direction=\"to_peer\"}", "{direction=\"to_client\"}"];
        out.family(
            "parlor_turn_relayed_bytes_total",
            Counter,
            "Application bytes relayed, by direction.",
            directions
                .iter()
                .zip(&self.relayed_bytes)
                .map(|(l, v)| (l, load(v))),
        );
        out.family(
            "parlor_turn_relayed_packets_total",
            Counter,
            "Packets relayed, by direction.",
            directions
                .iter()
                .zip(&self.relayed_packets)
                .map(|(l, v)| (l, load(v))),
        );
        out.family(
            "parlor_turn_dropped_packets_total",
            Counter,
            "Packets the TURN server dropped, by reason.",
            Discard::ALL
                .iter()
                .zip(&self.dropped)
                .map(|(d, v)| (format!("{{reason=\"{}\"}}", d.label()), load(v))),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_turn_metrics() {
        let m = TurnMetrics::default();
        m.set_allocations(3);
        m.auth_failure();
        m.relayed(Direction::ToClient, 100);
        m.relayed(Direction::ToClient, 50);
        m.dropped(Discard::NoPermission);
        let mut out = String::new();
        m.render(&mut out);
        assert!(out.contains("parlor_turn_allocations 3\n"));
        assert!(out.contains("parlor_turn_auth_failures_total 1\n"));
        assert!(out.contains("parlor_turn_relayed_bytes_total{direction=\"to_client\"} 150\n"));
        assert!(out.contains("parlor_turn_relayed_packets_total{direction=\"to_client\"} 2\n"));
        assert!(out.contains("parlor_turn_relayed_bytes_total{direction=\"to_peer\"} 0\n"));
        assert!(out.contains("parlor_turn_dropped_packets_total{reason=\"no_permission\"} 1\n"));
        assert!(out.contains("# TYPE parlor_turn_allocations gauge\n"));
    }
}
