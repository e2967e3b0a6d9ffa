//! A send's reports in order, and each provider's delivered share over a window.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use msgops_provider_kind::ProviderKind;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::{DeliveryEvent, DeliveryReport, DeliveryStatus};

/// Whether a message reached its recipient, as far as its reports tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum DeliveryFate {
    Delivered,
    Failed,
    /// Reports, but none final yet.
    Pending,
}

impl DeliveryFate {
    pub fn of(status: DeliveryStatus) -> Self {
        if status.is_delivered() {
            Self::Delivered
        } else if status.is_failure() {
            Self::Failed
        } else {
            Self::Pending
        }
    }
}

/// Everything the providers reported about one message: where it ended and how it got there.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct MessageDelivery {
    pub provider: ProviderKind,
    pub provider_message_id: String,
    /// Where it ended (see [`final_status`]).
    pub status: DeliveryStatus,
    pub fate: DeliveryFate,
    /// Its reports, oldest first.
    pub timeline: Vec<DeliveryReport>,
}

impl MessageDelivery {
    /// The message's reports among `events`; `None` when there are none.
    pub fn of<'a>(
        events: impl IntoIterator<Item = &'a DeliveryEvent>,
        provider: ProviderKind,
        provider_message_id: &str,
    ) -> Option<Self> {
        let reports = timeline(events, provider, provider_message_id);
        let status = final_status(&reports)?;
        Some(Self {
            provider,
            provider_message_id: provider_message_id.to_owned(),
            status,
            fate: DeliveryFate::of(status),
            timeline: reports.into_iter().map(Into::into).collect(),
        })
    }
}

/// The reports about one message, oldest first, each once (by `event_id`).
pub fn timeline<'a>(
    events: impl IntoIterator<Item = &'a DeliveryEvent>,
    provider: ProviderKind,
    provider_message_id: &str,
) -> Vec<DeliveryEvent> {
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<DeliveryEvent> = events
        .into_iter()
        .filter(|e| e.provider == provider && e.provider_message_id == provider_message_id)
        .filter(|e| seen.insert(e.event_id.clone()))
        .cloned()
        .collect();
    out.sort_by_key(|e| (e.occurred_at, rank(e.status)));
    out
}

/// Where a message ended, as far as its reports tell: the last final status (delivered or
/// not) when there is one — a final status outranks a later non-final report that arrived
/// out of order — else the latest report. `None` without reports.
pub fn final_status(timeline: &[DeliveryEvent]) -> Option<DeliveryStatus> {
    timeline
        .iter()
        .rev()
        .find(|e| e.status.is_final())
        .or_else(|| timeline.last())
        .map(|e| e.status)
}

/// Orders reports of the same instant along a message's life.
fn rank(status: DeliveryStatus) -> u8 {
    match status {
        DeliveryStatus::Accepted => 0,
        DeliveryStatus::Queued => 1,
        DeliveryStatus::Sending => 2,
        DeliveryStatus::Sent => 3,
        DeliveryStatus::Delayed => 4,
        DeliveryStatus::Delivered
        | DeliveryStatus::Undelivered
        | DeliveryStatus::Failed
        | DeliveryStatus::Bounced
        | DeliveryStatus::Dropped
        | DeliveryStatus::Rejected => 5,
        DeliveryStatus::Read => 6,
        DeliveryStatus::Complained => 7,
    }
}

/// One provider's messages whose fate was reported within the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ProviderDeliveryRate {
    pub provider: ProviderKind,
    /// Messages that reached the recipient.
    #[ts(type = "number")]
    pub delivered: u64,
    /// Messages the provider gave up on or refused.
    #[ts(type = "number")]
    pub failed: u64,
    /// Messages with reports but no final one yet.
    #[ts(type = "number")]
    pub pending: u64,
    /// `delivered / (delivered + failed)`; `None` before any final report.
    pub rate: Option<f64>,
}

/// Each provider's delivered share over a window (the last hour on the dashboard, in health
/// and in the metrics).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct DeliveryRates {
    #[ts(type = "number")]
    pub window_secs: u64,
    /// Providers with reports in the window, in chain order.
    pub providers: Vec<ProviderDeliveryRate>,
}

