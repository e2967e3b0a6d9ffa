//! The provider chain: tries providers in priority order, skips OPEN, disabled and unconfigured
//! ones without a network call, honours rate limits, a per-attempt timeout and a whole-send
//! deadline, and records every attempt. A send always ends as `Delivered` or `Failed`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio::time::Instant;
use ts_rs::TS;

use crate::breaker::{Admission, BreakerPolicy, CircuitBreaker, Transition};
use crate::error::{ErrorKind, SendError};
use crate::message::{Channel, Message};
use crate::provider::{Provider, ProviderId};
use crate::rate_limit::TokenBucket;

/// Where a provider stands in its chain, in the backend's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[ts(export)]
pub enum Priority {
    Primary,
    Secondary,
    Fallback,
}

/// The fixed facts of one provider in a chain.
#[derive(Debug, Clone)]
pub struct ProviderSpec {
    pub id: ProviderId,
    /// The backend's class name, used in the health JSON (`AWSSNSProvider`).
    pub health_name: String,
    /// For people (`AWS SNS`).
    pub display_name: String,
    pub priority: Priority,
    pub cost_per_message_usd: f64,
    pub breaker: BreakerPolicy,
    /// Messages per second; zero means unlimited.
    pub rate_per_second: f64,
}

/// What the chain does when a provider has no rate-limit token left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitPolicy {
    /// Try the next provider at once.
    SpillOver,
    /// Wait for a token if it comes within this time (and the send deadline), else spill over.
    Wait(Duration),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainSettings {
    pub per_attempt_timeout: Duration,
    pub send_deadline: Duration,
    pub on_rate_limit: RateLimitPolicy,
}

impl Default for ChainSettings {
    fn default() -> Self {
        Self {
            per_attempt_timeout: Duration::from_secs(10),
            send_deadline: Duration::from_secs(30),
            on_rate_limit: RateLimitPolicy::Wait(Duration::from_millis(500)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum AttemptOutcome {
    Delivered,
    Failed,
}

/// One provider call made during a send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Attempt {
    pub provider: ProviderId,
    pub outcome: AttemptOutcome,
    pub latency_ms: f64,
    pub error_kind: Option<ErrorKind>,
    pub error: Option<String>,
    #[ts(type = "number | null")]
    pub provider_code: Option<i64>,
    pub cost_usd: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum SkipReason {
    BreakerOpen,
    RateLimited,
    Disabled,
    NotConfigured,
    DeadlineExceeded,
}

/// A provider passed over without a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Skip {
    pub provider: ProviderId,
    pub reason: SkipReason,
}

/// How a send ended. There is no third way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "status", rename_all = "snake_case")]
#[ts(export)]
pub enum SendOutcome {
    Delivered {
        provider: ProviderId,
        attempts: Vec<Attempt>,
        skipped: Vec<Skip>,
    },
    Failed {
        reason: String,
        attempts: Vec<Attempt>,
        skipped: Vec<Skip>,
    },
}

impl SendOutcome {
    pub fn attempts(&self) -> &[Attempt] {
        match self {
            SendOutcome::Delivered { attempts, .. } | SendOutcome::Failed { attempts, .. } => {
                attempts
            }
        }
    }
    pub fn skipped(&self) -> &[Skip] {
        match self {
            SendOutcome::Delivered { skipped, .. } | SendOutcome::Failed { skipped, .. } => skipped,
        }
    }
    pub fn delivered_by(&self) -> Option<&ProviderId> {
        match self {
            SendOutcome::Delivered { provider, .. } => Some(provider),
            SendOutcome::Failed { .. } => None,
        }
    }
    pub fn cost_usd(&self) -> f64 {
        self.attempts().iter().map(|a| a.cost_usd).sum()
    }
}

/// A finished send, for history and events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SendRecord {
    pub channel: Channel,
    pub recipient: String,
    pub started_at: DateTime<Utc>,
    pub duration_ms: f64,
    pub outcome: SendOutcome,
}

/// Pushed to subscribers (the UI, the event stream) as things happen.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[ts(export)]
pub enum ChainEvent {
    BreakerTransition {
        channel: Channel,
        provider: ProviderId,
        transition: Transition,
    },
    SendFinished {
        record: SendRecord,
    },
    ProviderChanged {
        channel: Channel,
        provider: ProviderId,
        reason: String,
    },
    /// A health probe finished. Shown beside the breaker; never counted by it.
    ProbeFinished {
        channel: Channel,
        provider: ProviderId,
        probe: ProbeResult,
    },
}

/// The outcome of the last health probe of a provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct ProbeResult {
    pub ok: bool,
    pub error_kind: Option<ErrorKind>,
    /// What the provider said when the probe failed.
    pub message: Option<String>,
    pub at: DateTime<Utc>,
}

/// The last failure of a provider, for the health view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct LastError {
    pub kind: ErrorKind,
    pub message: String,
    #[ts(type = "number | null")]
    pub provider_code: Option<i64>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProviderStats {
    pub sent: u64,
    pub failed: u64,
    pub cost_usd: f64,
    pub last_error: Option<LastError>,
    pub last_probe: Option<ProbeResult>,
}

/// A provider implementation as the chain holds it.
pub type SharedProvider<M> = Arc<dyn Provider<M>>;

pub(crate) struct ChainEntry<M> {
    pub(crate) spec: RwLock<ProviderSpec>,
    provider: RwLock<Option<Arc<dyn Provider<M>>>>,
    pub(crate) enabled: AtomicBool,
    pub(crate) breaker: CircuitBreaker,
    pub(crate) bucket: TokenBucket,
    pub(crate) stats: Mutex<ProviderStats>,
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}
fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<M> ChainEntry<M> {
    pub(crate) fn id(&self) -> ProviderId {
        read(&self.spec).id.clone()
    }
    pub(crate) fn spec(&self) -> ProviderSpec {
        read(&self.spec).clone()
    }
    pub(crate) fn is_configured(&self) -> bool {
        read(&self.provider).is_some()
    }
}

/// A provider chain for one channel (`ProviderChain<SmsMessage>`, `ProviderChain<EmailMessage>`).
pub struct ProviderChain<M> {
    entries: Vec<ChainEntry<M>>,
    settings: RwLock<ChainSettings>,
    events: broadcast::Sender<ChainEvent>,
}

impl<M: Message> ProviderChain<M> {
    /// Builds a chain in priority order. A `None` provider is listed but not configured (no
    /// credentials yet): it is skipped until [`ProviderChain::set_provider`] installs one.
    pub fn new(
        providers: Vec<(ProviderSpec, Option<SharedProvider<M>>)>,
        settings: ChainSettings,
        events: broadcast::Sender<ChainEvent>,
    ) -> Self {
        let entries = providers
            .into_iter()
            .map(|(spec, provider)| ChainEntry {
                breaker: CircuitBreaker::new(spec.breaker),
                bucket: TokenBucket::new(spec.rate_per_second),
                spec: RwLock::new(spec),
                provider: RwLock::new(provider),
                enabled: AtomicBool::new(true),
                stats: Mutex::new(ProviderStats::default()),
            })
            .collect();
        Self {
            entries,
            settings: RwLock::new(settings),
            events,
        }
    }

