//! One client's signaling session: a WebSocket from upgrade to close.
//!
//! Two tasks per connection. The reader parses frames and drives the hub;
//! the writer drains the connection's bounded outbox to the socket and pings.
//! They are split so that a client that stops reading can only block its own
//! writer: the hub never waits for it, its outbox fills, and it is evicted.
//! A client that goes silent (no frame, not even a pong) for the ping timeout
//! is treated as gone, which is how an abrupt network loss becomes
//! `peer-left` for the others.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::oneshot;
use tokio::time::{Instant, MissedTickBehavior, interval, sleep_until, timeout};

use super::hub::Hub;
use super::outbox::{Eviction, Outbox};
use super::protocol::{ClientMessage, ServerMessage, parse_client_message};
use crate::limits::{Admission, Rate, TokenBucket};
use crate::rooms::{ErrorCode, Refusal, Seat};
use crate::shutdown::Shutdown;

/// How long a closing connection may take to flush its close frame.
const CLOSE_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// Frames handled before the reader lets other tasks (the writers of the
/// connections it sends to) run; well under the outbox size.
const FRAMES_PER_YIELD: u32 = 16;

/// Most queued messages written before one flush.
const WRITE_BATCH: usize = 64;

/// What every session is configured with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SessionSettings {
    pub(crate) ping_interval: Duration,
    pub(crate) ping_timeout: Duration,
    pub(crate) message_rate: Rate,
    /// Longest a write to the client may wait for it to read: a client
    /// that stops draining its socket is evicted after this, whatever else
    /// it keeps sending (a pong resets only the ping timeout).
    pub(crate) write_timeout: Duration,
}

/// Why a session ended, and the close frame it owes the client, if any.
enum Ending {
    /// The client closed the WebSocket: it means to go. Its close frame is
    /// answered (RFC 6455, 5.5.1).
    ClientLeft,
    /// The connection broke: the member may come back.
    Lost,
    Silent,
    Oversized,
    /// The client broke the WebSocket framing rules: answered with 1002.
    ProtocolError,
    /// A text frame that is not UTF-8: answered with 1007.
    NotUtf8,
    TooSlow,
    /// A newer connection took this one's seat with its resume token.
    Replaced,
    ServerShutdown,
}

/// Runs the session until it ends or `shutdown` completes; `_admission`
/// holds its place under the connection caps until it ends.
/// `host` is the client's `Host` header, for the TURN URLs of its `welcome`.
pub(crate) async fn run(
    socket: WebSocket,
    hub: Arc<Hub>,
    settings: SessionSettings,
    shutdown: Shutdown,
    _admission: Admission,
    host: Option<String>,
) {
    let outbox = hub.connect();
    let (sink, mut stream) = socket.split();
    let (close_tx, close_rx) = oneshot::channel();
    let mut writer = tokio::spawn(write_loop(
        sink,
        outbox.clone(),
        close_rx,
        settings.ping_interval,
        settings.write_timeout,
    ));

    let mut session = Session {
        hub: &hub,
        outbox: outbox.clone(),
        seat: None,
        rate: TokenBucket::new(settings.message_rate, std::time::Instant::now()),
        host,
    };
    let ending = tokio::select! {
        ending = read_loop(&mut session, &mut stream, settings.ping_timeout) => ending,
        () = shutdown.started() => Ending::ServerShutdown,
    };
    Box::pin(hub.disconnect(
        session.seat.as_ref(),
        &outbox,
        !matches!(ending, Ending::ClientLeft | Ending::Oversized),
    ))
    .await;

    let close = match ending {
        Ending::Lost => None,
        // The WebSocket already queued the answer to the client's close
        // frame; the writer only has to flush it.
        Ending::ClientLeft => Some(None),
        Ending::Silent => {
            hub.metrics().ping_timeout();
            None
        }
        Ending::Oversized => {
            hub.metrics().oversized_frame();
            Some(Some((close_code::SIZE, "frame larger than 64 KiB")))
        }
        Ending::ProtocolError => Some(Some((close_code::PROTOCOL, "WebSocket protocol error"))),
        Ending::NotUtf8 => Some(Some((close_code::INVALID, "text frame is not UTF-8"))),
        Ending::TooSlow => {
            hub.metrics().slow_client_dropped();
            Some(Some((
                close_code::POLICY,
                "too slow to keep up with messages",
            )))
        }
        Ending::Replaced => Some(Some((
            close_code::POLICY,
            "replaced by a newer connection that resumed this seat",
        ))),
        Ending::ServerShutdown => Some(Some((close_code::AWAY, "the server is restarting"))),
    };
    if let Some(frame) = close {
        let _ = close_tx.send(frame.map(|(code, reason)| CloseFrame {
            code,
            reason: reason.into(),
        }));
        if timeout(CLOSE_FLUSH_TIMEOUT, &mut writer).await.is_ok() {
            return;
        }
    }
    writer.abort();
}

