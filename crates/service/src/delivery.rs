//! What the service does with a delivery report once its sender is verified (the webhooks) or
//! it was read from AWS (the SNS SMS delivery logs): keep it once, count it, stream it, and —
//! when `[delivery] resend_undelivered` is on — send a message its provider accepted and then
//! could not deliver again through the next provider, once, while its code is still valid.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use msgops_core::chain::{SendOutcome, SendRecord};
use msgops_core::ProviderKind;
use msgops_delivery::{DeliveryEvent, DeliveryRates};

use crate::state::{Outgoing, ServiceState};

/// The window of the delivery rates in health, metrics and on the dashboard.
pub const RATE_WINDOW: Duration = Duration::from_secs(3600);

/// Where the reports are kept. The app and `msgops serve` keep them in the history database
/// beside the sends ([`msgops_history::HistoryStore`]); a service built without one keeps
/// them in memory.
#[async_trait::async_trait]
pub trait DeliverySink: Send + Sync {
    /// Keeps `event` unless it is a duplicate (same provider and event id); `Ok(true)` when
    /// it is new. `Err` when it could not be kept (the provider is then asked to retry).
    async fn keep(&self, event: DeliveryEvent) -> Result<bool, String>;
    /// Each provider's delivered share over `window` up to `now`.
    async fn rates(&self, now: DateTime<Utc>, window: Duration) -> DeliveryRates;
}

#[async_trait::async_trait]
impl DeliverySink for msgops_history::HistoryStore {
    async fn keep(&self, event: DeliveryEvent) -> Result<bool, String> {
        self.record_delivery(&event)
            .await
            .map_err(|e| e.to_string())
    }
    async fn rates(&self, now: DateTime<Utc>, window: Duration) -> DeliveryRates {
        match msgops_history::HistoryStore::rates(self, now, window).await {
            Ok(rates) => rates,
            Err(e) => {
                tracing::warn!(error = %e, "delivery rates not read");
                DeliveryRates::of(std::iter::empty(), now, window)
            }
        }
    }
}

/// Reports in memory, the newest [`MemoryDeliveries::CAP`].
#[derive(Debug, Default)]
pub struct MemoryDeliveries {
    events: Mutex<std::collections::VecDeque<DeliveryEvent>>,
}

impl MemoryDeliveries {
    pub const CAP: usize = 10_000;
}

