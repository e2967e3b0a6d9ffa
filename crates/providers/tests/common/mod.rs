//! Shared test tooling: local peers (moto, aiosmtpd, Prism) started on 127.0.0.1 with free
//! ports, a scripted HTTP server for faults, and fake credentials.
//!
//! A peer whose tool is missing fails the test when `MSGOPS_REAL_PEERS=1` (CI) and skips it
//! with a printed reason otherwise. Every peer runs under a small shell watchdog that kills it
//! when the test process ends, so no peer outlives the test run even when a static holds it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub mod scripted_smtp;

pub const FAKE_TWILIO_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const FAKE_TWILIO_TOKEN: &str = "f00dfacef00dfacef00dfacef00dface";
pub const FAKE_SENDGRID_KEY: &str = "SG.EXAMPLE-fake-key-for-tests.EXAMPLE-only-0001";
/// Not shaped like a real key (`AKIA` + 16 upper-case characters): lower case and too long.
pub const FAKE_AWS_KEY_ID: &str = "AKIAEXAMPLEfakekeyid0001";
pub const FAKE_AWS_SECRET: &str = "fake/secret+access/key/for/tests/only/0001";
pub const FAKE_SMTP_PASSWORD: &str = "smtp-fake-password-4711";

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn specs_dir() -> PathBuf {
    std::env::var_os("MSGOPS_SPECS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/specs"))
}

pub fn real_peers_required() -> bool {
    std::env::var("MSGOPS_REAL_PEERS").is_ok_and(|v| v == "1")
}

/// A peer could not be started: fails under `MSGOPS_REAL_PEERS=1`, else prints and skips.
pub fn unavailable(reason: &str) {
    if real_peers_required() {
        panic!("MSGOPS_REAL_PEERS=1 but a test peer is unavailable: {reason}");
    }
    eprintln!("SKIPPED (set MSGOPS_REAL_PEERS=1 to make this a failure): {reason}");
}

/// Unwraps a peer, or skips / fails the test with the reason.
#[macro_export]
macro_rules! peer_or_skip {
    ($e:expr) => {
        match $e {
            Ok(p) => p,
            Err(reason) => {
                common::unavailable(&reason);
                return;
            }
        }
    };
}

pub fn python() -> Result<PathBuf, String> {
    let python = std::env::var_os("MSGOPS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"));
    if !python.exists() {
        return Err(format!(
            "no Python at {} (set MSGOPS_PYTHON, or: python3 -m venv .venv && .venv/bin/pip install -r tests/peers/requirements.txt)",
            python.display()
        ));
    }
    Ok(python)
}

