//! One certificate order from the ACME CA (RFC 8555) with instant-acme:
//! the account (its key kept in the state directory), the order for every
//! `--acme-domain` name, TLS-ALPN-01 validation (RFC 8737) answered on the
//! HTTPS port itself through [`Keys`], and the finished certificate.

use std::time::Duration;

use instant_acme::{
    Account, AuthorizationStatus, ChallengeType, Identifier, Key, NewOrder, OrderStatus,
    RetryPolicy,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use super::Settings;
use super::issued::Issued;
use crate::state::{ACME_ACCOUNT_KEY, StateDir};
use crate::web::keys::Keys;

/// How long the CA gets to validate, and then to issue.
const CA_PATIENCE: Duration = Duration::from_secs(120);

/// Orders a certificate for `settings.domains`; returns the content of the
/// certificate file (its new private key, then the chain).
pub(super) async fn order(
    settings: &Settings,
    state: &StateDir,
    keys: &Keys,
) -> Result<String, String> {
    let account = account(settings, state).await?;
    let identifiers: Vec<Identifier> = settings
        .domains
        .iter()
        .map(|domain| Identifier::Dns(domain.clone()))
        .collect();
    let mut order = account
        .new_order(&NewOrder::new(&identifiers))
        .await
        .map_err(failed("new order"))?;
    // Removes the challenge certificates however this ends.
    let mut answering = Answering {
        keys,
        domains: Vec::new(),
    };
    let mut authorizations = order.authorizations();
    while let Some(authorization) = authorizations.next().await {
        let mut authorization = authorization.map_err(failed("authorization"))?;
        let domain = authorization.identifier().to_string();
        match authorization.status {
            AuthorizationStatus::Pending => {}
            AuthorizationStatus::Valid => continue,
            status => return Err(format!("the authorization for {domain} is {status:?}")),
        }
        let mut challenge = authorization
            .challenge(ChallengeType::TlsAlpn01)
            .ok_or_else(|| format!("the CA offers no tls-alpn-01 challenge for {domain}"))?;
        let digest = challenge.key_authorization().digest();
        answering.add(&domain, challenge_certificate(&domain, digest.as_ref())?);
        challenge
            .set_ready()
            .await
            .map_err(failed("challenge ready"))?;
    }
    let patience = RetryPolicy::new().timeout(CA_PATIENCE);
    let status = order
        .poll_ready(&patience)
        .await
        .map_err(failed("validation"))?;
    if status != OrderStatus::Ready {
        return Err(format!(
            "the CA did not validate {} (order {status:?}: {}); does port 443 of each \
             name reach this server's HTTPS port?",
            settings.domains.join(", "),
            why_invalid(&mut order).await
        ));
    }
    drop(answering);
    let key_pem = order.finalize().await.map_err(failed("finalize"))?;
    let chain_pem = order
        .poll_certificate(&patience)
        .await
        .map_err(failed("certificate"))?;
    Ok(Issued::file(&key_pem, &chain_pem))
}

/// What the CA said of each challenge it refused.
async fn why_invalid(order: &mut instant_acme::Order) -> String {
    let mut reasons = Vec::new();
    let mut authorizations = order.authorizations();
    while let Some(Ok(mut authorization)) = authorizations.next().await {
        if authorization.refresh().await.is_err() {
            continue;
        }
        for challenge in &authorization.challenges {
            if let Some(problem) = &challenge.error {
                reasons.push(format!("{}: {problem}", authorization.identifier()));
            }
        }
    }
    if reasons.is_empty() {
        return "no reason given".to_owned();
    }
    reasons.join("; ")
}

/// What an error of instant-acme at `step` reads as in the log: with its
/// causes, since an HTTP client's error says little by itself ("client
/// error (Connect)") and its cause says what went wrong.
fn failed(step: &'static str) -> impl Fn(instant_acme::Error) -> String {
    move |err| {
        let mut text = format!("{step}: {err}");
        let mut cause = std::error::Error::source(&err);
        while let Some(inner) = cause {
            text.push_str(&format!(": {inner}"));
            cause = inner.source();
        }
        text
    }
}

/// The account of the key kept in the state directory (made and kept on
/// first use): found on the CA, or registered there if new to it. With
/// `--acme-email`, its contact is set to that address.
async fn account(settings: &Settings, state: &StateDir) -> Result<Account, String> {
    let builder = match &settings.ca_cert {
        Some(path) => Account::builder_with_root(path),
        None => Account::builder(),
    }
    .map_err(failed("HTTP client"))?;
    let pkcs8 = account_key(state)?;
    let key = Key::from_pkcs8_der(pkcs8.clone_key()).map_err(failed("account key"))?;
    let (account, _) = builder
        .create_from_key(
            (key, PrivateKeyDer::Pkcs8(pkcs8)),
            settings.directory.clone(),
        )
        .await
        .map_err(failed("account"))?;
    if let Some(email) = &settings.email {
        account
            .update_contacts(&[&format!("mailto:{email}")])
            .await
            .map_err(failed("account contact"))?;
    }
    Ok(account)
}

fn account_key(state: &StateDir) -> Result<PrivatePkcs8KeyDer<'static>, String> {
    let file = state.file(ACME_ACCOUNT_KEY);
    let unusable = |err: &dyn std::fmt::Display| format!("{}: {err}", file.display());
    if let Some(pem) = state.read(ACME_ACCOUNT_KEY).map_err(|e| unusable(&e))? {
        return PrivatePkcs8KeyDer::from_pem_slice(&pem).map_err(|e| unusable(&e));
    }
    // ECDSA P-256, the one kind of account key instant-acme signs with.
    let made = rcgen::KeyPair::generate().map_err(|e| unusable(&e))?;
    state
        .replace(ACME_ACCOUNT_KEY, made.serialize_pem().as_bytes())
        .map_err(|e| unusable(&e))?;
    Ok(PrivatePkcs8KeyDer::from(made.serialize_der()))
}

