//! SNS HTTP(S) subscriptions: notifications and subscription confirmations, verified with the
//! certificate SNS signs them with (SignatureVersion `1`: RSA PKCS#1 v1.5 with SHA-1, `2`: with
//! SHA-256).
//!
//! The order of the checks, each with its [`RejectReason`]: the body is read as an SNS message
//! ([`Malformed`](RejectReason::Malformed)), its topic must be configured
//! ([`UnknownTopic`](RejectReason::UnknownTopic)), it must carry a signature
//! ([`Unsigned`](RejectReason::Unsigned)), its `SigningCertURL` must be https on an
//! `sns.<region>.amazonaws.com[.cn]` host with a `.pem` path
//! ([`UntrustedCertificate`](RejectReason::UntrustedCertificate)), its `Timestamp` must be in
//! the window ([`Stale`](RejectReason::Stale)) and its signature must verify with the
//! certificate's key ([`BadSignature`](RejectReason::BadSignature)).
//!
//! Certificates are fetched without following redirects (a redirect would leave the checked
//! host) and kept by URL, at most [`CERTIFICATE_CACHE_SIZE`] of them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{
    alg_id, AlgorithmIdentifier, CertificateDer, InvalidSignature, SignatureVerificationAlgorithm,
};
use serde::Deserialize;
use url::Url;

use crate::{RejectReason, Rejection};

/// How many certificates are kept (by URL); the oldest is dropped first.
pub const CERTIFICATE_CACHE_SIZE: usize = 32;
/// How far in the future a Timestamp may be (clock skew).
const MAX_FUTURE: Duration = Duration::from_secs(5 * 60);
/// Connect and whole-request timeout of the certificate and SubscribeURL fetches.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// A certificate PEM is about 2 KiB; anything much larger is not one.
const MAX_CERTIFICATE_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct SnsSettings {
    /// Only these topics are accepted (and confirmed). Empty: every notification is
    /// UnknownTopic.
    pub topic_arns: Vec<String>,
    /// Notifications whose Timestamp is older than this (or more than 5 min in the future) are
    /// Stale. Default 1 hour.
    pub max_age: Duration,
    /// Test only: after the SigningCertURL / SubscribeURL passed the host check, fetch it from
    /// this base instead (`http://127.0.0.1:PORT`), keeping its path and query and sending the
    /// original host in the Host header. None in production.
    pub fetch_base_override: Option<String>,
}

impl Default for SnsSettings {
    fn default() -> Self {
        Self {
            topic_arns: Vec::new(),
            max_age: Duration::from_secs(60 * 60),
            fetch_base_override: None,
        }
    }
}

/// A verified SNS message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnsMessage {
    Notification {
        message_id: String,
        topic_arn: String,
        subject: Option<String>,
        message: String,
        timestamp: DateTime<Utc>,
    },
    SubscriptionConfirmation {
        message_id: String,
        topic_arn: String,
        token: String,
        subscribe_url: String,
        timestamp: DateTime<Utc>,
    },
    UnsubscribeConfirmation {
        message_id: String,
        topic_arn: String,
        token: String,
        subscribe_url: String,
        timestamp: DateTime<Utc>,
    },
}

impl SnsMessage {
    pub fn topic_arn(&self) -> &str {
        match self {
            Self::Notification { topic_arn, .. }
            | Self::SubscriptionConfirmation { topic_arn, .. }
            | Self::UnsubscribeConfirmation { topic_arn, .. } => topic_arn,
        }
    }

    pub fn message_id(&self) -> &str {
        match self {
            Self::Notification { message_id, .. }
            | Self::SubscriptionConfirmation { message_id, .. }
            | Self::UnsubscribeConfirmation { message_id, .. } => message_id,
        }
    }
}

/// The fields of an SNS message that are read; every other one (UnsubscribeURL,
/// MessageAttributes, ...) is ignored. A field given twice, or not as a string, is Malformed.
#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "Type")]
    kind: Option<String>,
    #[serde(rename = "MessageId")]
    message_id: Option<String>,
    #[serde(rename = "TopicArn")]
    topic_arn: Option<String>,
    #[serde(rename = "Subject")]
    subject: Option<String>,
    #[serde(rename = "Message")]
    message: Option<String>,
    #[serde(rename = "Timestamp")]
    timestamp: Option<String>,
    #[serde(rename = "Token")]
    token: Option<String>,
    #[serde(rename = "SubscribeURL")]
    subscribe_url: Option<String>,
    #[serde(rename = "SignatureVersion")]
    signature_version: Option<String>,
    #[serde(rename = "Signature")]
    signature: Option<String>,
    #[serde(rename = "SigningCertURL")]
    signing_cert_url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Notification,
    SubscriptionConfirmation,
    UnsubscribeConfirmation,
}

