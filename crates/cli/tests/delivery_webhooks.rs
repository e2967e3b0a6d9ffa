//! A message Twilio accepted and then could not deliver reaches the phone anyway, and History
//! says how. End to end with real peers on loopback: a real `msgops serve` whose Twilio is
//! Prism serving Twilio's own OpenAPI description, credentials in a real keychain
//! (gnome-keyring in a private D-Bus session, `run-with-keyring.sh`), and StatusCallbacks signed
//! by Twilio's official Python library (`RequestValidator`, `crates/webhooks/tests/twilio_peer.py`)
//! for the URL behind the TLS-terminating proxy (`[service] public_url`).
//!
//! An SMS goes out through Twilio (Prism gives it its SID); Twilio calls back `undelivered`
//! 30003; the service streams the report, sends the SMS once more through the next provider
//! (the Console, last resort), ignores the same callback again and a late `sent`; forged,
//! unsigned and wrongly addressed callbacks are refused, counted and not kept; after a token
//! rotation by `msgops creds rotate twilio` callbacks signed with the old token are accepted
//! within the grace period, and refused by a service configured without one. After the
//! service stops, `msgops deliveries` and the send history show the report, its meaning, its
//! send and the resend, with the message's timeline.
//!
//! The scenario runs as a child of this test binary inside the keyring session (as
//! creds_sync.rs does). Without the keyring tools it is skipped with the reason, unless
//! `MSGOPS_SECRET_SERVICE=1`; without Prism or Python's `twilio` package it is skipped unless
//! `MSGOPS_REAL_PEERS=1`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use msgops_core::ProviderKind;
use msgops_credentials::{
    CredentialStoreExt, ExposeSecret, KeychainStore, SecretKind, SecretString,
};
use msgops_delivery::{DeliveryFate, DeliveryStatus};
use msgops_history::{HistoryFilter, HistoryLocation, HistoryStore, OriginKind, SendOrigin};
use serde_json::{json, Value};
use tokio::sync::mpsc;

const INNER: &str = "MSGOPS_DELIVERY_WEBHOOKS_INNER";
const TEST_NAME: &str =
    "an_undelivered_twilio_sms_is_resent_once_through_the_next_provider_and_history_shows_both";
const SID: &str = "AC0123456789abcdef0123456789abcdef";
const OLD: &str = "old-twilio-token-for-tests-00000aa";
const NEW: &str = "new-twilio-token-for-tests-00000bb";
const WRONG: &str = "not-the-twilio-token-for-tests-0cc";
const API_TOKEN: &str = "delivery-webhooks-test-api-token-0123456789";
const PUBLIC_URL: &str = "https://ops.example.test";
const HOOK: &str = "/api/v1/webhooks/twilio";
const TO: &str = "+14165550123";
const FROM: &str = "+15005550006";
const CODE: &str = "091282";
/// Generous: the CI machine is slow, and everything below is polled.
const PATIENCE: Duration = Duration::from_secs(60);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn keyring_script() -> PathBuf {
    repo_root().join("crates/credentials/tests/run-with-keyring.sh")
}

fn signer_script() -> PathBuf {
    repo_root().join("crates/webhooks/tests/twilio_peer.py")
}

fn python() -> PathBuf {
    std::env::var_os("MSGOPS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"))
}

fn prism_bin() -> PathBuf {
    std::env::var_os("MSGOPS_PRISM")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("tests/peers/node_modules/.bin/prism"))
}

fn twilio_spec() -> PathBuf {
    std::env::var_os("MSGOPS_SPECS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/specs"))
        .join("twilio_api_v2010.json")
}

