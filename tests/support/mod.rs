//! Helpers shared by the protocol integration tests: the real `parlor`
//! binary on 127.0.0.1 with an ephemeral port, a tiny HTTP/1.1 client and a
//! WebSocket client that speaks PROTOCOL.md in JSON.
//!
//! Every helper that waits has a deadline, so a server that never answers
//! makes a test fail quickly instead of hanging.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};

/// How long a test waits for a message it expects.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(5);

/// How long "nothing arrives" is watched for.
pub const SILENCE: Duration = Duration::from_millis(300);

// ---------------------------------------------------------------------------
// The server process
// ---------------------------------------------------------------------------

/// A running `parlor` binary; killed when dropped.
pub struct Server {
    child: Child,
    // Kept open so the server never writes to a closed pipe.
    _stdout: BufReader<ChildStdout>,
    pub addr: SocketAddr,
    /// The STUN/TURN address, read when the flags include `--turn-listen`.
    pub turn: Option<SocketAddr>,
}

impl Server {
    /// Starts the server with default settings.
    pub fn start() -> Server {
        Server::with_args(&[])
    }

    /// Starts the server with extra command-line flags, e.g.
    /// `&["--send-queue", "8"]`. Set `PARLOR_TEST_LOG=debug` to see its log.
    pub fn with_args(args: &[&str]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_parlor"));
        command
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        // The environment must not change the flags' defaults under test.
        for (key, _) in std::env::vars() {
            if key.starts_with("PARLOR_") {
                command.env_remove(key);
            }
        }
        match std::env::var("PARLOR_TEST_LOG") {
            Ok(level) => {
                command.env("PARLOR_LOG", level).stderr(Stdio::inherit());
            }
            Err(_) => {
                command.stderr(Stdio::null());
            }
        }
        let mut child = command.spawn().expect("the parlor binary starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read the startup line");
        let addr = line
            .trim_end()
            .strip_prefix("Parlor is running at http://")
            .and_then(|rest| rest.strip_suffix('/'))
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!("unexpected startup line {line:?}")
            })
            .parse()
            .expect("the startup line holds an address");
        // With --turn-listen the STUN/TURN server must run, and says where.
        let turn = args.contains(&"--turn-listen").then(|| {
            line.clear();
            stdout.read_line(&mut line).expect("read the TURN line");
            line.trim_end()
                .strip_prefix("Parlor STUN/TURN is listening on ")
                .and_then(|rest| rest.strip_suffix(" (UDP and TCP)"))
                .and_then(|addr| addr.parse().ok())
                .unwrap_or_else(|| panic!("unexpected TURN line {line:?}"))
        });
        Server {
            child,
            _stdout: stdout,
            addr,
            turn,
        }
    }

    /// The STUN/TURN address; the server must have been started with
    /// `--turn-listen`.
    pub fn turn(&self) -> SocketAddr {
        self.turn.expect("started with --turn-listen")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's resident set size, in bytes (Linux only).
    pub fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/<pid>/status");
        let line = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .expect("VmRSS line");
        let kb: u64 = line
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .expect("VmRSS value");
        kb * 1024
    }

    /// True while the process is running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub async fn get(&self, path: &str) -> Response {
        http_request(self.addr, "GET", path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: Option<&str>) -> Response {
        let headers: &[(&str, &str)] = if body.is_some() {
            &[("Content-Type", "application/json")]
        } else {
            &[]
        };
        http_request(self.addr, "POST", path, body.map(str::as_bytes), headers).await
    }

    /// Creates a room and returns its id.
    pub async fn create_room(&self, capacity: Option<u64>) -> String {
        let body = capacity.map(|c| json!({ "capacity": c }).to_string());
        let response = self.post("/api/rooms", body.as_deref()).await;
        assert_eq!(response.status, 201, "create room: {}", response.text());
        let room = response.json()["room"]
            .as_str()
            .expect("room is a string")
            .to_owned();
        assert!(!room.is_empty());
        room
    }

    /// Members of `room` per `GET /api/rooms/<room>`, or `None` on 404.
    pub async fn members(&self, room: &str) -> Option<u64> {
        let response = self.get(&format!("/api/rooms/{room}")).await;
        match response.status {
            200 => Some(response.json()["members"].as_u64().expect("members")),
            404 => None,
            other => panic!("GET /api/rooms/{room}: unexpected status {other}"),
        }
    }

    /// One sample of `/metrics`, e.g. `metric("parlor_rooms")` or
    /// `metric("parlor_errors_total{code=\"room-full\"}")`.
    pub async fn metric(&self, sample: &str) -> u64 {
        let text = self.get("/metrics").await.text();
        text.lines()
            .find_map(|line| {
                let (name, value) = line.rsplit_once(' ')?;
                (name == sample).then(|| value.parse().expect("a whole number"))
            })
            .unwrap_or_else(|| panic!("metric {sample} missing from:\n{text}"))
    }

    /// A WebSocket connection to `/ws`.
    pub async fn ws(&self) -> Ws {
        Ws::connect(self.addr).await
    }

    /// A connection that has joined `room`; returns it and its welcome.
    pub async fn joined(&self, room: &str, name: Option<&str>) -> (Ws, Welcome) {
        let mut ws = self.ws().await;
        let welcome = ws.join(room, name).await;
        (ws, welcome)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// HTTP/1.1
// ---------------------------------------------------------------------------

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Header names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("a UTF-8 body")
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text()))
    }

    /// Asserts a JSON error answer: `{"error":{"code":..,"message":..}}`.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "status of {:?}", self.text());
        let content_type = self.header("content-type").unwrap_or_default();
        assert!(
            content_type.starts_with("application/json"),
            "error content type {content_type:?}"
        );
        let body = self.json();
        let object = body.as_object().expect("error body is an object");
        assert_eq!(object.len(), 1, "error body has only `error`: {body}");
        let error = body["error"].as_object().expect("`error` is an object");
        assert_eq!(error["code"], code, "{body}");
        let message = error["message"].as_str().expect("message is a string");
        assert!(!message.trim().is_empty(), "message is for people: {body}");
    }
}

