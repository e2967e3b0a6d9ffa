//! The service against a real server on 127.0.0.1:0 with emulated providers: the health JSON
//! against the backend's shape (incident.md), 200/503, Prometheus metrics, authentication,
//! idempotency, recipient limits, server-sent events, shutdown.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use msgops_core::config::Config;
use msgops_core::scripted::{ScriptedProvider, Step};
use msgops_core::{Channel, Messaging, ProviderKind};
use msgops_credentials::SecretString;
use msgops_service::emulated::install_emulated_providers;
use msgops_service::{
    serve, ApiAuth, AuthScope, CodeSeen, LimitsConfig, ServiceError, ServiceSettings, ServiceState,
};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "msgops_test_token_0123456789abcdef";
const NUMBER: &str = "+14165550123";

struct Service {
    base: String,
    state: ServiceState,
    providers: BTreeMap<String, Arc<ScriptedProvider>>,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), ServiceError>>,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

struct Setup {
    failing: Vec<&'static str>,
    scripted: Vec<(&'static str, ScriptedProvider)>,
    settings: ServiceSettings,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            failing: Vec::new(),
            scripted: Vec::new(),
            settings: ServiceSettings {
                auth: ApiAuth::new(Some(SecretString::from(TOKEN)), AuthScope::SendsAndEvents),
                ..ServiceSettings::default()
            },
        }
    }
}

async fn start(setup: Setup) -> Service {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::default();
    config.console.log_path = dir.path().join("console-sms.log");
    let messaging = Arc::new(Messaging::from_config(&config));
    let failing: Vec<ProviderKind> = setup
        .failing
        .iter()
        .map(|s| s.parse::<ProviderKind>().expect("a provider id"))
        .collect();
    let mut providers: BTreeMap<String, Arc<ScriptedProvider>> =
        install_emulated_providers(&messaging, &failing)
            .into_iter()
            .map(|(id, p)| (id.to_string(), p))
            .collect();
    for (id, provider) in setup.scripted {
        let provider = Arc::new(provider);
        let id = id.parse::<ProviderKind>().expect("a provider id");
        if !messaging
            .sms
            .set_provider(&id, Some(provider.clone()), "test")
        {
            assert!(messaging
                .email
                .set_provider(&id, Some(provider.clone()), "test"));
        }
        providers.insert(id.to_string(), provider);
    }
    let state = ServiceState::new(messaging, setup.settings);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(serve(listener, state.clone(), shutdown.clone()));
    Service {
        base,
        state,
        providers,
        shutdown,
        task,
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

impl Service {
    fn calls(&self, id: &str) -> u64 {
        self.providers[id].calls()
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("get");
        let status = r.status().as_u16();
        (status, r.json().await.expect("json"))
    }

    fn post(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .json(body)
    }

    async fn sms(&self, to: &str) -> (u16, Value) {
        let r = self
            .post(
                "/api/v1/messages/sms",
                &json!({"to": to, "body": "Your code is 091282", "code": "091282"}),
            )
            .send()
            .await
            .expect("post");
        let status = r.status().as_u16();
        (status, r.json().await.expect("json"))
    }

    async fn metrics(&self) -> prometheus_parse::Scrape {
        let text = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
            .expect("valid Prometheus text")
    }

    /// Waits until the metrics task has counted `sends` finished sends.
    async fn metrics_after(&self, sends: f64) -> prometheus_parse::Scrape {
        for _ in 0..100 {
            let scrape = self.metrics().await;
            let counted: f64 = scrape
                .samples
                .iter()
                .filter(|s| s.metric == "msgops_sends_total")
                .map(|s| value(&s.value))
                .sum();
            if counted >= sends {
                return scrape;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the metrics never counted {sends} sends");
    }

    async fn stop(self) -> ServiceState {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("shut down in time")
            .expect("join")
            .expect("serve ended well");
        self.state
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

fn sample(scrape: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| value(&s.value))
        .unwrap_or_else(|| panic!("no sample {metric} {labels:?}"))
}

#[tokio::test]
async fn health_json_has_the_backends_shape_field_by_field() {
    let service = start(Setup::default()).await;
    let (status, body) = service.get("/api/v1/health/messaging").await;
    assert_eq!(status, 200);
    let object = body.as_object().expect("object");
    assert!(object.contains_key("email_providers") && object.contains_key("sms_providers"));
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "chains",
            "delivery",
            "email_providers",
            "ok",
            "sms_providers",
            "state"
        ],
        "the backend's two lists, and msgops' chain status, delivery rates and state beside them"
    );
    assert_eq!(
        body["state"], "local",
        "[state] backend = \"memory\": this process's own"
    );
    // No reports yet: the window, and no provider rows.
    assert_eq!(body["delivery"]["window_secs"], 3600);
    assert_eq!(body["delivery"]["providers"], serde_json::json!([]));
    assert_eq!(body["chains"]["sms"]["status"], "healthy");
    assert_eq!(body["ok"], true);
    let backend_fields = |list: &str| -> Vec<(String, String, bool)> {
        body[list]
            .as_array()
            .expect("array")
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().expect("name is a string").to_string(),
                    p["priority"]
                        .as_str()
                        .expect("priority is a string")
                        .to_string(),
                    p["is_healthy"].as_bool().expect("is_healthy is a boolean"),
                )
            })
            .collect()
    };
    let t = |n: &str, p: &str| (n.to_string(), p.to_string(), true);
    assert_eq!(
        backend_fields("sms_providers"),
        vec![
            t("AWSSNSProvider", "PRIMARY"),
            t("TwilioSMSProvider", "SECONDARY"),
            t("ConsoleSMSProvider", "FALLBACK"),
        ]
    );
    assert_eq!(
        backend_fields("email_providers"),
        vec![
            t("AWSSESProvider", "PRIMARY"),
            t("SendGridEmailProvider", "SECONDARY"),
            t("SMTPEmailProvider", "FALLBACK"),
        ]
    );
    // The richer fields sit alongside, never instead.
    let sns = &body["sms_providers"][0];
    assert_eq!(sns["id"], "sns");
    assert_eq!(sns["breaker_state"], "CLOSED");
    assert_eq!(sns["configured"], true);
    assert_eq!(sns["failure_threshold"], 5);
    assert_eq!(sns["cost_per_message_usd"], 0.00645);
    service.stop().await;
}

