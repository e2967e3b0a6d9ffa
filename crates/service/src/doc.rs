//! OpenAPI schemas of the core types the API serializes (`HealthSnapshot`, `SendRecord`, ...).
//! msgops-core knows nothing of HTTP or utoipa, so the schemas are written here, field for field;
//! the test at the bottom serializes the real types and fails when a field is missing on either
//! side, and schemathesis checks every response against these schemas.
//!
//! These types are never built: they only describe.

#![allow(dead_code)]

use chrono::{DateTime, Utc};
use utoipa::ToSchema;

/// Where a provider stands in its chain, in the backend's words.
#[derive(ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Priority {
    Primary,
    Secondary,
    Fallback,
}

#[derive(ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Sms,
    Email,
}

/// A provider of the chains, by its id.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    Sns,
    Twilio,
    Console,
    Ses,
    Sendgrid,
    Smtp,
}

/// Where a chain stands as a whole: `healthy` (a provider before the last resort can deliver),
/// `degraded` (only the last resort can: for SMS, the Console log, which reaches nobody), `down`
/// (none can), `unconfigured` (no provider with credentials: the chain is not in use).
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChainStatus {
    Healthy,
    Degraded,
    Down,
    Unconfigured,
}

/// One chain's status and why.
#[derive(ToSchema)]
pub struct ChainHealth {
    status: ChainStatus,
    /// "only Console can deliver (AWS SNS: breaker open; last error: authentication failed; ...)"
    reason: String,
    /// The providers that can deliver now, in chain order.
    can_deliver: Vec<ProviderKind>,
}

/// Each chain's status.
#[derive(ToSchema)]
pub struct ChainsHealth {
    sms: ChainHealth,
    email: ChainHealth,
}

#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    Authentication,
    Throttled,
    Transient,
    Permanent,
    Ambiguous,
}

#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    BreakerOpen,
    RateLimited,
    Disabled,
    NotConfigured,
    DeadlineExceeded,
    Throttled,
}

#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    Delivered,
    Failed,
}

/// The last failure of a provider.
#[derive(ToSchema)]
pub struct LastError {
    kind: ErrorKind,
    message: String,
    provider_code: Option<i64>,
    at: DateTime<Utc>,
}

/// The last health probe of a provider (never counted by its breaker).
#[derive(ToSchema)]
pub struct ProbeResult {
    ok: bool,
    error_kind: Option<ErrorKind>,
    message: Option<String>,
    at: DateTime<Utc>,
}

/// One provider: the backend's `name`, `priority`, `is_healthy`, then msgops' additions.
#[derive(ToSchema)]
pub struct ProviderHealth {
    /// The backend's class name (`AWSSNSProvider`).
    #[schema(example = "AWSSNSProvider")]
    name: String,
    priority: Priority,
    /// Enabled, configured and breaker CLOSED.
    is_healthy: bool,
    /// msgops' id (`sns`, `twilio`, `console`, `ses`, `sendgrid`, `smtp`).
    id: ProviderKind,
    display_name: String,
    channel: Channel,
    enabled: bool,
    /// False while the provider has no credentials (it is skipped).
    configured: bool,
    breaker_state: BreakerState,
    #[schema(minimum = 0)]
    consecutive_failures: u32,
    #[schema(minimum = 0)]
    failure_threshold: u32,
    open_until: Option<DateTime<Utc>>,
    #[schema(minimum = 0)]
    open_remaining_ms: Option<u64>,
    /// While the provider's own rate limit (a 429 and its `Retry-After`) has it skipped.
    throttled_until: Option<DateTime<Utc>>,
    last_error: Option<LastError>,
    last_probe: Option<ProbeResult>,
    #[schema(minimum = 0)]
    sent: u64,
    #[schema(minimum = 0)]
    failed: u64,
    cost_usd: f64,
    cost_per_message_usd: f64,
    rate_per_second: f64,
    /// Rate-limit tokens available now; null when unlimited.
    rate_available: Option<f64>,
}

