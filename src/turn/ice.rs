//! The `iceServers` of each `welcome`: STUN and TURN URLs of the built-in
//! server (or of an external one), with credentials made for that member
//! alone, plus any `--ice-server` entries.
//!
//! The URLs name the host the browser should reach: `--turn-external-ip`
//! when set; else the IP the TURN server listens on; else, when it listens
//! on every address, the host the browser used to reach Parlor's web page
//! (the WebSocket upgrade's `Host` header), which is the one name this
//! machine is known to have for that browser.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::credentials::{self, Secret};
use crate::config::Config;

#[derive(Debug, Clone)]
pub struct IceServers {
    /// `--ice-server` entries, handed out as they are.
    fixed: Vec<Value>,
    turn: Option<Turn>,
}

#[derive(Debug, Clone)]
struct Turn {
    secret: Secret,
    lifetime: Duration,
    urls: Urls,
}

#[derive(Debug, Clone)]
enum Urls {
    /// The built-in server on `port`; `host` is `None` when the URLs take
    /// the host from the request, with `fallback` for requests without one.
    BuiltIn {
        host: Option<String>,
        fallback: String,
        port: u16,
    },
    External {
        stun: Vec<String>,
        turn: Vec<String>,
    },
}

impl IceServers {
    /// From a configuration whose TURN address and secret are resolved:
    /// [`crate::server::Server::bind`] writes the bound address into
    /// `turn_listen`, the secret into `turn_secret`, and sets `turn_disable`
    /// when the built-in server is not running.
    pub fn from_config(config: &Config) -> Self {
        let fixed = config
            .ice_servers
            .iter()
            .map(|url| json!({ "urls": url }))
            .collect();
        let secret = || {
            config
                .turn_secret
                .as_deref()
                .map(Secret::new)
                .unwrap_or_else(Secret::generate)
        };
        let turn = if !config.turn_urls.is_empty() {
            let (stun, turn) = config
                .turn_urls
                .iter()
                .cloned()
                .partition(|url| url.starts_with("stun:") || url.starts_with("stuns:"));
            Some(Turn {
                secret: secret(),
                lifetime: config.turn_credential_lifetime,
                urls: Urls::External { stun, turn },
            })
        } else if config.turn_disable {
            None
        } else {
            let listen = super::listen_addr(config);
            let host = match (config.turn_external_ip, listen.ip()) {
                (Some(ip), _) => Some(url_host(ip)),
                (None, ip) if !ip.is_unspecified() => Some(url_host(ip)),
                (None, _) => None,
            };
            let fallback = if config.listen.ip().is_unspecified() {
                if listen.is_ipv4() {
                    "127.0.0.1".into()
                } else {
                    "[::1]".into()
                }
            } else {
                url_host(config.listen.ip())
            };
            Some(Turn {
                secret: secret(),
                lifetime: config.turn_credential_lifetime,
                urls: Urls::BuiltIn {
                    host,
                    fallback,
                    port: listen.port(),
                },
            })
        };
        IceServers { fixed, turn }
    }

    /// Only the `--ice-server` entries.
    pub fn fixed(urls: &[String]) -> Self {
        IceServers {
            fixed: urls.iter().map(|url| json!({ "urls": url })).collect(),
            turn: None,
        }
    }

