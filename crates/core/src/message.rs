//! The messages the chains carry.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum Channel {
    Sms,
    Email,
}

/// An SMS to one phone number (E.164).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SmsMessage {
    pub to: String,
    pub body: String,
    /// The one-time code inside `body`, when there is one; the Console provider writes it in the
    /// backend's fallback format so support staff can read it out.
    #[serde(default)]
    pub code: Option<String>,
}

/// An email to one address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct EmailMessage {
    pub to: String,
    pub subject: String,
    pub body: String,
    #[serde(default)]
    pub code: Option<String>,
}

/// What the chain needs to know about any message.
pub trait Message: Send + Sync + 'static {
    const CHANNEL: Channel;
    fn recipient(&self) -> &str;
}

impl Message for SmsMessage {
    const CHANNEL: Channel = Channel::Sms;
    fn recipient(&self) -> &str {
        &self.to
    }
}

impl Message for EmailMessage {
    const CHANNEL: Channel = Channel::Email;
    fn recipient(&self) -> &str {
        &self.to
    }
}