#[async_trait::async_trait]
impl DeliverySink for MemoryDeliveries {
    async fn keep(&self, event: DeliveryEvent) -> Result<bool, String> {
        let mut events = lock(&self.events);
        if events.iter().any(|e| e.same_report(&event)) {
            return Ok(false);
        }
        if events.len() >= Self::CAP {
            events.pop_front();
        }
        events.push_back(event);
        Ok(true)
    }
    async fn rates(&self, now: DateTime<Utc>, window: Duration) -> DeliveryRates {
        DeliveryRates::of(lock(&self.events).iter(), now, window)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What [`ServiceState::ingest_deliveries`] did with a batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ingested {
    pub new: usize,
    pub duplicates: usize,
    /// Sent again through the next provider.
    pub resent: usize,
}

/// A message the service sent that the resend rule may send again.
#[derive(Debug, Clone)]
struct Sent {
    message: Outgoing,
    provider: ProviderKind,
    valid_until: DateTime<Utc>,
    resent: bool,
}

/// The service's own sends accepted by a provider, by the provider's message id, for as long as
/// their code is valid. Only kept while the rule is on.
#[derive(Debug, Default)]
pub(crate) struct Resends {
    /// `None`: the rule is off.
    lifetime: Option<Duration>,
    sent: Mutex<HashMap<(ProviderKind, String), Sent>>,
}

impl Resends {
    pub(crate) fn new(lifetime: Option<Duration>) -> Self {
        Self {
            lifetime,
            sent: Mutex::new(HashMap::new()),
        }
    }

    /// Remembers a delivered send's message under its provider's receipt.
    pub(crate) fn remember(&self, message: &Outgoing, record: &SendRecord) {
        let Some(lifetime) = self.lifetime else {
            return;
        };
        let SendOutcome::Delivered {
            provider, attempts, ..
        } = &record.outcome
        else {
            return;
        };
        let Some(id) = attempts
            .iter()
            .rev()
            .find(|a| a.provider == *provider)
            .and_then(|a| a.provider_message_id.clone())
        else {
            return;
        };
        let valid_until = record.started_at
            + chrono::Duration::from_std(lifetime).unwrap_or(chrono::Duration::MAX);
        let now = Utc::now();
        let mut sent = lock(&self.sent);
        sent.retain(|_, s| s.valid_until > now);
        sent.insert(
            (*provider, id),
            Sent {
                message: message.clone(),
                provider: *provider,
                valid_until,
                resent: false,
            },
        );
    }

    /// The message to send again for a failure report: once per send, within its code's
    /// lifetime, and only when a provider comes after the one that failed it.
    fn take(&self, event: &DeliveryEvent) -> Option<(Outgoing, ProviderKind)> {
        self.lifetime?;
        if !event.status.is_failure() {
            return None;
        }
        let mut sent = lock(&self.sent);
        let s = sent.get_mut(&(event.provider, event.provider_message_id.clone()))?;
        if s.resent || s.valid_until <= Utc::now() {
            return None;
        }
        s.resent = true;
        Some((s.message.clone(), s.provider))
    }
}

impl ServiceState {
    /// Keeps verified reports once each, counts them (`msgops_delivery_total`), streams the new
    /// ones as `delivery_status`, and applies the resend rule. `Err` when a report could not be
    /// kept: the caller answers so that the provider retries.
    pub async fn ingest_deliveries(&self, events: Vec<DeliveryEvent>) -> Result<Ingested, String> {
        let mut done = Ingested::default();
        let mut failure = None;
        for event in events {
            match self.inner.deliveries.keep(event.clone()).await {
                Ok(true) => {
                    done.new += 1;
                    self.metrics().record_delivery(&event);
                    let resend = self.inner.resends.take(&event);
                    // The report is streamed before the send it causes.
                    self.publish(crate::events::ServiceEvent::DeliveryStatus {
                        report: event.clone(),
                    });
                    if let Some((message, after)) = resend {
                        self.resend(message, after, &event);
                        done.resent += 1;
                    }
                }
                Ok(false) => {
                    done.duplicates += 1;
                    self.metrics().record_delivery_duplicate(event.source);
                }
                Err(e) => {
                    tracing::error!(provider = %event.provider, error = %e, "a delivery report could not be kept");
                    failure = Some(e);
                }
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(done),
        }
    }

    /// The chains' health with each provider's delivery rate over the last hour.
    pub async fn health(&self) -> msgops_core::health::HealthSnapshot {
        let mut snapshot = self.messaging().health();
        snapshot.delivery = Some(self.delivery_rates().await);
        snapshot.state = Some(self.state_status());
        snapshot
    }

    /// Each provider's delivered share over the last hour.
    pub async fn delivery_rates(&self) -> DeliveryRates {
        self.inner.deliveries.rates(Utc::now(), RATE_WINDOW).await
    }

    /// Sends `message` again through the providers after `after`, in its own tracked task (the
    /// drain waits for it); its record reaches History like any send.
    fn resend(&self, message: Outgoing, after: ProviderKind, event: &DeliveryEvent) {
        if self.is_shutting_down() {
            return;
        }
        tracing::info!(
            provider = %after,
            message_id = %event.provider_message_id,
            status = %event.status,
            "undelivered within the code's lifetime: sending again through the next provider"
        );
        let state = self.clone();
        self.inner.sends.spawn(async move {
            let record = match &message {
                Outgoing::Sms(m) => state.messaging().sms.send_after(m, &after).await,
                Outgoing::Email(m) => state.messaging().email.send_after(m, &after).await,
            };
            state.metrics().record_resend(&record, after);
        });
    }
}

/// Test only: the SNS certificate and SubscribeURL fetches go to this loopback base (moto)
/// after the host check passed.
pub const SNS_FETCH_BASE_ENV: &str = "MSGOPS_TEST_SNS_FETCH_BASE";

impl crate::state::ServiceSettings {
    /// The delivery webhooks and reports as `[service]` and `[delivery]` configure them:
    /// verified with `secrets`, kept in `sink`.
    pub fn with_deliveries(
        mut self,
        config: &msgops_core::config::Config,
        secrets: std::sync::Arc<dyn crate::webhooks::WebhookSecrets>,
        sink: std::sync::Arc<dyn DeliverySink>,
    ) -> Self {
        let d = &config.delivery;
        let fetch_base_override = std::env::var(SNS_FETCH_BASE_ENV)
            .ok()
            .filter(|base| {
                let loopback = ["http://127.0.0.1:", "http://localhost:", "http://[::1]:"]
                    .iter()
                    .any(|p| base.starts_with(p));
                if !loopback {
                    tracing::warn!(%base, "{SNS_FETCH_BASE_ENV} ignored: only a loopback http base is allowed");
                }
                loopback
            });
        self.webhooks = crate::webhooks::WebhookSettings {
            public_url: config.service.public_url.clone(),
            sendgrid_replay_window: Duration::from_secs(d.sendgrid_replay_window_secs),
            sns: msgops_webhooks::sns::SnsSettings {
                topic_arns: d.sns_topic_arns.clone(),
                fetch_base_override,
                ..msgops_webhooks::sns::SnsSettings::default()
            },
        };
        self.webhook_secrets = secrets;
        self.deliveries = Some(sink);
        self.resend_undelivered_within = d
            .resend_undelivered
            .then(|| Duration::from_secs(config.logs.code_lifetime_secs));
        self
    }
}
