//! moto's SNS as the real peer: a topic with an HTTP subscription to a listener on 127.0.0.1,
//! an SES Delivery event record published to it, and moto's own POSTs (SignatureVersion 2,
//! signed by moto with a certificate it serves at `/SimpleNotificationService-<id>.pem`) verified
//! by [`SnsVerifier`] and read by [`ses::parse_event_record`].
//!
//! moto (tests/peers/moto_server.py, as crates/providers/tests start it) signs a new certificate
//! URL for every message, all with one key per subscription, and leaves Subject out of the
//! string it signs: the messages here have no Subject.
//!
//! moto's standalone server does not route by the Host header: an unsigned
//! `GET /SimpleNotificationService-<id>.pem` with `Host: sns.us-east-1.amazonaws.com` lands in
//! its default service (S3) and answers 404. So `fetch_base_override` points at a small
//! forwarder in this test, which records the Host and path the verifier asked for, and passes
//! the GET on to moto with the SigV4 credential scope (`.../us-east-1/sns/aws4_request`) moto
//! routes unsigned-looking requests by; the certificate bytes are moto's, untouched.
//!
//! When moto cannot be started, the test fails under `MSGOPS_REAL_PEERS=1` or `CI`, and prints
//! why and skips otherwise.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_sns::config::{BehaviorVersion, Credentials, Region};
use chrono::Utc;
use msgops_delivery::{DeliverySource, DeliveryStatus};
use msgops_provider_kind::ProviderKind;
use msgops_webhooks::sns::{SnsMessage, SnsSettings, SnsVerifier};
use msgops_webhooks::{ses, RejectReason};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

