//! The provider interface: one trait, used as `Provider<SmsMessage>` for SMS providers and
//! `Provider<EmailMessage>` for email providers. A provider does one network call per `send` and
//! classifies its failures; retries, failover and breakers are the chain's job, never its own.

use async_trait::async_trait;
use serde::Serialize;
use ts_rs::TS;

use crate::error::SendError;

pub use msgops_provider_kind::ProviderKind;

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

/// Asked by the chain when a provider refuses its credentials, before the failure counts
/// against its breaker: re-read the credentials (the keychain may hold newer ones, rotated by
/// another process) and, when they changed, install the provider again. Returns whether it did;
/// the failure of the old key then counts for nothing (the new installation is a new breaker
/// generation).
#[async_trait]
pub trait CredentialRefresh: Send + Sync {
    async fn refresh(&self, provider: ProviderKind) -> bool;
}
