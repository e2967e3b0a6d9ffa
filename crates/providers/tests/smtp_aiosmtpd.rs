//! SMTP through lettre against aiosmtpd on 127.0.0.1 (plain mode): the mail arrives with the
//! right headers and body; with AUTH on, a wrong password is `Authentication` and the SMTP
//! validator says so too.

mod common;

use std::path::Path;

use common::*;
use msgops_core::config::SmtpTls;
use msgops_core::{EmailMessage, ErrorKind, Provider};
use msgops_credentials::rotate::ValidationFailureKind;
use msgops_credentials::{CredentialProvider, CredentialSet, CredentialValidator, SecretKind};
use msgops_providers::{SmtpProvider, SmtpSettings, SmtpValidator, Timeouts};
use secrecy::SecretString;

fn smtp(port: u16, auth: Option<(&str, &str)>) -> SmtpProvider {
    SmtpProvider::new(SmtpSettings {
        host: "127.0.0.1".into(),
        port,
        tls: SmtpTls::Plain,
        auth: auth.map(|(u, p)| (u.to_owned(), SecretString::from(p))),
        from: "Acme OTP <otp@example.com>".into(),
        timeouts: Timeouts::default(),
    })
    .expect("an SMTP provider")
}

fn received(out: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

/// The header block and the body of a raw message.
fn split(data: &str) -> (Vec<(String, String)>, String) {
    let data = data.replace("\r\n", "\n");
    let (head, body) = data.split_once("\n\n").expect("headers and body");
    let headers = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (headers, body.to_owned())
}

#[tokio::test]
async fn a_mail_through_plain_smtp_arrives_with_the_right_headers_and_body() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("mail.jsonl");
    let sink = peer_or_skip!(start_smtp_sink(&out, None));
    let provider = smtp(sink.port, None);
    Provider::<EmailMessage>::probe(&provider)
        .await
        .expect("connect + EHLO");
    provider.send(&otp_email("091282")).await.expect("sent");

    let mails = received(&out);
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0]["mail_from"], "otp@example.com");
    assert_eq!(mails[0]["rcpt_tos"][0], "customer@example.com");
    let (headers, body) = split(mails[0]["data"].as_str().expect("data"));
    let header = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("header {n} in {headers:?}"))
    };
    assert_eq!(header("from"), "\"Acme OTP\" <otp@example.com>");
    assert_eq!(header("to"), "customer@example.com");
    assert_eq!(header("subject"), "Your Acme verification code");
    assert!(header("content-type").starts_with("text/plain"));
    assert!(
        body.starts_with("Your Acme code is 091282. It expires in 10 minutes."),
        "{body:?}"
    );
}

#[tokio::test]
async fn with_auth_the_right_password_delivers_and_a_wrong_one_is_authentication() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("mail.jsonl");
    let sink = peer_or_skip!(start_smtp_sink(
        &out,
        Some(("otp-user", FAKE_SMTP_PASSWORD))
    ));

    smtp(sink.port, Some(("otp-user", FAKE_SMTP_PASSWORD)))
        .send(&otp_email("111111"))
        .await
        .expect("authenticated send");
    let mails = received(&out);
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0]["authenticated"], true);

    let wrong = smtp(sink.port, Some(("otp-user", "not-the-password")));
    let e = wrong.send(&otp_email("222222")).await.expect_err("refused");
    assert_eq!(
        (e.kind, e.provider_code),
        (ErrorKind::Authentication, Some(535)),
        "{e:?}"
    );
    let e = Provider::<EmailMessage>::probe(&wrong)
        .await
        .expect_err("probe refused");
    assert_eq!(e.kind, ErrorKind::Authentication);
    assert_eq!(
        received(&out).len(),
        1,
        "nothing sent with the wrong password"
    );

    let validator = SmtpValidator {
        host: Some("127.0.0.1".into()),
        port: sink.port,
        tls: SmtpTls::Plain,
        username: Some("otp-user".into()),
        timeouts: Timeouts::default(),
    };
    let set = |p: &str| {
        CredentialSet::new(CredentialProvider::Smtp)
            .with(SecretKind::SmtpPassword, p)
            .expect("set")
    };
    validator
        .validate(&set(FAKE_SMTP_PASSWORD))
        .await
        .expect("accepted");
    let failure = validator
        .validate(&set("not-the-password"))
        .await
        .expect_err("rejected");
    assert_eq!(failure.kind, ValidationFailureKind::Rejected);
    assert_eq!(failure.provider_code.as_deref(), Some("535"));
}

#[tokio::test]
async fn smtp_connection_refused_is_transient() {
    let e = smtp(free_port(), None)
        .send(&otp_email("1"))
        .await
        .expect_err("refused");
    assert_eq!(e.kind, ErrorKind::Transient, "{e:?}");
}
