//! Resume tokens: a member whose connection was lost presents the token of
//! its last `welcome` to take its seat back with the same peer id, even from
//! a restarted server (or, later, another instance) that shares the key.
//! Signed, so that nobody can claim a seat they never held.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use std::time::{Duration, SystemTime};

use super::RoomKind;
use super::ids::PEER_ID_BYTES;
use super::store::{Resume, unix_millis};

const MAC_BYTES: usize = 16;
/// Unix milliseconds, big-endian.
const ISSUED_BYTES: usize = 8;

/// Signs and checks resume tokens. A token names a room, a peer id in it,
/// the room's capacity and when it was made. It takes back its seat while
/// the seat is held, and makes the room again only while it is younger
/// than the room idle timeout (see [`Resume`]).
#[derive(Clone)]
pub(crate) struct ResumeKey {
    key: Vec<u8>,
}

impl ResumeKey {
    pub(crate) fn new(key: &[u8]) -> Self {
        ResumeKey { key: key.to_vec() }
    }

    fn mac(&self, room: &str, peer: &[u8], capacity: u8, issued: &[u8]) -> [u8; MAC_BYTES] {
        let mut mac = Hmac::<Sha1>::new_from_slice(&self.key).expect("HMAC takes any key");
        // v2: with the time it was made.
        mac.update(b"parlor-resume-2\0");
        mac.update(room.as_bytes());
        mac.update(b"\0");
        mac.update(peer);
        mac.update(&[capacity]);
        mac.update(issued);
        let full = mac.finalize().into_bytes();
        let mut out = [0; MAC_BYTES];
        out.copy_from_slice(&full[..MAC_BYTES]);
        out
    }

    /// The token for `peer_id` (made by the rooms' peer id generator) in
    /// `room`, made at `now`.
    pub(crate) fn sign(
        &self,
        room: &str,
        peer_id: &str,
        capacity: usize,
        now: SystemTime,
    ) -> String {
        let peer = URL_SAFE_NO_PAD
            .decode(peer_id)
            .expect("peer ids are base64url");
        let capacity = u8::try_from(capacity).expect("room capacities fit in a byte");
        let issued = unix_millis(now).to_be_bytes();
        let mut token = Vec::with_capacity(1 + peer.len() + ISSUED_BYTES + MAC_BYTES);
        token.push(capacity);
        token.extend_from_slice(&peer);
        token.extend_from_slice(&issued);
        token.extend_from_slice(&self.mac(room, &peer, capacity, &issued));
        URL_SAFE_NO_PAD.encode(token)
    }

    /// The claim a token makes for `room`, if it is genuine; `room_idle` is
    /// the room idle timeout, how long it may make the room again.
    pub(crate) fn verify(&self, room: &str, token: &str, room_idle: Duration) -> Option<Resume> {
        let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
        if bytes.len() != 1 + PEER_ID_BYTES + ISSUED_BYTES + MAC_BYTES {
            return None;
        }
        let (capacity, rest) = bytes.split_first()?;
        let (peer, rest) = rest.split_at(PEER_ID_BYTES);
        let (issued_bytes, mac) = rest.split_at(ISSUED_BYTES);
        let expected = self.mac(room, peer, *capacity, issued_bytes);
        let issued = SystemTime::UNIX_EPOCH
            + Duration::from_millis(u64::from_be_bytes(issued_bytes.try_into().ok()?));
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
            issued,
            remakes_until: issued + room_idle,
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
        let now = SystemTime::UNIX_EPOCH + Duration::from_millis(1_800_000_000_123);
        let idle = Duration::from_secs(60);
        let token = key.sign("room-a", &peer, 3, now);
        assert_eq!(
            key.verify("room-a", &token, idle),
            Some(Resume {
                peer_id: peer.clone(),
                capacity: 3,
                kind: RoomKind::Mesh,
                issued: now,
                remakes_until: now + idle,
            })
        );
        assert_eq!(key.verify("room-b", &token, idle), None);
        assert_eq!(
            ResumeKey::new(b"other").verify("room-a", &token, idle),
            None
        );
        let mut forged = URL_SAFE_NO_PAD.decode(&token).unwrap();
        forged[0] = 6;
        assert_eq!(
            key.verify("room-a", &URL_SAFE_NO_PAD.encode(forged), idle),
            None
        );
        // A later time, to make an old token look new.
        let mut forged = URL_SAFE_NO_PAD.decode(&token).unwrap();
        forged[1 + PEER_ID_BYTES] ^= 1;
        assert_eq!(
            key.verify("room-a", &URL_SAFE_NO_PAD.encode(forged), idle),
            None
        );
        for junk in ["", "!!!", "AAAA", &token[1..]] {
            assert_eq!(key.verify("room-a", junk, idle), None, "{junk}");
        }
    }
}
