//! The built-in STUN/TURN server over real sockets (UDP, TCP, and TLS on
//! the HTTPS port and on a port of its own): the `parlor` binary on
//! 127.0.0.1 with `--turn-listen 127.0.0.1:0`, driven by a small client
//! written here on Parlor's STUN codec. (Clients that nobody here wrote,
//! coturn's, are in tests/turn_interop.rs.)
//!
//! Past 600 lines on purpose: one binary for the whole server-level TURN
//! suite, around the one TURN client written here; a second file would need
//! that client moved into tests/support for no gain in reading.

mod support;

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parlor::turn::credentials::{self, Secret};
use parlor::turn::stun::{self, Builder, Class, Message, attr, channel_data, method};
use support::{Server, connect_pinned};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

const SECRET: &str = "integration-secret";
const WAIT: Duration = Duration::from_secs(3);

// ---------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------

/// Parlor with TURN on a free port, a known secret, loopback peers allowed,
/// and `extra` flags.
fn start(extra: &[&str]) -> Server {
    let mut args = vec![
        "--turn-listen",
        "127.0.0.1:0",
        "--turn-secret",
        SECRET,
        "--turn-allowed-peers",
        "127.0.0.0/8",
    ];
    args.extend_from_slice(extra);
    Server::with_args(&args)
}

/// Waits until the server has dropped `count` packets for `reason`.
async fn eventually_dropped(server: &Server, reason: &str, count: u64) {
    let sample = format!("parlor_turn_dropped_packets_total{{reason=\"{reason}\"}}");
    support::eventually(WAIT, &sample.clone(), || async {
        server.metric(&sample).await == count
    })
    .await;
}

// ---------------------------------------------------------------------------
// A TURN client
// ---------------------------------------------------------------------------

fn transaction_id() -> [u8; 12] {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut tid = [0x5a; 12];
    tid[8..].copy_from_slice(&n.to_be_bytes());
    tid
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// REST API credentials from `secret`, valid for an hour.
fn rest_credentials(secret: &str, user: &str) -> (String, String) {
    let creds = credentials::issue(&Secret::new(secret), user, unix_now() + 3600);
    (creds.username, creds.password)
}

/// A byte stream to the server: TCP, or TLS over TCP.
trait Duplex: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Duplex for T {}

enum Link {
    Udp(UdpSocket),
    /// A stream, its local address, and bytes received of the next frame.
    Stream(Box<dyn Duplex>, SocketAddr, Vec<u8>),
}

/// A received packet: a STUN message or ChannelData.
#[derive(Debug)]
enum Packet {
    Stun(Vec<u8>),
    Channel(u16, Vec<u8>),
}

struct Client {
    link: Link,
    server: SocketAddr,
    username: String,
    password: String,
    realm: Option<String>,
    nonce: Option<String>,
}

struct Response {
    bytes: Vec<u8>,
}

impl Response {
    fn msg(&self) -> Message<'_> {
        Message::parse(&self.bytes).unwrap()
    }

    fn class(&self) -> Class {
        self.msg().class
    }

    /// The XOR-RELAYED-ADDRESS of a successful Allocate.
    fn relayed(&self) -> SocketAddr {
        self.msg()
            .get_xor_address(attr::XOR_RELAYED_ADDRESS)
            .unwrap()
            .unwrap()
    }

    fn error_code(&self) -> Option<u16> {
        let v = self.msg().get(attr::ERROR_CODE)?;
        Some(u16::from(v[2] & 7) * 100 + u16::from(v[3]))
    }
}

impl Client {
    async fn udp(server: SocketAddr, creds: (String, String)) -> Client {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        Client::new(Link::Udp(socket), server, creds)
    }

    async fn tcp(server: SocketAddr, creds: (String, String)) -> Client {
        let stream = TcpStream::connect(server).await.unwrap();
        let local = stream.local_addr().unwrap();
        Client::new(
            Link::Stream(Box::new(stream), local, Vec::new()),
            server,
            creds,
        )
    }

    /// Over TLS to `server`, trusting the certificate `fingerprint`,
    /// offering the ALPN protocols `alpn`.
    async fn tls(
        server: SocketAddr,
        fingerprint: &str,
        alpn: &[&[u8]],
        creds: (String, String),
    ) -> Client {
        let stream = connect_pinned(server, fingerprint, alpn)
            .await
            .expect("TLS handshake");
        let local = stream.get_ref().0.local_addr().unwrap();
        Client::new(
            Link::Stream(Box::new(stream), local, Vec::new()),
            server,
            creds,
        )
    }

    fn new(link: Link, server: SocketAddr, (username, password): (String, String)) -> Client {
        Client {
            link,
            server,
            username,
            password,
            realm: None,
            nonce: None,
        }
    }

    fn local_addr(&self) -> SocketAddr {
        match &self.link {
            Link::Udp(s) => s.local_addr().unwrap(),
            Link::Stream(_, local, _) => *local,
        }
    }

    fn key(&self) -> [u8; 16] {
        credentials::long_term_key(
            &self.username,
            self.realm.as_deref().unwrap_or(""),
            &self.password,
        )
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        match &mut self.link {
            Link::Udp(s) => {
                s.send_to(bytes, self.server).await.unwrap();
            }
            Link::Stream(s, _, _) => {
                s.write_all(bytes).await.unwrap();
                s.flush().await.unwrap();
            }
        }
    }

    /// The next packet, or None after `limit`.
    async fn recv_within(&mut self, limit: Duration) -> Option<Packet> {
        match &mut self.link {
            Link::Udp(s) => {
                let mut buf = vec![0u8; 70_000];
                let (n, _) = timeout(limit, s.recv_from(&mut buf)).await.ok()?.unwrap();
                buf.truncate(n);
                Some(classify(buf))
            }
            Link::Stream(s, _, pending) => loop {
                if let Some(len) = stream_frame_len(pending)
                    && pending.len() >= len
                {
                    let frame: Vec<u8> = pending.drain(..len).collect();
                    return Some(classify(frame));
                }
                let mut chunk = [0u8; 4096];
                let n = timeout(limit, s.read(&mut chunk)).await.ok()?.unwrap();
                if n == 0 {
                    return None;
                }
                pending.extend_from_slice(&chunk[..n]);
            },
        }
    }

    async fn recv(&mut self) -> Packet {
        self.recv_within(WAIT).await.expect("a packet arrives")
    }

    /// Sends a request built by `add` (plus credentials once known) and
    /// waits for its response.
    async fn request_once(&mut self, method: u16, add: &dyn Fn(&mut Builder)) -> Response {
        let tid = transaction_id();
        let request = self.build(tid, method, add);
        self.send_raw(&request).await;
        self.response_within(tid, WAIT)
            .await
            .expect("a response arrives")
    }

    /// A request built by `add`, plus credentials once known.
    fn build(&self, tid: [u8; 12], method: u16, add: &dyn Fn(&mut Builder)) -> Vec<u8> {
        let mut buf = Vec::new();
        {
            let mut b = Builder::new(&mut buf, method, Class::Request, tid);
            add(&mut b);
            if let (Some(realm), Some(nonce)) = (&self.realm, &self.nonce) {
                b.attr(attr::USERNAME, self.username.as_bytes())
                    .attr(attr::REALM, realm.as_bytes())
                    .attr(attr::NONCE, nonce.as_bytes());
                let key = self.key();
                b.integrity(&key);
            }
            b.fingerprint();
        }
        buf
    }

