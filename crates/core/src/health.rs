//! The health snapshot: exactly the backend's `GET /api/v1/health/messaging` shape
//! (`email_providers` / `sms_providers`, each with `name`, `priority`, `is_healthy`), with richer
//! fields added alongside — never renamed, so existing monitoring keeps working.

use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use serde::Serialize;
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
    pub email_providers: Vec<ProviderHealth>,
    pub sms_providers: Vec<ProviderHealth>,
}

impl HealthSnapshot {
    /// A chain can deliver when at least one of its providers is healthy.
    pub fn every_chain_can_deliver(&self) -> bool {
        [&self.email_providers, &self.sms_providers]
            .iter()
            .all(|chain| chain.iter().any(|p| p.is_healthy))
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
