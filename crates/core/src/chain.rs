//! The provider chain: tries providers in priority order, skips OPEN, throttled, disabled and
//! unconfigured ones without a network call, honours rate limits, a per-attempt timeout and a
//! whole-send deadline, and records every attempt. A send always ends as `Delivered` or `Failed`.
//!
//! - Every call holds a breaker [`Permit`], so a send that panics, is aborted or is cancelled
//!   frees its HALF_OPEN trial slot; a result admitted before a reset or key rotation changes
//!   neither the breaker nor the provider's last error or throttling.
//! - A `throttled` answer skips the provider until its `Retry-After` (see
//!   [`crate::rate_limit::Throttle`]) rather than opening the breaker.
//! - The deadline always leaves the last resort (the chain's last provider) its attempt: the
//!   providers before it stop early enough to leave it [`MIN_ATTEMPT_TIMEOUT`], and are skipped
//!   (`deadline_exceeded`) when less than that is left for them. No attempt is started with less
//!   than that minimum.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio::time::Instant;
use ts_rs::TS;

use crate::breaker::{Admission, BreakerPolicy, BreakerState, CircuitBreaker, Permit, Transition};
use crate::breaker_sync::{BreakerSync, RemoteTransition};
use crate::error::{ErrorKind, SendError};
use crate::message::{Channel, Message};
use crate::provider::{CredentialRefresh, Provider, ProviderKind};
use crate::rate_limit::{
    RateLimiter, Throttle, TokenBucket, THROTTLES_PER_FAILURE, THROTTLE_WINDOW,
};

/// The shortest attempt the chain starts: with less time left, a call would only end as an
/// `ambiguous` timeout that counts as a failure, so the provider is skipped instead. (Settings
/// built in code with a shorter per-attempt timeout use that timeout as the minimum.)
pub const MIN_ATTEMPT_TIMEOUT: Duration = Duration::from_millis(MIN_ATTEMPT_TIMEOUT_MS);
/// [`MIN_ATTEMPT_TIMEOUT`] in milliseconds, as the configuration writes it.
pub const MIN_ATTEMPT_TIMEOUT_MS: u64 = 500;

/// Stands for "no deadline" when a configured one does not fit an `Instant`.
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

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
    pub id: ProviderKind,
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

impl ChainSettings {
    /// The shortest attempt the chain starts: [`MIN_ATTEMPT_TIMEOUT`], or the per-attempt
    /// timeout when that is shorter.
    pub fn min_attempt_timeout(&self) -> Duration {
        MIN_ATTEMPT_TIMEOUT.min(self.per_attempt_timeout)
    }
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
    pub provider: ProviderKind,
    pub outcome: AttemptOutcome,
    pub latency_ms: f64,
    pub error_kind: Option<ErrorKind>,
    pub error: Option<String>,
    #[ts(type = "number | null")]
    pub provider_code: Option<i64>,
    pub cost_usd: f64,
    /// The provider's receipt for a delivered attempt: its id for the message (SNS or SES
    /// MessageId, Twilio's message SID, SendGrid's `X-Message-Id`, the SMTP server's queue id),
    /// to find the send at the provider and match its delivery status.
    #[serde(default)]
    pub provider_message_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum SkipReason {
    BreakerOpen,
    RateLimited,
    Disabled,
    NotConfigured,
    /// Too little of the send deadline left for a useful attempt.
    DeadlineExceeded,
    /// The provider throttled us (HTTP 429) and its `Retry-After` has not passed yet.
    Throttled,
}

/// A provider passed over without a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Skip {
    pub provider: ProviderKind,
    pub reason: SkipReason,
    /// The particulars, where there are any: "throttled until 2026-05-04T12:00:05Z (4200 ms
    /// left)", "300 ms of the send deadline left for it (the last resort keeps 500 ms); an
    /// attempt needs at least 500 ms".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub detail: Option<String>,
}

