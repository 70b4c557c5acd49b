//! Shutdown: one flag, set once, that whoever must stop can check or await.
//! Health checks fail from the moment it is set, and every session closes
//! (status 1001, so that clients reconnect to the next instance).

use tokio::sync::watch;

#[derive(Clone)]
pub(crate) struct Shutdown {
    started: watch::Sender<bool>,
}

impl Shutdown {
    pub(crate) fn new() -> Self {
        Shutdown {
            started: watch::Sender::new(false),
        }
    }

    /// Marks the server as shutting down.
    pub(crate) fn begin(&self) {
        self.started.send_replace(true);
    }

    pub(crate) fn is_started(&self) -> bool {
        *self.started.borrow()
    }

    /// Completes once the server is shutting down.
    pub(crate) fn started(&self) -> impl Future<Output = ()> + Send + 'static + use<> {
        let mut receiver = self.started.subscribe();
        async move {
            let _ = receiver.wait_for(|stopping| *stopping).await;
        }
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn signal() {
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
