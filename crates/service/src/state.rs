//! What the service holds: the chains, the token, the limiter, the idempotency keys, the
//! metrics, and the sends under way (so that shutdown can wait for them, or record them as
//! failed — never lose one silently).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use chrono::{DateTime, Utc};
use msgops_core::chain::SendRecord;
use msgops_core::{Channel, EmailMessage, Messaging, SmsMessage};
use tokio::sync::broadcast;
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::ApiAuth;
use crate::events::{CodeSeen, Diagnostic, Journal, ListedCode, ServiceEvent};
use crate::idempotency::{IdempotencyCache, IdempotencyConfig};
use crate::limits::{LimitsConfig, RecipientLimiter, Reservation};
use crate::metrics::Metrics;

/// Codes kept for `GET /api/v1/codes`.
pub const CODES_KEPT: usize = 10_000;
/// How long a code is kept after it expired (for `?include_expired=true`).
pub const CODES_KEPT_AFTER_EXPIRY: chrono::TimeDelta = chrono::TimeDelta::hours(1);
/// Diagnostics kept for `GET /api/v1/diagnostics`.
pub const DIAGNOSTICS_KEPT: usize = 1_000;

/// Which codes `GET /api/v1/codes` answers with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CodeFilter {
    /// The recipient's (or a candidate's) number ends with these digits.
    pub phone_digits: Option<String>,
    /// The recipient (or a candidate) is this one (ASCII case ignored).
    pub recipient: Option<String>,
    pub channel: Option<Channel>,
    /// Expired codes too (kept up to an hour after they expire).
    pub include_expired: bool,
}

impl CodeFilter {
    fn matches(&self, code: &CodeSeen, now: DateTime<Utc>) -> bool {
        let who = || code.recipient.iter().chain(&code.candidates);
        (self.include_expired || !code.expired_at(now))
            && self.channel.is_none_or(|c| c == code.channel)
            && self.phone_digits.as_deref().is_none_or(|tail| {
                who().any(|r| {
                    let digits: String = r.chars().filter(char::is_ascii_digit).collect();
                    digits.ends_with(tail)
                })
            })
            && self
                .recipient
                .as_deref()
                .is_none_or(|want| who().any(|r| r.trim().eq_ignore_ascii_case(want.trim())))
    }
}

/// How the service behaves; `ServiceSettings::default()` is loopback-friendly with no token.
#[derive(Debug, Clone)]
pub struct ServiceSettings {
    pub auth: ApiAuth,
    pub limits: LimitsConfig,
    pub idempotency: IdempotencyConfig,
    /// How long shutdown waits for sends under way before recording them as failed. `None`: the
    /// longest send deadline of the chains plus two seconds, so that normally every send ends
    /// on its own.
    pub shutdown_grace: Option<Duration>,
    /// How often OPEN breakers are checked for the end of their cool-down (HALF_OPEN events).
    pub breaker_poll_interval: Duration,
    /// Where on-call controls are recorded (`operations.jsonl` in the data directory); `None`
    /// records nothing.
    pub operations: Option<msgops_audit::OperationsLog>,
    /// How the delivery webhooks verify their senders.
    pub webhooks: crate::webhooks::WebhookSettings,
    /// The keys they verify with.
    pub webhook_secrets: Arc<dyn crate::webhooks::WebhookSecrets>,
    /// Where delivery reports are kept; `None`: in memory.
    pub deliveries: Option<Arc<dyn crate::delivery::DeliverySink>>,
    /// `[delivery] resend_undelivered`: the codes' lifetime (a message is sent again only
    /// within it); `None`: off.
    pub resend_undelivered_within: Option<Duration>,
    /// Where `GET /api/v1/sends` reads the send history; `None`: the service keeps none.
    pub sends: Option<Arc<dyn crate::sends::SendsSource>>,
    /// Where switching a provider on or off is remembered; `None`: until the service stops.
    pub switches: Option<Arc<dyn crate::controls::ProviderSwitches>>,
    /// `[state]` on Redis: rate and recipient limits, idempotency keys, breakers and the
    /// event stream shared with the other instances; `None`: this process alone (memory).
    pub shared: Option<msgops_shared_state::SharedState>,
}