/// The backend's `GET /api/v1/health/messaging` shape, with richer fields alongside.
#[derive(ToSchema)]
pub struct HealthSnapshot {
    email_providers: Vec<ProviderHealth>,
    sms_providers: Vec<ProviderHealth>,
    chains: ChainsHealth,
    /// Whether the endpoint answers 200.
    ok: bool,
    /// Each provider's delivered share over the last hour, from its delivery reports.
    delivery: Option<DeliveryRates>,
    /// Where the service keeps its limits, idempotency keys and breaker counts (`[state]`).
    state: Option<StateStatus>,
}

/// `local` (this process), `shared` (on Redis with the other instances) or `degraded (local)`
/// (Redis unreachable: this process's own state, limits divided by `[state] instances`).
#[derive(ToSchema)]
pub enum StateStatus {
    #[serde(rename = "local")]
    Local,
    #[serde(rename = "shared")]
    Shared,
    #[serde(rename = "degraded (local)")]
    DegradedLocal,
}

/// Each provider's delivered share over a window.
#[derive(ToSchema)]
pub struct DeliveryRates {
    #[schema(minimum = 0)]
    window_secs: u64,
    providers: Vec<ProviderDeliveryRate>,
}

/// One provider's messages whose fate was reported within the window.
#[derive(ToSchema)]
pub struct ProviderDeliveryRate {
    provider: ProviderKind,
    #[schema(minimum = 0)]
    delivered: u64,
    #[schema(minimum = 0)]
    failed: u64,
    #[schema(minimum = 0)]
    pending: u64,
    /// delivered / (delivered + failed); null before any final report.
    rate: Option<f64>,
}

/// A status in a message's life at its provider, in one vocabulary for every provider.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Accepted,
    Queued,
    Sending,
    Sent,
    Delayed,
    Delivered,
    Read,
    Undelivered,
    Failed,
    Bounced,
    Dropped,
    Rejected,
    Complained,
}

/// Where a delivery report came from.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliverySource {
    TwilioWebhook,
    SendgridWebhook,
    SnsWebhook,
    CloudwatchLogs,
}

/// One provider's report about one message, matched to its send by `provider_message_id`.
#[derive(ToSchema)]
pub struct DeliveryEvent {
    provider: ProviderKind,
    /// The provider's id for the message: Twilio's SID, SendGrid's X-Message-Id, the SES or
    /// SNS MessageId (as in the send's attempt).
    provider_message_id: String,
    status: DeliveryStatus,
    /// The provider's error code (Twilio `30003`, SES `Permanent/General`, SMTP `550`).
    error_code: Option<String>,
    /// The provider's own words.
    detail: Option<String>,
    recipient: Option<String>,
    occurred_at: DateTime<Utc>,
    received_at: DateTime<Utc>,
    source: DeliverySource,
    /// Unique per report; duplicates are dropped by it.
    event_id: String,
}

/// An on-call control of one provider.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Control {
    Reset,
    Trial,
    Probe,
}

/// A breaker's move, and why.
#[derive(ToSchema)]
pub struct Transition {
    from: BreakerState,
    to: BreakerState,
    at: DateTime<Utc>,
    /// "reset by cli ops@laptop@127.0.0.1:50412 (api)", "3 consecutive failures (last: ...)".
    reason: String,
}

/// What a control did.
#[derive(ToSchema)]
pub struct ControlOutcome {
    provider: ProviderKind,
    control: Control,
    /// The breaker's move; null when nothing moved (a reset of a CLOSED breaker with no
    /// failures, a trial of one that is not OPEN, a probe).
    transition: Option<Transition>,
    /// The breaker's state afterwards.
    state: BreakerState,
    /// For a probe: its result.
    probe: Option<ProbeResult>,
}

/// One provider call made during a send.
#[derive(ToSchema)]
pub struct Attempt {
    provider: ProviderKind,
    outcome: AttemptOutcome,
    latency_ms: f64,
    error_kind: Option<ErrorKind>,
    error: Option<String>,
    provider_code: Option<i64>,
    cost_usd: f64,
    /// The provider's id for the message (SNS/SES MessageId, Twilio SID, SendGrid
    /// X-Message-Id, SMTP queue id), for a delivered attempt.
    provider_message_id: Option<String>,
}

