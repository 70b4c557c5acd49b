//! Interoperability with STUN/TURN clients that nobody here wrote: coturn's
//! test tools from Debian's `coturn` package (`turnutils_stunclient`,
//! `turnutils_uclient`, `turnutils_peer`), against the `parlor` binary.
//!
//! Without the tools these tests are skipped, with a note, except under CI
//! (`CI=true`), where a missing tool is a failure: install them with
//! `apt-get install -y coturn`.

mod support;

use std::io::Read;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{Process, Server};

const SECRET: &str = "interop-secret";

/// Whether coturn's tools are here; panics under CI when they are not.
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
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    assert!(
        !ci,
        "coturn's client tools are missing under CI: {missing:?} (apt-get install -y coturn)"
    );
    eprintln!(
        "skipped: coturn's client tools are not installed ({missing:?}); apt-get install -y coturn"
    );
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

/// coturn's UDP echo peer on a free loopback port.
fn echo_peer() -> (Process, u16) {
    let port = free_port();
    let child = Command::new("turnutils_peer")
        .args(["-L", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("turnutils_peer starts");
    std::thread::sleep(Duration::from_millis(300));
    (Process(child), port)
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
fn uclient_udp_with_channels_and_even_port_reservations() {
    // The default mode: RTP and RTCP allocations (EVEN-PORT with a
    // reservation, then RESERVATION-TOKEN), channels, ChannelData.
    uclient_round_trip(&[]);
}

#[test]
fn uclient_udp_with_send_indications() {
    uclient_round_trip(&["-s", "-c"]);
}

#[test]
fn uclient_tcp() {
    uclient_round_trip(&["-t"]);
}

#[test]
fn uclient_tcp_with_send_indications_and_padding() {
    uclient_round_trip(&["-t", "-s", "-D"]);
}

#[test]
fn uclient_client_to_client() {
    // Pairs of uclient's own allocations relay to each other.
    uclient_round_trip(&["-y", "-c"]);
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
        &["-n", "5", "-c"],
    );
    assert!(!ok, "uclient must fail:\n{output}");
    assert!(
        totals(&output).is_none_or(|(_, received)| received == 0),
        "{output}"
    );
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
        &["-n", "5", "-c"],
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
}