// --- moto, started as crates/providers/tests/common does ----------------------------------

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn peers_required() -> bool {
    std::env::var("MSGOPS_REAL_PEERS").is_ok_and(|v| v == "1")
        || std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

fn unavailable(reason: &str) {
    if peers_required() {
        panic!("MSGOPS_REAL_PEERS=1 or CI is set, but moto is unavailable: {reason}");
    }
    eprintln!("SKIPPED (set MSGOPS_REAL_PEERS=1 to make this a failure): {reason}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Kills the peer when the test process ends, even if a static or a panic keeps `Peer` alive.
const WATCHDOG: &str = r#"
"$@" & child=$!
trap 'kill $child 2>/dev/null; exit 0' TERM INT HUP
while kill -0 "$MSGOPS_TEST_PARENT" 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 0.3; done
kill $child 2>/dev/null
"#;

struct Peer {
    port: u16,
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Peer {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string())
                .status();
            let _ = self.child.wait();
        }
    }
}

fn start_moto() -> Result<Peer, String> {
    let python = std::env::var_os("MSGOPS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"));
    if !python.exists() {
        return Err(format!(
            "no Python at {} (set MSGOPS_PYTHON, or: python3 -m venv .venv && .venv/bin/pip install -r tests/peers/requirements.txt)",
            python.display()
        ));
    }
    let has_moto = Command::new(&python)
        .args(["-c", "import moto.server"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_moto {
        return Err(format!(
            "{} cannot import moto.server (pip install -r tests/peers/requirements.txt)",
            python.display()
        ));
    }
    let port = free_port();
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let log = dir.path().join("moto.log");
    let out = std::fs::File::create(&log).map_err(|e| e.to_string())?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let child = Command::new("sh")
        .arg("-c")
        .arg(WATCHDOG)
        .arg("sh")
        .arg(&python)
        .arg(repo_root().join("tests/peers/moto_server.py"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env("MSGOPS_TEST_PARENT", std::process::id().to_string())
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot start moto ({}): {e}", python.display()))?;
    let mut peer = Peer {
        port,
        child,
        log,
        _dir: dir,
    };
    let started = Instant::now();
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(peer);
        }
        if let Ok(Some(status)) = peer.child.try_wait() {
            return Err(format!(
                "moto exited ({status}) before listening on {port}: {}",
                peer.log_text()
            ));
        }
        if started.elapsed() > Duration::from_secs(60) {
            return Err(format!(
                "moto did not listen on {port} within 60 s: {}",
                peer.log_text()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

// --- the subscriber: captures the raw bodies moto POSTs -----------------------------------

struct Subscriber {
    port: u16,
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Subscriber {
    async fn start() -> Subscriber {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("an address").port();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let captured = bodies.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let captured = captured.clone();
                tokio::spawn(async move {
                    if let Some((head, body)) = read_request(&mut socket).await {
                        if head.starts_with("POST ") {
                            captured.lock().expect("lock").push(body);
                        }
                    }
                    let _ = socket
                        .write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        )
                        .await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Subscriber { port, bodies, task }
    }

    /// Waits for the `n`th body (moto POSTs while it handles Publish).
    async fn body(&self, n: usize) -> Vec<u8> {
        let started = Instant::now();
        loop {
            if let Some(body) = self.bodies.lock().expect("lock").get(n) {
                return body.clone();
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "moto POSTed no notification #{n}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The head (request line and headers) and the raw body bytes (by Content-Length) of one
/// request.
async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let length: usize = head
        .split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some((head, buf[head_end..].to_vec()))
}

// --- the certificate forwarder: the Host routing moto's server lacks ---------------------

#[derive(Debug, Clone)]
struct Forwarded {
    target: String,
    host: Option<String>,
}

struct CertForwarder {
    url: String,
    requests: Arc<Mutex<Vec<Forwarded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CertForwarder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CertForwarder {
    async fn start(moto_url: String) -> CertForwarder {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = requests.clone();
        let client = reqwest::Client::new();
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let recorded = recorded.clone();
                let client = client.clone();
                let moto_url = moto_url.clone();
                tokio::spawn(async move {
                    let Some((head, _)) = read_request(&mut socket).await else {
                        return;
                    };
                    let target = head.split(' ').nth(1).unwrap_or_default().to_owned();
                    let host = head
                        .split("\r\n")
                        .filter_map(|l| l.split_once(':'))
                        .find(|(n, _)| n.trim().eq_ignore_ascii_case("host"))
                        .map(|(_, v)| v.trim().to_owned());
                    recorded.lock().expect("lock").push(Forwarded {
                        target: target.clone(),
                        host: host.clone(),
                    });
                    let region = host
                        .as_deref()
                        .and_then(|h| h.strip_prefix("sns."))
                        .and_then(|h| h.split('.').next())
                        .unwrap_or("us-east-1")
                        .to_owned();
                    let (status, body) = match client
                        .get(format!("{moto_url}{target}"))
                        .header(
                            "Authorization",
                            format!("AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20240101/{region}/sns/aws4_request, SignedHeaders=host, Signature=0"),
                        )
                        .send()
                        .await
                    {
                        Ok(response) => (
                            response.status().as_u16(),
                            response.bytes().await.map(|b| b.to_vec()).unwrap_or_default(),
                        ),
                        Err(_) => (502, Vec::new()),
                    };
                    let head = format!(
                        "HTTP/1.1 {status} Forwarded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = socket.write_all(head.as_bytes()).await;
                    let _ = socket.write_all(&body).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        CertForwarder {
            url,
            requests,
            task,
        }
    }

    fn requests(&self) -> Vec<Forwarded> {
        self.requests.lock().expect("lock").clone()
    }
}

// --- the test -----------------------------------------------------------------------------

/// The SES message id, also the marker changed to tamper with the Message.
const SES_MESSAGE_ID: &str = "0100018f5c2b9a7e-msgops-moto-delivery-000000";

fn delivery_record() -> String {
    json!({
        "eventType": "Delivery",
        "mail": {
            "timestamp": "2024-05-01T10:00:00.000Z",
            "source": "otp@example.com",
            "sendingAccountId": "123456789012",
            "messageId": SES_MESSAGE_ID,
            "destination": ["customer@example.com"],
            "headersTruncated": false,
            "tags": {"ses:configuration-set": ["msgops"]}
        },
        "delivery": {
            "timestamp": "2024-05-01T10:00:02.345Z",
            "processingTimeMillis": 2345,
            "recipients": ["customer@example.com"],
            "smtpResponse": "250 2.6.0 Message received",
            "reportingMTA": "a8-1.smtp-out.amazonses.com"
        }
    })
    .to_string()
}

fn field(body: &[u8], key: &str) -> String {
    let value: Value = serde_json::from_slice(body).expect("moto POSTs JSON");
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key} in moto's POST"))
        .to_owned()
}

/// The body with one field replaced, as text (moto's other fields untouched).
fn with_cert_url(body: &[u8], url: &str) -> Vec<u8> {
    let text = String::from_utf8(body.to_vec()).expect("UTF-8");
    let old = field(body, "SigningCertURL");
    assert_eq!(text.matches(&old).count(), 1, "{text}");
    text.replace(&old, url).into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_notifications_carrying_ses_events_verify_and_read_as_deliveries() {
    let moto = match start_moto() {
        Ok(moto) => moto,
        Err(reason) => {
            unavailable(&reason);
            return;
        }
    };
    let subscriber = Subscriber::start().await;
    let config = aws_sdk_sns::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(moto.url())
        .credentials_provider(Credentials::new(
            "AKIAEXAMPLEfakekeyid0001",
            "fake/secret+access/key/for/tests/only/0001",
            None,
            None,
            "tests",
        ))
        .build();
    let sns = aws_sdk_sns::Client::from_conf(config);
    let topic_arn = sns
        .create_topic()
        .name("msgops-ses-events")
        .send()
        .await
        .expect("moto creates the topic")
        .topic_arn
        .expect("a TopicArn");
    // moto confirms HTTP subscriptions by itself.
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("http")
        .endpoint(format!(
            "http://127.0.0.1:{}/api/v1/webhooks/aws/sns",
            subscriber.port
        ))
        .send()
        .await
        .expect("moto subscribes the listener");

    let record = delivery_record();
    let mut published = Vec::new();
    for _ in 0..2 {
        let id = sns
            .publish()
            .topic_arn(&topic_arn)
            .message(&record)
            .send()
            .await
            .expect("moto publishes")
            .message_id
            .expect("a MessageId");
        published.push(id);
    }
    let first = subscriber.body(0).await;
    let second = subscriber.body(1).await;
    assert_eq!(field(&first, "SignatureVersion"), "2");
    assert_eq!(field(&first, "Type"), "Notification");

    let forwarder = CertForwarder::start(moto.url()).await;
    let settings = SnsSettings {
        topic_arns: vec![topic_arn.clone()],
        fetch_base_override: Some(forwarder.url.clone()),
        ..SnsSettings::default()
    };
    let verifier = SnsVerifier::new(settings.clone());
    let now = Utc::now();

    // moto's POST, as received, verifies.
    let message = verifier.verify(&first, now).await.unwrap_or_else(|e| {
        panic!(
            "moto's notification verifies: {e}\nmoto log: {}",
            moto.log_text()
        )
    });
    let SnsMessage::Notification {
        ref message_id,
        topic_arn: ref arn,
        ref subject,
        message: ref ses_record,
        timestamp,
    } = message
    else {
        panic!("not a Notification: {message:?}");
    };
    assert_eq!(message_id, &published[0]);
    assert_eq!(arn, &topic_arn);
    assert_eq!(subject, &None);
    assert_eq!(ses_record, &record);
    assert!(
        (now - timestamp).num_seconds().abs() < 60,
        "moto's Timestamp {timestamp} is now"
    );
    assert_eq!(verifier.certificates_fetched(), 1);
    // Asked for at the certificate's path, with the SNS host of its SigningCertURL.
    let first_url = field(&first, "SigningCertURL");
    let first_path = first_url
        .strip_prefix("https://sns.us-east-1.amazonaws.com")
        .expect("moto's SigningCertURL is on sns.us-east-1.amazonaws.com");
    let asked = forwarder.requests();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(asked[0].target, first_path);
    assert_eq!(
        asked[0].host.as_deref(),
        Some("sns.us-east-1.amazonaws.com")
    );

    // Its Message is the SES record: a delivery of our message.
    let events = ses::parse_event_record(ses_record, message_id, now).expect("an SES record");
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event.provider, ProviderKind::Ses);
    assert_eq!(event.status, DeliveryStatus::Delivered);
    assert_eq!(event.provider_message_id, SES_MESSAGE_ID);
    assert_eq!(event.recipient.as_deref(), Some("customer@example.com"));
    assert_eq!(event.event_id, published[0]);
    assert_eq!(event.source, DeliverySource::SnsWebhook);
    assert_eq!(
        event
            .occurred_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "2024-05-01T10:00:02.345Z"
    );

    // The same body again: the certificate comes from the cache.
    verifier.verify(&first, now).await.expect("verifies again");
    assert_eq!(verifier.certificates_fetched(), 1);
    // moto gives every message its own certificate URL (one key per subscription): the second
    // notification under the first one's URL is a second notification signed with the same cert
    // URL, verified without a fetch...
    let second_url = field(&second, "SigningCertURL");
    assert_ne!(first_url, second_url, "moto's URLs are per message");
    let second_under_first_url = with_cert_url(&second, &first_url);
    let message = verifier
        .verify(&second_under_first_url, now)
        .await
        .expect("the second notification verifies with the cached certificate");
    assert_eq!(message.message_id(), published[1]);
    assert_eq!(verifier.certificates_fetched(), 1);
    // ... and as moto sent it, with its own URL, it is fetched.
    verifier
        .verify(&second, now)
        .await
        .expect("the second verifies");
    assert_eq!(verifier.certificates_fetched(), 2);
    assert_eq!(forwarder.requests().len(), 2);

    // One character of the Message changed: the signature no longer verifies.
    let text = String::from_utf8(first.clone()).expect("UTF-8");
    assert_eq!(text.matches("moto-delivery").count(), 1, "{text}");
    let tampered = text.replacen("moto-delivery", "moto-deliverz", 1);
    assert_eq!(
        verifier
            .verify(tampered.as_bytes(), now)
            .await
            .expect_err("tampered")
            .reason,
        RejectReason::BadSignature
    );

    // The same body two hours later is stale.
    assert_eq!(
        verifier
            .verify(&first, now + chrono::Duration::hours(2))
            .await
            .expect_err("stale")
            .reason,
        RejectReason::Stale
    );

    // A verifier not configured for this topic refuses it.
    for topics in [
        vec!["arn:aws:sns:us-east-1:123456789012:another-topic".to_owned()],
        Vec::new(),
    ] {
        let other = SnsVerifier::new(SnsSettings {
            topic_arns: topics,
            ..settings.clone()
        });
        assert_eq!(
            other.verify(&first, now).await.expect_err("unknown").reason,
            RejectReason::UnknownTopic
        );
        assert_eq!(other.certificates_fetched(), 0);
    }
}
