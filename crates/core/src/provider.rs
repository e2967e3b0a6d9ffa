//! The provider interface: one trait, used as `Provider<SmsMessage>` for SMS providers and
//! `Provider<EmailMessage>` for email providers. A provider does one network call per `send` and
//! classifies its failures; retries, failover and breakers are the chain's job, never its own.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::SendError;

/// Stable identifier of a provider in the chain and the config (`sns`, `twilio`, `console`,
/// `ses`, `sendgrid`, `smtp`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(transparent)]
#[ts(export, type = "string")]
pub struct ProviderId(pub String);

impl ProviderId {
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ProviderId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a provider answered when it accepted a message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct Receipt {
    /// The provider's id for the message (SNS MessageId, Twilio SID, SendGrid X-Message-Id...).
    pub provider_message_id: Option<String>,
}

#[async_trait]
pub trait Provider<M>: Send + Sync {
    /// Sends one message with one network call (or none, for the Console provider).
    async fn send(&self, message: &M) -> Result<Receipt, SendError>;

    /// A cheap, read-only check that the provider is reachable and our credentials work.
    async fn probe(&self) -> Result<(), SendError>;
}
