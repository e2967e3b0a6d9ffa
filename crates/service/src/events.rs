//! What the service itself publishes beside the chain's events: sends refused by a recipient
//! limit, codes the app found in backend logs, sends abandoned at shutdown. Together with the
//! chain's `ChainEvent`s they make the `GET /api/v1/events` stream.

use chrono::{DateTime, Utc};
use msgops_core::Channel;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A one-time code found in a backend log (fed by the app's log watcher through
/// [`crate::ServiceState::record_code`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CodeSeen {
    #[schema(value_type = crate::doc::Channel)]
    pub channel: Channel,
    /// E.164 number or address the code was for, when the log says so for certain.
    pub recipient: Option<String>,
    /// When the log cannot tell which of several waiting requests the code is for: each one it
    /// may be for. Empty otherwise.
    pub candidates: Vec<String>,
    pub code: String,
    /// Where it was found, as a short fixed word (`backend_log`, `console_log`): it becomes a
    /// metric label, so never a file path or a recipient.
    pub source: String,
    pub seen_at: DateTime<Utc>,
    /// When the code stops being valid (the backend's 10 minutes), if known.
    pub expires_at: Option<DateTime<Utc>>,
}

impl CodeSeen {
    /// A code the log watcher found, as the service counts and streams it.
    pub fn of(code: &msgops_logwatch::FallbackCode) -> Self {
        let email = code
            .recipient
            .iter()
            .chain(&code.candidates)
            .any(|r| r.contains('@'));
        Self {
            channel: if email { Channel::Email } else { Channel::Sms },
            recipient: code.recipient.clone(),
            candidates: code.candidates.clone(),
            code: code.code.clone(),
            source: crate::metrics::word(&code.source),
            seen_at: Utc::now(),
            expires_at: code.expires_at,
        }
    }
}

/// Events of the service, next to the chain's.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ServiceEvent {
    /// A send refused by a per-recipient or per-prefix limit; no provider was called.
    RecipientBlocked {
        #[schema(value_type = crate::doc::Channel)]
        channel: Channel,
        recipient: String,
        /// `recipient` or `prefix:+234`.
        rule: String,
        reason: String,
        retry_after_secs: u64,
        at: DateTime<Utc>,
    },
    CodeSeen(CodeSeen),
    /// A send still running when the shutdown grace period ended: recorded as failed.
    SendAbandoned {
        #[schema(value_type = crate::doc::Channel)]
        channel: Channel,
        recipient: String,
        started_at: DateTime<Utc>,
        reason: String,
    },
    /// A provider's delivery report (verified webhook or SNS SMS log), new to msgops.
    DeliveryStatus {
        #[schema(value_type = crate::doc::DeliveryEvent)]
        report: msgops_delivery::DeliveryEvent,
    },
}

impl ServiceEvent {
    /// The SSE event name.
    pub fn name(&self) -> &'static str {
        match self {
            ServiceEvent::RecipientBlocked { .. } => "recipient_blocked",
            ServiceEvent::CodeSeen(_) => "code_seen",
            ServiceEvent::SendAbandoned { .. } => "send_abandoned",
            ServiceEvent::DeliveryStatus { .. } => "delivery_status",
        }
    }
}