impl DeliveryRates {
    /// Counts each message once, by where it ended (see [`final_status`]), over the messages
    /// with a report received within `window` before `now`.
    pub fn of<'a>(
        events: impl IntoIterator<Item = &'a DeliveryEvent>,
        now: DateTime<Utc>,
        window: std::time::Duration,
    ) -> Self {
        let since = now - Duration::from_std(window).unwrap_or(Duration::MAX);
        let mut messages: HashMap<(ProviderKind, &str), Vec<DeliveryEvent>> = HashMap::new();
        for e in events {
            if e.received_at >= since && e.received_at <= now {
                messages
                    .entry((e.provider, e.provider_message_id.as_str()))
                    .or_default()
                    .push(e.clone());
            }
        }
        let mut by_provider: HashMap<ProviderKind, ProviderDeliveryRate> = HashMap::new();
        for ((provider, _), mut reports) in messages {
            reports.sort_by_key(|e| (e.occurred_at, rank(e.status)));
            let row = by_provider
                .entry(provider)
                .or_insert_with(|| ProviderDeliveryRate {
                    provider,
                    delivered: 0,
                    failed: 0,
                    pending: 0,
                    rate: None,
                });
            match final_status(&reports).map(DeliveryFate::of) {
                Some(DeliveryFate::Delivered) => row.delivered += 1,
                Some(DeliveryFate::Failed) => row.failed += 1,
                Some(DeliveryFate::Pending) | None => row.pending += 1,
            }
        }
        let mut providers: Vec<ProviderDeliveryRate> = by_provider
            .into_values()
            .map(|mut row| {
                let decided = row.delivered + row.failed;
                row.rate = (decided > 0).then(|| row.delivered as f64 / decided as f64);
                row
            })
            .collect();
        providers.sort_by_key(|r| r.provider);
        Self {
            window_secs: window.as_secs(),
            providers,
        }
    }

    pub fn get(&self, provider: ProviderKind) -> Option<&ProviderDeliveryRate> {
        self.providers.iter().find(|r| r.provider == provider)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DeliverySource;

    fn report(id: &str, status: DeliveryStatus, secs: i64, event: &str) -> DeliveryEvent {
        let at = DateTime::<Utc>::from_timestamp(1_800_000_000 + secs, 0).expect("time");
        DeliveryEvent {
            provider: ProviderKind::Twilio,
            provider_message_id: id.into(),
            status,
            error_code: None,
            detail: None,
            recipient: None,
            occurred_at: at,
            received_at: at,
            source: DeliverySource::TwilioWebhook,
            event_id: event.into(),
        }
    }

    #[test]
    fn a_timeline_is_ordered_once_per_report_and_ends_at_its_final_status() {
        let events = vec![
            report("SM1", DeliveryStatus::Undelivered, 5, "c"),
            report("SM1", DeliveryStatus::Sent, 5, "b"),
            report("SM2", DeliveryStatus::Delivered, 1, "x"),
            report("SM1", DeliveryStatus::Queued, 0, "a"),
            report("SM1", DeliveryStatus::Queued, 0, "a"),
        ];
        let t = timeline(&events, ProviderKind::Twilio, "SM1");
        let statuses: Vec<_> = t.iter().map(|e| e.status).collect();
        assert_eq!(
            statuses,
            [
                DeliveryStatus::Queued,
                DeliveryStatus::Sent,
                DeliveryStatus::Undelivered
            ]
        );
        assert_eq!(final_status(&t), Some(DeliveryStatus::Undelivered));
        // A late "sent" after the final report does not undo it.
        let mut late = t.clone();
        late.push(report("SM1", DeliveryStatus::Sent, 9, "d"));
        assert_eq!(final_status(&late), Some(DeliveryStatus::Undelivered));
        assert_eq!(final_status(&[]), None);
    }

    #[test]
    fn rates_count_each_message_once_within_the_window() {
        let now = DateTime::<Utc>::from_timestamp(1_800_003_600, 0).expect("time");
        let events = vec![
            report("A", DeliveryStatus::Sent, 10, "a1"),
            report("A", DeliveryStatus::Delivered, 20, "a2"),
            report("B", DeliveryStatus::Undelivered, 30, "b1"),
            report("C", DeliveryStatus::Delivered, 40, "c1"),
            report("D", DeliveryStatus::Sent, 50, "d1"),
            // Received before the window: left out.
            report("E", DeliveryStatus::Failed, -10, "e1"),
        ];
        let rates = DeliveryRates::of(&events, now, std::time::Duration::from_secs(3600));
        let twilio = rates.get(ProviderKind::Twilio).expect("twilio");
        assert_eq!((twilio.delivered, twilio.failed, twilio.pending), (2, 1, 1));
        assert_eq!(twilio.rate, Some(2.0 / 3.0));
        assert!(rates.get(ProviderKind::Sns).is_none());
        assert_eq!(rates.window_secs, 3600);
    }
}
