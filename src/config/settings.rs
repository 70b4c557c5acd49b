//! The settings each part of the server is built with, from the flags. Pure
//! functions of the flags and of what start-up learned, so that every rule
//! of "which flag means what" is tested here without starting anything.

use std::net::SocketAddr;
use std::time::Duration;

use super::Config;
use crate::limits::AddressLimits;
use crate::rooms::{ResumeKey, StoreLimits};
use crate::signaling::SessionSettings;
use crate::turn::credentials::Secret;
use crate::turn::{self, IceServers, PeerFilter, TurnsPort};
use crate::web::{HttpLimits, ProxyProtocol};

impl Config {
    /// Where the built-in TURN server listens: `--turn-listen`, or the IP
    /// of `--listen` with port 3478.
    pub(crate) fn turn_listen_addr(&self) -> SocketAddr {
        self.turn_listen
            .unwrap_or_else(|| SocketAddr::new(self.listen.ip(), turn::DEFAULT_PORT))
    }

    /// Whether Parlor runs its own STUN/TURN server.
    pub(crate) fn runs_builtin_turn(&self) -> bool {
        !self.turn_disable && self.turn_urls.is_empty()
    }

    /// Why this instance cannot run the built-in TURN server as configured:
    /// in a cluster (`--redis`) each instance must name its own TURN
    /// address, yet one listening on every address without
    /// `--turn-external-ip` names the host the page came from, which behind
    /// a load balancer is the balancer's.
    pub(crate) fn cluster_turn_problem(&self) -> Option<&'static str> {
        let from_request =
            self.turn_external_ip.is_none() && self.turn_listen_addr().ip().is_unspecified();
        (self.redis.is_some() && self.runs_builtin_turn() && from_request).then_some(
            "in a cluster (--redis) each instance advertises its own TURN address, \
             not the load balancer's: set --turn-external-ip to this machine's address \
             (or --turn-listen to one of its addresses), or use --turn-url / --turn-disable",
        )
    }

    /// The TURN secret: `--turn-secret`, else the one kept in the state
    /// directory (`kept`), else one made now. Called once at start; the
    /// server and the credentials it hands out share it.
    pub(crate) fn turn_secret(&self, kept: Option<&[u8]>) -> Secret {
        match (&self.turn_secret, kept) {
            (Some(secret), _) => Secret::new(secret.as_str()),
            (None, Some(kept)) => Secret::new(kept),
            (None, None) => Secret::generate(),
        }
    }

    /// The built-in TURN server's settings.
    pub(crate) fn turn_settings(&self, secret: Secret) -> turn::Settings {
        turn::Settings {
            listen: self.turn_listen_addr(),
            external_ip: self.turn_external_ip,
            relay_ports: self.turn_relay_ports,
            realm: self.turn_realm.clone(),
            secret,
            filter: PeerFilter::new(self.turn_allowed_peers.clone()),
            max_allocations: self.turn_max_allocations as usize,
            user_allocations: self.turn_user_allocations as usize,
            address_allocations: self.turn_address_allocations as usize,
            user_bandwidth: self.turn_user_bandwidth,
            address_bandwidth: self.turn_address_bandwidth,
            // LIFETIME is 32 bits of seconds.
            max_lifetime: self
                .turn_max_lifetime
                .min(Duration::from_secs(u32::MAX.into())),
            tcp_per_ip: self.turn_tcp_per_ip as usize,
        }
    }

    /// The `iceServers` of each `welcome`: the built-in TURN server if it
    /// runs (`builtin`: where it bound, and its secret; `turns`: where it
    /// takes TLS, under HTTPS), else an external one, plus `--ice-server`
    /// entries.
    pub(crate) fn ice_servers(
        &self,
        builtin: Option<(SocketAddr, Secret)>,
        turns: Option<TurnsPort>,
    ) -> IceServers {
        let lifetime = self.turn_credential_lifetime;
        let turn = if !self.turn_urls.is_empty() {
            Some(turn::IceTurn::external(
                &self.turn_urls,
                self.turn_secret(None),
                lifetime,
            ))
        } else {
            builtin.map(|(bound, secret)| {
                turn::IceTurn::built_in(
                    bound,
                    turns,
                    self.turn_external_ip,
                    self.listen.ip(),
                    secret,
                    lifetime,
                )
            })
        };
        IceServers::new(&self.ice_servers, turn)
    }

    pub(crate) fn store_limits(&self) -> StoreLimits {
        StoreLimits {
            max_rooms: self.max_rooms,
        }
    }

    pub(crate) fn session_settings(&self) -> SessionSettings {
        SessionSettings {
            ping_interval: self.ping_interval,
            ping_timeout: self.ping_timeout,
            message_rate: self.message_rate,
            write_timeout: self.write_timeout,
        }
    }

    pub(crate) fn http_limits(&self) -> HttpLimits {
        HttpLimits {
            max_connections: self.max_http_connections as usize,
            request_timeout: self.http_request_timeout,
        }
    }

    /// The PROXY protocol on the web port, with `--proxy-protocol`: from
    /// the trusted proxies, within the time a request head may take.
    pub(crate) fn proxy_protocol(&self) -> Option<ProxyProtocol> {
        self.proxy_protocol.then(|| ProxyProtocol {
            trusted: self.trust_forwarded_for.clone().into(),
            wait: self.http_request_timeout,
        })
    }

    pub(crate) fn address_limits(&self) -> AddressLimits {
        AddressLimits {
            max_connections: self.max_connections,
            max_connections_per_address: self.max_connections_per_ip,
            room_creation_rate: self.room_creation_rate,
            // Behind a trusted proxy the clients are told apart: loopback
            // is then only the proxy itself or a local user, limited too.
            limit_loopback: self.limit_loopback || !self.trust_forwarded_for.is_empty(),
        }
    }

    /// The key of resume tokens: from `--secret`, else the one kept in the
    /// state directory (`kept`), else random (and then a restart cannot
    /// resume anyone).
    pub(crate) fn resume_key(&self, kept: Option<&[u8]>) -> ResumeKey {
        match (&self.secret, kept) {
            (Some(secret), _) => ResumeKey::new(secret.as_bytes()),
            (None, Some(kept)) => ResumeKey::new(kept),
            (None, None) => ResumeKey::new(&crate::random::bytes::<32>()),
        }
    }

    /// What to order certificates for, when `--acme-domain` is given.
    pub(crate) fn acme_settings(&self) -> Option<crate::web::acme::Settings> {
        if self.acme_domains.is_empty() {
            return None;
        }
        Some(crate::web::acme::Settings {
            domains: self.acme_domains.clone(),
            email: self.acme_email.clone(),
            directory: self.acme_directory.clone(),
            ca_cert: self.acme_ca_cert.clone(),
        })
    }

    /// The state directory: `--state-dir`, else the default for this user.
    pub(crate) fn state_dir(&self) -> std::path::PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(crate::state::default_dir)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{SystemTime, UNIX_EPOCH};

    use clap::Parser;
    use serde_json::value::RawValue;
    use serde_json::{Value, json};

    use super::*;
    use crate::turn::{PortRange, credentials};

    fn parse(list: &RawValue) -> Vec<Value> {
        serde_json::from_str(list.get()).unwrap()
    }

    /// The `iceServers` of `config` with its TURN server bound where it
    /// was told to listen.
    fn ice_servers(config: &Config) -> IceServers {
        let builtin = config
            .runs_builtin_turn()
            .then(|| (config.turn_listen_addr(), config.turn_secret(None)));
        config.ice_servers(builtin, None)
    }

    fn config(args: &[&str]) -> Config {
        let mut all = vec!["parlor"];
        all.extend_from_slice(args);
        Config::try_parse_from(all).unwrap()
    }

    #[test]
    fn a_cluster_instance_names_its_own_turn_address() {
        let cluster = ["--redis", "redis://10.0.0.9:6379", "--secret", "k"];
        let with = |more: &[&str]| config(&[&cluster[..], more].concat());
        assert!(
            with(&["--listen", "0.0.0.0:8080"])
                .cluster_turn_problem()
                .is_some()
        );
        assert!(
            with(&["--turn-listen", "[::]:3478"])
                .cluster_turn_problem()
                .is_some()
        );
        for fine in [
            &["--listen", "0.0.0.0:8080", "--turn-external-ip", "10.0.0.2"][..],
            &["--listen", "0.0.0.0:8080", "--turn-listen", "10.0.0.2:3478"],
            &["--listen", "0.0.0.0:8080", "--turn-disable"],
            &["--listen", "10.0.0.2:8080"],
        ] {
            assert_eq!(with(fine).cluster_turn_problem(), None, "{fine:?}");
        }
        // One instance alone may take the host from the request.
        assert_eq!(
            config(&["--listen", "0.0.0.0:8080"]).cluster_turn_problem(),
            None
        );
    }

    #[test]
    fn built_in_urls_and_fresh_credentials() {
        let ice = ice_servers(&config(&[
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
        let ice = ice_servers(&config(&[
            "--turn-listen",
            "0.0.0.0:3478",
            "--turn-external-ip",
            "203.0.113.5",
        ]));
        let list = parse(&ice.for_peer("p", Some("meet.example"), now));
        assert_eq!(list[0]["urls"][0], "stun:203.0.113.5:3478");

        let ice = ice_servers(&config(&["--listen", "0.0.0.0:8080"]));
        let list = parse(&ice.for_peer("p", Some("Meet.Example:8080"), now));
        assert_eq!(list[0]["urls"][0], "stun:meet.example:3478");
        let list = parse(&ice.for_peer("p", Some("[2001:db8::1]:8080"), now));
        assert_eq!(list[1]["urls"][1], "turn:[2001:db8::1]:3478?transport=tcp");
        let list = parse(&ice.for_peer("p", Some("evil/x?y:1"), now));
        assert_eq!(list[0]["urls"][0], "stun:127.0.0.1:3478");
        let list = parse(&ice.for_peer("p", None, now));
        assert_eq!(list[0]["urls"][0], "stun:127.0.0.1:3478");

        let ice = ice_servers(&config(&["--turn-listen", "[::1]:5000"]));
        let list = parse(&ice.for_peer("p", Some("x"), now));
        assert_eq!(list[0]["urls"][0], "stun:[::1]:5000");
    }

    #[test]
    fn external_server_and_disabled() {
        let now = SystemTime::now();
        let ice = ice_servers(&config(&[
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

        let ice = ice_servers(&config(&["--turn-disable"]));
        assert_eq!(ice.for_peer("p", None, now).get(), "[]");
        assert_eq!(
            IceServers::new(&[], None).for_peer("p", None, now).get(),
            "[]"
        );
    }

    #[test]
    fn turn_is_on_by_default_next_to_listen() {
        let config = Config::try_parse_from(["parlor"]).unwrap();
        assert!(!config.turn_disable);
        assert_eq!(config.turn_listen_addr(), "127.0.0.1:3478".parse().unwrap());
        assert!(config.turn_allowed_peers.is_empty());
        assert!(config.turn_urls.is_empty());
        let config = Config::try_parse_from(["parlor", "--listen", "0.0.0.0:80"]).unwrap();
        assert_eq!(config.turn_listen_addr(), "0.0.0.0:3478".parse().unwrap());
        let settings = config.turn_settings(config.turn_secret(None));
        assert_eq!(
            settings.relay_ports,
            PortRange {
                low: 49152,
                high: 65535
            }
        );
        assert_eq!(settings.user_bandwidth, 10_000_000);
        assert_eq!(settings.address_bandwidth, 30_000_000);
        assert_eq!(settings.address_allocations, 32);
        assert!(!settings.filter.permits("127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn turn_flags_parse() {
        let config = Config::try_parse_from([
            "parlor",
            "--turn-listen",
            "127.0.0.1:0",
            "--turn-allowed-peers",
            "127.0.0.0/8,10.0.0.0/8",
            "--turn-relay-ports",
            "40000-40100",
            "--turn-credential-lifetime",
            "1h",
            "--turn-user-bandwidth",
            "0",
        ])
        .unwrap();
        assert_eq!(config.turn_listen, Some("127.0.0.1:0".parse().unwrap()));
        assert_eq!(config.turn_allowed_peers.len(), 2);
        assert_eq!(config.turn_credential_lifetime, Duration::from_secs(3600));
        let settings = config.turn_settings(config.turn_secret(None));
        assert!(settings.filter.permits("127.0.0.1".parse().unwrap()));
        assert!(!settings.filter.permits("192.168.0.1".parse().unwrap()));
        assert!(Config::try_parse_from(["parlor", "--turn-allowed-peers", "localhost"]).is_err());
        assert!(Config::try_parse_from(["parlor", "--turn-credential-lifetime", "0s"]).is_err());
        // Absurd durations are clamped, not overflowed.
        let forever = Config::try_parse_from([
            "parlor",
            "--turn-max-lifetime",
            "100000000years",
            "--turn-credential-lifetime",
            "100000000years",
        ])
        .unwrap();
        let settings = forever.turn_settings(forever.turn_secret(None));
        assert_eq!(settings.max_lifetime, Duration::from_secs(u32::MAX.into()));
        let list = ice_servers(&forever).for_peer("p", None, std::time::SystemTime::now());
        let list: serde_json::Value = serde_json::from_str(list.get()).unwrap();
        let username = list[1]["username"].as_str().unwrap();
        assert!(
            credentials::check_username(username, 0).is_ok(),
            "{username}"
        );
        // An external server needs the shared secret, and excludes disabling.
        assert!(Config::try_parse_from(["parlor", "--turn-url", "turn:t.example:3478"]).is_err());
        let external = Config::try_parse_from([
            "parlor",
            "--turn-url",
            "turn:t.example:3478?transport=udp,turns:t.example:5349",
            "--turn-secret",
            "s",
        ])
        .unwrap();
        assert_eq!(external.turn_urls.len(), 2);
        assert!(
            Config::try_parse_from([
                "parlor",
                "--turn-url",
                "turn:t.example",
                "--turn-secret",
                "s",
                "--turn-disable"
            ])
            .is_err()
        );
    }

    #[test]
    fn given_secrets_win_over_kept_ones() {
        let kept: &[u8] = b"kept-key-0123456789";
        let plain = config(&[]);
        let idle = std::time::Duration::from_secs(60);
        let token = plain.resume_key(Some(kept)).sign(
            "room",
            "AAAAAAAAAAA",
            2,
            std::time::SystemTime::now(),
        );
        // The kept key is a key like any other: the next start takes its tokens.
        assert!(
            plain
                .resume_key(Some(kept))
                .verify("room", &token, idle)
                .is_some()
        );
        assert!(
            plain
                .resume_key(None)
                .verify("room", &token, idle)
                .is_none()
        );
        let given = config(&["--secret", "operator"]);
        assert!(
            given
                .resume_key(Some(kept))
                .verify("room", &token, idle)
                .is_none()
        );
        assert_eq!(plain.turn_secret(Some(kept)).as_bytes(), kept);
        let given = config(&["--turn-secret", "operator"]);
        assert_eq!(given.turn_secret(Some(kept)).as_bytes(), b"operator");
        let dir = config(&["--state-dir", "/var/lib/parlor"]);
        assert_eq!(dir.state_dir(), std::path::PathBuf::from("/var/lib/parlor"));
    }

    #[test]
    fn proxy_protocol_is_from_the_trusted_proxies_only() {
        assert!(config(&[]).proxy_protocol().is_none());
        let on = config(&[
            "--proxy-protocol",
            "--trust-forwarded-for",
            "127.0.0.1/32",
            "--http-request-timeout",
            "3s",
        ]);
        let proxy = on.proxy_protocol().unwrap();
        assert_eq!(proxy.trusted.as_ref(), on.trust_forwarded_for.as_slice());
        assert_eq!(proxy.wait, Duration::from_secs(3));
        let mut alone = vec!["parlor", "--proxy-protocol"];
        assert!(
            Config::try_parse_from(&alone).is_err(),
            "a header from no proxy at all"
        );
        alone.extend(["--trust-forwarded-for", "10.0.0.0/8"]);
        assert!(Config::try_parse_from(&alone).is_ok());
    }
}
