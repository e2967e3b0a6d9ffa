//! Wiring: builds each network provider that has what it needs (credentials from the store,
//! settings from the configuration) and installs it into the chains. A provider lacking
//! something stays "not configured" and its report says what is missing — never a secret.

use std::sync::Arc;
use std::time::Duration;

use msgops_core::config::{self, Config};
use msgops_core::health::HealthSnapshot;
use msgops_core::{Channel, EmailMessage, Messaging, Provider, ProviderKind, SmsMessage};
use msgops_credentials::{
    CredentialError, CredentialProvider, CredentialState, CredentialStatus, CredentialStore,
    CredentialStoreExt, SecretKind,
};
use secrecy::SecretString;
use serde::Serialize;

use crate::aws::{self, AwsCredentials, AwsSettings};
use crate::sendgrid::{SendGridProvider, SendGridSettings};
use crate::ses::SesProvider;
use crate::smtp::{SmtpProvider, SmtpSettings};
use crate::sns::SnsProvider;
use crate::timeouts::Timeouts;
use crate::twilio::{TwilioProvider, TwilioSender, TwilioSettings};

/// What happened to one provider of a chain. Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstallReport {
    pub channel: Channel,
    pub provider: ProviderKind,
    /// Whether a working provider is now in the chain.
    pub installed: bool,
    /// Where its credentials came from (`credential store`, `AWS default credential chain`).
    pub credentials_from: Option<String>,
    /// What is missing, for people: `Twilio auth token (credential store)`,
    /// `twilio.from_number or twilio.messaging_service_sid (configuration)`.
    pub missing: Vec<String>,
    /// A problem other than something missing (keychain locked, invalid setting).
    pub error: Option<String>,
    /// The keychain could not be read: a provider that was working keeps the credentials it
    /// has instead of being taken out of its chain.
    pub keychain_unreadable: bool,
}

impl InstallReport {
    fn new(id: ProviderKind) -> Self {
        Self {
            channel: id.channel(),
            provider: id,
            installed: false,
            credentials_from: None,
            missing: Vec::new(),
            error: None,
            keychain_unreadable: false,
        }
    }
}

const STORE: &str = "credential store";
/// How long to wait for the AWS default chain (instance metadata can be slow to refuse).
const DEFAULT_CHAIN_WAIT: Duration = Duration::from_secs(3);

/// Builds and installs every network provider that has what it needs: SNS and Twilio in the
/// SMS chain, SES, SendGrid and SMTP in the email chain. Providers that lack something are
/// left as they are (not configured) and reported with what is missing.
///
/// Keychain reads block; they run in a blocking section (`block_in_place` on a multi-threaded
/// runtime) so other tasks keep running, each within the store's own time limit.
pub async fn install_providers(
    messaging: &Messaging,
    config: &Config,
    store: &dyn CredentialStore,
) -> Vec<InstallReport> {
    let mut reports = Vec::new();
    for provider in CredentialProvider::ALL {
        reports.extend(install(provider, messaging, config, store, false).await);
    }
    reports
}

/// Rebuilds the providers that use `provider`'s credentials (AWS: SNS and SES) after a
/// rotation or a removal. A provider whose credentials are gone is taken out of its chain
/// (not configured). Installing resets the provider's breaker, with the reason recorded.
pub async fn reinstall(
    provider: CredentialProvider,
    messaging: &Messaging,
    config: &Config,
    store: &dyn CredentialStore,
) -> Vec<InstallReport> {
    install(provider, messaging, config, store, true).await
}

fn read_blocking(
    store: &dyn CredentialStore,
    kinds: &[SecretKind],
) -> Result<Vec<Option<SecretString>>, CredentialError> {
    msgops_credentials::blocking_section(|| kinds.iter().map(|k| store.get_secret(*k)).collect())
}

/// Reads the secrets of `kinds`; records each missing one in the report.
fn secrets(
    store: &dyn CredentialStore,
    kinds: &[SecretKind],
    reports: &mut [InstallReport],
) -> Option<Vec<Option<SecretString>>> {
    match read_blocking(store, kinds) {
        Ok(values) => Some(values),
        Err(e) => {
            for r in reports.iter_mut() {
                r.error = Some(format!("keychain unreadable: {e}"));
                r.keychain_unreadable = true;
            }
            None
        }
    }
}

