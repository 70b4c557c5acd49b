//! Ephemeral TURN credentials, the "TURN REST API" scheme that coturn calls
//! `use-auth-secret` / `static-auth-secret`:
//!
//! - username: `<expiry>:<user>`, where `<expiry>` is a Unix time in seconds;
//! - password: `base64(HMAC-SHA1(secret, username))`.
//!
//! Whoever knows the shared secret can mint credentials; the TURN server
//! recomputes the password from the username alone, so it keeps no table of
//! users. Credentials are valid up to and including their expiry second.
//!
//! For STUN's long-term credential mechanism the password then becomes the
//! key `MD5(username ":" realm ":" password)` (RFC 8489 section 9.2.2).
//!
//! Credentials can be taken back before they expire: [`Secret::revoke`]
//! refuses a user's credentials issued up to a given expiry. The list
//! travels with the secret, so that the hub that issues credentials and
//! the built-in server that checks them, which hold clones of one secret,
//! share it; it is a table in memory, and an entry goes once every
//! credential it refuses has expired anyway.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha1::Sha1;

/// Longest username accepted (RFC 8489 limits USERNAME to 513 bytes).
pub const MAX_USERNAME_BYTES: usize = 513;

/// Most users whose credentials are revoked at once; past it, the entry
/// that ends first is dropped (about 100 bytes each: 10 MB at most).
pub const MAX_REVOKED: usize = 100_000;

/// The shared secret, and the users whose credentials were taken back (see
/// the module comment), shared by its clones. Its bytes never appear in
/// `Debug` output or logs.
#[derive(Clone)]
pub struct Secret {
    bytes: Vec<u8>,
    revoked: Arc<Mutex<Revoked>>,
}

impl Secret {
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        Secret {
            bytes: secret.into(),
            revoked: Arc::default(),
        }
    }

    /// 32 bytes from the operating system's CSPRNG, as 43 characters of
    /// base64url: a secret for this process's lifetime only.
    pub fn generate() -> Self {
        let bytes: [u8; 32] = crate::random::bytes();
        Secret::new(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(bytes)
                .into_bytes(),
        )
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Refuses from now on the credentials of `user` that expire at or
    /// before `until` (Unix seconds): all those issued so far, when `until`
    /// is the expiry credentials issued now would have. `now` lets the
    /// list forget what has expired.
    pub fn revoke(&self, user: &str, until: u64, now: u64) {
        self.revoked().revoke(user, until, now);
    }

    /// Whether the credentials of `user` that expire at `expiry` were
    /// taken back.
    pub fn is_revoked(&self, user: &str, expiry: u64) -> bool {
        self.revoked().is_revoked(user, expiry)
    }

    /// The expiry up to which `user`'s credentials are refused, if any:
    /// credentials issued for it must expire later.
    pub fn revoked_until(&self, user: &str) -> Option<u64> {
        self.revoked().users.get(user).copied()
    }

    fn revoked(&self) -> std::sync::MutexGuard<'_, Revoked> {
        // The table is consistent after every call: a panic elsewhere
        // while it was held leaves nothing half done.
        self.revoked.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Users whose credentials are refused up to an expiry: plain data, with
/// the time passed in.
#[derive(Debug, Default)]
struct Revoked {
    users: HashMap<Box<str>, u64>,
}

impl Revoked {
    fn revoke(&mut self, user: &str, until: u64, now: u64) {
        if let Some(cutoff) = self.users.get_mut(user) {
            *cutoff = (*cutoff).max(until);
            return;
        }
        if self.users.len() >= MAX_REVOKED {
            // Credentials that have expired need no entry.
            self.users.retain(|_, cutoff| *cutoff >= now);
        }
        if self.users.len() >= MAX_REVOKED {
            let first = self
                .users
                .iter()
                .min_by_key(|(_, cutoff)| **cutoff)
                .map(|(user, _)| user.clone());
            if let Some(first) = first {
                self.users.remove(&first);
            }
        }
        self.users.insert(user.into(), until);
    }

    fn is_revoked(&self, user: &str, expiry: u64) -> bool {
        self.users.get(user).is_some_and(|cutoff| expiry <= *cutoff)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// A username and password for one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// Makes credentials for `user` that expire at `expiry` (Unix seconds).
pub fn issue(secret: &Secret, user: &str, expiry: u64) -> Credentials {
    let username = format!("{expiry}:{user}");
    let password = password(secret, &username);
    Credentials { username, password }
}

/// The password that goes with `username`.
pub fn password(secret: &Secret, username: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(username.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Why a username is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Not `<digits>` or `<digits>:<user>`, or too long.
    Malformed,
    /// The expiry time has passed.
    Expired,
}

/// The parts of a valid username.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Username<'a> {
    pub expiry: u64,
    /// What follows the first `:`; empty for a bare timestamp.
    pub user: &'a str,
}

/// Parses a REST API username and checks that it has not expired at `now`
/// (Unix seconds). Like coturn, a bare timestamp without `:user` is valid.
pub fn check_username(username: &str, now: u64) -> Result<Username<'_>, Refused> {
    if username.is_empty() || username.len() > MAX_USERNAME_BYTES {
        return Err(Refused::Malformed);
    }
    let (stamp, user) = match username.split_once(':') {
        Some((stamp, user)) => (stamp, user),
        None => (username, ""),
    };
    if stamp.is_empty() || stamp.len() > 19 || !stamp.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Refused::Malformed);
    }
    let expiry: u64 = stamp.parse().map_err(|_| Refused::Malformed)?;
    if expiry < now {
        return Err(Refused::Expired);
    }
    Ok(Username { expiry, user })
}

