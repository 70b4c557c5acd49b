//! The long-term credential mechanism of RFC 8489 section 9.2, server side,
//! with REST API credentials ([`super::credentials`]) as the user database.
//!
//! Nonces are stateless: an expiry time and an HMAC tag over that time and
//! the client's address, under a key made at start. So an unauthenticated
//! client costs the server no memory, a nonce cannot be moved to another
//! client address, and old nonces go stale on their own (438 Stale Nonce).

use std::fmt::Write;
use std::net::{IpAddr, SocketAddr};

use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::credentials::{self, Secret};
use super::stun::{Message, attr};

/// How long a nonce stays valid, in seconds (coturn uses 600 too).
pub const NONCE_LIFETIME_SECS: u64 = 600;
/// Length of a nonce: 8 hex digits of expiry, 16 of tag.
const NONCE_LEN: usize = 24;

/// Longest REALM and NONCE accepted (RFC 8489: fewer than 128 characters,
/// up to 763 bytes).
const MAX_REALM_OR_NONCE_BYTES: usize = 763;

pub struct Auth {
    realm: String,
    secret: Secret,
    nonce_key: [u8; 32],
}

/// What to do with a request, as far as authentication goes.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict<'a> {
    /// Authenticated: the username and the key to sign the response with.
    Accept {
        username: &'a str,
        /// The user part of the username (after `<expiry>:`).
        user: &'a str,
        key: [u8; 16],
    },
    /// 401 with REALM and NONCE: no MESSAGE-INTEGRITY yet (the first try
    /// of every client). Not a failure.
    Challenge,
    /// 400: MESSAGE-INTEGRITY without USERNAME, REALM or NONCE.
    BadRequest,
    /// 438 with a fresh NONCE: the nonce is not ours or has expired.
    StaleNonce,
    /// 401: bad, expired, revoked or forged credentials. Counted as a
    /// failure.
    Reject,
}

impl Auth {
    pub fn new(realm: impl Into<String>, secret: Secret) -> Self {
        Auth {
            realm: realm.into(),
            secret,
            nonce_key: crate::random::bytes(),
        }
    }

    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// A nonce for `client`, valid for [`NONCE_LIFETIME_SECS`] from `now`:
    /// its expiry (Unix seconds, 8 hex digits) and a tag of 8 bytes (16 hex
    /// digits). It goes in every challenge, which answers anyone, so it is
    /// no longer than that.
    pub fn nonce(&self, client: SocketAddr, now: u64) -> String {
        let expiry = (now + NONCE_LIFETIME_SECS).min(u64::from(u32::MAX));
        let mut nonce = String::with_capacity(NONCE_LEN);
        let _ = write!(nonce, "{expiry:08x}");
        for byte in self.nonce_tag(client, expiry) {
            let _ = write!(nonce, "{byte:02x}");
        }
        nonce
    }

    fn nonce_tag(&self, client: SocketAddr, expiry: u64) -> [u8; 8] {
        let mut mac = Hmac::<Sha1>::new_from_slice(&self.nonce_key).expect("any key length");
        mac.update(&expiry.to_be_bytes());
        match client.ip().to_canonical() {
            IpAddr::V4(ip) => mac.update(&ip.octets()),
            IpAddr::V6(ip) => mac.update(&ip.octets()),
        }
        mac.update(&client.port().to_be_bytes());
        let digest = mac.finalize().into_bytes();
        let mut tag = [0u8; 8];
        tag.copy_from_slice(&digest[..8]);
        tag
    }

    fn nonce_is_valid(&self, nonce: &str, client: SocketAddr, now: u64) -> bool {
        if nonce.len() != NONCE_LEN || !nonce.is_ascii() {
            return false;
        }
        let Ok(expiry) = u64::from_str_radix(&nonce[..8], 16) else {
            return false;
        };
        if expiry < now || expiry > now + NONCE_LIFETIME_SECS {
            return false;
        }
        let expected = self.nonce_tag(client, expiry);
        let mut given = [0u8; 8];
        for (i, byte) in given.iter_mut().enumerate() {
            match u8::from_str_radix(&nonce[8 + 2 * i..10 + 2 * i], 16) {
                Ok(b) => *byte = b,
                Err(_) => return false,
            }
        }
        // Not secret, but compare without early exit anyway.
        given
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }

