//! SNS signatures from a scripted signer (tests/sns_signer.py, Python `cryptography`): a test CA
//! issues a leaf certificate, whose key signs the canonical strings as the SNS documentation
//! describes them (written in Python, apart from the Rust code under test). The certificate and
//! the SubscribeURL are served by a local listener reached through `fetch_base_override`, which
//! records every request with its Host header.
//!
//! When Python or its `cryptography` is missing, the tests fail under `MSGOPS_REAL_PEERS=1` or
//! `CI`, and print why and skip otherwise.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, SecondsFormat, Utc};
use msgops_webhooks::sns::{SnsMessage, SnsSettings, SnsVerifier};
use msgops_webhooks::RejectReason;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:msgops-ses-events";
const OTHER_TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:someone-elses-topic";
const CERT_PATH: &str = "/SimpleNotificationService-0123456789abcdef0123456789abcdef.pem";
const SNS_HOST: &str = "sns.us-east-1.amazonaws.com";
const TOKEN: &str = "2336412f37fb687f5d51e6e2425dacbba9b8a0d9c4cd1c21dcd9d9e1f5e3ec1b";
/// An SES record with what JSON escapes: quotes, a newline, a non-ASCII letter (the signer's
/// body carries it as `\u00e9`; the signature is over its UTF-8).
const MESSAGE: &str = "{\"eventType\":\"Delivery\",\"mail\":{\"messageId\":\"0100018f-sig-test\"},\n\"note\":\"caf\u{e9} \\\"quoted\\\"\"}";

fn cert_url() -> String {
    format!("https://{SNS_HOST}{CERT_PATH}")
}

fn subscribe_url(topic: &str) -> String {
    format!("https://{SNS_HOST}/?Action=ConfirmSubscription&TopicArn={topic}&Token={TOKEN}")
}

// --- peer availability --------------------------------------------------------------------

fn peers_required() -> bool {
    std::env::var("MSGOPS_REAL_PEERS").is_ok_and(|v| v == "1")
        || std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

fn unavailable(reason: &str) {
    if peers_required() {
        panic!("MSGOPS_REAL_PEERS=1 or CI is set, but the scripted signer cannot run: {reason}");
    }
    eprintln!("SKIPPED (set MSGOPS_REAL_PEERS=1 to make this a failure): {reason}");
}

macro_rules! signer_or_skip {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(reason) => {
                unavailable(&reason);
                return;
            }
        }
    };
}

