//! The providers' receipts, from real peers to the places people look for them: an SMS through
//! AWS SNS (moto), one through Twilio (Prism serving Twilio's own OpenAPI description) and an
//! email through SMTP (aiosmtpd), sent through the service's API; each answer carries the
//! provider's id for the message, the same id the peer holds (moto's MessageId), and the send
//! history finds each send by its receipt.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use msgops_core::config::{Config, SmtpTls};
use msgops_core::{ChainEvent, Messaging, ProviderKind};
use msgops_credentials::{CredentialStoreExt, MemoryStore, SecretKind};
use msgops_history::{HistoryFilter, HistoryLocation, HistoryStore, OriginKind, SendOrigin};
use msgops_service::{ApiAuth, AuthScope, ServiceSettings, ServiceState};
use secrecy::SecretString;
use serde_json::{json, Value};

const TOKEN: &str = "msgops_receipts_token_0123456789abcdef";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_from_moto_prism_and_aiosmtpd_are_in_the_api_answer_and_the_history() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mail = dir.path().join("mail.jsonl");
    let (moto, twilio, sink) = std::thread::scope(|s| {
        let moto = s.spawn(start_moto);
        let twilio = s.spawn(|| start_prism("twilio_api_v2010.json"));
        let sink = s.spawn(|| start_smtp_sink(&mail, None));
        (
            moto.join().expect("moto thread"),
            twilio.join().expect("prism thread"),
            sink.join().expect("smtp thread"),
        )
    });
    let moto = peer_or_skip!(moto);
    let twilio = peer_or_skip!(twilio);
    let sink = peer_or_skip!(sink);

    let mut config = Config::default();
    config.console.log_path = dir.path().join("console-sms.log");
    config.sns.endpoint_url = Some(moto.url());
    config.twilio.base_url = twilio.url();
    config.twilio.from_number = Some("+15005550006".into());
    config.smtp.host = Some("127.0.0.1".into());
    config.smtp.port = sink.port;
    config.smtp.tls = SmtpTls::Plain;
    config.smtp.from = Some("otp@example.com".into());
    let store = MemoryStore::new();
    for (kind, value) in [
        (SecretKind::AwsAccessKeyId, FAKE_AWS_KEY_ID),
        (SecretKind::AwsSecretAccessKey, FAKE_AWS_SECRET),
        (SecretKind::TwilioAccountSid, FAKE_TWILIO_SID),
        (SecretKind::TwilioAuthToken, FAKE_TWILIO_TOKEN),
    ] {
        store
            .set_secret(kind, &SecretString::from(value))
            .expect("stored");
    }
    let messaging = Arc::new(Messaging::from_config(&config));
    for report in msgops_providers::install_providers(&messaging, &config, &store).await {
        let wanted = [ProviderKind::Sns, ProviderKind::Twilio, ProviderKind::Smtp];
        if wanted.contains(&report.provider) {
            assert!(report.installed, "{report:?}");
        }
    }

    // The history, recording every finished send as the app does.
    let (history, problems) = HistoryStore::open(
        HistoryLocation::in_dir(dir.path()),
        90,
        SendOrigin::this_process(OriginKind::Service),
    )
    .await
    .expect("the history opens");
    assert!(problems.is_empty(), "{problems:?}");
    let history = Arc::new(history);
    let mut events = messaging.subscribe();
    let recorder = {
        let history = history.clone();
        tokio::spawn(async move {
            while let Ok(event) = events.recv().await {
                if let ChainEvent::SendFinished { record } = event {
                    history.record(&record).await.expect("recorded");
                }
            }
        })
    };

    let state = ServiceState::new(
        messaging.clone(),
        ServiceSettings {
            auth: ApiAuth::new(Some(SecretString::from(TOKEN)), AuthScope::SendsAndEvents),
            ..ServiceSettings::default()
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let shutdown = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(msgops_service::serve(listener, state, shutdown.clone()));
    let http = reqwest::Client::new();
    let post = |path: &'static str, body: Value| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let r = http
                .post(format!("{base}{path}"))
                .bearer_auth(TOKEN)
                .json(&body)
                .send()
                .await
                .expect("post");
            assert_eq!(r.status().as_u16(), 200, "delivered");
            r.json::<Value>().await.expect("json")
        }
    };
    let receipt = |answer: &Value, provider: &str| -> String {
        assert_eq!(answer["outcome"]["provider"], provider, "{answer}");
        answer["outcome"]["attempts"]
            .as_array()
            .expect("attempts")
            .iter()
            .find(|a| a["provider"] == provider)
            .and_then(|a| a["provider_message_id"].as_str())
            .unwrap_or_else(|| panic!("a receipt from {provider}: {answer}"))
            .to_string()
    };

    let sms = json!({"to": "+14165550123", "body": "Your code is 091282", "code": "091282"});
    let sns_id = receipt(&post("/api/v1/messages/sms", sms.clone()).await, "sns");
    let data = moto_data(&moto).await;
    assert!(
        data["sns"]["SmsMessage"]
            .as_array()
            .expect("SMS list")
            .iter()
            .any(|m| m["message_id"] == sns_id.as_str()),
        "moto holds MessageId {sns_id}"
    );

    messaging
        .sms
        .set_enabled(&ProviderKind::Sns, false, "test: Twilio next");
    let sid = receipt(&post("/api/v1/messages/sms", sms).await, "twilio");
    assert!(
        sid.starts_with("SM") && sid.len() == 34,
        "a Twilio message SID: {sid}"
    );

    let email = json!({"to": "user@example.com", "subject": "Your code", "body": "Your code is 091282", "code": "091282"});
    let smtp_id = receipt(&post("/api/v1/messages/email", email).await, "smtp");
    assert!(!smtp_id.trim().is_empty());

    // Each send is found in the history by its receipt, and only that send.
    for (id, provider) in [
        (&sns_id, ProviderKind::Sns),
        (&sid, ProviderKind::Twilio),
        (&smtp_id, ProviderKind::Smtp),
    ] {
        let mut found = None;
        for _ in 0..50 {
            let page = history
                .query(&HistoryFilter {
                    search: Some(id.clone()),
                    ..HistoryFilter::default()
                })
                .await
                .expect("the history reads");
            if page.total > 0 {
                found = Some(page);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let page = found.unwrap_or_else(|| panic!("receipt {id} not in the history"));
        assert_eq!(page.total, 1, "receipt {id} names one send");
        assert_eq!(page.sends[0].record.outcome.delivered_by(), Some(&provider));
    }
    println!("receipts: sns {sns_id}, twilio {sid}, smtp {smtp_id}");
    shutdown.cancel();
    let _ = server.await;
    recorder.abort();
}
