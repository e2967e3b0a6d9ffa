//! HTTPS for the service: rustls (TLS 1.2 and 1.3, aws-lc-rs) over the same router and the same
//! graceful shutdown as plain HTTP ([`crate::serve_tls`]).
//!
//! - [`TlsIdentity`]: a certificate chain and its key, from PEM files (`--tls-cert`/`--tls-key`)
//!   or made and kept by [`self_signed`] (`--tls-self-signed`: `<data dir>/tls/{cert.pem,key.pem}`,
//!   reused on the next start so that clients' pins hold).
//! - [`fingerprint`]: the SHA-256 fingerprint of a certificate in the form
//!   `openssl x509 -fingerprint -sha256` prints (`AB:CD:…`), what a client pins on first use.
//! - [`TlsListener`]: accepts TCP and completes each handshake in its own task (bounded in time
//!   and number), so a client that stalls or speaks garbage delays nobody and stops nothing.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, RootCertStore};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::{CancellationToken, DropGuard};

/// What [`crate::serve_tls`] takes, so that callers need no rustls of their own.
pub use rustls::ServerConfig;

/// The folder of the data directory that keeps the self-signed certificate.
pub const TLS_DIR: &str = "tls";
/// The certificate's file in [`TLS_DIR`].
pub const CERT_FILE: &str = "cert.pem";
/// The private key's file in [`TLS_DIR`] (mode 0600).
pub const KEY_FILE: &str = "key.pem";
/// How long a self-signed certificate is valid (about ten years).
const SELF_SIGNED_DAYS: i64 = 3650;
/// A client has this long from connecting to finishing its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes under way at once; more connections wait in the kernel's backlog.
const MAX_HANDSHAKES: usize = 256;
/// How much of a plain-HTTP request is read before it is answered.
const PLAIN_REQUEST_HEAD_MAX: usize = 8 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error(
        "{path}: no certificate in it (a PEM file with -----BEGIN CERTIFICATE----- is needed)"
    )]
    NoCertificate { path: PathBuf },
    #[error("{path}: {what}")]
    Write { path: PathBuf, what: io::Error },
    #[error("the certificate and key cannot be used: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("the certificate cannot be made: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("`{0}` is not a host name or IP address")]
    BadName(String),
}

/// The one crypto provider the service's TLS uses, chosen explicitly (no process default needed).
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The SHA-256 fingerprint of a DER certificate as `openssl x509 -noout -fingerprint -sha256`
/// prints it: upper-case hex pairs joined by colons (95 characters).
pub fn fingerprint(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    let mut out = String::with_capacity(digest.len() * 3);
    for (i, byte) in digest.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push_str(&format!("{byte:02X}"));
    }
    out
}

/// A certificate chain (leaf first) and its private key.
pub struct TlsIdentity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("fingerprint", &self.fingerprint())
            .field("chain_len", &self.chain.len())
            .field("key", &"[elided]")
            .finish()
    }
}

impl TlsIdentity {
    /// Reads a PEM certificate chain (leaf first) and a PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let chain = CertificateDer::pem_file_iter(cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|source| TlsError::Read {
                path: cert.to_path_buf(),
                source,
            })?;
        if chain.is_empty() {
            return Err(TlsError::NoCertificate {
                path: cert.to_path_buf(),
            });
        }
        let key = PrivateKeyDer::from_pem_file(key).map_err(|source| TlsError::Read {
            path: key.to_path_buf(),
            source,
        })?;
        let identity = Self { chain, key };
        // A key that is not the certificate's is refused here, not at the first handshake.
        identity.server_config()?;
        Ok(identity)
    }

    /// The leaf certificate (the server's own), DER.
    pub fn leaf(&self) -> &CertificateDer<'static> {
        &self.chain[0]
    }

    /// The leaf certificate's [`fingerprint`].
    pub fn fingerprint(&self) -> String {
        fingerprint(self.leaf())
    }

    /// The rustls server configuration: TLS 1.3 and 1.2, HTTP/1.1 by ALPN, no client
    /// certificates.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let mut config = ServerConfig::builder_with_provider(crypto_provider())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// Whether a client that trusts this (self-signed) certificate accepts it for `name` now:
    /// `Ok(true)` if it does, `Ok(false)` if the certificate does not name it, an error if it
    /// is not valid at all (expired, not yet valid, …).
    fn covers(&self, name: &str) -> Result<bool, rustls::Error> {
        let server_name = ServerName::try_from(name.to_string())
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        let mut roots = RootCertStore::empty();
        roots.add(self.leaf().clone())?;
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            crypto_provider(),
        )
        .build()
        .map_err(|e| rustls::Error::General(e.to_string()))?;
        match verifier.verify_server_cert(self.leaf(), &[], &server_name, &[], UnixTime::now()) {
            Ok(_) => Ok(true),
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Checks a `--tls-name`: a DNS name or an IP address a client may use.
pub fn check_name(name: &str) -> Result<String, TlsError> {
    let name = name.trim();
    if name.is_empty() || name.contains('*') {
        return Err(TlsError::BadName(name.to_string()));
    }
    ServerName::try_from(name.to_string()).map_err(|_| TlsError::BadName(name.to_string()))?;
    Ok(name.to_string())
}

/// The names a self-signed certificate for a service on `listen` carries: localhost, 127.0.0.1,
/// ::1, the listen address's IP unless it is unspecified (0.0.0.0, ::), then `extra`; each once.
pub fn self_signed_names(listen: SocketAddr, extra: &[String]) -> Vec<String> {
    let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    if !listen.ip().is_unspecified() {
        names.push(listen.ip().to_string());
    }
    names.extend(extra.iter().cloned());
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.to_ascii_lowercase()));
    names
}