/// How a send ended. There is no third way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "status", rename_all = "snake_case")]
#[ts(export)]
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
    pub fn delivered_by(&self) -> Option<&ProviderKind> {
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
        provider: ProviderKind,
        transition: Transition,
    },
    SendFinished {
        record: SendRecord,
    },
    ProviderChanged {
        channel: Channel,
        provider: ProviderKind,
        reason: String,
    },
    /// A health probe finished. Shown beside the breaker; never counted by it.
    ProbeFinished {
        channel: Channel,
        provider: ProviderKind,
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
    /// The provider's own rate limit, from its throttled answers.
    pub(crate) throttle: Throttle,
    /// Also held while a result updates `last_error` or `throttle`, so that a reset (which
    /// clears them under it) cannot interleave with a stale result.
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
    pub(crate) fn id(&self) -> ProviderKind {
        read(&self.spec).id
    }
    pub(crate) fn spec(&self) -> ProviderSpec {
        read(&self.spec).clone()
    }
    pub(crate) fn is_configured(&self) -> bool {
        read(&self.provider).is_some()
    }

    /// Why this provider would be passed over before asking its breaker, if it would; reads
    /// only.
    fn passed_over(&self) -> Option<(SkipReason, Option<String>)> {
        if !self.enabled.load(Ordering::Relaxed) {
            return Some((SkipReason::Disabled, None));
        }
        if !self.is_configured() {
            return Some((SkipReason::NotConfigured, None));
        }
        let left = self.throttle.remaining()?;
        let until = utc_after(left).map_or_else(
            || "later".to_string(),
            |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        );
        Some((
            SkipReason::Throttled,
            Some(format!(
                "throttled until {until} ({} ms left)",
                left.as_millis()
            )),
        ))
    }

    /// Whether a send could call this provider now, as far as can be told without asking.
    fn may_be_called(&self) -> bool {
        self.passed_over().is_none() && self.breaker.state() != BreakerState::Open
    }
}

/// Now plus `left` on the wall clock; `None` if that does not fit a date.
pub(crate) fn utc_after(left: Duration) -> Option<DateTime<Utc>> {
    chrono::TimeDelta::from_std(left)
        .ok()
        .and_then(|left| Utc::now().checked_add_signed(left))
}

/// `start + d`, or a time far enough away to mean "never" when that does not fit an `Instant`.
fn instant_after(start: Instant, d: Duration) -> Instant {
    start
        .checked_add(d)
        .or_else(|| start.checked_add(FAR_FUTURE))
        .unwrap_or(start)
}

/// How much of the send deadline one provider may use.
#[derive(Debug, Clone, Copy)]
struct Budget {
    /// When this provider's attempt must be over.
    end: Instant,
    /// What the providers before the last resort leave it (zero for the last resort itself).
    reserve: Duration,
    /// The last resort always gets its attempt, of at least the minimum, even past `end`.
    last_resort: bool,
}

/// A provider chain for one channel (`ProviderChain<SmsMessage>`, `ProviderChain<EmailMessage>`).
pub struct ProviderChain<M> {
    entries: Vec<ChainEntry<M>>,
    settings: RwLock<ChainSettings>,
    events: broadcast::Sender<ChainEvent>,
    /// Asked before an authentication failure counts (held weakly: it holds the chains).
    credential_refresh: RwLock<Option<std::sync::Weak<dyn CredentialRefresh>>>,
    /// Decides the providers' rates instead of their own token buckets (shared by processes).
    rate_limiter: RwLock<Option<Arc<dyn RateLimiter>>>,
    /// The other processes' side of the breakers, when they share the providers.
    breaker_sync: RwLock<Option<Arc<dyn BreakerSync>>>,
}

