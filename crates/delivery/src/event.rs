use chrono::{DateTime, Utc};
use msgops_provider_kind::ProviderKind;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// A status in every provider's life of a message, in one vocabulary. The provider's own word
/// is mapped by the parser of its reports (Twilio `MessageStatus`, SendGrid `event`, SES
/// `eventType`, SNS SMS log `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum DeliveryStatus {
    /// Taken by the provider (Twilio `accepted`, SES `Send`, SendGrid `processed`).
    Accepted,
    /// Waiting at the provider to be sent (Twilio `queued`, `scheduled`).
    Queued,
    /// Being handed to the carrier (Twilio `sending`).
    Sending,
    /// Handed to the carrier or receiving server; no word back yet (Twilio `sent`).
    Sent,
    /// The receiving side is slow; the provider keeps trying (SES `DeliveryDelay`, SendGrid
    /// `deferred`).
    Delayed,
    /// Reached the phone or mailbox.
    Delivered,
    /// Opened or read (Twilio `read`, SendGrid `open`): delivered, and seen.
    Read,
    /// The carrier could not deliver it (Twilio `undelivered`).
    Undelivered,
    /// Never sent (Twilio `failed`, SNS SMS log `FAILURE`).
    Failed,
    /// The receiving server refused it (SES `Bounce`, SendGrid `bounce`/`blocked`).
    Bounced,
    /// Dropped by the provider before sending (SendGrid `dropped`: suppressed address, ...).
    Dropped,
    /// Refused by the provider (SES `Reject`: a virus, ...).
    Rejected,
    /// Delivered, and the recipient marked it as spam (SES `Complaint`, SendGrid
    /// `spamreport`).
    Complained,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 13] = [
        Self::Accepted,
        Self::Queued,
        Self::Sending,
        Self::Sent,
        Self::Delayed,
        Self::Delivered,
        Self::Read,
        Self::Undelivered,
        Self::Failed,
        Self::Bounced,
        Self::Dropped,
        Self::Rejected,
        Self::Complained,
    ];

    /// The id in the API, the metrics and the UI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Delayed => "delayed",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Undelivered => "undelivered",
            Self::Failed => "failed",
            Self::Bounced => "bounced",
            Self::Dropped => "dropped",
            Self::Rejected => "rejected",
            Self::Complained => "complained",
        }
    }

    /// It reached the recipient.
    pub fn is_delivered(self) -> bool {
        matches!(self, Self::Delivered | Self::Read | Self::Complained)
    }

    /// It will not reach the recipient: the provider gave up or refused.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Self::Undelivered | Self::Failed | Self::Bounced | Self::Dropped | Self::Rejected
        )
    }

    /// No later status changes whether it arrived.
    pub fn is_final(self) -> bool {
        self.is_delivered() || self.is_failure()
    }
}

impl std::fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for DeliveryStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| format!("unknown delivery status {s:?}"))
    }
}

/// Where a report came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum DeliverySource {
    /// Twilio's StatusCallback, `POST /api/v1/webhooks/twilio`.
    TwilioWebhook,
    /// SendGrid's signed Event Webhook, `POST /api/v1/webhooks/sendgrid`.
    SendgridWebhook,
    /// SES event records through an SNS HTTP(S) subscription, `POST /api/v1/webhooks/aws/sns`.
    SnsWebhook,
    /// SNS SMS delivery status logs in CloudWatch Logs.
    CloudwatchLogs,
}

impl DeliverySource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TwilioWebhook => "twilio_webhook",
            Self::SendgridWebhook => "sendgrid_webhook",
            Self::SnsWebhook => "sns_webhook",
            Self::CloudwatchLogs => "cloudwatch_logs",
        }
    }
}

/// One status report about one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct DeliveryEvent {
    pub provider: ProviderKind,
    /// The provider's id for the message, as the chain kept it for the attempt: Twilio's
    /// message SID, SendGrid's `X-Message-Id` (the part of `sg_message_id` before its first
    /// dot), the SES or SNS MessageId.
    pub provider_message_id: String,
    pub status: DeliveryStatus,
    /// The provider's error code: Twilio `ErrorCode` (`30003`), the SES bounce type and
    /// subtype (`Permanent/General`), SendGrid's SMTP status (`550`), the SNS SMS
    /// `providerResponse` code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// The provider's own words, when it gave some (SendGrid `reason`, SES diagnostic code,
    /// the SNS SMS log's `providerResponse`). Never a secret: providers do not echo keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Who it was for, as the provider reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    /// When the provider says it happened (the time of the report when it does not say).
    #[ts(type = "string")]
    pub occurred_at: DateTime<Utc>,
    /// When msgops received it.
    #[ts(type = "string")]
    pub received_at: DateTime<Utc>,
    pub source: DeliverySource,
    /// Unique per report, to drop duplicates (a provider's retry, a replay inside the window):
    /// Twilio `{MessageSid}:{MessageStatus}:{ErrorCode}`, SendGrid `sg_event_id`, the SNS
    /// notification's MessageId, the CloudWatch Logs event id.
    pub event_id: String,
}

impl DeliveryEvent {
    /// The provider's error code in plain words, when known.
    pub fn meaning(&self) -> Option<&'static str> {
        self.error_code
            .as_deref()
            .and_then(|code| crate::meaning(self.provider, code))
    }

    /// Whether `other` is this same report again (a provider's retry, a replay inside its
    /// window): the one rule every store drops duplicates by.
    pub fn same_report(&self, other: &DeliveryEvent) -> bool {
        self.provider == other.provider && self.event_id == other.event_id
    }

    /// The key this report is matched to a send by.
    pub fn message_key(&self) -> (ProviderKind, &str) {
        (self.provider, self.provider_message_id.as_str())
    }
}

/// A report with its error code in plain words, as the History page and `msgops deliveries`
/// show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct DeliveryReport {
    #[serde(flatten)]
    pub report: DeliveryEvent,
    /// [`crate::meaning`] of its error code; `None` without a code or for one msgops does not
    /// know.
    pub meaning: Option<String>,
}

impl From<DeliveryEvent> for DeliveryReport {
    fn from(report: DeliveryEvent) -> Self {
        let meaning = report.meaning().map(str::to_owned);
        Self { report, meaning }
    }
}