/// A provider passed over without a call.
#[derive(ToSchema)]
pub struct Skip {
    provider: ProviderKind,
    reason: SkipReason,
    /// The particulars, where there are any ("throttled until 2026-05-04T12:00:05Z (4200 ms
    /// left)"); absent otherwise.
    detail: Option<String>,
}

/// How a send ended: delivered (by `provider`) or failed (with `reason`).
#[derive(ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SendOutcome {
    Delivered {
        provider: ProviderKind,
        attempts: Vec<Attempt>,
        skipped: Vec<Skip>,
    },
    Failed {
        reason: String,
        attempts: Vec<Attempt>,
        skipped: Vec<Skip>,
    },
}

/// A finished send.
#[derive(ToSchema)]
pub struct SendRecord {
    channel: Channel,
    recipient: String,
    started_at: DateTime<Utc>,
    duration_ms: f64,
    outcome: SendOutcome,
}

/// The answer to a send: the delivery record, the priority of the provider that delivered
/// (null when failed) and what it cost.
#[derive(ToSchema)]
pub struct SendResponse {
    #[serde(flatten)]
    record: SendRecord,
    delivered_by_priority: Option<Priority>,
    cost_usd: f64,
}

/// Which sends a history filter keeps by how they ended.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeFilter {
    Delivered,
    Failed,
    /// Delivered after another provider failed or was passed over.
    FailedOver,
}

/// The kind of msgops process that made a send.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OriginKind {
    App,
    Service,
}

/// The process that made a send.
#[derive(ToSchema)]
pub struct SendOrigin {
    kind: OriginKind,
    host: Option<String>,
    pid: Option<u32>,
}

/// A send as the history keeps it: the record and where it came from.
#[derive(ToSchema)]
pub struct RecordedSend {
    #[serde(flatten)]
    record: SendRecord,
    origin: SendOrigin,
}

/// Where a message ended up at its provider, by its latest reports.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryFate {
    Delivered,
    Failed,
    /// Reports, but none final yet.
    Pending,
}

/// A delivery report with what its error code means.
#[derive(ToSchema)]
pub struct DeliveryReport {
    #[serde(flatten)]
    report: DeliveryEvent,
    /// What the provider's error code means; null without a code or for one msgops does not
    /// know.
    meaning: Option<String>,
}

/// What the providers reported about one message.
#[derive(ToSchema)]
pub struct MessageDelivery {
    provider: ProviderKind,
    provider_message_id: String,
    status: DeliveryStatus,
    fate: DeliveryFate,
    /// Its reports, oldest first.
    timeline: Vec<DeliveryReport>,
}

/// One page of the send history, newest first.
#[derive(ToSchema)]
pub struct HistoryPage {
    /// Sends matching the filter, in all.
    total: u32,
    sends: Vec<RecordedSend>,
    /// One entry per message of this page with delivery reports.
    deliveries: Vec<MessageDelivery>,
}

/// What one provider did on one day (UTC).
#[derive(ToSchema)]
pub struct DayCost {
    /// `YYYY-MM-DD`.
    day: String,
    provider: ProviderKind,
    cost_usd: f64,
    delivered: u32,
    failed: u32,
}

/// Sends first tried on `from` and delivered by `to`.
#[derive(ToSchema)]
pub struct FailoverRoute {
    from: ProviderKind,
    to: ProviderKind,
    count: u32,
}

/// The history's totals over a window of days.
#[derive(ToSchema)]
pub struct HistorySummary {
    /// First day of the window, `YYYY-MM-DD` (UTC).
    since: String,
    days: u32,
    sends: u32,
    delivered: u32,
    failed: u32,
    failed_over: u32,
    total_cost_usd: f64,
    /// One entry per provider per day with activity, oldest day first.
    cost_per_day: Vec<DayCost>,
    /// Most frequent first.
    failover_routes: Vec<FailoverRoute>,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use msgops_core::chain::{Attempt, LastError, SendOutcome, SendRecord, Skip, SkipReason};
    use msgops_core::health::HealthSnapshot;
    use msgops_core::{Channel, ErrorKind, ProviderKind};
    use serde_json::Value;