fn keyring_tools_missing() -> Option<String> {
    let found = Command::new("sh")
        .args([
            "-c",
            "command -v dbus-run-session && command -v gnome-keyring-daemon",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    (!found).then(|| "dbus-run-session or gnome-keyring-daemon not installed".to_string())
}

fn peers_missing() -> Option<String> {
    if !prism_bin().exists() {
        return Some(format!(
            "no Prism at {} (run `npm ci` in tests/peers)",
            prism_bin().display()
        ));
    }
    if !twilio_spec().exists() {
        return Some(format!(
            "no Twilio API description at {} (set MSGOPS_SPECS_DIR)",
            twilio_spec().display()
        ));
    }
    let has_twilio = Command::new(python())
        .args(["-c", "import twilio.request_validator"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    (!has_twilio).then(|| {
        format!(
            "{} cannot import twilio (pip install -r tests/peers/requirements.txt)",
            python().display()
        )
    })
}

#[test]
fn an_undelivered_twilio_sms_is_resent_once_through_the_next_provider_and_history_shows_both() {
    if std::env::var_os(INNER).is_some() {
        return inner();
    }
    if let Some(why) = keyring_tools_missing() {
        assert!(
            std::env::var("MSGOPS_SECRET_SERVICE").as_deref() != Ok("1"),
            "MSGOPS_SECRET_SERVICE=1 but {why}"
        );
        eprintln!("skipped: {why}");
        return;
    }
    if let Some(why) = peers_missing() {
        assert!(
            std::env::var("MSGOPS_REAL_PEERS").as_deref() != Ok("1"),
            "MSGOPS_REAL_PEERS=1 but {why}"
        );
        eprintln!("skipped (set MSGOPS_REAL_PEERS=1 to make this a failure): {why}");
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    let started = Instant::now();
    let out = Command::new("sh")
        .arg(keyring_script())
        .arg(exe)
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env(INNER, "1")
        .output()
        .expect("run in a keyring session");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for secret in [OLD, NEW, WRONG] {
        assert!(
            !text.contains(secret),
            "a Twilio token reached the test output"
        );
    }
    assert!(out.status.success(), "the keyring scenario failed:\n{text}");
    assert!(text.contains("1 passed"), "{text}");
    println!("{text}");
    println!("the scenario took {} s", started.elapsed().as_secs());
}

// ---------------------------------------------------------------------------------------------
// Peers

/// Kills the peer when this process ends, even if a panic skips the drop.
const WATCHDOG: &str = r#"
"$@" & child=$!
trap 'kill $child 2>/dev/null; exit 0' TERM INT HUP
while kill -0 "$MSGOPS_TEST_PARENT" 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 0.3; done
kill $child 2>/dev/null
"#;

/// Prism serving Twilio's OpenAPI description on a free loopback port.
struct Prism {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Prism {
    fn start(dir: &Path) -> Prism {
        let port = free_port();
        let log = dir.join("prism.log");
        let out = std::fs::File::create(&log).expect("prism log");
        let err = out.try_clone().expect("prism log");
        let child = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("sh")
            .arg(prism_bin())
            .args(["mock", "-h", "127.0.0.1", "-p", &port.to_string()])
            .arg(twilio_spec())
            .env("MSGOPS_TEST_PARENT", std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("Prism starts");
        let mut prism = Prism { child, port, log };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = prism.child.try_wait() {
                panic!("Prism exited ({status}): {}", prism.log_text());
            }
            assert!(
                started.elapsed() < Duration::from_secs(240),
                "Prism did not listen within 240 s: {}",
                prism.log_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        println!("Prism ready in {} s", started.elapsed().as_secs());
        prism
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Prism {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Twilio's `RequestValidator(token).compute_signature(url, params)`, for each request.
struct ToSign<'a> {
    token: &'a str,
    url: String,
    params: &'a [(&'a str, &'a str)],
}

fn twilio_signatures(requests: &[ToSign<'_>]) -> Vec<String> {
    let ops: Vec<Value> = requests
        .iter()
        .map(|r| {
            json!({
                "op": "sign",
                "token": r.token,
                "url": r.url,
                "params": r.params.iter().map(|(n, v)| json!([n, v])).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut child = Command::new(python())
        .arg(signer_script())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the Twilio signer runs");
    // The tokens go through stdin, never on a command line.
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(json!({ "ops": ops }).to_string().as_bytes())
        .expect("ops written");
    let out = child.wait_with_output().expect("the signer ends");
    assert!(
        out.status.success(),
        "twilio_peer.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).expect("the signer answers JSON");
    let signatures: Vec<String> = answer["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["signature"].as_str().expect("a signature").to_string())
        .collect();
    assert_eq!(signatures.len(), requests.len());
    signatures
}

/// `application/x-www-form-urlencoded`, as Twilio posts it.
fn form_body(params: &[(&str, &str)]) -> String {
    fn encode(text: &str) -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
    params
        .iter()
        .map(|(n, v)| format!("{}={}", encode(n), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

// ---------------------------------------------------------------------------------------------
// The service

struct Env {
    config: PathBuf,
    data: PathBuf,
}

impl Env {
    fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_msgops"));
        c.env("MSGOPS_CONFIG", &self.config)
            .env("MSGOPS_DATA_DIR", &self.data)
            .env("MSGOPS_API_TOKEN", API_TOKEN)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1");
        for aws in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_PROFILE",
            "AWS_CONFIG_FILE",
            "AWS_SHARED_CREDENTIALS_FILE",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        ] {
            c.env_remove(aws);
        }
        c
    }

    /// Runs `msgops ARGS` with `stdin`; its exit status and output.
    fn run(&self, args: &[&str], stdin: &str) -> (bool, String, String) {
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("msgops runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("stdin written");
        let out = child.wait_with_output().expect("msgops ends");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

/// A running `msgops serve`, killed if the test ends early.
struct Serve {
    child: Child,
    base: String,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Serve {
    fn start(env: &Env) -> Serve {
        let mut child = env
            .command()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("msgops serve starts");
        let stderr = child.stderr.take().expect("stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    let _ = tx.send(line.clone());
                    lines
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(line);
                }
            });
        }
        let mut serve = Serve {
            child,
            base: String::new(),
            stderr: lines,
        };
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    if let Some(addr) = line
                        .split("listening on http://")
                        .nth(1)
                        .and_then(|rest| rest.split_whitespace().next())
                    {
                        serve.base = format!("http://{addr}");
                        return serve;
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        panic!(
            "msgops serve did not say where it listens: {:#?}",
            serve.said()
        );
    }

    fn said(&self) -> Vec<String> {
        self.stderr
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// SIGTERM, as an operator stops it; it must end cleanly.
    fn stop(mut self) -> Vec<String> {
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(killed.success());
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "msgops serve did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        // The rest of its stderr.
        let until = Instant::now() + Duration::from_secs(10);
        while !self
            .said()
            .iter()
            .any(|l| l.contains("msgops serve: stopped"))
            && Instant::now() < until
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        let said = self.said();
        assert!(status.success(), "{status}: {said:#?}");
        said
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn write_config(path: &Path, prism: &str, console_log: &Path, grace_secs: u64) {
    std::fs::write(
        path,
        format!(
            "[twilio]\n\
             base_url = \"{prism}\"\n\
             from_number = \"{FROM}\"\n\
             \n\
             [console]\n\
             log_path = \"{}\"\n\
             \n\
             [service]\n\
             public_url = \"{PUBLIC_URL}\"\n\
             \n\
             [delivery]\n\
             resend_undelivered = true\n\
             twilio_previous_token_grace_secs = {grace_secs}\n",
            console_log.display()
        ),
    )
    .expect("config written");
}

/// A StatusCallback to the service: its status and JSON answer.
async fn callback(
    http: &reqwest::Client,
    serve: &Serve,
    params: &[(&str, &str)],
    signature: Option<&str>,
) -> (u16, Value) {
    let mut request = http
        .post(format!("{}{HOOK}", serve.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("user-agent", "TwilioProxy/1.1")
        .body(form_body(params));
    if let Some(signature) = signature {
        request = request.header("X-Twilio-Signature", signature);
    }
    let response = request.send().await.expect("the webhook answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The history database of a data directory, as the app opens it.
async fn open_history(data: &Path) -> HistoryStore {
    let (history, problems) = HistoryStore::open(
        HistoryLocation::in_dir(data),
        90,
        SendOrigin::this_process(OriginKind::App),
    )
    .await
    .expect("the history opens");
    assert!(problems.is_empty(), "{problems:?}");
    history
}

/// The delivery reports kept in a data directory's history, in the order they were kept.
async fn kept(data: &Path) -> Vec<(String, DeliveryStatus)> {
    open_history(data)
        .await
        .deliveries_since(chrono::DateTime::<chrono::Utc>::MIN_UTC)
        .await
        .expect("the reports read")
        .into_iter()
        .map(|e| (e.provider_message_id, e.status))
        .collect()
}

async fn get_json(http: &reqwest::Client, url: String) -> Value {
    http.get(url)
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON")
}

async fn metrics(http: &reqwest::Client, serve: &Serve) -> String {
    http.get(format!("{}/metrics", serve.base))
        .send()
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("metrics text")
}

/// The value of one series (`name{labels}` exactly as exposed), if present.
fn series(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(name_and_labels)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
    })
}

/// Polls `ok` until it holds.
async fn eventually<F, Fut>(what: &str, mut ok: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !ok().await {
        assert!(
            start.elapsed() < PATIENCE,
            "{what}: not within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `GET /api/v1/events` stream, read in its own task: (event name, data).
async fn subscribe(serve: &Serve) -> Events {
    let mut response = reqwest::Client::new()
        .get(format!("{}/api/v1/events", serve.base))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .expect("the event stream opens");
    assert_eq!(response.status().as_u16(), 200, "GET /api/v1/events");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut buf: Vec<u8> = Vec::new();
        while let Ok(Some(chunk)) = response.chunk().await {
            buf.extend_from_slice(&chunk);
            while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = buf.drain(..end + 2).collect();
                let block = String::from_utf8_lossy(&block);
                let mut name = None;
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = Some(v.trim().to_string());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.strip_prefix(' ').unwrap_or(v));
                    }
                }
                if let (Some(name), Ok(value)) = (name, serde_json::from_str(&data)) {
                    if tx.send((name, value)).is_err() {
                        return;
                    }
                }
            }
        }
    });
    Events {
        stream: rx,
        unmatched: Vec::new(),
    }
}

/// The events received so far and the stream. Events are matched in any order: the resend
/// (its `send_finished`) runs in its own task and may be streamed before the `delivery_status`
/// that caused it.
struct Events {
    stream: mpsc::UnboundedReceiver<(String, Value)>,
    unmatched: Vec<(String, Value)>,
}

impl Events {
    /// The first event named `name` for which `matches` holds, received or to come.
    async fn find(&mut self, name: &str, matches: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self
            .unmatched
            .iter()
            .position(|(n, data)| n == name && matches(data))
        {
            return self.unmatched.remove(i).1;
        }
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.recv()).await {
                Ok(Some((n, data))) if n == name && matches(&data) => return data,
                Ok(Some(other)) => self.unmatched.push(other),
                Ok(None) => panic!("the event stream ended; unmatched: {:?}", self.names()),
                Err(_) => panic!(
                    "no matching `{name}` event within {PATIENCE:?}; unmatched: {:?}",
                    self.names()
                ),
            }
        }
    }

    fn names(&self) -> Vec<&str> {
        self.unmatched.iter().map(|(n, _)| n.as_str()).collect()
    }
}

fn console_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("SMS FALLBACK"))
        .map(str::to_owned)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The scenario

fn inner() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(scenario());
}

async fn scenario() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let prism = Prism::start(dir.path());
    let console_log = dir.path().join("console-sms.log");
    let env = Env {
        config: dir.path().join("config.toml"),
        data: dir.path().join("data"),
    };
    write_config(&env.config, &prism.url(), &console_log, 900);
    let store = KeychainStore::open().expect("the session's keychain");
    store
        .set_secret(SecretKind::TwilioAccountSid, &SecretString::from(SID))
        .expect("sid stored");
    store
        .set_secret(SecretKind::TwilioAuthToken, &SecretString::from(OLD))
        .expect("token stored");

    let http = reqwest::Client::builder()
        .timeout(PATIENCE)
        .build()
        .expect("client");
    let serve = Serve::start(&env);
    let health = get_json(&http, format!("{}/api/v1/health/messaging", serve.base)).await;
    let configured: BTreeMap<String, bool> = health["sms_providers"]
        .as_array()
        .expect("sms providers")
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap_or_default().to_string(),
                p["configured"] == true,
            )
        })
        .collect();
    assert_eq!(
        configured,
        BTreeMap::from([
            ("sns".to_string(), false),
            ("twilio".to_string(), true),
            ("console".to_string(), true)
        ]),
        "SNS without credentials, Twilio from the keychain: {health}"
    );

    // Subscribed before anything happens; the send's own event shows the stream is live.
    let mut events = subscribe(&serve).await;

    // 1. The SMS, delivered by Twilio (Prism), which gives it its SID.
    let response = http
        .post(format!("{}/api/v1/messages/sms", serve.base))
        .bearer_auth(API_TOKEN)
        .json(&json!({"to": TO, "body": format!("Your code is {CODE}"), "code": CODE}))
        .send()
        .await
        .expect("the send answers");
    let status = response.status().as_u16();
    let answer: Value = response.json().await.expect("JSON");
    assert_eq!(status, 200, "{answer}\nPrism: {}", prism.log_text());
    assert_eq!(answer["outcome"]["provider"], "twilio", "{answer}");
    let sid = answer["outcome"]["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .find(|a| a["provider"] == "twilio")
        .and_then(|a| a["provider_message_id"].as_str())
        .expect("Twilio's SID in the answer")
        .to_string();
    assert!(
        sid.starts_with("SM") && sid.len() == 34,
        "a Twilio message SID from Prism: {sid}"
    );
    events
        .find("send_finished", |d| {
            d["record"]["recipient"] == TO && d["record"]["outcome"]["provider"] == "twilio"
        })
        .await;
    assert!(
        console_lines(&console_log).is_empty(),
        "nothing on the Console yet"
    );

    // 2. The callbacks as Twilio would post them, signed by Twilio's own library.
    let undelivered: Vec<(&str, &str)> = vec![
        ("AccountSid", SID),
        ("ApiVersion", "2010-04-01"),
        ("ErrorCode", "30003"),
        ("From", FROM),
        ("MessageSid", sid.as_str()),
        ("MessageStatus", "undelivered"),
        ("SmsSid", sid.as_str()),
        ("SmsStatus", "undelivered"),
        ("To", TO),
    ];
    let sent: Vec<(&str, &str)> = vec![
        ("AccountSid", SID),
        ("ApiVersion", "2010-04-01"),
        ("From", FROM),
        ("MessageSid", sid.as_str()),
        ("MessageStatus", "sent"),
        ("SmsSid", sid.as_str()),
        ("SmsStatus", "sent"),
        ("To", TO),
    ];
    let mut tampered = undelivered.clone();
    for p in &mut tampered {
        if p.0 == "MessageStatus" || p.0 == "SmsStatus" {
            p.1 = "delivered";
        }
    }
    tampered.retain(|p| p.0 != "ErrorCode");
    // Other messages, for the rotation.
    let delivered = |message: &'static str| -> Vec<(&'static str, &'static str)> {
        vec![
            ("AccountSid", SID),
            ("ApiVersion", "2010-04-01"),
            ("From", FROM),
            ("MessageSid", message),
            ("MessageStatus", "delivered"),
            ("To", TO),
        ]
    };
    let after_rotation_new = delivered("SM00000000000000000000000000000002");
    let after_rotation_old = delivered("SM00000000000000000000000000000003");
    let no_grace = delivered("SM00000000000000000000000000000004");
    let url = format!("{PUBLIC_URL}{HOOK}");
    let signatures = twilio_signatures(&[
        ToSign {
            token: OLD,
            url: url.clone(),
            params: &undelivered,
        },
        ToSign {
            token: OLD,
            url: url.clone(),
            params: &sent,
        },
        ToSign {
            token: OLD,
            url: format!("https://elsewhere.example.test{HOOK}"),
            params: &undelivered,
        },
        ToSign {
            token: WRONG,
            url: url.clone(),
            params: &undelivered,
        },
        ToSign {
            token: NEW,
            url: url.clone(),
            params: &after_rotation_new,
        },
        ToSign {
            token: OLD,
            url: url.clone(),
            params: &after_rotation_old,
        },
        ToSign {
            token: OLD,
            url: url.clone(),
            params: &no_grace,
        },
        ToSign {
            token: NEW,
            url: url.clone(),
            params: &no_grace,
        },
    ]);
    let signatures: Vec<&str> = signatures.iter().map(String::as_str).collect();
    let [sig_undelivered, sig_sent, sig_elsewhere, sig_wrong_token, sig_new_2, sig_old_3, sig_old_4, sig_new_4] =
        signatures[..]
    else {
        panic!("eight signatures");
    };

    // 3. Undelivered 30003: kept, streamed, and sent again through the Console, once.
    let (status, body) = callback(&http, &serve, &undelivered, Some(sig_undelivered)).await;
    assert_eq!(
        (status, body.clone()),
        (200, json!({"new": 1, "duplicates": 0, "resent": 1})),
        "{:#?}",
        serve.said()
    );
    let report = events
        .find("delivery_status", |d| {
            d["report"]["provider_message_id"] == sid.as_str()
        })
        .await;
    assert_eq!(report["kind"], "delivery_status", "{report}");
    let r = &report["report"];
    assert_eq!(
        (
            &r["provider"],
            &r["status"],
            &r["error_code"],
            &r["recipient"],
            &r["source"]
        ),
        (
            &json!("twilio"),
            &json!("undelivered"),
            &json!("30003"),
            &json!(TO),
            &json!("twilio_webhook")
        ),
        "{report}"
    );
    let resend = events
        .find("send_finished", |d| d["record"]["recipient"] == TO)
        .await;
    assert_eq!(
        resend["record"]["outcome"]["provider"], "console",
        "{resend}"
    );
    let tried: Vec<&str> = resend["record"]["outcome"]["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .filter_map(|a| a["provider"].as_str())
        .collect();
    assert_eq!(
        tried,
        ["console"],
        "only the providers after Twilio: {resend}"
    );
    eventually("the resent SMS in the Console log", || {
        let found = console_lines(&console_log);
        async move { found.len() == 1 }
    })
    .await;
    let line = &console_lines(&console_log)[0];
    assert!(
        line.ends_with(&format!("SMS FALLBACK - OTP for {TO}: {CODE}")),
        "{line}"
    );

    // Twilio's retry of the same callback: a duplicate, not sent a second time.
    let (status, body) = callback(&http, &serve, &undelivered, Some(sig_undelivered)).await;
    assert_eq!(
        (status, body),
        (200, json!({"new": 0, "duplicates": 1, "resent": 0}))
    );
    // A `sent` arriving after the final report: kept, never a reason to resend.
    let (status, body) = callback(&http, &serve, &sent, Some(sig_sent)).await;
    assert_eq!(
        (status, body),
        (200, json!({"new": 1, "duplicates": 0, "resent": 0}))
    );
    let late = events
        .find("delivery_status", |d| {
            d["report"]["provider_message_id"] == sid.as_str() && d["report"]["status"] == "sent"
        })
        .await;
    assert!(late["report"].get("error_code").is_none(), "{late}");

    // 4. Refused: 403 webhook_rejected, counted by reason, nothing kept.
    type Params<'a> = &'a [(&'a str, &'a str)];
    let refusals: [(&str, Params<'_>, Option<&str>); 4] = [
        ("one parameter changed", &tampered, Some(sig_undelivered)),
        ("signed for another host", &undelivered, Some(sig_elsewhere)),
        ("no signature", &undelivered, None),
        (
            "signed with another token",
            &undelivered,
            Some(sig_wrong_token),
        ),
    ];
    for (what, params, signature) in refusals {
        let (status, body) = callback(&http, &serve, params, signature).await;
        assert_eq!(status, 403, "{what}: {body}");
        assert_eq!(body["code"], "webhook_rejected", "{what}: {body}");
    }

    // 7. What /metrics and health say now.
    let text = metrics(&http, &serve).await;
    let expect_series = |text: &str, s: &str, v: f64| {
        assert_eq!(series(text, s), Some(v), "{s}:\n{text}");
    };
    expect_series(
        &text,
        r#"msgops_delivery_total{provider="twilio",status="undelivered",error_code="30003"}"#,
        1.0,
    );
    expect_series(
        &text,
        r#"msgops_delivery_total{provider="twilio",status="sent",error_code="none"}"#,
        1.0,
    );
    expect_series(
        &text,
        r#"msgops_delivery_duplicates_total{source="twilio_webhook"}"#,
        1.0,
    );
    expect_series(
        &text,
        r#"msgops_webhook_rejected_total{source="twilio",reason="bad_signature"}"#,
        3.0,
    );
    expect_series(
        &text,
        r#"msgops_webhook_rejected_total{source="twilio",reason="unsigned"}"#,
        1.0,
    );
    expect_series(&text, r#"msgops_delivery_rate{provider="twilio"}"#, 0.0);
    let resent = r#"msgops_resends_total{channel="sms",after="twilio",outcome="delivered"}"#;
    eventually("the resend counted", || {
        let (http, serve) = (&http, &serve);
        async move { series(&metrics(http, serve).await, resent).is_some() }
    })
    .await;
    let text = metrics(&http, &serve).await;
    expect_series(&text, resent, 1.0);
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("msgops_resends_total{"))
            .count(),
        1,
        "no other resend:\n{text}"
    );
    let health = get_json(&http, format!("{}/api/v1/health/messaging", serve.base)).await;
    let twilio = &health["delivery"]["providers"][0];
    assert_eq!(twilio["provider"], "twilio", "{health}");
    assert_eq!(
        (&twilio["delivered"], &twilio["failed"], &twilio["pending"]),
        (&json!(0), &json!(1), &json!(0)),
        "one message, undelivered for good (the late `sent` changes nothing): {health}"
    );
    assert_eq!(twilio["rate"], json!(0.0), "{health}");
    assert_eq!(
        health["delivery"]["providers"].as_array().map(Vec::len),
        Some(1),
        "{health}"
    );

    // Only the accepted reports are kept.
    assert_eq!(
        kept(&env.data).await,
        [
            (sid.clone(), DeliveryStatus::Undelivered),
            (sid.clone(), DeliveryStatus::Sent)
        ]
    );

    // 5. Rotation from the CLI (validated against Prism), then the grace period.
    let (ok, out, err) = env.run(
        &["creds", "rotate", "twilio"],
        &format!("TWILIO_AUTH_TOKEN={NEW}\n"),
    );
    assert!(ok, "rotate: {out}{err}\nPrism: {}", prism.log_text());
    assert!(out.contains("accepted the new TWILIO_AUTH_TOKEN"), "{out}");
    let current = store
        .get_secret(SecretKind::TwilioAuthToken)
        .expect("read")
        .expect("a token");
    assert!(
        current.expose_secret() == NEW,
        "the keychain holds the new token"
    );
    // The new token is in force for the webhooks (the keys are re-read within a second)...
    let mut tries = 0;
    eventually("a callback signed with the new token accepted", || {
        tries += 1;
        let (http, serve, params) = (&http, &serve, &after_rotation_new);
        async move {
            let (status, body) = callback(http, serve, params, Some(sig_new_2)).await;
            assert!(status == 200 || status == 403, "{status}: {body}");
            status == 200
        }
    })
    .await;
    println!("the new token verified callbacks after {tries} attempt(s)");
    // ...and the old one still, within the grace period.
    let (status, body) = callback(&http, &serve, &after_rotation_old, Some(sig_old_3)).await;
    assert_eq!(
        (status, body.clone()),
        (200, json!({"new": 1, "duplicates": 0, "resent": 0})),
        "the old token within the 900 s grace: {body}"
    );

    // A service configured without a grace period refuses the old token at once.
    let strict = Env {
        config: dir.path().join("strict.toml"),
        data: dir.path().join("strict-data"),
    };
    write_config(
        &strict.config,
        &prism.url(),
        &dir.path().join("strict-console.log"),
        0,
    );
    let strict_serve = Serve::start(&strict);
    let (status, body) = callback(&http, &strict_serve, &no_grace, Some(sig_old_4)).await;
    assert_eq!(status, 403, "the old token without grace: {body}");
    assert_eq!(body["code"], "webhook_rejected", "{body}");
    let (status, body) = callback(&http, &strict_serve, &no_grace, Some(sig_new_4)).await;
    assert_eq!(
        (status, body),
        (200, json!({"new": 1, "duplicates": 0, "resent": 0})),
        "the new token"
    );
    let text = metrics(&http, &strict_serve).await;
    expect_series(
        &text,
        r#"msgops_webhook_rejected_total{source="twilio",reason="bad_signature"}"#,
        1.0,
    );
    let strict_said = strict_serve.stop();
    assert_eq!(
        kept(&strict.data).await,
        [(
            "SM00000000000000000000000000000004".to_string(),
            DeliveryStatus::Delivered
        )]
    );

    // 6. Stopped; what History and `msgops deliveries` show.
    let said = serve.stop();
    for line in said.iter().chain(&strict_said) {
        for secret in [OLD, NEW, WRONG] {
            assert!(
                !line.contains(secret),
                "a Twilio token in the service's log"
            );
        }
    }
    assert!(
        said.iter().any(|l| l.contains("webhook refused")),
        "refusals are logged: {said:#?}"
    );

    let (ok, out, err) = env.run(
        &[
            "deliveries",
            "--json",
            "--provider",
            "twilio",
            "--data-dir",
            &env.data.display().to_string(),
        ],
        "",
    );
    assert!(ok, "msgops deliveries: {out}{err}");
    let listed: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    let statuses: Vec<(&str, &str)> = listed
        .iter()
        .map(|r| {
            (
                r["provider_message_id"].as_str().unwrap_or_default(),
                r["status"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            (sid.as_str(), "undelivered"),
            (sid.as_str(), "sent"),
            ("SM00000000000000000000000000000002", "delivered"),
            ("SM00000000000000000000000000000003", "delivered"),
        ],
        "{out}"
    );
    let report = &listed[0];
    assert_eq!(report["error_code"], "30003", "{report}");
    assert!(
        report["meaning"]
            .as_str()
            .is_some_and(|m| m.starts_with("the phone is unreachable")),
        "{report}"
    );
    assert_eq!(report["send"]["recipient"], TO, "{report}");
    assert_eq!(listed[1]["send"]["recipient"], TO, "{}", listed[1]);
    assert_eq!(
        listed[2]["send"],
        Value::Null,
        "no send of ours: {}",
        listed[2]
    );

    // Both sends in the send history, for the same recipient: Twilio's and the Console resend.
    let history = open_history(&env.data).await;
    let page = history
        .query(&HistoryFilter::default())
        .await
        .expect("the history reads");
    let sends: Vec<(&str, Option<&str>, Vec<&str>)> = page
        .sends
        .iter()
        .map(|s| {
            (
                s.record.recipient.as_str(),
                s.record.outcome.delivered_by().map(|p| p.as_str()),
                s.record
                    .outcome
                    .attempts()
                    .iter()
                    .map(|a| a.provider.as_str())
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        sends,
        [
            (TO, Some("console"), vec!["console"]),
            (TO, Some("twilio"), vec!["twilio"]),
        ],
        "newest first: the resend, then the send"
    );
    for s in &page.sends {
        assert_eq!(s.origin.kind, OriginKind::Service);
    }
    assert_eq!(
        page.sends[1].record.outcome.attempts()[0]
            .provider_message_id
            .as_deref(),
        Some(sid.as_str())
    );

    // The timeline, as History shows it beside the send.
    let timeline: Vec<DeliveryStatus> = history
        .timeline(ProviderKind::Twilio, &sid)
        .await
        .expect("the reports read")
        .into_iter()
        .map(|e| e.status)
        .collect();
    assert_eq!(
        timeline,
        [DeliveryStatus::Undelivered, DeliveryStatus::Sent],
        "as received (Twilio's callbacks carry no time of their own)"
    );
    let page = history
        .query(&HistoryFilter::default())
        .await
        .expect("the history reads");
    let message = page
        .deliveries
        .iter()
        .find(|d| d.provider_message_id == sid)
        .expect("the send's delivery in History");
    assert_eq!(
        (message.status, message.fate, message.timeline.len()),
        (DeliveryStatus::Undelivered, DeliveryFate::Failed, 2),
        "the late `sent` does not undo the final report"
    );
    assert!(message.timeline[0]
        .meaning
        .as_deref()
        .is_some_and(|m| m.starts_with("the phone is unreachable")));

    // Sent again once, all told.
    assert_eq!(console_lines(&console_log).len(), 1);
    println!(
        "delivery webhooks scenario: {} s (Prism included)",
        started.elapsed().as_secs()
    );
}