/// One request on a fresh connection (`Connection: close`).
pub async fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    headers: &[(&str, &str)],
) -> Response {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let mut request =
            format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
        for (name, value) in headers {
            request += &format!("{name}: {value}\r\n");
        }
        if body.is_some() || method == "POST" {
            request += &format!("Content-Length: {}\r\n", body.map_or(0, <[u8]>::len));
        }
        request += "\r\n";
        let mut bytes = request.into_bytes();
        bytes.extend_from_slice(body.unwrap_or_default());
        stream.write_all(&bytes).await.expect("write request");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.expect("read response");
        parse_response(&raw)
    };
    tokio::time::timeout(RECV_TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| panic!("{method} {path}: no answer within {RECV_TIMEOUT:?}"))
}

fn parse_response(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response head");
    let head = std::str::from_utf8(&raw[..split]).expect("an ASCII head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("a status line");
    let mut parts = status_line.splitn(3, ' ');
    assert_eq!(
        parts.next(),
        Some("HTTP/1.1"),
        "status line {status_line:?}"
    );
    let status = parts
        .next()
        .and_then(|s| s.parse().ok())
        .expect("a status code");
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line.split_once(':').expect("a header line");
            (name.trim().to_ascii_lowercase(), value.trim().to_owned())
        })
        .collect();
    let rest = &raw[split + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(rest)
    } else if let Some((_, len)) = headers.iter().find(|(n, _)| n == "content-length") {
        let len: usize = len.parse().expect("a numeric content-length");
        assert!(rest.len() >= len, "body shorter than content-length");
        rest[..len].to_vec()
    } else {
        rest.to_vec()
    };
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size_text = std::str::from_utf8(&rest[..end]).unwrap();
        let size_text = size_text.split(';').next().unwrap().trim();
        let size = usize::from_str_radix(size_text, 16).expect("hex chunk size");
        rest = &rest[end + 2..];
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

