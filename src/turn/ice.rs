//! The `iceServers` of each `welcome`: STUN and TURN URLs of the built-in
//! server (or of an external one), with credentials made for that member
//! alone, plus any `--ice-server` entries.
//!
//! The URLs name the host the browser should reach: `--turn-external-ip`
//! when set; else the IP the TURN server listens on; else, when it listens
//! on every address, the host the browser used to reach Parlor's web page
//! (the WebSocket upgrade's `Host` header), which is the one name this
//! machine is known to have for that browser.
//!
//! Under TLS a `turns:` URL joins them, with the same credentials. Its host
//! is always the one the browser used to reach the page, since that is a
//! name the certificate is valid for (the browser checked it); its port is
//! the HTTPS port the browser used (from the same `Host` header), or
//! `--turns-listen`'s.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::credentials::{self, Secret};

#[derive(Debug, Clone)]
pub(crate) struct IceServers {
    /// `--ice-server` entries, handed out as they are.
    fixed: Vec<Value>,
    turn: Option<Turn>,
}

/// Where the built-in server takes TURN over TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TurnsPort {
    /// On the HTTPS port, which listens on this port: the port a browser
    /// reached it on is in its `Host` header (443 when not said); this one
    /// is for requests without the header.
    Https(u16),
    /// On a port of its own (`--turns-listen`).
    Dedicated(u16),
}

/// A TURN server to hand out, and how to make its credentials.
#[derive(Debug, Clone)]
pub(crate) struct Turn {
    secret: Secret,
    lifetime: Duration,
    urls: Urls,
}

impl Turn {
    /// The built-in server, listening on `bound` (and for TLS on `turns`),
    /// for a web server that listens on `web_listen`.
    pub(crate) fn built_in(
        bound: SocketAddr,
        turns: Option<TurnsPort>,
        external_ip: Option<IpAddr>,
        web_listen: IpAddr,
        secret: Secret,
        lifetime: Duration,
    ) -> Self {
        let host = match (external_ip, bound.ip()) {
            (Some(ip), _) => Some(url_host(ip)),
            (None, ip) if !ip.is_unspecified() => Some(url_host(ip)),
            (None, _) => None,
        };
        let fallback = if web_listen.is_unspecified() {
            if bound.is_ipv4() {
                "127.0.0.1".into()
            } else {
                "[::1]".into()
            }
        } else {
            url_host(web_listen)
        };
        Turn {
            secret,
            lifetime,
            urls: Urls::BuiltIn {
                host,
                fallback,
                port: bound.port(),
                turns,
            },
        }
    }

    /// An external server (a coturn with the same secret) at `urls`.
    pub(crate) fn external(urls: &[String], secret: Secret, lifetime: Duration) -> Self {
        let (stun, turn) = urls
            .iter()
            .cloned()
            .partition(|url| url.starts_with("stun:") || url.starts_with("stuns:"));
        Turn {
            secret,
            lifetime,
            urls: Urls::External { stun, turn },
        }
    }
}

#[derive(Debug, Clone)]
enum Urls {
    /// The built-in server on `port`; `host` is `None` when the URLs take
    /// the host from the request, with `fallback` for requests without one.
    BuiltIn {
        host: Option<String>,
        fallback: String,
        port: u16,
        turns: Option<TurnsPort>,
    },
    External {
        stun: Vec<String>,
        turn: Vec<String>,
    },
}

impl IceServers {
    /// `fixed` (`--ice-server` entries) plus, if `turn` is given, a TURN
    /// server with per-member credentials.
    pub(crate) fn new(fixed: &[String], turn: Option<Turn>) -> Self {
        IceServers {
            fixed: fixed.iter().map(|url| json!({ "urls": url })).collect(),
            turn,
        }
    }

