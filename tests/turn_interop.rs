//! Interoperability with STUN/TURN clients that nobody here wrote: coturn's
//! test tools from Debian's `coturn` package (`turnutils_stunclient`,
//! `turnutils_uclient`, `turnutils_peer`), against the `parlor` binary.
//!
//! A missing tool is a failure (install them with `apt-get install -y
//! coturn`; scripts/test does), unless `PARLOR_SKIP_INTEROP=1` says to skip
//! these tests, which then pass with a note.
//!
//! coturn's uclient picks channel numbers from RFC 5766's 0x4000-0x7FFF,
//! which Parlor refuses past 0x4FFF as RFC 8656 requires: the relaying runs
//! use Send indications, and one test checks what becomes of its channels.

mod support;

use std::io::Read;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parlor::turn::credentials::{self, Secret};
use parlor::turn::stun::{Builder, Class, Message, attr, method};
use support::{Process, Server};

const SECRET: &str = "interop-secret";

/// Whether to run: true when coturn's tools are here; false, with a note,
/// when they are not and `PARLOR_SKIP_INTEROP=1`; else a failure.
fn tools_present() -> bool {
    // Looked up on PATH, not run: turnutils_peer without arguments is a
    // server that never exits.
    let on_path = |tool: &str| {
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
    };
    let missing: Vec<&str> = [
        "turnutils_stunclient",
        "turnutils_uclient",
        "turnutils_peer",
        "turnserver",
    ]
    .into_iter()
    .filter(|tool| !on_path(tool))
    .collect();
    if missing.is_empty() {
        return true;
    }
    let skip = std::env::var("PARLOR_SKIP_INTEROP").is_ok_and(|v| v == "1");
    assert!(
        skip,
        "coturn's client tools are missing: {missing:?}; apt-get install -y coturn, \
         or set PARLOR_SKIP_INTEROP=1 to skip these tests"
    );
    eprintln!("skipped (PARLOR_SKIP_INTEROP=1): coturn's tools are missing: {missing:?}");
    false
}

/// Parlor with TURN on a free port; returns the server and the TURN address.
fn parlor(extra: &[&str]) -> (Server, SocketAddr) {
    let mut args = vec!["--turn-listen", "127.0.0.1:0", "--turn-secret", SECRET];
    args.extend_from_slice(extra);
    let server = Server::with_args(&args);
    let turn = server.turn.expect("TURN is listening");
    (server, turn)
}

fn free_port() -> u16 {
    let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap().port()
}

/// coturn's UDP echo peer on a free loopback port, once it echoes.
fn echo_peer() -> (Process, u16) {
    let port = free_port();
    let child = Process(
        Command::new("turnutils_peer")
            .args(["-L", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("turnutils_peer starts"),
    );
    // Ready when a probe comes back; until it listens, probes are lost.
    let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
    probe.connect(("127.0.0.1", port)).unwrap();
    probe
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "turnutils_peer on port {port} does not echo"
        );
        // Sending fails with "connection refused" while nothing listens.
        if probe.send(b"ready?").is_ok() && probe.recv(&mut buf).ok() == Some(6) {
            return (child, port);
        }
    }
}