impl std::fmt::Debug for dyn crate::webhooks::WebhookSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecrets")
    }
}

impl std::fmt::Debug for dyn crate::sends::SendsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SendsSource")
    }
}

impl std::fmt::Debug for dyn crate::controls::ProviderSwitches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProviderSwitches")
    }
}

impl std::fmt::Debug for dyn crate::delivery::DeliverySink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeliverySink")
    }
}

impl Default for ServiceSettings {
    fn default() -> Self {
        Self {
            auth: ApiAuth::none(),
            limits: LimitsConfig::default(),
            idempotency: IdempotencyConfig::default(),
            shutdown_grace: None,
            breaker_poll_interval: Duration::from_secs(1),
            operations: None,
            webhooks: crate::webhooks::WebhookSettings::default(),
            webhook_secrets: Arc::new(crate::webhooks::NoWebhookSecrets),
            deliveries: None,
            resend_undelivered_within: None,
            sends: None,
            switches: None,
            shared: None,
        }
    }
}

/// A message on its way to a chain.
#[derive(Debug, Clone)]
pub(crate) enum Outgoing {
    Sms(SmsMessage),
    Email(EmailMessage),
}

impl Outgoing {
    pub(crate) fn channel(&self) -> Channel {
        match self {
            Outgoing::Sms(_) => Channel::Sms,
            Outgoing::Email(_) => Channel::Email,
        }
    }
    pub(crate) fn recipient(&self) -> &str {
        match self {
            Outgoing::Sms(m) => &m.to,
            Outgoing::Email(m) => &m.to,
        }
    }
}

/// Why [`ServiceState::run_send`] has no record to give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoRecord {
    /// Shutdown had begun: the send was never started, nothing went out, and its limit slot
    /// is freed.
    NotStarted,
    /// Aborted at shutdown, or its task panicked: recorded as failed, delivery unknown; its
    /// limit slot stays taken.
    Abandoned,
}

#[derive(Debug)]
pub(crate) struct InFlight {
    pub(crate) channel: Channel,
    pub(crate) recipient: String,
    pub(crate) started_at: DateTime<Utc>,
    pub(crate) abort: Option<AbortHandle>,
}

/// Removes a send from the sends under way when its task ends, on every path.
struct InFlightGuard {
    inner: Arc<Inner>,
    id: u64,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        lock(&self.inner.in_flight).remove(&self.id);
    }
}

pub(crate) struct Inner {
    pub(crate) messaging: Arc<Messaging>,
    pub(crate) settings: ServiceSettings,
    pub(crate) limiter: RecipientLimiter,
    pub(crate) idempotency: IdempotencyCache,
    pub(crate) metrics: Metrics,
    pub(crate) events: broadcast::Sender<ServiceEvent>,
    pub(crate) sends: TaskTracker,
    pub(crate) in_flight: Mutex<HashMap<u64, InFlight>>,
    next_send: AtomicU64,
    pub(crate) shutting_down: AtomicBool,
    /// Cancelled when shutdown begins: ends the event streams so connections can close.
    pub(crate) stop: CancellationToken,
    pub(crate) openapi_json: Bytes,
    pub(crate) deliveries: Arc<dyn crate::delivery::DeliverySink>,
    pub(crate) secrets: Arc<dyn crate::webhooks::WebhookSecrets>,
    pub(crate) sns: msgops_webhooks::sns::SnsVerifier,
    pub(crate) resends: crate::delivery::Resends,
    /// Every event of the stream, numbered, the last ones kept for `Last-Event-ID`.
    pub(crate) journal: Arc<Journal>,
    /// The codes seen in backend logs, oldest first.
    pub(crate) codes: Mutex<VecDeque<CodeSeen>>,
    /// The diagnostics seen in backend logs, oldest first.
    pub(crate) diagnostics: Mutex<VecDeque<Diagnostic>>,
}