    pub fn channel(&self) -> Channel {
        M::CHANNEL
    }

    pub fn settings(&self) -> ChainSettings {
        *read(&self.settings)
    }

    pub fn set_settings(&self, settings: ChainSettings) {
        *write(&self.settings) = settings;
    }

    pub fn subscribe(&self) -> broadcast::Receiver<ChainEvent> {
        self.events.subscribe()
    }

    pub(crate) fn entries(&self) -> &[ChainEntry<M>] {
        &self.entries
    }

    fn entry(&self, id: &ProviderId) -> Option<&ChainEntry<M>> {
        self.entries.iter().find(|e| &read(&e.spec).id == id)
    }

    pub fn provider_ids(&self) -> Vec<ProviderId> {
        self.entries.iter().map(ChainEntry::id).collect()
    }

    pub fn stats(&self, id: &ProviderId) -> Option<ProviderStats> {
        self.entry(id).map(|e| lock(&e.stats).clone())
    }

    pub fn breaker(&self, id: &ProviderId) -> Option<&CircuitBreaker> {
        self.entry(id).map(|e| &e.breaker)
    }

    fn emit(&self, event: ChainEvent) {
        // No subscriber is fine: the event is also reflected in the health snapshot.
        let _ = self.events.send(event);
    }

    fn emit_transition(&self, provider: &ProviderId, transition: Option<Transition>) {
        if let Some(transition) = transition {
            tracing::info!(%provider, from = ?transition.from, to = ?transition.to, reason = %transition.reason, "breaker transition");
            self.emit(ChainEvent::BreakerTransition {
                channel: M::CHANNEL,
                provider: provider.clone(),
                transition,
            });
        }
    }