/// RSA PKCS#1 v1.5 over the SubjectPublicKeyInfo of the certificate, as webpki hands it over.
#[derive(Debug)]
struct RsaPkcs1 {
    parameters: &'static aws_lc_rs::signature::RsaParameters,
    signature_alg_id: AlgorithmIdentifier,
}

/// sha1WithRSAEncryption (1.2.840.113549.1.1.5), NULL parameters: the contents of the
/// AlgorithmIdentifier SEQUENCE, as the constants of [`alg_id`] are written.
const RSA_PKCS1_SHA1_ALG_ID: AlgorithmIdentifier = AlgorithmIdentifier::from_slice(&[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05, 0x05, 0x00,
]);

/// SignatureVersion 1.
static RSA_PKCS1_SHA1: RsaPkcs1 = RsaPkcs1 {
    parameters: &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
    signature_alg_id: RSA_PKCS1_SHA1_ALG_ID,
};

/// SignatureVersion 2.
static RSA_PKCS1_SHA256: RsaPkcs1 = RsaPkcs1 {
    parameters: &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
    signature_alg_id: alg_id::RSA_PKCS1_SHA256,
};

impl SignatureVerificationAlgorithm for RsaPkcs1 {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        aws_lc_rs::signature::UnparsedPublicKey::new(self.parameters, public_key)
            .verify(message, signature)
            .map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::RSA_ENCRYPTION
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        self.signature_alg_id
    }
}

/// Verifies SNS messages; one per process (it keeps the fetched certificates).
pub struct SnsVerifier {
    settings: SnsSettings,
    client: Result<reqwest::Client, String>,
    /// (SigningCertURL, certificate DER), most recent last.
    certificates: Mutex<VecDeque<(String, Vec<u8>)>>,
    fetched: AtomicU64,
}

impl std::fmt::Debug for SnsVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnsVerifier")
            .field("settings", &self.settings)
            .field("certificates_fetched", &self.certificates_fetched())
            .finish_non_exhaustive()
    }
}

fn malformed(detail: impl Into<String>) -> Rejection {
    Rejection::new(RejectReason::Malformed, detail)
}

fn untrusted(detail: impl Into<String>) -> Rejection {
    Rejection::new(RejectReason::UntrustedCertificate, detail)
}

fn required(field: Option<String>, name: &str) -> Result<String, Rejection> {
    field.ok_or_else(|| malformed(format!("no {name}")))
}

/// An SNS region name: `us-east-1`, `us-gov-west-1`, `cn-north-1`.
fn is_region(region: &str) -> bool {
    let mut parts = region.split('-');
    let first_is_letters = parts
        .next()
        .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()));
    let rest: Vec<&str> = parts.collect();
    first_is_letters
        && rest.len() >= 2
        && rest.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && rest
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

/// `sns.<region>.amazonaws.com`, or `sns.cn-<...>.amazonaws.com.cn`.
fn is_sns_host(host: &str) -> bool {
    let Some(rest) = host.strip_prefix("sns.") else {
        return false;
    };
    if let Some(region) = rest.strip_suffix(".amazonaws.com") {
        is_region(region)
    } else if let Some(region) = rest.strip_suffix(".amazonaws.com.cn") {
        region.starts_with("cn-") && is_region(region)
    } else {
        false
    }
}

/// An https URL on an SNS host, with no user info and the default port. Returns the parsed URL
/// and its host. The errors name the part that is wrong, never the whole URL (a SubscribeURL
/// holds the confirmation token).
fn checked_sns_url(raw: &str, what: &str) -> Result<(Url, String), String> {
    let url = Url::parse(raw).map_err(|e| format!("{what} is not a URL ({e})"))?;
    if url.scheme() != "https" {
        return Err(format!("{what} is not https but {}", short(url.scheme())));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{what} carries user info"));
    }
    if let Some(port) = url.port() {
        return Err(format!("{what} names port {port}"));
    }
    let host = match url.host() {
        Some(url::Host::Domain(host)) => host.to_owned(),
        _ => return Err(format!("{what} has no host name")),
    };
    if !is_sns_host(&host) {
        return Err(format!(
            "{what} host {} is not sns.<region>.amazonaws.com",
            short(&host)
        ));
    }
    Ok((url, host))
}