/// Shared state of a running service; cheap to clone.
#[derive(Clone)]
pub struct ServiceState {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for ServiceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceState")
            .field("auth", &self.inner.settings.auth)
            .field("limits", &self.inner.settings.limits)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ServiceState {
    pub fn new(messaging: Arc<Messaging>, settings: ServiceSettings) -> Self {
        let (events, _) = broadcast::channel(1024);
        let stop = CancellationToken::new();
        let (journal, limiter, idempotency, metrics) = match &settings.shared {
            None => (
                Journal::new(crate::events::EVENT_BUFFER),
                RecipientLimiter::new(settings.limits.clone()),
                IdempotencyCache::new(settings.idempotency),
                Metrics::new(),
            ),
            Some(shared) => {
                shared.install_on(&messaging);
                // A first request holds its key as long as its send may take, and then some.
                let lease = messaging
                    .sms
                    .settings()
                    .send_deadline
                    .max(messaging.email.settings().send_deadline)
                    + Duration::from_secs(10);
                (
                    Journal::shared(crate::events::EVENT_BUFFER, shared.clone()),
                    RecipientLimiter::shared(settings.limits.clone(), shared.clone()),
                    IdempotencyCache::shared(settings.idempotency, shared.clone(), lease),
                    Metrics::with_state(shared.stats()),
                )
            }
        };
        let journal = Arc::new(journal);
        crate::events::journal_chain_events(journal.clone(), messaging.subscribe(), stop.clone());
        if let Some(shared) = &settings.shared {
            crate::events::journal_remote_events(
                journal.clone(),
                shared.remote_events(),
                stop.clone(),
            );
        }
        Self {
            inner: Arc::new(Inner {
                limiter,
                idempotency,
                metrics,
                events,
                sends: TaskTracker::new(),
                in_flight: Mutex::new(HashMap::new()),
                next_send: AtomicU64::new(0),
                shutting_down: AtomicBool::new(false),
                stop,
                openapi_json: crate::api::openapi_bytes(&settings.auth),
                deliveries: settings
                    .deliveries
                    .clone()
                    .unwrap_or_else(|| Arc::new(crate::delivery::MemoryDeliveries::default())),
                secrets: settings.webhook_secrets.clone(),
                sns: msgops_webhooks::sns::SnsVerifier::new(settings.webhooks.sns.clone()),
                resends: crate::delivery::Resends::new(settings.resend_undelivered_within),
                journal,
                codes: Mutex::new(VecDeque::new()),
                diagnostics: Mutex::new(VecDeque::new()),
                messaging,
                settings,
            }),
        }
    }

    pub fn messaging(&self) -> &Arc<Messaging> {
        &self.inner.messaging
    }

    pub fn settings(&self) -> &ServiceSettings {
        &self.inner.settings
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// `local` (memory), `shared` (Redis answers) or `degraded (local)` (it does not).
    pub fn state_status(&self) -> msgops_core::health::StateStatus {
        self.inner
            .settings
            .shared
            .as_ref()
            .map_or(msgops_core::health::StateStatus::Local, |s| s.status())
    }

    /// Feeds a code found in a backend log: counted in `msgops_codes_seen_total`, kept for
    /// `GET /api/v1/codes` (the last 10,000, each up to an hour past its expiry) and published
    /// on the event stream as `code_seen`.
    pub fn record_code(&self, code: CodeSeen) {
        self.inner
            .metrics
            .record_code_seen(code.channel, &code.source);
        {
            let mut codes = lock(&self.inner.codes);
            prune_codes(&mut codes, Utc::now());
            codes.push_back(code.clone());
            while codes.len() > CODES_KEPT {
                codes.pop_front();
            }
        }
        self.publish(ServiceEvent::CodeSeen(code));
    }

    /// The codes seen that `filter` selects, oldest first (newest last).
    pub fn codes(&self, filter: &CodeFilter) -> Vec<ListedCode> {
        let now = Utc::now();
        let mut codes = lock(&self.inner.codes);
        prune_codes(&mut codes, now);
        codes
            .iter()
            .filter(|c| filter.matches(c, now))
            .map(|c| ListedCode {
                expired: c.expired_at(now),
                code: c.clone(),
            })
            .collect()
    }

    /// Feeds a diagnostic the log watcher saw in a backend log (provider error, 5xx, restart,
    /// stale configuration, follower status), kept for `GET /api/v1/diagnostics` (the last
    /// 1,000).
    pub fn record_diagnostic(&self, diagnostic: Diagnostic) {
        let mut kept = lock(&self.inner.diagnostics);
        kept.push_back(diagnostic);
        while kept.len() > DIAGNOSTICS_KEPT {
            kept.pop_front();
        }
    }

    /// The diagnostics kept, oldest first.
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        lock(&self.inner.diagnostics).iter().cloned().collect()
    }

    /// The service's own events (blocked sends, codes, abandoned sends); the chain's are on
    /// [`Messaging::subscribe`].
    pub fn subscribe(&self) -> broadcast::Receiver<ServiceEvent> {
        self.inner.events.subscribe()
    }

    pub(crate) fn publish(&self, event: ServiceEvent) {
        self.inner.journal.append_service(&event);
        // No subscriber is fine: metrics were already counted.
        let _ = self.inner.events.send(event);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::Relaxed)
    }