    /// The list for the member `peer_id`, who reached the server as
    /// `request_host` (a `Host` header value), at `now`.
    pub(crate) fn for_peer(
        &self,
        peer_id: &str,
        request_host: Option<&str>,
        now: SystemTime,
    ) -> Box<RawValue> {
        let mut list = Vec::with_capacity(self.fixed.len() + 2);
        if let Some(turn) = &self.turn {
            let unix = now.duration_since(UNIX_EPOCH).unwrap_or_default();
            // At most 136 years ahead: a number any REST API server parses.
            let lifetime = turn.lifetime.min(Duration::from_secs(u32::MAX.into()));
            let mut expiry = (unix + lifetime).as_secs();
            // A member who left and came back in the same second (with
            // its resume token, under the same id) must not be handed
            // credentials its leaving revoked.
            if let Some(until) = turn.secret.revoked_until(peer_id) {
                expiry = expiry.max(until + 1);
            }
            let creds = credentials::issue(&turn.secret, peer_id, expiry);
            let (stun, relay) = match &turn.urls {
                Urls::BuiltIn {
                    host,
                    fallback,
                    port,
                    turns,
                } => {
                    let requested = request_host.and_then(host_of);
                    let plain = host
                        .clone()
                        .or_else(|| requested.as_ref().map(|(host, _)| host.clone()))
                        .unwrap_or_else(|| fallback.clone());
                    let mut relay = vec![
                        format!("turn:{plain}:{port}?transport=udp"),
                        format!("turn:{plain}:{port}?transport=tcp"),
                    ];
                    if let Some(turns) = turns {
                        let (host, port) = match (turns, requested) {
                            (TurnsPort::Https(_), Some((host, said))) => {
                                (host, said.unwrap_or(443))
                            }
                            (TurnsPort::Dedicated(port), Some((host, _))) => (host, *port),
                            (TurnsPort::Https(port) | TurnsPort::Dedicated(port), None) => {
                                (plain.clone(), *port)
                            }
                        };
                        relay.push(format!("turns:{host}:{port}?transport=tcp"));
                    }
                    (vec![format!("stun:{plain}:{port}")], relay)
                }
                Urls::External { stun, turn } => (stun.clone(), turn.clone()),
            };
            if !stun.is_empty() {
                list.push(json!({ "urls": stun }));
            }
            if !relay.is_empty() {
                list.push(json!({
                    "urls": relay,
                    "username": creds.username,
                    "credential": creds.password,
                }));
            }
        }
        list.extend(self.fixed.iter().cloned());
        serde_json::value::to_raw_value(&list).expect("a list of JSON objects serializes")
    }
}

impl IceServers {
    /// Takes back the TURN credentials handed to `peer_id` until `now`: its
    /// member left the room. The built-in server refuses them from then on
    /// (401) and its sweep ends the allocations made with them. An
    /// external server does not hear of it; its credentials run to their
    /// expiry.
    pub(crate) fn revoke(&self, peer_id: &str, now: SystemTime) {
        let Some(turn) = &self.turn else { return };
        if !matches!(turn.urls, Urls::BuiltIn { .. }) {
            return;
        }
        let unix = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        let lifetime = turn.lifetime.min(Duration::from_secs(u32::MAX.into()));
        turn.secret
            .revoke(peer_id, (unix + lifetime).as_secs(), unix.as_secs());
    }
}

/// An IP as the host part of a URL.
fn url_host(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    }
}