/// A value from the body, cut short for a log line.
fn short(value: &str) -> String {
    const MAX: usize = 64;
    match value.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}...", &value[..end]),
        None => value.to_owned(),
    }
}

/// A SigningCertURL SNS would use: [`checked_sns_url`], and a path ending in `.pem`.
fn checked_certificate_url(raw: &str) -> Result<(Url, String), Rejection> {
    let (url, host) = checked_sns_url(raw, "SigningCertURL").map_err(untrusted)?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(untrusted(format!(
            "SigningCertURL {} has a query or fragment",
            short(raw)
        )));
    }
    if !url.path().ends_with(".pem") {
        return Err(untrusted(format!(
            "SigningCertURL path {} does not end in .pem",
            short(url.path())
        )));
    }
    Ok((url, host))
}

/// The string SNS signs: each field as `Key\nvalue\n`, in this order.
fn string_to_sign(kind: Kind, envelope: &Envelope) -> String {
    let fields: Vec<(&str, Option<&String>)> = match kind {
        Kind::Notification => vec![
            ("Message", envelope.message.as_ref()),
            ("MessageId", envelope.message_id.as_ref()),
            ("Subject", envelope.subject.as_ref()),
            ("Timestamp", envelope.timestamp.as_ref()),
            ("TopicArn", envelope.topic_arn.as_ref()),
            ("Type", envelope.kind.as_ref()),
        ],
        Kind::SubscriptionConfirmation | Kind::UnsubscribeConfirmation => vec![
            ("Message", envelope.message.as_ref()),
            ("MessageId", envelope.message_id.as_ref()),
            ("SubscribeURL", envelope.subscribe_url.as_ref()),
            ("Timestamp", envelope.timestamp.as_ref()),
            ("Token", envelope.token.as_ref()),
            ("TopicArn", envelope.topic_arn.as_ref()),
            ("Type", envelope.kind.as_ref()),
        ],
    };
    let mut out = String::new();
    for (key, value) in fields {
        if let Some(value) = value {
            out.push_str(key);
            out.push('\n');
            out.push_str(value);
            out.push('\n');
        }
    }
    out
}

