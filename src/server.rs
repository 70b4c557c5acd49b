//! Starting and stopping the server: the one place that builds every part
//! from the flags and wires them together (the store and the delivery the
//! hub uses are chosen here), binds the listeners, runs the HTTP service,
//! the TURN server and the sweepers, and stops them on a signal. It also
//! reads and keeps what a restart must not forget, in the state directory
//! (`state`): the keys, the list of rooms, and the ACME certificate.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::net::TcpListener;

use crate::config::Config;
use crate::limits::AddressGate;
use crate::metrics;
use crate::rooms::{self, MemoryStore, RedisEvents, RedisStore, RoomStore};
use crate::shutdown::Shutdown;
use crate::signaling::{
    ClusterDelivery, Delivery, Hub, HubSettings, LocalConnections, Metrics, OutboxLimits,
    listen_cluster,
};
use crate::state::rooms::KeptRooms;
use crate::state::{self, StateDir};
use crate::turn::{TLS_ALPN, TurnMetrics, TurnServer, TurnsPort};
use crate::web::{self, Certificate};

/// How long open connections get to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A bound, not yet running server.
pub struct Server {
    listener: TcpListener,
    tls: Option<Certificate>,
    /// The task that obtains and renews certificates, with `--acme-domain`.
    acme: Option<web::acme::Renewer>,
    turn: Option<TurnServer>,
    /// The port of its own for TURN over TLS (`--turns-listen`).
    turns: Option<TcpListener>,
    turn_metrics: Arc<TurnMetrics>,
    app: web::AppState,
    room_idle_timeout: Duration,
    unjoined_room_timeout: Duration,
    resume_grace: Duration,
    http: web::HttpLimits,
    /// With `--proxy-protocol`: the header each connection opens with.
    proxy_protocol: Option<web::ProxyProtocol>,
    /// The rooms, as the hub's store holds them, for the room list.
    store: Arc<dyn RoomStore>,
    /// The list of rooms in the state directory, when there is one.
    kept_rooms: Option<Arc<KeptRooms>>,
    /// With `--redis`: what ties this instance to the others.
    cluster: Option<Cluster>,
}

/// An instance's part in a cluster.
struct Cluster {
    store: Arc<RedisStore>,
    delivery: Arc<ClusterDelivery>,
    /// Subscribed before the server serves anyone, so that no event for
    /// its first members is missed.
    events: RedisEvents,
}

/// What the state directory gave: each is `None` without a directory.
#[derive(Default)]
struct Kept {
    resume_key: Option<Vec<u8>>,
    turn_secret: Option<Vec<u8>>,
    rooms: Option<Arc<KeptRooms>>,
    dir: Option<StateDir>,
}

/// Reads the state directory, making what is missing. A directory given
/// with `--state-dir` must work; the default one may not (a read-only home),
/// and then the server runs as it did before it had one, with a warning:
/// random keys, and no call or invite link survives a restart.
fn read_state(config: &Config) -> io::Result<Kept> {
    let path = config.state_dir();
    let read = || -> io::Result<Kept> {
        let dir = StateDir::open(&path)?;
        Ok(Kept {
            resume_key: match config.secret {
                None => Some(dir.key(state::RESUME_KEY)?),
                Some(_) => None,
            },
            turn_secret: match config.turn_secret {
                None if config.runs_builtin_turn() => Some(dir.key(state::TURN_SECRET)?),
                _ => None,
            },
            // In a cluster the rooms live in Redis, which outlives any
            // instance's restart.
            rooms: if config.redis.is_some() {
                None
            } else {
                match KeptRooms::load(&dir, SystemTime::now(), config.room_idle_timeout) {
                    Ok(rooms) => Some(Arc::new(rooms)),
                    Err(err) => {
                        tracing::warn!(path = %path.display(), %err, "keeping no room list; \
                            invite links will not survive a restart");
                        None
                    }
                }
            },
            dir: Some(dir),
        })
    };
    match read() {
        Ok(kept) => Ok(kept),
        Err(err) if config.state_dir.is_none() => {
            tracing::warn!(path = %path.display(), %err, "cannot use the state directory; \
                calls and invite links will not survive a restart (set --state-dir)");
            Ok(Kept::default())
        }
        Err(err) => Err(io::Error::new(
            err.kind(),
            format!("state directory {}: {err}", path.display()),
        )),
    }
}

