//! Framing relayed data for the client, in place: a datagram from a peer is
//! read into a buffer at [`HEADROOM`], and the ChannelData or Data
//! indication header is written in front of it, so relaying copies nothing.
//! The core says which framing a datagram gets ([`super::Framing`]); these
//! functions, pure byte work, are used by the relay shell after unlocking.

use std::net::SocketAddr;
use std::ops::Range;

use super::super::stun::{self, Class, TransactionId, attr, channel_data, method};

/// Room before a relayed datagram for the largest Data indication header:
/// STUN header, XOR-PEER-ADDRESS for IPv6, DATA attribute header.
pub(crate) const HEADROOM: usize = 20 + 24 + 4;
/// The largest UDP payload.
pub(crate) const MAX_DATAGRAM: usize = 65_535;

/// Frames `len` bytes at `buf[HEADROOM..]` as ChannelData (padded to four
/// bytes on a stream); returns the frame's range in `buf`.
pub(crate) fn channel_data_frame(
    buf: &mut [u8],
    len: usize,
    channel: u16,
    stream: bool,
) -> Range<usize> {
    let start = HEADROOM - 4;
    buf[start..HEADROOM].copy_from_slice(&channel_data::header(channel, len as u16));
    let mut end = HEADROOM + len;
    if stream {
        let padded = HEADROOM + stun::padded(len);
        buf[end..padded].fill(0);
        end = padded;
    }
    start..end
}

/// Frames `len` bytes at `buf[HEADROOM..]` as a Data indication from `peer`,
/// writing the header in the headroom; None if too big for STUN.
pub(crate) fn data_indication_frame(
    buf: &mut [u8],
    len: usize,
    peer: SocketAddr,
    tid: TransactionId,
) -> Option<Range<usize>> {
    let mut address = [0u8; 20];
    let address_len = stun::encode_xor_address(&mut address, peer, &tid);
    let header_len = stun::HEADER_LEN + 4 + address_len + 4;
    let padded = stun::padded(len);
    let body_len = header_len - stun::HEADER_LEN + padded;
    if body_len > usize::from(u16::MAX) {
        return None;
    }
    let start = HEADROOM - header_len;
    let header = &mut buf[start..HEADROOM];
    header[0..2]
        .copy_from_slice(&stun::message_type(method::DATA, Class::Indication).to_be_bytes());
    header[2..4].copy_from_slice(&(body_len as u16).to_be_bytes());
    header[4..8].copy_from_slice(&stun::MAGIC_COOKIE.to_be_bytes());
    header[8..20].copy_from_slice(&tid);
    header[20..22].copy_from_slice(&attr::XOR_PEER_ADDRESS.to_be_bytes());
    header[22..24].copy_from_slice(&(address_len as u16).to_be_bytes());
    header[24..24 + address_len].copy_from_slice(&address[..address_len]);
    let data = 24 + address_len;
    header[data..data + 2].copy_from_slice(&attr::DATA.to_be_bytes());
    header[data + 2..data + 4].copy_from_slice(&(len as u16).to_be_bytes());
    buf[HEADROOM + len..HEADROOM + padded].fill(0);
    Some(start..HEADROOM + padded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::turn::stun::Message;

    #[test]
    fn data_indications_parse_back() {
        for peer in ["198.51.100.7:4000", "[2001:db8::7]:4000"] {
            let peer: SocketAddr = peer.parse().unwrap();
            for len in [0usize, 1, 3, 4, 5, 100, 1500] {
                let mut buf = vec![0xAAu8; HEADROOM + len + 4];
                for (i, b) in buf[HEADROOM..HEADROOM + len].iter_mut().enumerate() {
                    *b = i as u8;
                }
                let range = data_indication_frame(&mut buf, len, peer, [9; 12]).unwrap();
                let msg = Message::parse(&buf[range]).unwrap();
                assert_eq!((msg.method, msg.class), (method::DATA, Class::Indication));
                assert_eq!(msg.get_xor_address(attr::XOR_PEER_ADDRESS), Some(Ok(peer)));
                let data = msg.get(attr::DATA).unwrap();
                assert_eq!(data.len(), len);
                assert!(data.iter().enumerate().all(|(i, b)| *b == i as u8));
            }
        }
        let mut buf = vec![0u8; HEADROOM + MAX_DATAGRAM + 4];
        assert!(
            data_indication_frame(
                &mut buf,
                MAX_DATAGRAM,
                "1.2.3.4:5".parse().unwrap(),
                [0; 12]
            )
            .is_none()
        );
    }

    #[test]
    fn channel_data_frames_pad_on_streams_only() {
        let mut buf = vec![0xAAu8; HEADROOM + 16];
        let range = channel_data_frame(&mut buf, 5, 0x4001, false);
        assert_eq!(range.len(), 9);
        assert_eq!(
            channel_data::parse(&buf[range]),
            Some((0x4001, &[0xAA; 5][..]))
        );
        let range = channel_data_frame(&mut buf, 5, 0x4001, true);
        assert_eq!(range.len(), 12);
        assert_eq!(&buf[range.end - 3..range.end], &[0, 0, 0]);
    }
}