async fn read_loop(
    session: &mut Session<'_>,
    stream: &mut SplitStream<WebSocket>,
    ping_timeout: Duration,
) -> Ending {
    let outbox = session.outbox.clone();
    let mut deadline = Instant::now() + ping_timeout;
    let mut since_yield = 0;
    loop {
        tokio::select! {
            frame = stream.next() => {
                deadline = Instant::now() + ping_timeout;
                match frame {
                    Some(Ok(Message::Text(_) | Message::Binary(_))) if !session.within_rate() => {
                        session.refuse(&Refusal::new(
                            ErrorCode::RateLimited,
                            "too many messages; slow down",
                        ), None);
                    }
                    // Boxed: an idle session's task then holds no room for
                    // the largest request's state, only while one runs.
                    Some(Ok(Message::Text(text))) => Box::pin(session.handle_text(&text)).await,
                    Some(Ok(Message::Binary(_))) => session.refuse(
                        &Refusal::bad_request("binary frames are not part of the protocol"),
                        None,
                    ),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_))) => return Ending::ClientLeft,
                    None => return Ending::Lost,
                    Some(Err(err)) => return read_error(err),
                }
                // Frames already buffered are ready at once, so without this
                // a burst is handled in one go while the writers it woke
                // wait, and a receiver that reads fine overflows its outbox.
                // Every few frames is enough, and far cheaper than each one.
                since_yield += 1;
                if since_yield == FRAMES_PER_YIELD {
                    since_yield = 0;
                    tokio::task::yield_now().await;
                }
            }
            why = outbox.evicted() => return match why {
                Eviction::TooSlow => Ending::TooSlow,
                Eviction::Replaced => Ending::Replaced,
            },
            () = sleep_until(deadline) => return Ending::Silent,
        }
    }
}

/// How a failed read ends the session.
fn read_error(err: axum::Error) -> Ending {
    match err.into_inner().downcast_ref::<tungstenite::Error>() {
        Some(tungstenite::Error::Capacity(_)) => Ending::Oversized,
        Some(tungstenite::Error::Protocol(_)) => Ending::ProtocolError,
        Some(tungstenite::Error::Utf8(_)) => Ending::NotUtf8,
        _ => Ending::Lost,
    }
}

/// Writes the outbox and pings until told to close. A write that the client
/// does not take within `write_timeout` evicts the connection as too slow.
async fn write_loop(
    mut sink: SplitSink<WebSocket, Message>,
    outbox: Arc<Outbox>,
    mut close: oneshot::Receiver<Option<CloseFrame>>,
    ping_interval: Duration,
    write_timeout: Duration,
) {
    let mut pings = interval(ping_interval);
    pings.set_missed_tick_behavior(MissedTickBehavior::Delay);
    pings.reset();
    loop {
        let sent = tokio::select! {
            biased;
            frame = &mut close => {
                let closing = async {
                    match frame {
                        Ok(Some(frame)) => sink.send(Message::Close(Some(frame))).await,
                        // Flushes the answer to the client's own close frame.
                        Ok(None) => sink.close().await,
                        Err(_) => Ok(()),
                    }
                };
                let _ = Box::pin(timeout(write_timeout, closing)).await;
                return;
            }
            // The writes are boxed: an idle connection's writer then holds no
            // room for a write and its deadline, only while one runs.
            text = outbox.next() => {
                Box::pin(timeout(write_timeout, write_batch(&mut sink, &outbox, text))).await
            }
            _ = pings.tick() => {
                Box::pin(timeout(write_timeout, sink.send(Message::Ping(Default::default())))).await
            }
        };
        match sent {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return,
            Err(_) => {
                outbox.evict(Eviction::TooSlow);
                return;
            }
        }
    }
}