impl SnsVerifier {
    pub fn new(settings: SnsSettings) -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(HTTP_TIMEOUT)
            .timeout(HTTP_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("no HTTP client: {e}"));
        Self {
            settings,
            client,
            certificates: Mutex::new(VecDeque::new()),
            fetched: AtomicU64::new(0),
        }
    }

    /// Certificates fetched so far (for tests of the cache).
    pub fn certificates_fetched(&self) -> u64 {
        self.fetched.load(Ordering::Relaxed)
    }

    fn topic_allowed(&self, topic_arn: &str) -> bool {
        self.settings.topic_arns.iter().any(|t| t == topic_arn)
    }

    /// Parses the raw body (JSON; never re-serialised), checks the topic against topic_arns
    /// (UnknownTopic), SigningCertURL (https, host `sns.<region>.amazonaws.com` or
    /// `sns.<region>.amazonaws.com.cn`, path ending .pem: else UntrustedCertificate), the
    /// timestamp (Stale), then the signature: SignatureVersion "1" = RSA PKCS#1 v1.5 SHA-1,
    /// "2" = SHA-256, over the canonical string. Unsigned when Signature missing; BadSignature
    /// when it does not verify; Malformed for bad JSON/missing fields/unknown
    /// SignatureVersion.
    pub async fn verify(&self, body: &[u8], now: DateTime<Utc>) -> Result<SnsMessage, Rejection> {
        // serde_json's messages can quote a piece of the body: keep only where it failed.
        let envelope: Envelope = serde_json::from_slice(body).map_err(|e| {
            malformed(format!(
                "not an SNS message ({:?} error at line {} column {})",
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
        let kind = match envelope.kind.as_deref() {
            Some("Notification") => Kind::Notification,
            Some("SubscriptionConfirmation") => Kind::SubscriptionConfirmation,
            Some("UnsubscribeConfirmation") => Kind::UnsubscribeConfirmation,
            Some(other) => return Err(malformed(format!("unknown Type {:?}", short(other)))),
            None => return Err(malformed("no Type")),
        };
        let message_id = required(envelope.message_id.clone(), "MessageId")?;
        let topic_arn = required(envelope.topic_arn.clone(), "TopicArn")?;
        let message = required(envelope.message.clone(), "Message")?;
        let raw_timestamp = required(envelope.timestamp.clone(), "Timestamp")?;
        let timestamp = DateTime::parse_from_rfc3339(&raw_timestamp)
            .map_err(|e| {
                malformed(format!(
                    "Timestamp {:?} is not RFC 3339 ({e})",
                    short(&raw_timestamp)
                ))
            })?
            .with_timezone(&Utc);
        let verified = match kind {
            Kind::Notification => SnsMessage::Notification {
                message_id,
                topic_arn,
                subject: envelope.subject.clone(),
                message,
                timestamp,
            },
            Kind::SubscriptionConfirmation | Kind::UnsubscribeConfirmation => {
                let token = required(envelope.token.clone(), "Token")?;
                let subscribe_url = required(envelope.subscribe_url.clone(), "SubscribeURL")?;
                if kind == Kind::SubscriptionConfirmation {
                    SnsMessage::SubscriptionConfirmation {
                        message_id,
                        topic_arn,
                        token,
                        subscribe_url,
                        timestamp,
                    }
                } else {
                    SnsMessage::UnsubscribeConfirmation {
                        message_id,
                        topic_arn,
                        token,
                        subscribe_url,
                        timestamp,
                    }
                }
            }
        };

        if !self.topic_allowed(verified.topic_arn()) {
            return Err(Rejection::new(
                RejectReason::UnknownTopic,
                format!("topic {} is not configured", verified.topic_arn()),
            ));
        }

        let Some(signature) = envelope.signature.as_deref() else {
            return Err(Rejection::new(RejectReason::Unsigned, "no Signature"));
        };
        let algorithm: &RsaPkcs1 = match envelope.signature_version.as_deref() {
            Some("1") => &RSA_PKCS1_SHA1,
            Some("2") => &RSA_PKCS1_SHA256,
            Some(other) => {
                return Err(malformed(format!(
                    "unknown SignatureVersion {:?}",
                    short(other)
                )));
            }
            None => return Err(malformed("no SignatureVersion")),
        };

        let Some(cert_url) = envelope.signing_cert_url.as_deref() else {
            return Err(untrusted("no SigningCertURL"));
        };
        let (url, host) = checked_certificate_url(cert_url)?;

        let age = now.signed_duration_since(timestamp);
        let max_age =
            chrono::Duration::from_std(self.settings.max_age).unwrap_or(chrono::Duration::MAX);
        let max_future = chrono::Duration::from_std(MAX_FUTURE).unwrap_or(chrono::Duration::zero());
        if age > max_age {
            return Err(Rejection::new(
                RejectReason::Stale,
                format!(
                    "Timestamp {raw_timestamp} is {} s old (at most {} s)",
                    age.num_seconds(),
                    max_age.num_seconds()
                ),
            ));
        }
        if -age > max_future {
            return Err(Rejection::new(
                RejectReason::Stale,
                format!(
                    "Timestamp {raw_timestamp} is {} s in the future",
                    (-age).num_seconds()
                ),
            ));
        }

        let signature = base64::engine::general_purpose::STANDARD
            .decode(signature.trim())
            .map_err(|e| {
                Rejection::new(
                    RejectReason::BadSignature,
                    format!("Signature is not base64 ({e})"),
                )
            })?;

        let der = self.certificate(cert_url, &url, &host).await?;
        let der = CertificateDer::from(der);
        let certificate = webpki::EndEntityCert::try_from(&der)
            .map_err(|e| untrusted(format!("certificate at {cert_url} is not readable ({e})")))?;
        let signed = string_to_sign(kind, &envelope);
        match certificate.verify_signature(algorithm, signed.as_bytes(), &signature) {
            Ok(()) => Ok(verified),
            Err(webpki::Error::InvalidSignatureForPublicKey) => Err(Rejection::new(
                RejectReason::BadSignature,
                format!(
                    "SignatureVersion {} signature does not verify with the certificate at {cert_url}",
                    envelope.signature_version.as_deref().unwrap_or_default()
                ),
            )),
            Err(e) => Err(untrusted(format!(
                "certificate at {cert_url} has no RSA key ({e})"
            ))),
        }
    }

    /// The certificate DER for `cert_url`, from the cache or fetched (and then cached).
    async fn certificate(
        &self,
        cert_url: &str,
        url: &Url,
        host: &str,
    ) -> Result<Vec<u8>, Rejection> {
        if let Some(der) = self
            .certificates
            .lock()
            .map_err(|_| untrusted("certificate cache poisoned"))?
            .iter()
            .find(|(u, _)| u == cert_url)
            .map(|(_, der)| der.clone())
        {
            return Ok(der);
        }
        self.fetched.fetch_add(1, Ordering::Relaxed);
        let pem = self
            .get(url, host, MAX_CERTIFICATE_BYTES)
            .await
            .map_err(|e| untrusted(format!("certificate {cert_url}: {e}")))?;
        let der = CertificateDer::from_pem_slice(&pem).map_err(|e| {
            untrusted(format!(
                "certificate {cert_url} is not a PEM certificate ({e:?})"
            ))
        })?;
        webpki::EndEntityCert::try_from(&der)
            .map_err(|e| untrusted(format!("certificate {cert_url} is not readable ({e})")))?;
        let der = der.as_ref().to_vec();
        let mut cache = self
            .certificates
            .lock()
            .map_err(|_| untrusted("certificate cache poisoned"))?;
        if !cache.iter().any(|(u, _)| u == cert_url) {
            while cache.len() >= CERTIFICATE_CACHE_SIZE {
                cache.pop_front();
            }
            cache.push_back((cert_url.to_owned(), der.clone()));
        }
        Ok(der)
    }

    /// GETs `url` (already checked), or its path and query from `fetch_base_override` with the
    /// original Host. At most `limit` bytes of body.
    async fn get(&self, url: &Url, host: &str, limit: usize) -> Result<Vec<u8>, String> {
        let client = self.client.as_ref().map_err(Clone::clone)?;
        let request = match &self.settings.fetch_base_override {
            Some(base) => {
                let mut target = format!("{}{}", base.trim_end_matches('/'), url.path());
                if let Some(query) = url.query() {
                    target.push('?');
                    target.push_str(query);
                }
                client.get(target).header(reqwest::header::HOST, host)
            }
            None => client.get(url.clone()),
        };
        let mut response = request.send().await.map_err(|e| {
            // reqwest's Display names the URL, which for a SubscribeURL holds the token: keep
            // the kind of failure only.
            let what = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "cannot connect"
            } else {
                "request failed"
            };
            format!("GET {host}: {what}")
        })?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("GET {host} answered {status}"));
        }
        if response
            .content_length()
            .is_some_and(|length| length > limit as u64)
        {
            return Err(format!("GET {host}: more than {limit} bytes"));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|_| format!("GET {host}: the body broke off"))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > limit {
                return Err(format!("GET {host}: more than {limit} bytes"));
            }
        }
        Ok(body)
    }

    /// Confirms a verified SubscriptionConfirmation by GETting its SubscribeURL (the same host
    /// check: https + sns.<region>.amazonaws.com; fetch_base_override applies). Err is a
    /// message for the log.
    pub async fn confirm_subscription(&self, message: &SnsMessage) -> Result<(), String> {
        let SnsMessage::SubscriptionConfirmation {
            topic_arn,
            subscribe_url,
            ..
        } = message
        else {
            return Err(format!(
                "message {} is not a SubscriptionConfirmation",
                message.message_id()
            ));
        };
        if !self.topic_allowed(topic_arn) {
            return Err(format!("topic {topic_arn} is not configured"));
        }
        let (url, host) = checked_sns_url(subscribe_url, "SubscribeURL")?;
        if url.query_pairs().all(|(k, _)| k != "Token") {
            return Err("SubscribeURL has no Token".into());
        }
        self.get(&url, &host, MAX_CERTIFICATE_BYTES)
            .await
            .map_err(|e| format!("confirming the subscription to {topic_arn}: {e}"))?;
        tracing::info!(topic_arn = %topic_arn, "SNS subscription confirmed");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_url(url: &str) -> Result<(), RejectReason> {
        checked_certificate_url(url)
            .map(|_| ())
            .map_err(|r| r.reason)
    }

    #[test]
    fn signing_cert_urls_on_sns_hosts_pass() {
        for url in [
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
            "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem",
            "https://sns.us-gov-west-1.amazonaws.com/SimpleNotificationService-abc.pem",
            "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem",
            "https://SNS.US-EAST-1.AMAZONAWS.COM/SimpleNotificationService-abc.pem",
            "https://sns.us-east-1.amazonaws.com:443/SimpleNotificationService-abc.pem",
        ] {
            assert_eq!(cert_url(url), Ok(()), "{url}");
        }
    }

    #[test]
    fn signing_cert_urls_elsewhere_are_untrusted() {
        for url in [
            "http://sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com.evil.example/x.pem",
            "https://evil.example/sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com/x.txt",
            "https://sns.us-east-1.amazonaws.com/x.pem/",
            "https://sns.us-east-1.amazonaws.com/x.pem?a=b",
            "https://sns.us-east-1.amazonaws.com/x.pem#a",
            "https://sns.us-east-1.amazonaws.com@evil.example/x.pem",
            "https://user:pw@sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com:8443/x.pem",
            "https://sns.us-east-1.amazonaws.com./x.pem",
            "https://sns.amazonaws.com/x.pem",
            "https://sqs.us-east-1.amazonaws.com/x.pem",
            "https://sns..amazonaws.com/x.pem",
            "https://sns.evil.amazonaws.com/x.pem",
            "https://sns.us-east-1.evil.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com.cn/x.pem",
            "https://x.sns.us-east-1.amazonaws.com/x.pem",
            "https://1.2.3.4/x.pem",
            "file:///etc/sns.us-east-1.amazonaws.com.pem",
            "sns.us-east-1.amazonaws.com/x.pem",
            "",
        ] {
            assert_eq!(
                cert_url(url),
                Err(RejectReason::UntrustedCertificate),
                "{url}"
            );
        }
    }

    #[test]
    fn values_in_log_lines_are_cut_short() {
        assert_eq!(short("us-east-1"), "us-east-1");
        let long = "é".repeat(100);
        assert_eq!(short(&long), format!("{}...", "é".repeat(64)));
    }

    #[test]
    fn the_notification_string_leaves_out_a_missing_subject() {
        let mut envelope: Envelope = serde_json::from_str(
            r#"{"Type":"Notification","MessageId":"m","TopicArn":"t","Message":"a\nb","Timestamp":"2024-01-01T00:00:00.000Z","Token":"x"}"#,
        )
        .expect("an envelope");
        assert_eq!(
            string_to_sign(Kind::Notification, &envelope),
            "Message\na\nb\nMessageId\nm\nTimestamp\n2024-01-01T00:00:00.000Z\nTopicArn\nt\nType\nNotification\n"
        );
        envelope.subject = Some("s".into());
        assert_eq!(
            string_to_sign(Kind::Notification, &envelope),
            "Message\na\nb\nMessageId\nm\nSubject\ns\nTimestamp\n2024-01-01T00:00:00.000Z\nTopicArn\nt\nType\nNotification\n"
        );
    }

    #[tokio::test]
    async fn duplicate_or_non_string_fields_are_malformed_without_quoting_the_body() {
        let verifier = SnsVerifier::new(SnsSettings {
            topic_arns: vec!["t".into()],
            ..SnsSettings::default()
        });
        for body in [
            r#"{"Type":"Notification","Type":"SubscriptionConfirmation"}"#,
            r#"{"Type":"Notification","Message":{"secret":"value"}}"#,
            r#"{"Type":"Notification","Message":"secret-value","MessageId":7}"#,
            "not json secret-value",
            "",
        ] {
            let rejection = verifier
                .verify(body.as_bytes(), Utc::now())
                .await
                .expect_err("malformed");
            assert_eq!(rejection.reason, RejectReason::Malformed, "{body}");
            assert!(!rejection.detail.contains("secret"), "{}", rejection.detail);
        }
    }
}
