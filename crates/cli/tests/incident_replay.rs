//! The incident, replayed end to end (incident.md): AWS SNS unreachable and Twilio refusing
//! its key (401, error 20003) leave only the Console log. msgops must say so — the SMS chain
//! `degraded`, the health endpoint 503, `msgops health` exit 1 — while the Console keeps the
//! codes coming; and once Twilio's key works again, `msgops breaker reset twilio` puts Twilio
//! back at once, without waiting out its cool-down.
//!
//! The service runs in this process on real providers (the SNS and Twilio clients of
//! msgops-providers) against loopback: SNS at a port nobody listens on, Twilio at a scripted
//! server that answers as Twilio does. `msgops health` and `msgops breaker` are the real binary.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use msgops_core::config::Config;
use msgops_core::{Messaging, ProviderKind};
use msgops_credentials::SecretString;
use msgops_providers::aws::AwsCredentials;
use msgops_providers::{
    AwsSettings, SnsProvider, Timeouts, TwilioProvider, TwilioSender, TwilioSettings,
};
use msgops_service::{ApiAuth, AuthScope, ServiceSettings, ServiceState};
use serde_json::{json, Value};
use tokio::net::TcpListener;

mod common;

const TOKEN: &str = "msgops_incident_token_0123456789abcdef";
const SID: &str = "SM0123456789abcdef0123456789abcdef";

/// Twilio as it answered during the incident (401, 20003) until `fixed`, then as it answers a
/// good key (201 with the message SID). Counts the calls.
async fn twilio_server(fixed: Arc<AtomicBool>, calls: Arc<std::sync::atomic::AtomicU64>) -> String {
    common::http_server(move |_| {
        calls.fetch_add(1, Ordering::SeqCst);
        if fixed.load(Ordering::SeqCst) {
            (
                "201 Created",
                format!(r#"{{"sid": "{SID}", "status": "queued", "error_code": null}}"#),
            )
        } else {
            ("401 Unauthorized", common::TWILIO_20003.to_string())
        }
    })
    .await
}

/// A loopback port with nobody listening: AWS SNS, unreachable.
async fn dead_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    url
}

fn timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(2),
        request: Duration::from_secs(5),
    }
}

