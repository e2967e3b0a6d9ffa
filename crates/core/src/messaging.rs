//! Both chains together, built from the configuration: what the app, the CLI and the service
//! hold. Network providers are installed later by whoever has their credentials; until then
//! they are listed as not configured and skipped.

use std::sync::{Arc, RwLock};

use tokio::sync::broadcast;

use crate::chain::{ChainEvent, Priority, ProviderChain, ProviderSpec};
use crate::config::{self, Config, ProviderDefaults};
use crate::console::ConsoleSmsProvider;
use crate::health::{HealthConfig, HealthSnapshot};
use crate::message::{EmailMessage, SmsMessage};
use crate::provider::{Provider, ProviderKind};

pub struct Messaging {
    pub sms: ProviderChain<SmsMessage>,
    pub email: ProviderChain<EmailMessage>,
    events: broadcast::Sender<ChainEvent>,
    /// Which chain states the health endpoint accepts (`[health]`).
    health_policy: RwLock<HealthConfig>,
}

const PRIORITIES: [Priority; 3] = [Priority::Primary, Priority::Secondary, Priority::Fallback];

fn specs(config: &Config, chain: &[ProviderDefaults; 3]) -> Vec<(ProviderSpec, bool)> {
    chain
        .iter()
        .zip(PRIORITIES)
        .map(|(d, priority)| {
            let policy = config.policy(d.id).clone();
            (policy.spec(d, priority), policy.enabled())
        })
        .collect()
}

impl Messaging {
    /// Builds both chains from the configuration, with the Console provider installed.
    pub fn from_config(config: &Config) -> Self {
        let (events, _) = broadcast::channel(1024);
        let settings = config.chain.settings();
        let sms_specs = specs(config, &config::SMS_CHAIN);
        let email_specs = specs(config, &config::EMAIL_CHAIN);
        let console: Arc<dyn Provider<SmsMessage>> =
            Arc::new(ConsoleSmsProvider::new(&config.console.log_path));
        let sms = ProviderChain::new(
            sms_specs
                .iter()
                .map(|(spec, _)| {
                    let provider = (spec.id == config::CONSOLE.id).then(|| console.clone());
                    (spec.clone(), provider)
                })
                .collect(),
            settings,
            events.clone(),
        );
        let email = ProviderChain::new(
            email_specs.iter().map(|(s, _)| (s.clone(), None)).collect(),
            settings,
            events.clone(),
        );
        let messaging = Self {
            sms,
            email,
            events,
            health_policy: RwLock::new(config.health.clone()),
        };
        for (spec, enabled) in sms_specs.iter().filter(|(_, enabled)| !enabled) {
            messaging
                .sms
                .set_enabled(&spec.id, *enabled, "disabled in the configuration");
        }
        for (spec, enabled) in email_specs.iter().filter(|(_, enabled)| !enabled) {
            messaging
                .email
                .set_enabled(&spec.id, *enabled, "disabled in the configuration");
        }
        messaging
    }

    /// Applies a new configuration's breaker, rate, cost and chain settings without a restart.
    pub fn apply_config(&self, config: &Config) {
        *self
            .health_policy
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = config.health.clone();
        self.sms.set_settings(config.chain.settings());
        self.email.set_settings(config.chain.settings());
        for (spec, enabled) in specs(config, &config::SMS_CHAIN) {
            self.sms.update_spec(&spec.id, |s| *s = spec.clone());
            self.sms
                .set_enabled(&spec.id, enabled, "configuration changed");
        }
        for (spec, enabled) in specs(config, &config::EMAIL_CHAIN) {
            self.email.update_spec(&spec.id, |s| *s = spec.clone());
            self.email
                .set_enabled(&spec.id, enabled, "configuration changed");
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<ChainEvent> {
        self.events.subscribe()
    }

    pub fn health(&self) -> HealthSnapshot {
        let policy = self
            .health_policy
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        HealthSnapshot::new(self.sms.health(), self.email.health(), &policy)
    }

    pub fn poll_breakers(&self) {
        self.sms.poll_breakers();
        self.email.poll_breakers();
    }

    /// Whether `id` names a provider of either chain.
    pub fn knows(&self, id: &ProviderKind) -> bool {
        self.sms.provider_ids().contains(id) || self.email.provider_ids().contains(id)
    }
}