/// The host part of a `Host` header (`name`, `name:port`, `1.2.3.4:80`,
/// `[::1]:80`), with its port if it says one, if it is a plausible host
/// name or address: anything else (an attempt to inject into the URL, say)
/// is ignored.
fn host_of(header: &str) -> Option<(String, Option<u16>)> {
    let header = header.trim();
    if let Ok(addr) = header.parse::<SocketAddr>() {
        return Some((url_host(addr.ip()), Some(addr.port())));
    }
    if let Ok(ip) = header
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        return Some((url_host(ip), None));
    }
    let (name, port) = match header.rsplit_once(':') {
        Some((name, port)) => (name, Some(port.parse::<u16>().ok()?)),
        None => (header, None),
    };
    let valid = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    valid.then(|| (name.to_ascii_lowercase(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn built_in(secret: &Secret) -> IceServers {
        let turn = Turn::built_in(
            "127.0.0.1:3478".parse().unwrap(),
            None,
            None,
            "127.0.0.1".parse().unwrap(),
            secret.clone(),
            Duration::from_secs(600),
        );
        IceServers::new(&[], Some(turn))
    }

    fn username(list: &RawValue) -> String {
        let list: Value = serde_json::from_str(list.get()).unwrap();
        list[1]["username"].as_str().unwrap().to_owned()
    }

    #[test]
    fn a_member_that_left_has_its_credentials_revoked() {
        let secret = Secret::new("s");
        let ice = built_in(&secret);
        let t0 = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let before = username(&ice.for_peer("p1", None, t0));
        let check = |name: &str| {
            let parsed = credentials::check_username(name, 1_800_000_000).unwrap();
            secret.is_revoked(parsed.user, parsed.expiry)
        };
        assert!(!check(&before));
        ice.revoke("p1", t0 + Duration::from_secs(5));
        assert!(check(&before), "the server refuses them now");
        // Credentials handed out after, even within the same second (a
        // member that comes back under its id), are good.
        let again = username(&ice.for_peer("p1", None, t0 + Duration::from_secs(5)));
        assert!(!check(&again));
        assert!(!check(&username(&ice.for_peer("p2", None, t0))));
    }

    #[test]
    fn an_external_server_is_not_told() {
        let secret = Secret::new("s");
        let turn = Turn::external(&["turn:x.example".into()], secret.clone(), Duration::ZERO);
        IceServers::new(&[], Some(turn)).revoke("p1", SystemTime::now());
        assert_eq!(secret.revoked_until("p1"), None);
    }

    #[test]
    fn turns_names_the_host_and_port_the_browser_used() {
        let urls = |turns: TurnsPort, request_host: Option<&str>| -> Value {
            let turn = Turn::built_in(
                "0.0.0.0:3478".parse().unwrap(),
                Some(turns),
                Some("203.0.113.5".parse().unwrap()),
                "0.0.0.0".parse().unwrap(),
                Secret::new("s"),
                Duration::from_secs(600),
            );
            let list =
                IceServers::new(&[], Some(turn)).for_peer("p", request_host, SystemTime::now());
            let list: Value = serde_json::from_str(list.get()).unwrap();
            list[1]["urls"].clone()
        };
        let https = TurnsPort::Https(8443);
        // The plain URLs keep the external IP; turns: takes the name the
        // certificate was checked against, and the port the page came from.
        assert_eq!(
            urls(https, Some("meet.example")),
            json!([
                "turn:203.0.113.5:3478?transport=udp",
                "turn:203.0.113.5:3478?transport=tcp",
                "turns:meet.example:443?transport=tcp"
            ])
        );
        assert_eq!(
            urls(https, Some("Meet.Example:8443"))[2],
            "turns:meet.example:8443?transport=tcp"
        );
        assert_eq!(
            urls(https, Some("[2001:db8::1]:8443"))[2],
            "turns:[2001:db8::1]:8443?transport=tcp"
        );
        assert_eq!(urls(https, None)[2], "turns:203.0.113.5:8443?transport=tcp");
        assert_eq!(
            urls(https, Some("bad host"))[2],
            "turns:203.0.113.5:8443?transport=tcp"
        );
        let dedicated = TurnsPort::Dedicated(5349);
        assert_eq!(
            urls(dedicated, Some("meet.example:443"))[2],
            "turns:meet.example:5349?transport=tcp"
        );
        assert_eq!(
            urls(dedicated, None)[2],
            "turns:203.0.113.5:5349?transport=tcp"
        );
    }

    #[test]
    fn host_header_parsing() {
        let parsed = host_of;
        let host = |host: &str, port: Option<u16>| Some((host.to_owned(), port));
        assert_eq!(parsed("example.org"), host("example.org", None));
        assert_eq!(parsed("example.org:443"), host("example.org", Some(443)));
        assert_eq!(parsed("10.0.0.2:8080"), host("10.0.0.2", Some(8080)));
        assert_eq!(parsed("[fe80::1]"), host("[fe80::1]", None));
        assert_eq!(parsed("[::1]:8443"), host("[::1]", Some(8443)));
        assert_eq!(parsed("::1"), host("[::1]", None));
        for bad in [
            "",
            ":80",
            "a b",
            "x@y",
            "host:port",
            "host:99999",
            "a/b",
            "a?b",
            "é.example",
        ] {
            assert_eq!(host_of(bad), None, "{bad:?}");
        }
    }
}
