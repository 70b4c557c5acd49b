//! What every load mode needs from the server: rooms made over HTTP, and
//! WebSocket connections, from a chosen source address, that speak the
//! join handshake of PROTOCOL.md.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{WebSocketStream, client_async_with_config};

pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T> = std::result::Result<T, Error>;
pub type Ws = WebSocketStream<TcpStream>;

/// How long any single answer from the server may take before the load
/// tool counts it as an error.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// The server under load.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
}

impl Target {
    /// Parses `http://HOST:PORT` (or bare `HOST:PORT`), HOST an IP address.
    pub fn parse(url: &str) -> Result<Target> {
        let rest = url.strip_prefix("http://").unwrap_or(url);
        let authority = rest.split('/').next().unwrap_or(rest);
        let addr = authority
            .parse()
            .map_err(|_| format!("{url}: expected http://IP:PORT"))?;
        Ok(Target { addr })
    }

    /// A TCP connection to the server from `source` (any port), or from
    /// the system's choice of address.
    pub async fn tcp(&self, source: Option<IpAddr>) -> Result<TcpStream> {
        let socket = if self.addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if let Some(ip) = source {
            socket.bind(SocketAddr::new(ip, 0))?;
        }
        let stream = socket.connect(self.addr).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    /// A WebSocket to `path` on the server. Small buffers: the idle mode
    /// holds many thousands of these in one process.
    pub async fn websocket(&self, path: &str, source: Option<IpAddr>) -> Result<Ws> {
        let stream = self.tcp(source).await?;
        let config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0);
        let url = format!("ws://{}{path}", self.addr);
        let (ws, _) = timeout(
            ANSWER_TIMEOUT,
            client_async_with_config(url, stream, Some(config)),
        )
        .await
        .map_err(|_| "WebSocket handshake timed out")??;
        Ok(ws)
    }
}

/// A keep-alive HTTP/1.1 connection for `POST /api/rooms`.
pub struct Http {
    stream: BufReader<TcpStream>,
}

impl Http {
    pub async fn connect(target: &Target, source: Option<IpAddr>) -> Result<Http> {
        Ok(Http {
            stream: BufReader::new(target.tcp(source).await?),
        })
    }

    /// Creates a room of `capacity` and returns its id.
    pub async fn create_room(&mut self, capacity: u32) -> Result<String> {
        let body = format!("{{\"capacity\":{capacity}}}");
        let request = format!(
            "POST /api/rooms HTTP/1.1\r\nHost: parlor\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.stream.get_mut().write_all(request.as_bytes()).await?;
        let (status, body) = timeout(ANSWER_TIMEOUT, self.read_response())
            .await
            .map_err(|_| "room creation timed out")??;
        if status != 201 {
            return Err(format!("POST /api/rooms answered {status}: {body}").into());
        }
        let value: Value = serde_json::from_str(&body)?;
        let room = value["room"].as_str().ok_or("no room id in the answer")?;
        Ok(room.to_owned())
    }

    async fn read_response(&mut self) -> Result<(u16, String)> {
        let mut line = String::new();
        self.stream.read_line(&mut line).await?;
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or("malformed HTTP status line")?;
        let mut length = 0usize;
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await? == 0 {
                return Err("connection closed in HTTP headers".into());
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse()?;
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await?;
        Ok((status, String::from_utf8(body)?))
    }
}

/// The next text frame, as JSON; pings and pongs are skipped.
pub async fn recv_json(ws: &mut Ws) -> Result<Value> {
    let text = recv_text(ws).await?;
    Ok(serde_json::from_str(&text)?)
}

/// The next text frame; pings and pongs are skipped.
pub async fn recv_text(ws: &mut Ws) -> Result<String> {
    loop {
        let frame = timeout(ANSWER_TIMEOUT, ws.next())
            .await
            .map_err(|_| "no answer from the server in time")?;
        match frame {
            Some(Ok(Message::Text(text))) => return Ok(text.as_str().to_owned()),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(other)) => return Err(format!("unexpected frame {other:?}").into()),
            Some(Err(err)) => return Err(err.into()),
            None => return Err("the server closed the connection".into()),
        }
    }
}

/// Waits for the next message and checks its `type`.
pub async fn expect(ws: &mut Ws, kind: &str) -> Result<Value> {
    let message = recv_json(ws).await?;
    if message["type"] != kind {
        return Err(format!("expected {kind}, got {message}").into());
    }
    Ok(message)
}

/// Joins `room` and returns our peer id from the `welcome`.
pub async fn join(ws: &mut Ws, room: &str) -> Result<String> {
    let join = serde_json::json!({ "type": "join", "room": room, "name": "load" });
    ws.send(Message::text(join.to_string())).await?;
    let welcome = expect(ws, "welcome").await?;
    let id = welcome["id"].as_str().ok_or("welcome without id")?;
    Ok(id.to_owned())
}

/// Sends `{"type":"leave"}`.
pub async fn leave(ws: &mut Ws) -> Result<()> {
    ws.send(Message::text(r#"{"type":"leave"}"#)).await?;
    Ok(())
}

/// Two connections in one fresh room of two: `(a, a_id, b, b_id)`, with
/// `a`'s `peer-joined` for `b` consumed. `b` connects to `peer` (the
/// same server as `a`, or another instance of its cluster).
pub async fn joined_pair(
    target: &Target,
    peer: &Target,
    http: &mut Http,
    sources: (Option<IpAddr>, Option<IpAddr>),
) -> Result<(Ws, String, Ws, String)> {
    let room = http.create_room(2).await?;
    let mut a = target.websocket("/ws", sources.0).await?;
    let a_id = join(&mut a, &room).await?;
    let mut b = peer.websocket("/ws", sources.1).await?;
    let b_id = join(&mut b, &room).await?;
    expect(&mut a, "peer-joined").await?;
    Ok((a, a_id, b, b_id))
}
