//! Whose certificate the client accepts: the one pinned by its SHA-256 fingerprint (trust on
//! first use, after the user compared it with what `msgops serve` printed), or any the system
//! roots vouch for. With a pin the host name is not checked — the pin says more than a name.

use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// A certificate's SHA-256 fingerprint, as `openssl x509 -fingerprint -sha256` and
/// `msgops serve` print it: upper-case hex pairs joined by colons.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// Of a DER certificate: the same rule `msgops serve` prints it by.
    pub fn of(der: &[u8]) -> Self {
        Self(msgops_service::tls::fingerprint(der))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Fingerprint {
    type Err = String;

    /// Takes it as people paste it: either case, with or without colons or spaces, with or
    /// without a `sha256` / `SHA256 Fingerprint=` prefix.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let s = s.rsplit_once('=').map_or(s, |(_, v)| v);
        let hex: String = s
            .chars()
            .filter(|c| !matches!(c, ':' | ' ' | '-'))
            .collect::<String>()
            .to_ascii_uppercase();
        let hex = hex.strip_prefix("SHA256").unwrap_or(&hex);
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "`{s}` is not a SHA-256 fingerprint (64 hex digits, like AB:CD:…, as `msgops serve` prints it)"
            ));
        }
        let pairs: Vec<String> = hex
            .as_bytes()
            .chunks(2)
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect();
        Ok(Self(pairs.join(":")))
    }
}

/// How the server's certificate is judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// Only the certificate with this fingerprint.
    Pinned(Fingerprint),
    /// Any certificate the system's roots vouch for, for the URL's host.
    SystemRoots,
    /// Any certificate at all — only to read its fingerprint for the user to compare; never used
    /// with a token.
    FirstLook,
}

/// Checks certificates as [`Trust`] says and remembers the last one presented.
#[derive(Debug)]
pub(crate) struct Verifier {
    trust: Trust,
    roots: Option<rustls_platform_verifier::Verifier>,
    provider: Arc<CryptoProvider>,
    pub(crate) presented: Arc<Mutex<Option<Fingerprint>>>,
}

impl Verifier {
    pub(crate) fn new(trust: Trust, provider: Arc<CryptoProvider>) -> Result<Self, rustls::Error> {
        let roots = match trust {
            Trust::SystemRoots => Some(rustls_platform_verifier::Verifier::new(provider.clone())?),
            Trust::Pinned(_) | Trust::FirstLook => None,
        };
        Ok(Self {
            trust,
            roots,
            provider,
            presented: Arc::new(Mutex::new(None)),
        })
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = Fingerprint::of(end_entity);
        *self
            .presented
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(presented.clone());
        match (&self.trust, &self.roots) {
            (Trust::Pinned(pin), _) if *pin == presented => Ok(ServerCertVerified::assertion()),
            (Trust::Pinned(_), _) => Err(rustls::Error::General(
                "the server's certificate is not the pinned one".into(),
            )),
            (Trust::FirstLook, _) => Ok(ServerCertVerified::assertion()),
            (Trust::SystemRoots, Some(roots)) => {
                roots.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            (Trust::SystemRoots, None) => Err(rustls::Error::General("no system roots".into())),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fingerprint_is_read_however_it_is_pasted() {
        let fp = Fingerprint::of(b"certificate");
        let plain = fp.as_str().replace(':', "").to_ascii_lowercase();
        assert_eq!(plain.parse::<Fingerprint>().expect("plain"), fp);
        assert_eq!(
            format!("sha256 Fingerprint={}", fp.as_str())
                .parse::<Fingerprint>()
                .expect("openssl"),
            fp
        );
        assert_eq!(fp.as_str().len(), 32 * 3 - 1);
        let err = "AB:CD".parse::<Fingerprint>().expect_err("short");
        assert!(err.contains("64 hex digits"), "{err}");
    }
}
