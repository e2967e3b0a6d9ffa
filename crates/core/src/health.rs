//! The health snapshot: exactly the backend's `GET /api/v1/health/messaging` shape
//! (`email_providers` / `sms_providers`, each with `name`, `priority`, `is_healthy`), with richer
//! fields added alongside — never renamed, so existing monitoring keeps working.

use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::breaker::BreakerState;
use crate::chain::{lock, utc_after, LastError, Priority, ProbeResult, ProviderChain};
use crate::message::{Channel, Message};
use crate::provider::ProviderKind;

#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct ProviderHealth {
    // The backend's three fields.
    pub name: String,
    pub priority: Priority,
    pub is_healthy: bool,
    // msgops' additions.
    pub id: ProviderKind,
    pub display_name: String,
    pub channel: Channel,
    pub enabled: bool,
    /// False while the provider has no credentials (it is skipped).
    pub configured: bool,
    pub breaker_state: BreakerState,
    pub consecutive_failures: u32,
    pub failure_threshold: u32,
    pub open_until: Option<DateTime<Utc>>,
    #[ts(type = "number | null")]
    pub open_remaining_ms: Option<u64>,
    /// While the provider's own rate limit (a 429 and its `Retry-After`) has it skipped: until
    /// when. Throttling alone does not open the breaker. Always in the JSON (null when not
    /// throttled); optional in TypeScript only so that older fixtures still type-check.
    #[ts(optional = nullable)]
    pub throttled_until: Option<DateTime<Utc>>,
    pub last_error: Option<LastError>,
    /// The last health probe (probes never count toward the breaker).
    pub last_probe: Option<ProbeResult>,
    #[ts(type = "number")]
    pub sent: u64,
    #[ts(type = "number")]
    pub failed: u64,
    pub cost_usd: f64,
    pub cost_per_message_usd: f64,
    pub rate_per_second: f64,
    /// Rate-limit tokens available now; null when unlimited.
    pub rate_available: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct HealthSnapshot {
    // The backend's two fields.
    pub email_providers: Vec<ProviderHealth>,
    pub sms_providers: Vec<ProviderHealth>,
    // msgops' additions.
    /// Each chain's status, and why.
    pub chains: ChainsHealth,
    /// Whether the health endpoint answers 200: every chain in use is in a state `[health]`
    /// accepts (healthy, by default), and every chain `health.require` names is in use.
    pub ok: bool,
    /// Each provider's delivered share over the last hour, from its delivery reports; absent
    /// where no reports are kept. Never changes `ok`: a report arrives long after the send.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub delivery: Option<msgops_delivery::DeliveryRates>,
    /// Where the service keeps its rate and recipient limits, idempotency keys and breaker
    /// counts (`[state]`); absent outside the service.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub state: Option<StateStatus>,
}

/// Where a service's state is kept, as its health JSON says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[ts(export)]
pub enum StateStatus {
    /// In this process only (`[state] backend = "memory"`, the default).
    #[serde(rename = "local")]
    Local,
    /// On Redis / Valkey, with every other instance configured with it.
    #[serde(rename = "shared")]
    Shared,
    /// Redis is configured but unreachable: this process applies its own limits (divided by
    /// `[state] instances`) until it is back.
    #[serde(rename = "degraded (local)")]
    DegradedLocal,
}

impl StateStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StateStatus::Local => "local",
            StateStatus::Shared => "shared",
            StateStatus::DegradedLocal => "degraded (local)",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct ChainsHealth {
    pub sms: ChainHealth,
    pub email: ChainHealth,
}

/// Where a chain stands as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ChainStatus {
    /// A provider before the last resort can deliver now.
    Healthy,
    /// Only the last resort can deliver (for SMS: the Console log, which reaches nobody).
    Degraded,
    /// No provider can deliver now.
    Down,
    /// No provider with credentials is set up: the chain is not in use.
    Unconfigured,
}

impl ChainStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ChainStatus::Healthy => "healthy",
            ChainStatus::Degraded => "degraded",
            ChainStatus::Down => "down",
            ChainStatus::Unconfigured => "unconfigured",
        }
    }
}

impl std::fmt::Display for ChainStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct ChainHealth {
    pub status: ChainStatus,
    /// For people: "only Console can deliver (AWS SNS: breaker open; last error: authentication
    /// failed; Twilio: ...)".
    pub reason: String,
    /// The providers that can deliver now, in chain order.
    pub can_deliver: Vec<ProviderKind>,
}

impl ProviderHealth {
    /// Whether a send could be delivered by this provider now: healthy and not throttled.
    pub fn can_deliver(&self) -> bool {
        self.is_healthy && self.throttled_until.is_none()
    }

    /// Why it cannot deliver now, in a few words; `None` when it can.
    fn why_not(&self) -> Option<String> {
        if self.can_deliver() {
            return None;
        }
        Some(if !self.configured {
            "not configured".to_string()
        } else if !self.enabled {
            "disabled".to_string()
        } else if let Some(until) = self.throttled_until.filter(|_| self.is_healthy) {
            format!("throttled until {}", until.format("%H:%M:%S UTC"))
        } else {
            let state = match self.breaker_state {
                BreakerState::Open => "breaker open",
                BreakerState::HalfOpen => "breaker half-open (trial pending)",
                BreakerState::Closed => "unavailable",
            };
            match &self.last_error {
                Some(e) => format!("{state}; last error: {}", e.kind.describe().to_lowercase()),
                None => state.to_string(),
            }
        })
    }
}

