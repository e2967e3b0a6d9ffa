//! Twilio and SendGrid against Prism serving the providers' own API descriptions: every
//! request our providers and probes send is accepted; a request missing a required field is
//! rejected (so these tests can fail). Then the SMS failover end to end: SNS (moto) → Twilio
//! (Prism, then a scripted 401) → Console (a temp log).
//!
//! Prism takes 20–30 s to start, so one instance per description serves the whole file; it is
//! started on first use and killed by its watchdog when this test binary exits.

mod common;

use std::sync::{Arc, OnceLock};

use common::*;
use msgops_core::config::Config;
use msgops_core::{
    AttemptOutcome, EmailMessage, ErrorKind, Messaging, Provider, ProviderKind, SmsMessage,
};
use msgops_credentials::{CredentialStoreExt, MemoryStore, SecretKind, SecretString};
use msgops_providers::{install_providers, TwilioProvider, TwilioSender, TwilioSettings};

struct Prism {
    twilio: Peer,
    sendgrid: Peer,
}

fn prism() -> Result<&'static Prism, String> {
    static PRISM: OnceLock<Result<Prism, String>> = OnceLock::new();
    PRISM
        .get_or_init(|| {
            std::thread::scope(|s| {
                let twilio = s.spawn(|| start_prism("twilio_api_v2010.json"));
                let sendgrid = s.spawn(|| start_prism("sendgrid_v3.json"));
                let twilio = twilio
                    .join()
                    .map_err(|_| "Prism start panicked".to_string())??;
                let sendgrid = sendgrid
                    .join()
                    .map_err(|_| "Prism start panicked".to_string())??;
                Ok(Prism { twilio, sendgrid })
            })
        })
        .as_ref()
        .map_err(Clone::clone)
}

#[tokio::test]
async fn twilio_send_and_probe_are_accepted_by_the_twilio_contract() {
    let prism = peer_or_skip!(prism());
    let provider = twilio(&prism.twilio.url(), Default::default());
    let receipt = provider.send(&otp_sms("091282")).await.unwrap_or_else(|e| {
        panic!(
            "Prism refused our request: {e:?}\n{}",
            prism.twilio.log_text()
        )
    });
    assert!(receipt
        .provider_message_id
        .is_some_and(|sid| sid.starts_with("SM") || sid.starts_with("MM")));
    Provider::<SmsMessage>::probe(&provider)
        .await
        .expect("account fetch accepted");

    // The Messaging Service variant of the sender is valid too.
    let via_service = TwilioProvider::new(TwilioSettings {
        base_url: prism.twilio.url(),
        account_sid: SecretString::from(FAKE_TWILIO_SID),
        auth_token: SecretString::from(FAKE_TWILIO_TOKEN),
        sender: TwilioSender::MessagingService("MG0123456789abcdef0123456789abcdef".into()),
        timeouts: Default::default(),
    })
    .expect("provider");
    via_service
        .send(&otp_sms("091282"))
        .await
        .expect("accepted");
}

#[tokio::test]
async fn a_twilio_request_without_to_is_rejected_by_the_contract() {
    let prism = peer_or_skip!(prism());
    let provider = twilio(&prism.twilio.url(), Default::default());
    let mut form = provider.form(&otp_sms("091282"));
    form.retain(|(name, _)| *name != "To");
    let response = provider.post_message_form(&form).await.expect("an answer");
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    assert!(status == 422 || status == 400, "{status}: {body}");
    assert!(body.contains("To"), "the violation names the field: {body}");

    // And without Basic auth Prism answers 401.
    let response = reqwest::Client::new()
        .post(format!(
            "{}/2010-04-01/Accounts/{FAKE_TWILIO_SID}/Messages.json",
            prism.twilio.url()
        ))
        .form(&provider.form(&otp_sms("1")))
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status().as_u16(), 401);
}

#[tokio::test]
async fn sendgrid_send_and_probe_are_accepted_by_the_sendgrid_contract() {
    let prism = peer_or_skip!(prism());
    let provider = sendgrid(&prism.sendgrid.url(), Default::default());
    provider
        .send(&otp_email("091282"))
        .await
        .unwrap_or_else(|e| {
            panic!(
                "Prism refused our request: {e:?}\n{}",
                prism.sendgrid.log_text()
            )
        });
    Provider::<EmailMessage>::probe(&provider)
        .await
        .expect("scopes include mail.send");
}

