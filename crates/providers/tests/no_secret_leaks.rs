//! No secret leaks: every tracing line (all targets, TRACE level — the SDKs' included) and every
//! error message, report and `Debug` output produced during sends, probes, validation and
//! installation with fake secrets is searched for the secret values. Fake servers echo the
//! secrets back in their error bodies to prove the providers scrub what they pass on.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use common::*;
use msgops_core::config::{Config, SmtpTls};
use msgops_core::{EmailMessage, Provider, SmsMessage};
use msgops_credentials::{
    CredentialProvider, CredentialSet, CredentialStoreExt, CredentialValidator, MemoryStore,
    SecretKind, SecretString,
};
use msgops_providers::aws::{AwsCredentials, AwsSettings};
use msgops_providers::{
    install_providers, ProviderValidator, SesProvider, SmtpProvider, SmtpSettings, SnsProvider,
    Timeouts,
};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture() -> Captured {
    static CAPTURED: OnceLock<Captured> = OnceLock::new();
    CAPTURED
        .get_or_init(|| {
            let captured = Captured::default();
            let writer = captured.clone();
            // Everything at TRACE, except what the app caps (msgops_core::telemetry): the AWS
            // SDK prints the access key ID in its DEBUG/TRACE dumps of the resolved identity.
            let filter = msgops_core::telemetry::cap_secret_bearing_targets(
                tracing_subscriber::EnvFilter::new("trace"),
            );
            let subscriber = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .finish();
            tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
            captured
        })
        .clone()
}

const SECRETS: [&str; 6] = [
    FAKE_TWILIO_SID,
    FAKE_TWILIO_TOKEN,
    FAKE_SENDGRID_KEY,
    FAKE_AWS_KEY_ID,
    FAKE_AWS_SECRET,
    FAKE_SMTP_PASSWORD,
];

fn assert_clean(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(
            !text.contains(secret),
            "{what} contains the secret {secret}:\n{text}"
        );
    }
}