#[tokio::test]
async fn health_is_503_once_a_chain_has_no_healthy_provider_left() {
    let setup = Setup {
        failing: vec!["ses", "sendgrid", "smtp"],
        ..Setup::default()
    };
    let service = start(setup).await;
    // Five failed emails open SES (5 failures), SendGrid (3) and SMTP (5).
    for n in 0..5 {
        let r = service
            .post(
                "/api/v1/messages/email",
                &json!({"to": format!("user{n}@example.com"), "subject": "Code", "body": "Your code is 091282"}),
            )
            .send()
            .await
            .expect("post");
        assert_eq!(r.status().as_u16(), 502, "a failed send is a bad gateway");
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["outcome"]["status"], "failed");
        assert_eq!(body["delivered_by_priority"], Value::Null);
    }
    let (status, body) = service.get("/api/v1/health/messaging").await;
    assert_eq!(status, 503);
    for p in body["email_providers"].as_array().expect("array") {
        assert_eq!(p["is_healthy"], false, "{p}");
        assert_eq!(p["breaker_state"], "OPEN", "{p}");
    }
    assert!(body["sms_providers"]
        .as_array()
        .expect("array")
        .iter()
        .all(|p| p["is_healthy"] == true));
    // Open breakers cost no call: a sixth email fails without touching a provider.
    let before = service.calls("ses") + service.calls("sendgrid") + service.calls("smtp");
    let r = service
        .post(
            "/api/v1/messages/email",
            &json!({"to": "late@example.com", "subject": "Code", "body": "x"}),
        )
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 502);
    let after = service.calls("ses") + service.calls("sendgrid") + service.calls("smtp");
    assert_eq!(before, after);
    service.stop().await;
}

#[tokio::test]
async fn a_disabled_fallback_and_failing_sms_providers_make_health_503() {
    let setup = Setup {
        failing: vec!["sns", "twilio"],
        ..Setup::default()
    };
    let service = start(setup).await;
    let console = ProviderKind::Console;
    service
        .state
        .messaging()
        .sms
        .set_enabled(&console, false, "test");
    for n in 0..5 {
        let (status, _) = service.sms(&format!("+1416555010{n}")).await;
        assert_eq!(status, 502);
    }
    let (status, body) = service.get("/api/v1/health/messaging").await;
    assert_eq!(status, 503);
    assert!(body["sms_providers"]
        .as_array()
        .expect("array")
        .iter()
        .all(|p| p["is_healthy"] == false));
    assert_eq!(body["chains"]["sms"]["status"], "down");
    service
        .state
        .messaging()
        .sms
        .set_enabled(&console, true, "test");
    // The Console back, and only it: the incident itself. Degraded, never green.
    let (status, body) = service.get("/api/v1/health/messaging").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["chains"]["sms"]["status"], "degraded");
    assert_eq!(body["chains"]["sms"]["can_deliver"], json!(["console"]));
    assert_eq!(body["chains"]["email"]["status"], "healthy");
    assert_eq!(body["ok"], false);
    service.stop().await;
}

