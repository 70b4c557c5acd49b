//! TURN over a stream, TCP or TLS (the client leg; relayed addresses stay
//! UDP): the TCP accept loop with its caps on connections (in all and per
//! client address), and per connection a reader that cuts the stream into
//! STUN and ChannelData frames for the core and a writer that drains a
//! queue bounded in bytes. A connection's allocation ends with it. TLS
//! connections ([`super::tls`]) come under the same caps and are served by
//! the same [`serve`], over the decrypted stream.
//!
//! What a connection may hold and how long it may wait are the core's
//! rules ([`super::super::core::StreamClock`], [`Budget`]): a whole frame
//! must arrive within a deadline set by its first byte, so trickled bytes
//! keep nothing open; half-received frames of all connections share one
//! byte budget; a client that never reads loses frames past its queue's
//! byte budget.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::super::core::{Budget, ClientKey, IDLE_TIMEOUT, MAX_FRAME, QUEUE_BYTES, StreamClock};
use super::super::metrics::Discard;
use super::super::stun::{self, channel_data};
use super::{Origin, Shared};

/// Frames queued for one TCP client before new ones are dropped (besides
/// the queue's byte budget, [`QUEUE_BYTES`]).
const TCP_QUEUE: usize = 128;
/// What a connection's read buffer starts with and shrinks back to after a
/// big frame.
const READ_CHUNK: usize = 4096;

/// Where frames for a TCP client go: its writer's queue, bounded in frames
/// and in bytes.
#[derive(Clone)]
pub(super) struct TcpSink {
    tx: mpsc::Sender<Vec<u8>>,
    queued: Arc<Budget>,
}

impl TcpSink {
    /// Queues a copy of `frame`, or drops it if the queue is full (in
    /// frames or bytes) or the connection gone; true if queued.
    pub(super) fn try_send(&self, frame: &[u8]) -> bool {
        if !self.queued.take(frame.len()) {
            return false;
        }
        if self.tx.try_send(frame.to_vec()).is_err() {
            self.queued.give(frame.len());
            return false;
        }
        true
    }
}

/// Accepts TURN over plain TCP.
pub(super) async fn accept(shared: Arc<Shared>, listener: TcpListener) {
    accept_with(shared, listener, |shared, stream, remote| {
        let (reader, writer) = stream.into_split();
        serve(shared, reader, writer, ClientKey::Tcp(remote))
    })
    .await
}

/// Accepts connections on `listener` under the caps, and runs `handle` on
/// each admitted one (with Nagle's algorithm off) in a task of its own.
pub(super) async fn accept_with<F, Fut>(shared: Arc<Shared>, listener: TcpListener, handle: F)
where
    F: Fn(Arc<Shared>, TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors, most likely: wait, don't spin.
                tracing::warn!(%err, "TURN TCP accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(admission) = Admission::new(&shared, remote) else {
            tracing::debug!(client = %remote, "TURN TCP connection refused at a cap");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let served = handle(shared.clone(), stream, remote);
        tokio::spawn(async move {
            served.await;
            drop(admission);
        });
    }
}

/// A stream connection's place under the caps, given back when dropped.
pub(super) struct Admission {
    shared: Arc<Shared>,
    remote: SocketAddr,
}

impl Admission {
    pub(super) fn new(shared: &Arc<Shared>, remote: SocketAddr) -> Option<Admission> {
        shared.tcp_admit(remote.ip()).then(|| Admission {
            shared: shared.clone(),
            remote,
        })
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.shared.tcp_release(self.remote.ip());
    }
}

/// The bytes of half-received frames a connection holds against the
/// shared budget, given back when dropped.
struct HalfFrames<'a> {
    budget: &'a Budget,
    held: usize,
}

impl HalfFrames<'_> {
    /// Holds `bytes` now instead of before; false if over the budget.
    fn hold(&mut self, bytes: usize) -> bool {
        if bytes > self.held {
            if !self.budget.take(bytes - self.held) {
                return false;
            }
        } else {
            self.budget.give(self.held - bytes);
        }
        self.held = bytes;
        true
    }
}

impl Drop for HalfFrames<'_> {
    fn drop(&mut self) {
        self.budget.give(self.held);
    }
}

/// Length of the frame at the start of a TCP stream: STUN, or ChannelData
/// padded to four bytes; None when more bytes are needed, Err when the
/// stream is not TURN.
fn frame_len(bytes: &[u8]) -> Result<Option<usize>, ()> {
    let Some(first) = bytes.first() else {
        return Ok(None);
    };
    let len = match first & 0xC0 {
        0x00 => stun::stun_frame_len(bytes),
        0x40 => channel_data::stream_frame_len(bytes),
        _ => return Err(()),
    };
    match len {
        Some(len) if len > MAX_FRAME => Err(()),
        len => Ok(len),
    }
}