fn missing_secret(kind: SecretKind) -> String {
    format!("{} ({STORE})", kind.label())
}

fn missing_setting(field: &str) -> String {
    format!("{field} (configuration)")
}

async fn install(
    provider: CredentialProvider,
    messaging: &Messaging,
    config: &Config,
    store: &dyn CredentialStore,
    clear_when_missing: bool,
) -> Vec<InstallReport> {
    let timeouts = Timeouts::for_chain(config.chain.settings().per_attempt_timeout);
    match provider {
        CredentialProvider::Aws => {
            install_aws(messaging, config, store, timeouts, clear_when_missing).await
        }
        CredentialProvider::Twilio => {
            let mut r = [InstallReport::new(config::TWILIO.id)];
            let built = build_twilio(config, store, timeouts, &mut r[0]);
            apply_sms(messaging, &mut r[0], built, clear_when_missing);
            r.to_vec()
        }
        CredentialProvider::Sendgrid => {
            let mut r = [InstallReport::new(config::SENDGRID.id)];
            let built = build_sendgrid(config, store, timeouts, &mut r[0]);
            apply_email(messaging, &mut r[0], built, clear_when_missing);
            r.to_vec()
        }
        CredentialProvider::Smtp => {
            let mut r = [InstallReport::new(config::SMTP.id)];
            let built = build_smtp(config, store, timeouts, &mut r[0]);
            apply_email(messaging, &mut r[0], built, clear_when_missing);
            r.to_vec()
        }
    }
}

fn apply_sms(
    messaging: &Messaging,
    report: &mut InstallReport,
    built: Option<Arc<dyn Provider<SmsMessage>>>,
    clear_when_missing: bool,
) {
    let id = report.provider;
    apply(report, built.is_some(), clear_when_missing, |reason| {
        messaging.sms.set_provider(&id, built, reason);
    });
}

fn apply_email(
    messaging: &Messaging,
    report: &mut InstallReport,
    built: Option<Arc<dyn Provider<EmailMessage>>>,
    clear_when_missing: bool,
) {
    let id = report.provider;
    apply(report, built.is_some(), clear_when_missing, |reason| {
        messaging.email.set_provider(&id, built, reason);
    });
}

fn apply(
    report: &mut InstallReport,
    built: bool,
    clear_when_missing: bool,
    set: impl FnOnce(&str),
) {
    report.installed = built;
    if built {
        let reason = format!(
            "installed with credentials from the {}",
            report.credentials_from.as_deref().unwrap_or(STORE)
        );
        tracing::info!(provider = %report.provider, "{reason}");
        set(&reason);
    } else if report.keychain_unreadable {
        tracing::warn!(provider = %report.provider, error = ?report.error, "keychain unreadable: the provider keeps the credentials it has");
    } else if clear_when_missing {
        let reason = if report.missing.is_empty() {
            "not configured".to_owned()
        } else {
            format!("not configured: missing {}", report.missing.join(", "))
        };
        tracing::info!(provider = %report.provider, "{reason}");
        set(&reason);
    } else {
        tracing::info!(provider = %report.provider, missing = ?report.missing, error = ?report.error, "left not configured");
    }
}