    pub(crate) fn begin_shutdown(&self) {
        {
            // Under the lock `run_send` checks it under: a send either started before (and is
            // tracked, so the drain waits for it) or sees the flag and never starts.
            let _in_flight = lock(&self.inner.in_flight);
            self.inner.shutting_down.store(true, Ordering::Relaxed);
        }
        self.inner.stop.cancel();
    }

    /// The longest send deadline of the two chains plus two seconds, unless configured.
    pub(crate) fn shutdown_grace(&self) -> Duration {
        self.inner.settings.shutdown_grace.unwrap_or_else(|| {
            let m = &self.inner.messaging;
            m.sms
                .settings()
                .send_deadline
                .max(m.email.settings().send_deadline)
                + Duration::from_secs(2)
        })
    }

    /// Sends sent through the service still under way.
    pub fn sends_in_flight(&self) -> usize {
        lock(&self.inner.in_flight).len()
    }

    /// Duplicates waiting on an Idempotency-Key for the first request's answer (for tests and
    /// diagnostics).
    pub fn duplicates_waiting(&self) -> usize {
        self.inner.idempotency.waiting_duplicates()
    }

    /// Runs a send in its own task (a client that hangs up does not cancel it), tracked until it
    /// ends, holding its recipient-limit `slot`: when the chain is done, the slot is settled
    /// with the outcome (kept if delivered, freed if nothing was), then `then` runs in that task
    /// with the record and its result is returned. Once shutdown has begun, nothing is started
    /// ([`NoRecord::NotStarted`], slot freed); a send aborted at shutdown or whose task panicked
    /// is [`NoRecord::Abandoned`] (slot kept: delivery unknown).
    pub(crate) async fn run_send<T: Send + 'static>(
        &self,
        message: Outgoing,
        slot: Reservation,
        then: impl FnOnce(&SendRecord) -> T + Send + 'static,
    ) -> Result<T, NoRecord> {
        let id = self.inner.next_send.fetch_add(1, Ordering::Relaxed);
        let task = {
            let mut in_flight = lock(&self.inner.in_flight);
            if self.is_shutting_down() {
                drop(in_flight);
                slot.release();
                return Err(NoRecord::NotStarted);
            }
            let inner = self.inner.clone();
            let channel = message.channel();
            let recipient = message.recipient().to_string();
            // Spawned under the lock, so the task's own removal comes after this insertion
            // and the drain always finds its abort handle.
            let task = self.inner.sends.spawn(async move {
                // Leaves the sends under way however the task ends (a panic included).
                let _done = InFlightGuard {
                    inner: inner.clone(),
                    id,
                };
                let record = match &message {
                    Outgoing::Sms(m) => inner.messaging.sms.send(m).await,
                    Outgoing::Email(m) => inner.messaging.email.send(m).await,
                };
                slot.settle(&record.outcome);
                inner.resends.remember(&message, &record);
                then(&record)
            });
            in_flight.insert(
                id,
                InFlight {
                    channel,
                    recipient,
                    started_at: Utc::now(),
                    abort: Some(task.abort_handle()),
                },
            );
            task
        };
        task.await.map_err(|_| NoRecord::Abandoned)
    }

    /// Waits up to `grace` for the sends under way; the ones still running then are aborted and
    /// recorded as failed (metric, event, error log line with the recipient).
    pub(crate) async fn drain_sends(&self, grace: Duration) {
        self.drain_sends_under_way(grace).await;
        // What the sends left to write to the shared state (their slots, their answers).
        if let Some(shared) = &self.inner.settings.shared {
            shared.close(Duration::from_secs(2)).await;
        }
    }

    async fn drain_sends_under_way(&self, grace: Duration) {
        self.inner.sends.close();
        if tokio::time::timeout(grace, self.inner.sends.wait())
            .await
            .is_ok()
        {
            return;
        }
        let left: Vec<InFlight> = lock(&self.inner.in_flight)
            .drain()
            .map(|(_, v)| v)
            .collect();
        for send in left {
            if let Some(abort) = &send.abort {
                abort.abort();
            }
            let reason = format!(
                "still running {} s into shutdown; recorded as failed (delivery unknown)",
                grace.as_secs()
            );
            tracing::error!(channel = ?send.channel, recipient = %send.recipient, started_at = %send.started_at, "send abandoned at shutdown: {reason}");
            self.inner.metrics.record_abandoned(send.channel);
            self.publish(ServiceEvent::SendAbandoned {
                channel: send.channel,
                recipient: send.recipient,
                started_at: send.started_at,
                reason,
            });
        }
    }
}

