//! Interoperability with STUN/TURN clients that nobody here wrote: coturn's
//! test tools from Debian's `coturn` package (`turnutils_stunclient`,
//! `turnutils_uclient`, `turnutils_peer`), against the `parlor` binary.
//!
//! Without the tools these tests are skipped, with a note, except under CI
//! (`CI=true`), where a missing tool is a failure: install them with
//! `apt-get install -y coturn`.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "interop-secret";

/// Whether coturn's tools are here; panics under CI when they are not.
fn tools_present() -> bool {
    // Looked up on PATH, not run: turnutils_peer without arguments is a
    // server that never exits.
    let on_path = |tool: &str| {
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
    };
    let missing: Vec<&str> = ["turnutils_stunclient", "turnutils_uclient", "turnutils_peer"]
        .into_iter()
        .filter(|tool| !on_path(tool))
        .collect();
    if missing.is_empty() {
        return true;
    }
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    assert!(!ci, "coturn's client tools are missing under CI: {missing:?} (apt-get install -y coturn)");
    eprintln!("skipped: coturn's client tools are not installed ({missing:?}); apt-get install -y coturn");
    false
}

/// A child process killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Parlor with TURN on a free port; returns the process and the TURN address.
fn parlor(extra: &[&str]) -> (Process, SocketAddr) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_parlor"));
    command
        .args(["--listen", "127.0.0.1:0", "--turn-listen", "127.0.0.1:0", "--turn-secret", SECRET])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (key, _) in std::env::vars() {
        if key.starts_with("PARLOR_") {
            command.env_remove(key);
        }
    }
    let mut child = command.spawn().expect("the parlor binary starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut turn = None;
    for _ in 0..2 {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        if let Some(addr) = line
            .trim_end()
            .strip_prefix("Parlor STUN/TURN is listening on ")
            .and_then(|rest| rest.strip_suffix(" (UDP and TCP)"))
        {
            turn = addr.parse().ok();
        }
    }
    // Keep the pipe open for the server's lifetime.
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = stdout.read_to_end(&mut sink);
    });
    (Process(child), turn.expect("TURN is listening"))
}

/// coturn's UDP echo peer on a free loopback port.
fn echo_peer() -> (Process, u16) {
    let port = {
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
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
        rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
    };
    Some((number("tot_send_msgs=")?, number("tot_recv_msgs=")?))
}

/// uclient with REST API credentials (`-W secret`) through Parlor to an
/// echo peer, with `flags`; every message must come back.
fn uclient_round_trip(flags: &[&str]) {
    if !tools_present() {
        return;
    }
    let (_parlor, turn) = parlor(&["--turn-allowed-peers", "127.0.0.0/8"]);
    let (_peer, peer_port) = echo_peer();
    let port = turn.port().to_string();
    let peer_port = peer_port.to_string();
    let mut args = vec!["-p", &port, "-W", SECRET, "-u", "interop", "-e", "127.0.0.1", "-r", &peer_port];
    args.extend_from_slice(&["-n", "30", "-m", "3", "-l", "120"]);
    args.extend_from_slice(flags);
    args.push("127.0.0.1");
    let (ok, output) = run("turnutils_uclient", &args, Duration::from_secs(60));
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
    assert!(output.contains("UDP reflexive addr: 127.0.0.1:"), "{output}");
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
    let (ok, output) = run(
        "turnutils_uclient",
        &[
            "-p", &turn.port().to_string(), "-W", "not-the-secret", "-u", "mallory",
            "-e", "127.0.0.1", "-r", &peer_port.to_string(), "-n", "5", "-c", "127.0.0.1",
        ],
        Duration::from_secs(60),
    );
    assert!(!ok, "uclient must fail:\n{output}");
    assert!(totals(&output).is_none_or(|(_, received)| received == 0), "{output}");
}

#[test]
fn uclient_cannot_reach_loopback_peers_by_default() {
    if !tools_present() {
        return;
    }
    let (_parlor, turn) = parlor(&[]);
    let (_peer, peer_port) = echo_peer();
    let (ok, output) = run(
        "turnutils_uclient",
        &[
            "-p", &turn.port().to_string(), "-W", SECRET, "-u", "interop",
            "-e", "127.0.0.1", "-r", &peer_port.to_string(), "-n", "5", "-c", "127.0.0.1",
        ],
        Duration::from_secs(60),
    );
    assert!(!ok, "uclient must fail:\n{output}");
    assert!(output.contains("403"), "the relay refuses the peer with 403:\n{output}");
}