/// What a TURN server on 127.0.0.1:`port` answers an Allocate signed with
/// `username` and `password`, after its 401 challenge: `None` for success,
/// else the error code. A client written here on Parlor's STUN codec, so
/// that a refusal is seen for what it is, whichever server refuses.
fn signed_allocate(port: u16, username: &str, password: &str) -> Option<u16> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(("127.0.0.1", port)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let ask = |signed: Option<(&str, &str)>| -> Vec<u8> {
        let tid: [u8; 12] = std::array::from_fn(|i| i as u8 ^ signed.is_some() as u8);
        let mut request = Vec::new();
        let mut b = Builder::new(&mut request, method::ALLOCATE, Class::Request, tid);
        b.attr(attr::REQUESTED_TRANSPORT, &[17, 0, 0, 0]);
        if let Some((realm, nonce)) = signed {
            b.attr(attr::USERNAME, username.as_bytes())
                .attr(attr::REALM, realm.as_bytes())
                .attr(attr::NONCE, nonce.as_bytes())
                .integrity(&credentials::long_term_key(username, realm, password));
        }
        b.fingerprint();
        let mut buf = vec![0u8; 2048];
        // UDP: sent again after each silence, a few times.
        for _ in 0..6 {
            socket.send(&request).unwrap();
            while let Ok(n) = socket.recv(&mut buf) {
                if Message::parse(&buf[..n]).is_ok_and(|m| m.transaction_id == tid) {
                    buf.truncate(n);
                    return buf;
                }
            }
        }
        panic!("no answer to an Allocate from 127.0.0.1:{port}");
    };
    let error_code = |m: &Message<'_>| {
        let v = m.get(attr::ERROR_CODE)?;
        Some(u16::from(v[2] & 7) * 100 + u16::from(v[3]))
    };
    let challenge = ask(None);
    let challenge = Message::parse(&challenge).unwrap();
    assert_eq!(error_code(&challenge), Some(401), "the first answer");
    let realm = challenge.get_str(attr::REALM).expect("a realm").to_owned();
    let nonce = challenge.get_str(attr::NONCE).expect("a nonce").to_owned();
    let answer = ask(Some((&realm, &nonce)));
    let answer = Message::parse(&answer).unwrap();
    match answer.class {
        Class::Success => None,
        _ => Some(error_code(&answer).expect("an ERROR-CODE")),
    }
}

/// Runs a tool to completion (at most `limit`); returns success and output.
fn run(program: &str, args: &[&str], limit: Duration) -> (bool, String) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} starts: {e}"));
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = out.join().unwrap() + &err.join().unwrap();
    (status.is_some_and(|s| s.success()), text)
}

/// The totals of a uclient run: messages sent and received.
fn totals(output: &str) -> Option<(u64, u64)> {
    let line = output
        .lines()
        .rev()
        .find(|l| l.contains("tot_send_msgs=") && !l.contains("msz="))?;
    let number = |key: &str| -> Option<u64> {
        let rest = &line[line.find(key)? + key.len()..];
        rest.split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    };
    Some((number("tot_send_msgs=")?, number("tot_recv_msgs=")?))
}

/// Runs coturn's uclient (for at most 60 s) through the TURN server on
/// 127.0.0.1:`port` with `credentials` (`-W secret -u user` for REST API
/// ones, `-u user -w password`) to the peer on 127.0.0.1:`peer_port`, with
/// `flags`; returns success and output.
fn uclient(port: u16, credentials: &[&str], peer_port: u16, flags: &[&str]) -> (bool, String) {
    let port = port.to_string();
    let peer_port = peer_port.to_string();
    let mut args = vec!["-p", &port];
    args.extend_from_slice(credentials);
    args.extend_from_slice(&["-e", "127.0.0.1", "-r", &peer_port]);
    args.extend_from_slice(flags);
    args.push("127.0.0.1");
    run("turnutils_uclient", &args, Duration::from_secs(60))
}

/// uclient with REST API credentials (`-W secret`) through Parlor to an
/// echo peer, with `flags`; every message must come back.
fn uclient_round_trip(flags: &[&str]) {
    if !tools_present() {
        return;
    }
    let (_parlor, turn) = parlor(&["--turn-allowed-peers", "127.0.0.0/8"]);
    let (_peer, peer_port) = echo_peer();
    let mut all = vec!["-n", "30", "-m", "3", "-l", "120"];
    all.extend_from_slice(flags);
    let (ok, output) = uclient(
        turn.port(),
        &["-W", SECRET, "-u", "interop"],
        peer_port,
        &all,
    );
    let totals = totals(&output);
    assert!(ok, "uclient {flags:?} failed:\n{output}");
    match totals {
        Some((sent, received)) => {
            assert!(sent >= 90, "uclient {flags:?} sent {sent}:\n{output}");
            assert_eq!(received, sent, "uclient {flags:?} lost messages:\n{output}");
        }
        None => panic!("no totals from uclient {flags:?}:\n{output}"),
    }
    assert!(output.contains("Total lost packets 0 "), "{output}");
}

