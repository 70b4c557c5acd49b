//! Identifiers and tokens that must not be guessable or forgeable: room ids
//! are the only thing that keeps a call private, so they come from the
//! operating system's CSPRNG; resume tokens are signed, so that a member can
//! take its seat back, even from a restarted server that shares the key.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::registry::Resume;

/// 128 random bits, as 22 characters of `[A-Za-z0-9_-]`.
pub fn room_id() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<16>())
}

/// 64 random bits: unique within a room, which is all a peer id needs.
pub fn peer_id() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<PEER_ID_BYTES>())
}

const PEER_ID_BYTES: usize = 8;
const MAC_BYTES: usize = 16;

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    bytes
}

/// Signs and checks resume tokens. A token names a room, a peer id in it
/// and the room's capacity, and is valid for as long as the key is.
#[derive(Clone)]
pub struct ResumeKey {
    key: Vec<u8>,
}

impl ResumeKey {
    pub fn new(key: &[u8]) -> Self {
        ResumeKey { key: key.to_vec() }
    }

    fn mac(&self, room: &str, peer: &[u8], capacity: u8) -> [u8; MAC_BYTES] {
        let mut mac = Hmac::<Sha1>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(b"parlor-resume\0");
        mac.update(room.as_bytes());
        mac.update(b"\0");
        mac.update(peer);
        mac.update(&[capacity]);
        let full = mac.finalize().into_bytes();
        let mut out = [0; MAC_BYTES];
        out.copy_from_slice(&full[..MAC_BYTES]);
        out
    }

    /// The token for `peer_id` (made by [`peer_id`]) in `room`.
    pub fn sign(&self, room: &str, peer_id: &str, capacity: usize) -> String {
        let peer = URL_SAFE_NO_PAD
            .decode(peer_id)
            .expect("peer ids are base64url");
        let capacity = u8::try_from(capacity).expect("room capacities fit in a byte");
        let mut token = Vec::with_capacity(1 + peer.len() + MAC_BYTES);
        token.push(capacity);
        token.extend_from_slice(&peer);
        token.extend_from_slice(&self.mac(room, &peer, capacity));
        URL_SAFE_NO_PAD.encode(token)
    }

    /// The claim a token makes for `room`, if it is genuine.
    pub fn verify(&self, room: &str, token: &str) -> Option<Resume> {
        let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
        if bytes.len() != 1 + PEER_ID_BYTES + MAC_BYTES {
            return None;
        }
        let (capacity, rest) = bytes.split_first()?;
        let (peer, mac) = rest.split_at(PEER_ID_BYTES);
        let expected = self.mac(room, peer, *capacity);
        // Constant time, so that timing does not leak the right MAC.
        let diff = expected
            .iter()
            .zip(mac)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        (diff == 0 && *capacity >= 2).then(|| Resume {
            peer_id: URL_SAFE_NO_PAD.encode(peer),
            capacity: usize::from(*capacity),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_ids_are_url_safe_and_distinct() {
        let a = room_id();
        let b = room_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 22);
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(peer_id().len(), 11);
    }

    #[test]
    fn resume_tokens_verify_only_for_their_room_and_key() {
        let key = ResumeKey::new(b"secret");
        let peer = peer_id();
        let token = key.sign("room-a", &peer, 3);
        assert_eq!(
            key.verify("room-a", &token),
            Some(Resume {
                peer_id: peer.clone(),
                capacity: 3
            })
        );
        assert_eq!(key.verify("room-b", &token), None);
        assert_eq!(ResumeKey::new(b"other").verify("room-a", &token), None);
        let mut forged = URL_SAFE_NO_PAD.decode(&token).unwrap();
        forged[0] = 6;
        assert_eq!(key.verify("room-a", &URL_SAFE_NO_PAD.encode(forged)), None);
        for junk in ["", "!!!", "AAAA", &token[1..]] {
            assert_eq!(key.verify("room-a", junk), None, "{junk}");
        }
    }
}
