//! A WebSocket client that speaks PROTOCOL.md in JSON, split from the start
//! so that one task may send while another receives.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};

use super::RECV_TIMEOUT;
use super::messages::{assert_error, assert_welcome};

pub type Stream = WebSocketStream<TcpStream>;

/// What `welcome` told a member.
#[derive(Debug, Clone)]
pub struct Welcome {
    pub id: String,
    pub peers: Vec<Value>,
    pub raw: Value,
}

/// A WebSocket client, split from the start so that one task may send
/// while another receives.
pub struct Ws {
    pub tx: WsTx,
    pub rx: WsRx,
}

pub struct WsTx {
    sink: SplitSink<Stream, Message>,
}

pub struct WsRx {
    stream: SplitStream<Stream>,
}

/// How a connection ended, as the client saw it.
#[derive(Debug)]
pub enum Ended {
    /// A close frame arrived (its code and reason, if any).
    Closed(Option<CloseFrame>),
    /// The stream ended or failed without a close frame.
    Dropped(String),
}

impl Ws {
    pub async fn connect(addr: SocketAddr) -> Ws {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        tcp.set_nodelay(true).unwrap();
        let url = format!("ws://{addr}/ws");
        let (stream, response) =
            tokio::time::timeout(RECV_TIMEOUT, tokio_tungstenite::client_async(url, tcp))
                .await
                .expect("WebSocket handshake in time")
                .expect("WebSocket handshake");
        assert_eq!(response.status().as_u16(), 101);
        let (sink, stream) = stream.split();
        Ws {
            tx: WsTx { sink },
            rx: WsRx { stream },
        }
    }

    pub fn split(self) -> (WsTx, WsRx) {
        (self.tx, self.rx)
    }

    /// The raw TCP stream underneath, with no close frame sent.
    pub fn into_tcp(self) -> TcpStream {
        self.rx
            .stream
            .reunite(self.tx.sink)
            .expect("halves of one stream")
            .into_inner()
    }

    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.tx.send_text(text).await
    }

    pub async fn send_json(&mut self, value: Value) {
        self.tx.send_json(value).await
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.tx.send_binary(bytes).await
    }

    pub async fn signal(&mut self, to: &str, data: Value) {
        self.tx.signal(to, data).await
    }

    pub async fn recv_text(&mut self) -> String {
        self.rx.recv_text().await
    }

    pub async fn recv_json(&mut self) -> Value {
        self.rx.recv_json().await
    }

    pub async fn recv_json_within(&mut self, limit: Duration) -> Value {
        self.rx.recv_json_within(limit).await
    }

    /// Asserts that nothing is on its way to this connection: sends a
    /// sentinel (a message of an unknown type, refused to this connection
    /// alone) and expects its refusal next. The server answers a
    /// connection's messages in order, so whatever it had sent or queued
    /// here before would come first. Costs one message of the rate and one
    /// `bad-request` in the metrics.
    pub async fn expect_nothing_queued(&mut self) {
        expect_nothing_queued(&mut self.tx, &mut self.rx).await
    }

    pub async fn expect_only_pings(&mut self, count: usize, limit: Duration) {
        self.rx.expect_only_pings(count, limit).await
    }

    pub async fn expect_error(&mut self, code: &str, reference: Option<&str>) -> Value {
        self.rx.expect_error(code, reference).await
    }

    pub async fn expect_peer_joined(&mut self, id: &str, name: Option<&str>) {
        self.rx.expect_peer_joined(id, name).await
    }

    pub async fn expect_peer_left(&mut self, id: &str) {
        self.rx.expect_peer_left(id).await
    }

    pub async fn expect_signal(&mut self, from: &str, data: Value) {
        self.rx.expect_signal(from, data).await
    }

    pub async fn expect_end(&mut self, limit: Duration) -> Ended {
        self.rx.expect_end(limit).await
    }

    /// Joins `room`, asserts the `welcome` shape, and returns it.
    pub async fn join(&mut self, room: &str, name: Option<&str>) -> Welcome {
        let mut message = json!({ "type": "join", "room": room });
        if let Some(name) = name {
            message["name"] = json!(name);
        }
        self.send_json(message).await;
        let welcome = self.recv_json().await;
        assert_welcome(&welcome, room);
        Welcome {
            id: welcome["id"].as_str().unwrap().to_owned(),
            peers: welcome["peers"].as_array().unwrap().clone(),
            raw: welcome,
        }
    }

    /// Sends `{"type":"leave"}`.
    pub async fn leave(&mut self) {
        self.send_json(json!({ "type": "leave" })).await;
    }

    /// Closes politely with a close frame.
    pub async fn close(mut self) {
        let _ = self.tx.sink.send(Message::Close(None)).await;
        let _ = self.tx.sink.flush().await;
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(Ok(_)) = self.rx.stream.next().await {}
        })
        .await;
    }
}

impl WsTx {
    pub async fn send_message(&mut self, message: Message) {
        tokio::time::timeout(RECV_TIMEOUT, self.sink.send(message))
            .await
            .expect("send in time")
            .expect("send a frame");
    }

    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.send_message(Message::text(text.into())).await
    }

    pub async fn send_json(&mut self, value: Value) {
        self.send_text(value.to_string()).await
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.send_message(Message::binary(bytes)).await
    }

    pub async fn signal(&mut self, to: &str, data: Value) {
        self.send_json(json!({ "type": "signal", "to": to, "data": data }))
            .await
    }

    /// Queues a frame without flushing; `flush` sends what is queued.
    pub async fn feed_text(&mut self, text: String) -> Result<(), tungstenite::Error> {
        self.sink.feed(Message::text(text)).await
    }

    pub async fn flush(&mut self) -> Result<(), tungstenite::Error> {
        self.sink.flush().await
    }

    /// Sends, reporting failure instead of panicking (for a connection the
    /// server may have closed).
    pub async fn try_send_text(&mut self, text: String) -> Result<(), tungstenite::Error> {
        self.sink.send(Message::text(text)).await
    }

    /// Sends any frame (a pong, say), reporting failure instead of panicking.
    pub async fn try_send_message(&mut self, message: Message) -> Result<(), tungstenite::Error> {
        self.sink.send(message).await
    }
}

