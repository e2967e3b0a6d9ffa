//! The delivery webhooks through the service's own HTTP endpoints on 127.0.0.1:0, with real
//! peers on loopback:
//!
//! - SendGrid: fresh P-256 keys and SendGrid-style signatures from Python `cryptography`
//!   (crates/webhooks/tests/sendgrid_peer.py, whose signatures SendGrid's own helper also
//!   checks), POSTed raw to `/api/v1/webhooks/sendgrid`: kept once in the file sink, counted,
//!   streamed as `delivery_status`, in the health JSON; forged, stale, unsigned and unkeyed
//!   requests refused with 403; the webhook body limit (1 MiB, above the API's 64 KiB).
//! - SNS: moto's server as the publisher, POSTing an SES Bounce record to the service's
//!   `/api/v1/webhooks/aws/sns` through an HTTP subscription; the certificate fetched from moto
//!   through `fetch_base_override` (see webhook_peers for why a forwarder sits in front).
//! - SNS SubscriptionConfirmation signed by crates/webhooks/tests/sns_signer.py: the
//!   SubscribeURL GET only for a configured topic.
//!
//! When Python, its packages or moto are missing: a failure under `MSGOPS_REAL_PEERS=1` or
//! `CI`, else a printed skip reason.

mod webhook_peers;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{SecondsFormat, Utc};
use msgops_core::config::Config;
use msgops_core::{Channel, Messaging, ProviderKind};
use msgops_credentials::SecretString;
use msgops_delivery::{DeliveryEvent, DeliverySource, DeliveryStatus};
use msgops_history::{HistoryLocation, HistoryStore};
use msgops_service::emulated::install_emulated_providers;
use msgops_service::{
    serve, ApiAuth, AuthScope, CodeSeen, ServiceError, ServiceSettings, ServiceState,
    WebhookSecrets, WebhookSettings,
};
use msgops_webhooks::sns::SnsSettings;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use webhook_peers::{
    moto_sns, python_with, run_script, start_moto, unavailable, CertForwarder, FakeSnsHost,
};

const TOKEN: &str = "msgops_test_token_webhooks_0123456789abcdef";
/// How long anything asynchronous may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(30);

// --- the service ----------------------------------------------------------------------------

/// SendGrid's verification key as the keychain would hold it; no Twilio tokens.
struct SendgridKey(String);

#[async_trait]
impl WebhookSecrets for SendgridKey {
    async fn twilio_auth_tokens(&self) -> Vec<SecretString> {
        Vec::new()
    }
    async fn sendgrid_public_key(&self) -> Option<String> {
        Some(self.0.clone())
    }
}

struct Service {
    base: String,
    state: ServiceState,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), ServiceError>>,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// The service on 127.0.0.1:0 with emulated providers, `settings` and a token for the event
/// stream.
async fn start(settings: ServiceSettings) -> Service {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::default();
    config.console.log_path = dir.path().join("console-sms.log");
    let messaging = Arc::new(Messaging::from_config(&config));
    install_emulated_providers(&messaging, &[]);
    let state = ServiceState::new(
        messaging,
        ServiceSettings {
            auth: ApiAuth::new(Some(SecretString::from(TOKEN)), AuthScope::SendsAndEvents),
            ..settings
        },
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(serve(listener, state.clone(), shutdown.clone()));
    Service {
        base,
        state,
        shutdown,
        task,
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

/// A history database (SQLite) in its own directory as the sink, and the database's path.
async fn delivery_log() -> (Arc<HistoryStore>, std::path::PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let location = HistoryLocation::in_dir(dir.path());
    let HistoryLocation::Sqlite(path) = location.clone() else {
        unreachable!()
    };
    let (log, problems) = HistoryStore::open(
        location,
        90,
        msgops_history::SendOrigin::this_process(msgops_history::OriginKind::Service),
    )
    .await
    .expect("the history opens");
    assert!(problems.is_empty(), "{problems:?}");
    (Arc::new(log), path, dir)
}

/// The reports a store keeps, in the order they were kept.
async fn all_kept(log: &HistoryStore) -> Vec<DeliveryEvent> {
    log.deliveries_since(chrono::DateTime::<chrono::Utc>::MIN_UTC)
        .await
        .expect("the reports read")
}

impl Service {
    /// POSTs `body` raw to the SendGrid webhook with the signature headers given; the status
    /// and the body as text.
    async fn sendgrid(
        &self,
        body: &[u8],
        timestamp: Option<&str>,
        signature: Option<&str>,
    ) -> (u16, String) {
        let mut request = self
            .http
            .post(format!("{}/api/v1/webhooks/sendgrid", self.base))
            .header("content-type", "application/json")
            .header("user-agent", "SendGrid Event API")
            .body(body.to_vec());
        if let Some(t) = timestamp {
            request = request.header("X-Twilio-Email-Event-Webhook-Timestamp", t);
        }
        if let Some(s) = signature {
            request = request.header("X-Twilio-Email-Event-Webhook-Signature", s);
        }
        let response = request.send().await.expect("the service answers");
        let status = response.status().as_u16();
        (status, response.text().await.expect("a body"))
    }

    /// POSTs an SNS message as SNS does (text/plain JSON).
    async fn sns(&self, body: &str, kind: &str) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}/api/v1/webhooks/aws/sns", self.base))
            .header("content-type", "text/plain; charset=UTF-8")
            .header("x-amz-sns-message-type", kind)
            .body(body.to_owned())
            .send()
            .await
            .expect("the service answers");
        let status = response.status().as_u16();
        (status, response.json().await.expect("a JSON answer"))
    }

    async fn metrics_text(&self) -> String {
        let response = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("metrics");
        assert_eq!(response.status().as_u16(), 200);
        response.text().await.expect("text")
    }

    async fn metrics(&self) -> prometheus_parse::Scrape {
        let text = self.metrics_text().await;
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
            .expect("valid Prometheus text")
    }

    async fn health(&self) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}/api/v1/health/messaging", self.base))
            .send()
            .await
            .expect("health");
        let status = response.status().as_u16();
        (status, response.json().await.expect("health JSON"))
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(15), self.task)
            .await
            .expect("shut down in time")
            .expect("join")
            .expect("serve ended well");
    }
}

