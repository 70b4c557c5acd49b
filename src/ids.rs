//! Identifiers that must not be guessable: room ids are the only thing that
//! keeps a call private, so they come from the operating system's CSPRNG.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// 128 random bits, as 22 characters of `[A-Za-z0-9_-]`.
pub fn room_id() -> String {
    random_token::<16>()
}

/// 64 random bits: unique within a room, which is all a peer id needs.
pub fn peer_id() -> String {
    random_token::<8>()
}

fn random_token<const N: usize>() -> String {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    URL_SAFE_NO_PAD.encode(bytes)
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
