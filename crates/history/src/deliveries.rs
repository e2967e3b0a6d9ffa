//! The delivery reports (Twilio, SendGrid, SES and SNS SMS statuses), in their own JSON-lines
//! file beside the send history, shared the same way by every msgops process. A report is kept
//! whether or not its send is known yet: it is matched by the provider's message id when the
//! send is listed, so a callback that arrives before the send is recorded (or for a send made
//! by another process) is not lost.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use msgops_delivery::{DeliveryEvent, DeliveryRates};
use msgops_provider_kind::ProviderKind;

use crate::shared_log::{HistoryError, SharedLog};

/// The delivery file's name in the data directory.
pub const DELIVERIES_FILE_NAME: &str = "deliveries.jsonl";

/// Reports kept: a few for each of [`crate::DEFAULT_CAP`] sends.
pub const DEFAULT_DELIVERIES_CAP: usize = 200_000;

/// [`DELIVERIES_FILE_NAME`] in the data directory.
pub fn default_deliveries_path() -> PathBuf {
    msgops_core::config::data_dir().join(DELIVERIES_FILE_NAME)
}

/// Delivery reports, oldest first (in the order they were received, by any process).
pub struct DeliveryLog {
    log: SharedLog<DeliveryEvent>,
}

impl DeliveryLog {
    /// Loads `path` (a missing file is empty); returns one message per line that could not be
    /// read.
    pub fn open(path: impl Into<PathBuf>, cap: usize) -> (Self, Vec<String>) {
        let (log, problems) =
            SharedLog::open(path.into(), cap, "delivery reports", "delivery report");
        (Self { log }, problems)
    }

    pub fn path(&self) -> &Path {
        self.log.path()
    }

    /// Keeps `event` unless a report with the same `event_id` from the same provider is already
    /// in the file (a provider's retry, a replay inside its window): returns whether it is new.
    pub fn record(&self, event: DeliveryEvent) -> Result<bool, HistoryError> {
        self.log.append_unless(event, |records, new| {
            records.iter().any(|r| r.same_report(new))
        })
    }

    /// The reports about one message, oldest first.
    pub fn timeline(
        &self,
        provider: ProviderKind,
        provider_message_id: &str,
    ) -> Vec<DeliveryEvent> {
        msgops_delivery::timeline(
            self.log.current().records.iter(),
            provider,
            provider_message_id,
        )
    }

    /// `page` with what the providers reported about its sends, matched by each attempt's
    /// provider message id.
    pub fn fill(&self, mut page: crate::HistoryPage) -> crate::HistoryPage {
        let mut keys: Vec<(ProviderKind, String)> = page
            .sends
            .iter()
            .flat_map(|s| s.record.outcome.attempts())
            .filter_map(|a| a.provider_message_id.clone().map(|id| (a.provider, id)))
            .collect();
        keys.sort();
        keys.dedup();
        if keys.is_empty() {
            return page;
        }
        let inner = self.log.current();
        let wanted: std::collections::HashSet<(ProviderKind, &str)> =
            keys.iter().map(|(p, id)| (*p, id.as_str())).collect();
        let relevant: Vec<&DeliveryEvent> = inner
            .records
            .iter()
            .filter(|e| wanted.contains(&e.message_key()))
            .collect();
        page.deliveries = keys
            .iter()
            .filter_map(|(provider, id)| {
                msgops_delivery::MessageDelivery::of(relevant.iter().copied(), *provider, id)
            })
            .collect();
        page
    }

    /// Reports received at or after `since`, oldest first.
    pub fn since(&self, since: DateTime<Utc>) -> Vec<DeliveryEvent> {
        self.log
            .current()
            .records
            .iter()
            .filter(|e| e.received_at >= since)
            .cloned()
            .collect()
    }

    /// Each provider's delivered share over `window` up to `now`.
    pub fn rates(&self, now: DateTime<Utc>, window: std::time::Duration) -> DeliveryRates {
        DeliveryRates::of(self.log.current().records.iter(), now, window)
    }

    pub fn len(&self) -> usize {
        self.log.current().records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