    /// The properties of schema `name`, with those of the schemas it flattens (`allOf`).
    fn documented(doc: &Value, name: &str) -> BTreeSet<String> {
        properties(doc, &doc["components"]["schemas"][name])
            .unwrap_or_else(|| panic!("{name} has no properties in the OpenAPI document"))
    }

    fn properties(doc: &Value, schema: &Value) -> Option<BTreeSet<String>> {
        if let Some(name) = schema["$ref"].as_str() {
            let name = name.rsplit('/').next()?;
            return properties(doc, &doc["components"]["schemas"][name]);
        }
        if let Some(parts) = schema["allOf"].as_array() {
            return parts.iter().map(|part| properties(doc, part)).try_fold(
                BTreeSet::new(),
                |mut all, part| {
                    all.extend(part?);
                    Some(all)
                },
            );
        }
        Some(schema["properties"].as_object()?.keys().cloned().collect())
    }

    fn keys(v: &Value) -> BTreeSet<String> {
        v.as_object().expect("object").keys().cloned().collect()
    }

    #[test]
    fn documented_fields_match_what_the_core_types_serialize() {
        let doc = serde_json::to_value(crate::api::openapi(&crate::ApiAuth::none()))
            .expect("openapi json");
        let messaging = msgops_core::Messaging::from_config(&Default::default());
        let mut health: HealthSnapshot = messaging.health();
        health.sms_providers[0].last_error = Some(LastError {
            kind: ErrorKind::Authentication,
            message: "401".into(),
            provider_code: Some(20003),
            at: chrono::Utc::now(),
        });
        let report = msgops_delivery::DeliveryEvent {
            provider: ProviderKind::Twilio,
            provider_message_id: "SM0123456789abcdef0123456789abcdef".into(),
            status: msgops_delivery::DeliveryStatus::Undelivered,
            error_code: Some("30003".into()),
            detail: Some("Unreachable destination handset".into()),
            recipient: Some("+14165550123".into()),
            occurred_at: chrono::Utc::now(),
            received_at: chrono::Utc::now(),
            source: msgops_delivery::DeliverySource::TwilioWebhook,
            event_id: "SM0123456789abcdef0123456789abcdef:undelivered:30003".into(),
        };
        health.delivery = Some(msgops_delivery::DeliveryRates::of(
            [&report],
            chrono::Utc::now(),
            std::time::Duration::from_secs(3600),
        ));
        health.state = Some(msgops_core::health::StateStatus::Shared);
        let report = serde_json::to_value(&report).expect("report");
        assert_eq!(keys(&report), documented(&doc, "DeliveryEvent"));
        let health = serde_json::to_value(&health).expect("health");
        assert_eq!(keys(&health), documented(&doc, "HealthSnapshot"));
        assert_eq!(keys(&health["delivery"]), documented(&doc, "DeliveryRates"));
        assert_eq!(
            keys(&health["delivery"]["providers"][0]),
            documented(&doc, "ProviderDeliveryRate")
        );
        let provider = &health["sms_providers"][0];
        assert_eq!(keys(provider), documented(&doc, "ProviderHealth"));
        assert_eq!(keys(&provider["last_error"]), documented(&doc, "LastError"));
        assert_eq!(keys(&health["chains"]), documented(&doc, "ChainsHealth"));
        assert_eq!(
            keys(&health["chains"]["sms"]),
            documented(&doc, "ChainHealth")
        );

        let record = SendRecord {
            channel: Channel::Sms,
            recipient: "+14165550123".into(),
            started_at: chrono::Utc::now(),
            duration_ms: 1.0,
            outcome: SendOutcome::Delivered {
                provider: ProviderKind::Twilio,
                attempts: vec![Attempt {
                    provider: ProviderKind::Twilio,
                    outcome: msgops_core::AttemptOutcome::Delivered,
                    latency_ms: 1.0,
                    error_kind: None,
                    error: None,
                    provider_code: None,
                    cost_usd: 0.0075,
                    provider_message_id: Some("SM0123456789abcdef0123456789abcdef".into()),
                }],
                skipped: vec![Skip {
                    provider: ProviderKind::Sns,
                    reason: SkipReason::Throttled,
                    detail: Some("throttled until 2026-05-04T12:00:05Z (4200 ms left)".into()),
                }],
            },
        };
        let record = serde_json::to_value(&record).expect("record");
        assert_eq!(keys(&record), documented(&doc, "SendRecord"));
        assert_eq!(
            keys(&record["outcome"]["attempts"][0]),
            documented(&doc, "Attempt")
        );
        assert_eq!(
            keys(&record["outcome"]["skipped"][0]),
            documented(&doc, "Skip")
        );
    }