fn python() -> Result<PathBuf, String> {
    let python = std::env::var_os("MSGOPS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python"));
    if !python.exists() {
        return Err(format!(
            "no Python at {} (set MSGOPS_PYTHON, or create .venv with tests/peers/requirements.txt)",
            python.display()
        ));
    }
    let has_cryptography = Command::new(&python)
        .args(["-c", "import cryptography"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_cryptography {
        return Err(format!(
            "{} cannot import cryptography (pip install cryptography)",
            python.display()
        ));
    }
    Ok(python)
}

// --- the scripted signer ------------------------------------------------------------------

struct Signed {
    cert_pem: String,
    bodies: Vec<String>,
}

/// One message for the signer: its fields, SignatureVersion, and optionally the hash and key to
/// sign with (to sign wrongly on purpose) and the SigningCertURL.
fn spec(fields: Value, version: &str) -> Value {
    json!({"fields": fields, "version": version, "cert_url": cert_url()})
}

fn sign(specs: Vec<Value>) -> Result<Signed, String> {
    let python = python()?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sns_signer.py");
    let mut child = Command::new(&python)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", python.display()))?;
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().expect("the signer's stdin");
        stdin
            .write_all(json!({ "messages": specs }).to_string().as_bytes())
            .expect("the signer reads its request");
    }
    let output = child.wait_with_output().expect("the signer ends");
    // Python and cryptography are there: a failing signer is a broken test, not a skip.
    assert!(
        output.status.success(),
        "sns_signer.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out: Value = serde_json::from_slice(&output.stdout).expect("the signer answers JSON");
    Ok(Signed {
        cert_pem: out["cert_pem"].as_str().expect("cert_pem").to_owned(),
        bodies: out["bodies"]
            .as_array()
            .expect("bodies")
            .iter()
            .map(|b| b.as_str().expect("a body").to_owned())
            .collect(),
    })
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn notification(subject: Option<&str>, at: DateTime<Utc>) -> Value {
    let mut fields = json!({
        "Type": "Notification",
        "MessageId": "da41e39f-ea4d-435a-b922-c6aae3915ebe",
        "TopicArn": TOPIC,
        "Message": MESSAGE,
        "Timestamp": timestamp(at),
    });
    if let Some(subject) = subject {
        fields["Subject"] = json!(subject);
    }
    fields
}

fn confirmation(kind: &str, topic: &str, at: DateTime<Utc>) -> Value {
    json!({
        "Type": kind,
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": TOKEN,
        "TopicArn": topic,
        "Message": format!("You have chosen to subscribe to the topic {topic}.\nTo confirm the subscription, visit the SubscribeURL included in this message."),
        "SubscribeURL": subscribe_url(topic),
        "Timestamp": timestamp(at),
    })
}

/// The body with one field changed (None: removed). Re-serialised, which changes nothing the
/// verifier reads: it verifies the values, not the text.
fn with_field(body: &str, key: &str, value: Option<&str>) -> String {
    let mut fields: Value = serde_json::from_str(body).expect("a signed body");
    let object = fields.as_object_mut().expect("an object");
    match value {
        Some(v) => {
            object.insert(key.into(), json!(v));
        }
        None => {
            object.remove(key);
        }
    }
    fields.to_string()
}

// --- the local listener -------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    target: String,
    host: Option<String>,
}

struct Answer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

type Route = Arc<dyn Fn(&Recorded) -> Answer + Send + Sync>;

struct Listener {
    url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Listener {
    async fn start(route: Route) -> Listener {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let recorded = recorded.clone();
                let route = route.clone();
                tokio::spawn(async move {
                    let Some(request) = read_head(&mut socket).await else {
                        return;
                    };
                    recorded.lock().expect("lock").push(request.clone());
                    let answer = route(&request);
                    let mut out = format!("HTTP/1.1 {} Scripted\r\n", answer.status);
                    for (name, value) in answer.headers {
                        out.push_str(&format!("{name}: {value}\r\n"));
                    }
                    out.push_str(&format!(
                        "Content-Length: {}\r\nConnection: close\r\n\r\n{}",
                        answer.body.len(),
                        answer.body
                    ));
                    let _ = socket.write_all(out.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Listener {
            url,
            requests,
            task,
        }
    }

    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("lock").clone()
    }
}

/// Reads a GET's head (these requests have no body).
async fn read_head(socket: &mut tokio::net::TcpStream) -> Option<Recorded> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_owned();
    let target = first.next()?.to_owned();
    let host = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case("host"))
        .map(|(_, v)| v.trim().to_owned());
    Some(Recorded {
        method,
        target,
        host,
    })
}

/// Serves the leaf certificate at any `/SimpleNotificationService-*.pem`, the confirmation at
/// `/?Action=ConfirmSubscription...`, and the broken certificates of the fetch tests.
async fn sns_listener(cert_pem: String) -> Listener {
    Listener::start(Arc::new(move |r: &Recorded| {
        let answer = |status, body: &str| Answer {
            status,
            headers: Vec::new(),
            body: body.into(),
        };
        if r.method != "GET" {
            answer(405, "")
        } else if r.target.starts_with("/SimpleNotificationService-") && r.target.ends_with(".pem")
        {
            answer(200, &cert_pem)
        } else if r.target == "/not-a-certificate.pem" {
            answer(200, "hello, I am not a certificate")
        } else if r.target == "/redirect.pem" {
            Answer {
                status: 302,
                headers: vec![("Location", CERT_PATH.into())],
                body: String::new(),
            }
        } else if r.target.starts_with("/?Action=ConfirmSubscription") {
            answer(
                200,
                "<ConfirmSubscriptionResponse><ConfirmSubscriptionResult><SubscriptionArn>arn</SubscriptionArn></ConfirmSubscriptionResult></ConfirmSubscriptionResponse>",
            )
        } else {
            answer(404, "not found")
        }
    }))
    .await
}

fn verifier(listener: &Listener, topics: &[&str]) -> SnsVerifier {
    SnsVerifier::new(SnsSettings {
        topic_arns: topics.iter().map(|t| t.to_string()).collect(),
        fetch_base_override: Some(listener.url.clone()),
        ..SnsSettings::default()
    })
}

async fn reason(verifier: &SnsVerifier, body: &str, now: DateTime<Utc>) -> RejectReason {
    match verifier.verify(body.as_bytes(), now).await {
        Ok(message) => panic!("accepted {message:?}"),
        Err(rejection) => rejection.reason,
    }
}

// --- the tests ----------------------------------------------------------------------------

#[tokio::test]
async fn version_1_notifications_verify_with_and_without_subject() {
    let now = Utc::now();
    let signed = signer_or_skip!(sign(vec![
        spec(
            notification(Some("Amazon SES Email Event Notification"), now),
            "1"
        ),
        spec(notification(None, now), "1"),
    ]));
    let listener = sns_listener(signed.cert_pem).await;
    let verifier = verifier(&listener, &[TOPIC]);

    let message = verifier
        .verify(signed.bodies[0].as_bytes(), now)
        .await
        .expect("a SignatureVersion 1 notification with a Subject verifies");
    let expected_timestamp = DateTime::parse_from_rfc3339(&timestamp(now))
        .expect("a timestamp")
        .with_timezone(&Utc);
    assert_eq!(
        message,
        SnsMessage::Notification {
            message_id: "da41e39f-ea4d-435a-b922-c6aae3915ebe".into(),
            topic_arn: TOPIC.into(),
            subject: Some("Amazon SES Email Event Notification".into()),
            message: MESSAGE.into(),
            timestamp: expected_timestamp,
        }
    );
    assert_eq!(message.topic_arn(), TOPIC);
    assert_eq!(message.message_id(), "da41e39f-ea4d-435a-b922-c6aae3915ebe");

    let message = verifier
        .verify(signed.bodies[1].as_bytes(), now)
        .await
        .expect("a SignatureVersion 1 notification without Subject verifies");
    assert!(matches!(
        message,
        SnsMessage::Notification { subject: None, .. }
    ));

    // The certificate came from the override, asked for with the SNS host, once for both.
    let requests = listener.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].target, CERT_PATH);
    assert_eq!(requests[0].host.as_deref(), Some(SNS_HOST));
    assert_eq!(verifier.certificates_fetched(), 1);
}