/// The long-term credential key for MESSAGE-INTEGRITY.
pub fn long_term_key(username: &str, realm: &str, password: &str) -> [u8; 16] {
    let mut md5 = Md5::new();
    md5.update(username.as_bytes());
    md5.update(b":");
    md5.update(realm.as_bytes());
    md5.update(b":");
    md5.update(password.as_bytes());
    md5.finalize().into()
}

/// Checks `username` at `now` and returns the key its client must have
/// signed with. Whether the client did is for the caller to verify against
/// the message: a wrong secret shows up there, as a MESSAGE-INTEGRITY that
/// does not match this key.
pub fn key_for(
    secret: &Secret,
    username: &str,
    realm: &str,
    now: u64,
) -> Result<[u8; 16], Refused> {
    check_username(username, now)?;
    Ok(long_term_key(username, realm, &password(secret, username)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn issued_credentials_verify() {
        let secret = Secret::new("north");
        let creds = issue(&secret, "peer1", NOW + 60);
        assert_eq!(creds.username, format!("{}:peer1", NOW + 60));
        assert_eq!(creds.password, password(&secret, &creds.username));
        let parsed = check_username(&creds.username, NOW).unwrap();
        assert_eq!(parsed.user, "peer1");
        assert_eq!(parsed.expiry, NOW + 60);
        let key = key_for(&secret, &creds.username, "parlor", NOW).unwrap();
        assert_eq!(
            key,
            long_term_key(&creds.username, "parlor", &creds.password)
        );
    }

    #[test]
    fn matches_the_coturn_rest_api_reference() {
        // The same computation as `echo -n "$user" | openssl dgst -binary
        // -sha1 -hmac "$secret" | base64`, as coturn documents it.
        let secret = Secret::new("logen");
        assert_eq!(
            password(&secret, "1433895918506:ninefingers"),
            "91WjnaXxByoQrCw51bd6cZaZQqw="
        );
        // RFC 8489 section 9.2.2's key: MD5 of "user:realm:pass".
        assert_eq!(
            long_term_key("user", "realm", "pass"),
            [
                0x84, 0x93, 0xfb, 0xc5, 0x3b, 0xa5, 0x82, 0xfb, 0x4c, 0x04, 0x4c, 0x45, 0x6b, 0xdc,
                0x40, 0xeb
            ]
        );
    }

    #[test]
    fn expiry_is_inclusive() {
        assert!(check_username(&format!("{NOW}:a"), NOW).is_ok());
        assert_eq!(
            check_username(&format!("{NOW}:a"), NOW + 1),
            Err(Refused::Expired)
        );
        assert_eq!(
            check_username(&format!("{}:a", NOW - 3600), NOW),
            Err(Refused::Expired)
        );
    }

    #[test]
    fn wrong_secret_gives_another_key() {
        let creds = issue(&Secret::new("right"), "p", NOW + 10);
        let right = key_for(&Secret::new("right"), &creds.username, "parlor", NOW).unwrap();
        let wrong = key_for(&Secret::new("wrong"), &creds.username, "parlor", NOW).unwrap();
        assert_ne!(right, wrong);
        // And a tampered username is another password altogether.
        let tampered = format!("{}:p", NOW + 1_000_000);
        assert_ne!(password(&Secret::new("right"), &tampered), creds.password);
    }

    #[test]
    fn malformed_usernames() {
        for name in [
            "",
            ":user",
            "abc:user",
            "12a:user",
            "-5:user",
            "+5:user",
            " 5:user",
            "99999999999999999999:user",
            "1.5:user",
        ] {
            assert_eq!(
                check_username(name, NOW),
                Err(Refused::Malformed),
                "{name:?}"
            );
        }
        let long = format!("{}:{}", NOW + 5, "x".repeat(MAX_USERNAME_BYTES));
        assert_eq!(check_username(&long, NOW), Err(Refused::Malformed));
        // A bare timestamp and a user with colons are fine.
        assert_eq!(
            check_username(&format!("{}", NOW + 5), NOW).unwrap().user,
            ""
        );
        assert_eq!(
            check_username(&format!("{}:a:b", NOW + 5), NOW)
                .unwrap()
                .user,
            "a:b"
        );
    }

    #[test]
    fn revoked_credentials_are_those_issued_before() {
        let secret = Secret::new("s");
        let shared = secret.clone();
        assert!(!secret.is_revoked("peer1", NOW + 60));
        // Revoked at NOW, with credentials of 60 s: everything issued up
        // to NOW expires by NOW + 60.
        shared.revoke("peer1", NOW + 60, NOW);
        assert!(secret.is_revoked("peer1", NOW + 60));
        assert!(secret.is_revoked("peer1", NOW + 1));
        assert_eq!(secret.revoked_until("peer1"), Some(NOW + 60));
        // Credentials issued later are good, and so are other users'.
        assert!(!secret.is_revoked("peer1", NOW + 61));
        assert!(!secret.is_revoked("peer2", NOW + 60));
        // A later revocation reaches further; an earlier one changes nothing.
        secret.revoke("peer1", NOW + 90, NOW + 30);
        secret.revoke("peer1", NOW + 10, NOW + 30);
        assert!(secret.is_revoked("peer1", NOW + 90));
        // Another secret has its own list.
        assert!(!Secret::new("s").is_revoked("peer1", NOW + 60));
    }

    #[test]
    fn the_revocation_list_is_bounded() {
        let mut revoked = Revoked::default();
        for n in 0..MAX_REVOKED as u64 {
            revoked.revoke(&format!("p{n}"), NOW + n, NOW);
        }
        // Full: the expired entries go first...
        revoked.revoke("late", NOW + 2_000_000, NOW + 10);
        assert_eq!(revoked.users.len(), MAX_REVOKED - 9);
        assert!(!revoked.is_revoked("p9", NOW + 9));
        assert!(revoked.is_revoked("p10", NOW + 10));
        // ...then the one that ends first.
        for n in 0..10 {
            revoked.revoke(&format!("more{n}"), NOW + 3_000_000, NOW + 10);
        }
        assert_eq!(revoked.users.len(), MAX_REVOKED);
        assert!(!revoked.is_revoked("p10", NOW + 10));
        assert!(revoked.is_revoked("p11", NOW + 11));
        assert!(revoked.is_revoked("late", NOW + 2_000_000));
    }

    #[test]
    fn generated_secrets_differ_and_hide_in_debug() {
        let a = Secret::generate();
        assert_ne!(a.as_bytes(), Secret::generate().as_bytes());
        assert_eq!(a.as_bytes().len(), 43);
        assert_eq!(format!("{a:?}"), "Secret(..)");
    }
}
