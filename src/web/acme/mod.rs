//! Certificates from an ACME CA (Let's Encrypt by default) for the public
//! names given with `--acme-domain`, obtained and renewed while the server
//! runs, validated by TLS-ALPN-01 on the HTTPS port itself.
//!
//! At start the server serves the certificate kept in the state directory
//! when it covers the names and has not expired, else a self-signed one,
//! so that HTTPS is up at once. A task then orders a certificate when one
//! is due ([`renewal`]), keeps it in the state directory and serves it from
//! the next handshake on ([`Keys`]); a failed order is logged and retried
//! later, and never stops the server.

mod issued;
mod metrics;
mod order;
mod renewal;

use std::io;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use issued::Issued;
pub(crate) use metrics::AcmeMetrics;
use renewal::Renewal;

use super::keys::{self, Keys};
use super::tls::{self, Acme as AcmeAlpn, Certificate};
use crate::state::{ACME_CERTIFICATE, StateDir};

/// Where and for what to order certificates.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The DNS names, lower-case: one certificate covers them all.
    pub(crate) domains: Vec<String>,
    /// The account's contact, for the CA's notices.
    pub(crate) email: Option<String>,
    /// The CA's directory URL.
    pub(crate) directory: String,
    /// The root certificate (PEM) to trust for the directory's HTTPS, in
    /// place of the system's; for test CAs.
    pub(crate) ca_cert: Option<PathBuf>,
}

/// The ordering task, not yet running.
pub(crate) struct Renewer {
    settings: Settings,
    state: StateDir,
    renewal: Renewal,
    metrics: Arc<AcmeMetrics>,
}

/// The longest single sleep while waiting for a renewal, so that a clock
/// changed (or a machine suspended) meanwhile is noticed within it.
const LONGEST_SLEEP: Duration = Duration::from_secs(3600);

/// The certificate to serve from the start, and the task that replaces it.
pub(crate) fn start(
    settings: Settings,
    state: StateDir,
    listen: IpAddr,
) -> io::Result<(Certificate, Renewer)> {
    let now = SystemTime::now();
    let path = state.file(ACME_CERTIFICATE);
    let kept = match state.read(ACME_CERTIFICATE)?.map(|pem| Issued::parse(&pem)) {
        Some(Ok(issued)) if issued.serves(&settings.domains, now) => Some(issued),
        Some(Ok(_)) => {
            tracing::info!(path = %path.display(), "the kept ACME certificate has expired or \
                does not cover every --acme-domain; ordering another");
            None
        }
        Some(Err(err)) => {
            tracing::warn!(path = %path.display(), %err, "the kept ACME certificate is \
                unreadable; ordering another");
            None
        }
        None => None,
    };
    let metrics = Arc::new(AcmeMetrics::default());
    let served = kept.and_then(|issued| {
        match Certificate::new(issued.chain.clone(), &issued.key, Vec::new(), AcmeAlpn::Yes) {
            Ok(certificate) => Some((certificate, issued)),
            Err(err) => {
                tracing::warn!(path = %path.display(), %err, "the kept ACME certificate \
                    cannot be served; ordering another");
                None
            }
        }
    });
    let (certificate, validity) = match served {
        Some((certificate, issued)) => {
            metrics.serving(issued.not_after);
            log_certificate("serving the kept ACME certificate", &issued);
            (certificate, Some((issued.not_before, issued.not_after)))
        }
        None => {
            tracing::info!(domains = %settings.domains.join(","), "serving a self-signed \
                certificate until the ACME CA issues one");
            (tls::self_signed(listen, AcmeAlpn::Yes)?, None)
        }
    };
    let renewal = Renewal::new(validity, now);
    Ok((
        certificate,
        Renewer {
            settings,
            state,
            renewal,
            metrics,
        },
    ))
}

fn log_certificate(what: &str, issued: &Issued) {
    tracing::info!(
        domains = %issued.names.join(","),
        fingerprint = %tls::fingerprint(&issued.chain[0]),
        not_after = %humantime::format_rfc3339_seconds(issued.not_after),
        renew_at = %humantime::format_rfc3339_seconds(renewal::renew_at(issued.not_before, issued.not_after)),
        "{what}"
    );
}

impl Renewer {
    /// Its counters, for `/metrics`.
    pub(crate) fn metrics(&self) -> Arc<AcmeMetrics> {
        self.metrics.clone()
    }

