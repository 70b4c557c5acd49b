//! Room and peer ids. A room id is the only thing that keeps a call
//! private, so it comes from the operating system's CSPRNG and carries 128
//! bits; a peer id needs only to be unique within its room.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::random;

/// Bytes behind a peer id; resume tokens carry them raw.
pub(super) const PEER_ID_BYTES: usize = 8;

/// 128 random bits, as 22 characters of `[A-Za-z0-9_-]`.
pub(super) fn room_id() -> String {
    URL_SAFE_NO_PAD.encode(random::bytes::<16>())
}

/// 64 random bits: unique within a room, which is all a peer id needs.
pub(super) fn peer_id() -> String {
    URL_SAFE_NO_PAD.encode(random::bytes::<PEER_ID_BYTES>())
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
}
