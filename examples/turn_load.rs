//! Load for a STUN/TURN server, the same for any server: Parlor's or
//! coturn's (scripts/bench-turn.sh runs both).
//!
//! - `binding`: UDP sockets keep a window of Binding requests in flight;
//!   each response sends the next request. Counts responses per second.
//! - `relay`: pairs of TURN clients (REST API credentials from `--secret`)
//!   allocate, bind a channel to each other's relayed address, then play
//!   ping-pong with ChannelData: each packet a client receives from its
//!   partner is answered with another, with a window of packets in flight
//!   per pair. Every packet crosses the server twice (into one allocation,
//!   out of the other). Counts packets delivered per second.
//!
//! Closed loop: the load adapts to what the server sustains, so the rate
//! measured is the server's (or this tool's, if the tool's core is the one
//! at 100%: the output says how busy this process was). With `--pid`, the
//! server's CPU time over the measured interval is read from /proc.
//!
//! ```text
//! cargo run --release --example turn_load -- binding --server 127.0.0.1:3478
//! cargo run --release --example turn_load -- relay --server 127.0.0.1:3478 --secret s3cret
//! ```

use std::io::{self, ErrorKind};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};
use parlor::turn::credentials::{self, Secret};
use parlor::turn::stun::{Builder, Class, Message, attr, channel_data, method};

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    mode: Mode,
    /// The server's STUN/TURN address.
    #[arg(long, global = true, default_value = "127.0.0.1:3478")]
    server: SocketAddr,
    /// Seconds of warm-up before measuring.
    #[arg(long, global = true, default_value_t = 2.0)]
    warmup: f64,
    /// Seconds measured.
    #[arg(long, global = true, default_value_t = 10.0)]
    seconds: f64,
    /// The server's process id, to report its CPU time over the interval.
    #[arg(long, global = true)]
    pid: Option<u32>,
    /// Label for the result line.
    #[arg(long, global = true, default_value = "server")]
    label: String,
}

#[derive(Subcommand)]
enum Mode {
    /// STUN Binding requests.
    Binding {
        #[arg(long, default_value_t = 16)]
        sockets: usize,
        #[arg(long, default_value_t = 16)]
        window: usize,
    },
    /// ChannelData ping-pong between pairs of allocations.
    Relay {
        /// TURN REST API shared secret.
        #[arg(long)]
        secret: String,
        #[arg(long, default_value_t = 16)]
        pairs: usize,
        #[arg(long, default_value_t = 8)]
        window: usize,
        /// Application bytes per packet.
        #[arg(long, default_value_t = 100)]
        size: usize,
    },
}

fn main() -> io::Result<()> {
    let args = Args::parse();
    match args.mode {
        Mode::Binding { sockets, window } => binding(&args, sockets, window),
        Mode::Relay {
            ref secret,
            pairs,
            window,
            size,
        } => relay(&args, secret, pairs, window, size),
    }
}

fn transaction_id(n: u64) -> [u8; 12] {
    let mut tid = [0u8; 12];
    tid[..8].copy_from_slice(&n.to_be_bytes());
    tid[8..].copy_from_slice(&0x6c6f_6164u32.to_be_bytes());
    tid
}

/// CPU seconds (user + system) used by `pid` so far.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which ends with the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn own_cpu_seconds() -> f64 {
    cpu_seconds(std::process::id()).unwrap_or(0.0)
}