fn python_with(module: &str) -> Result<PathBuf, String> {
    let python = python()?;
    let ok = Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        Ok(python)
    } else {
        Err(format!(
            "{} cannot import {module} (pip install -r tests/peers/requirements.txt)",
            python.display()
        ))
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A running peer process (under its watchdog). Dropping it stops the peer.
pub struct Peer {
    pub name: String,
    pub port: u16,
    child: Child,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

const WATCHDOG: &str = r#"
"$@" & child=$!
trap 'kill $child 2>/dev/null; exit 0' TERM INT HUP
while kill -0 "$MSGOPS_TEST_PARENT" 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 0.3; done
kill $child 2>/dev/null
"#;

impl Peer {
    /// Starts `program args` and waits until it accepts connections on `port`.
    pub fn start(
        name: &str,
        program: &Path,
        args: &[String],
        port: u16,
        ready_within: Duration,
    ) -> Result<Peer, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let log = dir.path().join(format!("{name}.log"));
        let out = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("sh")
            .arg(program)
            .args(args)
            .env("MSGOPS_TEST_PARENT", std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {name} ({}): {e}", program.display()))?;
        let mut peer = Peer {
            name: name.into(),
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
                    "{name} exited ({status}) before listening on {port}: {}",
                    peer.log_text()
                ));
            }
            if started.elapsed() > ready_within {
                return Err(format!(
                    "{name} did not listen on {port} within {} s: {}",
                    ready_within.as_secs(),
                    peer.log_text()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops the peer and waits until its port refuses connections.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            && started.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

/// moto's server (with the SMS read-back of tests/peers/moto_server.py).
pub fn start_moto() -> Result<Peer, String> {
    let python = python_with("moto.server")?;
    let port = free_port();
    let script = repo_root().join("tests/peers/moto_server.py");
    Peer::start(
        "moto",
        &python,
        &[
            script.display().to_string(),
            "-H".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
        ],
        port,
        Duration::from_secs(60),
    )
}

/// `GET /moto-api/data.json` from a moto peer.
pub async fn moto_data(moto: &Peer) -> serde_json::Value {
    reqwest::get(format!("{}/moto-api/data.json", moto.url()))
        .await
        .expect("moto answers")
        .json()
        .await
        .expect("moto data is JSON")
}

/// An aiosmtpd sink writing received messages to `out` (JSON lines).
pub fn start_smtp_sink(out: &Path, auth: Option<(&str, &str)>) -> Result<Peer, String> {
    let python = python_with("aiosmtpd")?;
    let port = free_port();
    let mut args = vec![
        repo_root()
            .join("tests/peers/smtp_sink.py")
            .display()
            .to_string(),
        "--port".into(),
        port.to_string(),
        "--out".into(),
        out.display().to_string(),
    ];
    if let Some((user, password)) = auth {
        args.extend([
            "--user".into(),
            user.into(),
            "--password".into(),
            password.into(),
        ]);
    }
    Peer::start("aiosmtpd", &python, &args, port, Duration::from_secs(30))
}

pub fn prism_bin() -> Result<PathBuf, String> {
    let bin = std::env::var_os("MSGOPS_PRISM")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("tests/peers/node_modules/.bin/prism"));
    if bin.exists() {
        Ok(bin)
    } else {
        Err(format!(
            "no Prism at {} (run `npm ci` in tests/peers)",
            bin.display()
        ))
    }
}

/// Prism serving one of the provider descriptions in the specs directory.
pub fn start_prism(spec_file: &str) -> Result<Peer, String> {
    let bin = prism_bin()?;
    let spec = specs_dir().join(spec_file);
    if !spec.exists() {
        return Err(format!(
            "no API description at {} (set MSGOPS_SPECS_DIR)",
            spec.display()
        ));
    }
    let port = free_port();
    Peer::start(
        &format!("prism-{spec_file}"),
        &bin,
        &[
            "mock".into(),
            "-h".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
            spec.display().to_string(),
        ],
        port,
        Duration::from_secs(180),
    )
}

/// One scripted answer of [`ScriptedServer`].
#[derive(Debug, Clone)]
pub enum Reply {
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Reads the request and never answers.
    Hang,
    /// Answers with bytes that are not HTTP, then closes.
    Garbage(String),
    /// Reads the request, then resets the connection (RST) without answering.
    Reset,
}

impl Reply {
    pub fn status(status: u16, body: &str) -> Reply {
        Reply::Respond {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.into(),
        }
    }
    pub fn with_header(self, name: &str, value: &str) -> Reply {
        match self {
            Reply::Respond {
                status,
                mut headers,
                body,
            } => {
                headers.push((name.into(), value.into()));
                Reply::Respond {
                    status,
                    headers,
                    body,
                }
            }
            other => other,
        }
    }
}

/// A request as the scripted server received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A local HTTP server answering each request with the next scripted reply (then the default).
pub struct ScriptedServer {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl ScriptedServer {
    pub async fn start(script: Vec<Reply>, default: Reply) -> ScriptedServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(std::collections::VecDeque::from(script)));
        let recorded = requests.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let recorded = recorded.clone();
                let script = script.clone();
                let default = default.clone();
                tokio::spawn(async move {
                    let Some(request) = read_request(&mut socket).await else {
                        return;
                    };
                    recorded.lock().expect("lock").push(request);
                    let reply = script.lock().expect("lock").pop_front().unwrap_or(default);
                    match reply {
                        Reply::Respond {
                            status,
                            headers,
                            body,
                        } => {
                            let mut out = format!("HTTP/1.1 {status} Scripted\r\n");
                            for (n, v) in headers {
                                out.push_str(&format!("{n}: {v}\r\n"));
                            }
                            out.push_str(&format!(
                                "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                                body.len()
                            ));
                            let _ = socket.write_all(out.as_bytes()).await;
                            let _ = socket.shutdown().await;
                        }
                        Reply::Hang => {
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                        }
                        Reply::Garbage(bytes) => {
                            let _ = socket.write_all(bytes.as_bytes()).await;
                            let _ = socket.shutdown().await;
                        }
                        Reply::Reset => {
                            let _ = socket.set_zero_linger();
                        }
                    }
                });
            }
        });
        ScriptedServer {
            port,
            requests,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("lock").clone()
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<Recorded> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
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
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_owned();
    let path = first.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buf[head_end..]).to_string();
    Some(Recorded {
        method,
        path,
        headers,
        body,
    })
}

/// A port nothing listens on.
pub fn refused_url() -> String {
    format!("http://127.0.0.1:{}", free_port())
}

/// The real Twilio error body of the incident.
pub const TWILIO_20003: &str = r#"{"code": 20003, "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401}"#;

use msgops_core::chain::{ChainSettings, Priority, ProviderChain, SharedProvider};
use msgops_core::config::{self, ProviderDefaults, ProviderPolicy};
use msgops_core::{EmailMessage, SmsMessage};
use msgops_providers::{
    OtpTemplate, SendGridProvider, SendGridSettings, Timeouts, TwilioProvider, TwilioSender,
    TwilioSettings,
};
use secrecy::SecretString;

pub fn short_timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(2),
        request: Duration::from_millis(800),
    }
}

