//! Everything an operator can set, as command-line flags and `PARLOR_*`
//! environment variables. The defaults are the embedded configuration: they
//! run a working server with no file and no flag at all.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::limits::Rate;

/// Self-hosted video calls: serves the web app, relays signaling over
/// WebSocket.
#[derive(Debug, Clone, Parser)]
#[command(name = "parlor", version, about, max_term_width = 100)]
pub struct Config {
    /// Address for HTTP and WebSocket. Use 0.0.0.0:8080 or [::]:8080 to be
    /// reachable from other machines (browsers then need HTTPS for camera
    /// and microphone).
    #[arg(long, env = "PARLOR_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Largest room capacity a client may ask for. Every member sends media
    /// to every other (a mesh), so keep it small.
    #[arg(long, env = "PARLOR_MAX_ROOM_CAPACITY", default_value_t = 6,
          value_parser = clap::value_parser!(u16).range(2..=64))]
    pub(crate) max_room_capacity: u16,

    /// Most rooms this server holds at once; creating more is refused.
    #[arg(long, env = "PARLOR_MAX_ROOMS", default_value_t = 100_000)]
    pub(crate) max_rooms: usize,

    /// How long a room nobody is in is kept before it is forgotten
    /// (e.g. 30m, 24h).
    #[arg(long, env = "PARLOR_ROOM_IDLE_TIMEOUT", default_value = "24h",
          value_parser = humantime::parse_duration)]
    pub(crate) room_idle_timeout: Duration,

    /// How long a room that nobody has joined is kept after its creation,
    /// when that is shorter than --room-idle-timeout: so that rooms made
    /// by the thousand and never used do not hold --max-rooms for a day.
    #[arg(long, env = "PARLOR_UNJOINED_ROOM_TIMEOUT", default_value = "10m",
          value_parser = humantime::parse_duration)]
    pub(crate) unjoined_room_timeout: Duration,

    /// How often the server pings each WebSocket client.
    #[arg(long, env = "PARLOR_PING_INTERVAL", default_value = "10s",
          value_parser = humantime::parse_duration)]
    pub(crate) ping_interval: Duration,

    /// A client silent for this long (not even answering pings) counts as
    /// disconnected. With --resume-grace it must stay under 60 s, the
    /// protocol's bound for peer-left after a lost connection.
    #[arg(long, env = "PARLOR_PING_TIMEOUT", default_value = "25s",
          value_parser = humantime::parse_duration)]
    pub(crate) ping_timeout: Duration,

    /// How long the seat of a member whose connection was lost (not closed)
    /// is kept for it to resume, with the same peer id and no peer-left for
    /// the others. 0s gives the seat up at once.
    #[arg(long, env = "PARLOR_RESUME_GRACE", default_value = "30s",
          value_parser = humantime::parse_duration)]
    pub(crate) resume_grace: Duration,

    /// Key that signs resume tokens. When not set, a key made once and kept
    /// in --state-dir is used, so calls resume across a restart anyway;
    /// give one (the same to every start) to share it between machines.
    #[arg(long, env = "PARLOR_SECRET", hide_env_values = true)]
    pub(crate) secret: Option<String>,

    /// Share rooms with other Parlor instances through this Redis server
    /// (e.g. redis://10.0.0.5:6379), so that any instance behind a load
    /// balancer serves any room. Needs --secret, the same on every
    /// instance, so that a member can resume its seat on another one.
    /// Without it rooms live in this process.
    #[arg(
        long,
        env = "PARLOR_REDIS",
        value_name = "URL",
        requires = "secret",
        help_heading = "Cluster"
    )]
    pub(crate) redis: Option<String>,

    /// Folder for what a restart must not forget: the resume-token key and
    /// the TURN secret (unless --secret and --turn-secret give them) and
    /// the list of rooms, so that calls and invite links survive a restart.
    /// Made with mode 0700 if missing [default: $STATE_DIRECTORY, else
    /// $XDG_STATE_HOME/parlor, else ~/.local/state/parlor, else
    /// parlor-state-UID in the temporary folder].
    #[arg(long, env = "PARLOR_STATE_DIR", value_name = "DIR")]
    pub(crate) state_dir: Option<PathBuf>,

    /// Messages queued for one client before it counts as too slow and is
    /// disconnected.
    #[arg(long, env = "PARLOR_SEND_QUEUE", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) send_queue: u32,

    /// Bytes queued for one client before it counts as too slow and is
    /// disconnected (e.g. 1M, 512K): what bounds the memory one client that
    /// does not read can hold.
    #[arg(long, env = "PARLOR_SEND_QUEUE_BYTES", default_value = "1M",
          value_parser = parse_bytes, value_name = "BYTES")]
    pub(crate) send_queue_bytes: usize,

    /// Longest a write to one client may wait for it to read; a client that
    /// stops reading is disconnected after this, whatever it keeps sending.
    #[arg(long, env = "PARLOR_WRITE_TIMEOUT", default_value = "10s",
          value_parser = parse_positive_duration, value_name = "DURATION")]
    pub(crate) write_timeout: Duration,

    /// Most WebSocket connections at once.
    #[arg(long, env = "PARLOR_MAX_CONNECTIONS", default_value_t = 20_000)]
    pub(crate) max_connections: u32,

    /// Most HTTP connections at once that are not WebSockets; one more is
    /// closed as it arrives. Keeps file descriptors for everyone else.
    #[arg(long, env = "PARLOR_MAX_HTTP_CONNECTIONS", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_http_connections: u32,

    /// How long an HTTP connection has to send a whole request head, from
    /// its opening or its last answer; idle keep-alive connections close
    /// after it too. WebSockets are not affected.
    #[arg(long, env = "PARLOR_HTTP_REQUEST_TIMEOUT", default_value = "10s",
          value_parser = parse_positive_duration, value_name = "DURATION")]
    pub(crate) http_request_timeout: Duration,

    /// Most WebSocket connections at once from one IP address.
    #[arg(long, env = "PARLOR_MAX_CONNECTIONS_PER_IP", default_value_t = 64)]
    pub(crate) max_connections_per_ip: u32,

    /// Messages one connection may send, as RATE/s or RATE/min with an
    /// optional burst; beyond it messages are refused with `rate-limited`.
    #[arg(long, env = "PARLOR_MESSAGE_RATE", default_value = "200/s,burst=2000")]
    pub(crate) message_rate: Rate,

    /// Rooms one IP address may create, as RATE/s or RATE/min with an
    /// optional burst.
    #[arg(
        long,
        env = "PARLOR_ROOM_CREATION_RATE",
        default_value = "30/min,burst=10"
    )]
    pub(crate) room_creation_rate: Rate,

    /// Apply the per-IP limits to loopback clients too (by default they count
    /// only towards --max-connections: behind a local reverse proxy every
    /// client would otherwise share one address).
    #[arg(long, env = "PARLOR_LIMIT_LOOPBACK")]
    pub(crate) limit_loopback: bool,

    /// Reverse proxies whose X-Forwarded-For header names the client, as
    /// address ranges (comma-separated, e.g. 127.0.0.1/32). The per-IP
    /// limits then count the client, not the proxy, and apply to loopback
    /// clients too. The header is ignored from anyone else.
    #[arg(
        long,
        env = "PARLOR_TRUST_FORWARDED_FOR",
        value_delimiter = ',',
        value_name = "CIDR"
    )]
    pub(crate) trust_forwarded_for: Vec<crate::turn::Cidr>,

    /// Connections from the --trust-forwarded-for proxies open with a PROXY
    /// protocol header (HAProxy's, v1 or v2) naming the client, on the web
    /// port (before TLS). A trusted proxy's connection without one is
    /// refused, and so is anyone else's with one; others may connect
    /// without one and count by their own address.
    #[arg(long, env = "PARLOR_PROXY_PROTOCOL", requires = "trust_forwarded_for")]
    pub(crate) proxy_protocol: bool,

    /// Web origins allowed to open the WebSocket besides the server's own
    /// (comma-separated, e.g. https://parlor.example.org). Browsers always
    /// send Origin, so this stops other sites from using a visitor's
    /// browser to talk to Parlor.
    #[arg(
        long = "allowed-origin",
        env = "PARLOR_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub(crate) allowed_origins: Vec<String>,

    /// PEM certificate chain to serve HTTPS and WSS with (needs --tls-key).
    /// Browsers allow camera and microphone only on secure pages, so any
    /// address but localhost needs HTTPS.
    #[arg(
        long,
        env = "PARLOR_TLS_CERT",
        requires = "tls_key",
        help_heading = "HTTPS"
    )]
    pub(crate) tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert.
    #[arg(
        long,
        env = "PARLOR_TLS_KEY",
        requires = "tls_cert",
        help_heading = "HTTPS"
    )]
    pub(crate) tls_key: Option<PathBuf>,

    /// Serve HTTPS with a certificate made at start for this machine's names
    /// and addresses; its fingerprint is printed so visitors can check the
    /// browser's warning. For a LAN without a real certificate.
    #[arg(
        long,
        env = "PARLOR_TLS_SELF_SIGNED",
        conflicts_with = "tls_cert",
        help_heading = "HTTPS"
    )]
    pub(crate) tls_self_signed: bool,

    /// Public DNS name to get a certificate for from an ACME CA (Let's
    /// Encrypt by default), renewed while the server runs (repeatable, or
    /// comma-separated; one certificate covers them all). The CA checks
    /// each name by connecting to it on port 443, which must reach
    /// --listen. Certificate and account are kept in --state-dir.
    #[arg(
        long = "acme-domain",
        env = "PARLOR_ACME_DOMAINS",
        value_delimiter = ',',
        value_parser = parse_domain,
        value_name = "NAME",
        conflicts_with_all = ["tls_cert", "tls_self_signed"],
        help_heading = "HTTPS"
    )]
    pub(crate) acme_domains: Vec<String>,

    /// Contact address given to the ACME CA, for its notices (expiry,
    /// policy changes).
    #[arg(
        long,
        env = "PARLOR_ACME_EMAIL",
        requires = "acme_domains",
        value_name = "ADDRESS",
        help_heading = "HTTPS"
    )]
    pub(crate) acme_email: Option<String>,

    /// Directory URL of the ACME CA (e.g. a staging CA to try things out).
    #[arg(
        long,
        env = "PARLOR_ACME_DIRECTORY",
        default_value = LETS_ENCRYPT,
        value_name = "URL",
        help_heading = "HTTPS"
    )]
    pub(crate) acme_directory: String,

    /// PEM root certificate to trust for the ACME directory's HTTPS,
    /// instead of the system's roots: for a private or test CA.
    #[arg(
        long,
        env = "PARLOR_ACME_CA_CERT",
        requires = "acme_domains",
        value_name = "PATH",
        help_heading = "HTTPS"
    )]
    pub(crate) acme_ca_cert: Option<PathBuf>,

    /// Log format: text for people, json for log collectors. The level is
    /// set with PARLOR_LOG (e.g. debug, or parlor=debug).
    #[arg(long, env = "PARLOR_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// STUN or TURN URL handed to clients in `welcome` (repeatable, or
    /// comma-separated in the variable), e.g. stun:stun.example.org:3478.
    #[arg(long = "ice-server", env = "PARLOR_ICE_SERVERS", value_delimiter = ',')]
    pub(crate) ice_servers: Vec<String>,

    /// Address of the built-in STUN/TURN server, UDP and TCP [default: the
    /// IP of --listen, port 3478]. Port 0 picks a free port. When not set
    /// and the default port is taken, Parlor runs without its TURN server.
    #[arg(
        long,
        env = "PARLOR_TURN_LISTEN",
        value_name = "ADDR",
        help_heading = "TURN"
    )]
    pub(crate) turn_listen: Option<SocketAddr>,

    /// Also serve TURN over TLS (turns:) on this address, e.g. 0.0.0.0:5349,
    /// with the HTTPS certificate. Under HTTPS, TURN over TLS is served on
    /// the HTTPS port anyway; this adds a port of its own, which `welcome`
    /// then hands out instead.
    #[arg(
        long,
        env = "PARLOR_TURNS_LISTEN",
        value_name = "ADDR",
        conflicts_with_all = ["turn_disable", "turn_urls"],
        help_heading = "TURN"
    )]
    pub(crate) turns_listen: Option<SocketAddr>,

    /// Public IP address of this machine, advertised in TURN URLs and relayed
    /// addresses; needed behind 1:1 NAT (e.g. cloud instances).
    #[arg(
        long,
        env = "PARLOR_TURN_EXTERNAL_IP",
        value_name = "IP",
        help_heading = "TURN"
    )]
    pub(crate) turn_external_ip: Option<IpAddr>,

    /// UDP ports for relayed addresses (open them in the firewall).
    #[arg(long, env = "PARLOR_TURN_RELAY_PORTS", default_value = "49152-65535",
          value_parser = crate::turn::PortRange::parse, value_name = "LOW-HIGH",
          help_heading = "TURN")]
    pub(crate) turn_relay_ports: crate::turn::PortRange,

    /// Shared secret for TURN credentials (coturn's static-auth-secret).
    /// Random at each start when not set, which is fine for the built-in
    /// server; an external TURN server needs the same secret as Parlor.
    #[arg(
        long,
        env = "PARLOR_TURN_SECRET",
        hide_env_values = true,
        value_name = "SECRET",
        help_heading = "TURN"
    )]
    pub(crate) turn_secret: Option<String>,

    /// How long the TURN credentials in each `welcome` stay valid. A call
    /// relayed through TURN cannot outlast them.
    #[arg(long, env = "PARLOR_TURN_CREDENTIAL_LIFETIME", default_value = "24h",
          value_parser = parse_positive_duration, value_name = "DURATION", help_heading = "TURN")]
    pub(crate) turn_credential_lifetime: Duration,

    /// Peer ranges the relay may reach although they are not public, e.g.
    /// 192.168.1.0/24 on a LAN or 127.0.0.0/8 for tests (comma-separated).
    /// Loopback, private, link-local, multicast and unspecified addresses
    /// are refused otherwise.
    #[arg(
        long,
        env = "PARLOR_TURN_ALLOWED_PEERS",
        value_delimiter = ',',
        value_name = "CIDR",
        help_heading = "TURN"
    )]
    pub(crate) turn_allowed_peers: Vec<crate::turn::Cidr>,

    /// Do not run the built-in STUN/TURN server, nor advertise one.
    #[arg(long, env = "PARLOR_TURN_DISABLE", help_heading = "TURN",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub(crate) turn_disable: bool,

    /// Use an external TURN server (e.g. coturn with use-auth-secret)
    /// instead of the built-in one: its stun:, turn: or turns: URLs
    /// (repeatable, or comma-separated), handed out with credentials made
    /// from --turn-secret, which is then required.
    #[arg(
        long = "turn-url",
        env = "PARLOR_TURN_URLS",
        value_delimiter = ',',
        conflicts_with = "turn_disable",
        requires = "turn_secret",
        value_name = "URL",
        help_heading = "TURN"
    )]
    pub(crate) turn_urls: Vec<String>,

    /// Realm of the built-in TURN server.
    #[arg(
        long,
        env = "PARLOR_TURN_REALM",
        default_value = "parlor",
        value_name = "REALM",
        help_heading = "TURN"
    )]
    pub(crate) turn_realm: String,

    /// Most TURN allocations at once, for everyone.
    #[arg(long, env = "PARLOR_TURN_MAX_ALLOCATIONS", default_value_t = 10_000, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..), help_heading = "TURN")]
    pub(crate) turn_max_allocations: u32,

    /// Most TURN allocations at once per user (one user: one peer id).
    #[arg(long, env = "PARLOR_TURN_USER_ALLOCATIONS", default_value_t = 64, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..), help_heading = "TURN")]
    pub(crate) turn_user_allocations: u32,

    /// Most TURN allocations at once from one client address (an IPv4
    /// address or an IPv6 /64), whatever credentials they use.
    #[arg(long, env = "PARLOR_TURN_ADDRESS_ALLOCATIONS", default_value_t = 32, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..), help_heading = "TURN")]
    pub(crate) turn_address_allocations: u32,

    /// Most bytes per second relayed for one user, both ways together,
    /// e.g. 10M; 0 for no limit.
    #[arg(long, env = "PARLOR_TURN_USER_BANDWIDTH", default_value = "10M", value_name = "BYTES",
          value_parser = crate::turn::parse_byte_rate, help_heading = "TURN")]
    pub(crate) turn_user_bandwidth: u64,

    /// Most bytes per second relayed for one client address (an IPv4
    /// address or an IPv6 /64), every user on it together, e.g. 30M; 0 for
    /// no limit.
    #[arg(long, env = "PARLOR_TURN_ADDRESS_BANDWIDTH", default_value = "30M", value_name = "BYTES",
          value_parser = crate::turn::parse_byte_rate, help_heading = "TURN")]
    pub(crate) turn_address_bandwidth: u64,

    /// Longest lifetime a TURN client may ask for at once; it must refresh
    /// its allocation before then.
    #[arg(long, env = "PARLOR_TURN_MAX_LIFETIME", default_value = "1h", value_name = "DURATION",
          value_parser = parse_positive_duration, help_heading = "TURN")]
    pub(crate) turn_max_lifetime: Duration,

    /// Most TURN-over-TCP connections at once from one client address.
    #[arg(long, env = "PARLOR_TURN_TCP_PER_IP", default_value_t = 32, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..), help_heading = "TURN")]
    pub(crate) turn_tcp_per_ip: u32,
}