#[test]
fn stunclient_learns_its_reflexive_address() {
    if !tools_present() {
        return;
    }
    let (_parlor, turn) = parlor(&[]);
    let (ok, output) = run(
        "turnutils_stunclient",
        &["-p", &turn.port().to_string(), "127.0.0.1"],
        Duration::from_secs(20),
    );
    assert!(ok, "stunclient failed:\n{output}");
    assert!(
        output.contains("UDP reflexive addr: 127.0.0.1:"),
        "{output}"
    );
}

#[test]
fn uclient_udp_with_even_port_reservations() {
    // The default mode but for channels: RTP and RTCP allocations
    // (EVEN-PORT with a reservation, then RESERVATION-TOKEN).
    uclient_round_trip(&["-s"]);
}

#[test]
fn uclient_udp_with_send_indications() {
    uclient_round_trip(&["-s", "-c"]);
}

#[test]
fn uclient_tcp() {
    uclient_round_trip(&["-t", "-s"]);
}

#[test]
fn uclient_tcp_with_send_indications_and_padding() {
    uclient_round_trip(&["-t", "-s", "-D"]);
}

#[test]
fn uclient_client_to_client() {
    // Pairs of uclient's own allocations relay to each other.
    uclient_round_trip(&["-y", "-s", "-c"]);
}

/// uclient's channels (ChannelBind, ChannelData), over UDP, TCP and between
/// its own allocations. It picks numbers at random from 0x4000-0x7FFF (three
/// in four past RFC 8656's 0x4FFF), so a run either has every pick in range
/// and relays all, or meets a 400 Bad Request and stops there; the channels
/// it was granted are in range either way.
#[test]
fn uclient_channels_are_granted_in_range_and_refused_past_it() {
    if !tools_present() {
        return;
    }
    let (_parlor, turn) = parlor(&["--turn-allowed-peers", "127.0.0.0/8"]);
    let (_peer, peer_port) = echo_peer();
    let mut refused = 0;
    for flags in [&[][..], &["-t"], &["-y", "-c"]] {
        let mut all = vec!["-v", "-n", "10", "-m", "2"];
        all.extend_from_slice(flags);
        let (ok, output) = uclient(
            turn.port(),
            &["-W", SECRET, "-u", "interop"],
            peer_port,
            &all,
        );
        for granted in output.lines().filter_map(|l| l.split("success: 0x").nth(1)) {
            let number = u16::from_str_radix(granted.trim(), 16).unwrap();
            assert!(
                (0x4000..=0x4FFF).contains(&number),
                "uclient {flags:?} was granted channel {number:#x}:\n{output}"
            );
        }
        if ok {
            let (sent, received) = totals(&output).expect("totals");
            assert!(sent > 0 && received == sent, "uclient {flags:?}:\n{output}");
        } else {
            assert!(
                output.contains("channel bind: error 400 (Bad Request)"),
                "uclient {flags:?} failed otherwise:\n{output}"
            );
            refused += 1;
        }
    }
    eprintln!("uclient channel runs refused with 400: {refused} of 3");
}