/// Measures what `step` counts between the end of the warm-up and the end
/// of the run; `step` does one round of work and returns events counted.
fn measure(args: &Args, what: &str, mut step: impl FnMut() -> u64) {
    let start = Instant::now();
    let warm = start + Duration::from_secs_f64(args.warmup);
    let end = warm + Duration::from_secs_f64(args.seconds);
    while Instant::now() < warm {
        step();
    }
    let server_before = args.pid.and_then(cpu_seconds);
    let own_before = own_cpu_seconds();
    let measured_from = Instant::now();
    let mut count = 0u64;
    while Instant::now() < end {
        count += step();
    }
    let elapsed = measured_from.elapsed().as_secs_f64();
    let rate = count as f64 / elapsed;
    let own = (own_cpu_seconds() - own_before) / elapsed * 100.0;
    match (server_before, args.pid.and_then(cpu_seconds)) {
        (Some(before), Some(after)) => {
            let cpu = after - before;
            println!(
                "{}: {:.0} {what}/s ({count} in {elapsed:.1} s); server CPU {:.1}% of a core, \
                 {:.2} µs per {}; load tool CPU {own:.0}%",
                args.label,
                rate,
                cpu / elapsed * 100.0,
                cpu / count.max(1) as f64 * 1e6,
                what.trim_end_matches('s'),
            );
        }
        _ => println!(
            "{}: {rate:.0} {what}/s ({count} in {elapsed:.1} s); load tool CPU {own:.0}%",
            args.label
        ),
    }
}