/// The folder that keeps the self-signed certificate: `<data dir>/tls`.
pub fn default_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(TLS_DIR)
}

/// A self-signed certificate made or reused by [`self_signed`].
#[derive(Debug)]
pub struct SelfSigned {
    pub identity: TlsIdentity,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    /// Made now (not reused from an earlier start): clients pinned to an older one must re-pin.
    pub created: bool,
    /// What the caller should tell the operator (names the kept certificate lacks, a key file
    /// whose mode was tightened, an expired certificate replaced).
    pub notes: Vec<String>,
}

/// The self-signed certificate kept in `dir` (`cert.pem`, `key.pem`), made for `names` when there
/// is none yet (or the kept one has expired). A kept certificate is reused even when it lacks
/// some of `names` — replacing it would break every client's pin — and the lack is noted.
/// `dir` is made mode 0700 and the key written mode 0600.
pub fn self_signed(dir: &Path, names: &[String]) -> Result<SelfSigned, TlsError> {
    let cert_path = dir.join(CERT_FILE);
    let key_path = dir.join(KEY_FILE);
    let mut notes = Vec::new();
    if cert_path.exists() && key_path.exists() {
        let identity = TlsIdentity::from_pem_files(&cert_path, &key_path)?;
        tighten(&key_path, 0o600, &mut notes);
        let mut uncovered = Vec::new();
        let mut stale = None;
        for name in names {
            match identity.covers(name) {
                Ok(true) => {}
                Ok(false) => uncovered.push(name.clone()),
                Err(e) => {
                    stale = Some(e);
                    break;
                }
            }
        }
        match stale {
            None => {
                if !uncovered.is_empty() {
                    notes.push(format!(
                        "the kept certificate {} does not name {}; it is kept so that clients' \
                         pins hold (remove {} to make one for the new names: its fingerprint \
                         will change)",
                        cert_path.display(),
                        uncovered.join(", "),
                        dir.display()
                    ));
                }
                return Ok(SelfSigned {
                    identity,
                    cert_path,
                    key_path,
                    created: false,
                    notes,
                });
            }
            Some(e) => notes.push(format!(
                "the kept certificate {} is no longer valid ({e}); made a new one (its \
                 fingerprint differs: clients must pin it anew)",
                cert_path.display()
            )),
        }
    }
    let (cert_pem, key_pem) = generate_self_signed(names)?;
    make_private_dir(dir)?;
    // The key first: a certificate on disk always has its key beside it.
    write_file(&key_path, key_pem.as_bytes(), 0o600)?;
    write_file(&cert_path, cert_pem.as_bytes(), 0o644)?;
    let identity = TlsIdentity::from_pem_files(&cert_path, &key_path)?;
    Ok(SelfSigned {
        identity,
        cert_path,
        key_path,
        created: true,
        notes,
    })
}