/// Drops the codes expired for more than [`CODES_KEPT_AFTER_EXPIRY`] (those with no known
/// expiry: that long after they were seen).
fn prune_codes(codes: &mut VecDeque<CodeSeen>, now: DateTime<Utc>) {
    codes.retain(|c| c.expires_at.unwrap_or(c.seen_at) + CODES_KEPT_AFTER_EXPIRY > now);
}

#[cfg(test)]
mod tests {
    use msgops_core::config::Config;

    use super::*;
    use crate::limits::LimitRule;

    const NUMBER: &str = "+14165550123";

    #[tokio::test]
    async fn no_send_starts_once_shutdown_has_begun_and_its_limit_slot_is_freed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config::default();
        config.console.log_path = dir.path().join("console-sms.log");
        let messaging = Arc::new(Messaging::from_config(&config));
        let providers = crate::emulated::install_emulated_providers(&messaging, &[]);
        let state = ServiceState::new(
            messaging,
            ServiceSettings {
                limits: LimitsConfig {
                    sms_per_recipient: Some(LimitRule::per_hour(1)),
                    ..LimitsConfig::default()
                },
                ..ServiceSettings::default()
            },
        );
        state.begin_shutdown();
        let slot = state
            .inner
            .limiter
            .try_reserve(Channel::Sms, NUMBER)
            .expect("free");
        let message = Outgoing::Sms(SmsMessage {
            to: NUMBER.into(),
            body: "Your code is 091282".into(),
            code: Some("091282".into()),
        });
        let got = state.run_send(message, slot, |_| ()).await;
        assert_eq!(got, Err(NoRecord::NotStarted));
        assert!(
            providers.iter().all(|(_, p)| p.calls() == 0),
            "nothing sent"
        );
        assert!(!config.console.log_path.exists(), "not even to the Console");
        assert_eq!(state.sends_in_flight(), 0);
        state
            .inner
            .limiter
            .try_reserve(Channel::Sms, NUMBER)
            .expect("the slot was freed")
            .keep();
    }

    fn code(recipient: &str, code: &str, expires_in_secs: Option<i64>) -> CodeSeen {
        let now = Utc::now();
        CodeSeen {
            channel: if recipient.contains('@') {
                Channel::Email
            } else {
                Channel::Sms
            },
            recipient: Some(recipient.into()),
            candidates: Vec::new(),
            code: code.into(),
            source: "backend_log".into(),
            seen_at: now,
            expires_at: expires_in_secs.map(|s| now + chrono::TimeDelta::seconds(s)),
        }
    }

    #[tokio::test]
    async fn codes_are_listed_by_phone_tail_recipient_channel_and_validity() {
        let state = ServiceState::new(
            Arc::new(Messaging::from_config(&Config::default())),
            ServiceSettings::default(),
        );
        state.record_code(code("+14165550123", "111111", Some(600)));
        state.record_code(code("ops@example.com", "222222", Some(600)));
        state.record_code(code("+14165550999", "333333", Some(-60)));
        state.record_code(code("+14165550123", "444444", None));
        // Expired two hours ago: no longer kept at all.
        state.record_code(code("+14165550123", "555555", Some(-7200)));
        let codes = |f: CodeFilter| -> Vec<String> {
            state.codes(&f).into_iter().map(|c| c.code.code).collect()
        };
        assert_eq!(codes(CodeFilter::default()), ["111111", "222222"]);
        assert_eq!(
            codes(CodeFilter {
                include_expired: true,
                ..CodeFilter::default()
            }),
            ["111111", "222222", "333333", "444444"],
            "newest last; no known expiry is never valid"
        );
        assert_eq!(
            codes(CodeFilter {
                phone_digits: Some("0123".into()),
                include_expired: true,
                ..CodeFilter::default()
            }),
            ["111111", "444444"]
        );
        assert!(
            codes(CodeFilter {
                phone_digits: Some("012".into()),
                ..CodeFilter::default()
            })
            .is_empty(),
            "the last digits, not any digits"
        );
        assert_eq!(
            codes(CodeFilter {
                recipient: Some("OPS@example.com".into()),
                ..CodeFilter::default()
            }),
            ["222222"]
        );
        assert_eq!(
            codes(CodeFilter {
                channel: Some(Channel::Sms),
                ..CodeFilter::default()
            }),
            ["111111"]
        );
        let listed = state.codes(&CodeFilter {
            include_expired: true,
            ..CodeFilter::default()
        });
        assert_eq!(
            listed.iter().map(|c| c.expired).collect::<Vec<_>>(),
            [false, false, true, true]
        );
    }

    #[tokio::test]
    async fn codes_and_diagnostics_are_bounded() {
        let state = ServiceState::new(
            Arc::new(Messaging::from_config(&Config::default())),
            ServiceSettings::default(),
        );
        for n in 0..CODES_KEPT + 5 {
            state.record_code(code("+14165550123", &format!("{n:06}"), Some(600)));
        }
        let codes = state.codes(&CodeFilter::default());
        assert_eq!(codes.len(), CODES_KEPT);
        assert_eq!(codes[0].code.code, "000005");
        for n in 0..DIAGNOSTICS_KEPT + 3 {
            state.record_diagnostic(Diagnostic::FollowerStatus {
                file: format!("/var/log/backend-{n}.log"),
                state: "missing".into(),
                message: "waiting for it".into(),
                seen_at: Utc::now(),
            });
        }
        let kept = state.diagnostics();
        assert_eq!(kept.len(), DIAGNOSTICS_KEPT);
        assert!(
            matches!(&kept[0], Diagnostic::FollowerStatus { file, .. } if file.ends_with("-3.log"))
        );
    }
}
