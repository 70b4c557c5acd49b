//! The listening UDP socket's task: one datagram at a time, handed to the
//! core through [`Shared::handle_client_packet`], with the reply sent back
//! to where the datagram came from.

use std::sync::Arc;

use super::super::core::{ClientKey, MAX_DATAGRAM};
use super::{Origin, Shared};

pub(super) async fn serve(shared: Arc<Shared>) {
    let udp = shared.udp.clone();
    let mut buf = vec![0u8; MAX_DATAGRAM + 1];
    let mut out = Vec::with_capacity(512);
    loop {
        let (len, from) = match udp.recv_from(&mut buf).await {
            Ok(received) => received,
            Err(err) => {
                tracing::debug!(%err, "TURN UDP receive error");
                continue;
            }
        };
        let key = ClientKey::Udp(from);
        if shared.handle_client_packet(key, Origin::Udp, &buf[..len], &mut out) {
            // Replies are rare next to data: wait for room rather than drop.
            let _ = udp.send_to(&out, from).await;
        }
    }
}