/// A new self-signed certificate (ECDSA P-256, server authentication, valid from yesterday for
/// about ten years) for `names` (DNS names and IP addresses): its PEM and its key's PEM.
pub fn generate_self_signed(names: &[String]) -> Result<(String, String), TlsError> {
    use chrono::Datelike;
    let mut params = rcgen::CertificateParams::new(names.to_vec())?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, "msgops serve (self-signed)");
    params.distinguished_name = dn;
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    let day = |d: chrono::DateTime<chrono::Utc>| {
        // Day and month always fit; the year too for the next few thousand years.
        rcgen::date_time_ymd(d.year(), d.month() as u8, d.day() as u8)
    };
    let from = chrono::Utc::now() - chrono::Duration::days(1);
    params.not_before = day(from);
    params.not_after = day(from + chrono::Duration::days(SELF_SIGNED_DAYS));
    let key = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn make_private_dir(dir: &Path) -> Result<(), TlsError> {
    let fail = |what| TlsError::Write {
        path: dir.to_path_buf(),
        what,
    };
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    match builder.create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(fail(e)),
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(fail)?;
    }
    Ok(())
}

/// Writes `path` whole (through a temporary file renamed over it) with `mode`.
fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), TlsError> {
    let fail = |what| TlsError::Write {
        path: path.to_path_buf(),
        what,
    };
    let tmp = path.with_extension(format!("pem.{}.tmp", std::process::id()));
    let written = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
        let mut file = options.open(&tmp)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        }
        #[cfg(not(unix))]
        let _ = mode;
        io::Write::write_all(&mut file, contents)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(fail)
}

/// Takes group and other permissions off a kept key file, noting it.
fn tighten(path: &Path, mode: u32, notes: &mut Vec<String>) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let current = meta.permissions().mode() & 0o777;
            if current & 0o077 != 0 {
                match std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)) {
                    Ok(()) => notes.push(format!(
                        "{} was readable by others (mode {current:o}); now {mode:o}",
                        path.display()
                    )),
                    Err(e) => notes.push(format!(
                        "{} is readable by others (mode {current:o}) and could not be \
                         changed: {e}",
                        path.display()
                    )),
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (path, mode, notes);
}

/// An [`axum::serve::Listener`] that speaks TLS: a task accepts TCP connections and completes
/// each handshake in a task of its own (at most 256 at once, each within 10 s);
/// [`accept`](axum::serve::Listener::accept) hands over the connections whose handshake
/// succeeded. A failed handshake is logged at debug level and costs nothing else; a plain-HTTP
/// request gets a 400 saying to use https. Dropping the listener (axum does at shutdown) closes
/// the port and ends the handshakes under way.
pub struct TlsListener {
    incoming: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local_addr: SocketAddr,
    _stop: DropGuard,
}