    /// The response to `tid`, skipping anything else, or None after `limit`.
    async fn response_within(&mut self, tid: [u8; 12], limit: Duration) -> Option<Response> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.recv_within(left).await? {
                Packet::Stun(bytes) if Message::parse(&bytes).unwrap().transaction_id == tid => {
                    return Some(Response { bytes });
                }
                _ => continue,
            }
        }
    }

    /// A request asked again every 100 ms until answered, as a STUN
    /// client retransmits over UDP: a server answers one address's
    /// unauthenticated requests and refusals 32 at once, then 16 a second,
    /// and drops the rest.
    async fn request_patiently(&mut self, method: u16, add: &dyn Fn(&mut Builder)) -> Response {
        let tid = transaction_id();
        let request = self.build(tid, method, add);
        let started = std::time::Instant::now();
        loop {
            self.send_raw(&request).await;
            if let Some(answer) = self.response_within(tid, Duration::from_millis(100)).await {
                return answer;
            }
            assert!(started.elapsed() < WAIT, "no answer within {WAIT:?}");
        }
    }

    /// An Allocate for UDP, challenged then signed, each asked patiently.
    async fn allocate_patiently(&mut self) -> Response {
        let challenge = self
            .request_patiently(method::ALLOCATE, &transport(17))
            .await;
        assert_eq!(challenge.error_code(), Some(401));
        let msg = challenge.msg();
        self.realm = msg.get_str(attr::REALM).map(String::from);
        self.nonce = msg.get_str(attr::NONCE).map(String::from);
        self.request_patiently(method::ALLOCATE, &transport(17))
            .await
    }

    /// A request that answers a 401 or 438 challenge once.
    async fn request(&mut self, method: u16, add: &dyn Fn(&mut Builder)) -> Response {
        let response = self.request_once(method, add).await;
        if matches!(response.error_code(), Some(401 | 438)) && response.class() == Class::Error {
            let msg = response.msg();
            let realm = msg.get_str(attr::REALM).map(String::from);
            let nonce = msg.get_str(attr::NONCE).map(String::from);
            let first_try = self.nonce.is_none() || response.error_code() == Some(438);
            if first_try && realm.is_some() && nonce.is_some() {
                self.realm = realm;
                self.nonce = nonce;
                return self.request_once(method, add).await;
            }
        }
        response
    }

    /// Allocates a UDP relay; returns the relayed address.
    async fn allocate(&mut self) -> SocketAddr {
        let response = self.request(method::ALLOCATE, &transport(17)).await;
        assert_eq!(
            response.class(),
            Class::Success,
            "allocate: {:?}",
            response.error_code()
        );
        assert!(
            response.msg().verify_integrity(&self.key()),
            "the response is signed"
        );
        response.relayed()
    }

    /// An Allocate for UDP with one more attribute, `kind` = `value`.
    async fn allocate_with(&mut self, kind: u16, value: &[u8]) -> Response {
        self.request(method::ALLOCATE, &|b| {
            b.attr(attr::REQUESTED_TRANSPORT, &[17, 0, 0, 0])
                .attr(kind, value);
        })
        .await
    }

    async fn create_permission(&mut self, peer: SocketAddr) -> Response {
        self.request(method::CREATE_PERMISSION, &move |b| {
            b.xor_address(attr::XOR_PEER_ADDRESS, peer);
        })
        .await
    }

    async fn channel_bind(&mut self, channel: u16, peer: SocketAddr) -> Response {
        self.request(method::CHANNEL_BIND, &move |b| {
            b.attr(
                attr::CHANNEL_NUMBER,
                &[(channel >> 8) as u8, channel as u8, 0, 0],
            )
            .xor_address(attr::XOR_PEER_ADDRESS, peer);
        })
        .await
    }

    /// CreatePermission that must succeed.
    async fn permit(&mut self, peer: SocketAddr) {
        assert_eq!(self.create_permission(peer).await.class(), Class::Success);
    }

    /// ChannelBind that must succeed.
    async fn bind(&mut self, channel: u16, peer: SocketAddr) {
        assert_eq!(
            self.channel_bind(channel, peer).await.class(),
            Class::Success
        );
    }

    async fn refresh(&mut self, lifetime: u32) -> Response {
        self.request(method::REFRESH, &move |b| {
            b.u32(attr::LIFETIME, lifetime);
        })
        .await
    }

    async fn send_indication(&mut self, peer: SocketAddr, data: &[u8]) {
        let mut buf = Vec::new();
        Builder::new(&mut buf, method::SEND, Class::Indication, transaction_id())
            .xor_address(attr::XOR_PEER_ADDRESS, peer)
            .attr(attr::DATA, data);
        self.send_raw(&buf).await;
    }

    async fn send_channel_data(&mut self, channel: u16, data: &[u8]) {
        let mut buf = channel_data::header(channel, data.len() as u16).to_vec();
        buf.extend_from_slice(data);
        if matches!(self.link, Link::Stream(..)) {
            buf.resize(stun::padded(buf.len()), 0);
        }
        self.send_raw(&buf).await;
    }

    /// The next Data indication: (peer, data).
    async fn expect_data(&mut self) -> (SocketAddr, Vec<u8>) {
        match self.recv().await {
            Packet::Stun(bytes) => {
                let msg = Message::parse(&bytes).unwrap();
                assert_eq!((msg.method, msg.class), (method::DATA, Class::Indication));
                let peer = msg
                    .get_xor_address(attr::XOR_PEER_ADDRESS)
                    .unwrap()
                    .unwrap();
                (peer, msg.get(attr::DATA).unwrap().to_vec())
            }
            other => panic!("expected a Data indication, got {other:?}"),
        }
    }
}

/// Clients "a" and "b" of `server`'s STUN/TURN over UDP, each with an
/// allocation: (a, a's relayed address, b, b's relayed address).
async fn two_allocations(server: &Server) -> (Client, SocketAddr, Client, SocketAddr) {
    let mut a = Client::udp(server.turn(), rest_credentials(SECRET, "a")).await;
    let mut b = Client::udp(server.turn(), rest_credentials(SECRET, "b")).await;
    let relay_a = a.allocate().await;
    let relay_b = b.allocate().await;
    (a, relay_a, b, relay_b)
}

/// An Allocate request's REQUESTED-TRANSPORT: 17 for UDP, 6 for TCP.
fn transport(protocol: u8) -> impl Fn(&mut Builder) {
    move |b| {
        b.attr(attr::REQUESTED_TRANSPORT, &[protocol, 0, 0, 0]);
    }
}

fn stream_frame_len(bytes: &[u8]) -> Option<usize> {
    match bytes.first()? & 0xC0 {
        0x00 => stun::stun_frame_len(bytes),
        0x40 => channel_data::stream_frame_len(bytes),
        _ => panic!("the server sent a frame that is neither STUN nor ChannelData"),
    }
}

