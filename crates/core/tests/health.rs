//! The health snapshot keeps the backend's JSON shape exactly (incident.md) and adds fields.

use std::sync::Arc;

use msgops_core::config::Config;
use msgops_core::health::{ChainStatus, HealthConfig};
use msgops_core::scripted::ScriptedProvider;
use msgops_core::{Channel, Messaging, ProviderKind, SendError, SmsMessage};
use serde_json::Value;

#[tokio::test]
async fn health_json_has_the_backends_shape_with_richer_fields_alongside() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::default();
    config.console.log_path = dir.path().join("backend.log");
    let messaging = Messaging::from_config(&config);
    let json = serde_json::to_value(messaging.health()).expect("serializes");

    let top: Vec<&str> = json
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    // The backend's two keys, and msgops' two beside them.
    assert_eq!(
        top,
        vec!["chains", "email_providers", "ok", "sms_providers"]
    );

    let names = |chain: &str| -> Vec<(String, String, bool)> {
        json[chain]
            .as_array()
            .expect("array")
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().expect("name").to_string(),
                    p["priority"].as_str().expect("priority").to_string(),
                    p["is_healthy"].as_bool().expect("is_healthy"),
                )
            })
            .collect()
    };
    // Network providers have no credentials yet: listed, not healthy. Console always works.
    assert_eq!(
        names("sms_providers"),
        vec![
            ("AWSSNSProvider".into(), "PRIMARY".into(), false),
            ("TwilioSMSProvider".into(), "SECONDARY".into(), false),
            ("ConsoleSMSProvider".into(), "FALLBACK".into(), true),
        ]
    );
    assert_eq!(
        names("email_providers")[0],
        ("AWSSESProvider".into(), "PRIMARY".into(), false)
    );

    let sns = &json["sms_providers"][0];
    for field in [
        "breaker_state",
        "consecutive_failures",
        "failure_threshold",
        "open_until",
        "throttled_until",
        "last_error",
        "sent",
        "failed",
        "cost_usd",
    ] {
        assert!(sns.get(field).is_some(), "missing {field}");
    }
    assert_eq!(sns["breaker_state"], Value::from("CLOSED"));
    assert_eq!(sns["failure_threshold"], Value::from(5));
    assert_eq!(
        json["sms_providers"][1]["failure_threshold"],
        Value::from(3)
    );
    // Nothing with credentials yet: both chains are unconfigured, which fails nothing.
    let health = messaging.health();
    assert_eq!(health.chains.sms.status, ChainStatus::Unconfigured);
    assert_eq!(health.chains.email.status, ChainStatus::Unconfigured);
    assert!(health.ok);
    assert_eq!(json["chains"]["sms"]["status"], "unconfigured");
}

fn install(messaging: &Messaging, id: ProviderKind, provider: ScriptedProvider) {
    let provider = Arc::new(provider);
    match id.channel() {
        Channel::Sms => messaging.sms.set_provider(&id, Some(provider), "test"),
        Channel::Email => messaging.email.set_provider(&id, Some(provider), "test"),
    };
}

fn authentication() -> SendError {
    SendError::authentication("HTTP 401 error: Unable to create record: Authenticate")
        .with_code(20003)
}

/// The incident, as health must report it: SNS down and Twilio's key refused leave only the
/// Console log, which reaches nobody. That is `degraded` and a 503, never green.
#[tokio::test]
async fn only_the_console_delivering_is_degraded_and_fails_the_endpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::default();
    config.console.log_path = dir.path().join("backend.log");
    let messaging = Messaging::from_config(&config);
    install(
        &messaging,
        ProviderKind::Sns,
        ScriptedProvider::failing(SendError::transient("connection refused")),
    );
    install(
        &messaging,
        ProviderKind::Twilio,
        ScriptedProvider::failing(authentication()),
    );

    let health = messaging.health();
    assert_eq!(
        health.chains.sms.status,
        ChainStatus::Healthy,
        "{:?}",
        health.chains.sms
    );
    assert!(health.ok);

    let msg = SmsMessage {
        to: "+14165550123".into(),
        body: "Your code is 123456".into(),
        code: Some("123456".into()),
    };
    for _ in 0..5 {
        let record = messaging.sms.send(&msg).await;
        assert_eq!(record.outcome.delivered_by(), Some(&ProviderKind::Console));
    }
    let health = messaging.health();
    let sms = &health.chains.sms;
    assert_eq!(sms.status, ChainStatus::Degraded, "{sms:?}");
    assert_eq!(sms.can_deliver, vec![ProviderKind::Console]);
    assert!(
        sms.reason.starts_with("only Console can deliver"),
        "{}",
        sms.reason
    );
    assert!(
        sms.reason.contains("AWS SNS: breaker open"),
        "{}",
        sms.reason
    );
    assert!(
        sms.reason
            .contains("Twilio: breaker open; last error: authentication failed"),
        "{}",
        sms.reason
    );
    assert!(!health.ok, "the incident must not show green");
    // The backend's own fields say the same, unchanged.
    let json = serde_json::to_value(&health).expect("json");
    assert_eq!(json["sms_providers"][2]["is_healthy"], true);
    assert_eq!(json["sms_providers"][0]["is_healthy"], false);

    // `fail_on` decides which states fail the endpoint.
    config.health = HealthConfig {
        require: vec![],
        fail_on: vec![ChainStatus::Down],
    };
    messaging.apply_config(&config);
    assert!(
        messaging.health().ok,
        "degraded is accepted when only `down` fails"
    );

    // Every provider off: down.
    messaging
        .sms
        .set_enabled(&ProviderKind::Console, false, "test");
    let health = messaging.health();
    assert_eq!(health.chains.sms.status, ChainStatus::Down);
    assert!(
        health.chains.sms.reason.contains("Console: disabled"),
        "{}",
        health.chains.sms.reason
    );
    assert!(!health.ok);
}

/// A chain nobody configured does not fail the endpoint, unless `health.require` names it.
#[tokio::test]
async fn an_unconfigured_chain_fails_the_endpoint_only_when_required() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::default();
    config.console.log_path = dir.path().join("backend.log");
    let messaging = Messaging::from_config(&config);
    install(&messaging, ProviderKind::Sns, ScriptedProvider::instant());
    let health = messaging.health();
    assert_eq!(health.chains.sms.status, ChainStatus::Healthy);
    assert_eq!(health.chains.email.status, ChainStatus::Unconfigured);
    assert!(
        health.ok,
        "an email chain nobody configured must not make the endpoint 503"
    );

    config.health.require = vec![Channel::Email];
    messaging.apply_config(&config);
    assert!(!messaging.health().ok);

    // Configured but all disabled is in use, and down.
    install(&messaging, ProviderKind::Smtp, ScriptedProvider::instant());
    assert_eq!(
        messaging.health().chains.email.status,
        ChainStatus::Degraded
    );
    messaging
        .email
        .set_enabled(&ProviderKind::Smtp, false, "test");
    assert_eq!(messaging.health().chains.email.status, ChainStatus::Down);
}

#[test]
fn the_health_section_of_the_configuration_is_read_and_checked() {
    let config = Config::from_toml(
        "[health]\nrequire = [\"sms\"]\nfail_on = [\"down\"]\n",
        "msgops.toml",
    )
    .expect("valid");
    assert_eq!(config.health.require, vec![Channel::Sms]);
    assert_eq!(config.health.fail_on, vec![ChainStatus::Down]);
    let err =
        Config::from_toml("[health]\nfail_on = [\"grey\"]\n", "msgops.toml").expect_err("invalid");
    assert!(err.to_string().contains("health"), "{err}");
}
