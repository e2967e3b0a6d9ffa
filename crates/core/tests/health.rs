//! The health snapshot keeps the backend's JSON shape exactly (incident.md) and adds fields.

use msgops_core::config::Config;
use msgops_core::Messaging;
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
    assert_eq!(top, vec!["email_providers", "sms_providers"]);

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
    assert!(
        !messaging.health().every_chain_can_deliver(),
        "the email chain has no configured provider"
    );
}