impl ChainHealth {
    /// The status of one chain from its providers' health, in priority order. The last one is
    /// the last resort. A chain whose only configured provider is the Console is not in use.
    pub fn of(providers: &[ProviderHealth]) -> Self {
        let can_deliver: Vec<ProviderKind> = providers
            .iter()
            .filter(|p| p.can_deliver())
            .map(|p| p.id)
            .collect();
        let in_use = providers
            .iter()
            .any(|p| p.configured && p.id != ProviderKind::Console);
        let why = |ps: &[ProviderHealth]| {
            ps.iter()
                .filter_map(|p| p.why_not().map(|w| format!("{}: {w}", p.display_name)))
                .collect::<Vec<_>>()
                .join("; ")
        };
        let (before, last) = match providers.split_last() {
            Some((last, before)) => (before, Some(last)),
            None => (providers, None),
        };
        let (status, reason) = if !in_use {
            (
                ChainStatus::Unconfigured,
                "no provider with credentials is set up".to_string(),
            )
        } else if before.iter().any(ProviderHealth::can_deliver) {
            let via: Vec<&str> = before
                .iter()
                .filter(|p| p.can_deliver())
                .map(|p| p.display_name.as_str())
                .collect();
            (
                ChainStatus::Healthy,
                format!("can deliver through {}", via.join(", ")),
            )
        } else if let Some(last) = last.filter(|p| p.can_deliver()) {
            (
                ChainStatus::Degraded,
                format!("only {} can deliver ({})", last.display_name, why(before)),
            )
        } else {
            (
                ChainStatus::Down,
                format!("no provider can deliver ({})", why(providers)),
            )
        };
        Self {
            status,
            reason,
            can_deliver,
        }
    }
}

/// Which chain states the health endpoint answers 200 for (`[health]` in the configuration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(default, deny_unknown_fields)]
#[ts(export)]
pub struct HealthConfig {
    /// Chains that must be in use: an unconfigured one among them fails the endpoint.
    pub require: Vec<Channel>,
    /// The states of a chain in use that fail the endpoint (503).
    pub fail_on: Vec<ChainStatus>,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            require: Vec::new(),
            fail_on: vec![ChainStatus::Degraded, ChainStatus::Down],
        }
    }
}

impl HealthConfig {
    /// Whether a chain in this state lets the endpoint answer 200.
    pub fn accepts(&self, channel: Channel, status: ChainStatus) -> bool {
        match status {
            ChainStatus::Unconfigured => !self.require.contains(&channel),
            status => !self.fail_on.contains(&status),
        }
    }
}

impl HealthSnapshot {
    pub fn new(
        sms_providers: Vec<ProviderHealth>,
        email_providers: Vec<ProviderHealth>,
        policy: &HealthConfig,
    ) -> Self {
        let chains = ChainsHealth {
            sms: ChainHealth::of(&sms_providers),
            email: ChainHealth::of(&email_providers),
        };
        let ok = policy.accepts(Channel::Sms, chains.sms.status)
            && policy.accepts(Channel::Email, chains.email.status);
        Self {
            email_providers,
            sms_providers,
            chains,
            ok,
            delivery: None,
            state: None,
        }
    }

    pub fn chain(&self, channel: Channel) -> &ChainHealth {
        match channel {
            Channel::Sms => &self.chains.sms,
            Channel::Email => &self.chains.email,
        }
    }

    pub fn providers(&self) -> impl Iterator<Item = &ProviderHealth> {
        self.sms_providers.iter().chain(self.email_providers.iter())
    }
}

impl<M: Message> ProviderChain<M> {
    /// Reads every provider's health without side effects.
    pub fn health(&self) -> Vec<ProviderHealth> {
        self.entries()
            .iter()
            .map(|entry| {
                let spec = entry.spec();
                let reading = entry.breaker.reading();
                let stats = lock(&entry.stats).clone();
                let enabled = entry.enabled.load(Ordering::Relaxed);
                let configured = entry.is_configured();
                let open_until = reading.open_remaining.and_then(utc_after);
                let throttled_until = entry.throttle.remaining().and_then(utc_after);
                let available = entry.bucket.available();
                ProviderHealth {
                    name: spec.health_name,
                    priority: spec.priority,
                    is_healthy: enabled && configured && reading.state == BreakerState::Closed,
                    id: spec.id,
                    display_name: spec.display_name,
                    channel: M::CHANNEL,
                    enabled,
                    configured,
                    breaker_state: reading.state,
                    consecutive_failures: reading.consecutive_failures,
                    failure_threshold: reading.failure_threshold,
                    open_until,
                    open_remaining_ms: reading.open_remaining.map(|d| d.as_millis() as u64),
                    throttled_until,
                    last_error: stats.last_error,
                    last_probe: stats.last_probe,
                    sent: stats.sent,
                    failed: stats.failed,
                    cost_usd: stats.cost_usd,
                    cost_per_message_usd: spec.cost_per_message_usd,
                    rate_per_second: spec.rate_per_second,
                    rate_available: available.is_finite().then_some(available),
                }
            })
            .collect()
    }
}