fn aws(endpoint: &str) -> AwsSettings {
    AwsSettings {
        region: "us-east-1".into(),
        endpoint_url: Some(endpoint.into()),
        credentials: AwsCredentials::Static {
            access_key_id: SecretString::from(FAKE_AWS_KEY_ID),
            secret_access_key: SecretString::from(FAKE_AWS_SECRET),
        },
        timeouts: short_timeouts(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_a_log_line_an_error_or_a_report() {
    let captured = capture();
    let mut texts: Vec<(String, String)> = Vec::new();
    let mut note = |what: &str, text: String| texts.push((what.to_owned(), text));

    // Twilio: a 401 that echoes the token and SID, a hang, a refusal; send and probe.
    let echo = format!(
        r#"{{"code": 20003, "message": "Authenticate {FAKE_TWILIO_SID}:{FAKE_TWILIO_TOKEN}", "status": 401}}"#
    );
    for reply in [
        Reply::status(401, &echo),
        Reply::Hang,
        Reply::status(201, &format!("not json {FAKE_TWILIO_TOKEN}")),
    ] {
        let server = ScriptedServer::start(vec![], reply).await;
        let t = twilio(&server.url(), short_timeouts());
        note("twilio send", format!("{:?}", t.send(&otp_sms("1")).await));
        note(
            "twilio probe",
            format!("{:?}", Provider::<SmsMessage>::probe(&t).await),
        );
    }
    let t = twilio(&refused_url(), short_timeouts());
    note(
        "twilio refused",
        format!("{:?}", t.send(&otp_sms("1")).await),
    );

    // SendGrid: a 401 and a 500 that echo the key.
    for status in [401, 500] {
        let body = format!(r#"{{"errors":[{{"message":"bad key {FAKE_SENDGRID_KEY}"}}]}}"#);
        let server = ScriptedServer::start(vec![], Reply::status(status, &body)).await;
        let s = sendgrid(&server.url(), short_timeouts());
        note(
            "sendgrid send",
            format!("{:?}", s.send(&otp_email("1")).await),
        );
        note(
            "sendgrid probe",
            format!("{:?}", Provider::<EmailMessage>::probe(&s).await),
        );
    }

    // AWS: SNS (query protocol, XML) and SES v2 (JSON) errors that echo the key ID.
    let sns_error = format!(
        "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code><Message>The security token {FAKE_AWS_KEY_ID} is invalid.</Message></Error><RequestId>r1</RequestId></ErrorResponse>"
    );
    let server = ScriptedServer::start(
        vec![],
        Reply::status(403, &sns_error).with_header("Content-Type", "text/xml"),
    )
    .await;
    let sns = SnsProvider::new(&aws(&server.url())).await;
    let result = sns.send(&otp_sms("1")).await;
    assert_eq!(
        result.as_ref().map_err(|e| e.kind).err(),
        Some(msgops_core::ErrorKind::Authentication),
        "{result:?}"
    );
    note("sns send", format!("{result:?}"));
    note(
        "sns probe",
        format!("{:?}", Provider::<SmsMessage>::probe(&sns).await),
    );
    let ses_error = format!(r#"{{"message":"The security token {FAKE_AWS_KEY_ID} is invalid."}}"#);
    let server = ScriptedServer::start(
        vec![],
        Reply::status(403, &ses_error)
            .with_header("x-amzn-ErrorType", "UnrecognizedClientException"),
    )
    .await;
    let ses = SesProvider::new(&aws(&server.url()), "otp@example.com").await;
    note("ses send", format!("{:?}", ses.send(&otp_email("1")).await));
    note(
        "ses probe",
        format!("{:?}", Provider::<EmailMessage>::probe(&ses).await),
    );
    note("aws settings", format!("{:?}", aws("http://x")));

    // SMTP: refused, and (when aiosmtpd is there) a wrong password.
    let smtp = |port: u16, password: &str| {
        SmtpProvider::new(SmtpSettings {
            host: "127.0.0.1".into(),
            port,
            tls: SmtpTls::Plain,
            auth: Some(("otp-user".into(), SecretString::from(password))),
            from: "otp@example.com".into(),
            timeouts: Timeouts::default(),
        })
        .expect("provider")
    };
    note(
        "smtp refused",
        format!(
            "{:?}",
            smtp(free_port(), FAKE_SMTP_PASSWORD)
                .send(&otp_email("1"))
                .await
        ),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    match start_smtp_sink(
        &dir.path().join("mail.jsonl"),
        Some(("otp-user", "right-password")),
    ) {
        Ok(sink) => {
            let p = smtp(sink.port, FAKE_SMTP_PASSWORD);
            note(
                "smtp wrong password",
                format!("{:?}", p.send(&otp_email("1")).await),
            );
            note(
                "smtp probe",
                format!("{:?}", Provider::<EmailMessage>::probe(&p).await),
            );
        }
        Err(reason) => unavailable(&reason),
    }

    // Validation of all four providers against servers that refuse (and echo).
    let twilio_server = ScriptedServer::start(vec![], Reply::status(401, &echo)).await;
    let sendgrid_server = ScriptedServer::start(
        vec![],
        Reply::status(
            401,
            &format!(r#"{{"errors":[{{"message":"bad key {FAKE_SENDGRID_KEY}"}}]}}"#),
        ),
    )
    .await;
    let aws_server = ScriptedServer::start(
        vec![],
        Reply::status(403, &sns_error).with_header("Content-Type", "text/xml"),
    )
    .await;
    let mut config = Config::default();
    config.twilio.base_url = twilio_server.url();
    config.sendgrid.base_url = sendgrid_server.url();
    config.sns.endpoint_url = Some(aws_server.url());
    config.smtp.host = Some("127.0.0.1".into());
    config.smtp.port = free_port();
    config.smtp.tls = SmtpTls::Plain;
    config.smtp.username = Some("otp-user".into());
    let validator = ProviderValidator::from_config(&config, short_timeouts()).expect("validator");
    let sets = [
        CredentialSet::new(CredentialProvider::Twilio)
            .with(SecretKind::TwilioAccountSid, FAKE_TWILIO_SID)
            .and_then(|s| s.with(SecretKind::TwilioAuthToken, FAKE_TWILIO_TOKEN)),
        CredentialSet::new(CredentialProvider::Sendgrid)
            .with(SecretKind::SendgridApiKey, FAKE_SENDGRID_KEY),
        CredentialSet::new(CredentialProvider::Aws)
            .with(SecretKind::AwsAccessKeyId, FAKE_AWS_KEY_ID)
            .and_then(|s| s.with(SecretKind::AwsSecretAccessKey, FAKE_AWS_SECRET)),
        CredentialSet::new(CredentialProvider::Smtp)
            .with(SecretKind::SmtpPassword, FAKE_SMTP_PASSWORD),
    ];
    for set in sets {
        let set = set.expect("set");
        let result = validator.validate(&set).await;
        assert!(result.is_err(), "{:?} refused", set.provider());
        note("validation", format!("{result:?} {set:?}"));
    }

    // Installation, and the providers' own Debug.
    let store = MemoryStore::new();
    for (kind, value) in [
        (SecretKind::AwsAccessKeyId, FAKE_AWS_KEY_ID),
        (SecretKind::AwsSecretAccessKey, FAKE_AWS_SECRET),
        (SecretKind::TwilioAccountSid, FAKE_TWILIO_SID),
        (SecretKind::TwilioAuthToken, FAKE_TWILIO_TOKEN),
        (SecretKind::SendgridApiKey, FAKE_SENDGRID_KEY),
        (SecretKind::SmtpPassword, FAKE_SMTP_PASSWORD),
    ] {
        store
            .set_secret(kind, &SecretString::from(value))
            .expect("stored");
    }
    config.console.log_path = dir.path().join("console.log");
    config.twilio.from_number = Some("+15005550006".into());
    config.sendgrid.from = Some("otp@example.com".into());
    config.ses.from = Some("otp@example.com".into());
    config.ses.endpoint_url = Some(aws_server.url());
    config.smtp.from = Some("otp@example.com".into());
    let messaging = msgops_core::Messaging::from_config(&config);
    let reports = install_providers(&messaging, &config, &store).await;
    assert!(reports.iter().all(|r| r.installed), "{reports:?}");
    note(
        "install reports",
        format!(
            "{reports:?} {}",
            serde_json::to_string(&reports).expect("json")
        ),
    );
    let record = messaging.sms.send(&otp_sms("424242")).await;
    note("send record", format!("{record:?}"));
    let record = messaging.email.send(&otp_email("424242")).await;
    note("email record", format!("{record:?}"));
    note("health", format!("{:?}", messaging.health()));

    for (what, text) in &texts {
        assert_clean(what, text);
    }
    let logs = String::from_utf8_lossy(&captured.0.lock().expect("lock")).to_string();
    assert!(
        logs.contains("provider call failed"),
        "the capture works: {logs}"
    );
    assert_clean("the tracing output", &logs);
}