/// On-call controls over the API: token required, the breaker moves at once, and each one is
/// in the operations audit trail with the client's address and what it declared.
#[tokio::test]
async fn breaker_controls_need_the_token_act_at_once_and_are_audited() {
    let audit_dir = tempfile::tempdir().expect("tempdir");
    let log = msgops_audit::OperationsLog::in_dir(audit_dir.path());
    let mut setup = Setup {
        failing: vec!["twilio"],
        ..Setup::default()
    };
    setup.settings.operations = Some(log.clone());
    let service = start(setup).await;
    service
        .state
        .messaging()
        .sms
        .set_enabled(&ProviderKind::Sns, false, "test");
    for n in 0..3 {
        assert_eq!(service.sms(&format!("+1416555020{n}")).await.0, 200);
    }
    let (_, health) = service.get("/api/v1/health/messaging").await;
    assert_eq!(health["sms_providers"][1]["breaker_state"], "OPEN");

    let url = |what: &str| format!("{}/api/v1/providers/{what}", service.base);
    // No token: refused, nothing moves, nothing recorded.
    let r = service
        .http
        .post(url("twilio/reset"))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 401);
    assert!(log.recent(10).expect("audit").is_empty());
    // Unknown provider or control: 404 with the choices.
    for (what, says) in [
        ("pigeon/reset", "sns, twilio"),
        ("twilio/kick", "reset, trial or probe"),
    ] {
        let r = service
            .http
            .post(url(what))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("post");
        assert_eq!(r.status().as_u16(), 404);
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["code"], "not_found");
        assert!(
            body["message"].as_str().unwrap_or_default().contains(says),
            "{body}"
        );
    }
    // Trial: OPEN → HALF_OPEN now.
    let r = service
        .http
        .post(url("twilio/trial"))
        .bearer_auth(TOKEN)
        .header("X-Msgops-Actor", "cli ops@laptop")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["transition"]["from"], "OPEN");
    assert_eq!(body["transition"]["to"], "HALF_OPEN");
    assert_eq!(body["state"], "HALF_OPEN");
    // Reset: CLOSED, the failures forgotten.
    let r = service
        .http
        .post(url("twilio/reset"))
        .bearer_auth(TOKEN)
        .header("X-Msgops-Actor", "cli ops@laptop")
        .send()
        .await
        .expect("post");
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["state"], "CLOSED", "{body}");
    let reason = body["transition"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("reset by cli ops@laptop@127.0.0.1:"),
        "{reason}"
    );
    let (_, health) = service.get("/api/v1/health/messaging").await;
    assert_eq!(health["sms_providers"][1]["breaker_state"], "CLOSED");
    assert_eq!(health["sms_providers"][1]["consecutive_failures"], 0);
    // Probe: answered with its result, the breaker untouched.
    let r = service
        .http
        .post(url("console/probe"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("post");
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["probe"]["ok"], true, "{body}");
    assert_eq!(body["transition"], Value::Null);

    let entries = log.recent(10).expect("audit");
    let summary: Vec<(String, String, bool)> = entries
        .iter()
        .map(|e| (format!("{:?}", e.operation), e.provider.to_string(), e.ok))
        .collect();
    assert_eq!(
        summary,
        [
            ("Probe".to_string(), "console".to_string(), true),
            ("BreakerReset".to_string(), "twilio".to_string(), true),
            ("BreakerTrial".to_string(), "twilio".to_string(), true),
        ]
    );
    let reset = &entries[1];
    assert_eq!(reset.actor.via, msgops_audit::Via::Api);
    assert_eq!(reset.actor.user.as_deref(), Some("cli ops@laptop"));
    assert!(
        reset.actor.host.starts_with("127.0.0.1:"),
        "{:?}",
        reset.actor
    );
    assert_eq!(reset.detail, "HALF_OPEN → CLOSED");
    service.stop().await;
}

#[tokio::test]
async fn metrics_parse_and_count_sends_attempts_failovers_cost_and_breakers() {
    let setup = Setup {
        failing: vec!["sns"],
        ..Setup::default()
    };
    let service = start(setup).await;
    for n in 0..5 {
        let (status, body) = service.sms(&format!("+1416555020{n}")).await;
        assert_eq!(status, 200);
        assert_eq!(body["outcome"]["provider"], "twilio");
        assert_eq!(body["delivered_by_priority"], "SECONDARY");
        assert_eq!(body["cost_usd"], 0.0075);
    }
    service.state.record_code(CodeSeen {
        channel: Channel::Sms,
        recipient: Some(NUMBER.into()),
        candidates: Vec::new(),
        code: "091282".into(),
        source: "backend_log".into(),
        seen_at: chrono::Utc::now(),
        expires_at: None,
    });
    let m = service.metrics_after(5.0).await;
    let sms = ("channel", "sms");
    assert_eq!(
        sample(
            &m,
            "msgops_sends_total",
            &[sms, ("provider", "twilio"), ("outcome", "delivered")]
        ),
        5.0
    );
    assert_eq!(
        sample(
            &m,
            "msgops_provider_attempts_total",
            &[
                sms,
                ("provider", "sns"),
                ("outcome", "failed"),
                ("error_kind", "authentication")
            ]
        ),
        5.0
    );
    assert_eq!(
        sample(
            &m,
            "msgops_failovers_total",
            &[sms, ("from", "sns"), ("reason", "authentication")]
        ),
        5.0
    );
    let cost = sample(&m, "msgops_cost_usd_total", &[sms, ("provider", "twilio")]);
    assert!((cost - 0.0375).abs() < 1e-9, "{cost}");
    // Five authentication failures open SNS's breaker.
    assert_eq!(
        sample(&m, "msgops_breaker_state", &[("provider", "sns")]),
        1.0
    );
    assert_eq!(
        sample(&m, "msgops_breaker_state", &[("provider", "twilio")]),
        0.0
    );
    assert_eq!(
        sample(
            &m,
            "msgops_breaker_transitions_total",
            &[("provider", "sns"), ("to", "OPEN")]
        ),
        1.0
    );
    assert_eq!(
        sample(&m, "msgops_provider_healthy", &[("provider", "sns")]),
        0.0
    );
    assert_eq!(
        sample(
            &m,
            "msgops_codes_seen_total",
            &[sms, ("source", "backend_log")]
        ),
        1.0
    );
    assert_eq!(sample(&m, "msgops_chain_can_deliver", &[sms]), 1.0);
    // The latency histogram: every attempt lands in +Inf and the count matches.
    let histogram = m
        .samples
        .iter()
        .find(|s| {
            s.metric == "msgops_provider_attempt_duration_seconds"
                && s.labels.get("provider") == Some("twilio")
        })
        .expect("histogram");
    match &histogram.value {
        prometheus_parse::Value::Histogram(buckets) => {
            let inf = buckets.last().expect("buckets");
            assert!(inf.less_than.is_infinite());
            assert_eq!(inf.count, 5.0);
        }
        other => panic!("not a histogram: {other:?}"),
    }
    service.stop().await;
}