async fn install_aws(
    messaging: &Messaging,
    config: &Config,
    store: &dyn CredentialStore,
    timeouts: Timeouts,
    clear_when_missing: bool,
) -> Vec<InstallReport> {
    let mut reports = [
        InstallReport::new(config::SNS.id),
        InstallReport::new(config::SES.id),
    ];
    let kinds = [SecretKind::AwsAccessKeyId, SecretKind::AwsSecretAccessKey];
    let credentials = match secrets(store, &kinds, &mut reports) {
        None => None,
        Some(values) => {
            match (
                values.first().cloned().flatten(),
                values.get(1).cloned().flatten(),
            ) {
                (Some(access_key_id), Some(secret_access_key)) => Some((
                    AwsCredentials::Static {
                        access_key_id,
                        secret_access_key,
                    },
                    STORE.to_owned(),
                )),
                (None, None) => {
                    if aws::default_chain_has_credentials(&config.sns.region, DEFAULT_CHAIN_WAIT)
                        .await
                    {
                        Some((
                            AwsCredentials::DefaultChain,
                            "AWS default credential chain".to_owned(),
                        ))
                    } else {
                        for r in &mut reports {
                            r.missing = kinds
                            .iter()
                            .map(|k| format!("{} ({STORE}, and none from the AWS default credential chain)", k.label()))
                            .collect();
                        }
                        None
                    }
                }
                (id, _) => {
                    let absent = if id.is_none() { kinds[0] } else { kinds[1] };
                    for r in &mut reports {
                        r.missing = vec![missing_secret(absent)];
                    }
                    None
                }
            }
        }
    };
    let [sns_report, ses_report] = &mut reports;

    let sns: Option<Arc<dyn Provider<SmsMessage>>> = match &credentials {
        Some((creds, from)) => {
            sns_report.credentials_from = Some(from.clone());
            let settings = AwsSettings {
                region: config.sns.region.clone(),
                endpoint_url: config.sns.endpoint_url.clone(),
                credentials: creds.clone(),
                timeouts,
            };
            Some(Arc::new(SnsProvider::new(&settings).await))
        }
        None => None,
    };
    apply_sms(messaging, sns_report, sns, clear_when_missing);

    let ses_from = config.ses.from.clone().filter(|f| !f.trim().is_empty());
    if ses_from.is_none() {
        ses_report.missing.push(missing_setting("ses.from"));
    }
    let ses: Option<Arc<dyn Provider<EmailMessage>>> = match (&credentials, ses_from) {
        (Some((creds, source)), Some(from)) => {
            ses_report.credentials_from = Some(source.clone());
            let settings = AwsSettings {
                region: config.ses.region.clone(),
                endpoint_url: config.ses.endpoint_url.clone(),
                credentials: creds.clone(),
                timeouts,
            };
            Some(Arc::new(SesProvider::new(&settings, from).await))
        }
        _ => None,
    };
    apply_email(messaging, ses_report, ses, clear_when_missing);
    reports.to_vec()
}

fn build_twilio(
    config: &Config,
    store: &dyn CredentialStore,
    timeouts: Timeouts,
    report: &mut InstallReport,
) -> Option<Arc<dyn Provider<SmsMessage>>> {
    let kinds = [SecretKind::TwilioAccountSid, SecretKind::TwilioAuthToken];
    let values = secrets(store, &kinds, std::slice::from_mut(report))?;
    for (kind, value) in kinds.iter().zip(&values) {
        if value.is_none() {
            report.missing.push(missing_secret(*kind));
        }
    }
    let sender = match (
        &config.twilio.from_number,
        &config.twilio.messaging_service_sid,
    ) {
        (_, Some(sid)) if !sid.trim().is_empty() => {
            Some(TwilioSender::MessagingService(sid.trim().to_owned()))
        }
        (Some(n), _) if !n.trim().is_empty() => Some(TwilioSender::Number(n.trim().to_owned())),
        _ => {
            report.missing.push(missing_setting(
                "twilio.from_number or twilio.messaging_service_sid",
            ));
            None
        }
    };
    let mut values = values.into_iter();
    let (Some(Some(account_sid)), Some(Some(auth_token)), Some(sender)) =
        (values.next(), values.next(), sender)
    else {
        return None;
    };
    report.credentials_from = Some(STORE.to_owned());
    TwilioProvider::new(TwilioSettings {
        base_url: config.twilio.base_url.clone(),
        account_sid,
        auth_token,
        sender,
        timeouts,
    })
    .inspect_err(|e| report.error = Some(e.message.clone()))
    .ok()
    .map(|p| Arc::new(p) as _)
}