#[tokio::test]
async fn a_sendgrid_body_without_personalizations_is_rejected_and_401_is_authentication() {
    let prism = peer_or_skip!(prism());
    let provider = sendgrid(&prism.sendgrid.url(), Default::default());
    let mut body = provider.body(&otp_email("091282"));
    body.as_object_mut()
        .expect("object")
        .remove("personalizations");
    let client = reqwest::Client::new();
    let url = format!("{}/mail/send", prism.sendgrid.url());
    let response = client
        .post(&url)
        .bearer_auth(FAKE_SENDGRID_KEY)
        .json(&body)
        .send()
        .await
        .expect("an answer");
    assert_eq!(
        response.status().as_u16(),
        400,
        "{:?}",
        response.text().await
    );

    // The description's own 401 for mail/send, classified by the provider's classifier.
    let response = client
        .post(&url)
        .bearer_auth(FAKE_SENDGRID_KEY)
        .header("Prefer", "code=401")
        .json(&provider.body(&otp_email("091282")))
        .send()
        .await
        .expect("an answer");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    assert_eq!(status.as_u16(), 401, "{text}");
    let e = msgops_providers::sendgrid::classify(status, &headers, &text);
    assert_eq!(
        (e.kind, e.provider_code),
        (ErrorKind::Authentication, Some(401)),
        "{e:?}"
    );
}

/// SNS (moto) → Twilio (Prism) → Console: with moto killed the SMS goes to Twilio; with Twilio
/// answering 20003 too, the code lands in the log through Console, and the record lists all
/// three attempts in order with their error kinds.
#[tokio::test]
async fn sms_fails_over_from_sns_to_twilio_to_console_with_every_attempt_recorded() {
    let prism = peer_or_skip!(prism());
    let mut moto = peer_or_skip!(start_moto());
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("backend.log");

    let mut config = Config::default();
    config.console.log_path = log.clone();
    config.sns.endpoint_url = Some(moto.url());
    config.twilio.base_url = prism.twilio.url();
    config.twilio.from_number = Some("+15005550006".into());
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
    let messaging = Messaging::from_config(&config);
    let reports = install_providers(&messaging, &config, &store).await;
    for id in ["sns", "twilio"] {
        let r = reports
            .iter()
            .find(|r| r.provider.as_str() == id)
            .expect("reported");
        assert!(r.installed, "{r:?}");
    }

    let record = messaging.sms.send(&otp_sms("100001")).await;
    assert_eq!(
        record.outcome.delivered_by(),
        Some(&ProviderKind::Sns),
        "{record:?}"
    );

    moto.stop();
    let record = messaging.sms.send(&otp_sms("200002")).await;
    let attempts = record.outcome.attempts();
    assert_eq!(
        record.outcome.delivered_by(),
        Some(&ProviderKind::Twilio),
        "{record:?}"
    );
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0].error_kind, Some(ErrorKind::Transient));

    let server = ScriptedServer::start(vec![], Reply::status(401, TWILIO_20003)).await;
    messaging.sms.set_provider(
        &ProviderKind::Twilio,
        Some(Arc::new(twilio(&server.url(), short_timeouts()))),
        "test: Twilio credentials expired",
    );
    let record = messaging.sms.send(&otp_sms("091282")).await;
    let attempts = record.outcome.attempts();
    let summary: Vec<_> = attempts
        .iter()
        .map(|a| {
            (
                a.provider.as_str(),
                a.outcome,
                a.error_kind,
                a.provider_code,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "sns",
                AttemptOutcome::Failed,
                Some(ErrorKind::Transient),
                None
            ),
            (
                "twilio",
                AttemptOutcome::Failed,
                Some(ErrorKind::Authentication),
                Some(20003)
            ),
            ("console", AttemptOutcome::Delivered, None, None),
        ]
    );
    let text = std::fs::read_to_string(&log).expect("console log");
    assert!(
        text.lines()
            .any(|l| l.ends_with("SMS FALLBACK - OTP for +14165550123: 091282")),
        "{text}"
    );
}