/// [`Ws::expect_nothing_queued`] for a connection split in two.
pub async fn expect_nothing_queued(tx: &mut WsTx, rx: &mut WsRx) {
    tx.send_json(json!({ "type": "sentinel" })).await;
    let next = rx.recv_json().await;
    assert!(
        next["type"] == "error" && next["ref"] == "sentinel",
        "expected nothing before the sentinel's answer, got {next}"
    );
}

impl WsRx {
    /// The next data frame within `limit` (pings and pongs skipped), or
    /// `None` when the limit passes first. Panics if the connection ends.
    pub async fn next_frame(&mut self, limit: Duration) -> Option<Message> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let next = tokio::time::timeout_at(deadline, self.stream.next()).await;
            match next {
                Err(_) => return None,
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                Ok(Some(Ok(message))) => return Some(message),
                Ok(Some(Err(err))) => panic!("the connection failed: {err}"),
                Ok(None) => panic!("the connection ended"),
            }
        }
    }

    pub async fn recv_text_within(&mut self, limit: Duration) -> String {
        match self.next_frame(limit).await {
            Some(Message::Text(text)) => text.as_str().to_owned(),
            Some(other) => panic!("expected a text frame, got {other:?}"),
            None => panic!("no message within {limit:?}"),
        }
    }

    pub async fn recv_text(&mut self) -> String {
        self.recv_text_within(RECV_TIMEOUT).await
    }

    pub async fn recv_json_within(&mut self, limit: Duration) -> Value {
        let text = self.recv_text_within(limit).await;
        let value: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("server sent invalid JSON ({e}): {text}"));
        assert!(
            value.is_object(),
            "every server message is an object: {text}"
        );
        assert!(
            value["type"].is_string(),
            "every server message has a type: {text}"
        );
        value
    }

    pub async fn recv_json(&mut self) -> Value {
        self.recv_json_within(RECV_TIMEOUT).await
    }

    /// Waits for `count` pings from the server (answered as they come),
    /// asserting that nothing else arrives meanwhile: time passes as the
    /// server measures it, for tests of what its timers do.
    pub async fn expect_only_pings(&mut self, count: usize, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        let mut pings = 0;
        while pings < count {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => panic!("{pings} of {count} pings within {limit:?}"),
                Ok(Some(Ok(Message::Ping(_)))) => pings += 1,
                Ok(Some(Ok(Message::Pong(_)))) => {}
                Ok(Some(Ok(other))) => panic!("expected only pings, got {other:?}"),
                Ok(Some(Err(err))) => panic!("the connection failed: {err}"),
                Ok(None) => panic!("the connection ended"),
            }
        }
    }

    /// Asserts the next message is an `error` with `code` and exactly the
    /// given `ref` (`None`: no `ref` field).
    pub async fn expect_error(&mut self, code: &str, reference: Option<&str>) -> Value {
        let message = self.recv_json().await;
        assert_error(&message, code, reference);
        message
    }

    pub async fn expect_peer_joined(&mut self, id: &str, name: Option<&str>) {
        let message = self.recv_json().await;
        let mut peer = json!({ "id": id });
        if let Some(name) = name {
            peer["name"] = json!(name);
        }
        assert_eq!(message, json!({ "type": "peer-joined", "peer": peer }));
    }

    pub async fn expect_peer_left(&mut self, id: &str) {
        let message = self.recv_json().await;
        assert_eq!(message, json!({ "type": "peer-left", "id": id }));
    }

    pub async fn expect_signal(&mut self, from: &str, data: Value) {
        let message = self.recv_json().await;
        assert_eq!(
            message,
            json!({ "type": "signal", "from": from, "data": data })
        );
    }

    /// Reads until the connection ends, collecting the text frames that
    /// were still queued; fails if it has not ended within `limit`.
    pub async fn drain_until_end(&mut self, limit: Duration) -> (Vec<String>, Ended) {
        let deadline = tokio::time::Instant::now() + limit;
        let mut texts = Vec::new();
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => panic!("the connection did not end within {limit:?}"),
                Ok(Some(Ok(Message::Text(text)))) => texts.push(text.as_str().to_owned()),
                Ok(Some(Ok(Message::Close(frame)))) => return (texts, Ended::Closed(frame)),
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(err))) => return (texts, Ended::Dropped(err.to_string())),
                Ok(None) => return (texts, Ended::Dropped("end of stream".into())),
            }
        }
    }

    /// Reads until the connection ends, skipping any data frames still
    /// queued; fails if it has not ended within `limit`.
    pub async fn expect_end(&mut self, limit: Duration) -> Ended {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => panic!("the connection did not end within {limit:?}"),
                Ok(Some(Ok(Message::Close(frame)))) => return Ended::Closed(frame),
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(err))) => return Ended::Dropped(err.to_string()),
                Ok(None) => return Ended::Dropped("end of stream".into()),
            }
        }
    }
}