fn build_sendgrid(
    config: &Config,
    store: &dyn CredentialStore,
    timeouts: Timeouts,
    report: &mut InstallReport,
) -> Option<Arc<dyn Provider<EmailMessage>>> {
    let values = secrets(
        store,
        &[SecretKind::SendgridApiKey],
        std::slice::from_mut(report),
    )?;
    let key = values.into_iter().next().flatten();
    if key.is_none() {
        report
            .missing
            .push(missing_secret(SecretKind::SendgridApiKey));
    }
    let from = config
        .sendgrid
        .from
        .clone()
        .filter(|f| !f.trim().is_empty());
    if from.is_none() {
        report.missing.push(missing_setting("sendgrid.from"));
    }
    let (Some(api_key), Some(from)) = (key, from) else {
        return None;
    };
    report.credentials_from = Some(STORE.to_owned());
    SendGridProvider::new(SendGridSettings {
        base_url: config.sendgrid.base_url.clone(),
        api_key,
        from,
        timeouts,
    })
    .inspect_err(|e| report.error = Some(e.message.clone()))
    .ok()
    .map(|p| Arc::new(p) as _)
}

fn build_smtp(
    config: &Config,
    store: &dyn CredentialStore,
    timeouts: Timeouts,
    report: &mut InstallReport,
) -> Option<Arc<dyn Provider<EmailMessage>>> {
    let c = &config.smtp;
    let host = c.host.clone().filter(|h| !h.trim().is_empty());
    if host.is_none() {
        report.missing.push(missing_setting("smtp.host"));
    }
    let from = c.from.clone().filter(|f| !f.trim().is_empty());
    if from.is_none() {
        report.missing.push(missing_setting("smtp.from"));
    }
    let auth = match c.username.clone().filter(|u| !u.trim().is_empty()) {
        None => Some(None),
        Some(user) => {
            let values = secrets(
                store,
                &[SecretKind::SmtpPassword],
                std::slice::from_mut(report),
            )?;
            match values.into_iter().next().flatten() {
                Some(password) => {
                    report.credentials_from = Some(STORE.to_owned());
                    Some(Some((user, password)))
                }
                None => {
                    report
                        .missing
                        .push(missing_secret(SecretKind::SmtpPassword));
                    None
                }
            }
        }
    };
    let (Some(host), Some(from), Some(auth)) = (host, from, auth) else {
        return None;
    };
    if auth.is_none() {
        report.credentials_from = Some("nothing (no smtp.username, so no AUTH)".to_owned());
    }
    SmtpProvider::new(SmtpSettings {
        host,
        port: c.port,
        tls: c.tls,
        auth,
        from,
        timeouts,
    })
    .inspect_err(|e| report.error = Some(e.message.clone()))
    .ok()
    .map(|p| Arc::new(p) as _)
}

/// What the provider said when it refused its credentials, if that is its latest word: of its
/// last failed call (only while no call has succeeded since: a success resets the breaker's
/// count) and its last probe, the later one was refused on authentication.
fn refusal(p: &msgops_core::health::ProviderHealth) -> Option<String> {
    let call = p
        .last_error
        .as_ref()
        .filter(|_| p.consecutive_failures > 0)
        .map(|e| (e.at, Some(e.kind), Some(&e.message)));
    let probe = p
        .last_probe
        .as_ref()
        .map(|r| (r.at, r.error_kind.filter(|_| !r.ok), r.message.as_ref()));
    let (_, kind, said) = call.into_iter().chain(probe).max_by_key(|(at, _, _)| *at)?;
    (kind == Some(msgops_core::ErrorKind::Authentication)).then(|| {
        format!(
            "{} refused it: {}",
            p.display_name,
            said.map_or("authentication failed", String::as_str)
        )
    })
}

/// Marks stored credentials `invalid` when a provider using them refused them last.
pub fn mark_refused(statuses: &mut [CredentialStatus], health: &HealthSnapshot) {
    for status in statuses
        .iter_mut()
        .filter(|s| s.state == CredentialState::Stored)
    {
        let ids = status.provider.used_by();
        if let Some(problem) = health
            .providers()
            .filter(|p| ids.contains(&p.id))
            .find_map(refusal)
        {
            status.state = CredentialState::Invalid;
            status.problem = Some(problem);
        }
    }
}

