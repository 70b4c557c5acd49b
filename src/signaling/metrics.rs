//! Signaling's counters for `/metrics`.
//!
//! Plain atomics bumped on the hot path; gauges that the room store already
//! knows (rooms, members) are read from it at scrape time instead of being
//! kept twice.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::metrics::{Exposition, Kind};
use crate::rooms::ErrorCode;
use crate::rooms::Occupancy;

/// Client message types counted separately; anything else is "other".
const MESSAGE_TYPES: [&str; 5] = ["join", "signal", "leave", "chat", "other"];

/// The kinds of message the server sends, counted separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Out {
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
pub(crate) struct Metrics {
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
}

impl Metrics {
    pub(crate) fn connection_opened(&self) {
        self.connections_open.fetch_add(1, Relaxed);
        self.connections_total.fetch_add(1, Relaxed);
    }

    pub(crate) fn connection_closed(&self) {
        self.connections_open.fetch_sub(1, Relaxed);
    }

    pub(crate) fn room_created(&self) {
        self.rooms_created.fetch_add(1, Relaxed);
    }

    pub(crate) fn message_in(&self, kind: &str) {
        let index = MESSAGE_TYPES
            .iter()
            .position(|t| *t == kind)
            .unwrap_or(MESSAGE_TYPES.len() - 1);
        self.messages_in[index].fetch_add(1, Relaxed);
    }

    pub(crate) fn message_out(&self, kind: Out) {
        self.messages_out[kind as usize].fetch_add(1, Relaxed);
    }

    pub(crate) fn rejoined(&self) {
        self.rejoins.fetch_add(1, Relaxed);
    }

    pub(crate) fn error(&self, code: ErrorCode) {
        let index = ErrorCode::ALL.iter().position(|c| *c == code).unwrap_or(0);
        self.errors[index].fetch_add(1, Relaxed);
    }

    pub(crate) fn slow_client_dropped(&self) {
        self.slow_clients_dropped.fetch_add(1, Relaxed);
    }

    pub(crate) fn oversized_frame(&self) {
        self.oversized_frames.fetch_add(1, Relaxed);
    }

    pub(crate) fn ping_timeout(&self) {
        self.ping_timeouts.fetch_add(1, Relaxed);
    }

    pub(crate) fn resumed(&self) {
        self.resumes.fetch_add(1, Relaxed);
    }

    /// Renders the counters, with `occupancy` read from the room store.
    pub(crate) fn render(&self, occupancy: Occupancy, out: &mut Exposition) {
        let load = |a: &AtomicU64| a.load(Relaxed);
        use Kind::{Counter, Gauge};
        out.single(
            "parlor_connections",
            Gauge,
            "Open WebSocket connections.",
            load(&self.connections_open),
        );
        out.single(
            "parlor_connections_total",
            Counter,
            "WebSocket connections accepted.",
            load(&self.connections_total),
        );
        out.single(
            "parlor_rooms",
            Gauge,
            "Rooms that exist now.",
            occupancy.rooms as u64,
        );
        out.single(
            "parlor_members",
            Gauge,
            "Connections that are in a room.",
            occupancy.members as u64,
        );
        out.single(
            "parlor_rooms_created_total",
            Counter,
            "Rooms created.",
            load(&self.rooms_created),
        );
        out.family(
            "parlor_messages_in_total",
            Counter,
            "Client messages received, by type.",
            MESSAGE_TYPES
                .iter()
                .zip(&self.messages_in)
                .map(|(t, n)| (format!("{{type=\"{t}\"}}"), load(n))),
        );
        out.family(
            "parlor_messages_out_total",
            Counter,
            "Messages queued to clients, by type.",
            Out::ALL.iter().map(|kind| {
                let labels = format!("{{type=\"{}\"}}", kind.name());
                (labels, load(&self.messages_out[*kind as usize]))
            }),
        );
        out.family(
            "parlor_errors_total",
            Counter,
            "Error replies sent, by code.",
            ErrorCode::ALL
                .iter()
                .zip(&self.errors)
                .map(|(c, n)| (format!("{{code=\"{c}\"}}"), load(n))),
        );
        let counters = [
            (
                "parlor_slow_clients_dropped_total",
                "Connections closed because their send queue was full.",
                &self.slow_clients_dropped,
            ),
            (
                "parlor_oversized_frames_total",
                "Connections closed for a frame over 64 KiB.",
                &self.oversized_frames,
            ),
            (
                "parlor_ping_timeouts_total",
                "Connections closed because they stopped answering pings.",
                &self.ping_timeouts,
            ),
            (
                "parlor_resumes_total",
                "Members that took their held seat back after a lost connection.",
                &self.resumes,
            ),
            (
                "parlor_rejoins_total",
                "Members that came back with a resume token after their seat was given up.",
                &self.rejoins,
            ),
        ];
        for (name, help, value) in counters {
            out.single(name, Counter, help, load(value));
        }
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
        let mut out = crate::metrics::Exposition::default();
        m.render(
            Occupancy {
                rooms: 3,
                members: 2,
            },
            &mut out,
        );
        let text = out.into_text();
        assert!(text.contains("parlor_connections 1\n"));
        assert!(text.contains("parlor_rooms 3\n"));
        assert!(text.contains("parlor_members 2\n"));
        assert!(text.contains("parlor_messages_in_total{type=\"signal\"} 1\n"));
        assert!(text.contains("parlor_messages_in_total{type=\"other\"} 1\n"));
        assert!(text.contains("parlor_errors_total{code=\"room-full\"} 1\n"));
        assert!(text.contains("# TYPE parlor_errors_total counter\n"));
    }
}
