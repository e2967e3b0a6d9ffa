//! The providers' delivery callbacks, verified before anything is read from them, then turned
//! into [`msgops_delivery::DeliveryEvent`]s.
//!
//! Every verifier takes the raw body bytes as received (never a re-serialised form) and either
//! accepts or returns a [`Rejection`]; the HTTP layer (msgops-service) answers a rejection with
//! 403, counts it by [`RejectReason`] and logs its detail — which never holds a secret or the
//! body.
//!
//! - [`twilio`]: StatusCallback form posts (and JSON bodies with `bodySHA256`).
//! - [`sendgrid`]: the signed Event Webhook.
//! - [`sns`]: SNS HTTP(S) subscriptions; [`ses`]: the SES event records they carry.

pub mod sendgrid;
pub mod ses;
pub mod sns;
pub mod twilio;

/// Why a callback was refused, for metrics (`msgops_webhook_rejected_total{source,reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// No signature header (or no signature field).
    Unsigned,
    /// A signature that does not verify with any accepted key.
    BadSignature,
    /// Signed, but outside the replay window (too old, or too far in the future).
    Stale,
    /// The body cannot be read as the provider's format.
    Malformed,
    /// SNS: a `SigningCertURL` that is not https on an `sns.<region>.amazonaws.com` host, or a
    /// certificate that cannot be fetched or read.
    UntrustedCertificate,
    /// SNS: a topic not in the configured TopicArns.
    UnknownTopic,
    /// Nothing to verify with: no auth token, public key or public URL configured.
    NotConfigured,
}

impl RejectReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unsigned => "unsigned",
            Self::BadSignature => "bad_signature",
            Self::Stale => "stale",
            Self::Malformed => "malformed",
            Self::UntrustedCertificate => "untrusted_certificate",
            Self::UnknownTopic => "unknown_topic",
            Self::NotConfigured => "not_configured",
        }
    }
}

/// A refused callback: why, and a detail for the log (never a secret, never the body).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {detail}", reason.as_str())]
pub struct Rejection {
    pub reason: RejectReason,
    pub detail: String,
}

impl Rejection {
    pub fn new(reason: RejectReason, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
        }
    }
}