#[tokio::test]
async fn a_signature_made_with_the_other_hash_than_its_version_says_is_bad() {
    let now = Utc::now();
    let mut sha256_labelled_1 = spec(notification(None, now), "1");
    sha256_labelled_1["hash"] = json!("sha256");
    let mut sha1_labelled_2 = spec(notification(None, now), "2");
    sha1_labelled_2["hash"] = json!("sha1");
    let signed = signer_or_skip!(sign(vec![
        sha256_labelled_1,
        sha1_labelled_2,
        spec(notification(None, now), "2"),
    ]));
    let listener = sns_listener(signed.cert_pem).await;
    let verifier = verifier(&listener, &[TOPIC]);

    assert_eq!(
        reason(&verifier, &signed.bodies[0], now).await,
        RejectReason::BadSignature,
        "SHA-256 signature under SignatureVersion 1"
    );
    assert_eq!(
        reason(&verifier, &signed.bodies[1], now).await,
        RejectReason::BadSignature,
        "SHA-1 signature under SignatureVersion 2"
    );
    verifier
        .verify(signed.bodies[2].as_bytes(), now)
        .await
        .expect("the control: SHA-256 under SignatureVersion 2 verifies");
    // And relabelling the good one as version 1 breaks it.
    let relabelled = with_field(&signed.bodies[2], "SignatureVersion", Some("1"));
    assert_eq!(
        reason(&verifier, &relabelled, now).await,
        RejectReason::BadSignature
    );
}

