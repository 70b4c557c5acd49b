//! Certificates from a real ACME CA: Debian's `pebble` test server, started
//! here on loopback ports, validating Parlor by TLS-ALPN-01 on its HTTPS
//! port. Parlor gets a certificate for `localhost` that chains to this
//! pebble's root, serves a renewed one without a restart, after a restart
//! serves the kept one without the CA, and when the CA cannot be reached
//! keeps HTTPS up, logs why and gets its certificate on the next attempt.
//!
//! Pebble 2.4 dials `IDENTIFIER:tlsPort` with Go's `net.Dialer`, which
//! resolves `localhost` from /etc/hosts (it logs "Using system DNS resolver
//! for ACME challenges" when not given `-dnsserver`), so the domain is
//! `localhost` and `tlsPort` is Parlor's port, reserved before either
//! starts.
//!
//! Without pebble these tests fail, unless `PARLOR_SKIP_ACME=1`: install
//! it with `apt-get install -y pebble`.

mod support;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use sha2::{Digest, Sha256};
use support::{Process, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The one name these tests certify.
const DOMAIN: &str = "localhost";

/// How long the CA gets to issue (pebble generates its keys at start, and
/// the first order follows; after a failure, Parlor retries 30 s later):
/// generous, since a loaded machine is slow.
const ISSUANCE: Duration = Duration::from_secs(90);

/// Whether pebble is here; fails when it is not, unless opted out.
fn pebble_present() -> bool {
    let on_path = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("pebble").is_file()));
    if on_path {
        return true;
    }
    assert!(
        std::env::var("PARLOR_SKIP_ACME").is_ok_and(|v| v == "1"),
        "pebble is not installed (apt-get install -y pebble), and PARLOR_SKIP_ACME=1 is not set"
    );
    eprintln!("skipped: pebble is not installed and PARLOR_SKIP_ACME=1");
    false
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fresh folder for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("acme-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Pebble, configured on free ports; killed when dropped.
struct Pebble {
    process: Option<Process>,
    config: PathBuf,
    port: u16,
    /// Its ACME directory URL.
    directory: String,
    /// The test CA its own HTTPS certificate is from (Debian's package
    /// ships no test certificate: this test makes one).
    ca_cert: PathBuf,
    /// Its management interface, for the root it issues under.
    management: SocketAddr,
}

impl Pebble {
    /// Pebble validating TLS-ALPN-01 on `tls_port`, issuing certificates
    /// valid for `validity` (its default, years, when `None`); running.
    fn start(dir: &Path, tls_port: u16, validity: Option<Duration>) -> Pebble {
        let mut pebble = Pebble::new(dir, tls_port, validity);
        pebble.run();
        pebble
    }

    /// The same, configured but not yet running.
    fn new(dir: &Path, tls_port: u16, validity: Option<Duration>) -> Pebble {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "Parlor test CA for pebble");
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let key = rcgen::KeyPair::generate().unwrap();
        let params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap();
        let file = |name: &str, text: String| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let ca_path = file("pebble-ca.pem", ca_cert.pem());
        let cert_path = file("pebble-cert.pem", cert.pem());
        let key_path = file("pebble-key.pem", key.serialize_pem());
        let (port, management_port) = (free_port(), free_port());
        let mut config = serde_json::json!({"pebble": {
            "listenAddress": format!("127.0.0.1:{port}"),
            "managementListenAddress": format!("127.0.0.1:{management_port}"),
            "certificate": cert_path,
            "privateKey": key_path,
            "httpPort": free_port(),
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
        }});
        if let Some(validity) = validity {
            config["pebble"]["certificateValidityPeriod"] = validity.as_secs().into();
        }
        Pebble {
            process: None,
            config: file("pebble-config.json", config.to_string()),
            port,
            directory: format!("https://127.0.0.1:{port}/dir"),
            ca_cert: ca_path,
            management: SocketAddr::from(([127, 0, 0, 1], management_port)),
        }
    }

    /// Starts it; returns once it listens.
    fn run(&mut self) {
        let port = self.port;
        let mut child = Command::new("pebble")
            .arg("-config")
            .arg(&self.config)
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("pebble starts");
        let stdout = child.stdout.take().unwrap();
        let process = Process(child);
        // Its last start-up line; then it listens (or has failed).
        let mut lines = BufReader::new(stdout).lines();
        let mut said = Vec::new();
        loop {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("pebble ended while starting: {said:#?}"))
                .unwrap();
            let ready = line.contains("ACME directory available at");
            said.push(line);
            if ready {
                break;
            }
        }
        // Keep reading its log, so that it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        let started = Instant::now();
        // Both the directory and the management interface: they open one
        // after the other.
        let listening = |port| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        while !(listening(port) && listening(self.management.port())) {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "pebble does not listen: {said:#?}"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
        self.process = Some(process);
    }

    /// The root this pebble issues under (it makes a new one at each start).
    async fn root(&self) -> CertificateDer<'static> {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_file(&self.ca_cert).unwrap())
            .unwrap();
        let mut tls = connect(self.management, roots)
            .await
            .expect("pebble's management interface");
        tls.write_all(b"GET /roots/0 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        let _ = tls.read_to_end(&mut answer).await;
        CertificateDer::from_pem_slice(&answer)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&answer)))
    }

    /// The flags that make Parlor order from this pebble.
    fn flags(&self) -> Vec<String> {
        [
            "--acme-domain",
            DOMAIN,
            "--acme-email",
            "operator@parlor.example",
            "--acme-directory",
            &self.directory,
            "--acme-ca-cert",
            self.ca_cert.to_str().unwrap(),
        ]
        .map(str::to_owned)
        .to_vec()
    }
}

