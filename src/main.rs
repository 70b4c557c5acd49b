//! The `parlor` binary: reads the configuration and runs the server.

use clap::Parser;
use tracing_subscriber::EnvFilter;

use parlor::config::{Config, LogFormat};
use parlor::server::Server;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config = Config::parse();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("PARLOR_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }

    let listen = config.listen;
    let server = match Server::bind(config).await {
        Ok(server) => server,
        Err(err) => {
            eprintln!("parlor: cannot listen on {listen}: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match server.local_addr() {
        // Tests and scripts read this line to learn the port of --listen :0.
        Ok(addr) => {
            let scheme = if server.certificate().is_some() {
                "https"
            } else {
                "http"
            };
            println!("Parlor is running at {scheme}://{addr}/");
        }
        Err(err) => tracing::warn!(%err, "cannot read the bound address"),
    }
    if let Some(addr) = server.turn_addr() {
        // Tests read this line to learn the port of --turn-listen :0.
        println!("Parlor STUN/TURN is listening on {addr} (UDP and TCP)");
    }
    if let Some(addr) = server.turns_addr() {
        println!("Parlor TURN over TLS is listening on {addr}");
    }
    if let Some(certificate) = server.certificate() {
        if !certificate.names.is_empty() {
            println!(
                "Self-signed certificate for {}",
                certificate.names.join(", ")
            );
        }
        println!(
            "Certificate SHA-256 fingerprint {}",
            certificate.fingerprint
        );
    }
    match server.run(parlor::shutdown::signal()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("parlor: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
