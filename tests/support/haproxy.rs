//! A real HAProxy for the tests, on a free port of 127.0.0.1, killed when
//! dropped: the one way tests put a load balancer or a TCP proxy in front
//! of parlor (scripts/test installs it).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::server::Process;

/// How long HAProxy gets to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A running `haproxy`; killed, and its configuration removed, when dropped.
pub struct Haproxy {
    _process: Process,
    /// Where clients go: the frontend's address.
    pub front: SocketAddr,
    config: PathBuf,
}

impl Haproxy {
    /// Starts HAProxy with the configuration `config` makes for the
    /// frontend's address (which it must `bind`), and waits until it
    /// listens there.
    pub fn start(config: impl FnOnce(SocketAddr) -> String) -> Haproxy {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let front = SocketAddr::from(([127, 0, 0, 1], port));
        let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("haproxy-{}-{port}.cfg", std::process::id()));
        std::fs::write(&path, config(front)).expect("write the HAProxy configuration");
        let process = Process(
            Command::new("haproxy")
                .args(["-db", "-f"])
                .arg(&path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("haproxy is installed (scripts/test installs it)"),
        );
        let haproxy = Haproxy {
            _process: process,
            front,
            config: path,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect(front).is_err() {
            assert!(Instant::now() < deadline, "HAProxy did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        haproxy
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.config);
    }
}