/// Runs the real `msgops` binary with the service's token.
async fn msgops(args: &[&str]) -> (i32, String) {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_msgops"))
            .args(&args)
            .env("MSGOPS_API_TOKEN", TOKEN)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .expect("msgops runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    })
    .await
    .expect("joined")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_incident_is_degraded_not_green_and_a_reset_puts_twilio_back_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::default();
    config.console.log_path = dir.path().join("console-sms.log");
    let messaging = Arc::new(Messaging::from_config(&config));

    let sns = SnsProvider::new(&AwsSettings {
        region: "us-east-1".into(),
        endpoint_url: Some(dead_port().await),
        credentials: AwsCredentials::Static {
            access_key_id: SecretString::from("AKIAEXAMPLE-INCIDENT"),
            secret_access_key: SecretString::from("incident-secret-not-real-0000"),
        },
        timeouts: timeouts(),
    })
    .await;
    let fixed = Arc::new(AtomicBool::new(false));
    let twilio_calls = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let twilio = TwilioProvider::new(TwilioSettings {
        base_url: twilio_server(fixed.clone(), twilio_calls.clone()).await,
        account_sid: SecretString::from("ACtest0000000000000000000000sid01"),
        auth_token: SecretString::from("expired-token-test-000000000000aa"),
        sender: TwilioSender::Number("+15005550006".into()),
        timeouts: timeouts(),
    })
    .expect("twilio provider");
    messaging
        .sms
        .set_provider(&ProviderKind::Sns, Some(Arc::new(sns)), "test");
    messaging
        .sms
        .set_provider(&ProviderKind::Twilio, Some(Arc::new(twilio)), "test");

    let operations = msgops_audit::OperationsLog::in_dir(dir.path());
    let state = ServiceState::new(
        messaging.clone(),
        ServiceSettings {
            auth: ApiAuth::new(Some(SecretString::from(TOKEN)), AuthScope::SendsAndEvents),
            operations: Some(operations.clone()),
            ..ServiceSettings::default()
        },
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let shutdown = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(msgops_service::serve(listener, state, shutdown.clone()));
    let http = reqwest::Client::new();
    let send = |n: u32| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let code = format!("{:06}", 91282 + n);
            let r = http
                .post(format!("{base}/api/v1/messages/sms"))
                .bearer_auth(TOKEN)
                .json(&json!({"to": format!("+1416555{:04}", 100 + n), "body": format!("Your code is {code}"), "code": code}))
                .send()
                .await
                .expect("send");
            assert_eq!(
                r.status().as_u16(),
                200,
                "every code is delivered, by someone"
            );
            let body: Value = r.json().await.expect("json");
            (code, body)
        }
    };

    // Five codes: SNS fails five times (OPEN), Twilio three (OPEN); the Console delivers each.
    for n in 0..5 {
        let (code, body) = send(n).await;
        assert_eq!(body["outcome"]["provider"], "console", "{body}");
        let log = std::fs::read_to_string(&config.console.log_path).unwrap_or_default();
        assert!(log.contains(&code), "the Console wrote code {code}");
    }
    assert_eq!(
        twilio_calls.load(Ordering::SeqCst),
        3,
        "Twilio OPEN after its third 401"
    );
    let (status, health) = {
        let r = http
            .get(format!("{base}/api/v1/health/messaging"))
            .send()
            .await
            .expect("health");
        (r.status().as_u16(), r.json::<Value>().await.expect("json"))
    };
    assert_eq!(status, 503, "the incident must not show green: {health}");
    assert_eq!(health["chains"]["sms"]["status"], "degraded");
    assert_eq!(health["sms_providers"][0]["breaker_state"], "OPEN");
    assert_eq!(health["sms_providers"][1]["breaker_state"], "OPEN");
    assert_eq!(
        health["sms_providers"][1]["last_error"]["provider_code"],
        20003
    );
    assert_eq!(
        health["sms_providers"][2]["is_healthy"], true,
        "the backend's own field: the Console is healthy"
    );
    let (exit, out) = msgops(&["health", "--url", &base]).await;
    assert_eq!(exit, 1, "{out}");
    assert!(
        out.contains("SMS chain: DEGRADED (only Console can deliver (AWS SNS: breaker open"),
        "{out}"
    );
    assert!(
        out.contains("Twilio: breaker open; last error: authentication failed"),
        "{out}"
    );

    // Twilio's key works again (fixed at Twilio). The breaker does not know: still OPEN, the
    // next code goes to the Console without a call to Twilio.
    fixed.store(true, Ordering::SeqCst);
    let (_, body) = send(5).await;
    assert_eq!(body["outcome"]["provider"], "console");
    assert_eq!(twilio_calls.load(Ordering::SeqCst), 3);

    // On-call resets Twilio's breaker from the CLI: CLOSED at once.
    let (exit, out) = msgops(&["breaker", "reset", "twilio", "--url", &base]).await;
    assert_eq!(exit, 0, "{out}");
    assert!(
        out.starts_with("Twilio: OPEN → CLOSED (reset by cli "),
        "{out}"
    );

    // The very next code is delivered by Twilio, with its receipt.
    let (_, body) = send(6).await;
    assert_eq!(body["outcome"]["provider"], "twilio", "{body}");
    let twilio_attempt = body["outcome"]["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .find(|a| a["provider"] == "twilio")
        .cloned()
        .expect("a Twilio attempt");
    assert_eq!(twilio_attempt["provider_message_id"], SID);
    let (exit, out) = msgops(&["health", "--url", &base]).await;
    assert_eq!(exit, 0, "{out}");
    assert!(
        out.contains("SMS chain: healthy (can deliver through Twilio)"),
        "{out}"
    );

    // And the reset is on record: who, from where, through what.
    let entries = operations.recent(10).expect("audit");
    assert_eq!(entries.len(), 1, "{entries:?}");
    let reset = &entries[0];
    assert_eq!(reset.provider, ProviderKind::Twilio);
    assert_eq!(reset.detail, "OPEN → CLOSED");
    assert_eq!(reset.actor.via, msgops_audit::Via::Api);
    assert!(
        reset
            .actor
            .user
            .as_deref()
            .is_some_and(|u| u.starts_with("cli ")),
        "{:?}",
        reset.actor
    );

    shutdown.cancel();
    let _ = server.await;
}