/// What a call's result meant for the breaker, to pass on to a [`BreakerSync`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Counted {
    Success,
    Failure,
    Nothing,
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
                throttle: Throttle::new(),
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
            credential_refresh: RwLock::new(None),
            rate_limiter: RwLock::new(None),
            breaker_sync: RwLock::new(None),
        }
    }

    /// Who decides the providers' rates from now on; `None`: each provider's own token bucket
    /// (the default).
    pub fn set_rate_limiter(&self, limiter: Option<Arc<dyn RateLimiter>>) {
        *write(&self.rate_limiter) = limiter;
    }

    /// Shares the breakers with other processes from now on; `None`: this process alone.
    pub fn set_breaker_sync(&self, sync: Option<Arc<dyn BreakerSync>>) {
        *write(&self.breaker_sync) = sync;
    }

    fn breaker_sync(&self) -> Option<Arc<dyn BreakerSync>> {
        read(&self.breaker_sync).clone()
    }

    /// Applies a transition another process's breaker made (see [`BreakerSync`]): OPEN for what
    /// is left of its cool-down, HALF_OPEN, or CLOSED. Published here as this chain's own
    /// transition, never passed back. `false` for a provider not in this chain.
    pub fn apply_remote_transition(&self, remote: &RemoteTransition) -> bool {
        let Some(entry) = self.entry(&remote.provider) else {
            return false;
        };
        let transition = match remote.to {
            BreakerState::Open => entry.breaker.force_open(remote.open_for, &remote.reason),
            BreakerState::HalfOpen => entry.breaker.start_trial(&remote.reason),
            BreakerState::Closed => {
                let reading = entry.breaker.reading();
                // A CLOSED breaker with failures of its own keeps them: only a state moves.
                (reading.state != BreakerState::Closed)
                    .then(|| entry.breaker.reset(&remote.reason))
                    .flatten()
            }
        };
        self.emit_transition(&remote.provider, transition);
        true
    }

    /// Tells the other processes of a transition made here.
    fn share_transition(&self, entry: &ChainEntry<M>, transition: Option<&Transition>) {
        let (Some(sync), Some(transition)) = (self.breaker_sync(), transition) else {
            return;
        };
        let open_for = entry
            .breaker
            .reading()
            .open_remaining
            .unwrap_or(entry.breaker.policy().open_for);
        sync.transition(M::CHANNEL, entry.id(), transition, open_for);
    }

    /// Passes a call's result on to the other processes: a transition it made, or the failure
    /// (which may open the breaker when every process's failures together reach the
    /// threshold), or the success.
    async fn share_result(
        &self,
        entry: &ChainEntry<M>,
        transition: Option<&Transition>,
        counted: Counted,
    ) {
        let Some(sync) = self.breaker_sync() else {
            return;
        };
        if entry.breaker.policy().failure_threshold == 0 {
            // No breaker to share (the last resort never opens).
            return;
        }
        let id = entry.id();
        if transition.is_some() {
            self.share_transition(entry, transition);
            return;
        }
        match counted {
            Counted::Success => sync.success(id).await,
            Counted::Failure if entry.breaker.state() == BreakerState::Closed => {
                let policy = entry.breaker.policy();
                let Some(together) = sync.failure(id).await else {
                    return;
                };
                if policy.failure_threshold == 0 || together < policy.failure_threshold {
                    return;
                }
                let opened = entry.breaker.force_open(
                    policy.open_for,
                    &format!(
                        "{together} failures across instances within the shared window; open for {} s",
                        policy.open_for.as_secs()
                    ),
                );
                self.share_transition(entry, opened.as_ref());
                self.emit_transition(&id, opened);
            }
            Counted::Failure | Counted::Nothing => {}
        }
    }

    /// Who re-reads a provider's credentials when it refuses them, before the failure counts.
    pub fn set_credential_refresh(&self, refresh: std::sync::Weak<dyn CredentialRefresh>) {
        *write(&self.credential_refresh) = Some(refresh);
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

    fn entry(&self, id: &ProviderKind) -> Option<&ChainEntry<M>> {
        self.entries.iter().find(|e| &read(&e.spec).id == id)
    }

    pub fn provider_ids(&self) -> Vec<ProviderKind> {
        self.entries.iter().map(ChainEntry::id).collect()
    }

    pub fn stats(&self, id: &ProviderKind) -> Option<ProviderStats> {
        self.entry(id).map(|e| lock(&e.stats).clone())
    }

    pub fn breaker(&self, id: &ProviderKind) -> Option<&CircuitBreaker> {
        self.entry(id).map(|e| &e.breaker)
    }

    fn emit(&self, event: ChainEvent) {
        // No subscriber is fine: the event is also reflected in the health snapshot.
        let _ = self.events.send(event);
    }

    fn emit_transition(&self, provider: &ProviderKind, transition: Option<Transition>) {
        if let Some(transition) = transition {
            tracing::info!(%provider, from = ?transition.from, to = ?transition.to, reason = %transition.reason, "breaker transition");
            self.emit(ChainEvent::BreakerTransition {
                channel: M::CHANNEL,
                provider: *provider,
                transition,
            });
        }
    }

    /// Installs, replaces (after a key rotation) or removes a provider implementation. The next
    /// send uses it; its breaker is reset with the reason recorded (a new generation: late
    /// results of the old implementation change nothing), and its throttling is forgotten.
    pub fn set_provider(
        &self,
        id: &ProviderKind,
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
            entry.throttle.clear();
        }
        self.emit(ChainEvent::ProviderChanged {
            channel: M::CHANNEL,
            provider: *id,
            reason: reason.to_string(),
        });
        true
    }

    /// Closes a provider's breaker at once, on an operator's word (the upstream cause is fixed):
    /// its failures, last error and throttling are forgotten, and late results of calls made
    /// before count for nothing. Returns the breaker's transition when it moved, or `None` for
    /// a provider not in this chain.
    pub fn reset_breaker(&self, id: &ProviderKind, reason: &str) -> Option<Option<Transition>> {
        let entry = self.entry(id)?;
        let transition = entry.breaker.reset(reason);
        {
            let mut stats = lock(&entry.stats);
            stats.last_error = None;
            entry.throttle.clear();
        }
        self.share_transition(entry, transition.as_ref());
        self.emit_transition(id, transition.clone());
        Some(transition)
    }

    /// Ends an OPEN breaker's cool-down now: the next call is its trial. Returns the
    /// transition when it moved (not when CLOSED or already HALF_OPEN), or `None` for a
    /// provider not in this chain.
    pub fn start_trial(&self, id: &ProviderKind, reason: &str) -> Option<Option<Transition>> {
        let entry = self.entry(id)?;
        let transition = entry.breaker.start_trial(reason);
        self.share_transition(entry, transition.as_ref());
        self.emit_transition(id, transition.clone());
        Some(transition)
    }

    /// Takes a provider out of the chain (or puts it back) without touching its credentials.
    pub fn set_enabled(&self, id: &ProviderKind, enabled: bool, reason: &str) -> bool {
        let Some(entry) = self.entry(id) else {
            return false;
        };
        entry.enabled.store(enabled, Ordering::Relaxed);
        self.emit(ChainEvent::ProviderChanged {
            channel: M::CHANNEL,
            provider: *id,
            reason: reason.to_string(),
        });
        true
    }

    /// Applies new breaker, rate and cost settings to a provider, keeping its state.
    pub fn update_spec(&self, id: &ProviderKind, update: impl FnOnce(&mut ProviderSpec)) -> bool {
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
    pub async fn probe(&self, id: &ProviderKind) -> Option<Result<(), SendError>> {
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
            provider: *id,
            probe,
        });
        Some(result)
    }

    /// Sends through the chain (every provider in priority order).
    pub async fn send(&self, message: &M) -> SendRecord {
        self.send_via(message, None).await
    }

    /// Sends through the chain, or through one chosen provider only (which is then the last
    /// resort: the only one to try). A send through one chosen provider whose breaker is OPEN
    /// is its trial: it is made now, and decides the breaker as a trial does.
    pub async fn send_via(&self, message: &M, only: Option<&ProviderKind>) -> SendRecord {
        if let Some(id) = only {
            self.start_trial(id, "a test send through this provider only is its trial");
        }
        let candidates: Vec<&ChainEntry<M>> = self
            .entries
            .iter()
            .filter(|e| only.is_none_or(|only| *only == e.id()))
            .collect();
        self.send_through(message, candidates).await
    }

    /// Sends through the providers after `after` in the chain only: a message `after` accepted
    /// and then could not deliver goes on to the next one (the last resort stays last).
    pub async fn send_after(&self, message: &M, after: &ProviderKind) -> SendRecord {
        let candidates: Vec<&ChainEntry<M>> = self
            .entries
            .iter()
            .skip_while(|e| e.id() != *after)
            .skip(1)
            .collect();
        self.send_through(message, candidates).await
    }

    async fn send_through(&self, message: &M, candidates: Vec<&ChainEntry<M>>) -> SendRecord {
        let started_at = Utc::now();
        let started = Instant::now();
        let settings = self.settings();
        let deadline = instant_after(started, settings.send_deadline);
        // The providers before the last resort stop early enough to leave it its minimum
        // attempt, if it could be called at all.
        let reserve = match candidates.split_last() {
            Some((last, before)) if !before.is_empty() && last.may_be_called() => {
                settings.min_attempt_timeout()
            }
            _ => Duration::ZERO,
        };
        let mut attempts = Vec::new();
        let mut skipped = Vec::new();
        let mut delivered_by = None;
        let mut failure: Option<String> = None;

        for (i, entry) in candidates.iter().enumerate() {
            if delivered_by.is_some() || failure.is_some() {
                break;
            }
            let last_resort = i + 1 == candidates.len();
            let budget = if last_resort {
                Budget {
                    end: deadline,
                    reserve: Duration::ZERO,
                    last_resort,
                }
            } else {
                Budget {
                    end: deadline.checked_sub(reserve).unwrap_or(started),
                    reserve,
                    last_resort,
                }
            };
            let attempt = match self.try_provider(entry, message, settings, budget).await {
                Ok(attempt) => attempt,
                Err(skip) => {
                    skipped.push(skip);
                    continue;
                }
            };
            match (attempt.outcome, attempt.error_kind) {
                (AttemptOutcome::Delivered, _) => delivered_by = Some(attempt.provider),
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

    /// Calls one provider within its budget, or says why it was passed over.
    async fn try_provider(
        &self,
        entry: &ChainEntry<M>,
        message: &M,
        settings: ChainSettings,
        budget: Budget,
    ) -> Result<Attempt, Skip> {
        let id = entry.id();
        let skip = |reason, detail| Skip {
            provider: id,
            reason,
            detail,
        };
        if let Some((reason, detail)) = entry.passed_over() {
            return Err(skip(reason, detail));
        }
        let Some(provider) = read(&entry.provider).clone() else {
            return Err(skip(SkipReason::NotConfigured, None));
        };
        let min_attempt = settings.min_attempt_timeout();
        let too_late = |left: Duration| {
            let kept = if budget.reserve.is_zero() {
                String::new()
            } else {
                format!(" (the last resort keeps {} ms)", budget.reserve.as_millis())
            };
            skip(
                SkipReason::DeadlineExceeded,
                Some(format!(
                    "{} ms of the send deadline left for it{kept}; an attempt needs at least {} ms",
                    left.as_millis(),
                    min_attempt.as_millis()
                )),
            )
        };
        let left = budget.end.saturating_duration_since(Instant::now());
        if !budget.last_resort && left < min_attempt {
            return Err(too_late(left));
        }
        // Dropped on every path from here without a result (rate-limited, too late, panic,
        // abort, cancellation), the permit frees a HALF_OPEN trial slot.
        let permit = match entry.breaker.admit() {
            Admission::Admitted { permit, transition } => {
                self.emit_transition(&id, transition);
                permit
            }
            Admission::Rejected { .. } => return Err(skip(SkipReason::BreakerOpen, None)),
        };
        if permit.is_trial() {
            if let Some(sync) = self.breaker_sync() {
                let lease = settings.per_attempt_timeout + Duration::from_secs(1);
                if !sync.claim_trial(id, lease).await {
                    // Frees this process's trial slot: the next send asks again.
                    drop(permit);
                    return Err(skip(
                        SkipReason::BreakerOpen,
                        Some("another instance is making the HALF_OPEN trial call".into()),
                    ));
                }
            }
        }
        if !self
            .take_token(entry, settings.on_rate_limit, budget.end, min_attempt)
            .await
        {
            return Err(skip(SkipReason::RateLimited, None));
        }
        let left = budget.end.saturating_duration_since(Instant::now());
        let timeout = if budget.last_resort {
            settings.per_attempt_timeout.min(left.max(min_attempt))
        } else {
            settings.per_attempt_timeout.min(left)
        };
        if timeout < min_attempt {
            return Err(too_late(left));
        }

        let call_started = Instant::now();
        let result = match tokio::time::timeout(timeout, provider.send(message)).await {
            Ok(result) => result,
            Err(_) => Err(SendError::ambiguous(format!(
                "no answer within {} ms; the message may have been sent",
                timeout.as_millis()
            ))),
        };
        let latency_ms = call_started.elapsed().as_secs_f64() * 1000.0;
        if matches!(&result, Err(e) if e.kind == ErrorKind::Authentication) {
            // Another process may have rotated the key: if the credentials changed, the provider
            // is installed again (a new generation) and this old key's failure counts for nothing.
            let refresh = read(&self.credential_refresh)
                .as_ref()
                .and_then(std::sync::Weak::upgrade);
            if let Some(refresh) = refresh {
                if refresh.refresh(id).await {
                    tracing::info!(provider = %id, "refused key replaced by newer credentials; this failure does not count");
                }
            }
        }
        let (attempt, transition, counted) =
            self.record_result(entry, &id, permit, result, latency_ms);
        self.share_result(entry, transition.as_ref(), counted).await;
        Ok(attempt)
    }

    /// Takes a rate-limit token, waiting for one if the policy allows and the wait still leaves
    /// a useful attempt before `end`.
    async fn take_token(
        &self,
        entry: &ChainEntry<M>,
        policy: RateLimitPolicy,
        end: Instant,
        min_attempt: Duration,
    ) -> bool {
        let max_wait = match policy {
            RateLimitPolicy::SpillOver => Duration::ZERO,
            RateLimitPolicy::Wait(max) => {
                let left = end.saturating_duration_since(Instant::now());
                max.min(left.saturating_sub(min_attempt))
            }
        };
        let shared = read(&self.rate_limiter).clone();
        match shared {
            Some(shared) => {
                let per_second = read(&entry.spec).rate_per_second;
                shared.acquire(entry.id(), per_second, max_wait).await
            }
            // The default, without a boxed future: the provider's own bucket.
            None => entry.bucket.take_within(max_wait).await,
        }
    }

    /// Records a call's result in the stats and, through its permit, in the breaker. A result
    /// admitted before a reset or key rotation still counts as a call made (sent, failed, cost)
    /// but changes neither the breaker nor the provider's last error or throttling.
    fn record_result(
        &self,
        entry: &ChainEntry<M>,
        id: &ProviderKind,
        permit: Permit<'_>,
        result: Result<crate::provider::Receipt, SendError>,
        latency_ms: f64,
    ) -> (Attempt, Option<Transition>, Counted) {
        let cost = read(&entry.spec).cost_per_message_usd;
        let mut stats = lock(&entry.stats);
        let current = permit.generation() == entry.breaker.generation();
        let mut counted = Counted::Nothing;
        let (attempt, transition) = match result {
            Ok(receipt) => {
                stats.sent += 1;
                stats.cost_usd += cost;
                if current {
                    entry.throttle.answered();
                }
                let attempt = Attempt {
                    provider: *id,
                    outcome: AttemptOutcome::Delivered,
                    latency_ms,
                    error_kind: None,
                    error: None,
                    provider_code: None,
                    cost_usd: cost,
                    provider_message_id: receipt.provider_message_id,
                };
                if current {
                    counted = Counted::Success;
                }
                (attempt, permit.success())
            }
            Err(error) => {
                tracing::warn!(provider = %id, kind = ?error.kind, code = ?error.provider_code, error = %error.message, current, "provider call failed");
                stats.failed += 1;
                let transition = if current {
                    stats.last_error = Some(LastError {
                        kind: error.kind,
                        message: error.message.clone(),
                        provider_code: error.provider_code,
                        at: Utc::now(),
                    });
                    let throttled_only = error.kind == ErrorKind::Throttled;
                    let trips = error.kind.trips_breaker();
                    let transition = Self::count_failure(entry, permit, &error);
                    // A throttled answer that counted (its transition, if any) or not: only
                    // failures that count toward the breaker are shared.
                    if trips && !throttled_only {
                        counted = Counted::Failure;
                    }
                    transition
                } else {
                    permit.release();
                    None
                };
                let attempt = Attempt {
                    provider: *id,
                    outcome: AttemptOutcome::Failed,
                    latency_ms,
                    error_kind: Some(error.kind),
                    error: Some(error.message),
                    provider_code: error.provider_code,
                    cost_usd: 0.0,
                    provider_message_id: None,
                };
                (attempt, transition)
            }
        };
        drop(stats);
        self.emit_transition(id, transition.clone());
        (attempt, transition, counted)
    }

    /// What a failure does to the breaker. Throttling skips the provider until its
    /// `Retry-After` and counts, as one failure, only when repeated; any other failure counts
    /// as itself.
    fn count_failure(
        entry: &ChainEntry<M>,
        permit: Permit<'_>,
        error: &SendError,
    ) -> Option<Transition> {
        if error.kind != ErrorKind::Throttled {
            entry.throttle.answered();
            return permit.failure(error.kind, &error.message);
        }
        let throttled = entry.throttle.record(error.retry_after);
        tracing::info!(
            wait_ms = throttled.wait.as_millis() as u64,
            counts_as_failure = throttled.counts_as_failure,
            "provider throttled us; skipped until its Retry-After"
        );
        if throttled.counts_as_failure {
            permit.failure(
                error.kind,
                &format!(
                    "throttled {THROTTLES_PER_FAILURE} times in a row within {} s (last: {})",
                    THROTTLE_WINDOW.as_secs(),
                    error.message
                ),
            )
        } else {
            permit.release();
            None
        }
    }
}
