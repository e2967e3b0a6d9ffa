//! Connect and request timeouts shared by every network provider, so that no call can hang.

use std::time::Duration;

/// How long a provider may wait. Every provider applies both; the chain adds its own
/// per-attempt timeout on top (`chain.per_attempt_timeout_ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// To open the TCP (and TLS) connection. Running out here means nothing was sent:
    /// `Transient`.
    pub connect: Duration,
    /// For the whole request, answer included. Running out after the request was written
    /// means the provider may have accepted it: `Ambiguous`.
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            request: Duration::from_secs(10),
        }
    }
}

impl Timeouts {
    /// The defaults, with the request timeout no longer than the chain's per-attempt timeout
    /// (a provider that answers after the chain gave up is of no use).
    pub fn for_chain(per_attempt_timeout: Duration) -> Self {
        let d = Self::default();
        Self {
            connect: d.connect.min(per_attempt_timeout),
            request: d.request.min(per_attempt_timeout),
        }
    }
}
