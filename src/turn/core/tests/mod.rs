//! Unit tests of the core without sockets: crafted STUN messages, a clock
//! that moves only when told, and a fake shell whose relay "sockets" are
//! port numbers. The shell's part (binding a port, sending) is played by
//! [`Shell`], so every rule is driven exactly as the tokio shells drive it.
//!
//! The tests are split by subject: [`allocate`] (challenge, the two steps,
//! caps, reservations), [`relay`] (refresh, permissions, channels,
//! bandwidth, expiry) and [`fuzz`] (random input never panics).

mod abuse;
mod allocate;
mod fuzz;
mod relay;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Advertised, ClientKey, Core, Handles, Now, OpenRelay, Opened, Outcome, RelaySource};
use crate::turn::auth::Auth;
use crate::turn::credentials::{self, Secret};
use crate::turn::filter::PeerFilter;
use crate::turn::metrics::{Direction, TurnMetrics};
use crate::turn::stun::{Builder, Class, Message, TransactionId, attr, method};
use crate::turn::{PortRange, Settings};

/// Handles that are plain numbers: a relay is its port, and so is a
/// reserved socket.
struct Fake;

impl Handles for Fake {
    type Relay = u16;
    type Reserved = u16;
}

const SECRET: &str = "test secret";
const REALM: &str = "parlor";
/// The fake clock's Unix time at its start.
const UNIX0: u64 = 1_800_000_000;
/// The address relays are advertised on.
const RELAY_IP: [u8; 4] = [192, 0, 2, 1];
/// Peers the filter lets through.
const PEERS: &str = "198.51.100.0/24";

