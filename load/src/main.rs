//! `parlor-load`: puts a Parlor server under load over real WebSockets and
//! prints what it measured, as progress on stderr and a JSON summary on
//! stdout. See docs/benchmarks.md for how the figures are taken.

mod churn;
mod client;
mod idle;
mod relay;
mod report;

use clap::{Parser, Subcommand};

use crate::client::{Result, Target};

#[derive(Debug, Parser)]
#[command(name = "parlor-load", about, version)]
struct Cli {
    /// The server, as http://IP:PORT.
    #[arg(long, global = true, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Where the second member of each pair connects (relay, churn): another
    /// instance of a cluster sharing rooms through Redis. Default: --url.
    #[arg(long, global = true)]
    peer_url: Option<String>,
    /// Worker threads of the load tool (default: one per core).
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Pairs play ping-pong through the server: throughput and round trip.
    Relay(relay::RelayArgs),
    /// Many joined connections held open: memory per connection.
    Idle(idle::IdleArgs),
    /// Rooms created, joined and left: rooms per second and join latency.
    Churn(churn::ChurnArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = cli.threads {
        runtime.worker_threads(threads);
    }
    let runtime = runtime.enable_all().build().expect("a tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(summary) => {
            println!("{summary}");
            std::process::ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("parlor-load: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<String> {
    let target = Target::parse(&cli.url)?;
    let peer = Target::parse(cli.peer_url.as_deref().unwrap_or(&cli.url))?;
    let summary = match cli.mode {
        Mode::Relay(args) => serde_json::to_string(&relay::run(target, peer, args).await?),
        Mode::Idle(args) => serde_json::to_string(&idle::run(target, args).await?),
        Mode::Churn(args) => serde_json::to_string(&churn::run(target, peer, args).await?),
    };
    Ok(summary?)
}