impl TlsListener {
    /// Starts accepting on `listener`. Needs a Tokio runtime.
    pub fn new(listener: TcpListener, config: Arc<ServerConfig>) -> io::Result<Self> {
        let local_addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        let (ready, incoming) = mpsc::channel(64);
        tokio::spawn(accept_loop(
            listener,
            TlsAcceptor::from(config),
            ready,
            stop.clone(),
        ));
        Ok(Self {
            incoming,
            local_addr,
            _stop: stop.drop_guard(),
        })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.incoming.recv().await {
            Some(connection) => connection,
            // The accepting task is gone (it only ends when this listener is dropped): no more
            // connections.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
    stop: CancellationToken,
) {
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let permit = tokio::select! {
            permit = handshakes.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
            () = stop.cancelled() => return,
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
            () = stop.cancelled() => return,
        };
        // Answers are written in one piece; do not let Nagle hold them back.
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let ready = ready.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let outcome = tokio::select! {
                outcome = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(&acceptor, tcp)) => outcome,
                () = stop.cancelled() => return,
            };
            match outcome {
                Ok(Ok(Some(tls))) => {
                    tokio::select! {
                        _ = ready.send((tls, peer)) => {}
                        () = stop.cancelled() => {}
                    }
                }
                Ok(Ok(None)) => {
                    tracing::debug!(%peer, "plain HTTP on the TLS port: answered 400, use https")
                }
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

/// As axum's own listener: errors about one connection are skipped; others (too many open
/// files, …) are logged and retried after a pause.
async fn accept_error(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

const PLAIN_HTTP_ANSWER: &[u8] = b"HTTP/1.1 400 Bad Request\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Length: 46\r\n\
Connection: close\r\n\
\r\n\
This port speaks HTTPS only: use https:// URLs";

/// The handshake; `None` when the client spoke plain HTTP instead (answered with a 400).
async fn handshake(
    acceptor: &TlsAcceptor,
    mut tcp: TcpStream,
) -> io::Result<Option<TlsStream<TcpStream>>> {
    let mut first = [0u8; 1];
    if tcp.peek(&mut first).await? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "closed before the handshake",
        ));
    }
    // A TLS record starts with 0x16 (handshake); an HTTP request with its method's letters.
    if first[0].is_ascii_uppercase() {
        answer_plain_http(&mut tcp).await;
        return Ok(None);
    }
    acceptor.accept(tcp).await.map(Some)
}

/// Reads the request head (so that closing does not reset the connection before the client
/// reads the answer), answers 400 and closes.
async fn answer_plain_http(tcp: &mut TcpStream) {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while head.len() < PLAIN_REQUEST_HEAD_MAX && !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let _ = tcp.write_all(PLAIN_HTTP_ANSWER).await;
    let _ = tcp.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_is_upper_case_hex_pairs_with_colons() {
        let f = fingerprint(b"abc");
        // SHA-256("abc")
        assert_eq!(
            f,
            "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD"
        );
        assert_eq!(f.len(), 95);
    }

    #[test]
    fn the_plain_http_answer_has_the_length_it_says() {
        let text = std::str::from_utf8(PLAIN_HTTP_ANSWER).expect("ascii");
        let (_, body) = text.split_once("\r\n\r\n").expect("head and body");
        assert!(text.contains(&format!("Content-Length: {}\r\n", body.len())));
    }

    #[test]
    fn self_signed_names_leave_out_unspecified_addresses_and_duplicates() {
        let any: SocketAddr = "0.0.0.0:5024".parse().expect("addr");
        assert_eq!(
            self_signed_names(any, &["ops.example.com".into(), "LOCALHOST".into()]),
            ["localhost", "127.0.0.1", "::1", "ops.example.com"]
        );
        let lan: SocketAddr = "192.0.2.7:5024".parse().expect("addr");
        assert_eq!(
            self_signed_names(lan, &[]),
            ["localhost", "127.0.0.1", "::1", "192.0.2.7"]
        );
        assert!(check_name("ops.example.com").is_ok());
        assert!(check_name("10.0.0.1").is_ok());
        assert!(check_name("*.example.com").is_err());
        assert!(check_name("not a name").is_err());
    }

    #[test]
    fn a_self_signed_certificate_is_kept_reused_and_names_what_it_lacks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tls = dir.path().join("data").join(TLS_DIR);
        let names = self_signed_names("127.0.0.1:0".parse().expect("addr"), &[]);
        let first = self_signed(&tls, &names).expect("made");
        assert!(first.created);
        assert!(first.notes.is_empty(), "{:?}", first.notes);
        for name in &names {
            assert!(first.identity.covers(name).expect("valid"), "{name}");
        }
        assert!(!first.identity.covers("ops.example.com").expect("valid"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode(&tls), 0o700);
            assert_eq!(mode(&first.key_path), 0o600);
        }
        let again = self_signed(&tls, &names).expect("reused");
        assert!(!again.created);
        assert_eq!(again.identity.fingerprint(), first.identity.fingerprint());
        let more = [names.clone(), vec!["ops.example.com".into()]].concat();
        let lacking = self_signed(&tls, &more).expect("reused");
        assert!(!lacking.created);
        assert_eq!(lacking.identity.fingerprint(), first.identity.fingerprint());
        assert!(
            lacking.notes.iter().any(|n| n.contains("ops.example.com")),
            "{:?}",
            lacking.notes
        );
    }

    #[test]
    fn a_key_that_is_not_the_certificates_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, _) = generate_self_signed(&["localhost".into()]).expect("one");
        let (_, other_key) = generate_self_signed(&["localhost".into()]).expect("two");
        let cert_path = dir.path().join("cert.pem");
        let key_path = dir.path().join("key.pem");
        std::fs::write(&cert_path, cert).expect("write");
        std::fs::write(&key_path, other_key).expect("write");
        let err = TlsIdentity::from_pem_files(&cert_path, &key_path).expect_err("mismatch");
        assert!(err.to_string().contains("cannot be used"), "{err}");
        std::fs::write(&cert_path, "not pem").expect("write");
        let err = TlsIdentity::from_pem_files(&cert_path, &key_path).expect_err("no cert");
        assert!(err.to_string().contains("no certificate"), "{err}");
    }
}