pub fn twilio(base_url: &str, timeouts: Timeouts) -> TwilioProvider {
    TwilioProvider::new(TwilioSettings {
        base_url: base_url.into(),
        account_sid: SecretString::from(FAKE_TWILIO_SID),
        auth_token: SecretString::from(FAKE_TWILIO_TOKEN),
        sender: TwilioSender::Number("+15005550006".into()),
        timeouts,
    })
    .expect("a Twilio provider")
}

pub fn sendgrid(base_url: &str, timeouts: Timeouts) -> SendGridProvider {
    SendGridProvider::new(SendGridSettings {
        base_url: base_url.into(),
        api_key: SecretString::from(FAKE_SENDGRID_KEY),
        from: "otp@example.com".into(),
        timeouts,
    })
    .expect("a SendGrid provider")
}

pub fn otp_sms(code: &str) -> SmsMessage {
    OtpTemplate::new("Acme").sms("+14165550123", code)
}

pub fn otp_email(code: &str) -> EmailMessage {
    OtpTemplate::new("Acme").email("customer@example.com", code)
}

/// A chain of these providers with their incident defaults (breaker thresholds, rates).
pub fn chain<M: msgops_core::message::Message>(
    providers: Vec<(ProviderDefaults, SharedProvider<M>)>,
) -> ProviderChain<M> {
    let priorities = [Priority::Primary, Priority::Secondary, Priority::Fallback];
    let (events, _) = tokio::sync::broadcast::channel(64);
    ProviderChain::new(
        providers
            .into_iter()
            .zip(priorities)
            .map(|((d, p), priority)| (ProviderPolicy::default().spec(&d, priority), Some(p)))
            .collect(),
        ChainSettings {
            per_attempt_timeout: Duration::from_secs(5),
            send_deadline: Duration::from_secs(20),
            on_rate_limit: msgops_core::chain::RateLimitPolicy::SpillOver,
        },
        events,
    )
}

#[allow(unused_imports)]
pub use config::{SENDGRID, SES, SMTP, SNS, TWILIO};
