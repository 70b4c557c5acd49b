//! `parlor-floor`: the floor for Parlor's relay benchmark. A WebSocket
//! forwarder that does no parsing: the first two connections to the same
//! path (`/ws/pair-7`) are paired and each frame from one goes to the other
//! as it is. Whatever Parlor costs above this is the price of the protocol.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::{WebSocketStream, accept_hdr_async};

#[derive(Debug, Parser)]
#[command(name = "parlor-floor", about)]
struct Cli {
    #[arg(long, default_value = "127.0.0.1:9090")]
    listen: SocketAddr,
}

type Ws = WebSocketStream<TcpStream>;
type Waiting = Arc<Mutex<HashMap<String, oneshot::Sender<Ws>>>>;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    let listener = TcpListener::bind(cli.listen).await?;
    println!(
        "parlor-floor listening on http://{}/",
        listener.local_addr()?
    );
    let waiting = Waiting::default();
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(pair_up(stream, waiting.clone()));
    }
}

// The handshake callback's error type is tungstenite's, large or not.
#[allow(clippy::result_large_err)]
async fn pair_up(stream: TcpStream, waiting: Waiting) {
    let mut path = String::new();
    let callback = |request: &Request, response: Response| {
        path = request.uri().path().to_owned();
        Ok(response)
    };
    let Ok(ws) = accept_hdr_async(stream, callback).await else {
        return;
    };
    let partner = waiting.lock().unwrap().remove(&path);
    let Some(partner) = partner else {
        let (tx, rx) = oneshot::channel();
        waiting.lock().unwrap().insert(path, tx);
        if let Ok(other) = rx.await {
            forward_both_ways(ws, other).await;
        }
        return;
    };
    // The first of the pair is waiting for us: hand our socket over.
    let _ = partner.send(ws);
}

async fn forward_both_ways(a: Ws, b: Ws) {
    let (mut a_tx, mut a_rx) = a.split();
    let (mut b_tx, mut b_rx) = b.split();
    let a_to_b = async move {
        while let Some(Ok(frame)) = a_rx.next().await {
            if frame.is_close() || b_tx.send(frame).await.is_err() {
                break;
            }
        }
    };
    let b_to_a = async move {
        while let Some(Ok(frame)) = b_rx.next().await {
            if frame.is_close() || a_tx.send(frame).await.is_err() {
                break;
            }
        }
    };
    tokio::select! {
        () = a_to_b => {}
        () = b_to_a => {}
    }
}