#[tokio::test]
async fn any_signed_field_changed_or_another_key_does_not_verify() {
    let now = Utc::now();
    let mut other_key = spec(notification(Some("s"), now), "2");
    other_key["key"] = json!("other");
    let signed = signer_or_skip!(sign(vec![
        spec(notification(Some("s"), now), "2"),
        spec(notification(None, now), "2"),
        other_key,
    ]));
    let listener = sns_listener(signed.cert_pem).await;
    // Both topics allowed, so that a changed TopicArn reaches the signature check.
    let verifier = verifier(&listener, &[TOPIC, OTHER_TOPIC]);
    let with_subject = &signed.bodies[0];
    let without_subject = &signed.bodies[1];
    verifier
        .verify(with_subject.as_bytes(), now)
        .await
        .expect("the control verifies");
    verifier
        .verify(with_subject.replace('\n', "\r\n").as_bytes(), now)
        .await
        .expect("the JSON's own whitespace is not signed");

    let changed_message = MESSAGE.replacen("sig-test", "sig-tesT", 1);
    let later = timestamp(now - chrono::Duration::seconds(1));
    for (what, body) in [
        (
            "Message",
            with_field(with_subject, "Message", Some(&changed_message)),
        ),
        (
            "MessageId",
            with_field(
                with_subject,
                "MessageId",
                Some("da41e39f-ea4d-435a-b922-c6aae3915ebf"),
            ),
        ),
        (
            "Subject changed",
            with_field(with_subject, "Subject", Some("S")),
        ),
        ("Subject removed", with_field(with_subject, "Subject", None)),
        (
            "Subject added",
            with_field(without_subject, "Subject", Some("s")),
        ),
        (
            "Timestamp",
            with_field(with_subject, "Timestamp", Some(&later)),
        ),
        (
            "TopicArn",
            with_field(with_subject, "TopicArn", Some(OTHER_TOPIC)),
        ),
        ("another key", signed.bodies[2].clone()),
        (
            "not base64",
            with_field(with_subject, "Signature", Some("%%%not base64%%%")),
        ),
    ] {
        assert_eq!(
            reason(&verifier, &body, now).await,
            RejectReason::BadSignature,
            "{what}"
        );
    }
    assert_eq!(verifier.certificates_fetched(), 1);
}

#[tokio::test]
async fn a_subscription_confirmation_verifies_and_is_confirmed_at_its_subscribe_url() {
    let now = Utc::now();
    let signed = signer_or_skip!(sign(vec![
        spec(confirmation("SubscriptionConfirmation", TOPIC, now), "1"),
        spec(confirmation("SubscriptionConfirmation", TOPIC, now), "2"),
    ]));
    let listener = sns_listener(signed.cert_pem).await;
    let verifier = verifier(&listener, &[TOPIC]);

    let v1 = verifier
        .verify(signed.bodies[0].as_bytes(), now)
        .await
        .expect("a SignatureVersion 1 confirmation verifies");
    let message = verifier
        .verify(signed.bodies[1].as_bytes(), now)
        .await
        .expect("a SignatureVersion 2 confirmation verifies");
    assert_eq!(v1, message);
    let SnsMessage::SubscriptionConfirmation {
        ref token,
        subscribe_url: ref url,
        ref topic_arn,
        ..
    } = message
    else {
        panic!("not a SubscriptionConfirmation: {message:?}");
    };
    assert_eq!(token, TOKEN);
    assert_eq!(url, &subscribe_url(TOPIC));
    assert_eq!(topic_arn, TOPIC);

    // Token is signed: another one does not verify.
    let other_token = with_field(&signed.bodies[1], "Token", Some("0000"));
    assert_eq!(
        reason(&verifier, &other_token, now).await,
        RejectReason::BadSignature
    );
    let other_url = with_field(
        &signed.bodies[1],
        "SubscribeURL",
        Some("https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=0000"),
    );
    assert_eq!(
        reason(&verifier, &other_url, now).await,
        RejectReason::BadSignature
    );

    verifier
        .confirm_subscription(&message)
        .await
        .expect("the subscription is confirmed");
    let confirmations: Vec<Recorded> = listener
        .requests()
        .into_iter()
        .filter(|r| r.target.starts_with("/?Action=ConfirmSubscription"))
        .collect();
    assert_eq!(confirmations.len(), 1, "{confirmations:?}");
    assert_eq!(confirmations[0].method, "GET");
    assert_eq!(
        confirmations[0].target,
        format!("/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token={TOKEN}")
    );
    assert_eq!(confirmations[0].host.as_deref(), Some(SNS_HOST));
}