#[tokio::test]
async fn sends_without_or_with_a_wrong_token_are_refused_and_reach_no_provider() {
    let service = start(Setup::default()).await;
    let url = format!("{}/api/v1/messages/sms", service.base);
    let body = json!({"to": NUMBER, "body": "Your code is 091282"});
    let r = service
        .http
        .post(&url)
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    assert_eq!(
        r.json::<Value>().await.expect("json")["code"],
        "unauthorized"
    );
    let r = service
        .http
        .post(&url)
        .bearer_auth("msgops_test_token_0123456789abcdeX")
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 401);
    let r = service
        .http
        .get(format!("{}/api/v1/events", service.base))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 401, "the event stream carries codes");
    assert_eq!(service.calls("sns"), 0);
    // On loopback the monitoring endpoints stay open.
    assert_eq!(service.get("/api/v1/health/messaging").await.0, 200);
    service.stop().await;
}

#[tokio::test]
async fn with_auth_on_everything_even_health_needs_the_token() {
    let mut setup = Setup::default();
    setup.settings.auth = ApiAuth::new(Some(SecretString::from(TOKEN)), AuthScope::Everything);
    let service = start(setup).await;
    for path in [
        "/api/v1/health/messaging",
        "/metrics",
        "/api/v1/openapi.json",
    ] {
        let r = service
            .http
            .get(format!("{}{path}", service.base))
            .send()
            .await
            .expect("get");
        assert_eq!(r.status().as_u16(), 401, "{path}");
        let r = service
            .http
            .get(format!("{}{path}", service.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("get");
        assert_eq!(r.status().as_u16(), 200, "{path}");
    }
    service.stop().await;
}

#[tokio::test]
async fn without_a_token_sends_are_refused_with_a_way_out() {
    let mut setup = Setup::default();
    setup.settings.auth = ApiAuth::none();
    let service = start(setup).await;
    let (status, body) = service.sms(NUMBER).await;
    assert_eq!(status, 401);
    assert_eq!(body["code"], "auth_not_configured");
    assert!(body["message"]
        .as_str()
        .expect("message")
        .contains("msgops serve --create-token"));
    service.stop().await;
}

#[tokio::test]
async fn listening_beyond_loopback_needs_a_token_on_every_endpoint() {
    let token = || Some(SecretString::from(TOKEN));
    let listener = TcpListener::bind("0.0.0.0:0").await.expect("bind");
    let state = ServiceState::new(
        Arc::new(Messaging::from_config(&Config::default())),
        ServiceSettings {
            auth: ApiAuth::new(token(), AuthScope::SendsAndEvents),
            ..ServiceSettings::default()
        },
    );
    let err = serve(listener, state, CancellationToken::new())
        .await
        .expect_err("refused");
    assert!(
        err.to_string().contains("refusing to listen on 0.0.0.0"),
        "{err}"
    );
    let addr = "0.0.0.0:5024".parse().expect("addr");
    assert!(msgops_service::check_exposure(addr, &ApiAuth::none()).is_err());
    assert!(
        msgops_service::check_exposure(addr, &ApiAuth::new(token(), AuthScope::Everything)).is_ok()
    );
    let loopback = "127.0.0.1:5024".parse().expect("addr");
    assert!(msgops_service::check_exposure(loopback, &ApiAuth::none()).is_ok());
}

#[tokio::test]
async fn a_retry_with_the_same_idempotency_key_gets_the_first_answer_and_sends_once() {
    let service = start(Setup::default()).await;
    let body = json!({"to": NUMBER, "body": "Your code is 091282", "code": "091282"});
    let send = |key: &'static str, body: Value| {
        service
            .post("/api/v1/messages/sms", &body)
            .header("Idempotency-Key", key)
            .send()
    };
    let first = send("otp-1", body.clone()).await.expect("post");
    assert_eq!(first.status().as_u16(), 200);
    assert!(!first.headers().contains_key("idempotent-replayed"));
    let first_body = first.bytes().await.expect("body");
    let again = send("otp-1", body.clone()).await.expect("post");
    assert_eq!(again.status().as_u16(), 200);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(
        again.bytes().await.expect("body"),
        first_body,
        "the very same answer"
    );
    assert_eq!(service.calls("sns"), 1, "sent once");
    // The same key for another message is a client bug.
    let other = send("otp-1", json!({"to": NUMBER, "body": "another"}))
        .await
        .expect("post");
    assert_eq!(other.status().as_u16(), 422);
    assert_eq!(
        other.json::<Value>().await.expect("json")["code"],
        "idempotency_key_reused"
    );
    assert_eq!(service.calls("sns"), 1);
    service.stop().await;
}

#[tokio::test]
async fn concurrent_duplicates_wait_for_the_first_and_the_provider_is_called_once() {
    let setup = Setup {
        scripted: vec![(
            "sns",
            ScriptedProvider::new([], Step::OkAfter(Duration::from_millis(200))),
        )],
        ..Setup::default()
    };
    let service = start(setup).await;
    let body = json!({"to": NUMBER, "body": "Your code is 091282"});
    let requests = (0..5).map(|_| {
        service
            .post("/api/v1/messages/sms", &body)
            .header("Idempotency-Key", "concurrent-1")
            .send()
    });
    let answers = futures_util::future::join_all(requests).await;
    let mut bodies = Vec::new();
    for answer in answers {
        let answer = answer.expect("post");
        assert_eq!(answer.status().as_u16(), 200);
        bodies.push(answer.bytes().await.expect("body"));
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(service.calls("sns"), 1);
    service.stop().await;
}

#[tokio::test]
async fn the_sixth_sms_to_one_number_in_an_hour_is_refused_with_429_and_reaches_no_provider() {
    let service = start(Setup::default()).await;
    for _ in 0..5 {
        assert_eq!(service.sms(NUMBER).await.0, 200);
    }
    let r = service
        .post(
            "/api/v1/messages/sms",
            &json!({"to": NUMBER, "body": "Your code is 123456"}),
        )
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 429);
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((3500..=3600).contains(&retry_after), "{retry_after}");
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["code"], "recipient_limited");
    assert!(body["message"]
        .as_str()
        .expect("message")
        .contains("already received 5 SMS in the last hour"));
    assert_eq!(
        service.calls("sns"),
        5,
        "the sixth never reached a provider"
    );
    // Another number is not affected.
    assert_eq!(service.sms("+14165550999").await.0, 200);
    let m = service.metrics_after(6.0).await;
    assert_eq!(
        sample(
            &m,
            "msgops_recipient_limit_blocks_total",
            &[("channel", "sms"), ("rule", "recipient")]
        ),
        1.0
    );
    service.stop().await;
}