/// Writes `first` and whatever else is already queued, then flushes once.
async fn write_batch(
    sink: &mut SplitSink<WebSocket, Message>,
    outbox: &Outbox,
    first: Utf8Bytes,
) -> Result<(), axum::Error> {
    sink.feed(Message::Text(first)).await?;
    for _ in 1..WRITE_BATCH {
        match outbox.try_next() {
            Some(text) => sink.feed(Message::Text(text)).await?,
            None => break,
        }
    }
    sink.flush().await
}

/// What the reader knows about its own connection.
struct Session<'a> {
    hub: &'a Hub,
    outbox: Arc<Outbox>,
    /// Our seat while we are in a room.
    seat: Option<Seat>,
    rate: TokenBucket,
    /// The client's `Host` header.
    host: Option<String>,
}

impl Session<'_> {
    fn within_rate(&mut self) -> bool {
        self.rate.try_take(std::time::Instant::now())
    }

    async fn handle_text(&mut self, text: &str) {
        let message = match parse_client_message(text) {
            Ok(message) => message,
            Err(err) => {
                self.hub.metrics().message_in("other");
                return self.refuse(&err.refusal, err.message_type.as_deref());
            }
        };
        let hub = self.hub;
        match message {
            ClientMessage::Join { room, name, resume } => {
                hub.metrics().message_in("join");
                if self.seat.is_some() {
                    let refusal = Refusal::new(
                        ErrorCode::AlreadyJoined,
                        "you are already in a room; leave it first",
                    );
                    return self.refuse(&refusal, Some("join"));
                }
                let host = self.host.as_deref();
                match hub
                    .join(&self.outbox, &room, name, resume.as_deref(), host)
                    .await
                {
                    Ok(seat) => self.seat = Some(seat),
                    Err(refusal) => self.refuse(&refusal, Some("join")),
                }
            }
            ClientMessage::Signal { to, data } => {
                hub.metrics().message_in("signal");
                let Some(seat) = &self.seat else {
                    return self.refuse(&Refusal::not_in_room(), Some("signal"));
                };
                let relayed = ServerMessage::Signal {
                    from: &seat.peer,
                    data,
                }
                .encode();
                if let Err(refusal) = hub.signal(seat, &to, relayed.into()).await {
                    self.refuse(&refusal, Some("signal"));
                }
            }
            ClientMessage::Chat { text } => {
                hub.metrics().message_in("chat");
                let Some(seat) = &self.seat else {
                    return self.refuse(&Refusal::not_in_room(), Some("chat"));
                };
                if let Err(refusal) = hub.chat(seat, text).await {
                    self.refuse(&refusal, Some("chat"));
                }
            }
            ClientMessage::Leave => {
                hub.metrics().message_in("leave");
                let Some(seat) = &self.seat else {
                    return self.refuse(&Refusal::not_in_room(), Some("leave"));
                };
                match hub.leave(seat, &self.outbox).await {
                    Ok(()) => self.seat = None,
                    Err(refusal) => self.refuse(&refusal, Some("leave")),
                }
            }
        }
    }

    fn refuse(&self, refusal: &Refusal, reference: Option<&str>) {
        self.hub.refuse(&self.outbox, refusal, reference);
    }
}