#[tokio::test]
async fn a_confirmation_for_another_topic_is_unknown_and_never_confirmed() {
    let now = Utc::now();
    let signed = signer_or_skip!(sign(vec![spec(
        confirmation("SubscriptionConfirmation", OTHER_TOPIC, now),
        "2"
    )]));
    let listener = sns_listener(signed.cert_pem).await;
    let verifier = verifier(&listener, &[TOPIC]);
    assert_eq!(
        reason(&verifier, &signed.bodies[0], now).await,
        RejectReason::UnknownTopic
    );
    // Nothing configured: every topic is unknown.
    let nothing = self::verifier(&listener, &[]);
    assert_eq!(
        reason(&nothing, &signed.bodies[0], now).await,
        RejectReason::UnknownTopic
    );

    // Even handed a confirmation for it, the verifier does not confirm another topic.
    let forged = SnsMessage::SubscriptionConfirmation {
        message_id: "m".into(),
        topic_arn: OTHER_TOPIC.into(),
        token: TOKEN.into(),
        subscribe_url: subscribe_url(OTHER_TOPIC),
        timestamp: now,
    };
    let err = verifier
        .confirm_subscription(&forged)
        .await
        .expect_err("another topic is not confirmed");
    assert!(err.contains(OTHER_TOPIC), "{err}");
    // Nor a SubscribeURL off the SNS hosts.
    let elsewhere = SnsMessage::SubscriptionConfirmation {
        message_id: "m".into(),
        topic_arn: TOPIC.into(),
        token: TOKEN.into(),
        subscribe_url: format!(
            "https://sns.us-east-1.amazonaws.com.evil.example/?Action=ConfirmSubscription&Token={TOKEN}"
        ),
        timestamp: now,
    };
    let err = verifier
        .confirm_subscription(&elsewhere)
        .await
        .expect_err("a SubscribeURL off the SNS hosts is not visited");
    assert!(!err.contains(TOKEN), "the log line holds the token: {err}");
    let plain_http = SnsMessage::SubscriptionConfirmation {
        message_id: "m".into(),
        topic_arn: TOPIC.into(),
        token: TOKEN.into(),
        subscribe_url: format!("http://{SNS_HOST}/?Action=ConfirmSubscription&Token={TOKEN}"),
        timestamp: now,
    };
    verifier
        .confirm_subscription(&plain_http)
        .await
        .expect_err("an http SubscribeURL is not visited");
    assert!(listener.requests().is_empty(), "{:?}", listener.requests());
    assert_eq!(verifier.certificates_fetched(), 0);
}

#[tokio::test]
async fn an_unsubscribe_confirmation_verifies_but_is_not_confirmed() {
    let now = Utc::now();
    let signed = signer_or_skip!(sign(vec![
        spec(confirmation("UnsubscribeConfirmation", TOPIC, now), "2"),
        spec(notification(None, now), "2"),
    ]));
    let listener = sns_listener(signed.cert_pem).await;
    let verifier = verifier(&listener, &[TOPIC]);
    let message = verifier
        .verify(signed.bodies[0].as_bytes(), now)
        .await
        .expect("an UnsubscribeConfirmation verifies");
    assert!(
        matches!(&message, SnsMessage::UnsubscribeConfirmation { token, .. } if token == TOKEN),
        "{message:?}"
    );
    verifier
        .confirm_subscription(&message)
        .await
        .expect_err("only a SubscriptionConfirmation is confirmed");
    let notification = verifier
        .verify(signed.bodies[1].as_bytes(), now)
        .await
        .expect("a notification verifies");
    verifier
        .confirm_subscription(&notification)
        .await
        .expect_err("a notification is not confirmed");
    let requests = listener.requests();
    assert!(
        requests.iter().all(|r| r.target.ends_with(".pem")),
        "{requests:?}"
    );
}