pub(crate) fn settings() -> Settings {
    Settings {
        listen: "192.0.2.1:3478".parse().unwrap(),
        external_ip: None,
        relay_ports: PortRange {
            low: 49152,
            high: 65535,
        },
        realm: REALM.into(),
        secret: Secret::new(SECRET),
        filter: PeerFilter::new(vec![PEERS.parse().unwrap()]),
        max_allocations: 50,
        user_allocations: 50,
        address_allocations: 50,
        user_bandwidth: 0,
        address_bandwidth: 0,
        max_lifetime: Duration::from_secs(3600),
        tcp_per_ip: 16,
    }
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

/// The core and what a shell would do with its answers, on a fake clock.
struct Shell {
    core: Core<Fake>,
    metrics: Arc<TurnMetrics>,
    t0: Instant,
    elapsed: Duration,
    /// Ports the fake shell cannot bind, as if taken by another program.
    busy: Vec<u16>,
    next_token: u64,
    out: Vec<u8>,
    /// Datagrams relayed to peers: relay port, peer, data.
    sent: Vec<(u16, SocketAddr, Vec<u8>)>,
    /// Relays and reserved sockets the core let go of.
    closed: Vec<u16>,
}

impl Shell {
    fn new(settings: Settings) -> Shell {
        Shell::with_families(settings, Some(RELAY_IP.into()), None)
    }

    fn with_families(
        settings: Settings,
        v4: Option<std::net::IpAddr>,
        v6: Option<std::net::IpAddr>,
    ) -> Shell {
        let metrics = Arc::new(TurnMetrics::default());
        let auth = Auth::new(settings.realm.clone(), settings.secret.clone());
        let advertised = Advertised { v4, v6 };
        Shell {
            core: Core::new(settings, advertised, auth, metrics.clone(), 7),
            metrics,
            t0: Instant::now(),
            elapsed: Duration::ZERO,
            busy: Vec::new(),
            next_token: 0x1000,
            out: Vec::new(),
            sent: Vec::new(),
            closed: Vec::new(),
        }
    }

    fn now(&self) -> Now {
        Now {
            mono: self.t0 + self.elapsed,
            unix: UNIX0 + self.elapsed.as_secs(),
        }
    }

    fn advance(&mut self, by: Duration) {
        self.elapsed += by;
    }

    fn sweep(&mut self) -> Vec<u16> {
        let released = self.core.sweep(self.now().mono);
        released
            .relays
            .into_iter()
            .chain(released.reserved)
            .collect()
    }

    /// One packet from `key`; the reply, if any.
    fn send(&mut self, key: ClientKey, packet: &[u8]) -> Option<Vec<u8>> {
        let now = self.now();
        let outcome = self.core.handle_packet(key, packet, now, &mut self.out);
        self.perform(key, outcome)
    }

    /// Does what the core says, as the tokio shell does: sends always
    /// succeed, binds succeed on ports that are not busy.
    fn perform(&mut self, key: ClientKey, outcome: Outcome<'_, Fake>) -> Option<Vec<u8>> {
        match outcome {
            Outcome::Silent => None,
            Outcome::Reply => Some(self.out.clone()),
            Outcome::ReplyAndClose(relay) => {
                self.closed.push(relay);
                Some(self.out.clone())
            }
            Outcome::ToPeer { relay, peer, data } => {
                self.metrics.relayed(Direction::ToPeer, data.len());
                self.sent.push((relay, peer, data.to_vec()));
                None
            }
            Outcome::Open(open) => {
                let id = open.id;
                let opened = self.open(open);
                self.finish(key, id, opened)
            }
            Outcome::Discard(released) => {
                self.closed.extend(released.relays);
                self.closed.extend(released.reserved);
                None
            }
        }
    }

    /// The shell's half of an Allocate.
    fn open(&mut self, open: OpenRelay<Fake>) -> Opened<Fake> {
        match open.source {
            RelaySource::Reserved { socket, port } => {
                assert_eq!(socket, port);
                Opened::Relay {
                    relay: port,
                    port,
                    reserved: None,
                }
            }
            RelaySource::Bind { plan, .. } => {
                let free = |p: u16| !self.busy.contains(&p);
                let Some(port) = plan
                    .ports()
                    .find(|&p| free(p) && (!plan.reserves_next() || free(p + 1)))
                else {
                    return Opened::NoPort;
                };
                let reserved = plan.reserves_next().then(|| {
                    self.next_token += 1;
                    (port + 1, self.next_token)
                });
                Opened::Relay {
                    relay: port,
                    port,
                    reserved,
                }
            }
        }
    }

    /// Reports the shell's half of an Allocate to the core; the reply.
    fn finish(&mut self, key: ClientKey, id: u64, opened: Opened<Fake>) -> Option<Vec<u8>> {
        let now = self.now().mono;
        let outcome = self.core.relay_opened(key, id, opened, now, &mut self.out);
        self.perform(key, outcome)
    }

    /// A client with credentials for `user` and a nonce.
    fn client(&mut self, from: &str, user: &str) -> Client {
        let mut client = Client::new(ClientKey::Udp(addr(from)), user);
        let mut hello = Vec::new();
        Builder::new(&mut hello, method::ALLOCATE, Class::Request, [0; 12]);
        let reply = self.send(client.key, &hello).unwrap();
        assert_eq!(error_code(&reply), Some(401));
        client.nonce = nonce(&reply).unwrap();
        client
    }

    /// A signed request; on 401 or 438 with a new nonce (it went stale on
    /// the fake clock), once more with that one.
    fn ask(&mut self, c: &mut Client, method: u16, add: impl Fn(&mut Builder)) -> Vec<u8> {
        let tid = c.tid();
        self.ask_as(c, method, tid, add)
    }

    fn ask_as(
        &mut self,
        c: &mut Client,
        method: u16,
        tid: TransactionId,
        add: impl Fn(&mut Builder),
    ) -> Vec<u8> {
        let reply = self
            .send(c.key, &c.request(method, tid, &add))
            .expect("a reply");
        match (error_code(&reply), nonce(&reply)) {
            (Some(401 | 438), Some(nonce)) if nonce != c.nonce => {
                c.nonce = nonce;
                self.send(c.key, &c.request(method, tid, &add))
                    .expect("a reply")
            }
            _ => reply,
        }
    }

    /// An Allocate for UDP, with more attributes from `add`; the reply.
    fn allocate(&mut self, c: &mut Client, add: impl Fn(&mut Builder)) -> Vec<u8> {
        self.ask(c, method::ALLOCATE, |b| {
            b.attr(attr::REQUESTED_TRANSPORT, &[17, 0, 0, 0]);
            add(b);
        })
    }

    /// The first step of an Allocate only: what the core asks to open.
    fn allocate_pending(&mut self, c: &mut Client, tid: TransactionId) -> OpenRelay<Fake> {
        let packet = c.request(method::ALLOCATE, tid, &|b| {
            b.attr(attr::REQUESTED_TRANSPORT, &[17, 0, 0, 0]);
        });
        let now = self.now();
        match self.core.handle_packet(c.key, &packet, now, &mut self.out) {
            Outcome::Open(open) => open,
            _ => panic!("no relay to open; error {:?}", error_code(&self.out)),
        }
    }

    fn create_permission(&mut self, c: &mut Client, peers: &[SocketAddr]) -> Vec<u8> {
        self.ask(c, method::CREATE_PERMISSION, |b| {
            for peer in peers {
                b.xor_address(attr::XOR_PEER_ADDRESS, *peer);
            }
        })
    }

    fn channel_bind(&mut self, c: &mut Client, channel: u16, peer: SocketAddr) -> Vec<u8> {
        self.ask(c, method::CHANNEL_BIND, |b| {
            b.attr(
                attr::CHANNEL_NUMBER,
                &[(channel >> 8) as u8, channel as u8, 0, 0],
            )
            .xor_address(attr::XOR_PEER_ADDRESS, peer);
        })
    }

    fn refresh(&mut self, c: &mut Client, lifetime: u32) -> Vec<u8> {
        self.ask(c, method::REFRESH, |b| {
            b.u32(attr::LIFETIME, lifetime);
        })
    }

    /// A Send indication from `c` to `peer`; whether it was relayed.
    fn send_indication(&mut self, c: &Client, peer: SocketAddr, data: &[u8]) -> bool {
        let mut packet = Vec::new();
        Builder::new(&mut packet, method::SEND, Class::Indication, [3; 12])
            .xor_address(attr::XOR_PEER_ADDRESS, peer)
            .attr(attr::DATA, data);
        self.relayed_by(c.key, &packet)
    }

    /// ChannelData from `c`; whether it was relayed.
    fn send_channel_data(&mut self, c: &Client, channel: u16, data: &[u8]) -> bool {
        let mut packet =
            crate::turn::stun::channel_data::header(channel, data.len() as u16).to_vec();
        packet.extend_from_slice(data);
        self.relayed_by(c.key, &packet)
    }

    fn relayed_by(&mut self, key: ClientKey, packet: &[u8]) -> bool {
        let before = self.sent.len();
        assert!(self.send(key, packet).is_none(), "data gets no reply");
        self.sent.len() > before
    }

    /// The value of a line of the metrics exposition, e.g.
    /// `parlor_turn_allocations`.
    fn metric(&self, name: &str) -> u64 {
        let mut text = String::new();
        self.metrics.render(&mut text);
        let line = text
            .lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .unwrap_or_else(|| panic!("no metric {name}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    }
}

/// A TURN client's credentials and nonce.
struct Client {
    key: ClientKey,
    username: String,
    mac_key: [u8; 16],
    nonce: String,
    last_tid: u8,
}

impl Client {
    fn new(key: ClientKey, user: &str) -> Client {
        let creds = credentials::issue(&Secret::new(SECRET), user, UNIX0 + 1_000_000);
        Client {
            key,
            mac_key: credentials::long_term_key(&creds.username, REALM, &creds.password),
            username: creds.username,
            nonce: String::new(),
            last_tid: 0,
        }
    }

    fn tid(&mut self) -> TransactionId {
        self.last_tid = self.last_tid.wrapping_add(1);
        let mut tid = [self.last_tid; 12];
        tid[0] = 0xC1;
        tid
    }

    fn request(&self, method: u16, tid: TransactionId, add: &dyn Fn(&mut Builder)) -> Vec<u8> {
        let mut packet = Vec::new();
        let mut b = Builder::new(&mut packet, method, Class::Request, tid);
        add(&mut b);
        b.attr(attr::USERNAME, self.username.as_bytes())
            .attr(attr::REALM, REALM.as_bytes())
            .attr(attr::NONCE, self.nonce.as_bytes())
            .integrity(&self.mac_key)
            .fingerprint();
        packet
    }
}

fn class(reply: &[u8]) -> Class {
    Message::parse(reply).unwrap().class
}

fn error_code(reply: &[u8]) -> Option<u16> {
    match Message::parse(reply).ok()?.get(attr::ERROR_CODE)? {
        [_, _, class, number, ..] => Some(u16::from(*class & 7) * 100 + u16::from(*number)),
        _ => None,
    }
}

fn nonce(reply: &[u8]) -> Option<String> {
    Message::parse(reply)
        .ok()?
        .get_str(attr::NONCE)
        .map(str::to_owned)
}

fn relayed(reply: &[u8]) -> SocketAddr {
    let msg = Message::parse(reply).unwrap();
    msg.get_xor_address(attr::XOR_RELAYED_ADDRESS)
        .unwrap()
        .unwrap()
}

fn lifetime(reply: &[u8]) -> u32 {
    Message::parse(reply)
        .unwrap()
        .get_u32(attr::LIFETIME)
        .unwrap()
}

fn token(reply: &[u8]) -> Option<u64> {
    let msg = Message::parse(reply).unwrap();
    let bytes = msg.get(attr::RESERVATION_TOKEN)?;
    Some(u64::from_be_bytes(bytes.try_into().unwrap()))
}

/// Whether a reply is signed with the client's key.
fn signed_for(reply: &[u8], c: &Client) -> bool {
    Message::parse(reply).unwrap().verify_integrity(&c.mac_key)
}
