//! The real peers of tests/webhooks.rs: Python (`cryptography`, SendGrid's own helper, moto)
//! from the repository's venv, moto's server as crates/providers/tests start it, and two small
//! loopback servers the SNS verifier's `fetch_base_override` points at:
//!
//! - [`CertForwarder`]: moto's standalone server does not route the certificate GET by its Host
//!   header (an unsigned `GET /SimpleNotificationService-<id>.pem` lands in its default
//!   service, S3, and answers 404), so this forwarder records the Host and path the verifier
//!   asked for and passes the GET on to moto with a SigV4 credential scope
//!   (`.../us-east-1/sns/aws4_request`), which moto routes by; the certificate bytes are moto's,
//!   untouched. (The same forwarder as crates/webhooks/tests/sns_moto.rs.)
//! - [`FakeSnsHost`]: stands in for `sns.<region>.amazonaws.com` for messages signed by
//!   crates/webhooks/tests/sns_signer.py: serves its certificate and records the SubscribeURL
//!   GETs (the subscription confirmations).
//!
//! When a peer is missing, a test fails under `MSGOPS_REAL_PEERS=1` or `CI`, and prints why and
//! skips otherwise ([`unavailable`]).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::Value;
use tokio::net::TcpListener;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn peers_required() -> bool {
    std::env::var("MSGOPS_REAL_PEERS").is_ok_and(|v| v == "1")
        || std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// A peer is missing: a failure when real peers are required, else a skip with its reason.
pub fn unavailable(reason: &str) {
    if peers_required() {
        panic!("MSGOPS_REAL_PEERS=1 or CI is set, but a real peer is unavailable: {reason}");
    }
    eprintln!("SKIPPED (set MSGOPS_REAL_PEERS=1 to make this a failure): {reason}");
}

/// The venv's Python (or `MSGOPS_PYTHON`), when it can import every one of `modules`.
pub fn python_with(modules: &[&str]) -> Result<PathBuf, String> {
    let python = std::env::var_os("MSGOPS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"));
    if !python.exists() {
        return Err(format!(
            "no Python at {} (set MSGOPS_PYTHON, or: python3 -m venv .venv && .venv/bin/pip install -r tests/peers/requirements.txt)",
            python.display()
        ));
    }
    let imports = format!("import {}", modules.join(", "));
    let ok = Command::new(&python)
        .args(["-c", &imports])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        return Err(format!(
            "{} cannot `{imports}` (pip install -r tests/peers/requirements.txt)",
            python.display()
        ));
    }
    Ok(python)
}

/// Runs one of crates/webhooks/tests/*.py with `input` as JSON on stdin and reads its JSON
/// stdout. The scripts print no private key; a failure of a script that could be started is a
/// test failure, not a skip.
pub async fn run_script(python: &Path, script: &str, input: &Value) -> Value {
    let python = python.to_path_buf();
    let path = repo_root().join("crates/webhooks/tests").join(script);
    let input = serde_json::to_vec(input).expect("the request serialises");
    let script = script.to_owned();
    tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        let mut child = Command::new(&python)
            .arg(&path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {script}: {e}"));
        child
            .stdin
            .take()
            .expect("a stdin pipe")
            .write_all(&input)
            .unwrap_or_else(|e| panic!("cannot write to {script}: {e}"));
        let output = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("{script} did not finish: {e}"));
        assert!(
            output.status.success(),
            "{script} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("{script} printed no JSON: {e}"))
    })
    .await
    .expect("the script's thread")
}

// --- moto, started as crates/providers/tests/common does -----------------------------------

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Kills the peer when the test process ends, even if a panic keeps `Moto` alive.
const WATCHDOG: &str = r#"
"$@" & child=$!
trap 'kill $child 2>/dev/null; exit 0' TERM INT HUP
while kill -0 "$MSGOPS_TEST_PARENT" 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 0.3; done
kill $child 2>/dev/null
"#;