    #[test]
    fn documented_history_fields_match_what_the_history_serializes() {
        let doc = serde_json::to_value(crate::api::openapi(&crate::ApiAuth::none()))
            .expect("openapi json");
        let now = chrono::Utc::now();
        let record = SendRecord {
            channel: Channel::Sms,
            recipient: "+14165550123".into(),
            started_at: now,
            duration_ms: 1.0,
            outcome: SendOutcome::Delivered {
                provider: ProviderKind::Twilio,
                attempts: vec![Attempt {
                    provider: ProviderKind::Twilio,
                    outcome: msgops_core::AttemptOutcome::Delivered,
                    latency_ms: 1.0,
                    error_kind: None,
                    error: None,
                    provider_code: None,
                    cost_usd: 0.0075,
                    provider_message_id: Some("SM1".into()),
                }],
                skipped: vec![Skip {
                    provider: ProviderKind::Sns,
                    reason: SkipReason::BreakerOpen,
                    detail: None,
                }],
            },
        };
        let report = msgops_delivery::DeliveryEvent {
            provider: ProviderKind::Twilio,
            provider_message_id: "SM1".into(),
            status: msgops_delivery::DeliveryStatus::Undelivered,
            error_code: Some("30003".into()),
            detail: Some("Unreachable destination handset".into()),
            recipient: Some("+14165550123".into()),
            occurred_at: now,
            received_at: now,
            source: msgops_delivery::DeliverySource::TwilioWebhook,
            event_id: "SM1:undelivered:30003".into(),
        };
        let page = msgops_history::HistoryPage {
            total: 1,
            sends: vec![msgops_history::RecordedSend {
                record: record.clone(),
                origin: msgops_history::SendOrigin::this_process(
                    msgops_history::OriginKind::Service,
                ),
            }],
            deliveries: vec![msgops_delivery::MessageDelivery::of(
                [&report],
                ProviderKind::Twilio,
                "SM1",
            )
            .expect("a delivery")],
        };
        let page = serde_json::to_value(&page).expect("page");
        assert_eq!(keys(&page), documented(&doc, "HistoryPage"));
        assert_eq!(keys(&page["sends"][0]), documented(&doc, "RecordedSend"));
        assert_eq!(
            keys(&page["sends"][0]["origin"]),
            documented(&doc, "SendOrigin")
        );
        assert_eq!(
            keys(&page["deliveries"][0]),
            documented(&doc, "MessageDelivery")
        );
        assert_eq!(
            keys(&page["deliveries"][0]["timeline"][0]),
            documented(&doc, "DeliveryReport")
        );

        let summary = msgops_history::HistorySummary::of([&record].into_iter(), 7, now);
        let summary = serde_json::to_value(&summary).expect("summary");
        assert_eq!(keys(&summary), documented(&doc, "HistorySummary"));
        assert_eq!(
            keys(&summary["cost_per_day"][0]),
            documented(&doc, "DayCost")
        );
    }
}