fn value(v: &prometheus_parse::Value) -> f64 {
    match v {
        prometheus_parse::Value::Counter(x)
        | prometheus_parse::Value::Gauge(x)
        | prometheus_parse::Value::Untyped(x) => *x,
        _ => f64::NAN,
    }
}

/// The sample of `metric` with exactly these `labels`; 0 when absent (a counter never
/// incremented is not exposed).
fn count(scrape: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    let matching: Vec<f64> = scrape
        .samples
        .iter()
        .filter(|s| {
            s.metric == metric
                && s.labels.len() == labels.len()
                && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
        })
        .map(|s| value(&s.value))
        .collect();
    assert!(matching.len() <= 1, "{metric} {labels:?} twice");
    matching.first().copied().unwrap_or(0.0)
}

/// The sum of every `metric` sample whose labels include `labels`.
fn total(scrape: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| value(&s.value))
        .sum()
}

/// `GET /api/v1/events`, read event by event.
struct Events {
    response: reqwest::Response,
    buffer: Vec<u8>,
}

impl Events {
    /// Open once the answer's head is back: the handler has subscribed by then.
    async fn open(service: &Service) -> Events {
        let response = service
            .http
            .get(format!("{}/api/v1/events", service.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("events");
        assert_eq!(response.status().as_u16(), 200);
        Events {
            response,
            buffer: Vec::new(),
        }
    }

    /// The events (name, data) up to and including the first one named `last`.
    async fn until(&mut self, last: &str) -> Vec<(String, Value)> {
        let mut got: Vec<(String, Value)> = Vec::new();
        let deadline = Instant::now() + PATIENCE;
        loop {
            while let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let block = String::from_utf8(self.buffer[..end].to_vec()).expect("UTF-8");
                self.buffer.drain(..end + 2);
                let mut name = None;
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(n) = line.strip_prefix("event:") {
                        name = Some(n.trim().to_owned());
                    } else if let Some(d) = line.strip_prefix("data:") {
                        data.push_str(d.strip_prefix(' ').unwrap_or(d));
                    }
                }
                // A keep-alive comment.
                let Some(name) = name else { continue };
                let data: Value = serde_json::from_str(&data).expect("event data is JSON");
                let done = name == last;
                got.push((name, data));
                if done {
                    return got;
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.response.chunk()).await {
                Ok(Ok(Some(chunk))) => self.buffer.extend_from_slice(&chunk),
                Ok(Ok(None)) => panic!("the event stream ended before {last}: {got:?}"),
                Ok(Err(e)) => panic!("the event stream broke before {last}: {e}"),
                Err(_) => panic!("no {last} event within {PATIENCE:?}; got {got:?}"),
            }
        }
    }
}

// --- SendGrid -------------------------------------------------------------------------------

/// X-Message-Ids (the part of sg_message_id before its first dot) of the three messages.
const DELIVERED_ID: &str = "W86EgYT6SQKk0lRflfLRsA";
const BOUNCED_ID: &str = "q1kXpKTxTbyGwDtt9_V_pA";
const DROPPED_ID: &str = "Zx7rLq2mTnS0b8cVf4hJkw";
const EVENT_IDS: [&str; 4] = [
    "cHJvY2Vzc2VkLTI2NzI5MTQ0LVc4NkVnWVQ2U1FLazBsUmZsZkxSc0EtMA",
    "ZGVsaXZlcmVkLTAtMjY3MjkxNDQtVzg2RWdZVDZTUUtrMGxSZmxmTFJzQS0w",
    "Ym91bmNlLTAtMjY3MjkxNDQtcTFrWHBLVHhUYnlHd0R0dDlfVl9wQS0w",
    "ZHJvcHBlZC0yNjcyOTE0NC1aeDdyTHEybVRuUzBiOGNWZjRoSmt3LTA",
];
const BOUNCE_REASON: &str = "550 5.1.1 The email account that you tried to reach does not exist.";

fn sg_message_id(x_message_id: &str, n: u32) -> String {
    format!("{x_message_id}.filterdrecv-5645d9c87f-6r2ch-1-62E2C2A6-{n}.0")
}

/// A batch as SendGrid posts it: one OTP email processed then delivered, one bounced (5.1.1),
/// one dropped (suppressed), and a click msgops does not track.
fn sendgrid_batch(now: i64) -> String {
    json!([
        {
            "email": "ada@example.com",
            "timestamp": now - 40,
            "smtp-id": format!("<{DELIVERED_ID}@geopod-ismtpd-4>"),
            "event": "processed",
            "category": ["otp"],
            "sg_event_id": EVENT_IDS[0],
            "sg_message_id": sg_message_id(DELIVERED_ID, 43)
        },
        {
            "email": "ada@example.com",
            "timestamp": now - 38,
            "smtp-id": format!("<{DELIVERED_ID}@geopod-ismtpd-4>"),
            "event": "delivered",
            "category": ["otp"],
            "ip": "168.245.1.1",
            "response": "250 2.0.0 OK  1658961670 q3-20020a05620a0c8300b006b5e8cc4ac8si1107041qkm.431 - gsmtp",
            "tls": 1,
            "sg_event_id": EVENT_IDS[1],
            "sg_message_id": sg_message_id(DELIVERED_ID, 43)
        },
        {
            "email": "nobody@example.net",
            "timestamp": now - 30,
            "smtp-id": format!("<{BOUNCED_ID}@geopod-ismtpd-4>"),
            "event": "bounce",
            "type": "bounce",
            "bounce_classification": "Invalid Address",
            "category": ["otp"],
            "ip": "168.245.1.1",
            "status": "5.1.1",
            "reason": BOUNCE_REASON,
            "tls": 1,
            "sg_event_id": EVENT_IDS[2],
            "sg_message_id": sg_message_id(BOUNCED_ID, 44)
        },
        {
            "email": "suppressed@example.org",
            "timestamp": now - 20,
            "smtp-id": format!("<{DROPPED_ID}@geopod-ismtpd-4>"),
            "event": "dropped",
            "category": ["otp"],
            "reason": "Bounced Address",
            "status": "5.0.0",
            "sg_event_id": EVENT_IDS[3],
            "sg_message_id": sg_message_id(DROPPED_ID, 45)
        },
        {
            "email": "ada@example.com",
            "timestamp": now - 10,
            "event": "click",
            "url": "https://app.example.com/verify",
            "useragent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)",
            "ip": "203.0.113.7",
            "sg_event_id": "Y2xpY2stMjY3MjkxNDQtVzg2RWdZVDZTUUtrMGxSZmxmTFJzQS0w",
            "sg_message_id": sg_message_id(DELIVERED_ID, 43)
        }
    ])
    .to_string()
}

/// `n` processed events of as many messages, from index `from`.
fn processed_batch(now: i64, from: usize, n: usize) -> String {
    let events: Vec<Value> = (from..from + n)
        .map(|i| {
            let id = format!("BULK{i:08}xQ2mTnS0b8cVf4h");
            json!({
                "email": format!("customer{i}@example.com"),
                "timestamp": now,
                "smtp-id": format!("<{id}@geopod-ismtpd-4>"),
                "event": "processed",
                "category": ["otp", "signup"],
                "asm_group_id": 1,
                "sg_event_id": format!("cHJvY2Vzc2VkLTI2NzI5MTQ0LUJVTEs{i:08}"),
                "sg_message_id": sg_message_id(&id, 43)
            })
        })
        .collect();
    Value::Array(events).to_string()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .expect("an array")
        .iter()
        .map(|v| v.as_str().expect("a string").to_owned())
        .collect()
}

/// A 403 `webhook_rejected` naming `reason`, with neither the key nor the body in it.
fn assert_rejected(status: u16, body: &str, reason: &str, key: &str, case: &str) {
    assert_eq!(status, 403, "{case}: {body}");
    let answer: Value = serde_json::from_str(body).expect("a JSON error");
    assert_eq!(answer["code"], "webhook_rejected", "{case}: {answer}");
    let message = answer["message"].as_str().expect("a message");
    assert!(
        message.contains(&format!(
            "sendgrid webhook refused: {}",
            reason.replace('_', " ")
        )),
        "{case}: {message}"
    );
    for leak in [key, "example.com", "example.net", BOUNCE_REASON] {
        assert!(
            !message.contains(leak),
            "{case}: the answer quotes the key or the body"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sendgrid_events_through_the_endpoint_are_kept_once_counted_streamed_and_in_health() {
    let python = match python_with(&["cryptography", "sendgrid"]) {
        Ok(python) => python,
        Err(reason) => {
            unavailable(&reason);
            return;
        }
    };
    let now = Utc::now().timestamp();
    let batch = sendgrid_batch(now);
    // An attacker turning the bounce into a delivery.
    assert_eq!(batch.matches(r#""event":"bounce""#).count(), 1, "{batch}");
    let tampered = batch.replacen(r#""event":"bounce""#, r#""event":"delivered""#, 1);
    let signed_at = now.to_string();
    let six_minutes_ago = (now - 360).to_string();
    let peer = run_script(
        &python,
        "sendgrid_peer.py",
        &json!({
            "keys": 1,
            "sign": [
                {"key": 0, "timestamp": signed_at, "payload": batch},
                // SendGrid's retry: the same events, signed again.
                {"key": 0, "timestamp": signed_at, "payload": batch},
                {"key": 0, "timestamp": six_minutes_ago, "payload": batch},
            ],
            "verify": [
                {"key": 0, "timestamp": signed_at, "payload": batch, "signature_of": 0},
                {"key": 0, "timestamp": signed_at, "payload": tampered, "signature_of": 0},
            ],
        }),
    )
    .await;
    let key = strings(&peer["public_keys"]).remove(0);
    let signatures = strings(&peer["signatures"]);
    assert_eq!(
        peer["verified"],
        json!([true, false]),
        "SendGrid's own helper takes the signature sent and refuses it over the tampered body"
    );
    assert_ne!(signatures[0], signatures[1], "a fresh ECDSA signature");

    let (log, _log_path, _log_dir) = delivery_log().await;
    let service = start(ServiceSettings {
        webhook_secrets: Arc::new(SendgridKey(key.clone())),
        deliveries: Some(log.clone()),
        ..ServiceSettings::default()
    })
    .await;
    let mut events = Events::open(&service).await;

    // The batch as SendGrid posts it: four reports new (the click is not tracked).
    let (status, body) = service
        .sendgrid(batch.as_bytes(), Some(&signed_at), Some(&signatures[0]))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("JSON"),
        json!({"new": 4, "duplicates": 0, "resent": 0})
    );
    let bounce = log
        .timeline(ProviderKind::Sendgrid, BOUNCED_ID)
        .await
        .expect("read");
    assert_eq!(bounce.len(), 1, "{bounce:?}");
    let bounce = &bounce[0];
    assert_eq!(bounce.status, DeliveryStatus::Bounced);
    assert_eq!(bounce.error_code.as_deref(), Some("5.1.1"));
    assert_eq!(bounce.detail.as_deref(), Some(BOUNCE_REASON));
    assert_eq!(bounce.recipient.as_deref(), Some("nobody@example.net"));
    assert_eq!(bounce.event_id, EVENT_IDS[2]);
    assert_eq!(bounce.source, DeliverySource::SendgridWebhook);
    assert_eq!(bounce.occurred_at.timestamp(), now - 30);
    let delivered: Vec<DeliveryStatus> = log
        .timeline(ProviderKind::Sendgrid, DELIVERED_ID)
        .await
        .expect("read")
        .iter()
        .map(|e| e.status)
        .collect();
    assert_eq!(
        delivered,
        [DeliveryStatus::Accepted, DeliveryStatus::Delivered]
    );

    // SendGrid's retry of the same events (fresh signature, same sg_event_ids): all duplicates.
    let (status, body) = service
        .sendgrid(batch.as_bytes(), Some(&signed_at), Some(&signatures[1]))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("JSON"),
        json!({"new": 0, "duplicates": 4, "resent": 0})
    );

    // Refused before anything is read from them.
    struct Refused<'a> {
        case: &'a str,
        body: &'a str,
        timestamp: Option<&'a str>,
        signature: Option<&'a str>,
        reason: &'a str,
    }
    for refused in [
        Refused {
            case: "tampered body",
            body: &tampered,
            timestamp: Some(&signed_at),
            signature: Some(&signatures[0]),
            reason: "bad_signature",
        },
        Refused {
            case: "signed 6 minutes ago",
            body: &batch,
            timestamp: Some(&six_minutes_ago),
            signature: Some(&signatures[2]),
            reason: "stale",
        },
        Refused {
            case: "no headers",
            body: &batch,
            timestamp: None,
            signature: None,
            reason: "unsigned",
        },
    ] {
        let (status, answer) = service
            .sendgrid(
                refused.body.as_bytes(),
                refused.timestamp,
                refused.signature,
            )
            .await;
        assert_rejected(status, &answer, refused.reason, &key, refused.case);
    }
    // Nothing of them kept.
    assert_eq!(log.delivery_count().await.expect("read"), 4);

    // Counted: each report by provider, status and code; the duplicates; the refusals.
    let m = service.metrics().await;
    let delivery = "msgops_delivery_total";
    for (status, code) in [
        ("accepted", "none"),
        ("delivered", "none"),
        ("bounced", "5.1.1"),
        ("dropped", "5.0.0"),
    ] {
        assert_eq!(
            count(
                &m,
                delivery,
                &[
                    ("provider", "sendgrid"),
                    ("status", status),
                    ("error_code", code)
                ]
            ),
            1.0,
            "{status} {code}"
        );
    }
    assert_eq!(total(&m, delivery, &[]), 4.0);
    assert_eq!(
        count(
            &m,
            "msgops_delivery_duplicates_total",
            &[("source", "sendgrid_webhook")]
        ),
        4.0
    );
    for reason in ["bad_signature", "stale", "unsigned"] {
        assert_eq!(
            count(
                &m,
                "msgops_webhook_rejected_total",
                &[("source", "sendgrid"), ("reason", reason)]
            ),
            1.0,
            "{reason}"
        );
    }
    assert_eq!(total(&m, "msgops_webhook_rejected_total", &[]), 3.0);
    let rate = count(&m, "msgops_delivery_rate", &[("provider", "sendgrid")]);
    assert!((rate - 1.0 / 3.0).abs() < 1e-9, "{rate}");

    // Streamed: the four new reports, and nothing for the retry or the refusals (a code seen
    // afterwards marks the end of what the requests above published).
    service.state.record_code(CodeSeen {
        channel: Channel::Email,
        recipient: Some("ada@example.com".into()),
        candidates: Vec::new(),
        code: "091282".into(),
        source: "backend_log".into(),
        seen_at: Utc::now(),
        expires_at: None,
    });
    let seen = events.until("code_seen").await;
    let reports: Vec<&Value> = seen
        .iter()
        .filter(|(name, _)| name == "delivery_status")
        .map(|(_, data)| data)
        .collect();
    assert_eq!(reports.len(), 4, "{seen:?}");
    assert!(reports.iter().all(|r| r["kind"] == "delivery_status"));
    let mut streamed: Vec<&str> = reports
        .iter()
        .map(|r| r["report"]["event_id"].as_str().expect("event_id"))
        .collect();
    streamed.sort_unstable();
    let mut expected = EVENT_IDS.to_vec();
    expected.sort_unstable();
    assert_eq!(streamed, expected);
    let streamed_bounce = reports
        .iter()
        .find(|r| r["report"]["status"] == "bounced")
        .expect("the bounce streamed");
    assert_eq!(streamed_bounce["report"]["provider"], "sendgrid");
    assert_eq!(streamed_bounce["report"]["provider_message_id"], BOUNCED_ID);
    assert_eq!(streamed_bounce["report"]["error_code"], "5.1.1");
    assert_eq!(streamed_bounce["report"]["detail"], BOUNCE_REASON);

    // Kept: exactly four rows in the database, the four reports.
    let events = all_kept(&log).await;
    assert_eq!(events.len(), 4, "{events:?}");
    let mut kept: Vec<String> = events
        .into_iter()
        .map(|event| {
            assert_eq!(event.provider, ProviderKind::Sendgrid);
            event.event_id
        })
        .collect();
    kept.sort_unstable();
    assert_eq!(kept, expected);

    // Health: the delivery rates by provider, each message counted once by where it ended.
    let (status, health) = service.health().await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["delivery"]["window_secs"], 3600, "{health}");
    let providers = health["delivery"]["providers"]
        .as_array()
        .expect("delivery.providers");
    assert_eq!(providers.len(), 1, "{health}");
    let sendgrid = &providers[0];
    assert_eq!(sendgrid["provider"], "sendgrid");
    assert_eq!(sendgrid["delivered"], 1, "{sendgrid}");
    assert_eq!(sendgrid["failed"], 2, "{sendgrid}");
    assert_eq!(sendgrid["pending"], 0, "{sendgrid}");
    let rate = sendgrid["rate"].as_f64().expect("a rate");
    assert!((rate - 1.0 / 3.0).abs() < 1e-9, "{rate}");
    service.stop().await;

    // No key stored: even a genuine batch is refused, nothing kept.
    let (unkeyed_log, _unkeyed_path, _unkeyed_dir) = delivery_log().await;
    let unkeyed = start(ServiceSettings {
        deliveries: Some(unkeyed_log.clone()),
        ..ServiceSettings::default()
    })
    .await;
    let (status, answer) = unkeyed
        .sendgrid(batch.as_bytes(), Some(&signed_at), Some(&signatures[0]))
        .await;
    assert_rejected(status, &answer, "not_configured", &key, "no key stored");
    let m = unkeyed.metrics().await;
    assert_eq!(
        count(
            &m,
            "msgops_webhook_rejected_total",
            &[("source", "sendgrid"), ("reason", "not_configured")]
        ),
        1.0
    );
    assert_eq!(total(&m, "msgops_delivery_total", &[]), 0.0);
    assert_eq!(unkeyed_log.delivery_count().await.expect("read"), 0);
    assert!(all_kept(&unkeyed_log).await.is_empty());
    unkeyed.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sendgrid_batches_over_64_kib_are_taken_and_over_1_mib_refused_with_413() {
    let python = match python_with(&["cryptography", "sendgrid"]) {
        Ok(python) => python,
        Err(reason) => {
            unavailable(&reason);
            return;
        }
    };
    let now = Utc::now().timestamp();
    let big_events = 400;
    let big = processed_batch(now, 0, big_events);
    assert!(
        big.len() > 64 * 1024 && big.len() < 1024 * 1024,
        "{} bytes",
        big.len()
    );
    let huge = processed_batch(now, big_events, 3600);
    assert!(huge.len() > 1024 * 1024, "{} bytes", huge.len());
    let signed_at = now.to_string();
    let peer = run_script(
        &python,
        "sendgrid_peer.py",
        &json!({
            "keys": 1,
            "sign": [
                {"key": 0, "timestamp": signed_at, "payload": big},
                {"key": 0, "timestamp": signed_at, "payload": huge},
            ],
        }),
    )
    .await;
    let key = strings(&peer["public_keys"]).remove(0);
    let signatures = strings(&peer["signatures"]);
    let service = start(ServiceSettings {
        webhook_secrets: Arc::new(SendgridKey(key)),
        ..ServiceSettings::default()
    })
    .await;

    // Above the API's 64 KiB limit, within the webhooks' 1 MiB: taken whole.
    let (status, body) = service
        .sendgrid(big.as_bytes(), Some(&signed_at), Some(&signatures[0]))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("JSON"),
        json!({"new": big_events, "duplicates": 0, "resent": 0})
    );

    // Over 1 MiB, though genuinely signed: 413, nothing read from it.
    let (status, body) = service
        .sendgrid(huge.as_bytes(), Some(&signed_at), Some(&signatures[1]))
        .await;
    assert_eq!(status, 413, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).expect("a JSON error");
    assert_eq!(answer["code"], "payload_too_large", "{body}");
    let m = service.metrics().await;
    assert_eq!(
        count(
            &m,
            "msgops_delivery_total",
            &[
                ("provider", "sendgrid"),
                ("status", "accepted"),
                ("error_code", "none")
            ]
        ),
        big_events as f64
    );
    assert_eq!(total(&m, "msgops_delivery_total", &[]), big_events as f64);
    let (_, health) = service.health().await;
    assert_eq!(
        health["delivery"]["providers"][0]["pending"], big_events,
        "{health}"
    );
    service.stop().await;
}

// --- SNS with moto --------------------------------------------------------------------------

const SES_BOUNCE_ID: &str = "0100018f5c2b9a7e-msgops-moto-bounce-0000000000";
const OTHER_TOPIC_BOUNCE_ID: &str = "0100018f5c2b9a7e-msgops-moto-other-0000000000";
const DIAGNOSTIC: &str = "smtp; 550 5.1.1 <nobody@example.net>: Recipient address rejected: User unknown in virtual mailbox table";

/// An SES Bounce event record (configuration set event publishing), as SES publishes it.
fn bounce_record(message_id: &str) -> String {
    json!({
        "eventType": "Bounce",
        "bounce": {
            "feedbackId": "0100018f5c2b9c11-8bbf3f0e-2c6b-4e0e-9f5b-1a2b3c4d5e6f-000000",
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [{
                "emailAddress": "nobody@example.net",
                "action": "failed",
                "status": "5.1.1",
                "diagnosticCode": DIAGNOSTIC
            }],
            "timestamp": "2024-05-01T10:00:03.120Z",
            "reportingMTA": "dns; a8-1.smtp-out.amazonses.com"
        },
        "mail": {
            "timestamp": "2024-05-01T10:00:01.000Z",
            "source": "otp@example.com",
            "sourceArn": "arn:aws:ses:us-east-1:123456789012:identity/example.com",
            "sendingAccountId": "123456789012",
            "messageId": message_id,
            "destination": ["nobody@example.net"],
            "headersTruncated": false,
            "commonHeaders": {
                "from": ["otp@example.com"],
                "to": ["nobody@example.net"],
                "subject": "Your verification code"
            },
            "tags": {"ses:configuration-set": ["msgops"]}
        }
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ses_bounce_published_by_moto_reaches_the_sns_endpoint_verified_and_kept() {
    let moto = match start_moto() {
        Ok(moto) => moto,
        Err(reason) => {
            unavailable(&reason);
            return;
        }
    };
    let sns = moto_sns(&moto);
    let mut topics = Vec::new();
    for name in ["msgops-ses-events", "someone-elses-events"] {
        topics.push(
            sns.create_topic()
                .name(name)
                .send()
                .await
                .expect("moto creates the topic")
                .topic_arn
                .expect("a TopicArn"),
        );
    }
    let (configured, other) = (topics[0].clone(), topics[1].clone());
    let forwarder = CertForwarder::start(moto.url()).await;
    let (log, _log_path, _log_dir) = delivery_log().await;
    let service = start(ServiceSettings {
        webhooks: WebhookSettings {
            sns: SnsSettings {
                topic_arns: vec![configured.clone()],
                fetch_base_override: Some(forwarder.url().to_owned()),
                ..SnsSettings::default()
            },
            ..WebhookSettings::default()
        },
        deliveries: Some(log.clone()),
        ..ServiceSettings::default()
    })
    .await;
    // Both topics deliver to the service's own endpoint (moto confirms HTTP subscriptions by
    // itself).
    let endpoint = format!("{}/api/v1/webhooks/aws/sns", service.base);
    for topic in [&configured, &other] {
        sns.subscribe()
            .topic_arn(topic)
            .protocol("http")
            .endpoint(&endpoint)
            .send()
            .await
            .expect("moto subscribes the service");
    }

    // The bounce, without a Subject (moto leaves Subject out of what it signs).
    let notification_id = sns
        .publish()
        .topic_arn(&configured)
        .message(bounce_record(SES_BOUNCE_ID))
        .send()
        .await
        .expect("moto publishes")
        .message_id
        .expect("a MessageId");
    let deadline = Instant::now() + PATIENCE;
    let kept = loop {
        let kept = log
            .timeline(ProviderKind::Ses, SES_BOUNCE_ID)
            .await
            .expect("read");
        if !kept.is_empty() {
            break kept;
        }
        assert!(
            Instant::now() < deadline,
            "no report kept within {PATIENCE:?}\nmetrics:\n{}\nmoto log:\n{}",
            service
                .metrics_text()
                .await
                .lines()
                .filter(|l| l.starts_with("msgops_webhook") || l.starts_with("msgops_delivery"))
                .collect::<Vec<_>>()
                .join("\n"),
            moto.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(kept.len(), 1, "{kept:?}");
    let report = &kept[0];
    assert_eq!(report.provider, ProviderKind::Ses);
    assert_eq!(report.status, DeliveryStatus::Bounced);
    assert_eq!(report.error_code.as_deref(), Some("Permanent/General"));
    assert_eq!(report.detail.as_deref(), Some(DIAGNOSTIC));
    assert_eq!(report.recipient.as_deref(), Some("nobody@example.net"));
    assert_eq!(report.event_id, notification_id);
    assert_eq!(report.source, DeliverySource::SnsWebhook);
    assert_eq!(
        report
            .occurred_at
            .to_rfc3339_opts(SecondsFormat::Millis, true),
        "2024-05-01T10:00:03.120Z"
    );
    // Verified with moto's certificate, asked for by the SNS host of its SigningCertURL.
    let fetched = forwarder.requests();
    assert_eq!(fetched.len(), 1, "{fetched:?}");
    assert!(
        fetched[0].path().starts_with("/SimpleNotificationService-")
            && fetched[0].path().ends_with(".pem"),
        "{fetched:?}"
    );
    assert_eq!(
        fetched[0].host.as_deref(),
        Some("sns.us-east-1.amazonaws.com")
    );
    let m = service.metrics().await;
    assert_eq!(
        count(
            &m,
            "msgops_delivery_total",
            &[
                ("provider", "ses"),
                ("status", "bounced"),
                ("error_code", "Permanent/General")
            ]
        ),
        1.0
    );
    assert_eq!(total(&m, "msgops_webhook_rejected_total", &[]), 0.0);

    // A topic not configured: moto's POST is refused, nothing kept, no certificate fetched.
    sns.publish()
        .topic_arn(&other)
        .message(bounce_record(OTHER_TOPIC_BOUNCE_ID))
        .send()
        .await
        .expect("moto publishes");
    let deadline = Instant::now() + PATIENCE;
    loop {
        let m = service.metrics().await;
        let refused = count(
            &m,
            "msgops_webhook_rejected_total",
            &[("source", "sns"), ("reason", "unknown_topic")],
        );
        if refused >= 1.0 {
            assert_eq!(refused, 1.0);
            assert_eq!(total(&m, "msgops_webhook_rejected_total", &[]), 1.0);
            assert_eq!(total(&m, "msgops_delivery_total", &[]), 1.0);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "moto's POST for {other} was not refused within {PATIENCE:?}\nmoto log:\n{}",
            moto.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(log
        .timeline(ProviderKind::Ses, OTHER_TOPIC_BOUNCE_ID)
        .await
        .expect("read")
        .is_empty());
    assert_eq!(log.delivery_count().await.expect("read"), 1);
    assert_eq!(forwarder.requests().len(), 1);
    service.stop().await;
}

// --- SNS SubscriptionConfirmation with the scripted signer -----------------------------------

const CERT_PATH: &str = "/SimpleNotificationService-01d088a6f77103d0fe307c0069e40ed6.pem";
const CONFIGURED_TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:msgops-ses-events";
const OTHER_TOPIC: &str = "arn:aws:sns:us-east-1:210987654321:someone-elses-events";
const CONFIRM_TOKEN: &str = "2336412f37fb687f5d51e6e2425dacbba9b0a4e5a1b0ed0d4d1f0b9c8e7d6c5b4a39281706f5e4d3c2b1a0918273645546372819";
const OTHER_TOKEN: &str = "2336412f37fb687f5d51e6e2425dacbbb0c1d2e3f405162738495a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d";
const FORGED_TOKEN: &str = "2336412f37fb687f5d51e6e2425dacbbffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100ffeeddcc";

/// A SubscriptionConfirmation's fields, as SNS sends them (before signing).
fn confirmation(topic: &str, token: &str, message_id: &str, timestamp: &str) -> Value {
    json!({
        "Type": "SubscriptionConfirmation",
        "MessageId": message_id,
        "Token": token,
        "TopicArn": topic,
        "Message": format!("You have chosen to subscribe to the topic {topic}.\nTo confirm the subscription, visit the SubscribeURL included in this message."),
        "SubscribeURL": format!(
            "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={}&Token={token}",
            topic.replace(':', "%3A")
        ),
        "Timestamp": timestamp,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_confirmations_are_confirmed_only_for_the_configured_topics() {
    let python = match python_with(&["cryptography"]) {
        Ok(python) => python,
        Err(reason) => {
            unavailable(&reason);
            return;
        }
    };
    let cert_url = format!("https://sns.us-east-1.amazonaws.com{CERT_PATH}");
    let timestamp = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    let signed = run_script(
        &python,
        "sns_signer.py",
        &json!({"messages": [
            {
                "fields": confirmation(CONFIGURED_TOPIC, CONFIRM_TOKEN, "165545c9-2a5c-472c-8df2-7ff2be2b3b1b", &timestamp),
                "version": "1",
                "cert_url": cert_url,
            },
            {
                "fields": confirmation(OTHER_TOPIC, OTHER_TOKEN, "4b7b1c02-8e1e-4a51-9d2e-3b0f1f5d7a21", &timestamp),
                "version": "2",
                "cert_url": cert_url,
            },
            {
                "fields": confirmation(CONFIGURED_TOPIC, FORGED_TOKEN, "9f3c6d1e-0b7a-4c58-a2e4-6d8f0c1b2a39", &timestamp),
                "version": "2",
                "key": "other",
                "cert_url": cert_url,
            },
        ]}),
    )
    .await;
    let bodies = strings(&signed["bodies"]);
    let cert_pem = signed["cert_pem"].as_str().expect("cert_pem").to_owned();
    let sns_host = FakeSnsHost::start(CERT_PATH, cert_pem).await;
    let service = start(ServiceSettings {
        webhooks: WebhookSettings {
            sns: SnsSettings {
                topic_arns: vec![CONFIGURED_TOPIC.to_owned()],
                fetch_base_override: Some(sns_host.url().to_owned()),
                ..SnsSettings::default()
            },
            ..WebhookSettings::default()
        },
        ..ServiceSettings::default()
    })
    .await;

    // The configured topic: verified, then confirmed by GETting its SubscribeURL, with its
    // Token, from the SNS host it names; answered only once confirmed.
    let (status, answer) = service.sns(&bodies[0], "SubscriptionConfirmation").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, json!({"new": 0, "duplicates": 0, "resent": 0}));
    let confirmations = sns_host.confirmations();
    assert_eq!(confirmations.len(), 1, "{:?}", sns_host.requests());
    let confirmed = &confirmations[0];
    assert_eq!(confirmed.path(), "/");
    assert_eq!(confirmed.query("Token").as_deref(), Some(CONFIRM_TOKEN));
    assert_eq!(
        confirmed.query("TopicArn").as_deref(),
        Some(CONFIGURED_TOPIC)
    );
    assert_eq!(
        confirmed.host.as_deref(),
        Some("sns.us-east-1.amazonaws.com")
    );
    let certificate_gets: Vec<_> = sns_host
        .requests()
        .into_iter()
        .filter(|f| f.path() == CERT_PATH)
        .collect();
    assert_eq!(certificate_gets.len(), 1, "{certificate_gets:?}");
    assert_eq!(
        certificate_gets[0].host.as_deref(),
        Some("sns.us-east-1.amazonaws.com")
    );

    // Another topic, genuinely signed: refused, never confirmed (nothing fetched for it).
    let before = sns_host.requests().len();
    let (status, answer) = service.sns(&bodies[1], "SubscriptionConfirmation").await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(answer["code"], "webhook_rejected");
    assert_eq!(sns_host.requests().len(), before);

    // The configured topic, signed with another key: refused, never confirmed.
    let (status, answer) = service.sns(&bodies[2], "SubscriptionConfirmation").await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(answer["code"], "webhook_rejected");
    assert_eq!(sns_host.confirmations().len(), 1);
    for leak in [OTHER_TOKEN, FORGED_TOKEN, CONFIRM_TOKEN] {
        assert!(
            !answer.to_string().contains(leak),
            "the answer quotes a token"
        );
    }

    let m = service.metrics().await;
    for reason in ["unknown_topic", "bad_signature"] {
        assert_eq!(
            count(
                &m,
                "msgops_webhook_rejected_total",
                &[("source", "sns"), ("reason", reason)]
            ),
            1.0,
            "{reason}"
        );
    }
    assert_eq!(total(&m, "msgops_webhook_rejected_total", &[]), 2.0);
    assert_eq!(total(&m, "msgops_delivery_total", &[]), 0.0);
    service.stop().await;
}