#[tokio::test]
async fn a_country_prefix_limit_refuses_the_numbers_beyond_it() {
    let mut setup = Setup::default();
    setup.settings.limits = LimitsConfig {
        sms_prefixes: vec![msgops_service::PrefixRule {
            prefix: "+234".into(),
            rule: msgops_service::LimitRule::per_hour(2),
        }],
        ..LimitsConfig::default()
    };
    let service = start(setup).await;
    assert_eq!(service.sms("+2348031234501").await.0, 200);
    assert_eq!(service.sms("+2348031234502").await.0, 200);
    let (status, body) = service.sms("+2348031234503").await;
    assert_eq!(status, 429);
    assert!(body["message"].as_str().expect("message").contains("+234"));
    assert_eq!(service.calls("sns"), 2);
    service.stop().await;
}

#[tokio::test]
async fn invalid_requests_are_refused_before_any_provider() {
    let service = start(Setup::default()).await;
    for body in [
        json!({"to": "4165550123", "body": "x"}),
        json!({"to": NUMBER, "body": "  "}),
        json!({"to": NUMBER, "body": "x", "code": "12"}),
        json!({"to": NUMBER, "body": "x", "extra": 1}),
        json!({"to": NUMBER}),
        json!([1, 2]),
    ] {
        let r = service
            .post("/api/v1/messages/sms", &body)
            .send()
            .await
            .expect("post");
        assert_eq!(r.status().as_u16(), 400, "{body}");
        assert_eq!(r.json::<Value>().await.expect("json")["code"], "validation");
    }
    let r = service
        .post(
            "/api/v1/messages/email",
            &json!({"to": "ops@example.com", "subject": "a\r\nBcc: x@evil.test", "body": "x"}),
        )
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 400, "header injection in the subject");
    let r = service
        .post(
            "/api/v1/messages/sms",
            &json!({"to": NUMBER, "body": "x".repeat(70_000)}),
        )
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 413);
    assert_eq!(service.calls("sns") + service.calls("ses"), 0);
    service.stop().await;
}

