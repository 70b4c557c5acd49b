//! The real `parlor` binary, started the one way every test starts it: on
//! 127.0.0.1 with an ephemeral port, with none of the `PARLOR_*` variables
//! of the environment, its start-up lines read by [`Startup`].

use std::io::{BufReader, Read};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::http::{Response, http_request};
use super::startup::Startup;
use super::ws::{Welcome, Ws};

/// `parlor --listen 127.0.0.1:0 ARGS` (ARGS may give another `--listen`),
/// with no standard input and with the
/// environment's `PARLOR_*` variables removed, so that they do not change
/// the flags' defaults under test. Each gets a state directory of its own
/// under cargo's scratch folder (`PARLOR_STATE_DIR`; `--state-dir` in ARGS
/// wins), so that no server reads the keys or rooms another test left.
/// Stdout and stderr are the caller's to set; [`Server`] runs it.
pub fn command(args: &[&str]) -> Command {
    static STARTED: AtomicUsize = AtomicUsize::new(0);
    let state = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "parlor-state-{}-{}",
        std::process::id(),
        STARTED.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&state);
    let mut command = Command::new(env!("CARGO_BIN_EXE_parlor"));
    if !args.contains(&"--listen") {
        command.args(["--listen", "127.0.0.1:0"]);
    }
    command.args(args).stdin(Stdio::null());
    for (key, _) in std::env::vars() {
        if key.starts_with("PARLOR_") {
            command.env_remove(key);
        }
    }
    command.env("PARLOR_STATE_DIR", state);
    command
}

/// A child process, killed when dropped.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running `parlor` binary; killed when dropped.
pub struct Server {
    process: Process,
    // Kept open so the server never writes to a closed socket.
    _stdout: BufReader<UnixStream>,
    /// Its log, when started by [`Server::with_logs`].
    stderr: Option<JoinHandle<String>>,
    pub addr: SocketAddr,
    /// The STUN/TURN address, when that server runs.
    pub turn: Option<SocketAddr>,
    /// All that it printed as it started.
    pub startup: Startup,
}

/// Where the server's log goes.
enum Log {
    /// Nowhere, or to the test's stderr with `PARLOR_TEST_LOG=<level>`.
    Default,
    /// Kept for [`Server::logs`], at the server's default level.
    Captured,
}

impl Server {
    /// Starts the server with default settings.
    pub fn start() -> Server {
        Server::with_args(&[])
    }

    /// Starts the server with extra command-line flags, e.g.
    /// `&["--send-queue", "8"]`. Set `PARLOR_TEST_LOG=debug` to see its log.
    pub fn with_args(args: &[&str]) -> Server {
        Server::spawn(args, Log::Default)
    }

    /// Starts the server with extra flags and keeps what it logs on stderr
    /// (at its default level) for [`Server::logs`].
    pub fn with_logs(args: &[&str]) -> Server {
        Server::spawn(args, Log::Captured)
    }

    fn spawn(args: &[&str], log: Log) -> Server {
        let (stdout, child_stdout) = UnixStream::pair().expect("a socket pair for stdout");
        let mut command = command(args);
        command.stdout(std::os::fd::OwnedFd::from(child_stdout));
        match (&log, std::env::var("PARLOR_TEST_LOG")) {
            (Log::Captured, _) => {
                command.stderr(Stdio::piped());
            }
            (Log::Default, Ok(level)) => {
                command.env("PARLOR_LOG", level).stderr(Stdio::inherit());
            }
            (Log::Default, Err(_)) => {
                command.stderr(Stdio::null());
            }
        }
        let mut process = Process(command.spawn().expect("the parlor binary starts"));
        // Read all along, so that a long log never blocks the server.
        let stderr = process.0.stderr.take().map(|mut stderr| {
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = stderr.read_to_string(&mut text);
                text
            })
        });
        let mut stdout = BufReader::new(stdout);
        let startup = Startup::read(&mut stdout);
        Server {
            process,
            _stdout: stdout,
            stderr,
            addr: startup.addr,
            turn: startup.turn,
            startup,
        }
    }

    /// The STUN/TURN address; the server must run it (as it does with
    /// `--turn-listen`).
    pub fn turn(&self) -> SocketAddr {
        self.turn.expect("the STUN/TURN server runs")
    }

    /// The certificate's SHA-256 fingerprint; the server must serve HTTPS.
    pub fn fingerprint(&self) -> &str {
        self.startup
            .fingerprint
            .as_deref()
            .expect("the server serves HTTPS")
    }

    pub fn pid(&self) -> u32 {
        self.process.0.id()
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
        matches!(self.process.0.try_wait(), Ok(None))
    }

    /// Sends SIGTERM and waits for the process to exit; returns how long
    /// that took. Fails if it has not exited within 10 s.
    pub fn terminate(&mut self) -> Duration {
        let started = Instant::now();
        let pid = self.pid().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        while started.elapsed() < Duration::from_secs(10) {
            if self.process.0.try_wait().unwrap().is_some() {
                return started.elapsed();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.process.0.kill();
        panic!("the server did not exit within 10 s of SIGTERM");
    }

    /// All that the server logged, once it has exited (see
    /// [`Server::terminate`]); it must have been started by
    /// [`Server::with_logs`].
    pub fn logs(&mut self) -> String {
        self.stderr
            .take()
            .expect("started with_logs, and the logs not yet taken")
            .join()
            .expect("the log reader")
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

    /// A new room (default capacity) with two members who gave no name, A
    /// then B, once A has been told that B joined (`expect_peer_joined`):
    /// returns the room and each member with its welcome.
    pub async fn two_in_room(&self) -> (String, (Ws, Welcome), (Ws, Welcome)) {
        let room = self.create_room(None).await;
        let (mut a, wa) = self.joined(&room, None).await;
        let (b, wb) = self.joined(&room, None).await;
        a.expect_peer_joined(&wb.id, None).await;
        (room, (a, wa), (b, wb))
    }

    /// Creates a room and joins it on a new connection: returns the answer,
    /// which must be a `welcome` (its shape is left to the caller).
    pub async fn welcome_in_new_room(&self) -> Value {
        let room = self.post("/api/rooms", None).await.json()["room"].clone();
        let mut ws = self.ws().await;
        ws.send_json(json!({ "type": "join", "room": room })).await;
        let welcome = ws.recv_json().await;
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        welcome
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
