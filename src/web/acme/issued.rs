//! A certificate from the ACME CA, as kept in the state directory: its
//! private key and chain in one PEM file, and what the renewal needs to
//! know of it (its validity, the names it covers). Free of I/O.

use std::time::{Duration, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A certificate chain with its key, read and checked.
#[derive(Debug)]
pub(crate) struct Issued {
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) key: PrivateKeyDer<'static>,
    pub(crate) not_before: SystemTime,
    pub(crate) not_after: SystemTime,
    /// The DNS names of the leaf, lower-case.
    pub(crate) names: Vec<String>,
}

impl Issued {
    /// Reads `pem`: a private key and a chain, leaf first, in any order of
    /// blocks (the file this module writes has the key first).
    pub(crate) fn parse(pem: &[u8]) -> Result<Issued, String> {
        let chain = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| format!("unreadable certificate: {err}"))?;
        let key = PrivateKeyDer::from_pem_slice(pem)
            .map_err(|err| format!("unreadable private key: {err}"))?;
        let leaf = chain.first().ok_or("no certificate")?;
        let (_, parsed) = x509_parser::parse_x509_certificate(leaf)
            .map_err(|err| format!("unreadable certificate: {err}"))?;
        let time = |t: &x509_parser::time::ASN1Time| {
            let secs = u64::try_from(t.timestamp()).unwrap_or(0);
            SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
        };
        let validity = parsed.validity();
        let names = match parsed.subject_alternative_name() {
            Ok(Some(san)) => san
                .value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    x509_parser::extensions::GeneralName::DNSName(dns) => {
                        Some(dns.to_ascii_lowercase())
                    }
                    _ => None,
                })
                .collect(),
            Ok(None) => Vec::new(),
            Err(err) => return Err(format!("unreadable names: {err}")),
        };
        Ok(Issued {
            not_before: time(&validity.not_before),
            not_after: time(&validity.not_after),
            chain,
            key,
            names,
        })
    }

    /// The file's content: `key_pem` then `chain_pem`, as the CA gave them.
    pub(crate) fn file(key_pem: &str, chain_pem: &str) -> String {
        format!("{}\n{}", key_pem.trim_end(), chain_pem)
    }

    /// Whether it can serve `domains` at `now`: it names each, and it has
    /// not expired.
    pub(crate) fn serves(&self, domains: &[String], now: SystemTime) -> bool {
        now < self.not_after
            && domains
                .iter()
                .all(|domain| self.names.contains(&domain.to_ascii_lowercase()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    fn made(names: &[&str], from: SystemTime, to: SystemTime) -> String {
        let mut params = rcgen::CertificateParams::new(
            names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>(),
        )
        .unwrap();
        params.not_before = from.into();
        params.not_after = to.into();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Issued::file(&key.serialize_pem(), &cert.pem())
    }

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn a_kept_certificate_tells_its_validity_and_names() {
        let (from, to) = (at(1_800_000_000), at(1_800_000_000) + 90 * DAY);
        let issued =
            Issued::parse(made(&["Parlor.Example", "b.example"], from, to).as_bytes()).unwrap();
        assert_eq!((issued.not_before, issued.not_after), (from, to));
        assert_eq!(issued.names, ["parlor.example", "b.example"]);
        assert_eq!(issued.chain.len(), 1);
        let domains = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        assert!(issued.serves(&domains(&["parlor.example"]), from + DAY));
        assert!(issued.serves(&domains(&["b.example", "PARLOR.example"]), from + DAY));
        assert!(!issued.serves(&domains(&["c.example"]), from + DAY));
        assert!(!issued.serves(&domains(&["parlor.example"]), to));
    }

    #[test]
    fn a_damaged_file_is_refused() {
        let good = made(&["a.example"], at(1_800_000_000), at(1_900_000_000));
        assert!(Issued::parse(b"").is_err());
        assert!(Issued::parse(b"nonsense").is_err());
        let key_only = &good[..good.find("-----BEGIN CERTIFICATE").unwrap()];
        assert!(Issued::parse(key_only.as_bytes()).is_err());
        let cert_only = &good[good.find("-----BEGIN CERTIFICATE").unwrap()..];
        assert!(Issued::parse(cert_only.as_bytes()).is_err());
    }
}