#[tokio::test]
async fn signing_cert_urls_off_the_sns_hosts_are_untrusted_and_never_fetched() {
    let now = Utc::now();
    let urls = [
        format!("http://{SNS_HOST}{CERT_PATH}"),
        format!("https://{SNS_HOST}.evil.example{CERT_PATH}"),
        format!("https://evil.example/{SNS_HOST}{CERT_PATH}"),
        format!("https://{SNS_HOST}/SimpleNotificationService-0123.txt"),
        format!("https://{SNS_HOST}/SimpleNotificationService-0123.pem?x=1/../not"),
        format!("https://{SNS_HOST}@evil.example{CERT_PATH}"),
        format!("https://evil.example@{SNS_HOST}:8443{CERT_PATH}"),
        format!("https://sns.us-east-1.amazonaws.com.cn{CERT_PATH}"),
        format!("https://s3.amazonaws.com/{SNS_HOST}{CERT_PATH}"),
        "not a url".to_owned(),
    ];
    let signed = signer_or_skip!(sign(
        urls.iter()
            .map(|url| {
                let mut s = spec(notification(None, now), "2");
                s["cert_url"] = json!(url);
                s
            })
            .collect()
    ));
    let listener = sns_listener(signed.cert_pem).await;
    let verifier = verifier(&listener, &[TOPIC]);
    for (url, body) in urls.iter().zip(&signed.bodies) {
        assert_eq!(
            reason(&verifier, body, now).await,
            RejectReason::UntrustedCertificate,
            "{url}"
        );
    }
    let no_url = with_field(&signed.bodies[0], "SigningCertURL", None);
    assert_eq!(
        reason(&verifier, &no_url, now).await,
        RejectReason::UntrustedCertificate
    );
    assert!(listener.requests().is_empty(), "{:?}", listener.requests());
    assert_eq!(verifier.certificates_fetched(), 0);
}

#[tokio::test]
async fn signing_cert_urls_of_other_regions_and_of_china_are_fetched_with_their_host() {
    let now = Utc::now();
    let hosts = [
        "sns.eu-west-1.amazonaws.com",
        "sns.cn-north-1.amazonaws.com.cn",
    ];
    let signed = signer_or_skip!(sign(
        hosts
            .iter()
            .map(|host| {
                let mut s = spec(notification(None, now), "2");
                s["cert_url"] = json!(format!("https://{host}{CERT_PATH}"));
                s
            })
            .collect()
    ));
    let listener = sns_listener(signed.cert_pem).await;
    let verifier = verifier(&listener, &[TOPIC]);
    for (host, body) in hosts.iter().zip(&signed.bodies) {
        verifier
            .verify(body.as_bytes(), now)
            .await
            .unwrap_or_else(|e| panic!("{host}: {e}"));
    }
    let asked: Vec<Option<String>> = listener.requests().into_iter().map(|r| r.host).collect();
    assert_eq!(
        asked,
        hosts
            .iter()
            .map(|h| Some(h.to_string()))
            .collect::<Vec<_>>()
    );
    assert_eq!(verifier.certificates_fetched(), 2);
}

#[tokio::test]
async fn unsigned_unknown_versions_and_stale_timestamps_are_refused() {
    let now = Utc::now();
    let signed = signer_or_skip!(sign(vec![spec(notification(None, now), "2")]));
    let listener = sns_listener(signed.cert_pem).await;
    let verifier = verifier(&listener, &[TOPIC]);
    let body = &signed.bodies[0];
    let minutes = chrono::Duration::minutes;

    assert_eq!(
        reason(&verifier, &with_field(body, "Signature", None), now).await,
        RejectReason::Unsigned
    );
    for version in [Some("3"), Some(""), None] {
        assert_eq!(
            reason(
                &verifier,
                &with_field(body, "SignatureVersion", version),
                now
            )
            .await,
            RejectReason::Malformed,
            "{version:?}"
        );
    }
    assert_eq!(
        reason(&verifier, body, now + minutes(120)).await,
        RejectReason::Stale,
        "2 h old"
    );
    assert_eq!(
        reason(&verifier, body, now - minutes(6)).await,
        RejectReason::Stale,
        "6 min in the future"
    );
    assert_eq!(
        verifier.certificates_fetched(),
        0,
        "refused before fetching"
    );
    verifier
        .verify(body.as_bytes(), now - minutes(4))
        .await
        .expect("4 min in the future is clock skew");
    verifier
        .verify(body.as_bytes(), now + minutes(59))
        .await
        .expect("59 min old is inside the default hour");

    let strict = SnsVerifier::new(SnsSettings {
        topic_arns: vec![TOPIC.into()],
        max_age: std::time::Duration::from_secs(60),
        fetch_base_override: Some(listener.url.clone()),
    });
    assert_eq!(
        reason(&strict, body, now + minutes(2)).await,
        RejectReason::Stale,
        "older than a max_age of 1 min"
    );
    assert_eq!(
        SnsSettings::default().max_age,
        std::time::Duration::from_secs(3600)
    );
    assert!(SnsSettings::default().topic_arns.is_empty());
    assert!(SnsSettings::default().fetch_base_override.is_none());
}

