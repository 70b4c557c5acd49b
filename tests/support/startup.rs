//! What `parlor` prints on stdout when it starts, the one place that reads
//! it: tests learn the ports of `--listen 127.0.0.1:0` and
//! `--turn-listen 127.0.0.1:0`, whether the STUN/TURN server runs at all
//! (without `--turn-listen` it may not get its default port), and under TLS
//! the certificate's names and fingerprint.
//!
//! The lines, in this order (src/main.rs):
//!
//! ```text
//! Parlor is running at http://127.0.0.1:40000/        (https:// under TLS)
//! Parlor STUN/TURN is listening on 127.0.0.1:3478 (UDP and TCP)  (when it runs)
//! Parlor TURN over TLS is listening on 127.0.0.1:5349 (with --turns-listen)
//! Self-signed certificate for localhost, 127.0.0.1    (a self-signed certificate)
//! Certificate SHA-256 fingerprint AB:CD:…             (under TLS)
//! ```

use std::io::{BufRead, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// One line parlor prints on stdout as it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartupLine {
    /// `Parlor is running at http://ADDR/` (or `https://`).
    Running { https: bool, addr: SocketAddr },
    /// `Parlor STUN/TURN is listening on ADDR (UDP and TCP)`.
    Turn(SocketAddr),
    /// `Parlor TURN over TLS is listening on ADDR`.
    Turns(SocketAddr),
    /// `Self-signed certificate for NAME, NAME, …`.
    CertificateNames(Vec<String>),
    /// `Certificate SHA-256 fingerprint AB:CD:…`.
    Fingerprint(String),
}

impl StartupLine {
    /// The line's meaning, or `None` for a line that is none of them.
    pub fn parse(line: &str) -> Option<StartupLine> {
        let line = line.trim_end();
        if let Some(rest) = line.strip_prefix("Parlor is running at ") {
            let (https, rest) = match rest.strip_prefix("https://") {
                Some(rest) => (true, rest),
                None => (false, rest.strip_prefix("http://")?),
            };
            let addr = rest.strip_suffix('/')?.parse().ok()?;
            return Some(StartupLine::Running { https, addr });
        }
        if let Some(rest) = line.strip_prefix("Parlor STUN/TURN is listening on ") {
            let addr = rest.strip_suffix(" (UDP and TCP)")?.parse().ok()?;
            return Some(StartupLine::Turn(addr));
        }
        if let Some(rest) = line.strip_prefix("Parlor TURN over TLS is listening on ") {
            return Some(StartupLine::Turns(rest.parse().ok()?));
        }
        if let Some(names) = line.strip_prefix("Self-signed certificate for ") {
            let names = names.split(", ").map(str::to_owned).collect();
            return Some(StartupLine::CertificateNames(names));
        }
        let fingerprint = line.strip_prefix("Certificate SHA-256 fingerprint ")?;
        Some(StartupLine::Fingerprint(fingerprint.to_owned()))
    }
}

/// Everything parlor said as it started.
#[derive(Debug, Clone)]
pub struct Startup {
    /// The HTTP (or HTTPS) address.
    pub addr: SocketAddr,
    /// True when it serves HTTPS.
    pub https: bool,
    /// The STUN/TURN address, when that server runs.
    pub turn: Option<SocketAddr>,
    /// The port of its own of TURN over TLS (`--turns-listen`).
    pub turns: Option<SocketAddr>,
    /// The names of a self-signed certificate (empty otherwise).
    pub certificate_names: Vec<String>,
    /// The certificate's SHA-256 fingerprint, under TLS.
    pub fingerprint: Option<String>,
}

impl Startup {
    /// Reads every start-up line from `stdout`, a stream the server writes
    /// nothing else to. The first line tells the address. Under TLS the
    /// fingerprint line is the last. Without TLS, a `/healthz` request is
    /// answered only once the server runs, after it has printed every line;
    /// what has arrived by then is all there is, read without waiting.
    ///
    /// `stdout` must be a socket (see `Server`), so that it can be read
    /// without blocking. `None` when it ends before the first line: parlor
    /// exited without starting (the caller holds no other end of it).
    pub fn read(
        stdout: &mut std::io::BufReader<std::os::unix::net::UnixStream>,
    ) -> Option<Startup> {
        let first = read_line(stdout)?;
        let Some(StartupLine::Running { https, addr }) = StartupLine::parse(&first) else {
            panic!("unexpected first start-up line {first:?}");
        };
        let mut startup = Startup {
            addr,
            https,
            turn: None,
            turns: None,
            certificate_names: Vec::new(),
            fingerprint: None,
        };
        if !https {
            wait_until_serving(addr);
            stdout
                .get_ref()
                .set_nonblocking(true)
                .expect("a non-blocking stdout");
        }
        while let Some(line) = read_line(stdout) {
            match StartupLine::parse(&line) {
                Some(StartupLine::Turn(turn)) => startup.turn = Some(turn),
                Some(StartupLine::Turns(turns)) => startup.turns = Some(turns),
                Some(StartupLine::CertificateNames(names)) => startup.certificate_names = names,
                Some(StartupLine::Fingerprint(fingerprint)) => {
                    startup.fingerprint = Some(fingerprint);
                    break;
                }
                _ => panic!("unexpected start-up line {line:?}"),
            }
        }
        Some(startup)
    }
}

/// The next line, or `None` at the end or when nothing more has arrived (a
/// non-blocking stream).
fn read_line(stdout: &mut impl BufRead) -> Option<String> {
    let mut line = String::new();
    match stdout.read_line(&mut line) {
        Ok(0) => None,
        Ok(_) => Some(line),
        Err(err) if err.kind() == ErrorKind::WouldBlock => None,
        Err(err) => panic!("read parlor's stdout: {err}"),
    }
}

/// Waits for an answer to `GET /healthz`: the server is running.
fn wait_until_serving(addr: SocketAddr) {
    let limit = Some(super::RECV_TIMEOUT);
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connect to parlor at {addr}: {e}"));
    stream.set_read_timeout(limit).unwrap();
    stream.set_write_timeout(limit).unwrap();
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .expect("send GET /healthz");
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .unwrap_or_else(|e| panic!("parlor at {addr} does not answer GET /healthz: {e}"));
    assert!(
        answer.starts_with(b"HTTP/1.1 "),
        "GET /healthz: {:?}",
        String::from_utf8_lossy(&answer)
    );
}