/// The certificate that answers TLS-ALPN-01 for `domain` (RFC 8737 §3):
/// self-signed, for that name alone, with the critical acmeIdentifier
/// extension holding the SHA-256 digest of the key authorization.
fn challenge_certificate(
    domain: &str,
    digest: &[u8],
) -> Result<std::sync::Arc<rustls::sign::CertifiedKey>, String> {
    let invalid =
        |err: &dyn std::fmt::Display| format!("challenge certificate for {domain}: {err}");
    let mut params =
        rcgen::CertificateParams::new(vec![domain.to_owned()]).map_err(|e| invalid(&e))?;
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(digest)];
    let key = rcgen::KeyPair::generate().map_err(|e| invalid(&e))?;
    let cert = params.self_signed(&key).map_err(|e| invalid(&e))?;
    let key = PrivateKeyDer::Pkcs8(key.serialize_der().into());
    // Not `keys::certified`: its check that the key matches parses the
    // certificate with webpki, which refuses the critical extension.
    let signer = rustls::crypto::ring::sign::any_supported_type(&key).map_err(|e| invalid(&e))?;
    Ok(std::sync::Arc::new(rustls::sign::CertifiedKey::new(
        vec![cert.der().clone()],
        signer,
    )))
}

/// The challenges being answered, withdrawn when dropped.
struct Answering<'a> {
    keys: &'a Keys,
    domains: Vec<String>,
}

impl Answering<'_> {
    fn add(&mut self, domain: &str, key: std::sync::Arc<rustls::sign::CertifiedKey>) {
        self.keys.add_challenge(domain, key);
        self.domains.push(domain.to_owned());
    }
}

impl Drop for Answering<'_> {
    fn drop(&mut self) {
        for domain in &self.domains {
            self.keys.remove_challenge(domain);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_challenge_certificate_carries_the_digest_in_a_critical_extension() {
        let digest = [7u8; 32];
        let key = challenge_certificate("parlor.example", &digest).unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&key.cert[0]).unwrap();
        // id-pe-acmeIdentifier, 1.3.6.1.5.5.7.1.31: an OCTET STRING of the digest.
        let extension = cert
            .extensions()
            .iter()
            .find(|ext| ext.oid.to_id_string() == "1.3.6.1.5.5.7.1.31")
            .expect("the acmeIdentifier extension");
        assert!(extension.critical);
        assert_eq!(extension.value, [&[0x04, 32][..], &digest].concat());
        let names = cert.subject_alternative_name().unwrap().unwrap();
        assert_eq!(
            format!("{:?}", names.value.general_names),
            r#"[DNSName("parlor.example")]"#
        );
    }
}