    /// Checks a request from `client` at `now` (Unix seconds), in the order
    /// of RFC 8489 section 9.2.4.
    pub fn check<'a>(&self, msg: &Message<'a>, client: SocketAddr, now: u64) -> Verdict<'a> {
        if !msg.has_integrity() {
            return Verdict::Challenge;
        }
        let (Some(username), Some(realm), Some(nonce)) = (
            msg.get(attr::USERNAME),
            msg.get_str(attr::REALM),
            msg.get_str(attr::NONCE),
        ) else {
            return Verdict::BadRequest;
        };
        if realm.len() > MAX_REALM_OR_NONCE_BYTES || nonce.len() > MAX_REALM_OR_NONCE_BYTES {
            return Verdict::BadRequest;
        }
        if !self.nonce_is_valid(nonce, client, now) {
            return Verdict::StaleNonce;
        }
        let Ok(username) = std::str::from_utf8(username) else {
            return Verdict::Reject;
        };
        if realm != self.realm {
            return Verdict::Reject;
        }
        let Ok(parsed) = credentials::check_username(username, now) else {
            return Verdict::Reject;
        };
        let password = credentials::password(&self.secret, username);
        let key = credentials::long_term_key(username, &self.realm, &password);
        if !msg.verify_integrity(&key) {
            return Verdict::Reject;
        }
        // Taken back: their member left the room.
        if self.secret.is_revoked(parsed.user, parsed.expiry) {
            return Verdict::Reject;
        }
        Verdict::Accept {
            username,
            user: parsed.user,
            key,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::turn::stun::{Builder, Class, method};

    const NOW: u64 = 1_800_000_000;

    fn client() -> SocketAddr {
        "203.0.113.7:5000".parse().unwrap()
    }

    fn request(
        buf: &mut Vec<u8>,
        username: Option<&str>,
        realm: &str,
        nonce: &str,
        key: Option<&[u8]>,
    ) {
        let mut b = Builder::new(buf, method::ALLOCATE, Class::Request, [7; 12]);
        b.attr(attr::REQUESTED_TRANSPORT, &[17, 0, 0, 0]);
        if let Some(username) = username {
            b.attr(attr::USERNAME, username.as_bytes());
        }
        b.attr(attr::REALM, realm.as_bytes());
        b.attr(attr::NONCE, nonce.as_bytes());
        if let Some(key) = key {
            b.integrity(key);
        }
        b.fingerprint();
    }

    #[test]
    fn challenge_then_accept() {
        let secret = Secret::new("s3cret");
        let auth = Auth::new("parlor", secret.clone());
        let mut buf = Vec::new();
        Builder::new(&mut buf, method::ALLOCATE, Class::Request, [1; 12]);
        assert_eq!(
            auth.check(&Message::parse(&buf).unwrap(), client(), NOW),
            Verdict::Challenge
        );

        let creds = credentials::issue(&secret, "peer", NOW + 60);
        let key = credentials::long_term_key(&creds.username, "parlor", &creds.password);
        let nonce = auth.nonce(client(), NOW);
        request(
            &mut buf,
            Some(&creds.username),
            "parlor",
            &nonce,
            Some(&key),
        );
        match auth.check(&Message::parse(&buf).unwrap(), client(), NOW + 5) {
            Verdict::Accept {
                username,
                user,
                key: k,
            } => {
                assert_eq!(username, creds.username);
                assert_eq!(user, "peer");
                assert_eq!(k, key);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rejects_wrong_expired_and_malformed_credentials() {
        let secret = Secret::new("s3cret");
        let auth = Auth::new("parlor", secret.clone());
        let nonce = auth.nonce(client(), NOW);
        let mut buf = Vec::new();
        // The verdict's name: a Verdict borrows the message, which the
        // closure cannot return.
        let check = |buf: &Vec<u8>| {
            format!(
                "{:?}",
                auth.check(&Message::parse(buf).unwrap(), client(), NOW)
            )
        };

        // Signed with a password from another secret.
        let wrong = credentials::issue(&Secret::new("other"), "peer", NOW + 60);
        let key = credentials::long_term_key(&wrong.username, "parlor", &wrong.password);
        request(
            &mut buf,
            Some(&wrong.username),
            "parlor",
            &nonce,
            Some(&key),
        );
        assert_eq!(check(&buf), "Reject");

        // Expired, though correctly signed.
        let old = credentials::issue(&secret, "peer", NOW - 1);
        let key = credentials::long_term_key(&old.username, "parlor", &old.password);
        request(&mut buf, Some(&old.username), "parlor", &nonce, Some(&key));
        assert_eq!(check(&buf), "Reject");

        // Not a REST API username.
        let key =
            credentials::long_term_key("alice", "parlor", &credentials::password(&secret, "alice"));
        request(&mut buf, Some("alice"), "parlor", &nonce, Some(&key));
        assert_eq!(check(&buf), "Reject");

        // Another realm.
        let good = credentials::issue(&secret, "peer", NOW + 60);
        let key = credentials::long_term_key(&good.username, "elsewhere", &good.password);
        request(
            &mut buf,
            Some(&good.username),
            "elsewhere",
            &nonce,
            Some(&key),
        );
        assert_eq!(check(&buf), "Reject");

        // Missing USERNAME with MESSAGE-INTEGRITY.
        request(&mut buf, None, "parlor", &nonce, Some(&key));
        assert_eq!(check(&buf), "BadRequest");
    }

    #[test]
    fn nonces_are_bound_to_client_and_time() {
        let secret = Secret::new("s3cret");
        let auth = Auth::new("parlor", secret.clone());
        let creds = credentials::issue(&secret, "peer", NOW + 10_000);
        let key = credentials::long_term_key(&creds.username, "parlor", &creds.password);
        let mut buf = Vec::new();
        let nonce = auth.nonce(client(), NOW);
        request(
            &mut buf,
            Some(&creds.username),
            "parlor",
            &nonce,
            Some(&key),
        );
        let msg = Message::parse(&buf).unwrap();
        assert!(matches!(
            auth.check(&msg, client(), NOW + NONCE_LIFETIME_SECS),
            Verdict::Accept { .. }
        ));
        assert_eq!(
            auth.check(&msg, client(), NOW + NONCE_LIFETIME_SECS + 1),
            Verdict::StaleNonce
        );
        let elsewhere: SocketAddr = "203.0.113.7:5001".parse().unwrap();
        assert_eq!(auth.check(&msg, elsewhere, NOW), Verdict::StaleNonce);
        // Another server's nonce (another nonce key) and garbage.
        let other = Auth::new("parlor", secret.clone()).nonce(client(), NOW);
        for nonce in [
            other.as_str(),
            "",
            "zz",
            &"f".repeat(32),
            &"f".repeat(24),
            &"é".repeat(12),
        ] {
            request(&mut buf, Some(&creds.username), "parlor", nonce, Some(&key));
            assert_eq!(
                auth.check(&Message::parse(&buf).unwrap(), client(), NOW),
                Verdict::StaleNonce,
                "{nonce:?}"
            );
        }
    }
}
