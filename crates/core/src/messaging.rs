//! Both chains together, built from the configuration: what the app, the CLI and the service
//! hold. Network providers are installed later by whoever has their credentials; until then
//! they are listed as not configured and skipped.

use std::sync::{Arc, RwLock};

use tokio::sync::broadcast;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::breaker::{BreakerState, Transition};
use crate::chain::{ChainEvent, Priority, ProbeResult, ProviderChain, ProviderSpec};
use crate::config::{self, Config, ProviderDefaults};
use crate::console::ConsoleSmsProvider;
use crate::health::{HealthConfig, HealthSnapshot};
use crate::message::{Channel, EmailMessage, SmsMessage};
use crate::provider::{Provider, ProviderKind};

/// An on-call engineer's control of one provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum Control {
    /// Close the breaker now: the upstream cause is fixed.
    Reset,
    /// End the cool-down now: the next call is the trial.
    Trial,
    /// Run the provider's health probe now (never counted by the breaker).
    Probe,
}

impl Control {
    pub fn as_str(self) -> &'static str {
        match self {
            Control::Reset => "reset",
            Control::Trial => "trial",
            Control::Probe => "probe",
        }
    }
}

/// What a control did.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct ControlOutcome {
    pub provider: ProviderKind,
    pub control: Control,
    /// The breaker's move, when it moved (a reset of a CLOSED breaker with no failures, or a
    /// trial of one that is not OPEN, moves nothing).
    pub transition: Option<Transition>,
    /// The breaker's state afterwards.
    pub state: BreakerState,
    /// The probe's result, for a probe.
    pub probe: Option<ProbeResult>,
}

impl ControlOutcome {
    /// For people and the audit trail: "OPEN → CLOSED", "already CLOSED", "probe failed: ...".
    pub fn describe(&self) -> String {
        if let Some(probe) = &self.probe {
            return match (&probe.ok, &probe.message) {
                (true, _) => "probe succeeded".to_string(),
                (false, Some(m)) => format!("probe failed: {m}"),
                (false, None) => "probe failed".to_string(),
            };
        }
        match &self.transition {
            Some(t) => format!("{} → {}", t.from.as_str(), t.to.as_str()),
            None => format!("nothing to do: {}", self.state.as_str()),
        }
    }

    /// Whether the control did what it is for: a probe that failed did not.
    pub fn ok(&self) -> bool {
        self.probe.as_ref().is_none_or(|p| p.ok)
    }
}

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

    /// Runs an operator's control on one provider. `reason` goes into the breaker's
    /// transition ("reset by ops@laptop (cli)").
    pub async fn control(
        &self,
        id: ProviderKind,
        control: Control,
        reason: &str,
    ) -> ControlOutcome {
        let transition = match (control, id.channel()) {
            (Control::Reset, Channel::Sms) => self.sms.reset_breaker(&id, reason).flatten(),
            (Control::Reset, Channel::Email) => self.email.reset_breaker(&id, reason).flatten(),
            (Control::Trial, Channel::Sms) => self.sms.start_trial(&id, reason).flatten(),
            (Control::Trial, Channel::Email) => self.email.start_trial(&id, reason).flatten(),
            (Control::Probe, Channel::Sms) => {
                self.sms.probe(&id).await;
                None
            }
            (Control::Probe, Channel::Email) => {
                self.email.probe(&id).await;
                None
            }
        };
        let health = self.health();
        let now = health.providers().find(|p| p.id == id).cloned();
        ControlOutcome {
            provider: id,
            control,
            transition,
            state: now
                .as_ref()
                .map_or(BreakerState::Closed, |p| p.breaker_state),
            probe: match control {
                Control::Probe => now.and_then(|p| p.last_probe),
                _ => None,
            },
        }
    }

    /// Who re-reads a provider's credentials when it refuses them (both chains).
    pub fn set_credential_refresh(
        &self,
        refresh: std::sync::Weak<dyn crate::provider::CredentialRefresh>,
    ) {
        self.sms.set_credential_refresh(refresh.clone());
        self.email.set_credential_refresh(refresh);
    }

    /// Who decides the providers' rates in both chains; `None`: each provider's own token
    /// bucket (the default).
    pub fn set_rate_limiter(&self, limiter: Option<Arc<dyn crate::rate_limit::RateLimiter>>) {
        self.sms.set_rate_limiter(limiter.clone());
        self.email.set_rate_limiter(limiter);
    }

    /// Shares both chains' breakers with other processes; `None`: this process alone.
    pub fn set_breaker_sync(&self, sync: Option<Arc<dyn crate::breaker_sync::BreakerSync>>) {
        self.sms.set_breaker_sync(sync.clone());
        self.email.set_breaker_sync(sync);
    }

    /// Applies another process's breaker transition to the chain of its provider.
    pub fn apply_remote_transition(&self, remote: &crate::breaker_sync::RemoteTransition) -> bool {
        match remote.provider.channel() {
            Channel::Sms => self.sms.apply_remote_transition(remote),
            Channel::Email => self.email.apply_remote_transition(remote),
        }
    }

    /// Whether `id` names a provider of either chain.
    pub fn knows(&self, id: &ProviderKind) -> bool {
        self.sms.provider_ids().contains(id) || self.email.provider_ids().contains(id)
    }
}