#[tokio::test]
async fn certificates_that_cannot_be_fetched_or_read_are_untrusted() {
    let now = Utc::now();
    let paths = [
        "/SimpleNotificationService-missing.pem.gone",
        "/not-a-certificate.pem",
        "/redirect.pem",
        "/gone.pem",
    ];
    let signed = signer_or_skip!(sign(
        paths
            .iter()
            .map(|path| {
                let mut s = spec(notification(None, now), "2");
                s["cert_url"] = json!(format!("https://{SNS_HOST}{path}"));
                s
            })
            .collect()
    ));
    let listener = sns_listener(signed.cert_pem).await;
    let verifier = verifier(&listener, &[TOPIC]);
    // The first path does not end in .pem: refused before any fetch.
    for (path, body) in paths.iter().zip(&signed.bodies) {
        assert_eq!(
            reason(&verifier, body, now).await,
            RejectReason::UntrustedCertificate,
            "{path}"
        );
    }
    let targets: Vec<String> = listener.requests().into_iter().map(|r| r.target).collect();
    // The redirect is not followed: its Location (the good certificate) is never asked for.
    assert_eq!(
        targets,
        ["/not-a-certificate.pem", "/redirect.pem", "/gone.pem"]
    );
    // Failures are not cached: asking again fetches again.
    assert_eq!(
        reason(&verifier, &signed.bodies[1], now).await,
        RejectReason::UntrustedCertificate
    );
    assert_eq!(verifier.certificates_fetched(), 4);

    // Nothing listening at all.
    let closed = SnsVerifier::new(SnsSettings {
        topic_arns: vec![TOPIC.into()],
        fetch_base_override: Some("http://127.0.0.1:9".into()),
        ..SnsSettings::default()
    });
    let good = with_field(&signed.bodies[1], "SigningCertURL", Some(&cert_url()));
    assert_eq!(
        reason(&closed, &good, now).await,
        RejectReason::UntrustedCertificate
    );
}

#[tokio::test]
async fn the_certificate_cache_fetches_once_per_url_and_keeps_32() {
    let now = Utc::now();
    let signed = signer_or_skip!(sign(vec![spec(notification(None, now), "2")]));
    let listener = sns_listener(signed.cert_pem).await;
    let verifier = verifier(&listener, &[TOPIC]);
    // The SigningCertURL is not signed: one body, many URLs of the same certificate.
    let at = |i: usize| {
        with_field(
            &signed.bodies[0],
            "SigningCertURL",
            Some(&format!(
                "https://{SNS_HOST}/SimpleNotificationService-{i:032}.pem"
            )),
        )
    };
    for round in 0..2 {
        verifier
            .verify(at(0).as_bytes(), now)
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
    }
    assert_eq!(verifier.certificates_fetched(), 1);
    for i in 1..=32 {
        verifier
            .verify(at(i).as_bytes(), now)
            .await
            .unwrap_or_else(|e| panic!("url {i}: {e}"));
    }
    assert_eq!(verifier.certificates_fetched(), 33);
    // 33 URLs seen, 32 kept: the newest is still there, the oldest was dropped.
    verifier
        .verify(at(32).as_bytes(), now)
        .await
        .expect("cached");
    assert_eq!(verifier.certificates_fetched(), 33);
    verifier
        .verify(at(0).as_bytes(), now)
        .await
        .expect("fetched again");
    assert_eq!(verifier.certificates_fetched(), 34);
    assert_eq!(listener.requests().len(), 34);
}