/// Let's Encrypt's production ACME directory.
const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// A DNS name a public CA can certify, lower-cased: no address, no
/// wildcard (TLS-ALPN-01 cannot validate one), no trailing dot.
fn parse_domain(text: &str) -> Result<String, String> {
    let name = text.trim().to_ascii_lowercase();
    let refuse = |why: &str| Err(format!("{text:?} is not a DNS name: {why}"));
    if name.parse::<IpAddr>().is_ok() {
        return refuse("an address; ACME certificates here are for names");
    }
    if name.contains('*') {
        return refuse("wildcards need DNS validation, which Parlor does not do");
    }
    match rustls::pki_types::DnsName::try_from(name.as_str()) {
        Ok(_) if !name.ends_with('.') => Ok(name),
        _ => refuse("letters, digits, hyphens and dots only"),
    }
}

fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if d >= Duration::from_secs(1) => Ok(d),
        Ok(_) => Err("must be at least one second".into()),
        Err(err) => Err(err.to_string()),
    }
}

/// A size in bytes: a whole number with an optional K or M (powers of 1024).
fn parse_bytes(text: &str) -> Result<usize, String> {
    let (digits, unit) = match text.trim().to_ascii_uppercase() {
        t if t.ends_with('K') => (t[..t.len() - 1].to_owned(), 1024),
        t if t.ends_with('M') => (t[..t.len() - 1].to_owned(), 1024 * 1024),
        t => (t, 1),
    };
    let n: usize = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size like 1048576, 512K or 1M"))?;
    match n.checked_mul(unit) {
        Some(bytes) if bytes >= 64 * 1024 + 1024 => Ok(bytes),
        Some(_) => Err("must be at least 65K, the largest message and then some".into()),
        None => Err("too large".into()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn flags_are_consistent() {
        Config::command().debug_assert();
    }

    #[test]
    fn defaults_need_no_configuration() {
        let config = Config::try_parse_from(["parlor"]).unwrap();
        assert_eq!(config.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(config.max_room_capacity, 6);
        assert!(config.ping_timeout > config.ping_interval);
        assert!(config.ice_servers.is_empty());
    }

    #[test]
    fn cluster_mode_needs_the_shared_secret() {
        let err = Config::try_parse_from(["parlor", "--redis", "redis://127.0.0.1:6379"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--secret"), "{err}");
        let config = Config::try_parse_from([
            "parlor",
            "--redis",
            "redis://127.0.0.1:6379",
            "--secret",
            "k",
        ])
        .unwrap();
        assert_eq!(config.redis.as_deref(), Some("redis://127.0.0.1:6379"));
    }

    #[test]
    fn parses_durations_and_lists() {
        let config = Config::try_parse_from([
            "parlor",
            "--room-idle-timeout",
            "90s",
            "--ice-server",
            "stun:a:3478,stun:b:3478",
        ])
        .unwrap();
        assert_eq!(config.room_idle_timeout, Duration::from_secs(90));
        assert_eq!(config.ice_servers, ["stun:a:3478", "stun:b:3478"]);
        assert!(Config::try_parse_from(["parlor", "--max-room-capacity", "1"]).is_err());
    }

    #[test]
    fn acme_domains_are_dns_names() {
        let config = Config::try_parse_from([
            "parlor",
            "--acme-domain",
            "Parlor.Example.org,b.example.org",
            "--acme-domain",
            "localhost",
        ])
        .unwrap();
        assert_eq!(
            config.acme_domains,
            ["parlor.example.org", "b.example.org", "localhost"]
        );
        assert_eq!(config.acme_directory, LETS_ENCRYPT);
        for bad in ["192.0.2.1", "::1", "*.example.org", "a b.org", "", "x.org."] {
            assert!(parse_domain(bad).is_err(), "{bad:?}");
        }
        let both = ["parlor", "--acme-domain", "a.org", "--tls-self-signed"];
        assert!(Config::try_parse_from(both).is_err());
        assert!(Config::try_parse_from(["parlor", "--acme-email", "a@b.org"]).is_err());
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_bytes("1M"), Ok(1024 * 1024));
        assert_eq!(parse_bytes("512k"), Ok(512 * 1024));
        assert_eq!(parse_bytes("100000"), Ok(100_000));
        assert!(parse_bytes("1K").is_err(), "smaller than one message");
        assert!(parse_bytes("lots").is_err());
    }
}
