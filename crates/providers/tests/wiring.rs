//! install_providers / reinstall: providers with what they need are installed; the others stay
//! "not configured" with a report of what is missing (never a secret).

mod common;

use common::*;
use msgops_core::config::Config;
use msgops_core::{Messaging, ProviderKind, SkipReason};
use msgops_credentials::{
    CredentialErrorCode, CredentialProvider, CredentialStoreExt, MemoryStore, SecretKind,
    SecretString,
};
use msgops_providers::{install_providers, reinstall, InstallReport};

/// Keeps the AWS default chain from finding anything on the machine running the tests.
fn no_ambient_aws_credentials() {
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ] {
        std::env::remove_var(var);
    }
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/msgops-test");
    std::env::set_var("AWS_CONFIG_FILE", "/nonexistent/msgops-test");
}

fn report<'a>(reports: &'a [InstallReport], id: &str) -> &'a InstallReport {
    reports
        .iter()
        .find(|r| r.provider.as_str() == id)
        .unwrap_or_else(|| panic!("a report for {id} in {reports:?}"))
}

fn config(dir: &std::path::Path) -> Config {
    let mut c = Config::default();
    c.console.log_path = dir.join("console.log");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_lacking_something_stay_not_configured_and_say_what_is_missing() {
    no_ambient_aws_credentials();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path());
    let store = MemoryStore::new();
    store
        .set_secret(
            SecretKind::SendgridApiKey,
            &SecretString::from(FAKE_SENDGRID_KEY),
        )
        .expect("stored");
    let messaging = Messaging::from_config(&config);
    let reports = install_providers(&messaging, &config, &store).await;
    assert_eq!(reports.len(), 5, "{reports:?}");
    assert!(reports.iter().all(|r| !r.installed), "{reports:?}");

    assert_eq!(
        report(&reports, "twilio").missing,
        vec![
            "Twilio account SID (credential store)",
            "Twilio auth token (credential store)",
            "twilio.from_number or twilio.messaging_service_sid (configuration)",
        ]
    );
    assert_eq!(
        report(&reports, "sendgrid").missing,
        vec!["sendgrid.from (configuration)"]
    );
    assert_eq!(
        report(&reports, "smtp").missing,
        vec!["smtp.host (configuration)", "smtp.from (configuration)"]
    );
    let sns = report(&reports, "sns");
    assert_eq!(sns.missing.len(), 2);
    assert!(
        sns.missing[0].starts_with("AWS access key ID (credential store"),
        "{sns:?}"
    );
    assert!(report(&reports, "ses")
        .missing
        .contains(&"ses.from (configuration)".to_string()));
    assert!(!format!("{reports:?}").contains(FAKE_SENDGRID_KEY));

    let record = messaging.sms.send(&otp_sms("123456")).await;
    let skipped: Vec<_> = record
        .outcome
        .skipped()
        .iter()
        .map(|s| (s.provider.as_str(), s.reason))
        .collect();
    assert_eq!(
        skipped,
        vec![
            ("sns", SkipReason::NotConfigured),
            ("twilio", SkipReason::NotConfigured)
        ]
    );
    assert_eq!(record.outcome.delivered_by(), Some(&ProviderKind::Console));
}

/// A store holding Twilio's (fake) account SID and auth token.
fn twilio_store() -> MemoryStore {
    let store = MemoryStore::new();
    for (kind, value) in [
        (SecretKind::TwilioAccountSid, FAKE_TWILIO_SID),
        (SecretKind::TwilioAuthToken, FAKE_TWILIO_TOKEN),
    ] {
        store
            .set_secret(kind, &SecretString::from(value))
            .expect("stored");
    }
    store
}

#[tokio::test]
async fn reinstall_after_a_removal_takes_the_provider_out_of_its_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = config(dir.path());
    config.twilio.from_number = Some("+15005550006".into());
    config.twilio.base_url = refused_url();
    let store = twilio_store();
    let messaging = Messaging::from_config(&config);

    let reports = reinstall(CredentialProvider::Twilio, &messaging, &config, &store).await;
    assert!(reports[0].installed, "{reports:?}");
    assert_eq!(
        reports[0].credentials_from.as_deref(),
        Some("credential store")
    );
    let record = messaging
        .sms
        .send_via(&otp_sms("1"), Some(&ProviderKind::Twilio))
        .await;
    assert_eq!(
        record.outcome.attempts().len(),
        1,
        "Twilio is called: {record:?}"
    );

    store
        .delete_secret(SecretKind::TwilioAuthToken)
        .expect("deleted");
    let reports = reinstall(CredentialProvider::Twilio, &messaging, &config, &store).await;
    assert!(!reports[0].installed);
    assert_eq!(
        reports[0].missing,
        vec!["Twilio auth token (credential store)"]
    );
    let record = messaging
        .sms
        .send_via(&otp_sms("1"), Some(&ProviderKind::Twilio))
        .await;
    assert_eq!(
        record.outcome.skipped()[0].reason,
        SkipReason::NotConfigured
    );
}

#[tokio::test]
async fn a_locked_keychain_is_reported_not_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = config(dir.path());
    config.sendgrid.from = Some("otp@example.com".into());
    let store = MemoryStore::new();
    store.fail_with(Some(CredentialErrorCode::KeychainLocked));
    let messaging = Messaging::from_config(&config);
    let reports = reinstall(CredentialProvider::Sendgrid, &messaging, &config, &store).await;
    assert!(!reports[0].installed);
    assert!(
        reports[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("keychain unreadable")),
        "{reports:?}"
    );
    assert!(reports[0].keychain_unreadable);
}

/// A keychain that cannot be read when a provider is reinstalled (locked by the desktop
/// session, say) keeps the provider that was working, instead of taking it out of its chain.
#[tokio::test]
async fn an_unreadable_keychain_keeps_the_provider_that_was_working() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = config(dir.path());
    config.twilio.from_number = Some("+15005550006".into());
    config.twilio.base_url = refused_url();
    let store = twilio_store();
    let messaging = Messaging::from_config(&config);
    assert!(reinstall(CredentialProvider::Twilio, &messaging, &config, &store).await[0].installed);

    store.fail_with(Some(CredentialErrorCode::KeychainLocked));
    let reports = reinstall(CredentialProvider::Twilio, &messaging, &config, &store).await;
    assert!(
        reports[0].keychain_unreadable && !reports[0].installed,
        "{reports:?}"
    );
    let twilio = messaging
        .health()
        .sms_providers
        .into_iter()
        .find(|p| p.id == ProviderKind::Twilio)
        .expect("twilio");
    assert!(twilio.configured, "Twilio kept its installed credentials");
    let record = messaging
        .sms
        .send_via(&otp_sms("1"), Some(&ProviderKind::Twilio))
        .await;
    assert_eq!(
        record.outcome.attempts().len(),
        1,
        "Twilio is still called: {record:?}"
    );
}