pub struct Moto {
    port: u16,
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Moto {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Moto {
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

/// moto's server (tests/peers/moto_server.py) on a free loopback port; `Err` says why it is
/// unavailable.
pub fn start_moto() -> Result<Moto, String> {
    let python = python_with(&["moto.server"])?;
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
    let mut moto = Moto {
        port,
        child,
        log,
        _dir: dir,
    };
    let started = Instant::now();
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(moto);
        }
        if let Ok(Some(status)) = moto.child.try_wait() {
            return Err(format!(
                "moto exited ({status}) before listening on {port}: {}",
                moto.log_text()
            ));
        }
        if started.elapsed() > Duration::from_secs(60) {
            return Err(format!(
                "moto did not listen on {port} within 60 s: {}",
                moto.log_text()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// An SNS client of moto.
pub fn moto_sns(moto: &Moto) -> aws_sdk_sns::Client {
    use aws_sdk_sns::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_sns::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(moto.url())
        .credentials_provider(Credentials::new(
            "AKIAEXAMPLEfakekeyid0002",
            "fake/secret+access/key/for/tests/only/0002",
            None,
            None,
            "tests",
        ))
        .build();
    aws_sdk_sns::Client::from_conf(config)
}

// --- loopback servers for fetch_base_override ------------------------------------------------

/// One GET the verifier made: its path and query, and the Host it named.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub target: String,
    pub host: Option<String>,
}

impl Fetched {
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    /// The value of `key` in the query, decoded.
    pub fn query(&self, key: &str) -> Option<String> {
        let url = reqwest::Url::parse(&format!("http://fetched{}", self.target)).ok()?;
        url.query_pairs()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    }
}

fn host_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn target_of(uri: &Uri) -> String {
    uri.path_and_query()
        .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned())
}

/// A server on 127.0.0.1:0 running `app` until dropped.
struct Loopback {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Loopback {
    async fn start(app: axum::Router) -> Loopback {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Loopback { url, task }
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The certificate GETs, passed on to moto with the SigV4 scope it routes by.
pub struct CertForwarder {
    server: Loopback,
    requests: Arc<Mutex<Vec<Fetched>>>,
}

impl CertForwarder {
    pub async fn start(moto_url: String) -> CertForwarder {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = requests.clone();
        let client = reqwest::Client::new();
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
            let recorded = recorded.clone();
            let client = client.clone();
            let moto_url = moto_url.clone();
            async move {
                let fetched = Fetched {
                    target: target_of(&uri),
                    host: host_of(&headers),
                };
                recorded.lock().expect("lock").push(fetched.clone());
                let region = fetched
                    .host
                    .as_deref()
                    .and_then(|h| h.strip_prefix("sns."))
                    .and_then(|h| h.split('.').next())
                    .unwrap_or("us-east-1")
                    .to_owned();
                match client
                    .get(format!("{moto_url}{}", fetched.target))
                    .header(
                        "Authorization",
                        format!("AWS4-HMAC-SHA256 Credential=x/20260101/{region}/sns/aws4_request, SignedHeaders=host, Signature=0"),
                    )
                    .send()
                    .await
                {
                    Ok(response) => {
                        let status = StatusCode::from_u16(response.status().as_u16())
                            .unwrap_or(StatusCode::BAD_GATEWAY);
                        let body = response.bytes().await.unwrap_or_default();
                        (status, body).into_response()
                    }
                    Err(_) => StatusCode::BAD_GATEWAY.into_response(),
                }
            }
        });
        CertForwarder {
            server: Loopback::start(app).await,
            requests,
        }
    }

    pub fn url(&self) -> &str {
        &self.server.url
    }

    pub fn requests(&self) -> Vec<Fetched> {
        self.requests.lock().expect("lock").clone()
    }
}

/// `sns.<region>.amazonaws.com` for the scripted signer's messages: its certificate at
/// `cert_path`, and the SubscribeURL (`/?Action=ConfirmSubscription&...`) answered 200 and
/// recorded.
pub struct FakeSnsHost {
    server: Loopback,
    requests: Arc<Mutex<Vec<Fetched>>>,
}

impl FakeSnsHost {
    pub async fn start(cert_path: &str, cert_pem: String) -> FakeSnsHost {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = requests.clone();
        let cert_path = cert_path.to_owned();
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
            let recorded = recorded.clone();
            let cert_path = cert_path.clone();
            let cert_pem = cert_pem.clone();
            async move {
                let fetched = Fetched {
                    target: target_of(&uri),
                    host: host_of(&headers),
                };
                recorded.lock().expect("lock").push(fetched.clone());
                if fetched.path() == cert_path {
                    (StatusCode::OK, cert_pem).into_response()
                } else if fetched.query("Action").as_deref() == Some("ConfirmSubscription") {
                    (
                        StatusCode::OK,
                        "<ConfirmSubscriptionResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><ConfirmSubscriptionResult><SubscriptionArn>arn:aws:sns:us-east-1:123456789012:msgops-ses-events:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55</SubscriptionArn></ConfirmSubscriptionResult></ConfirmSubscriptionResponse>",
                    )
                        .into_response()
                } else {
                    StatusCode::NOT_FOUND.into_response()
                }
            }
        });
        FakeSnsHost {
            server: Loopback::start(app).await,
            requests,
        }
    }

    pub fn url(&self) -> &str {
        &self.server.url
    }

    pub fn requests(&self) -> Vec<Fetched> {
        self.requests.lock().expect("lock").clone()
    }

    /// The subscription confirmations received.
    pub fn confirmations(&self) -> Vec<Fetched> {
        self.requests()
            .into_iter()
            .filter(|f| f.query("Action").as_deref() == Some("ConfirmSubscription"))
            .collect()
    }
}