    /// Installs, replaces (after a key rotation) or removes a provider implementation. The next
    /// send uses it; its breaker is reset with the reason recorded.
    pub fn set_provider(
        &self,
        id: &ProviderId,
        provider: Option<Arc<dyn Provider<M>>>,
        reason: &str,
    ) -> bool {
        let Some(entry) = self.entry(id) else {
            return false;
        };
        *write(&entry.provider) = provider;
        self.emit_transition(id, entry.breaker.reset(reason));
        // What the old implementation (the old key) ran into no longer describes this one.
        {
            let mut stats = lock(&entry.stats);
            stats.last_error = None;
            stats.last_probe = None;
        }
        self.emit(ChainEvent::ProviderChanged {
            channel: M::CHANNEL,
            provider: id.clone(),
            reason: reason.to_string(),
        });
        true
    }

    /// Takes a provider out of the chain (or puts it back) without touching its credentials.
    pub fn set_enabled(&self, id: &ProviderId, enabled: bool, reason: &str) -> bool {
        let Some(entry) = self.entry(id) else {
            return false;
        };
        entry.enabled.store(enabled, Ordering::Relaxed);
        self.emit(ChainEvent::ProviderChanged {
            channel: M::CHANNEL,
            provider: id.clone(),
            reason: reason.to_string(),
        });
        true
    }

    /// Applies new breaker, rate and cost settings to a provider, keeping its state.
    pub fn update_spec(&self, id: &ProviderId, update: impl FnOnce(&mut ProviderSpec)) -> bool {
        let Some(entry) = self.entry(id) else {
            return false;
        };
        let mut spec = write(&entry.spec);
        update(&mut spec);
        entry.breaker.set_policy(spec.breaker);
        if (entry.bucket.per_second() - spec.rate_per_second).abs() > f64::EPSILON {
            entry.bucket.set_rate(spec.rate_per_second);
        }
        true
    }

    /// Moves OPEN breakers whose cool-down is over to HALF_OPEN and publishes the transitions.
    /// Called on a timer so that the UI sees HALF_OPEN when it happens, not at the next send.
    pub fn poll_breakers(&self) {
        for entry in &self.entries {
            let transition = entry.breaker.poll();
            if transition.is_some() {
                self.emit_transition(&entry.id(), transition);
            }
        }
    }

    /// Runs the probe of one provider. Probe results are shown, but never count toward the
    /// breaker: a breaker measures what real sends experience.
    pub async fn probe(&self, id: &ProviderId) -> Option<Result<(), SendError>> {
        let entry = self.entry(id)?;
        let provider = read(&entry.provider).clone()?;
        let timeout = self.settings().per_attempt_timeout;
        let result = match tokio::time::timeout(timeout, provider.probe()).await {
            Ok(result) => result,
            Err(_) => Err(SendError::transient(format!(
                "probe got no answer within {} ms",
                timeout.as_millis()
            ))),
        };
        let probe = ProbeResult {
            ok: result.is_ok(),
            error_kind: result.as_ref().err().map(|e| e.kind),
            message: result.as_ref().err().map(|e| e.message.clone()),
            at: Utc::now(),
        };
        lock(&entry.stats).last_probe = Some(probe.clone());
        self.emit(ChainEvent::ProbeFinished {
            channel: M::CHANNEL,
            provider: id.clone(),
            probe,
        });
        Some(result)
    }

    /// Sends through the chain (every provider in priority order).
    pub async fn send(&self, message: &M) -> SendRecord {
        self.send_via(message, None).await
    }

