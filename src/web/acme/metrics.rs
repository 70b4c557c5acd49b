//! What `/metrics` says of ACME certificates, so that an operator can alert
//! on a certificate about to expire or on orders that keep failing.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::metrics::{Exposition, Kind, Source};

#[derive(Debug, Default)]
pub(crate) struct AcmeMetrics {
    /// When the served ACME certificate expires, in Unix seconds; 0 while
    /// a self-signed one is served.
    expiry: AtomicU64,
    issued: AtomicU64,
    failed: AtomicU64,
}

impl AcmeMetrics {
    /// A certificate that expires at `not_after` is served.
    pub(crate) fn serving(&self, not_after: SystemTime) {
        let secs = not_after
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.expiry.store(secs, Relaxed);
    }

    pub(crate) fn issued(&self) {
        self.issued.fetch_add(1, Relaxed);
    }

    pub(crate) fn failed(&self) {
        self.failed.fetch_add(1, Relaxed);
    }
}

impl Source for AcmeMetrics {
    fn render(&self, out: &mut Exposition) {
        out.single(
            "parlor_acme_certificate_expiry_seconds",
            Kind::Gauge,
            "When the served ACME certificate expires, in Unix seconds (0: none yet).",
            self.expiry.load(Relaxed),
        );
        out.single(
            "parlor_acme_certificates_issued_total",
            Kind::Counter,
            "Certificates the ACME CA issued to this server.",
            self.issued.load(Relaxed),
        );
        out.single(
            "parlor_acme_orders_failed_total",
            Kind::Counter,
            "Certificate orders that failed (each is retried later).",
            self.failed.load(Relaxed),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Registry;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn renders_expiry_and_counts() {
        let metrics = Arc::new(AcmeMetrics::default());
        metrics.serving(UNIX_EPOCH + Duration::from_secs(1_900_000_000));
        metrics.issued();
        metrics.failed();
        metrics.failed();
        let mut registry = Registry::default();
        registry.register(metrics);
        let text = registry.render();
        assert!(
            text.contains("\nparlor_acme_certificate_expiry_seconds 1900000000\n"),
            "{text}"
        );
        assert!(
            text.contains("\nparlor_acme_certificates_issued_total 1\n"),
            "{text}"
        );
        assert!(
            text.contains("\nparlor_acme_orders_failed_total 2\n"),
            "{text}"
        );
    }
}