impl Server {
    pub async fn bind(config: Config) -> io::Result<Server> {
        let kept = read_state(&config)?;
        let (tls, acme) = match (&config.tls_cert, &config.tls_key, config.acme_settings()) {
            (Some(cert), Some(key), _) => (Some(web::from_files(cert, key)?), None),
            (_, _, Some(settings)) => {
                let dir = kept.dir.clone().ok_or_else(|| {
                    io::Error::other("--acme-domain needs a state directory (set --state-dir)")
                })?;
                let (certificate, renewer) = web::acme::start(settings, dir, config.listen.ip())?;
                (Some(certificate), Some(renewer))
            }
            _ if config.tls_self_signed => {
                let certificate = web::self_signed(config.listen.ip(), web::Acme::No)?;
                (Some(certificate), None)
            }
            _ => (None, None),
        };
        let listener = TcpListener::bind(config.listen).await?;
        let turn = bind_turn(&config, kept.turn_secret.as_deref()).await?;
        let turns = bind_turns(&config, tls.is_some(), turn.is_some()).await?;
        // TURN over TLS: on --turns-listen's port if there is one, else on
        // the HTTPS port.
        let turns_port = match (&turns, &tls) {
            (Some(turns), _) => Some(TurnsPort::Dedicated(turns.local_addr()?.port())),
            (None, Some(_)) => Some(TurnsPort::Https(listener.local_addr()?.port())),
            (None, None) => None,
        };
        let ice_servers = config.ice_servers(
            turn.as_ref()
                .map(|(server, secret)| (server.local_addr(), secret.clone())),
            turns_port,
        );

        let signaling_metrics = Arc::new(Metrics::default());
        let cluster = match &config.redis {
            Some(url) => {
                let store = Arc::new(RedisStore::connect(url, config.store_limits()).await?);
                let events = store.events().await.map_err(|err| {
                    io::Error::other(format!("cannot subscribe to Redis at {url}: {err}"))
                })?;
                let delivery = Arc::new(ClusterDelivery::new(signaling_metrics.clone()));
                Some(Cluster {
                    store,
                    delivery,
                    events,
                })
            }
            None => None,
        };
        let (store, delivery): (Arc<dyn RoomStore>, Arc<dyn Delivery>) = match &cluster {
            Some(cluster) => (cluster.store.clone(), cluster.delivery.clone()),
            None => (
                Arc::new(MemoryStore::new(config.store_limits())),
                Arc::new(LocalConnections::new(signaling_metrics.clone())),
            ),
        };
        if let Some(rooms) = &kept.rooms {
            let made = rooms.restore(store.as_ref(), SystemTime::now()).await;
            if made > 0 {
                tracing::info!(rooms = made, "rooms kept from before the restart");
            }
        }
        let hub = Arc::new(Hub::new(
            HubSettings {
                max_capacity: config.max_room_capacity.into(),
                send_queue: OutboxLimits {
                    messages: config.send_queue as usize,
                    bytes: config.send_queue_bytes,
                },
                resume_key: config.resume_key(kept.resume_key.as_deref()),
                resume_grace: config.resume_grace,
                room_idle_timeout: config.room_idle_timeout,
                ice_servers,
            },
            store.clone(),
            delivery,
            signaling_metrics,
        ));
        let turn_metrics = Arc::new(TurnMetrics::default());
        let mut registry = metrics::Registry::default();
        registry.register(hub.clone());
        registry.register(turn_metrics.clone());
        if let Some(renewer) = &acme {
            registry.register(renewer.metrics());
        }
        let app = web::AppState {
            hub,
            sessions: config.session_settings(),
            addresses: AddressGate::new(config.address_limits()),
            shutdown: Shutdown::new(),
            metrics: Arc::new(registry),
            allowed_origins: web::allowed_origins(&config.allowed_origins),
            trusted_proxies: config.trust_forwarded_for.clone().into(),
            tls: tls.is_some(),
            kept_rooms: kept.rooms.clone(),
        };
        Ok(Server {
            listener,
            tls,
            acme,
            turn: turn.map(|(server, _)| server),
            turns,
            turn_metrics,
            app,
            room_idle_timeout: config.room_idle_timeout,
            unjoined_room_timeout: config.unjoined_room_timeout,
            resume_grace: config.resume_grace,
            http: config.http_limits(),
            proxy_protocol: config.proxy_protocol(),
            store,
            kept_rooms: kept.rooms,
            cluster,
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The server's certificate, when it serves HTTPS.
    pub fn certificate(&self) -> Option<&Certificate> {
        self.tls.as_ref()
    }

    /// Where the built-in STUN/TURN server listens (UDP and TCP), if it runs.
    pub fn turn_addr(&self) -> Option<SocketAddr> {
        self.turn.as_ref().map(TurnServer::local_addr)
    }

    /// Where TURN over TLS has a port of its own (`--turns-listen`).
    pub fn turns_addr(&self) -> Option<SocketAddr> {
        self.turns.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Serves until `shutdown` completes; then stops accepting, asks every
    /// WebSocket client to go (close status 1001, so that clients reconnect
    /// to the next instance) and waits up to [`SHUTDOWN_GRACE`] for them.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> io::Result<()> {
        let kept = self.kept_rooms.map(|rooms| (rooms, self.store));
        let sweeper = tokio::spawn(sweep(
            self.app.clone(),
            self.room_idle_timeout,
            self.unjoined_room_timeout,
            self.resume_grace,
            kept,
        ));
        let cluster = self.cluster.map(|cluster| {
            [
                tokio::spawn(rooms::keep_alive(cluster.store.clone())),
                tokio::spawn(listen_cluster(
                    cluster.store,
                    cluster.delivery,
                    cluster.events,
                )),
            ]
        });
        let mut turn = self.turn.map(|turn| turn.spawn(self.turn_metrics));
        if let (Some(turn), Some(listener), Some(certificate)) = (&mut turn, self.turns, &self.tls)
        {
            // The same config as HTTPS: a renewed certificate reaches TURN too.
            turn.serve_tls(listener, certificate.config.clone());
        }
        let acme = match (self.acme, &self.tls) {
            (Some(renewer), Some(certificate)) => Some(renewer.spawn(certificate.keys.clone())),
            _ => None,
        };
        let hub = self.app.hub.clone();
        let stopping = self.app.shutdown.clone();
        let router = web::router(self.app);
        let shutdown = async move {
            shutdown.await;
            stopping.begin();
        };
        // Whatever clients do (a request sent half way, a WebSocket that
        // never closes), the process ends within SHUTDOWN_GRACE of the
        // signal: the HTTP connections and the WebSocket sessions drain
        // against the same deadline.
        let until = match self.tls {
            Some(certificate) => {
                // The HTTPS port serves TURN over TLS too.
                let port = self.listener.local_addr()?.port();
                let handoff = turn.as_ref().map(|turn| {
                    let entry = turn.tls_entry();
                    web::TurnHandoff {
                        serve: Box::new(move |stream, remote| entry.serve(stream, remote, port)),
                        alpn: TLS_ALPN,
                        wait: self.http.request_timeout,
                        waiting: self.http.max_connections,
                    }
                });
                // The PROXY header comes before the TLS handshake: the TLS
                // listener reads it.
                let listener = web::TlsListener::new(
                    self.listener,
                    certificate.config,
                    handoff,
                    self.proxy_protocol,
                )?;
                web::serve(listener, router, self.http, None, shutdown, SHUTDOWN_GRACE).await
            }
            None => {
                let listener = web::PlainListener(self.listener);
                let proxy = self.proxy_protocol;
                web::serve(listener, router, self.http, proxy, shutdown, SHUTDOWN_GRACE).await
            }
        };
        // WebSocket sessions outlive the HTTP server's own draining.
        if tokio::time::timeout_at(until, hub.drained()).await.is_err() {
            tracing::warn!("closing with WebSocket connections still open");
        }
        sweeper.abort();
        if let Some(acme) = acme {
            acme.abort();
        }
        for task in cluster.into_iter().flatten() {
            task.abort();
        }
        Ok(())
    }
}

/// Binds the built-in STUN/TURN server, unless it is disabled or an
/// external one is configured; returns it with the secret its credentials
/// use. When `--turn-listen` is not set and the default port is taken
/// (another Parlor, a coturn), the server runs without it rather than not
/// at all.
async fn bind_turn(
    config: &Config,
    kept_secret: Option<&[u8]>,
) -> io::Result<Option<(TurnServer, crate::turn::credentials::Secret)>> {
    if !config.runs_builtin_turn() {
        return Ok(None);
    }
    if let Some(problem) = config.cluster_turn_problem() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, problem));
    }
    let secret = config.turn_secret(kept_secret);
    let settings = config.turn_settings(secret.clone());
    let addr = settings.listen;
    crate::turn::raise_file_limit(&settings);
    match TurnServer::bind(settings).await {
        Ok(server) => Ok(Some((server, secret))),
        Err(err) if config.turn_listen.is_none() => {
            tracing::warn!(%addr, %err, "cannot listen for STUN/TURN; running without it \
                (set --turn-listen, or --turn-disable to silence this)");
            Ok(None)
        }
        Err(err) => Err(io::Error::new(
            err.kind(),
            format!("cannot listen for STUN/TURN on {addr}: {err}"),
        )),
    }
}

