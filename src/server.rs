//! Starting and stopping the server: binds the listener, runs the HTTP
//! service and the idle-room sweeper, and stops them on a signal.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::config::Config;
use crate::http;
use crate::hub::Hub;
use crate::session::Settings;
use crate::tls;
use crate::turn::{self, TurnServer};

/// How long open connections get to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A bound, not yet running server.
pub struct Server {
    listener: TcpListener,
    tls: Option<tls::Certificate>,
    hub: Arc<Hub>,
    config: Config,
    turn: Option<TurnServer>,
}

impl Server {
    pub async fn bind(mut config: Config) -> io::Result<Server> {
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(tls::from_files(cert, key)?),
            _ if config.tls_self_signed => Some(tls::self_signed(config.listen.ip())?),
            _ => None,
        };
        let listener = TcpListener::bind(config.listen).await?;
        let turn = bind_turn(&mut config).await?;
        let hub = Arc::new(Hub::new(&config));
        Ok(Server {
            listener,
            tls,
            hub,
            config,
            turn,
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The server's certificate, when it serves HTTPS.
    pub fn certificate(&self) -> Option<&tls::Certificate> {
        self.tls.as_ref()
    }

    /// Where the built-in STUN/TURN server listens (UDP and TCP), if it runs.
    pub fn turn_addr(&self) -> Option<SocketAddr> {
        self.turn.as_ref().map(TurnServer::local_addr)
    }

    /// Serves until `shutdown` completes; then stops accepting, asks every
    /// WebSocket client to go (close status 1001, so that clients reconnect
    /// to the next instance) and waits up to [`SHUTDOWN_GRACE`] for them.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> io::Result<()> {
        let sweeper = tokio::spawn(sweep(
            self.hub.clone(),
            self.config.room_idle_timeout,
            self.config.resume_grace,
        ));
        let settings = Settings {
            ping_interval: self.config.ping_interval,
            ping_timeout: self.config.ping_timeout,
            message_rate: self.config.message_rate,
        };
        let _turn = self
            .turn
            .map(|turn| turn.spawn(self.hub.metrics().turn.clone()));
        let hub = self.hub.clone();
        let app = http::router(self.hub, settings, &self.config.allowed_origins)
            .into_make_service_with_connect_info::<http::ClientAddr>();
        let stopping = hub.clone();
        let shutdown = async move {
            shutdown.await;
            stopping.begin_shutdown();
        };
        let result = match self.tls {
            Some(certificate) => {
                let listener = tls::TlsListener::new(self.listener, certificate.config)?;
                axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await
            }
            None => {
                axum::serve(http::PlainListener(self.listener), app)
                    .with_graceful_shutdown(shutdown)
                    .await
            }
        };
        // WebSocket sessions outlive the HTTP server's own draining.
        if tokio::time::timeout(SHUTDOWN_GRACE, hub.drained())
            .await
            .is_err()
        {
            tracing::warn!("closing with WebSocket connections still open");
        }
        sweeper.abort();
        result
    }
}

/// Binds the built-in STUN/TURN server, unless it is disabled or an
/// external one is configured, and writes into `config` what the hub must
/// know to hand out its URLs and credentials: the bound address, the secret
/// (made here if none is set), or that it does not run. When `--turn-listen`
/// is not set and the default port is taken (another Parlor, a coturn), the
/// server runs without it rather than not at all.
async fn bind_turn(config: &mut Config) -> io::Result<Option<TurnServer>> {
    if config.turn_disable || !config.turn_urls.is_empty() {
        return Ok(None);
    }
    if config.turn_secret.is_none() {
        let secret = turn::credentials::Secret::generate();
        config.turn_secret = Some(String::from_utf8_lossy(secret.as_bytes()).into_owned());
    }
    let settings = turn::Settings::from_config(config);
    let addr = settings.listen;
    match TurnServer::bind(settings).await {
        Ok(server) => {
            config.turn_listen = Some(server.local_addr());
            Ok(Some(server))
        }
        Err(err) if config.turn_listen.is_none() => {
            tracing::warn!(%addr, %err, "cannot listen for STUN/TURN; running without it \
                (set --turn-listen, or --turn-disable to silence this)");
            config.turn_disable = true;
            Ok(None)
        }
        Err(err) => Err(io::Error::new(
            err.kind(),
            format!("cannot listen for STUN/TURN on {addr}: {err}"),
        )),
    }
}

/// Gives up seats not resumed in time, and forgets idle rooms and
/// addresses, each often enough for its own timeout.
async fn sweep(hub: Arc<Hub>, idle: Duration, grace: Duration) {
    let period = |timeout: Duration| {
        (timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(60))
    };
    let mut idle_ticks = tokio::time::interval(period(idle));
    let mut away_ticks = tokio::time::interval(period(grace).min(Duration::from_secs(1)));
    loop {
        tokio::select! {
            _ = idle_ticks.tick() => {
                let forgotten = hub.forget_idle(idle);
                if forgotten > 0 {
                    tracing::debug!(forgotten, "forgot idle rooms");
                }
            }
            _ = away_ticks.tick() => hub.release_away(),
        }
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
