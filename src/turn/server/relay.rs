//! Relay sockets: opening one when the core asks (binding outside the lock,
//! the second step of an Allocate being the core's), and the small task per
//! allocation that reads datagrams from peers, asks the core how they go
//! to the client, frames them in place and sends them on.

use std::cell::RefCell;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::task::AbortHandle;

use super::super::core::{
    ClientKey, Framing, HEADROOM, Handles, MAX_DATAGRAM, OpenRelay, Opened, PortPlan, RelaySource,
    Rng, channel_data_frame, data_indication_frame,
};
use super::super::metrics::{Direction, Discard};
use super::sockets::udp_socket;
use super::{Origin, Shared};

/// Datagrams read from one relay socket before other tasks get a turn.
const RELAY_BATCH: usize = 64;

/// The handles the core keeps for the server: a live relay, and a bare
/// socket held back by a reservation.
pub(super) struct Sockets;

impl Handles for Sockets {
    type Relay = Arc<Relay>;
    type Reserved = std::net::UdpSocket;
}

/// The relay socket of an allocation and its task, which stops when the
/// last handle goes.
pub(super) struct Relay {
    pub(super) socket: Arc<UdpSocket>,
    _task: AbortOnDrop,
}

/// Stops a relay task when its allocation goes, however it goes.
struct AbortOnDrop(AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Where data for a client goes.
#[derive(Clone)]
enum ClientSink {
    Udp(SocketAddr),
    Tcp(super::tcp::TcpSink),
}

/// What a relay task knows of its allocation: whose it is, which one (a
/// client may delete its allocation and make another), and where data for
/// the client goes.
struct RelayRoute {
    key: ClientKey,
    id: u64,
    sink: ClientSink,
}

/// Opens the relay socket the core asked for and starts its task; called
/// without the lock.
pub(super) fn open(
    shared: &Arc<Shared>,
    key: ClientKey,
    origin: Origin<'_>,
    open: OpenRelay<Sockets>,
) -> Opened<Sockets> {
    let (socket, port, reserved) = match open.source {
        RelaySource::Reserved { socket, port } => (socket, port, None),
        RelaySource::Bind { v4, plan } => {
            let relay_ip = if v4 { shared.relay_v4 } else { shared.relay_v6 };
            let bound = relay_ip.and_then(|ip| bind(ip.bind, plan));
            let Some((socket, port, reserved)) = bound else {
                return Opened::NoPort;
            };
            (socket, port, reserved)
        }
    };
    let Ok(socket) = UdpSocket::from_std(socket) else {
        return Opened::Unusable;
    };
    let socket = Arc::new(socket);
    let sink = match origin {
        Origin::Udp => ClientSink::Udp(key.addr()),
        Origin::Tcp(sink) => ClientSink::Tcp(sink.clone()),
    };
    let route = RelayRoute {
        key,
        id: open.id,
        sink,
    };
    let seed = u64::from_ne_bytes(crate::random::bytes());
    let task = tokio::spawn(relay_loop(shared.clone(), socket.clone(), route, seed));
    let relay = Arc::new(Relay {
        socket,
        _task: AbortOnDrop(task.abort_handle()),
    });
    // The token is what lets a client claim the reserved port: from the
    // operating system, not from a guessable generator.
    let reserved = reserved.map(|s| (s, u64::from_ne_bytes(crate::random::bytes())));
    Opened::Relay {
        relay,
        port,
        reserved,
    }
}

/// Binds a relay socket on the first free port of `plan`, and with a
/// reserving plan the next port too.
fn bind(
    ip: IpAddr,
    plan: PortPlan,
) -> Option<(std::net::UdpSocket, u16, Option<std::net::UdpSocket>)> {
    for port in plan.ports() {
        let Ok(socket) = udp_socket(SocketAddr::new(ip, port), false) else {
            continue;
        };
        if !plan.reserves_next() {
            return Some((socket, port, None));
        }
        if let Ok(next) = udp_socket(SocketAddr::new(ip, port + 1), false) {
            return Some((socket, port, Some(next)));
        }
    }
    None
}

/// Sends a datagram now or not at all. Straight to the socket, past
/// tokio's readiness cache, which starts out "not writable" for a new socket
/// until the reactor next runs, and which nothing here ever waits on.
pub(super) fn send_now(socket: &UdpSocket, data: &[u8], to: SocketAddr) -> io::Result<usize> {
    socket2::SockRef::from(socket).send_to(data, &to.into())
}

thread_local! {
    /// One receive buffer per worker thread for all relay sockets, so an
    /// allocation costs no buffer of its own.
    static RELAY_BUFFER: RefCell<Vec<u8>> = RefCell::new(vec![0u8; HEADROOM + MAX_DATAGRAM + 4]);
}

async fn relay_loop(shared: Arc<Shared>, socket: Arc<UdpSocket>, route: RelayRoute, seed: u64) {
    let mut rng = Rng::new(seed);
    loop {
        if socket.readable().await.is_err() {
            return;
        }
        let mut drained = false;
        for _ in 0..RELAY_BATCH {
            let received = RELAY_BUFFER.with_borrow_mut(|buf| {
                match socket.try_recv_from(&mut buf[HEADROOM..HEADROOM + MAX_DATAGRAM]) {
                    Ok((len, peer)) => {
                        to_client(&shared, &route, buf, len, peer, &mut rng);
                        true
                    }
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => false,
                    // ICMP errors reported on the socket: ignore.
                    Err(_) => true,
                }
            });
            if !received {
                drained = true;
                break;
            }
        }
        if !drained {
            tokio::task::yield_now().await;
        }
    }
}

/// Relays a datagram from `peer`, which sits in `buf` at [`HEADROOM`], to
/// the client of the allocation.
fn to_client(
    shared: &Shared,
    route: &RelayRoute,
    buf: &mut [u8],
    len: usize,
    peer: SocketAddr,
    rng: &mut Rng,
) {
    let now = Instant::now();
    let framing = shared
        .lock()
        .peer_datagram(route.key, route.id, peer, len, now);
    let frame = match framing {
        None => return,
        Some(Framing::Channel(channel)) => {
            channel_data_frame(buf, len, channel, route.key.is_stream())
        }
        Some(Framing::Indication) => {
            match data_indication_frame(buf, len, peer, rng.transaction_id()) {
                Some(range) => range,
                None => {
                    shared.metrics.dropped(Discard::Malformed);
                    return;
                }
            }
        }
    };
    let sent = match &route.sink {
        ClientSink::Udp(client) => send_now(&shared.udp, &buf[frame], *client).is_ok(),
        ClientSink::Tcp(sink) => sink.try_send(&buf[frame]),
    };
    if sent {
        shared.metrics.relayed(Direction::ToClient, len);
    } else {
        shared.metrics.dropped(Discard::Congested);
    }
}