/// A TLS connection to `addr` for `DOMAIN`, verified against `roots`.
async fn connect(
    addr: SocketAddr,
    roots: RootCertStore,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from(DOMAIN).unwrap(), tcp)
        .await
        .map_err(|e| e.to_string())
}

fn fingerprint(cert: &CertificateDer<'_>) -> String {
    let hex: Vec<String> = Sha256::digest(cert)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    hex.join(":")
}

/// Waits until `addr` serves a certificate for `DOMAIN` that chains to
/// `root` and is not `other`; returns its fingerprint. Each try is a real
/// handshake, verified as a browser trusting `root` would.
async fn served_from(
    addr: SocketAddr,
    root: &CertificateDer<'static>,
    other: Option<&str>,
) -> String {
    let started = Instant::now();
    loop {
        let mut roots = RootCertStore::empty();
        roots.add(root.clone()).unwrap();
        let last = match connect(addr, roots).await {
            Ok(tls) => {
                let leaf = &tls.get_ref().1.peer_certificates().unwrap()[0];
                let seen = fingerprint(leaf);
                if Some(seen.as_str()) != other {
                    return seen;
                }
                format!("still the certificate {seen}")
            }
            Err(err) => err,
        };
        assert!(
            started.elapsed() < ISSUANCE,
            "no certificate from pebble within {ISSUANCE:?}: {last}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The value of the unlabelled sample `name` of `/metrics`, asked over a
/// connection verified against `root`.
async fn metric(addr: SocketAddr, root: &CertificateDer<'static>, name: &str) -> u64 {
    let mut roots = RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    let mut tls = connect(addr, roots).await.unwrap();
    tls.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    let _ = tls.read_to_string(&mut answer).await;
    answer
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name} "))?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {answer}"))
}

/// Parlor on `port` with the state in `state` and `flags`.
fn parlor(port: u16, state: &Path, flags: &[String]) -> Server {
    let listen = format!("127.0.0.1:{port}");
    let mut args = vec![
        "--listen",
        &listen,
        "--state-dir",
        state.to_str().unwrap(),
        "--turn-disable",
    ];
    args.extend(flags.iter().map(String::as_str));
    let server = Server::with_logs(&args);
    assert!(server.startup.https, "{:?}", server.startup);
    server
}

#[tokio::test]
async fn a_certificate_is_obtained_and_kept_across_a_restart_without_the_ca() {
    if !pebble_present() {
        return;
    }
    let dir = scratch("kept");
    let state = dir.join("state");
    let port = free_port();
    let pebble = Pebble::start(&dir, port, None);
    let root = pebble.root().await;
    let flags = pebble.flags();

    let mut first = parlor(port, &state, &flags);
    // Until the CA has issued, HTTPS is up with a self-signed certificate.
    assert!(first.startup.certificate_names.contains(&DOMAIN.to_owned()));
    let issued = served_from(first.addr, &root, None).await;
    first.terminate();
    let logs = first.logs();
    assert!(logs.contains("serving a new ACME certificate"), "{logs}");

    // The CA is gone: the restarted server must not need it.
    drop(pebble);
    let mut second = parlor(free_port(), &state, &flags);
    assert_eq!(second.fingerprint(), issued);
    assert!(
        second.startup.certificate_names.is_empty(),
        "not self-signed"
    );
    assert_eq!(served_from(second.addr, &root, None).await, issued);
    second.terminate();
    let logs = second.logs();
    assert!(logs.contains("serving the kept ACME certificate"), "{logs}");
    assert!(!logs.contains("ordering a certificate"), "{logs}");

    let mode = |name: &str| {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(state.join(name)).unwrap().mode() & 0o777
    };
    assert_eq!(mode("acme-certificate.pem"), 0o600);
    assert_eq!(mode("acme-account.key"), 0o600);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_certificate_due_for_renewal_is_replaced_without_a_restart() {
    if !pebble_present() {
        return;
    }
    let dir = scratch("renewed");
    let port = free_port();
    // Renewed two thirds into its life: 20 s after issuance.
    let pebble = Pebble::start(&dir, port, Some(Duration::from_secs(30)));
    let root = pebble.root().await;
    let mut server = parlor(port, &dir.join("state"), &pebble.flags());
    let first = served_from(server.addr, &root, None).await;
    let renewed = served_from(server.addr, &root, Some(&first)).await;
    assert_ne!(first, renewed);
    assert!(server.is_running());
    server.terminate();
    let logs = server.logs();
    assert!(
        logs.matches("serving a new ACME certificate").count() >= 2,
        "{logs}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_failed_order_is_logged_and_retried_while_https_stays_up() {
    if !pebble_present() {
        return;
    }
    let dir = scratch("retried");
    let port = free_port();
    let mut pebble = Pebble::new(&dir, port, None);
    // The CA is not there yet: the first order fails, HTTPS stays up with
    // the self-signed certificate, and the order is retried 30 s later.
    let mut server = parlor(port, &dir.join("state"), &pebble.flags());
    pebble.run();
    let root = pebble.root().await;
    served_from(server.addr, &root, None).await;
    assert_eq!(
        metric(server.addr, &root, "parlor_acme_orders_failed_total").await,
        1
    );
    assert_eq!(
        metric(server.addr, &root, "parlor_acme_certificates_issued_total").await,
        1
    );
    let expiry = metric(server.addr, &root, "parlor_acme_certificate_expiry_seconds").await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(expiry > now + 86_400, "{expiry}");
    server.terminate();
    let logs = server.logs();
    assert!(
        logs.contains("cannot obtain a certificate from the ACME CA")
            && logs.contains("Connection refused")
            && logs.contains("retry_in"),
        "{logs}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