    /// Runs the task: it serves through `keys` each certificate it gets.
    pub(crate) fn spawn(self, keys: Arc<Keys>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self.run(keys))
    }

    async fn run(mut self, keys: Arc<Keys>) {
        // The HTTP client of instant-acme asks rustls for the process's
        // provider; make it the one the rest of Parlor uses.
        let _ = rustls::crypto::ring::default_provider().install_default();
        loop {
            while let Ok(left) = self.renewal.due().duration_since(SystemTime::now()) {
                if left.is_zero() {
                    break;
                }
                tokio::time::sleep(left.min(LONGEST_SLEEP)).await;
            }
            let domains = self.settings.domains.join(",");
            tracing::info!(%domains, directory = %self.settings.directory, "ordering a certificate");
            let obtained = order::order(&self.settings, &self.state, &keys).await;
            match obtained.and_then(|pem| self.install(&pem, &keys)) {
                Ok(issued) => {
                    self.metrics.issued();
                    self.metrics.serving(issued.not_after);
                    self.renewal.obtained(issued.not_before, issued.not_after);
                    log_certificate("serving a new ACME certificate", &issued);
                }
                Err(err) => {
                    self.metrics.failed();
                    let delay = self.renewal.failed(SystemTime::now());
                    tracing::warn!(%domains, %err, retry_in = %humantime::format_duration(delay),
                        "cannot obtain a certificate from the ACME CA; the current one is \
                        served meanwhile");
                }
            }
        }
    }

    /// Serves the certificate file `pem` from now on, and keeps it.
    fn install(&self, pem: &str, keys: &Keys) -> Result<Issued, String> {
        let issued = Issued::parse(pem.as_bytes()).map_err(|err| format!("from the CA: {err}"))?;
        let served = keys::certified(issued.chain.clone(), &issued.key)
            .map_err(|err| format!("from the CA: {err}"))?;
        keys.replace(served);
        if let Err(err) = self.state.replace(ACME_CERTIFICATE, pem.as_bytes()) {
            // Served all the same; a restart orders another.
            tracing::warn!(path = %self.state.file(ACME_CERTIFICATE).display(), %err,
                "cannot keep the ACME certificate");
        }
        Ok(issued)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::tests::Scratch;

    fn settings() -> Settings {
        Settings {
            domains: vec!["parlor.example".to_owned()],
            email: None,
            directory: "https://ca.invalid/directory".to_owned(),
            ca_cert: None,
        }
    }

    /// A certificate file for `name`, valid from a day ago for 90 days;
    /// with the key of another certificate when `mismatched`.
    fn file(name: &str, mismatched: bool) -> (String, String) {
        let now = SystemTime::now();
        let day = Duration::from_secs(86_400);
        let mut params = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
        params.not_before = (now - day).into();
        params.not_after = (now + 89 * day).into();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let served_key = match mismatched {
            true => rcgen::KeyPair::generate().unwrap(),
            false => key,
        };
        let fingerprint = tls::fingerprint(cert.der());
        (
            Issued::file(&served_key.serialize_pem(), &cert.pem()),
            fingerprint,
        )
    }

    fn started(kept: Option<&str>) -> (Certificate, Renewer) {
        let scratch = Scratch::new();
        let state = StateDir::open(&scratch.0).unwrap();
        if let Some(kept) = kept {
            state.replace(ACME_CERTIFICATE, kept.as_bytes()).unwrap();
        }
        start(settings(), state, IpAddr::from([127, 0, 0, 1])).unwrap()
    }

    #[test]
    fn a_kept_certificate_for_the_names_is_served_until_it_is_due() {
        let (kept, fingerprint) = file("parlor.example", false);
        let (certificate, renewer) = started(Some(&kept));
        assert_eq!(certificate.fingerprint, fingerprint);
        assert!(certificate.names.is_empty());
        assert!(renewer.renewal.due() > SystemTime::now() + Duration::from_secs(50 * 86_400));
        assert!(
            certificate
                .config
                .alpn_protocols
                .contains(&keys::ACME_TLS_ALPN.to_vec())
        );
    }

    #[test]
    fn without_a_usable_kept_certificate_a_self_signed_one_is_served_and_one_ordered_now() {
        let other_name = file("other.example", false).0;
        let mismatched = file("parlor.example", true).0;
        for kept in [None, Some("garbage"), Some(&other_name), Some(&mismatched)] {
            let (certificate, renewer) = started(kept);
            assert!(
                certificate.names.contains(&"localhost".to_owned()),
                "{kept:?}"
            );
            assert!(renewer.renewal.due() <= SystemTime::now(), "{kept:?}");
        }
    }
}
