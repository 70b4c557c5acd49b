//! Counters for `/metrics`, in the Prometheus text format.
//!
//! Plain atomics bumped on the hot path; gauges that the registry already
//! knows (rooms, members) are read from it at scrape time instead of being
//! kept twice.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::protocol::ErrorCode;
use crate::registry::Occupancy;

/// Client message types counted separately; anything else is "other".
const MESSAGE_TYPES: [&str; 5] = ["join", "signal", "leave", "chat", "other"];

/// The kinds of message the server sends, counted separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Out {
    Welcome,
    PeerJoined,
    PeerLeft,
    Signal,
    Chat,
    Error,
}

impl Out {
    const ALL: [Out; 6] = [
        Out::Welcome,
        Out::PeerJoined,
        Out::PeerLeft,
        Out::Signal,
        Out::Chat,
        Out::Error,
    ];

    fn name(self) -> &'static str {
        match self {
            Out::Welcome => "welcome",
            Out::PeerJoined => "peer-joined",
            Out::PeerLeft => "peer-left",
            Out::Signal => "signal",
            Out::Chat => "chat",
            Out::Error => "error",
        }
    }
}

#[derive(Debug, Default)]
pub struct Metrics {
    connections_open: AtomicU64,
    connections_total: AtomicU64,
    rooms_created: AtomicU64,
    messages_in: [AtomicU64; MESSAGE_TYPES.len()],
    messages_out: [AtomicU64; Out::ALL.len()],
    errors: [AtomicU64; ErrorCode::ALL.len()],
    slow_clients_dropped: AtomicU64,
    oversized_frames: AtomicU64,
    ping_timeouts: AtomicU64,
    resumes: AtomicU64,
    rejoins: AtomicU64,
    /// The built-in TURN server's counters, shared with it.
    pub turn: std::sync::Arc<crate::turn::TurnMetrics>,
}

impl Metrics {
    pub fn connection_opened(&self) {
        self.connections_open.fetch_add(1, Relaxed);
        self.connections_total.fetch_add(1, Relaxed);
    }

    pub fn connection_closed(&self) {
        self.connections_open.fetch_sub(1, Relaxed);
    }

    pub fn room_created(&self) {
        self.rooms_created.fetch_add(1, Relaxed);
    }

    pub fn message_in(&self, kind: &str) {
        let index = MESSAGE_TYPES
            .iter()
            .position(|t| *t == kind)
            .unwrap_or(MESSAGE_TYPES.len() - 1);
        self.messages_in[index].fetch_add(1, Relaxed);
    }

    pub fn message_out(&self, kind: Out) {
        self.messages_out[kind as usize].fetch_add(1, Relaxed);
    }

    pub fn rejoined(&self) {
        self.rejoins.fetch_add(1, Relaxed);
    }

    pub fn error(&self, code: ErrorCode) {
        let index = ErrorCode::ALL.iter().position(|c| *c == code).unwrap_or(0);
        self.errors[index].fetch_add(1, Relaxed);
    }

    pub fn slow_client_dropped(&self) {
        self.slow_clients_dropped.fetch_add(1, Relaxed);
    }

    pub fn oversized_frame(&self) {
        self.oversized_frames.fetch_add(1, Relaxed);
    }

    pub fn ping_timeout(&self) {
        self.ping_timeouts.fetch_add(1, Relaxed);
    }

    pub fn resumed(&self) {
        self.resumes.fetch_add(1, Relaxed);
    }

    /// The whole exposition, with `occupancy` read from the registry.
    pub fn render(&self, occupancy: Occupancy) -> String {
        let mut out = String::with_capacity(2048);
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(String, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let one = |v: u64| vec![(String::new(), v)];
        let load = |a: &AtomicU64| a.load(Relaxed);

        metric(
            "parlor_connections",
            "gauge",
            "Open WebSocket connections.",
            &one(load(&self.connections_open)),
        );
        metric(
            "parlor_connections_total",
            "counter",
            "WebSocket connections accepted.",
            &one(load(&self.connections_total)),
        );
        metric(
            "parlor_rooms",
            "gauge",
            "Rooms that exist now.",
            &one(occupancy.rooms as u64),
        );
        metric(
            "parlor_members",
            "gauge",
            "Connections that are in a room.",
            &one(occupancy.members as u64),
        );
        metric(
            "parlor_rooms_created_total",
            "counter",
            "Rooms created.",
            &one(load(&self.rooms_created)),
        );
        let by_type: Vec<_> = MESSAGE_TYPES
            .iter()
            .zip(&self.messages_in)
            .map(|(t, n)| (format!("{{type=\"{t}\"}}"), load(n)))
            .collect();
        metric(
            "parlor_messages_in_total",
            "counter",
            "Client messages received, by type.",
            &by_type,
        );
        let by_type: Vec<_> = Out::ALL
            .iter()
            .map(|kind| {
                let labels = format!("{{type=\"{}\"}}", kind.name());
                (labels, load(&self.messages_out[*kind as usize]))
            })
            .collect();
        metric(
            "parlor_messages_out_total",
            "counter",
            "Messages queued to clients, by type.",
            &by_type,
        );
        let by_code: Vec<_> = ErrorCode::ALL
            .iter()
            .zip(&self.errors)
            .map(|(c, n)| (format!("{{code=\"{c}\"}}"), load(n)))
            .collect();
        metric(
            "parlor_errors_total",
            "counter",
            "Error replies sent, by code.",
            &by_code,
        );
        metric(
            "parlor_slow_clients_dropped_total",
            "counter",
            "Connections closed because their send queue was full.",
            &one(load(&self.slow_clients_dropped)),
        );
        metric(
            "parlor_oversized_frames_total",
            "counter",
            "Connections closed for a frame over 64 KiB.",
            &one(load(&self.oversized_frames)),
        );
        metric(
            "parlor_ping_timeouts_total",
            "counter",
            "Connections closed because they stopped answering pings.",
            &one(load(&self.ping_timeouts)),
        );
        metric(
            "parlor_resumes_total",
            "counter",
            "Members that took their held seat back after a lost connection.",
            &one(load(&self.resumes)),
        );
        metric(
            "parlor_rejoins_total",
            "counter",
            "Members that came back with a resume token after their seat was given up.",
            &one(load(&self.rejoins)),
        );
        self.turn.render(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_with_labels() {
        let m = Metrics::default();
        m.connection_opened();
        m.message_in("signal");
        m.message_in("bogus");
        m.error(ErrorCode::RoomFull);
        let text = m.render(Occupancy {
            rooms: 3,
            members: 2,
        });
        assert!(text.contains("parlor_connections 1\n"));
        assert!(text.contains("parlor_rooms 3\n"));
        assert!(text.contains("parlor_members 2\n"));
        assert!(text.contains("parlor_messages_in_total{type=\"signal\"} 1\n"));
        assert!(text.contains("parlor_messages_in_total{type=\"other\"} 1\n"));
        assert!(text.contains("parlor_errors_total{code=\"room-full\"} 1\n"));
        assert!(text.contains("# TYPE parlor_errors_total counter\n"));
    }
}