    /// Sends through the chain, or through one chosen provider only.
    pub async fn send_via(&self, message: &M, only: Option<&ProviderId>) -> SendRecord {
        let started_at = Utc::now();
        let started = Instant::now();
        let settings = self.settings();
        let deadline = started + settings.send_deadline;
        let mut attempts = Vec::new();
        let mut skipped = Vec::new();
        let mut delivered_by = None;
        let mut failure: Option<String> = None;

        for entry in &self.entries {
            let id = entry.id();
            if only.is_some_and(|only| only != &id) {
                continue;
            }
            if delivered_by.is_some() || failure.is_some() {
                break;
            }
            if !entry.enabled.load(Ordering::Relaxed) {
                skipped.push(Skip {
                    provider: id,
                    reason: SkipReason::Disabled,
                });
                continue;
            }
            let Some(provider) = read(&entry.provider).clone() else {
                skipped.push(Skip {
                    provider: id,
                    reason: SkipReason::NotConfigured,
                });
                continue;
            };
            if Instant::now() >= deadline {
                skipped.push(Skip {
                    provider: id,
                    reason: SkipReason::DeadlineExceeded,
                });
                continue;
            }
            let trial = match entry.breaker.admit() {
                Admission::Admitted { trial, transition } => {
                    self.emit_transition(&id, transition);
                    trial
                }
                Admission::Rejected { .. } => {
                    skipped.push(Skip {
                        provider: id,
                        reason: SkipReason::BreakerOpen,
                    });
                    continue;
                }
            };
            if !self
                .take_token(entry, settings.on_rate_limit, deadline)
                .await
            {
                if trial {
                    entry.breaker.release_trial();
                }
                skipped.push(Skip {
                    provider: id,
                    reason: SkipReason::RateLimited,
                });
                continue;
            }

            let timeout = settings
                .per_attempt_timeout
                .min(deadline.saturating_duration_since(Instant::now()));
            let call_started = Instant::now();
            let result = match tokio::time::timeout(timeout, provider.send(message)).await {
                Ok(result) => result,
                Err(_) => Err(SendError::ambiguous(format!(
                    "no answer within {} ms; the message may have been sent",
                    timeout.as_millis()
                ))),
            };
            let latency_ms = call_started.elapsed().as_secs_f64() * 1000.0;
            let attempt = self.record_result(entry, &id, result, latency_ms);
            match (attempt.outcome, attempt.error_kind) {
                (AttemptOutcome::Delivered, _) => delivered_by = Some(id),
                (AttemptOutcome::Failed, Some(kind)) if !kind.fails_over() => {
                    failure = Some(format!(
                        "{} rejected the message: {}",
                        entry.spec().display_name,
                        attempt.error.as_deref().unwrap_or("no details")
                    ));
                }
                _ => {}
            }
            attempts.push(attempt);
        }

        let outcome = match delivered_by {
            Some(provider) => SendOutcome::Delivered {
                provider,
                attempts,
                skipped,
            },
            None => {
                let reason = failure.unwrap_or_else(|| {
                    if attempts.is_empty() && skipped.is_empty() {
                        "no provider in the chain".to_string()
                    } else if skipped
                        .iter()
                        .any(|s| s.reason == SkipReason::DeadlineExceeded)
                    {
                        format!(
                            "send deadline of {} ms exceeded",
                            settings.send_deadline.as_millis()
                        )
                    } else {
                        "every provider failed or was skipped".to_string()
                    }
                });
                SendOutcome::Failed {
                    reason,
                    attempts,
                    skipped,
                }
            }
        };
        let record = SendRecord {
            channel: M::CHANNEL,
            recipient: message.recipient().to_string(),
            started_at,
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
            outcome,
        };
        self.emit(ChainEvent::SendFinished {
            record: record.clone(),
        });
        record
    }

    async fn take_token(
        &self,
        entry: &ChainEntry<M>,
        policy: RateLimitPolicy,
        deadline: Instant,
    ) -> bool {
        match entry.bucket.try_take() {
            Ok(()) => true,
            Err(wait) => match policy {
                RateLimitPolicy::SpillOver => false,
                RateLimitPolicy::Wait(max) => {
                    if wait > max || Instant::now() + wait >= deadline {
                        return false;
                    }
                    tokio::time::sleep(wait).await;
                    entry.bucket.try_take().is_ok()
                }
            },
        }
    }

    fn record_result(
        &self,
        entry: &ChainEntry<M>,
        id: &ProviderId,
        result: Result<crate::provider::Receipt, SendError>,
        latency_ms: f64,
    ) -> Attempt {
        match result {
            Ok(_receipt) => {
                let cost = read(&entry.spec).cost_per_message_usd;
                self.emit_transition(id, entry.breaker.on_success());
                let mut stats = lock(&entry.stats);
                stats.sent += 1;
                stats.cost_usd += cost;
                Attempt {
                    provider: id.clone(),
                    outcome: AttemptOutcome::Delivered,
                    latency_ms,
                    error_kind: None,
                    error: None,
                    provider_code: None,
                    cost_usd: cost,
                }
            }
            Err(error) => {
                tracing::warn!(provider = %id, kind = ?error.kind, code = ?error.provider_code, error = %error.message, "provider call failed");
                self.emit_transition(id, entry.breaker.on_failure(error.kind, &error.message));
                let mut stats = lock(&entry.stats);
                stats.failed += 1;
                stats.last_error = Some(LastError {
                    kind: error.kind,
                    message: error.message.clone(),
                    provider_code: error.provider_code,
                    at: Utc::now(),
                });
                Attempt {
                    provider: id.clone(),
                    outcome: AttemptOutcome::Failed,
                    latency_ms,
                    error_kind: Some(error.kind),
                    error: Some(error.message),
                    provider_code: error.provider_code,
                    cost_usd: 0.0,
                }
            }
        }
    }
}