/// Binds `--turns-listen`, which needs a certificate (`tls`) and the
/// built-in TURN server (`turn`).
async fn bind_turns(config: &Config, tls: bool, turn: bool) -> io::Result<Option<TcpListener>> {
    let Some(addr) = config.turns_listen else {
        return Ok(None);
    };
    let refuse =
        |why: &str| io::Error::new(io::ErrorKind::InvalidInput, format!("--turns-listen {why}"));
    if !tls {
        return Err(refuse(
            "needs a certificate: --tls-cert and --tls-key, or --tls-self-signed",
        ));
    }
    if !turn {
        return Err(refuse(
            "needs the built-in STUN/TURN server, which does not run",
        ));
    }
    TcpListener::bind(addr).await.map(Some).map_err(|err| {
        io::Error::new(
            err.kind(),
            format!("cannot listen for TURN over TLS on {addr}: {err}"),
        )
    })
}

/// The room list and the store it follows.
type KeptWithStore = (Arc<KeptRooms>, Arc<dyn RoomStore>);

/// Gives up seats not resumed in time, and forgets idle rooms and
/// addresses, each often enough for its own timeout; then brings the room
/// list up to date.
async fn sweep(
    app: web::AppState,
    idle: Duration,
    unjoined: Duration,
    grace: Duration,
    kept: Option<KeptWithStore>,
) {
    let period = |timeout: Duration| {
        (timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(60))
    };
    let mut idle_ticks = tokio::time::interval(period(idle.min(unjoined)));
    let mut away_ticks = tokio::time::interval(period(grace).min(Duration::from_secs(1)));
    loop {
        tokio::select! {
            _ = idle_ticks.tick() => {
                app.addresses.prune();
                let forgotten = app.hub.forget_idle(idle, unjoined).await;
                if forgotten > 0 {
                    tracing::debug!(forgotten, "forgot idle rooms");
                }
                if let Some((rooms, store)) = &kept
                    && let Err(err) = rooms.sweep(store.as_ref(), SystemTime::now()).await
                {
                    tracing::warn!(%err, "cannot write the room list");
                }
            }
            _ = away_ticks.tick() => app.hub.release_away().await,
        }
    }
}