fn classify(bytes: Vec<u8>) -> Packet {
    if stun::looks_like_stun(&bytes) {
        Packet::Stun(bytes)
    } else {
        let (channel, data) = channel_data::parse(&bytes).expect("valid ChannelData");
        Packet::Channel(channel, data.to_vec())
    }
}

fn binding_request() -> Vec<u8> {
    let mut buf = Vec::new();
    Builder::new(&mut buf, method::BINDING, Class::Request, transaction_id()).fingerprint();
    buf
}

fn mapped_address(bytes: &[u8]) -> SocketAddr {
    let msg = Message::parse(bytes).unwrap();
    assert_eq!((msg.method, msg.class), (method::BINDING, Class::Success));
    assert!(msg.has_fingerprint);
    msg.get_xor_address(attr::XOR_MAPPED_ADDRESS)
        .unwrap()
        .unwrap()
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[tokio::test]
async fn stun_binding_over_udp_and_tcp() {
    let server = start(&[]);
    let mut udp = Client::udp(server.turn(), rest_credentials(SECRET, "u")).await;
    udp.send_raw(&binding_request()).await;
    let Packet::Stun(reply) = udp.recv().await else {
        panic!()
    };
    assert_eq!(mapped_address(&reply), udp.local_addr());

    let mut tcp = Client::tcp(server.turn(), rest_credentials(SECRET, "u")).await;
    // Two requests in one write: the stream is framed by the STUN header.
    let mut both = binding_request();
    both.extend_from_slice(&binding_request());
    tcp.send_raw(&both).await;
    for _ in 0..2 {
        let Packet::Stun(reply) = tcp.recv().await else {
            panic!()
        };
        assert_eq!(mapped_address(&reply), tcp.local_addr());
    }
    assert_eq!(server.metric("parlor_turn_binding_requests_total").await, 3);
}

#[tokio::test]
async fn allocate_is_challenged_then_succeeds() {
    let server = start(&["--turn-relay-ports", "40000-60000"]);
    let mut client = Client::udp(server.turn(), rest_credentials(SECRET, "alice")).await;
    let first = client.request_once(method::ALLOCATE, &transport(17)).await;
    assert_eq!(first.error_code(), Some(401));
    assert_eq!(first.msg().get_str(attr::REALM), Some("parlor"));
    assert!(
        first
            .msg()
            .get_str(attr::NONCE)
            .is_some_and(|n| !n.is_empty())
    );

    let relayed = client.allocate().await;
    assert_eq!(relayed.ip(), server.turn().ip());
    assert!((40000..=60000).contains(&relayed.port()), "{relayed}");
    assert_eq!(server.metric("parlor_turn_allocations").await, 1);
    assert_eq!(server.metric("parlor_turn_auth_failures_total").await, 0);

    // A second Allocate on the same 5-tuple is a mismatch.
    let again = client.request(method::ALLOCATE, &transport(17)).await;
    assert_eq!(again.error_code(), Some(437));
    // TCP relaying (RFC 6062) is not offered.
    let mut other = Client::udp(server.turn(), rest_credentials(SECRET, "alice")).await;
    let tcp_relay = other.request(method::ALLOCATE, &transport(6)).await;
    assert_eq!(tcp_relay.error_code(), Some(442));
}

#[tokio::test]
async fn wrong_expired_and_malformed_credentials_are_refused() {
    let server = start(&[]);
    let stale = credentials::issue(&Secret::new(SECRET), "old", unix_now() - 10);
    for creds in [
        rest_credentials("not-the-secret", "mallory"),
        (stale.username, stale.password),
        ("mallory".to_string(), "password".to_string()),
        {
            let (username, _) = rest_credentials(SECRET, "eve");
            (username, "guessed".to_string())
        },
    ] {
        let mut client = Client::udp(server.turn(), creds).await;
        let response = client.request(method::ALLOCATE, &transport(17)).await;
        assert_eq!(response.error_code(), Some(401));
    }
    assert_eq!(server.metric("parlor_turn_auth_failures_total").await, 4);
    assert_eq!(server.metric("parlor_turn_allocations").await, 0);
}

#[tokio::test]
async fn permissions_and_indications_relay_between_allocations() {
    let server = start(&[]);
    let (mut a, relay_a, mut b, relay_b) = two_allocations(&server).await;

    // Without a permission at B, A's data is dropped there: the first
    // that B gets is what A sent once B permitted it.
    a.permit(relay_b).await;
    a.send_indication(relay_b, b"too early").await;
    eventually_dropped(&server, "no_permission", 1).await;
    b.permit(relay_a).await;
    a.send_indication(relay_b, b"hello b").await;
    assert_eq!(b.expect_data().await, (relay_a, b"hello b".to_vec()));
    b.send_indication(relay_a, b"hello a, odd size").await;
    assert_eq!(
        a.expect_data().await,
        (relay_b, b"hello a, odd size".to_vec())
    );

    // A permission is for an IP address, whatever the port: A's permission
    // for B's address (127.0.0.1) admits C's relay on another port too.
    let mut c = Client::udp(server.turn(), rest_credentials(SECRET, "c")).await;
    let relay_c = c.allocate().await;
    c.permit(relay_a).await;
    c.send_indication(relay_a, b"from c").await;
    assert_eq!(a.expect_data().await, (relay_c, b"from c".to_vec()));

    assert!(
        server
            .metric("parlor_turn_relayed_packets_total{direction=\"to_client\"}")
            .await
            >= 3
    );
    assert!(
        server
            .metric("parlor_turn_relayed_bytes_total{direction=\"to_peer\"}")
            .await
            >= 20
    );
}

#[tokio::test]
async fn channels_carry_channel_data() {
    let server = start(&[]);
    let (mut a, relay_a, mut b, relay_b) = two_allocations(&server).await;
    a.bind(0x4001, relay_b).await;
    b.bind(0x4ABC, relay_a).await;

    a.send_channel_data(0x4001, b"over a channel").await;
    match b.recv().await {
        Packet::Channel(0x4ABC, data) => assert_eq!(data, b"over a channel"),
        other => panic!("{other:?}"),
    }
    // A peer without a channel still gets Data indications: B's channel
    // to A carries A's data as ChannelData the other way.
    b.send_channel_data(0x4ABC, &[7; 1001]).await;
    match a.recv().await {
        Packet::Channel(0x4001, data) => assert_eq!(data, vec![7; 1001]),
        other => panic!("{other:?}"),
    }
    // Rebinding the number to another peer is refused; an unbound channel
    // carries nothing.
    let stranger: SocketAddr = "127.0.0.1:9".parse().unwrap();
    assert_eq!(
        a.channel_bind(0x4001, stranger).await.error_code(),
        Some(400)
    );
    assert_eq!(
        a.channel_bind(0x3FFF, stranger).await.error_code(),
        Some(400)
    );
    // Sent after the unbound one, on one socket: the first B gets.
    a.send_channel_data(0x4002, b"unbound").await;
    a.send_channel_data(0x4001, b"bound").await;
    match b.recv().await {
        Packet::Channel(0x4ABC, data) => assert_eq!(data, b"bound"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn channel_numbers_past_rfc_8656s_range_are_refused() {
    let server = start(&[]);
    let (mut a, relay_a, mut b, relay_b) = two_allocations(&server).await;
    let mut c = Client::udp(server.turn(), rest_credentials(SECRET, "c")).await;
    let relay_c = c.allocate().await;
    b.permit(relay_a).await;
    c.permit(relay_a).await;
    a.bind(0x4000, relay_b).await;
    // RFC 5766's numbers past 0x4FFF, which coturn's uclient still picks:
    // 400 Bad Request, and nothing bound.
    for number in [0x5000, 0x7FFF] {
        let refusal = a.channel_bind(number, relay_c).await;
        assert_eq!(refusal.error_code(), Some(400), "{number:#x}");
        assert!(refusal.msg().verify_integrity(&a.key()), "signed");
    }
    // C's address is still free for a channel (a peer has one at most),
    // and the range's last number is granted.
    a.bind(0x4FFF, relay_c).await;

    // ChannelData on a refused number is dropped; what A sends after it on
    // the granted channels arrives, and is the first that arrives.
    let malformed = "parlor_turn_dropped_packets_total{reason=\"malformed\"}";
    let before = server.metric(malformed).await;
    a.send_channel_data(0x5000, b"reserved").await;
    a.send_channel_data(0x7FFF, b"reserved").await;
    a.send_channel_data(0x4000, b"to b").await;
    a.send_channel_data(0x4FFF, b"to c").await;
    assert_eq!(b.expect_data().await, (relay_a, b"to b".to_vec()));
    assert_eq!(c.expect_data().await, (relay_a, b"to c".to_vec()));
    assert_eq!(server.metric(malformed).await, before + 2);
    // And the peers' data comes back on the two channels.
    b.send_indication(relay_a, b"from b").await;
    c.send_indication(relay_a, b"from c").await;
    let mut got = vec![];
    for _ in 0..2 {
        match a.recv().await {
            Packet::Channel(channel, data) => got.push((channel, data)),
            other => panic!("{other:?}"),
        }
    }
    got.sort();
    assert_eq!(
        got,
        [(0x4000, b"from b".to_vec()), (0x4FFF, b"from c".to_vec())]
    );
}

#[tokio::test]
async fn tcp_clients_relay_and_lose_their_allocation_on_close() {
    let server = start(&[]);
    let mut a = Client::tcp(server.turn(), rest_credentials(SECRET, "a")).await;
    let mut b = Client::udp(server.turn(), rest_credentials(SECRET, "b")).await;
    let relay_a = a.allocate().await;
    let relay_b = b.allocate().await;
    a.bind(0x4000, relay_b).await;
    b.permit(relay_a).await;

    a.send_channel_data(0x4000, b"tcp to udp").await;
    assert_eq!(b.expect_data().await, (relay_a, b"tcp to udp".to_vec()));
    // Back over TCP as ChannelData, padded to four bytes.
    b.send_indication(relay_a, b"udp to tcp!").await;
    match a.recv().await {
        Packet::Channel(0x4000, data) => assert_eq!(data, b"udp to tcp!"),
        other => panic!("{other:?}"),
    }
    b.send_indication(relay_a, b"again").await;
    assert!(matches!(a.recv().await, Packet::Channel(0x4000, _)));

    assert_eq!(server.metric("parlor_turn_allocations").await, 2);
    drop(a);
    support::eventually(
        WAIT,
        "closing the connection deletes its allocation",
        || async { server.metric("parlor_turn_allocations").await == 1 },
    )
    .await;
}

#[tokio::test]
async fn refresh_with_lifetime_zero_deletes_the_allocation() {
    let server = start(&["--turn-max-lifetime", "20m"]);
    let mut client = Client::udp(server.turn(), rest_credentials(SECRET, "r")).await;
    let relayed = client.allocate().await;

    let refreshed = client.refresh(100_000).await;
    assert_eq!(refreshed.class(), Class::Success);
    assert_eq!(
        refreshed.msg().get_u32(attr::LIFETIME),
        Some(1200),
        "capped at the maximum"
    );
    let refreshed = client.refresh(5).await;
    assert_eq!(
        refreshed.msg().get_u32(attr::LIFETIME),
        Some(600),
        "at least the default"
    );

    let deleted = client.refresh(0).await;
    assert_eq!(deleted.class(), Class::Success);
    assert_eq!(deleted.msg().get_u32(attr::LIFETIME), Some(0));
    assert_eq!(server.metric("parlor_turn_allocations").await, 0);
    assert_eq!(client.refresh(600).await.error_code(), Some(437));
    assert_eq!(
        client.create_permission(relayed).await.error_code(),
        Some(437)
    );
    // The relayed port is free again.
    assert!(std::net::UdpSocket::bind(relayed).is_ok());
    // And the client may allocate anew.
    client.allocate().await;
}

#[tokio::test]
async fn peer_filter_refuses_loopback_by_default() {
    let server = Server::with_args(&["--turn-listen", "127.0.0.1:0", "--turn-secret", SECRET]);
    let (mut a, relay_a, mut b, relay_b) = two_allocations(&server).await;
    assert_eq!(a.create_permission(relay_b).await.error_code(), Some(403));
    assert_eq!(
        a.channel_bind(0x4000, relay_b).await.error_code(),
        Some(403)
    );
    for peer in [
        "10.0.0.1:5000",
        "192.168.1.1:5000",
        "169.254.169.254:80",
        "0.0.0.0:1",
        "224.0.0.1:5000",
    ] {
        let peer: SocketAddr = peer.parse().unwrap();
        assert_eq!(
            a.create_permission(peer).await.error_code(),
            Some(403),
            "{peer}"
        );
    }
    // A public address is fine (nothing is sent to it here).
    assert_eq!(
        a.create_permission("1.1.1.1:5000".parse().unwrap())
            .await
            .class(),
        Class::Success
    );
    // An IPv6 peer for an IPv4 relay is a family mismatch.
    assert_eq!(
        a.create_permission("[2001:db8::1]:5000".parse().unwrap())
            .await
            .error_code(),
        Some(443)
    );
    // Nothing passes between the two allocations: B's data is dropped for
    // want of a permission, and A has nothing by then.
    b.send_indication(relay_a, b"blocked").await;
    eventually_dropped(&server, "no_permission", 1).await;
    assert!(a.recv_within(Duration::ZERO).await.is_none());
    assert_eq!(server.metric("parlor_turn_peers_refused_total").await, 7);

    // With the allow-list, the same requests succeed (the other tests relay
    // between loopback allocations that way).
    let open = start(&[]);
    let mut c = Client::udp(open.turn(), rest_credentials(SECRET, "c")).await;
    c.allocate().await;
    c.permit(relay_b).await;
    assert_eq!(
        c.create_permission("10.0.0.1:5000".parse().unwrap())
            .await
            .error_code(),
        Some(403)
    );
}

#[tokio::test]
async fn malformed_packets_are_dropped_and_the_server_still_answers() {
    let server = start(&[]);
    let mut client = Client::udp(server.turn(), rest_credentials(SECRET, "m")).await;
    client.allocate().await;
    let mut good = binding_request();
    let mut bad_fingerprint = good.clone();
    let last = bad_fingerprint.len() - 1;
    bad_fingerprint[last] ^= 1;
    let mut long_attribute = Vec::new();
    Builder::new(
        &mut long_attribute,
        method::ALLOCATE,
        Class::Request,
        transaction_id(),
    )
    .attr(attr::USERNAME, b"abcd");
    long_attribute[22..24].copy_from_slice(&500u16.to_be_bytes());
    let mut wrong_cookie = binding_request();
    wrong_cookie[4] ^= 0xff;
    let mut header_only = binding_request();
    header_only[2..4].copy_from_slice(&[0xff, 0xfc]);
    let garbage: Vec<Vec<u8>> = vec![
        vec![],
        vec![0],
        vec![0xff; 100],
        good[..19].to_vec(),
        good[..good.len() - 1].to_vec(),
        bad_fingerprint,
        long_attribute,
        wrong_cookie,
        header_only,
        vec![0x40, 0x00, 0xff, 0xff, 1, 2, 3],
        vec![0x40, 0x00],
        vec![0x7f, 0xff, 0x00, 0x00],
        (0..1500).map(|i| (i * 7) as u8).collect(),
    ];
    for packet in &garbage {
        client.send_raw(packet).await;
    }
    // No answer to garbage: the first answer is to what came after it.
    client.send_raw(&good).await;
    let Packet::Stun(reply) = client.recv().await else {
        panic!()
    };
    assert_eq!(mapped_address(&reply), client.local_addr());
    assert!(
        server
            .metric("parlor_turn_dropped_packets_total{reason=\"malformed\"}")
            .await
            >= 9
    );

    // The same over TCP: a stream that is not TURN is closed; others go on.
    let mut tcp = Client::tcp(server.turn(), rest_credentials(SECRET, "m")).await;
    tcp.send_raw(&[0xC0, 1, 2, 3, 4, 5, 6, 7]).await;
    assert!(tcp.recv_within(WAIT).await.is_none(), "closed");
    let mut tcp = Client::tcp(server.turn(), rest_credentials(SECRET, "m")).await;
    good.extend_from_slice(&[0x40, 0x00, 0x00, 0x01, 9, 0, 0, 0]);
    tcp.send_raw(&good).await;
    let Packet::Stun(reply) = tcp.recv().await else {
        panic!()
    };
    assert_eq!(mapped_address(&reply), tcp.local_addr());
    // An allocation still works after all that.
    let mut fresh = Client::udp(server.turn(), rest_credentials(SECRET, "n")).await;
    fresh.allocate().await;
}

#[tokio::test]
async fn unknown_comprehension_required_attributes_get_420() {
    let server = start(&[]);
    let mut client = Client::udp(server.turn(), rest_credentials(SECRET, "x")).await;
    let response = client.allocate_with(0x0031, b"?").await;
    assert_eq!(response.error_code(), Some(420));
    assert_eq!(
        response.msg().get(attr::UNKNOWN_ATTRIBUTES),
        Some(&[0x00, 0x31][..])
    );
    // Comprehension-optional ones are ignored.
    let relayed = client.allocate_with(0x8031, b"?").await;
    assert_eq!(relayed.class(), Class::Success);
}

#[tokio::test]
async fn even_port_reservations() {
    let server = start(&[]);
    let mut rtp = Client::udp(server.turn(), rest_credentials(SECRET, "rtp")).await;
    let response = rtp.allocate_with(attr::EVEN_PORT, &[0x80]).await;
    assert_eq!(response.class(), Class::Success);
    let relayed = response.relayed();
    assert_eq!(relayed.port() % 2, 0);
    let token = response
        .msg()
        .get(attr::RESERVATION_TOKEN)
        .unwrap()
        .to_vec();
    assert_eq!(token.len(), 8);

    let mut rtcp = Client::udp(server.turn(), rest_credentials(SECRET, "rtp")).await;
    let response = rtcp.allocate_with(attr::RESERVATION_TOKEN, &token).await;
    assert_eq!(response.class(), Class::Success);
    let next = response.relayed();
    assert_eq!(next.port(), relayed.port() + 1);
    // A token works once.
    let mut third = Client::udp(server.turn(), rest_credentials(SECRET, "rtp")).await;
    let reused = third.allocate_with(attr::RESERVATION_TOKEN, &[1; 8]).await;
    assert_eq!(reused.error_code(), Some(508));
}

#[tokio::test]
async fn allocations_per_user_are_capped() {
    let server = start(&["--turn-user-allocations", "2"]);
    let creds = rest_credentials(SECRET, "greedy");
    let mut clients = Vec::new();
    for _ in 0..2 {
        let mut client = Client::udp(server.turn(), creds.clone()).await;
        client.allocate().await;
        clients.push(client);
    }
    let mut third = Client::udp(server.turn(), creds.clone()).await;
    let response = third.request(method::ALLOCATE, &transport(17)).await;
    assert_eq!(response.error_code(), Some(486));
    // Another user is not affected; freeing one makes room.
    Client::udp(server.turn(), rest_credentials(SECRET, "modest"))
        .await
        .allocate()
        .await;
    assert_eq!(clients[0].refresh(0).await.class(), Class::Success);
    third.allocate().await;
    assert_eq!(
        server.metric("parlor_turn_allocation_refusals_total").await,
        1
    );
}

/// Issue "abuse found", item 2: a user is a peer id, which every `join`
/// mints afresh, so one visitor took every allocation of the server. Fresh
/// users from one address now stop at `--turn-address-allocations` (32).
#[tokio::test]
async fn allocations_per_address_are_capped_whatever_the_user() {
    let server = start(&["--turn-max-allocations", "40"]);
    let mut clients = Vec::new();
    let mut refused = 0;
    for n in 0..40 {
        let creds = rest_credentials(SECRET, &format!("fresh{n}"));
        let mut client = Client::udp(server.turn(), creds).await;
        let response = client.allocate_patiently().await;
        match response.error_code() {
            None => clients.push(client),
            Some(code) => {
                assert_eq!(code, 486, "allocation {n}");
                refused += 1;
            }
        }
    }
    assert_eq!((clients.len(), refused), (32, 8));
    // Freeing one makes room.
    assert_eq!(clients[0].refresh(0).await.class(), Class::Success);
    let mut late = Client::udp(server.turn(), rest_credentials(SECRET, "late")).await;
    assert_eq!(late.allocate_patiently().await.class(), Class::Success);
}

#[tokio::test]
async fn bandwidth_per_user_is_capped() {
    let server = start(&["--turn-user-bandwidth", "100k"]);
    let (mut a, relay_a, mut b, relay_b) = two_allocations(&server).await;
    a.bind(0x4000, relay_b).await;
    b.permit(relay_a).await;
    // 300 KB at once from a user allowed 100 KB/s: a burst of about one
    // second's worth goes through, the rest is dropped.
    for _ in 0..300 {
        a.send_channel_data(0x4000, &[1; 1000]).await;
    }
    // A's relay has handled all 300 once the server counts each as sent
    // on or dropped. Then a datagram sent straight to B's relay (B permits
    // 127.0.0.1) reaches B after every one of them that passed.
    let to_peer = "parlor_turn_relayed_packets_total{direction=\"to_peer\"}";
    let over = "parlor_turn_dropped_packets_total{reason=\"bandwidth\"}";
    support::eventually(WAIT, "all 300 packets handled", || async {
        server.metric(to_peer).await + server.metric(over).await == 300
    })
    .await;
    let sentinel = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sentinel.send_to(b"sentinel", relay_b).await.unwrap();
    let mut passed = 0;
    while b.expect_data().await.1 != b"sentinel" {
        passed += 1;
    }
    assert!((50..=150).contains(&passed), "{passed} packets passed");
    assert!(
        server
            .metric("parlor_turn_dropped_packets_total{reason=\"bandwidth\"}")
            .await
            >= 150
    );
}

/// The whole path: `welcome` carries TURN URLs and credentials made for
/// this member from a secret nobody configured, and they allocate.
#[tokio::test]
async fn welcome_carries_working_turn_credentials() {
    let server = Server::with_args(&[
        "--turn-listen",
        "127.0.0.1:0",
        "--ice-server",
        "stun:stun.invalid:3478",
    ]);
    let welcome = server.welcome_in_new_room().await;
    let id = welcome["id"].as_str().unwrap();
    let ice = welcome["iceServers"].as_array().unwrap();
    let port = server.turn().port();
    assert_eq!(
        ice[0]["urls"],
        serde_json::json!([format!("stun:127.0.0.1:{port}")])
    );
    assert_eq!(
        ice[1]["urls"],
        serde_json::json!([
            format!("turn:127.0.0.1:{port}?transport=udp"),
            format!("turn:127.0.0.1:{port}?transport=tcp")
        ])
    );
    assert_eq!(ice[2]["urls"], "stun:stun.invalid:3478");
    let username = ice[1]["username"].as_str().unwrap().to_string();
    let password = ice[1]["credential"].as_str().unwrap().to_string();
    let (expiry, user) = username.split_once(':').unwrap();
    assert_eq!(user, id);
    let expiry: u64 = expiry.parse().unwrap();
    let lifetime = expiry - unix_now();
    assert!(
        (24 * 3600 - 60..=24 * 3600).contains(&lifetime),
        "{lifetime}"
    );

    let mut udp = Client::udp(server.turn(), (username.clone(), password.clone())).await;
    udp.allocate().await;
    let mut tcp = Client::tcp(server.turn(), (username, password)).await;
    tcp.allocate().await;
}

/// Issue "abuse found", item 2: credentials lived 24 hours past their
/// member. Once a member leaves, its credentials are refused (no new
/// allocation, no refresh, no permission) and its allocations end.
#[tokio::test]
async fn a_member_that_left_has_its_turn_credentials_revoked() {
    let server = start(&[]);
    let (_room, (mut a, wa), (mut b, wb)) = server.two_in_room().await;
    let creds = |raw: &serde_json::Value| {
        let turn = &raw["iceServers"][1];
        (
            turn["username"].as_str().unwrap().to_owned(),
            turn["credential"].as_str().unwrap().to_owned(),
        )
    };
    let mut held = Client::udp(server.turn(), creds(&wb.raw)).await;
    held.allocate().await;
    b.leave().await;
    a.expect_peer_left(&wb.id).await;
    let failures = server.metric("parlor_turn_auth_failures_total").await;
    assert_eq!(held.refresh(600).await.error_code(), Some(401));
    assert_eq!(
        held.create_permission("127.0.0.1:9".parse().unwrap())
            .await
            .error_code(),
        Some(401)
    );
    let mut spare = Client::udp(server.turn(), creds(&wb.raw)).await;
    let response = spare.request(method::ALLOCATE, &transport(17)).await;
    assert_eq!(response.error_code(), Some(401));
    assert!(server.metric("parlor_turn_auth_failures_total").await >= failures + 3);
    // And the sweep ends the allocation it holds.
    support::eventually(WAIT, "the allocation ends", || async {
        server.metric("parlor_turn_allocations").await == 0
    })
    .await;
    // The member that stayed keeps its own.
    Client::udp(server.turn(), creds(&wa.raw))
        .await
        .allocate()
        .await;
}

/// The attack of issue "abuse found", item 2, end to end: join, allocate
/// with the `welcome`'s credentials, leave, again. On main every round
/// kept its allocation (40 of 40 here, all 10,000 of a default server);
/// now each ends as its member leaves.
#[tokio::test]
async fn joining_and_leaving_in_a_loop_keeps_no_allocations() {
    let server = start(&[]);
    let room = server.create_room(None).await;
    let mut held = Vec::new();
    for _ in 0..40 {
        let (mut ws, welcome) = server.joined(&room, None).await;
        let turn = &welcome.raw["iceServers"][1];
        let creds = (
            turn["username"].as_str().unwrap().to_owned(),
            turn["credential"].as_str().unwrap().to_owned(),
        );
        let mut client = Client::udp(server.turn(), creds).await;
        let response = client.allocate_patiently().await;
        if response.error_code().is_none() {
            held.push(client);
        }
        ws.leave().await;
    }
    assert!(!held.is_empty());
    support::eventually(WAIT, "no allocation is left", || async {
        server.metric("parlor_turn_allocations").await == 0
    })
    .await;
}

#[tokio::test]
async fn disabled_or_external_turn_is_not_served() {
    let server = Server::with_args(&["--turn-disable"]);
    assert!(server.turn.is_none());
    let external = Server::with_args(&[
        "--turn-url",
        "turn:turn.example.org:3478?transport=udp",
        "--turn-secret",
        "shared",
    ]);
    assert!(external.turn.is_none());
    assert_eq!(external.metric("parlor_turn_allocations").await, 0);
}

#[test]
fn an_explicit_turn_address_that_is_taken_stops_the_start() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let status = support::command(&["--turn-listen", &addr])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success());
}

#[test]
fn an_ipv6_turn_address_that_offers_no_ipv4_relays_stops_the_start() {
    // One IPv6 address gives IPv6 relays only, and clients ask for IPv4
    // ones unless they say otherwise: refused at start, with the way out.
    let child = support::command(&["--turn-listen", "[::1]:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    let Ok(output) = rx.recv_timeout(Duration::from_secs(10)) else {
        let _ = std::process::Command::new("kill")
            .arg(pid.to_string())
            .status();
        panic!("parlor started with --turn-listen [::1]:0");
    };
    let output = output.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("IPv4 relay") && stderr.contains("[::]"),
        "{stderr}"
    );
}

/// Whether the server closes `stream` (end of stream or reset) within
/// `limit`, answering nothing.
async fn closed_within(stream: &mut (impl AsyncRead + Unpin), limit: Duration) -> bool {
    let mut buf = [0u8; 256];
    matches!(
        timeout(limit, stream.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test]
async fn tcp_connections_from_one_address_are_capped() {
    // 32 at once per address by default (--turn-tcp-per-ip).
    let server = start(&[]);
    let mut held = Vec::new();
    for _ in 0..32 {
        held.push(TcpStream::connect(server.turn()).await.unwrap());
    }
    // The last one admitted is served.
    let last = held.last_mut().unwrap();
    last.write_all(&binding_request()).await.unwrap();
    let mut reply = [0u8; 20];
    timeout(WAIT, last.read_exact(&mut reply))
        .await
        .expect("an answer")
        .unwrap();
    // One more is closed at once, unanswered.
    let mut extra = TcpStream::connect(server.turn()).await.unwrap();
    let _ = extra.write_all(&binding_request()).await;
    assert!(closed_within(&mut extra, WAIT).await, "over the cap");
    // UDP is not affected.
    let mut udp = Client::udp(server.turn(), rest_credentials(SECRET, "u")).await;
    udp.send_raw(&binding_request()).await;
    assert!(matches!(udp.recv().await, Packet::Stun(_)));
}

#[tokio::test]
async fn a_trickled_frame_does_not_keep_a_tcp_connection_open() {
    // One byte a second never completes a frame: the connection is closed
    // 10 s after the frame's first byte, although bytes keep coming (the
    // idle timeout was 30 s from the last byte, so trickling held it open
    // for ever).
    let server = start(&[]);
    let mut stream = TcpStream::connect(server.turn()).await.unwrap();
    let request = binding_request();
    let started = tokio::time::Instant::now();
    let mut pace = tokio::time::interval(Duration::from_secs(1));
    let mut buf = [0u8; 64];
    let mut sent = 0;
    let closed = loop {
        tokio::select! {
            read = stream.read(&mut buf) => break matches!(read, Ok(0) | Err(_)),
            _ = pace.tick() => {
                if started.elapsed() > Duration::from_secs(16) {
                    break false;
                }
                if stream.write_all(&request[sent..sent + 1]).await.is_err() {
                    break true;
                }
                sent += 1;
            }
        }
    };
    assert!(closed, "still open after {:?}", started.elapsed());
    assert!(sent < request.len());
    assert!(started.elapsed() >= Duration::from_secs(9));
}

#[tokio::test]
async fn a_tcp_client_that_does_not_read_holds_little_memory() {
    // A peer floods a TCP client that never reads. The frames queued for
    // it were bounded by count (128 frames of up to 64 KiB: about 8 MB per
    // client); they are bounded by bytes now.
    let server = start(&["--turn-user-bandwidth", "0"]);
    let mut client = Client::tcp(server.turn(), rest_credentials(SECRET, "slow")).await;
    let relayed = client.allocate().await;
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client.permit(peer.local_addr().unwrap()).await;
    let before = server.rss_bytes();
    let datagram = vec![7u8; 60_000];
    let congested = "parlor_turn_dropped_packets_total{reason=\"congested\"}";
    let mut sent = 0;
    while server.metric(congested).await < 200 {
        assert!(sent < 5_000, "the server never found the client congested");
        for _ in 0..20 {
            peer.send_to(&datagram, relayed).await.unwrap();
            sent += 1;
        }
    }
    let grown = server.rss_bytes().saturating_sub(before);
    assert!(grown < 4 << 20, "{grown} bytes more for one client");
}

#[test]
fn caps_past_the_file_limit_are_warned_about() {
    // Every allocation may hold a relay socket and a TCP connection: caps
    // that cannot fit in the hard limit on open files are told at start.
    let hard = std::fs::read_to_string("/proc/self/limits")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(4)?.parse::<u64>().ok())
        .unwrap_or(1 << 20);
    let allocations = (hard / 2 + 1).to_string();
    let mut server = Server::with_logs(&[
        "--turn-listen",
        "127.0.0.1:0",
        "--turn-max-allocations",
        &allocations,
    ]);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.pid())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .to_owned();
    server.terminate();
    let logs = server.logs();
    assert!(logs.contains("open file limit"), "{logs}");
    // And the soft limit is the hard one.
    let numbers: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers[0], numbers[1], "{line}");
}

// ---------------------------------------------------------------------------
// TURN over TLS
// ---------------------------------------------------------------------------

/// Parlor over HTTPS with a self-signed certificate, TURN as in [`start`]
/// and `extra` flags.
fn start_tls(extra: &[&str]) -> Server {
    let mut args = vec!["--tls-self-signed"];
    args.extend_from_slice(extra);
    start(&args)
}

/// `request` over TLS to `server`'s HTTPS port (offering `alpn`); the
/// whole answer.
async fn https(server: &Server, alpn: &[&[u8]], request: &str) -> String {
    let mut tls = connect_pinned(server.addr, server.fingerprint(), alpn)
        .await
        .expect("TLS handshake");
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    // Parlor closes without a close_notify: what arrived before counts.
    let _ = timeout(WAIT, tls.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

const HEALTHZ: &str = "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

#[tokio::test]
async fn turn_over_tls_shares_the_https_port() {
    let server = start_tls(&[]);
    let fingerprint = server.fingerprint();
    // No ALPN, as most TURN clients do: sorted by its first bytes.
    let mut a = Client::tls(server.addr, fingerprint, &[], rest_credentials(SECRET, "a")).await;
    let mut b = Client::udp(server.turn(), rest_credentials(SECRET, "b")).await;
    let relay_a = a.allocate().await;
    let relay_b = b.allocate().await;
    a.bind(0x4000, relay_b).await;
    b.permit(relay_a).await;
    a.send_channel_data(0x4000, b"tls to udp").await;
    assert_eq!(b.expect_data().await, (relay_a, b"tls to udp".to_vec()));
    b.send_indication(relay_a, b"udp to tls!").await;
    match a.recv().await {
        Packet::Channel(0x4000, data) => assert_eq!(data, b"udp to tls!"),
        other => panic!("{other:?}"),
    }

    // ALPN "stun.turn" (RFC 7443) goes to TURN whatever follows.
    let mut c = Client::tls(
        server.addr,
        fingerprint,
        &[b"stun.turn"],
        rest_credentials(SECRET, "c"),
    )
    .await;
    c.send_raw(&binding_request()).await;
    let Packet::Stun(reply) = c.recv().await else {
        panic!("a Binding answer")
    };
    assert_eq!(mapped_address(&reply), c.local_addr());

    // HTTP on the same port, with and without ALPN, meanwhile.
    for alpn in [
        &[][..],
        &[&b"http/1.1"[..]][..],
        &[&b"http/1.1"[..], &b"stun.turn"[..]][..],
    ] {
        let answer = https(&server, alpn, HEALTHZ).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{alpn:?}: {answer}");
    }
    // The allocation over TLS still relays.
    b.send_indication(relay_a, b"still").await;
    assert!(matches!(a.recv().await, Packet::Channel(0x4000, _)));
}

/// The whole path under HTTPS: `welcome`, fetched over WSS, hands out a
/// `turns:` URL for the host and port the page was reached on, with the
/// same credentials as the `turn:` URLs, and they allocate over TLS.
#[tokio::test]
async fn welcome_under_tls_hands_out_a_working_turns_url() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message as WsMessage;

    let server = start_tls(&[]);
    let created = https(
        &server,
        &[],
        "POST /api/rooms HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    let body = &created[created.find("\r\n\r\n").expect("a body") + 4..];
    let room: serde_json::Value = serde_json::from_str(body).unwrap();
    let tls = connect_pinned(server.addr, server.fingerprint(), &[])
        .await
        .unwrap();
    let url = format!("wss://{}/ws", server.addr);
    let (mut ws, _) = tokio_tungstenite::client_async(url, tls)
        .await
        .expect("WSS");
    let join = serde_json::json!({ "type": "join", "room": room["room"] });
    ws.send(WsMessage::text(join.to_string())).await.unwrap();
    let Some(Ok(WsMessage::Text(text))) = timeout(WAIT, ws.next()).await.unwrap() else {
        panic!("no welcome");
    };
    let welcome: serde_json::Value = serde_json::from_str(&text).unwrap();
    let turn = &welcome["iceServers"][1];
    let (port, https_port) = (server.turn().port(), server.addr.port());
    assert_eq!(
        turn["urls"],
        serde_json::json!([
            format!("turn:127.0.0.1:{port}?transport=udp"),
            format!("turn:127.0.0.1:{port}?transport=tcp"),
            format!("turns:127.0.0.1:{https_port}?transport=tcp"),
        ])
    );
    let creds = (
        turn["username"].as_str().unwrap().to_owned(),
        turn["credential"].as_str().unwrap().to_owned(),
    );
    let mut client = Client::tls(server.addr, server.fingerprint(), &[], creds).await;
    client.allocate().await;
}

#[tokio::test]
async fn a_tls_client_that_says_nothing_is_closed_at_the_request_timeout() {
    let server = start_tls(&["--http-request-timeout", "1s"]);
    let mut silent = connect_pinned(server.addr, server.fingerprint(), &[])
        .await
        .expect("TLS handshake");
    let started = tokio::time::Instant::now();
    assert!(closed_within(&mut silent, WAIT).await, "still open");
    assert!(started.elapsed() >= Duration::from_millis(900));
    // Whoever speaks is served meanwhile.
    assert!(
        https(&server, &[], HEALTHZ)
            .await
            .starts_with("HTTP/1.1 200")
    );
}

#[tokio::test]
async fn tls_clients_yet_to_speak_are_capped_like_http_ones() {
    // As many may wait for their first bytes as HTTP connections may be
    // open (--max-http-connections): one more is closed at once.
    let server = start_tls(&["--max-http-connections", "2"]);
    let fingerprint = server.fingerprint();
    let mut silent = Vec::new();
    for _ in 0..2 {
        silent.push(connect_pinned(server.addr, fingerprint, &[]).await.unwrap());
    }
    let mut refused = connect_pinned(server.addr, fingerprint, &[]).await.unwrap();
    assert!(closed_within(&mut refused, WAIT).await, "over the cap");
    // ALPN "stun.turn" needs no sorting, so it is not held back.
    let mut turn = Client::tls(
        server.addr,
        fingerprint,
        &[b"stun.turn"],
        rest_credentials(SECRET, "t"),
    )
    .await;
    turn.send_raw(&binding_request()).await;
    assert!(matches!(turn.recv().await, Packet::Stun(_)));
    // A place given back is taken again.
    silent.pop();
    let (addr, fingerprint) = (server.addr, fingerprint.to_owned());
    support::eventually(WAIT, "a place to wait in", || {
        let fingerprint = fingerprint.clone();
        async move {
            let Ok(mut tls) = connect_pinned(addr, &fingerprint, &[]).await else {
                return false;
            };
            let _ = tls.write_all(HEALTHZ.as_bytes()).await;
            let mut answer = Vec::new();
            let _ = timeout(WAIT, tls.read_to_end(&mut answer)).await;
            answer.starts_with(b"HTTP/1.1 200")
        }
    })
    .await;
}

#[tokio::test]
async fn tls_and_tcp_connections_count_together_under_the_caps() {
    let server = start_tls(&["--turn-tcp-per-ip", "2"]);
    let fingerprint = server.fingerprint();
    let creds = || rest_credentials(SECRET, "u");
    let mut tcp = Client::tcp(server.turn(), creds()).await;
    let mut tls = Client::tls(server.addr, fingerprint, &[], creds()).await;
    for client in [&mut tcp, &mut tls] {
        client.send_raw(&binding_request()).await;
        assert!(matches!(client.recv().await, Packet::Stun(_)));
    }
    // A third stream from the same address is closed, unanswered, over
    // TLS as over TCP.
    let mut extra = connect_pinned(server.addr, fingerprint, &[]).await.unwrap();
    let _ = extra.write_all(&binding_request()).await;
    assert!(closed_within(&mut extra, WAIT).await, "over the cap");
    let mut extra = TcpStream::connect(server.turn()).await.unwrap();
    let _ = extra.write_all(&binding_request()).await;
    assert!(closed_within(&mut extra, WAIT).await, "over the cap");
    // HTTP is not TURN's to cap.
    assert!(
        https(&server, &[], HEALTHZ)
            .await
            .starts_with("HTTP/1.1 200")
    );
    // A place given back is taken again.
    drop(tls);
    let (addr, fingerprint) = (server.addr, fingerprint.to_owned());
    support::eventually(WAIT, "the closed connection's place back", || {
        let fingerprint = fingerprint.clone();
        async move {
            let Ok(mut again) = connect_pinned(addr, &fingerprint, &[]).await else {
                return false;
            };
            let _ = again.write_all(&binding_request()).await;
            let mut reply = [0u8; 20];
            matches!(timeout(WAIT, again.read_exact(&mut reply)).await, Ok(Ok(_)))
        }
    })
    .await;
}

#[tokio::test]
async fn turn_over_tls_on_a_port_of_its_own() {
    let server = start_tls(&["--turns-listen", "127.0.0.1:0"]);
    let turns = server.startup.turns.expect("the TURN over TLS line");
    let fingerprint = server.fingerprint();
    let mut a = Client::tls(turns, fingerprint, &[], rest_credentials(SECRET, "a")).await;
    let mut b = Client::tls(
        turns,
        fingerprint,
        &[b"stun.turn"],
        rest_credentials(SECRET, "b"),
    )
    .await;
    let relay_a = a.allocate().await;
    let relay_b = b.allocate().await;
    a.permit(relay_b).await;
    b.permit(relay_a).await;
    a.send_indication(relay_b, b"over 5349").await;
    assert_eq!(b.expect_data().await, (relay_a, b"over 5349".to_vec()));
    // Only TURN is spoken there: a client that asks for HTTP by ALPN is
    // refused in the handshake.
    assert!(
        connect_pinned(turns, fingerprint, &[b"http/1.1"])
            .await
            .is_err()
    );
}

#[test]
fn turns_listen_without_a_certificate_stops_the_start() {
    let output = support::command(&[
        "--turn-listen",
        "127.0.0.1:0",
        "--turns-listen",
        "127.0.0.1:0",
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .output()
    .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--turns-listen needs a certificate"),
        "{stderr}"
    );
}