#[cfg(test)]
mod refused_tests {
    use super::*;
    use chrono::{TimeDelta, Utc};
    use msgops_core::chain::{LastError, ProbeResult};
    use msgops_core::ErrorKind;

    fn stored(provider: CredentialProvider) -> CredentialStatus {
        CredentialStatus {
            provider,
            state: CredentialState::Stored,
            fields: Vec::new(),
            problem: None,
        }
    }

    fn twilio_refused_at(health: &mut HealthSnapshot, failures: u32, minutes_ago: i64) {
        let twilio = &mut health.sms_providers[1];
        twilio.consecutive_failures = failures;
        twilio.last_error = Some(LastError {
            kind: ErrorKind::Authentication,
            message: "HTTP 401, Twilio error 20003: Authenticate".into(),
            provider_code: Some(20003),
            at: Utc::now() - TimeDelta::minutes(minutes_ago),
        });
    }

    fn probe(ok: bool, kind: Option<ErrorKind>, minutes_ago: i64) -> ProbeResult {
        ProbeResult {
            ok,
            error_kind: kind,
            message: (!ok)
                .then(|| "HTTP 403: The security token included in the request is invalid".into()),
            at: Utc::now() - TimeDelta::minutes(minutes_ago),
        }
    }

    fn states(health: &HealthSnapshot) -> Vec<(CredentialState, Option<String>)> {
        let mut s: Vec<_> = CredentialProvider::ALL.into_iter().map(stored).collect();
        mark_refused(&mut s, health);
        s.into_iter().map(|s| (s.state, s.problem)).collect()
    }

    fn health() -> HealthSnapshot {
        Messaging::from_config(&Config::default()).health()
    }

    #[test]
    fn a_key_refused_at_the_last_call_is_invalid_with_what_the_provider_said() {
        let mut h = health();
        twilio_refused_at(&mut h, 2, 1);
        let s = states(&h);
        assert_eq!(s[1].0, CredentialState::Invalid);
        assert_eq!(
            s[1].1.as_deref(),
            Some("Twilio refused it: HTTP 401, Twilio error 20003: Authenticate")
        );
        assert!(s
            .iter()
            .enumerate()
            .all(|(i, (state, _))| i == 1 || *state == CredentialState::Stored));
    }

    #[test]
    fn a_success_or_a_later_good_probe_clears_it() {
        let mut h = health();
        twilio_refused_at(&mut h, 0, 1); // a send succeeded since: the count is back to 0
        assert_eq!(states(&h)[1].0, CredentialState::Stored);
        twilio_refused_at(&mut h, 1, 5);
        h.sms_providers[1].last_probe = Some(probe(true, None, 1));
        assert_eq!(states(&h)[1].0, CredentialState::Stored);
        h.sms_providers[1].last_probe = Some(probe(true, None, 10));
        assert_eq!(
            states(&h)[1].0,
            CredentialState::Invalid,
            "the refusal is newer than the probe"
        );
    }

    #[test]
    fn a_refused_probe_marks_the_shared_aws_keys_and_other_failures_do_not() {
        let mut h = health();
        h.email_providers[0].last_probe = Some(probe(false, Some(ErrorKind::Authentication), 1));
        let s = states(&h);
        assert_eq!(s[0].0, CredentialState::Invalid);
        assert!(s[0]
            .1
            .as_deref()
            .is_some_and(|p| p.starts_with("AWS SES refused it: HTTP 403")));
        h.email_providers[0].last_probe = Some(probe(false, Some(ErrorKind::Transient), 1));
        assert_eq!(states(&h)[0].0, CredentialState::Stored);
    }

    #[test]
    fn missing_or_disabled_credentials_are_left_as_they_are() {
        let mut h = health();
        twilio_refused_at(&mut h, 3, 1);
        let mut s = vec![CredentialStatus {
            state: CredentialState::Disabled,
            ..stored(CredentialProvider::Twilio)
        }];
        mark_refused(&mut s, &h);
        assert_eq!(s[0].state, CredentialState::Disabled);
    }
}
