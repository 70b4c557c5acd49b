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

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha1::Sha1;

/// Longest username accepted (RFC 8489 limits USERNAME to 513 bytes).
pub const MAX_USERNAME_BYTES: usize = 513;

/// The shared secret. Its bytes never appear in `Debug` output or logs.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        Secret(secret.into())
    }

    /// 32 bytes from the operating system's CSPRNG, as 43 characters of
    /// base64url: a secret for this process's lifetime only.
    pub fn generate() -> Self {
        let bytes: [u8; 32] = crate::random::bytes();
        Secret(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(bytes)
                .into_bytes(),
        )
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
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
    fn generated_secrets_differ_and_hide_in_debug() {
        let a = Secret::generate();
        assert_ne!(a.as_bytes(), Secret::generate().as_bytes());
        assert_eq!(a.as_bytes().len(), 43);
        assert_eq!(format!("{a:?}"), "Secret(..)");
    }
}
