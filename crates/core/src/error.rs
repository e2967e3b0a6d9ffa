//! What went wrong with one provider call, classified so the chain can decide what to do next.
//! Messages here are shown to operators: they must never contain a credential.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// The kind of a failed provider call. The chain acts on the kind, never on the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ErrorKind {
    /// The provider refused our credentials (Twilio 20003, SendGrid 401/403, SMTP 535).
    /// Trips the breaker and fails over; the fix is rotating the key.
    Authentication,
    /// The provider asked us to slow down (HTTP 429, Twilio 20429). Fails over; the chain then
    /// skips the provider until its `retry_after` (or a short default) instead of opening the
    /// breaker, and only repeated throttling counts toward it (see `rate_limit::Throttle`).
    Throttled,
    /// Worth retrying elsewhere: 5xx, connection refused, timed out before the request was sent.
    Transient,
    /// Wrong for this message whatever provider we use (invalid recipient): failing over cannot
    /// help, so it neither trips a breaker nor fails over.
    Permanent,
    /// Timed out after the request was sent: the message may or may not have gone out.
    /// Recorded as such; counts as a failure and fails over (a second copy of a one-time code
    /// is better than none).
    Ambiguous,
}

impl ErrorKind {
    /// Whether this failure can count toward opening the provider's circuit breaker
    /// (`Throttled` only when repeated: the chain decides).
    pub fn trips_breaker(self) -> bool {
        !matches!(self, ErrorKind::Permanent)
    }

    /// Whether the chain should try the next provider after this failure.
    pub fn fails_over(self) -> bool {
        !matches!(self, ErrorKind::Permanent)
    }

    /// Plain words for an operator.
    pub fn describe(self) -> &'static str {
        match self {
            ErrorKind::Authentication => "Authentication failed",
            ErrorKind::Throttled => "Throttled by the provider",
            ErrorKind::Transient => "Provider unavailable",
            ErrorKind::Permanent => "Rejected for this recipient",
            ErrorKind::Ambiguous => "Timed out after sending (delivery unknown)",
        }
    }
}

/// A failed provider call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", kind.describe())]
pub struct SendError {
    pub kind: ErrorKind,
    /// What the provider said, in its own words where it gave any (never a secret).
    pub message: String,
    /// The provider's own error code (Twilio 20003, SMTP 535, HTTP status...).
    pub provider_code: Option<i64>,
    /// For throttling: how long the provider asked us to wait (its `Retry-After`), if it said.
    pub retry_after: Option<Duration>,
}

impl SendError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            provider_code: None,
            retry_after: None,
        }
    }
    pub fn authentication(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Authentication, message)
    }
    pub fn throttled(message: impl Into<String>, retry_after: Option<Duration>) -> Self {
        Self {
            retry_after,
            ..Self::new(ErrorKind::Throttled, message)
        }
    }
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Transient, message)
    }
    pub fn permanent(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Permanent, message)
    }
    pub fn ambiguous(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Ambiguous, message)
    }
    pub fn with_code(mut self, code: i64) -> Self {
        self.provider_code = Some(code);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permanent_errors_neither_trip_nor_fail_over() {
        assert!(!ErrorKind::Permanent.trips_breaker());
        assert!(!ErrorKind::Permanent.fails_over());
        for kind in [
            ErrorKind::Authentication,
            ErrorKind::Throttled,
            ErrorKind::Transient,
            ErrorKind::Ambiguous,
        ] {
            assert!(kind.trips_breaker() && kind.fails_over(), "{kind:?}");
        }
    }

    #[test]
    fn display_names_the_kind_and_the_providers_words() {
        let e = SendError::authentication("Twilio 20003: Authenticate").with_code(20003);
        assert_eq!(
            e.to_string(),
            "Authentication failed: Twilio 20003: Authenticate"
        );
    }
}