// ---------------------------------------------------------------------------
// WebSocket
// ---------------------------------------------------------------------------

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

    pub async fn expect_silence(&mut self, duration: Duration) {
        self.rx.expect_silence(duration).await
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

    /// Asserts that no data frame arrives for `duration`.
    pub async fn expect_silence(&mut self, duration: Duration) {
        if let Some(message) = self.next_frame(duration).await {
            panic!("expected silence, got {message:?}");
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

/// Fields Parlor adds to `welcome` beyond PROTOCOL.md (docs/protocol.md):
/// a resume token, `resumed` on a resumed seat, and the room's `kind`.
pub const WELCOME_EXTENSIONS: [&str; 3] = ["resume", "resumed", "kind"];

/// A `welcome` without its extension fields, after checking their types:
/// what is left must be exactly the message of PROTOCOL.md.
pub fn welcome_core(message: &Value) -> Value {
    let mut core = message.clone();
    let object = core.as_object_mut().expect("welcome is an object");
    if let Some(token) = object.remove("resume") {
        assert!(token.as_str().is_some_and(|t| !t.is_empty()), "{message}");
    }
    if let Some(resumed) = object.remove("resumed") {
        assert!(resumed.is_boolean(), "{message}");
    }
    if let Some(kind) = object.remove("kind") {
        assert_eq!(kind, "mesh", "{message}");
    }
    core
}

/// Asserts the shape of a `welcome` for `room`.
pub fn assert_welcome(message: &Value, room: &str) {
    let core = welcome_core(message);
    let mut keys: Vec<&str> = core
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["iceServers", "id", "peers", "room", "type"],
        "{message}"
    );
    assert_eq!(message["type"], "welcome", "expected welcome: {message}");
    assert_eq!(message["room"], room, "{message}");
    let id = message["id"].as_str().expect("welcome.id is a string");
    assert!(!id.is_empty(), "{message}");
    let peers = message["peers"]
        .as_array()
        .expect("welcome.peers is an array");
    for peer in peers {
        assert!(peer["id"].is_string(), "peer ids are strings: {message}");
        assert_ne!(peer["id"], id, "peers are the others: {message}");
        let keys = peer.as_object().expect("a peer is an object").len();
        assert!(
            keys == 1 || (keys == 2 && peer["name"].is_string()),
            "{message}"
        );
    }
    let ice = message["iceServers"]
        .as_array()
        .expect("welcome.iceServers is an array");
    // RTCIceServer: urls (a string or a list of them), and for TURN a
    // username and credential.
    for server in ice {
        let urls = match &server["urls"] {
            Value::String(url) => vec![url.as_str()],
            Value::Array(list) => list
                .iter()
                .map(|u| u.as_str().expect("urls are strings"))
                .collect(),
            other => panic!("urls is {other}: {message}"),
        };
        assert!(!urls.is_empty(), "{message}");
        for url in urls {
            assert!(
                ["stun:", "stuns:", "turn:", "turns:"]
                    .iter()
                    .any(|scheme| url.starts_with(scheme)),
                "{url}"
            );
        }
        for field in ["username", "credential"] {
            if let Some(value) = server.get(field) {
                assert!(value.is_string(), "{message}");
            }
        }
    }
}

/// Asserts an `error` message: code, `ref` (exactly, or absent for `None`),
/// a non-empty message, and nothing else.
pub fn assert_error(message: &Value, code: &str, reference: Option<&str>) {
    assert_eq!(message["type"], "error", "expected an error: {message}");
    assert_eq!(message["code"], code, "{message}");
    let text = message["message"]
        .as_str()
        .expect("error.message is a string");
    assert!(!text.trim().is_empty(), "{message}");
    match reference {
        Some(r) => assert_eq!(message["ref"], r, "{message}"),
        None => assert!(message.get("ref").is_none(), "no ref expected: {message}"),
    }
    let expected_keys = 3 + usize::from(reference.is_some());
    assert_eq!(
        message.as_object().unwrap().len(),
        expected_keys,
        "{message}"
    );
}

/// Polls `check` until it is true or `limit` passes.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return;
        }
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