/// Serves one client on a stream's two halves (TCP's own, or those of
/// TLS once its handshake is done) until it closes, breaks the framing or
/// waits too long.
pub(super) async fn serve<R, W>(shared: Arc<Shared>, mut reader: R, writer: W, key: ClientKey)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let remote = key.addr();
    let (tx, rx) = mpsc::channel(TCP_QUEUE);
    let queued = Arc::new(Budget::new(QUEUE_BYTES));
    let sink = TcpSink {
        tx,
        queued: queued.clone(),
    };
    let writer = tokio::spawn(write_loop(writer, rx, queued));
    let mut half = HalfFrames {
        budget: &shared.half_frames,
        held: 0,
    };
    let mut clock = StreamClock::new(Instant::now());
    let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut out = Vec::with_capacity(512);
    'connection: loop {
        let mut start = 0;
        let mut completed = 0;
        loop {
            let len = match frame_len(&buf[start..]) {
                Ok(Some(len)) => len,
                Ok(None) => break,
                Err(()) => {
                    shared.metrics.dropped(Discard::Malformed);
                    break 'connection;
                }
            };
            if buf.len() - start < len {
                break;
            }
            let frame = &buf[start..start + len];
            if shared.handle_client_packet(key, Origin::Tcp(&sink), frame, &mut out) {
                // A reply that does not fit the queue is lost like a UDP
                // datagram; the client retransmits.
                let _ = sink.try_send(&out);
            }
            start += len;
            completed += 1;
        }
        buf.drain(..start);
        if buf.capacity() > 2 * READ_CHUNK && buf.len() <= READ_CHUNK {
            // A big frame has gone: an idle connection keeps a small buffer.
            buf.shrink_to(READ_CHUNK);
        }
        if !half.hold(buf.len()) {
            tracing::debug!(client = %remote, "TURN stream connection closed: half-received frames over budget");
            break;
        }
        clock.received(Instant::now(), completed, buf.len());
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(READ_CHUNK);
        }
        let deadline = clock.deadline(shared.has_allocation(key));
        // With an allocation and nothing pending, wake now and then to see
        // whether the allocation is still there.
        let wake = deadline.unwrap_or_else(|| Instant::now() + IDLE_TIMEOUT);
        match tokio::time::timeout_at(wake.into(), reader.read_buf(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(_)) => {}
            Err(_) if deadline.is_none() => {}
            Err(_) => break,
        }
    }
    drop(half);
    shared.forget(key);
    drop(sink);
    // Let queued replies go out, briefly.
    let _ = tokio::time::timeout(Duration::from_secs(1), writer).await;
}

async fn write_loop(
    mut writer: impl AsyncWrite + Unpin,
    mut rx: mpsc::Receiver<Vec<u8>>,
    queued: Arc<Budget>,
) {
    let mut batch = Vec::with_capacity(16 * 1024);
    while let Some(first) = rx.recv().await {
        batch.clear();
        batch.extend_from_slice(&first);
        while batch.len() < 64 * 1024 {
            match rx.try_recv() {
                Ok(frame) => batch.extend_from_slice(&frame),
                Err(_) => break,
            }
        }
        // TLS holds records until flushed; for TCP the flush is free.
        let written = match writer.write_all(&batch).await {
            Ok(()) => writer.flush().await,
            Err(err) => Err(err),
        };
        queued.give(batch.len());
        if written.is_err() {
            return;
        }
        if batch.capacity() > 128 * 1024 {
            batch = Vec::with_capacity(16 * 1024);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_framing() {
        assert_eq!(frame_len(&[]), Ok(None));
        assert_eq!(frame_len(&[0, 1]), Ok(None));
        assert_eq!(frame_len(&[0, 1, 0, 8]), Ok(Some(28)));
        assert_eq!(frame_len(&[0x40, 0, 0, 1]), Ok(Some(8)));
        assert_eq!(frame_len(&[0x80]), Err(()));
        assert_eq!(frame_len(&[0xC0, 0, 0, 0]), Err(()));
        assert_eq!(frame_len(&[0, 1, 0xff, 0xff]), Ok(Some(MAX_FRAME)));
    }

    #[tokio::test]
    async fn a_client_that_does_not_read_holds_a_bounded_queue() {
        let (tx, mut rx) = mpsc::channel(TCP_QUEUE);
        let queued = Arc::new(Budget::new(QUEUE_BYTES));
        let sink = TcpSink {
            tx,
            queued: queued.clone(),
        };
        let frame = vec![0u8; 60_000];
        let sent = (0..TCP_QUEUE).filter(|_| sink.try_send(&frame)).count();
        assert_eq!(sent, QUEUE_BYTES / frame.len());
        // Small frames still fit in what is left, up to the byte budget.
        assert!(sink.try_send(&[0u8; 100]));
        // The writer gives the bytes back as it writes them.
        let first = rx.recv().await.unwrap();
        queued.give(first.len());
        assert!(sink.try_send(&frame));
    }
}