#[test]
fn uclient_with_a_wrong_secret_is_refused() {
    if !tools_present() {
        return;
    }
    let (_parlor, turn) = parlor(&["--turn-allowed-peers", "127.0.0.0/8"]);
    let (_peer, peer_port) = echo_peer();
    let (ok, output) = uclient(
        turn.port(),
        &["-W", "not-the-secret", "-u", "mallory"],
        peer_port,
        &["-n", "5", "-s", "-c"],
    );
    assert!(!ok, "uclient must fail:\n{output}");
    assert!(output.contains("Cannot complete Allocation"), "{output}");
    assert!(
        totals(&output).is_none_or(|(_, received)| received == 0),
        "{output}"
    );
    // What uclient was told, asked again: 401 Unauthorized, and no
    // allocation made.
    let wrong = credentials::issue(&Secret::new("not-the-secret"), "mallory", unix_now() + 3600);
    assert_eq!(
        signed_allocate(turn.port(), &wrong.username, &wrong.password),
        Some(401)
    );
    let secret = credentials::issue(&Secret::new(SECRET), "interop", unix_now() + 3600);
    assert_eq!(
        signed_allocate(turn.port(), &secret.username, &secret.password),
        None,
        "the right secret's credentials are accepted"
    );
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn uclient_cannot_reach_loopback_peers_by_default() {
    if !tools_present() {
        return;
    }
    let (_parlor, turn) = parlor(&[]);
    let (_peer, peer_port) = echo_peer();
    let (ok, output) = uclient(
        turn.port(),
        &["-W", SECRET, "-u", "interop"],
        peer_port,
        &["-n", "5", "-s", "-c"],
    );
    assert!(!ok, "uclient must fail:\n{output}");
    assert!(
        output.contains("403"),
        "the relay refuses the peer with 403:\n{output}"
    );
}

/// The credentials in a `welcome`: joins a new room over WebSocket and
/// returns the TURN entry of `iceServers`.
fn welcome_turn_entry(parlor: &Server) -> serde_json::Value {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let welcome = runtime.block_on(parlor.welcome_in_new_room());
    welcome["iceServers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s.get("username").is_some())
        .cloned()
        .expect("a TURN entry with credentials")
}

/// External TURN mode: Parlor hands out credentials for a coturn started
/// with the configuration docs/turn.md gives (REST API secret), and coturn
/// accepts them: uclient relays with exactly the welcome's username and
/// password.
#[test]
fn coturn_accepts_the_credentials_parlor_hands_out() {
    if !tools_present() {
        return;
    }
    let secret = "shared-with-coturn";
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("parlor-coturn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let _coturn = Process(
        Command::new("turnserver")
            .args([
                "-n",
                "--listening-ip=127.0.0.1",
                "--relay-ip=127.0.0.1",
                &format!("--listening-port={port}"),
                "--use-auth-secret",
                &format!("--static-auth-secret={secret}"),
                "--realm=turn.example.org",
                "--fingerprint",
                "--allow-loopback-peers",
                "--no-cli",
                "--no-tls",
                "--no-dtls",
                "--no-stdout-log",
                &format!("--log-file={}", dir.join("turn.log").display()),
                &format!("--pidfile={}", dir.join("turn.pid").display()),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("turnserver starts"),
    );
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "coturn did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let url = format!("turn:127.0.0.1:{port}?transport=udp");
    let parlor = Server::with_args(&["--turn-url", &url, "--turn-secret", secret]);
    assert!(
        parlor.turn.is_none(),
        "no built-in TURN with an external one"
    );
    let entry = welcome_turn_entry(&parlor);
    assert_eq!(entry["urls"], serde_json::json!([url]));
    let username = entry["username"].as_str().unwrap().to_string();
    let password = entry["credential"].as_str().unwrap().to_string();

    let (_peer, peer_port) = echo_peer();
    let (ok, output) = uclient(
        port,
        &["-u", &username, "-w", &password],
        peer_port,
        &["-n", "20", "-m", "1", "-c"],
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        ok,
        "uclient with Parlor's credentials failed against coturn:\n{output}"
    );
    let (sent, received) = totals(&output).unwrap_or_else(|| panic!("no totals:\n{output}"));
    assert!(sent >= 20 && received == sent, "{output}");

    // And a credential that is not Parlor's is refused by coturn.
    let (ok, output) = uclient(
        port,
        &["-u", &username, "-w", "forged"],
        peer_port,
        &["-n", "5", "-m", "1", "-c"],
    );
    assert!(!ok, "coturn must refuse a forged password:\n{output}");
    assert!(output.contains("Cannot complete Allocation"), "{output}");
    // Asked again: coturn answers the forged password 401 Unauthorized,
    // and the real one with an allocation.
    assert_eq!(signed_allocate(port, &username, "forged"), Some(401));
    assert_eq!(signed_allocate(port, &username, &password), None);
}