fn binding(args: &Args, sockets: usize, window: usize) -> io::Result<()> {
    let sockets: Vec<UdpSocket> = (0..sockets)
        .map(|_| {
            let socket = UdpSocket::bind("127.0.0.1:0")?;
            socket.connect(args.server)?;
            socket.set_nonblocking(true)?;
            Ok(socket)
        })
        .collect::<io::Result<_>>()?;
    let mut next = 0u64;
    let mut request = Vec::with_capacity(64);
    let mut send = |socket: &UdpSocket, next: &mut u64| {
        *next += 1;
        Builder::new(
            &mut request,
            method::BINDING,
            Class::Request,
            transaction_id(*next),
        )
        .fingerprint();
        let _ = socket.send(&request);
    };
    let mut last_seen: Vec<Instant> = vec![Instant::now(); sockets.len()];
    for socket in &sockets {
        for _ in 0..window {
            send(socket, &mut next);
        }
    }
    let mut buf = [0u8; 1500];
    measure(args, "requests", || {
        let mut answered = 0;
        for (i, socket) in sockets.iter().enumerate() {
            loop {
                match socket.recv(&mut buf) {
                    Ok(n) => {
                        if Message::parse(&buf[..n]).is_ok_and(|m| m.class == Class::Success) {
                            answered += 1;
                            last_seen[i] = Instant::now();
                            send(socket, &mut next);
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => break,
                }
            }
            // Requests lost: refill the window.
            if last_seen[i].elapsed() > Duration::from_millis(200) {
                last_seen[i] = Instant::now();
                for _ in 0..window {
                    send(socket, &mut next);
                }
            }
        }
        answered
    });
    Ok(())
}

/// One TURN client on its own UDP socket.
struct TurnClient {
    socket: UdpSocket,
    username: String,
    password: String,
    key: [u8; 16],
    realm: String,
    nonce: String,
    next: u64,
}

impl TurnClient {
    fn new(server: SocketAddr, secret: &str, user: &str) -> io::Result<TurnClient> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        socket.connect(server)?;
        socket.set_read_timeout(Some(Duration::from_secs(2)))?;
        let expiry = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 3600;
        let creds = credentials::issue(&Secret::new(secret), user, expiry);
        Ok(TurnClient {
            socket,
            username: creds.username,
            password: creds.password,
            key: [0; 16],
            realm: String::new(),
            nonce: String::new(),
            next: u64::from(std::process::id()) << 32,
        })
    }

    /// Sends a request with `add`'s attributes (and credentials once known)
    /// and returns the response, answering one 401/438 challenge.
    fn request(&mut self, method: u16, add: &dyn Fn(&mut Builder)) -> io::Result<Vec<u8>> {
        for _ in 0..3 {
            self.next += 1;
            let tid = transaction_id(self.next);
            let mut buf = Vec::new();
            {
                let mut b = Builder::new(&mut buf, method, Class::Request, tid);
                add(&mut b);
                if !self.nonce.is_empty() {
                    b.attr(attr::USERNAME, self.username.as_bytes())
                        .attr(attr::REALM, self.realm.as_bytes())
                        .attr(attr::NONCE, self.nonce.as_bytes());
                    b.integrity(&self.key);
                }
                b.fingerprint();
            }
            self.socket.send(&buf)?;
            let mut reply = vec![0u8; 1500];
            let response = loop {
                let n = self.socket.recv(&mut reply)?;
                if Message::parse(&reply[..n]).is_ok_and(|m| m.transaction_id == tid) {
                    reply.truncate(n);
                    break reply;
                }
            };
            let msg = Message::parse(&response).unwrap();
            if msg.class == Class::Error {
                let code = msg
                    .get(attr::ERROR_CODE)
                    .map(|v| u16::from(v[2] & 7) * 100 + u16::from(v[3]));
                if matches!(code, Some(401 | 438))
                    && let (Some(realm), Some(nonce)) =
                        (msg.get_str(attr::REALM), msg.get_str(attr::NONCE))
                {
                    self.realm = realm.to_string();
                    self.nonce = nonce.to_string();
                    self.key =
                        credentials::long_term_key(&self.username, &self.realm, &self.password);
                    continue;
                }
                return Err(io::Error::other(format!("{method:#x} refused: {code:?}")));
            }
            return Ok(response);
        }
        Err(io::Error::other("no success after challenges"))
    }

    fn allocate(&mut self) -> io::Result<SocketAddr> {
        let response = self.request(method::ALLOCATE, &|b| {
            b.attr(attr::REQUESTED_TRANSPORT, &[17, 0, 0, 0]);
        })?;
        let msg = Message::parse(&response).unwrap();
        msg.get_xor_address(attr::XOR_RELAYED_ADDRESS)
            .and_then(Result::ok)
            .ok_or_else(|| io::Error::other("no XOR-RELAYED-ADDRESS"))
    }

    fn channel_bind(&mut self, channel: u16, peer: SocketAddr) -> io::Result<()> {
        self.request(method::CHANNEL_BIND, &move |b| {
            b.attr(
                attr::CHANNEL_NUMBER,
                &[(channel >> 8) as u8, channel as u8, 0, 0],
            )
            .xor_address(attr::XOR_PEER_ADDRESS, peer);
        })
        .map(drop)
    }
}

fn relay(args: &Args, secret: &str, pairs: usize, window: usize, size: usize) -> io::Result<()> {
    const CHANNEL: u16 = 0x4000;
    let mut clients = Vec::with_capacity(2 * pairs);
    for i in 0..2 * pairs {
        let mut client = TurnClient::new(args.server, secret, &format!("load{i}"))?;
        let relayed = client.allocate()?;
        clients.push((client, relayed));
    }
    for pair in 0..pairs {
        let (a, b) = (2 * pair, 2 * pair + 1);
        let relay_b = clients[b].1;
        let relay_a = clients[a].1;
        clients[a].0.channel_bind(CHANNEL, relay_b)?;
        clients[b].0.channel_bind(CHANNEL, relay_a)?;
    }
    let sockets: Vec<UdpSocket> = clients
        .into_iter()
        .map(|(c, _)| {
            c.socket.set_nonblocking(true)?;
            Ok(c.socket)
        })
        .collect::<io::Result<_>>()?;
    let mut packet = channel_data::header(CHANNEL, size as u16).to_vec();
    packet.resize(4 + size, 0xAB);
    let mut last_seen: Vec<Instant> = vec![Instant::now(); sockets.len()];
    // The first of each pair starts the ball rolling.
    for socket in sockets.iter().step_by(2) {
        for _ in 0..window {
            let _ = socket.send(&packet);
        }
    }
    let mut buf = vec![0u8; 2048];
    measure(args, "packets", || {
        let mut delivered = 0;
        for (i, socket) in sockets.iter().enumerate() {
            loop {
                match socket.recv(&mut buf) {
                    Ok(n) => {
                        if channel_data::parse(&buf[..n]).is_some() {
                            delivered += 1;
                            last_seen[i] = Instant::now();
                            let _ = socket.send(&packet);
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => break,
                }
            }
            if i % 2 == 0
                && last_seen[i].elapsed() > Duration::from_millis(200)
                && last_seen[i + 1].elapsed() > Duration::from_millis(200)
            {
                last_seen[i] = Instant::now();
                for _ in 0..window {
                    let _ = socket.send(&packet);
                }
            }
        }
        delivered
    });
    Ok(())
}
