//! The certificate HTTPS (and whatever else shares its `ServerConfig`)
//! presents, chosen at each handshake, so that it can change while the
//! server runs: a renewed ACME certificate is served from the next
//! handshake on, with no restart and no new listener.
//!
//! It also answers ACME's TLS-ALPN-01 challenges (RFC 8737): a handshake
//! that offers only the `acme-tls/1` protocol, for a name with a challenge
//! pending, gets that challenge's certificate instead; one for a name
//! without a challenge gets none, and its handshake fails.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// The ALPN protocol of TLS-ALPN-01 validation.
pub(crate) const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// The certificate served now, and the challenge certificates pending.
#[derive(Debug)]
pub(crate) struct Keys {
    current: RwLock<Arc<CertifiedKey>>,
    /// By lower-case domain name; at most one per domain ordered for, so
    /// as many as `--acme-domain` names.
    challenges: RwLock<HashMap<String, Arc<CertifiedKey>>>,
}

/// A certificate chain and its private key, ready to serve; refused when
/// the key is not one rustls can sign with or does not match the chain.
pub(crate) fn certified(
    chain: Vec<CertificateDer<'static>>,
    key: &PrivateKeyDer<'static>,
) -> Result<Arc<CertifiedKey>, rustls::Error> {
    let signer = rustls::crypto::ring::sign::any_supported_type(key)?;
    let certified = CertifiedKey::new(chain, signer);
    // As rustls's own `with_single_cert` does: a key whose public half it
    // cannot tell is let through, a mismatch is not.
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(Arc::new(certified))
        }
        Err(err) => Err(err),
    }
}

impl Keys {
    pub(crate) fn new(current: Arc<CertifiedKey>) -> Keys {
        Keys {
            current: RwLock::new(current),
            challenges: RwLock::default(),
        }
    }

    /// Serves `key` from the next handshake on.
    pub(crate) fn replace(&self, key: Arc<CertifiedKey>) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = key;
    }

    /// Answers TLS-ALPN-01 validation for `domain` with `key`.
    pub(crate) fn add_challenge(&self, domain: &str, key: Arc<CertifiedKey>) {
        self.challenges
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(domain.to_ascii_lowercase(), key);
    }

    /// Stops answering validation for `domain`.
    pub(crate) fn remove_challenge(&self, domain: &str) {
        self.challenges
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&domain.to_ascii_lowercase());
    }

    fn challenge(&self, domain: &str) -> Option<Arc<CertifiedKey>> {
        self.challenges
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&domain.to_ascii_lowercase())
            .cloned()
    }

    fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The certificate for a handshake that named `server_name` and
    /// offered the ALPN protocols `alpn` (`None`: no ALPN at all).
    fn choose(
        &self,
        server_name: Option<&str>,
        alpn: Option<Vec<&[u8]>>,
    ) -> Option<Arc<CertifiedKey>> {
        // RFC 8737 §3: the validator offers acme-tls/1 alone.
        if alpn.is_some_and(|alpn| alpn == [ACME_TLS_ALPN]) {
            return self.challenge(server_name?);
        }
        Some(self.current())
    }
}

impl ResolvesServerCert for Keys {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let alpn = hello.alpn().map(Iterator::collect);
        self.choose(hello.server_name(), alpn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn made(name: &str) -> Arc<CertifiedKey> {
        let made = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
        let key = PrivateKeyDer::try_from(made.signing_key.serialize_der()).unwrap();
        certified(vec![made.cert.der().clone()], &key).unwrap()
    }

    fn served(keys: &Keys, name: Option<&str>, alpn: Option<Vec<&[u8]>>) -> Option<Vec<u8>> {
        keys.choose(name, alpn).map(|key| key.cert[0].to_vec())
    }

    #[test]
    fn a_replaced_certificate_is_served_from_then_on() {
        let (first, second) = (made("first.test"), made("second.test"));
        let keys = Keys::new(first.clone());
        let http = Some(vec![&b"http/1.1"[..]]);
        assert_eq!(served(&keys, None, None), Some(first.cert[0].to_vec()));
        keys.replace(second.clone());
        assert_eq!(
            served(&keys, Some("x.test"), http),
            Some(second.cert[0].to_vec())
        );
    }

    #[test]
    fn acme_tls_alpn_gets_the_challenge_or_nothing() {
        let (current, challenge) = (made("parlor.test"), made("parlor.test"));
        let keys = Keys::new(current.clone());
        let acme = || Some(vec![ACME_TLS_ALPN]);
        assert_eq!(served(&keys, Some("parlor.test"), acme()), None);
        keys.add_challenge("Parlor.Test", challenge.clone());
        let expected = Some(challenge.cert[0].to_vec());
        assert_eq!(served(&keys, Some("parlor.test"), acme()), expected);
        assert_eq!(served(&keys, Some("other.test"), acme()), None);
        assert_eq!(served(&keys, None, acme()), None);
        // A browser that offers more than acme-tls/1 gets the usual one.
        let both = Some(vec![&b"http/1.1"[..], ACME_TLS_ALPN]);
        assert_eq!(
            served(&keys, Some("parlor.test"), both),
            Some(current.cert[0].to_vec())
        );
        keys.remove_challenge("parlor.test");
        assert_eq!(served(&keys, Some("parlor.test"), acme()), None);
    }

    #[test]
    fn a_key_that_does_not_match_its_certificate_is_refused() {
        let (one, other) = (
            rcgen::generate_simple_self_signed(vec!["a.test".to_owned()]).unwrap(),
            rcgen::generate_simple_self_signed(vec!["b.test".to_owned()]).unwrap(),
        );
        let key = PrivateKeyDer::try_from(other.signing_key.serialize_der()).unwrap();
        assert!(certified(vec![one.cert.der().clone()], &key).is_err());
    }
}