#[tokio::test]
async fn the_event_stream_carries_sends_blocks_and_codes() {
    let mut setup = Setup::default();
    setup.settings.limits.sms_per_recipient = Some(msgops_service::LimitRule::per_hour(1));
    let service = start(setup).await;
    let mut stream = service
        .http
        .get(format!("{}/api/v1/events", service.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("events");
    assert_eq!(stream.status().as_u16(), 200);
    assert!(stream.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/event-stream"));
    // Give the handler a moment to subscribe before anything happens.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(service.sms(NUMBER).await.0, 200);
    assert_eq!(service.sms(NUMBER).await.0, 429);
    service.state.record_code(CodeSeen {
        channel: Channel::Sms,
        recipient: Some(NUMBER.into()),
        candidates: Vec::new(),
        code: "091282".into(),
        source: "backend_log".into(),
        seen_at: chrono::Utc::now(),
        expires_at: None,
    });
    let mut text = String::new();
    let wanted = [
        "event: send_finished",
        "event: recipient_blocked",
        "event: code_seen",
    ];
    let read = async {
        while !wanted.iter().all(|w| text.contains(w)) {
            match stream.chunk().await.expect("chunk") {
                Some(chunk) => text.push_str(&String::from_utf8_lossy(&chunk)),
                None => break,
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .unwrap_or_else(|_| panic!("events missing from:\n{text}"));
    let send_finished = text
        .split("\n\n")
        .find(|e| e.starts_with("event: send_finished"))
        .expect("send_finished");
    let data: Value = serde_json::from_str(
        send_finished
            .lines()
            .find_map(|l| l.strip_prefix("data: "))
            .expect("data line"),
    )
    .expect("json");
    assert_eq!(data["kind"], "send_finished");
    assert_eq!(data["record"]["recipient"], NUMBER);
    assert_eq!(data["record"]["outcome"]["provider"], "sns");
    // Shutdown ends the stream instead of hanging on it.
    let state = service.stop().await;
    assert_eq!(state.sends_in_flight(), 0);
}

#[tokio::test]
async fn shutdown_lets_a_send_under_way_finish() {
    let setup = Setup {
        scripted: vec![(
            "sns",
            ScriptedProvider::new([], Step::OkAfter(Duration::from_millis(300))),
        )],
        ..Setup::default()
    };
    let service = start(setup).await;
    let request = service
        .post(
            "/api/v1/messages/sms",
            &json!({"to": NUMBER, "body": "Your code is 091282"}),
        )
        .send();
    let shutdown = service.shutdown.clone();
    let state = service.state.clone();
    let (answer, ()) = tokio::join!(request, async move {
        while state.sends_in_flight() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        shutdown.cancel();
    });
    let answer = answer.expect("answered despite the shutdown");
    assert_eq!(answer.status().as_u16(), 200);
    let state = service.stop().await;
    assert_eq!(state.sends_in_flight(), 0);
    let text = state.metrics().encode(&state.messaging().health());
    assert!(
        text.contains(
            "msgops_sends_total{channel=\"sms\",provider=\"sns\",outcome=\"delivered\"} 1"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn a_send_still_running_after_the_grace_period_is_recorded_as_failed() {
    let mut setup = Setup {
        scripted: vec![("sns", ScriptedProvider::new([], Step::Hang))],
        ..Setup::default()
    };
    setup.settings.shutdown_grace = Some(Duration::from_millis(200));
    let service = start(setup).await;
    let mut events = service.state.subscribe();
    let request = service
        .post(
            "/api/v1/messages/sms",
            &json!({"to": NUMBER, "body": "Your code is 091282"}),
        )
        .send();
    let shutdown = service.shutdown.clone();
    let state = service.state.clone();
    let (answer, ()) = tokio::join!(request, async move {
        while state.sends_in_flight() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        shutdown.cancel();
    });
    let answer = answer.expect("answered");
    assert_eq!(answer.status().as_u16(), 503);
    assert_eq!(
        answer.json::<Value>().await.expect("json")["code"],
        "send_abandoned"
    );
    let state = service.stop().await;
    assert_eq!(state.sends_in_flight(), 0);
    let text = state.metrics().encode(&state.messaging().health());
    assert!(
        text.contains("msgops_sends_abandoned_total{channel=\"sms\"} 1"),
        "{text}"
    );
    let event = events.recv().await.expect("event");
    assert_eq!(event.name(), "send_abandoned");
}

#[tokio::test]
async fn the_openapi_document_describes_every_route_and_the_bearer_scheme() {
    let service = start(Setup::default()).await;
    let (status, doc) = service.get("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().expect("version").starts_with("3."));
    for path in [
        "/api/v1/health/messaging",
        "/metrics",
        "/api/v1/messages/sms",
        "/api/v1/messages/email",
        "/api/v1/events",
        "/api/v1/openapi.json",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} undocumented");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert_eq!(
        doc["paths"]["/api/v1/messages/sms"]["post"]["security"][0]["bearer"],
        json!([])
    );
    service.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Per-recipient limits count only what was delivered (issue 12, point 7)

/// The SMS chain as in the incident with no way out: SNS and Twilio refuse our keys, the
/// Console provider is disabled, so nothing is delivered.
async fn sms_outage(setup: Setup) -> Service {
    let service = start(Setup {
        failing: vec!["sns", "twilio"],
        ..setup
    })
    .await;
    service
        .state
        .messaging()
        .sms
        .set_enabled(&ProviderKind::Console, false, "test");
    service
}

#[tokio::test]
async fn failed_sends_do_not_count_against_the_recipient_limit_and_delivered_ones_do() {
    let service = sms_outage(Setup::default()).await;
    // An outage: more failed sends to one number than its limit (5 an hour) allows.
    for n in 0..8 {
        let (status, body) = service.sms(NUMBER).await;
        assert_eq!(status, 502, "send {n} failed, it was not refused: {body}");
        assert_eq!(body["outcome"]["status"], "failed");
    }
    // The outage ends: the number got nothing, so it may still receive its 5.
    service
        .state
        .messaging()
        .sms
        .set_enabled(&ProviderKind::Console, true, "test");
    for n in 0..5 {
        let (status, body) = service.sms(NUMBER).await;
        assert_eq!(status, 200, "delivered send {n}: {body}");
        assert_eq!(body["outcome"]["provider"], "console");
    }
    // Those were delivered, so they count: the sixth is refused and reaches no provider.
    let before = service.calls("sns") + service.calls("twilio");
    let (status, body) = service.sms(NUMBER).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["code"], "recipient_limited");
    assert_eq!(service.calls("sns") + service.calls("twilio"), before);
    service.stop().await;
}

#[tokio::test]
async fn failed_sends_do_not_count_against_a_country_prefix_limit() {
    let mut setup = Setup::default();
    setup.settings.limits = LimitsConfig {
        sms_prefixes: vec![msgops_service::PrefixRule {
            prefix: "+234".into(),
            rule: msgops_service::LimitRule::per_hour(2),
        }],
        ..LimitsConfig::default()
    };
    let service = sms_outage(setup).await;
    for n in 0..4 {
        assert_eq!(service.sms(&format!("+234803123450{n}")).await.0, 502);
    }
    service
        .state
        .messaging()
        .sms
        .set_enabled(&ProviderKind::Console, true, "test");
    assert_eq!(service.sms("+2348031234511").await.0, 200);
    assert_eq!(service.sms("+2348031234512").await.0, 200);
    let (status, body) = service.sms("+2348031234513").await;
    assert_eq!(status, 429, "{body}");
    assert!(body["message"].as_str().expect("message").contains("+234"));
    service.stop().await;
}

#[tokio::test]
async fn a_failed_send_whose_delivery_is_unknown_still_counts() {
    // Both network providers time out after sending (ambiguous): the SMS may have gone out.
    let mut setup = Setup {
        scripted: vec![
            (
                "sns",
                ScriptedProvider::failing(msgops_core::SendError::ambiguous(
                    "timed out after sending (emulated)",
                )),
            ),
            (
                "twilio",
                ScriptedProvider::failing(msgops_core::SendError::ambiguous(
                    "timed out after sending (emulated)",
                )),
            ),
        ],
        ..Setup::default()
    };
    setup.settings.limits.sms_per_recipient = Some(msgops_service::LimitRule::per_hour(1));
    let service = start(setup).await;
    service
        .state
        .messaging()
        .sms
        .set_enabled(&ProviderKind::Console, false, "test");
    assert_eq!(service.sms(NUMBER).await.0, 502);
    let (status, body) = service.sms(NUMBER).await;
    assert_eq!(status, 429, "{body}");
    service.stop().await;
}

#[tokio::test]
async fn concurrent_sends_to_one_number_never_exceed_its_limit() {
    let setup = Setup {
        scripted: vec![(
            "sns",
            ScriptedProvider::new([], Step::OkAfter(Duration::from_millis(200))),
        )],
        ..Setup::default()
    };
    let service = start(setup).await;
    // Twenty at once, while the first ones are still being sent.
    let answers = futures_util::future::join_all((0..20).map(|_| service.sms(NUMBER))).await;
    let delivered = answers.iter().filter(|(s, _)| *s == 200).count();
    let refused = answers
        .iter()
        .filter(|(s, b)| *s == 429 && b["code"] == "recipient_limited")
        .count();
    assert_eq!(delivered, 5, "{answers:?}");
    assert_eq!(refused, 15, "{answers:?}");
    assert_eq!(
        service.calls("sns"),
        5,
        "the refused ones reached no provider"
    );
    assert_eq!(service.sms(NUMBER).await.0, 429, "the five delivered count");
    service.stop().await;
}

/// Fails every send after `delay`, keeping the most calls it had under way at once.
struct SlowFailure {
    delay: Duration,
    now: std::sync::atomic::AtomicUsize,
    most: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl msgops_core::Provider<msgops_core::SmsMessage> for SlowFailure {
    async fn send(
        &self,
        _message: &msgops_core::SmsMessage,
    ) -> Result<msgops_core::Receipt, msgops_core::SendError> {
        use std::sync::atomic::Ordering;
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        self.now.fetch_sub(1, Ordering::SeqCst);
        Err(msgops_core::SendError::transient("HTTP 503 (emulated)"))
    }

    async fn probe(&self) -> Result<(), msgops_core::SendError> {
        Ok(())
    }
}

#[tokio::test]
async fn concurrent_sends_during_an_outage_never_exceed_the_limit_and_free_their_slots() {
    let service = sms_outage(Setup::default()).await;
    let sns = Arc::new(SlowFailure {
        delay: Duration::from_millis(300),
        now: Default::default(),
        most: Default::default(),
    });
    assert!(service.state.messaging().sms.set_provider(
        &ProviderKind::Sns,
        Some(sns.clone()),
        "test"
    ));
    let answers = futures_util::future::join_all((0..20).map(|_| service.sms(NUMBER))).await;
    let most = sns.most.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        (1..=5).contains(&most),
        "{most} sends to one number under way at once"
    );
    assert!(
        answers.iter().all(|(s, _)| *s == 502 || *s == 429),
        "{answers:?}"
    );
    // None was delivered, so none counts: the number may still receive its five.
    service
        .state
        .messaging()
        .sms
        .set_enabled(&ProviderKind::Console, true, "test");
    for n in 0..5 {
        assert_eq!(service.sms(NUMBER).await.0, 200, "send {n} after the burst");
    }
    assert_eq!(service.sms(NUMBER).await.0, 429);
    service.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Idempotency at shutdown (issue 12, point 8)

#[tokio::test]
async fn a_duplicate_waiting_on_a_send_abandoned_at_shutdown_answers_not_sent_and_never_sends() {
    let mut setup = Setup {
        scripted: vec![("sns", ScriptedProvider::new([], Step::Hang))],
        ..Setup::default()
    };
    setup.settings.shutdown_grace = Some(Duration::from_millis(300));
    let service = start(setup).await;
    let body = json!({"to": NUMBER, "body": "Your code is 091282", "code": "091282"});
    let keyed = || {
        service
            .post("/api/v1/messages/sms", &body)
            .header("Idempotency-Key", "otp-at-shutdown")
            .send()
    };
    let duplicates = async {
        while service.state.sends_in_flight() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        futures_util::future::join_all((0..3).map(|_| keyed())).await
    };
    let shutdown = service.shutdown.clone();
    let state = service.state.clone();
    let (first, duplicates, ()) = tokio::time::timeout(Duration::from_secs(10), async {
        tokio::join!(keyed(), duplicates, async move {
            // All in: the first sending (it hangs), three duplicates waiting on its key.
            while state.duplicates_waiting() < 3 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            shutdown.cancel();
        })
    })
    .await
    .expect("all answered before the connections closed");

    let first = first.expect("first answered");
    assert_eq!(first.status().as_u16(), 503);
    assert_eq!(
        first.json::<Value>().await.expect("json")["code"],
        "send_abandoned"
    );
    for duplicate in duplicates {
        let duplicate = duplicate.expect("duplicate answered");
        assert_eq!(duplicate.status().as_u16(), 503);
        assert!(!duplicate.headers().contains_key("idempotent-replayed"));
        let retry_after: u64 = duplicate.headers()["retry-after"]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("seconds");
        assert!(retry_after >= 1, "{retry_after}");
        let error: Value = duplicate.json().await.expect("json");
        assert_eq!(error["code"], "duplicate_not_sent", "{error}");
        assert_eq!(error["retry_after_secs"], retry_after);
        let message = error["message"].as_str().expect("message");
        assert!(
            message.contains("not sent") && message.contains("retry"),
            "{message}"
        );
    }
    let (sns, twilio) = (service.calls("sns"), service.calls("twilio"));
    let state = service.stop().await;
    assert_eq!(
        (sns, twilio),
        (1, 0),
        "only the first request reached a provider"
    );
    assert_eq!(state.sends_in_flight(), 0);
    assert_eq!(state.duplicates_waiting(), 0);
    let text = state.metrics().encode(&state.messaging().health());
    assert!(
        text.contains("msgops_sends_abandoned_total{channel=\"sms\"} 1"),
        "one send, the first, abandoned: {text}"
    );
}

/// A provider that panics once told to.
struct PanicsWhenTold(Arc<tokio::sync::Notify>);

#[async_trait::async_trait]
impl msgops_core::Provider<msgops_core::SmsMessage> for PanicsWhenTold {
    async fn send(
        &self,
        _message: &msgops_core::SmsMessage,
    ) -> Result<msgops_core::Receipt, msgops_core::SendError> {
        self.0.notified().await;
        panic!("the provider panicked (test)");
    }

    async fn probe(&self) -> Result<(), msgops_core::SendError> {
        Ok(())
    }
}

#[tokio::test]
async fn a_duplicate_of_a_send_whose_task_ended_without_an_answer_is_not_sent_and_its_retry_is() {
    let service = start(Setup::default()).await;
    let sns = ProviderKind::Sns;
    let panic_now = Arc::new(tokio::sync::Notify::new());
    assert!(service.state.messaging().sms.set_provider(
        &sns,
        Some(Arc::new(PanicsWhenTold(panic_now.clone()))),
        "test"
    ));
    let body = json!({"to": NUMBER, "body": "Your code is 091282"});
    let keyed = || {
        service
            .post("/api/v1/messages/sms", &body)
            .header("Idempotency-Key", "otp-panic")
            .send()
    };
    let duplicate = async {
        while service.state.sends_in_flight() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        keyed().await
    };
    let state = service.state.clone();
    let (first, duplicate, ()) = tokio::time::timeout(Duration::from_secs(10), async {
        tokio::join!(keyed(), duplicate, async move {
            while state.duplicates_waiting() == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            panic_now.notify_one();
        })
    })
    .await
    .expect("answered in time");
    assert_eq!(first.expect("first").status().as_u16(), 503);
    let duplicate = duplicate.expect("duplicate");
    assert_eq!(duplicate.status().as_u16(), 503);
    assert_eq!(duplicate.headers()["retry-after"], "1");
    let error: Value = duplicate.json().await.expect("json");
    assert_eq!(error["code"], "duplicate_not_sent", "{error}");
    assert!(
        error["message"]
            .as_str()
            .expect("message")
            .contains("ended without an answer"),
        "{error}"
    );
    assert_eq!(service.state.sends_in_flight(), 0, "the panicked send left");
    assert_eq!(service.calls("twilio"), 0, "the duplicate sent nothing");
    // The key is free again: the retry the answer asked for does the work.
    service.state.messaging().sms.set_provider(
        &sns,
        Some(Arc::new(ScriptedProvider::instant())),
        "test",
    );
    let retry = keyed().await.expect("retry");
    assert_eq!(retry.status().as_u16(), 200);
    assert!(!retry.headers().contains_key("idempotent-replayed"));
    service.stop().await;
}

#[tokio::test]
async fn the_openapi_document_describes_the_not_sent_answer_of_a_duplicate() {
    let service = start(Setup::default()).await;
    let (_, doc) = service.get("/api/v1/openapi.json").await;
    let codes = doc["components"]["schemas"]["ApiErrorCode"].to_string();
    assert!(codes.contains("duplicate_not_sent"), "{codes}");
    for path in ["/api/v1/messages/sms", "/api/v1/messages/email"] {
        let unavailable = &doc["paths"][path]["post"]["responses"]["503"];
        assert!(
            unavailable["description"]
                .as_str()
                .expect("description")
                .contains("duplicate_not_sent"),
            "{path}: {unavailable}"
        );
        assert!(
            unavailable["headers"].get("Retry-After").is_some(),
            "{path}: {unavailable}"
        );
    }
    service.stop().await;
}
