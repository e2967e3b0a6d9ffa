//! Named tokens with scopes against a real server on 127.0.0.1:0 with emulated providers: what
//! `read`, `codes` and `operate` may do and see (no `code_seen` for `read`, in replays too), a
//! token revoked or created in the file honoured on the next request without a restart, the
//! legacy single token as admin, and resuming the event stream with `Last-Event-ID`.
//!
//! Tokens are made with `msgops_service::tokens::create`, as `msgops token create` does, and
//! are never printed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use msgops_audit::{Actor, Via};
use msgops_core::config::Config;
use msgops_core::{Channel, Messaging, ProviderKind};
use msgops_credentials::{ExposeSecret, SecretString};
use msgops_service::emulated::install_emulated_providers;
use msgops_service::tokens::{self, Scope};
use msgops_service::{
    serve, ApiAuth, AuthScope, CodeSeen, ServiceError, ServiceSettings, ServiceState,
};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const LEGACY: &str = "msgops_scopes_test_legacy_token_0123456789abcdef";

struct Service {
    base: String,
    state: ServiceState,
    tokens: PathBuf,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), ServiceError>>,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// A service with the legacy token and the token file of a fresh data directory; `failing`
/// providers answer 401 as in the incident.
async fn start(scope: AuthScope, failing: &[ProviderKind]) -> Service {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::default();
    config.console.log_path = dir.path().join("console-sms.log");
    let messaging = Arc::new(Messaging::from_config(&config));
    install_emulated_providers(&messaging, failing);
    let path = tokens::path_in(dir.path());
    let state = ServiceState::new(
        messaging,
        ServiceSettings {
            auth: ApiAuth::new(Some(SecretString::from(LEGACY)), scope).with_token_file(&path),
            ..ServiceSettings::default()
        },
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(serve(listener, state.clone(), shutdown.clone()));
    Service {
        base,
        state,
        tokens: path,
        shutdown,
        task,
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

impl Service {
    fn create(&self, name: &str, scopes: &[Scope]) -> SecretString {
        tokens::create(&self.tokens, name, scopes, Actor::local(Via::Cli), false)
            .expect("token created")
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let r = request.send().await.expect("get");
        let status = r.status().as_u16();
        let text = r.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("post");
        let status = r.status().as_u16();
        (status, r.json().await.expect("json"))
    }

    async fn sms(&self, token: &str, to: &str) -> (u16, Value) {
        self.post(
            "/api/v1/messages/sms",
            token,
            json!({"to": to, "body": "Your code is 091282", "code": "091282"}),
        )
        .await
    }

    async fn events(&self, token: &str, last_event_id: Option<&str>) -> Events {
        let mut request = self
            .http
            .get(format!("{}/api/v1/events", self.base))
            .bearer_auth(token);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.expect("events");
        assert_eq!(response.status().as_u16(), 200);
        Events {
            response,
            buffer: String::new(),
        }
    }

    fn code(&self, code: &str) {
        self.state.record_code(CodeSeen {
            channel: Channel::Sms,
            recipient: Some("+14165550123".into()),
            candidates: Vec::new(),
            code: code.into(),
            source: "backend_log".into(),
            seen_at: chrono::Utc::now(),
            expires_at: Some(chrono::Utc::now() + chrono::TimeDelta::minutes(10)),
        });
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("shut down in time")
            .expect("join")
            .expect("serve ended well");
    }
}

/// One server-sent event.
#[derive(Debug, Clone)]
struct Sse {
    id: Option<String>,
    event: String,
    data: Value,
}

struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    /// The next event within `wait`; `None` when none came.
    async fn next(&mut self, wait: Duration) -> Option<Sse> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (None, None, String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim_start().to_string());
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = Some(v.trim_start().to_string());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                // Keep-alive comments have neither.
                if let Some(event) = event {
                    let data = serde_json::from_str(&data).expect("each data is JSON");
                    return Some(Sse { id, event, data });
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .ok()?
                .expect("chunk")?;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Events until one named `last` (included).
    async fn until(&mut self, last: &str) -> Vec<Sse> {
        let mut seen = Vec::new();
        loop {
            let event = self
                .next(Duration::from_secs(5))
                .await
                .unwrap_or_else(|| panic!("no `{last}` event; got {seen:#?}"));
            let done = event.event == last;
            seen.push(event);
            if done {
                return seen;
            }
        }
    }
}

fn names(events: &[Sse]) -> Vec<&str> {
    events.iter().map(|e| e.event.as_str()).collect()
}

#[tokio::test]
async fn a_read_token_sees_health_and_events_but_neither_codes_nor_controls() {
    let service = start(AuthScope::Everything, &[]).await;
    let read = service.create("grafana", &[Scope::Read]);
    let read = read.expose_secret();
    let codes = service.create("console", &[Scope::Read, Scope::Codes]);
    let codes = codes.expose_secret();

    for path in [
        "/api/v1/health/messaging",
        "/metrics",
        "/api/v1/openapi.json",
    ] {
        assert_eq!(service.get(path, None).await.0, 401, "{path}");
        assert_eq!(service.get(path, Some(read)).await.0, 200, "{path}");
    }
    let (status, body) = service.get("/api/v1/diagnostics", Some(read)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["diagnostics"], json!([]));

    service.code("111111");
    let (status, body) = service.get("/api/v1/codes", Some(read)).await;
    assert_eq!(status, 403);
    assert_eq!(body["code"], "forbidden");
    assert_eq!(
        body["message"],
        "the token `grafana` has scope read; this needs codes"
    );
    assert!(!body.to_string().contains("111111"));
    let (status, body) = service.get("/api/v1/codes", Some(codes)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["codes"][0]["code"], "111111");
    assert_eq!(body["codes"][0]["expired"], false);

    for token in [read, codes] {
        let (status, body) = service
            .post("/api/v1/providers/twilio/reset", token, json!({}))
            .await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["code"], "forbidden");
        assert!(body["message"]
            .as_str()
            .expect("message")
            .ends_with("this needs operate"));
        assert_eq!(service.sms(token, "+14165550123").await.0, 403);
    }

    // Both streams open before anything happens; the legacy token sends, so a send_finished
    // follows the code on both.
    let mut read_events = service.events(read, None).await;
    let mut codes_events = service.events(codes, None).await;
    service.code("222222");
    assert_eq!(service.sms(LEGACY, "+14165550123").await.0, 200);
    let seen_by_read = read_events.until("send_finished").await;
    assert!(
        !names(&seen_by_read).contains(&"code_seen"),
        "{seen_by_read:#?}"
    );
    let seen_by_codes = codes_events.until("send_finished").await;
    let code = seen_by_codes
        .iter()
        .find(|e| e.event == "code_seen")
        .expect("the codes token sees the code");
    assert_eq!(code.data["code"], "222222");
    drop(read_events);

    // The replay is filtered too: resuming from before the code still shows no code.
    let before_code = seen_by_codes
        .iter()
        .position(|e| e.event == "code_seen")
        .expect("position");
    let resume_from = if before_code == 0 {
        // The code was the first event of the stream: resume from the one before it.
        let id = code.id.clone().expect("id");
        let (run, n) = id.rsplit_once('-').expect("<run>-<n>");
        format!("{run}-{}", n.parse::<u64>().expect("n") - 1)
    } else {
        seen_by_codes[before_code - 1].id.clone().expect("id")
    };
    let mut replay = service.events(read, Some(&resume_from)).await;
    let replayed = replay.until("send_finished").await;
    assert!(!names(&replayed).contains(&"code_seen"), "{replayed:#?}");
    let mut replay = service.events(codes, Some(&resume_from)).await;
    let replayed = replay.until("send_finished").await;
    assert_eq!(replayed[0].event, "code_seen", "{replayed:#?}");
    assert_eq!(replayed[0].data["code"], "222222");
    service.stop().await;
}

#[tokio::test]
async fn an_operate_token_resets_a_breaker_and_sends() {
    let service = start(AuthScope::SendsAndEvents, &[ProviderKind::Twilio]).await;
    let oncall = service.create("oncall", &[Scope::Operate]);
    let oncall = oncall.expose_secret();
    service
        .state
        .messaging()
        .sms
        .set_enabled(&ProviderKind::Sns, false, "test");
    for n in 0..3 {
        let (status, body) = service.sms(oncall, &format!("+1416555020{n}")).await;
        assert_eq!(status, 200, "{body}");
    }
    let (_, health) = service.get("/api/v1/health/messaging", None).await;
    assert_eq!(health["sms_providers"][1]["breaker_state"], "OPEN");
    let (status, body) = service
        .post("/api/v1/providers/twilio/reset", oncall, json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "CLOSED");
    let reason = body["transition"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("with token `oncall`"), "{reason}");
    let (_, health) = service.get("/api/v1/health/messaging", None).await;
    assert_eq!(health["sms_providers"][1]["breaker_state"], "CLOSED");
    // Operate is not codes.
    let (status, body) = service.get("/api/v1/codes", Some(oncall)).await;
    assert_eq!(status, 403);
    assert_eq!(
        body["message"],
        "the token `oncall` has scope operate; this needs codes"
    );
    service.stop().await;
}

#[tokio::test]
async fn a_token_revoked_in_the_file_is_refused_at_once_and_a_new_one_accepted() {
    let service = start(AuthScope::SendsAndEvents, &[]).await;
    let first = service.create("laptop", &[Scope::Read]);
    let first = first.expose_secret().to_string();
    assert_eq!(
        service.get("/api/v1/diagnostics", Some(&first)).await.0,
        200
    );
    // Revoked and another made within the same second: the file's inode and size change, so
    // the service sees it even when the modification time does not.
    tokens::revoke(&service.tokens, "laptop").expect("revoked");
    let (status, body) = service.get("/api/v1/diagnostics", Some(&first)).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["code"], "unauthorized");
    let second = service.create("laptop-2", &[Scope::Read]);
    assert_eq!(
        service
            .get("/api/v1/diagnostics", Some(second.expose_secret()))
            .await
            .0,
        200
    );
    assert_eq!(
        service.get("/api/v1/diagnostics", Some(&first)).await.0,
        401
    );
    // Replaced under the same name: the old one stops, the new one works.
    let third = tokens::create(
        &service.tokens,
        "laptop-2",
        &[Scope::Codes],
        Actor::local(Via::Cli),
        true,
    )
    .expect("replaced");
    assert_eq!(
        service
            .get("/api/v1/codes", Some(second.expose_secret()))
            .await
            .0,
        401
    );
    assert_eq!(
        service
            .get("/api/v1/codes", Some(third.expose_secret()))
            .await
            .0,
        200
    );
    service.stop().await;
}

#[tokio::test]
async fn the_legacy_token_is_admin() {
    let service = start(AuthScope::Everything, &[]).await;
    service.create("grafana", &[Scope::Read]);
    let mut events = service.events(LEGACY, None).await;
    service.code("333333");
    let (status, body) = service.get("/api/v1/codes", Some(LEGACY)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["codes"][0]["code"], "333333");
    assert_eq!(
        service
            .post("/api/v1/providers/twilio/reset", LEGACY, json!({}))
            .await
            .0,
        200
    );
    assert_eq!(service.sms(LEGACY, "+14165550123").await.0, 200);
    assert_eq!(
        service.get("/api/v1/diagnostics", Some(LEGACY)).await.0,
        200
    );
    assert_eq!(
        service
            .get("/api/v1/health/messaging", Some(LEGACY))
            .await
            .0,
        200
    );
    let seen = events.until("code_seen").await;
    assert_eq!(seen.last().expect("code").data["code"], "333333");
    // Wrong tokens are still wrong with both kinds configured.
    assert_eq!(
        service
            .get(
                "/api/v1/codes",
                Some("msgops_scopes_test_legacy_token_0123456789abcdeX")
            )
            .await
            .0,
        401
    );
    service.stop().await;
}

#[tokio::test]
async fn a_stream_resumed_with_last_event_id_gets_every_later_event_exactly_once() {
    let service = start(AuthScope::SendsAndEvents, &[]).await;
    let console = service.create("console", &[Scope::Codes]);
    let console = console.expose_secret();
    let mut events = service.events(console, None).await;
    for n in 1..=5 {
        service.code(&format!("{n:06}"));
    }
    let mut first = Vec::new();
    for _ in 0..3 {
        first.push(events.next(Duration::from_secs(5)).await.expect("event"));
    }
    assert_eq!(
        first
            .iter()
            .map(|e| e.data["code"].clone())
            .collect::<Vec<_>>(),
        ["000001", "000002", "000003"]
    );
    // Disconnect after the third; more happens while away.
    drop(events);
    let k = first[2].id.clone().expect("every event has an id");
    for n in 6..=8 {
        service.code(&format!("{n:06}"));
    }
    let mut resumed = service.events(console, Some(&k)).await;
    let mut got = Vec::new();
    while let Some(event) = resumed.next(Duration::from_millis(500)).await {
        got.push(event);
    }
    assert_eq!(
        got.iter()
            .map(|e| e.data["code"].as_str().expect("code").to_string())
            .collect::<Vec<_>>(),
        ["000004", "000005", "000006", "000007", "000008"],
        "every event after {k}, once: {got:#?}"
    );
    assert!(got.iter().all(|e| e.event == "code_seen"));
    // Ids only grow, and the live ones continue the replay without a gap or a repeat.
    let seq = |e: &Sse| -> u64 {
        e.id.as_deref()
            .and_then(|id| id.rsplit_once('-'))
            .and_then(|(_, n)| n.parse().ok())
            .expect("<run>-<n>")
    };
    service.code("000009");
    let live = resumed
        .next(Duration::from_secs(5))
        .await
        .expect("the live event");
    assert_eq!(live.data["code"], "000009");
    let mut all: Vec<u64> = first.iter().chain(&got).map(seq).collect();
    all.push(seq(&live));
    assert_eq!(all, (all[0]..all[0] + 9).collect::<Vec<_>>());
    assert!(resumed.next(Duration::from_millis(300)).await.is_none());

    // An id of another run (a restarted service): `reset` first, then everything kept.
    let run = k.rsplit_once('-').expect("<run>-<n>").0.to_string();
    let other = if run == "00000000" {
        "ffffffff-3"
    } else {
        "00000000-3"
    };
    let mut restarted = service.events(console, Some(other)).await;
    let reset = restarted.next(Duration::from_secs(5)).await.expect("reset");
    assert_eq!(reset.event, "reset");
    assert_eq!(reset.data["kind"], "reset");
    assert_eq!(reset.data["run"], run.as_str());
    let mut kept = Vec::new();
    while let Some(event) = restarted.next(Duration::from_millis(500)).await {
        kept.push(event.data["code"].as_str().expect("code").to_string());
    }
    assert_eq!(kept, (1..=9).map(|n| format!("{n:06}")).collect::<Vec<_>>());
    service.stop().await;
}

#[tokio::test]
async fn the_openapi_document_describes_codes_diagnostics_scopes_and_resuming() {
    let service = start(AuthScope::SendsAndEvents, &[]).await;
    let (status, doc) = service.get("/api/v1/openapi.json", None).await;
    assert_eq!(status, 200);
    let paths = &doc["paths"];
    for (path, method) in [
        ("/api/v1/codes", "get"),
        ("/api/v1/diagnostics", "get"),
        ("/api/v1/events", "get"),
    ] {
        let op = &paths[path][method];
        assert!(op.is_object(), "{path} undocumented");
        assert_eq!(op["security"][0]["bearer"], json!([]), "{path}");
    }
    let codes = &paths["/api/v1/codes"]["get"];
    let params: Vec<&str> = codes["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .map(|p| p["name"].as_str().expect("name"))
        .collect();
    assert_eq!(params, ["phone", "recipient", "channel", "include_expired"]);
    assert!(codes["responses"]["403"].is_object());
    for path in [
        "/api/v1/messages/sms",
        "/api/v1/messages/email",
        "/api/v1/providers/{provider}/{control}",
    ] {
        assert!(
            paths[path]["post"]["responses"]["403"].is_object(),
            "{path} documents 403"
        );
    }
    assert!(paths["/api/v1/events"]["get"]["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .any(|p| p["name"] == "Last-Event-ID" && p["in"] == "header"));
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["ApiErrorCode"]["enum"]
        .as_array()
        .expect("enum")
        .contains(&json!("forbidden")));
    assert!(schemas["Diagnostic"].is_object() && schemas["ListedCode"].is_object());
    let scheme = doc["components"]["securitySchemes"]["bearer"]["description"]
        .as_str()
        .expect("description");
    for word in [
        "`read`",
        "`codes`",
        "`operate`",
        "`admin`",
        "--create-token",
    ] {
        assert!(scheme.contains(word), "{word} in {scheme}");
    }
    service.stop().await;
}

#[tokio::test]
async fn a_client_that_falls_behind_the_live_events_catches_up_from_the_buffer_without_a_gap() {
    let service = start(AuthScope::SendsAndEvents, &[]).await;
    let mut events = service.events(LEGACY, None).await;
    // More than the live channel holds (1,024), published before the stream is read: its
    // receiver lags, and the rest comes from the kept events.
    let n = 3000;
    for i in 1..=n {
        service.code(&format!("{i:06}"));
    }
    let mut got = Vec::new();
    while got.len() < n {
        let event = events
            .next(Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("stopped after {} events", got.len()));
        assert_eq!(event.event, "code_seen", "no `lagged`: nothing was lost");
        got.push(event.data["code"].as_str().expect("code").to_string());
    }
    assert_eq!(got, (1..=n).map(|i| format!("{i:06}")).collect::<Vec<_>>());
    assert!(events.next(Duration::from_millis(300)).await.is_none());
    service.stop().await;
}
