use msgops_core::chain::{AttemptOutcome, SendRecord, SkipReason};
use msgops_core::{Channel, ProviderKind};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::origin::{OriginKind, RecordedSend};

/// Which sends to show. Every field narrows; an empty filter shows everything.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[serde(default)]
#[ts(export, optional_fields)]
pub struct HistoryFilter {
    pub channel: Option<Channel>,
    /// Sends this provider was tried for (an attempt or a skip), delivered or not.
    pub provider: Option<ProviderKind>,
    pub outcome: Option<OutcomeFilter>,
    /// Any part of the recipient; spaces, dashes and parentheses are ignored.
    pub recipient: Option<String>,
    /// Any part of the recipient or of a provider's receipt id (`provider_message_id`);
    /// spaces, dashes, parentheses and case are ignored.
    pub search: Option<String>,
    /// Sends made by the app, or by a standalone `msgops serve`.
    pub origin: Option<OriginKind>,
    /// Page size; at most [`HistoryFilter::MAX_LIMIT`].
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum OutcomeFilter {
    Delivered,
    Failed,
    /// Delivered after another provider failed or was passed over for its breaker, its rate
    /// limit or the deadline.
    FailedOver,
}

/// One page of sends, newest first, and how many matched in all.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct HistoryPage {
    pub total: u32,
    pub sends: Vec<RecordedSend>,
    /// What the providers reported about this page's sends, one entry per message with
    /// reports (matched by each attempt's provider message id); empty where reports are not
    /// kept.
    pub deliveries: Vec<msgops_delivery::MessageDelivery>,
}

/// The provider, first in chain order, that a delivered send had to pass over: it failed or
/// was skipped for its breaker, its rate limit or the deadline. `None` when the first provider
/// able to take the send delivered it (a disabled or unconfigured provider is not a failover).
pub fn failed_over_from(record: &SendRecord) -> Option<&ProviderKind> {
    let outcome = &record.outcome;
    outcome.delivered_by()?;
    let failed = outcome
        .attempts()
        .iter()
        .filter(|a| a.outcome == AttemptOutcome::Failed)
        .map(|a| &a.provider);
    let passed_over = outcome
        .skipped()
        .iter()
        .filter(|s| !matches!(s.reason, SkipReason::Disabled | SkipReason::NotConfigured))
        .map(|s| &s.provider);
    failed
        .chain(passed_over)
        .min_by_key(|p| chain_position(record.channel, p))
}

/// Where a provider stands in its channel's chain.
fn chain_position(channel: Channel, provider: &ProviderKind) -> usize {
    channel
        .chain()
        .iter()
        .position(|k| k == provider)
        .unwrap_or(usize::MAX)
}

/// A recipient or receipt id as searches compare it: lower case, no spaces, dashes or
/// parentheses.
pub(crate) fn normalise(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
        .flat_map(char::to_lowercase)
        .collect()
}

impl HistoryFilter {
    pub const DEFAULT_LIMIT: u32 = 100;
    pub const MAX_LIMIT: u32 = 1_000;

    fn matches(&self, sent: &RecordedSend, recipient: Option<&str>, search: Option<&str>) -> bool {
        let r = &sent.record;
        if self.channel.is_some_and(|c| c != r.channel) {
            return false;
        }
        if self.origin.is_some_and(|o| o != sent.origin.kind) {
            return false;
        }
        if let Some(q) = search {
            let receipt = || {
                r.outcome
                    .attempts()
                    .iter()
                    .filter_map(|a| a.provider_message_id.as_deref())
                    .any(|id| normalise(id).contains(q))
            };
            if !normalise(&r.recipient).contains(q) && !receipt() {
                return false;
            }
        }
        if let Some(p) = &self.provider {
            let tried = r.outcome.attempts().iter().any(|a| &a.provider == p)
                || r.outcome.skipped().iter().any(|s| &s.provider == p);
            if !tried {
                return false;
            }
        }
        let outcome_ok = match self.outcome {
            None => true,
            Some(OutcomeFilter::Delivered) => r.outcome.delivered_by().is_some(),
            Some(OutcomeFilter::Failed) => r.outcome.delivered_by().is_none(),
            Some(OutcomeFilter::FailedOver) => failed_over_from(r).is_some(),
        };
        outcome_ok && recipient.is_none_or(|q| normalise(&r.recipient).contains(q))
    }

    /// The page of `newest_first` this filter selects.
    pub fn apply<'a>(&self, newest_first: impl Iterator<Item = &'a RecordedSend>) -> HistoryPage {
        let limit = self
            .limit
            .unwrap_or(Self::DEFAULT_LIMIT)
            .min(Self::MAX_LIMIT) as usize;
        let offset = self.offset.unwrap_or(0) as usize;
        let query = |q: &Option<String>| q.as_deref().map(normalise).filter(|q| !q.is_empty());
        let (recipient, search) = (query(&self.recipient), query(&self.search));
        let mut total = 0u32;
        let mut sends = Vec::new();
        for r in newest_first.filter(|r| self.matches(r, recipient.as_deref(), search.as_deref())) {
            if (total as usize) >= offset && sends.len() < limit {
                sends.push(r.clone());
            }
            total += 1;
        }
        HistoryPage {
            total,
            sends,
            deliveries: Vec::new(),
        }
    }
}
