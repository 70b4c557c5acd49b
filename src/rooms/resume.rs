//! Resume tokens: a member whose connection was lost presents the token of
//! its last `welcome` to take its seat back with the same peer id, even from
//! a restarted server (or, later, another instance) that shares the key.
//! Signed, so that nobody can claim a seat they never held.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::RoomKind;
use super::ids::PEER_ID_BYTES;
use super::store::Resume;

const MAC_BYTES: usize = 16;

/// Signs and checks resume tokens. A token names a room, a peer id in it
/// and the room's capacity, and is valid for as long as the key is.
#[derive(Clone)]
pub(crate) struct ResumeKey {
    key: Vec<u8>,
}

impl ResumeKey {
    pub(crate) fn new(key: &[u8]) -> Self {
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

    /// The token for `peer_id` (made by the rooms' peer id generator) in `room`.
    pub(crate) fn sign(&self, room: &str, peer_id: &str, capacity: usize) -> String {
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
    pub(crate) fn verify(&self, room: &str, token: &str) -> Option<Resume> {
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
            // Only mesh rooms exist so far; a new kind extends the token.
            kind: RoomKind::Mesh,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rooms::ids::peer_id;

    #[test]
    fn resume_tokens_verify_only_for_their_room_and_key() {
        let key = ResumeKey::new(b"secret");
        let peer = peer_id();
        let token = key.sign("room-a", &peer, 3);
        assert_eq!(
            key.verify("room-a", &token),
            Some(Resume {
                peer_id: peer.clone(),
                capacity: 3,
                kind: RoomKind::Mesh,
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