    /// The list for the member `peer_id`, who reached the server as
    /// `request_host` (a `Host` header value), at `now`.
    pub fn for_peer(
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
            let expiry = (unix + lifetime).as_secs();
            let creds = credentials::issue(&turn.secret, peer_id, expiry);
            let (stun, relay) = match &turn.urls {
                Urls::BuiltIn {
                    host,
                    fallback,
                    port,
                } => {
                    let host = host
                        .clone()
                        .or_else(|| request_host.and_then(host_of))
                        .unwrap_or_else(|| fallback.clone());
                    (
                        vec![format!("stun:{host}:{port}")],
                        vec![
                            format!("turn:{host}:{port}?transport=udp"),
                            format!("turn:{host}:{port}?transport=tcp"),
                        ],
                    )
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

/// An IP as the host part of a URL.
fn url_host(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    }
}

/// The host part of a `Host` header (`name`, `name:port`, `1.2.3.4:80`,
/// `[::1]:80`), if it is a plausible host name or address: anything else
/// (an attempt to inject into the URL, say) is ignored.
fn host_of(header: &str) -> Option<String> {
    let header = header.trim();
    if let Ok(addr) = header.parse::<SocketAddr>() {
        return Some(url_host(addr.ip()));
    }
    if let Ok(ip) = header
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        return Some(url_host(ip));
    }
    let name = match header.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        Some(_) => return None,
        None => header,
    };
    let valid = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    valid.then(|| name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(list: &RawValue) -> Vec<Value> {
        serde_json::from_str(list.get()).unwrap()
    }

    fn config(args: &[&str]) -> Config {
        let mut all = vec!["parlor"];
        all.extend_from_slice(args);
        Config::try_parse_from(all).unwrap()
    }

    #[test]
    fn built_in_urls_and_fresh_credentials() {
        let ice = IceServers::from_config(&config(&[
            "--turn-secret",
            "s3",
            "--ice-server",
            "stun:x:1",
        ]));
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let list = parse(&ice.for_peer("AbC", Some("ignored.example:8080"), now));
        assert_eq!(list.len(), 3);
        assert_eq!(list[0], json!({ "urls": ["stun:127.0.0.1:3478"] }));
        assert_eq!(
            list[1]["urls"],
            json!([
                "turn:127.0.0.1:3478?transport=udp",
                "turn:127.0.0.1:3478?transport=tcp"
            ])
        );
        let username = list[1]["username"].as_str().unwrap();
        assert_eq!(username, format!("{}:AbC", 1_800_000_000 + 24 * 3600));
        assert_eq!(
            list[1]["credential"],
            credentials::password(&Secret::new("s3"), username)
        );
        assert_eq!(list[2], json!({ "urls": "stun:x:1" }));
    }

    #[test]
    fn host_comes_from_external_ip_or_request() {
        let now = SystemTime::now();
        let ice = IceServers::from_config(&config(&[
            "--turn-listen",
            "0.0.0.0:3478",
            "--turn-external-ip",
            "203.0.113.5",
        ]));
        let list = parse(&ice.for_peer("p", Some("meet.example"), now));
        assert_eq!(list[0]["urls"][0], "stun:203.0.113.5:3478");

        let ice = IceServers::from_config(&config(&["--listen", "0.0.0.0:8080"]));
        let list = parse(&ice.for_peer("p", Some("Meet.Example:8080"), now));
        assert_eq!(list[0]["urls"][0], "stun:meet.example:3478");
        let list = parse(&ice.for_peer("p", Some("[2001:db8::1]:8080"), now));
        assert_eq!(list[1]["urls"][1], "turn:[2001:db8::1]:3478?transport=tcp");
        let list = parse(&ice.for_peer("p", Some("evil/x?y:1"), now));
        assert_eq!(list[0]["urls"][0], "stun:127.0.0.1:3478");
        let list = parse(&ice.for_peer("p", None, now));
        assert_eq!(list[0]["urls"][0], "stun:127.0.0.1:3478");

        let ice = IceServers::from_config(&config(&["--turn-listen", "[::1]:5000"]));
        let list = parse(&ice.for_peer("p", Some("x"), now));
        assert_eq!(list[0]["urls"][0], "stun:[::1]:5000");
    }

    #[test]
    fn external_server_and_disabled() {
        let now = SystemTime::now();
        let ice = IceServers::from_config(&config(&[
            "--turn-url",
            "stun:turn.example:3478,turn:turn.example:3478?transport=udp,turns:turn.example:5349",
            "--turn-secret",
            "shared",
        ]));
        let list = parse(&ice.for_peer("p", None, now));
        assert_eq!(list.len(), 2);
        assert_eq!(list[0], json!({ "urls": ["stun:turn.example:3478"] }));
        assert_eq!(
            list[1]["urls"],
            json!([
                "turn:turn.example:3478?transport=udp",
                "turns:turn.example:5349"
            ])
        );
        let username = list[1]["username"].as_str().unwrap();
        assert_eq!(
            list[1]["credential"],
            credentials::password(&Secret::new("shared"), username)
        );

        let ice = IceServers::from_config(&config(&["--turn-disable"]));
        assert_eq!(ice.for_peer("p", None, now).get(), "[]");
        assert_eq!(IceServers::fixed(&[]).for_peer("p", None, now).get(), "[]");
    }

    #[test]
    fn host_header_parsing() {
        assert_eq!(host_of("example.org").as_deref(), Some("example.org"));
        assert_eq!(host_of("example.org:443").as_deref(), Some("example.org"));
        assert_eq!(host_of("10.0.0.2:8080").as_deref(), Some("10.0.0.2"));
        assert_eq!(host_of("[fe80::1]").as_deref(), Some("[fe80::1]"));
        assert_eq!(host_of("::1").as_deref(), Some("[::1]"));
        for bad in [
            "",
            ":80",
            "a b",
            "x@y",
            "host:port",
            "a/b",
            "a?b",
            "é.example",
        ] {
            assert_eq!(host_of(bad), None, "{bad:?}");
        }
    }
}
