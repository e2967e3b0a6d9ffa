//! Three `msgops serve` behind one address, sharing their state on one redis-server
//! (`[state] backend = "redis://…"`), end to end with real peers on loopback: a real
//! redis-server (`msgops_shared_state::test_server`), moto's SNS behind a forwarder of this test
//! that records when each Publish arrives (and can answer 500 instead, as an SNS outage), and
//! the real binary three times with SNS credentials from `[credentials] store =
//! "systemd-creds"`. Twilio has no credentials, so a send SNS does not take goes to the Console.
//!
//! - 2,000 sends over the three in about 10 s: SNS, limited to 10/s, never gets more than 10 in
//!   any one-second window of its own arrival log;
//! - 6 SMS to one number through the three (5 an hour): the sixth is refused;
//! - one `Idempotency-Key` sent to the three at once: one send, three identical answers;
//! - SNS failing: OPEN on all three after 5 failures in total; after the cool-down exactly one
//!   instance makes the HALF_OPEN trial;
//! - redis-server killed mid-run and started again: no crash, every request answered, health
//!   `degraded (local)` while it is down, `shared` (and limits shared again) after;
//! - a subscriber of instance A's event stream sees a send made on instance C.
//!
//! Each scenario starts its own redis-server and instances (one scenario at a time); moto is
//! started once. Without redis-server or moto the tests are skipped with the reason, unless
//! `MSGOPS_REAL_PEERS=1`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use msgops_shared_state::test_server::RedisServer;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const TOKEN: &str = "shared-state-test-api-token-0123456789ab";
const NAMES: [&str; 3] = ["a", "b", "c"];
/// SNS's rate in these tests (its default).
const SNS_RATE: usize = 10;
/// Generous: the machine is shared, and everything below is polled.
const PATIENCE: Duration = Duration::from_secs(60);

/// One scenario at a time: each runs three services, a redis-server and a load.
static SERIAL: Mutex<()> = Mutex::new(());

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python() -> PathBuf {
    std::env::var_os("MSGOPS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

// ---------------------------------------------------------------------------------------------
// Peers

/// Ends a child with this test process (moto, started once, is never dropped).
const WATCHDOG: &str = r#"
"$@" & child=$!
trap 'kill $child 2>/dev/null; exit 0' TERM INT HUP
while kill -0 "$MSGOPS_TEST_PARENT" 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 0.3; done
kill $child 2>/dev/null
"#;

struct Moto {
    _child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

fn start_moto() -> Result<Moto, String> {
    let has_moto = Command::new(python())
        .args(["-c", "import moto.server"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_moto {
        return Err(format!(
            "{} cannot import moto.server (pip install -r tests/peers/requirements.txt)",
            python().display()
        ));
    }
    let port = free_port();
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let log = std::fs::File::create(dir.path().join("moto.log")).map_err(|e| e.to_string())?;
    let err = log.try_clone().map_err(|e| e.to_string())?;
    let child = Command::new("sh")
        .arg("-c")
        .arg(WATCHDOG)
        .arg("sh")
        .arg(python())
        .arg(repo_root().join("tests/peers/moto_server.py"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env("MSGOPS_TEST_PARENT", std::process::id().to_string())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot start moto: {e}"))?;
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > PATIENCE {
            return Err("moto did not listen within 60 s".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(Moto {
        _child: child,
        url: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    })
}

/// moto, once for all scenarios; `None` (skip) when it cannot run here.
fn moto() -> Option<&'static Moto> {
    static MOTO: OnceLock<Result<Moto, String>> = OnceLock::new();
    match MOTO.get_or_init(start_moto) {
        Ok(moto) => Some(moto),
        Err(why) => {
            assert!(
                std::env::var("MSGOPS_REAL_PEERS").as_deref() != Ok("1"),
                "MSGOPS_REAL_PEERS=1 but {why}"
            );
            eprintln!("skipped: {why}");
            None
        }
    }
}

/// SNS as the instances see it: moto, behind a forwarder that records when each Publish
/// arrives and, while `failing`, answers 500 itself (an SNS outage; nothing reaches moto).
struct SnsPeer {
    url: String,
    arrivals: Arc<Mutex<Vec<Instant>>>,
    failing: Arc<AtomicBool>,
}

impl SnsPeer {
    async fn start(moto: &str) -> SnsPeer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let failing = Arc::new(AtomicBool::new(false));
        let http = reqwest::Client::new();
        let (moto, seen, fail) = (moto.to_string(), arrivals.clone(), failing.clone());
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (moto, seen, fail, http) =
                    (moto.clone(), seen.clone(), fail.clone(), http.clone());
                tokio::spawn(forward(socket, moto, seen, fail, http));
            }
        });
        SnsPeer {
            url,
            arrivals,
            failing,
        }
    }

    /// Publish calls so far.
    fn calls(&self) -> usize {
        lock(&self.arrivals).len()
    }

    fn arrivals(&self) -> Vec<Instant> {
        lock(&self.arrivals).clone()
    }

    fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }
}

/// One connection's requests (keep-alive): recorded, then answered by moto or with a 500.
async fn forward(
    mut socket: tokio::net::TcpStream,
    moto: String,
    seen: Arc<Mutex<Vec<Instant>>>,
    failing: Arc<AtomicBool>,
    http: reqwest::Client,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let arrived = Instant::now();
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let header = |name: &str| {
            head.lines().find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_string())
            })
        };
        let length: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + length {
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = buf[head_end..head_end + length].to_vec();
        buf.drain(..head_end + length);
        let publish = String::from_utf8_lossy(&body).contains("Action=Publish");
        if publish {
            lock(&seen).push(arrived);
        }
        let (status, content_type, answer) = if publish && failing.load(Ordering::SeqCst) {
            (
                500,
                "text/xml".to_string(),
                "<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code><Message>scripted SNS outage</Message></Error><RequestId>outage</RequestId></ErrorResponse>".as_bytes().to_vec(),
            )
        } else {
            let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
            let mut request = http.post(format!("{moto}{path}")).body(body);
            for name in [
                "content-type",
                "authorization",
                "x-amz-date",
                "x-amz-target",
            ] {
                if let Some(v) = header(name) {
                    request = request.header(name, v);
                }
            }
            match request.send().await {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let ct = r
                        .headers()
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("text/xml")
                        .to_string();
                    (
                        status,
                        ct,
                        r.bytes().await.map(|b| b.to_vec()).unwrap_or_default(),
                    )
                }
                Err(_) => (502, "text/plain".into(), b"moto unreachable".to_vec()),
            }
        };
        let reply = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n",
            answer.len()
        );
        if socket.write_all(reply.as_bytes()).await.is_err()
            || socket.write_all(&answer).await.is_err()
        {
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The instances

struct Instance {
    name: &'static str,
    child: Child,
    base: String,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Instance {
    fn said(&self) -> String {
        lock(&self.stderr).join("\n")
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if self.alive() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while self.alive() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A redis-server, the SNS peer and three instances sharing the state on it.
struct Cluster {
    // Dropped first: the instances stop before redis-server and the directories go.
    instances: Vec<Instance>,
    redis: RedisServer,
    peer: SnsPeer,
    http: reqwest::Client,
    dir: tempfile::TempDir,
}

fn config_text(dir: &Path, redis: &str, sns: &str, moto: &str) -> String {
    format!(
        r#"[chain]
per_attempt_timeout_ms = 3000
send_deadline_ms = 10000
rate_limit_max_wait_ms = 500

[sns]
endpoint_url = "{sns}"

[sns.policy]
failure_threshold = 5
open_secs = 3
rate_per_second = {SNS_RATE}.0

[ses]
endpoint_url = "{moto}"

[console]
log_path = "{console}"

[credentials]
store = "systemd-creds"

[state]
backend = "{redis}"
instances = 3
"#,
        console = dir.join("console-sms.log").display(),
    )
}

fn start_instance(name: &'static str, dir: &Path, creds: &Path) -> Instance {
    let mut command = Command::new(env!("CARGO_BIN_EXE_msgops"));
    command
        .env("MSGOPS_CONFIG", dir.join("config.toml"))
        .env("MSGOPS_DATA_DIR", dir.join("data"))
        .env("MSGOPS_API_TOKEN", TOKEN)
        .env("MSGOPS_INSTANCE_ID", name)
        .env("CREDENTIALS_DIRECTORY", creds)
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
    ] {
        command.env_remove(aws);
    }
    let mut child = command
        .args(["serve", "--listen", "127.0.0.1:0", "--sms-per-hour", "5"])
        // A log nobody writes: the Console's own log is not followed (no code events).
        .arg("--log")
        .arg(dir.join("backend.log"))
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
                lock(&lines).push(line);
            }
        });
    }
    let mut instance = Instance {
        name,
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
                    instance.base = format!("http://{addr}");
                    return instance;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    panic!(
        "instance {name} did not say where it listens:\n{}",
        instance.said()
    );
}

impl Cluster {
    async fn start() -> Option<Cluster> {
        if let Some(why) = RedisServer::skip_reason() {
            eprintln!("skipped: {why}");
            return None;
        }
        let moto = moto()?;
        let redis = RedisServer::start().expect("redis-server starts");
        let peer = SnsPeer::start(&moto.url).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let creds = dir.path().join("credentials");
        std::fs::create_dir_all(&creds).expect("credentials dir");
        std::fs::write(creds.join("aws.access_key_id"), "AKIAEXAMPLESHAREDST1").expect("id");
        std::fs::write(
            creds.join("aws.secret_access_key"),
            "shared-state-test-secret-not-real-0000",
        )
        .expect("secret");
        let mut starting = Vec::new();
        for name in NAMES {
            let home = dir.path().join(name);
            std::fs::create_dir_all(home.join("data")).expect("instance dir");
            std::fs::write(
                home.join("config.toml"),
                config_text(&home, &redis.url(), &peer.url, &moto.url),
            )
            .expect("config");
            let creds = creds.clone();
            starting.push(tokio::task::spawn_blocking(move || {
                start_instance(name, &home, &creds)
            }));
        }
        let mut instances = Vec::new();
        for s in starting {
            instances.push(s.await.expect("started"));
        }
        let cluster = Cluster {
            instances,
            redis,
            peer,
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(64)
                .build()
                .expect("client"),
            dir,
        };
        for i in 0..3 {
            cluster.wait_for_state(i, "shared").await;
        }
        Some(cluster)
    }

    fn base(&self, i: usize) -> &str {
        &self.instances[i].base
    }

    async fn send_sms(&self, i: usize, to: &str, key: Option<&str>) -> (u16, Value, Duration) {
        send_sms(&self.http, self.base(i), to, key).await
    }

    async fn health(&self, i: usize) -> Value {
        let r = self
            .http
            .get(format!("{}/api/v1/health/messaging", self.base(i)))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .expect("health answers");
        r.json().await.expect("health json")
    }

    async fn metrics(&self, i: usize) -> String {
        self.http
            .get(format!("{}/metrics", self.base(i)))
            .send()
            .await
            .expect("metrics answer")
            .text()
            .await
            .expect("text")
    }

    async fn sns_breaker(&self, i: usize) -> String {
        self.health(i).await["sms_providers"][0]["breaker_state"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    async fn wait_for_state(&self, i: usize, state: &str) -> Duration {
        let started = Instant::now();
        loop {
            let health = self.health(i).await;
            if health["state"] == state {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "instance {} never showed state {state}: {}",
                self.instances[i].name,
                health["state"]
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn wait_for_breaker(&self, i: usize, want: &str, within: Duration) {
        let started = Instant::now();
        loop {
            let got = self.sns_breaker(i).await;
            if got == want {
                return;
            }
            assert!(
                started.elapsed() < within,
                "SNS on instance {} is {got}, not {want}, after {:?}",
                self.instances[i].name,
                started.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The Console log's lines: what the Console delivered on every instance.
    fn console_lines(&self) -> usize {
        NAMES
            .iter()
            .map(|n| {
                std::fs::read_to_string(self.dir.path().join(n).join("console-sms.log"))
                    .unwrap_or_default()
                    .lines()
                    .count()
            })
            .sum()
    }
}

async fn send_sms(
    http: &reqwest::Client,
    base: &str,
    to: &str,
    key: Option<&str>,
) -> (u16, Value, Duration) {
    let mut request = http
        .post(format!("{base}/api/v1/messages/sms"))
        .bearer_auth(TOKEN)
        .timeout(Duration::from_secs(30))
        .json(&json!({"to": to, "body": "Your code is 091282", "code": "091282"}));
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let started = Instant::now();
    let r = request.send().await.expect("the send is answered");
    let status = r.status().as_u16();
    let body = r.json::<Value>().await.expect("json");
    (status, body, started.elapsed())
}

/// `msgops_state_fallbacks_total` over every area.
fn fallbacks(metrics: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("msgops_state_fallbacks_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// The most arrivals in any window `[t, t + 1 s)` starting at an arrival.
fn most_in_one_second(arrivals: &[Instant]) -> (usize, Duration) {
    let mut sorted = arrivals.to_vec();
    sorted.sort();
    let mut most = 0;
    let mut tightest = Duration::MAX;
    for (i, start) in sorted.iter().enumerate() {
        let n = sorted[i..]
            .iter()
            .take_while(|t| t.duration_since(*start) < Duration::from_secs(1))
            .count();
        most = most.max(n);
        if let Some(later) = sorted.get(i + SNS_RATE) {
            tightest = tightest.min(later.duration_since(*start));
        }
    }
    (most, tightest)
}

// ---------------------------------------------------------------------------------------------
// The scenarios

#[test]
fn two_thousand_sends_over_three_instances_never_give_sns_more_than_its_rate_in_any_second() {
    let _serial = lock(&SERIAL);
    runtime().block_on(async {
        let Some(cluster) = Cluster::start().await else {
            return;
        };
        let cluster = Arc::new(cluster);
        const SENDS: usize = 2000;
        let started = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(5));
        let mut sends = Vec::with_capacity(SENDS);
        for n in 0..SENDS {
            tick.tick().await;
            let cluster = cluster.clone();
            sends.push(tokio::spawn(async move {
                let to = format!("+1416555{n:04}");
                cluster.send_sms(n % 3, &to, None).await
            }));
        }
        let mut by = std::collections::BTreeMap::<String, usize>::new();
        let mut slowest = Duration::ZERO;
        for s in sends {
            let (status, body, took) = s.await.expect("joined");
            assert_eq!(status, 200, "every send is delivered by someone: {body}");
            *by.entry(
                body["outcome"]["provider"]
                    .as_str()
                    .unwrap_or("?")
                    .to_string(),
            )
            .or_default() += 1;
            slowest = slowest.max(took);
        }
        let elapsed = started.elapsed();
        let arrivals = cluster.peer.arrivals();
        let (most, tightest) = most_in_one_second(&arrivals);
        let span = arrivals
            .iter()
            .max()
            .zip(arrivals.iter().min())
            .map_or(Duration::ZERO, |(last, first)| last.duration_since(*first));
        println!(
            "{SENDS} sends over 3 instances in {:.2} s: delivered by {by:?}; SNS got {} \
             ({:.2}/s over {:.2} s), at most {most} in one second, {} calls never closer \
             than {:.0} ms; slowest answer {:.0} ms",
            elapsed.as_secs_f64(),
            arrivals.len(),
            arrivals.len() as f64 / span.as_secs_f64().max(0.001),
            span.as_secs_f64(),
            SNS_RATE + 1,
            tightest.as_secs_f64() * 1000.0,
            slowest.as_secs_f64() * 1000.0,
        );
        for (i, name) in NAMES.iter().enumerate() {
            let metrics = cluster.metrics(i).await;
            assert!(metrics.contains("msgops_state_backend_up 1"), "{name}");
            println!(
                "instance {name}: {} operations on its own state",
                fallbacks(&metrics)
            );
        }
        assert!(
            most <= SNS_RATE,
            "SNS got {most} calls within one second (limit {SNS_RATE}/s)"
        );
        assert_eq!(by.get("sns").copied().unwrap_or(0), arrivals.len());
        assert_eq!(
            by.values().sum::<usize>(),
            SENDS,
            "every send answered once"
        );
        // The limit was reached, not dodged: SNS got its rate for the whole run.
        assert!(
            arrivals.len() as f64 >= 0.8 * SNS_RATE as f64 * span.as_secs_f64(),
            "SNS got only {} calls over {:.1} s",
            arrivals.len(),
            span.as_secs_f64()
        );
        assert!(span > Duration::from_secs(8), "the load lasted {span:?}");
    });
}

#[test]
fn six_sms_to_one_number_through_three_instances_the_sixth_is_refused() {
    let _serial = lock(&SERIAL);
    runtime().block_on(async {
        let Some(cluster) = Cluster::start().await else {
            return;
        };
        let to = "+14165550777";
        for n in 0..5 {
            let (status, body, _) = cluster.send_sms(n % 3, to, None).await;
            assert_eq!(status, 200, "send {n} through {}: {body}", NAMES[n % 3]);
        }
        let (status, body, _) = cluster.send_sms(2, to, None).await;
        assert_eq!(status, 429, "{body}");
        assert_eq!(body["code"], "recipient_limited");
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.contains("already received 5 SMS in the last hour")),
            "{body}"
        );
        // Another number is not affected.
        let (status, _, _) = cluster.send_sms(0, "+14165550778", None).await;
        assert_eq!(status, 200);
    });
}

#[test]
fn one_idempotency_key_sent_to_all_three_at_once_is_sent_once_and_answered_alike() {
    let _serial = lock(&SERIAL);
    runtime().block_on(async {
        let Some(cluster) = Cluster::start().await else {
            return;
        };
        let cluster = Arc::new(cluster);
        let (sns_before, console_before) = (cluster.peer.calls(), cluster.console_lines());
        let answers: Vec<(u16, Value, Duration)> = futures_join(
            (0..3)
                .map(|i| {
                    let cluster = cluster.clone();
                    tokio::spawn(async move {
                        cluster
                            .send_sms(i, "+14165550888", Some("order-4711-otp"))
                            .await
                    })
                })
                .collect(),
        )
        .await;
        let sent = (cluster.peer.calls() - sns_before) + (cluster.console_lines() - console_before);
        assert_eq!(sent, 1, "exactly one message went out");
        for (status, body, _) in &answers {
            assert_eq!(*status, 200, "{body}");
            assert_eq!(body, &answers[0].1, "three identical answers");
        }
        // A retry later, on any of them, gets the same answer and sends nothing.
        let (status, body, _) = cluster
            .send_sms(1, "+14165550888", Some("order-4711-otp"))
            .await;
        assert_eq!((status, &body), (200, &answers[0].1));
        assert_eq!(
            (cluster.peer.calls() - sns_before) + (cluster.console_lines() - console_before),
            1
        );
    });
}

async fn futures_join<T>(handles: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("joined"));
    }
    out
}

#[test]
fn sns_failing_opens_on_all_three_after_five_failures_in_total_and_one_instance_makes_the_trial() {
    let _serial = lock(&SERIAL);
    runtime().block_on(async {
        let Some(cluster) = Cluster::start().await else {
            return;
        };
        cluster.peer.fail(true);
        // Four failures over three instances: below the threshold everywhere.
        for n in 0..4 {
            let (status, body, _) = cluster
                .send_sms(n % 3, &format!("+1416555{:04}", 1000 + n), None)
                .await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["outcome"]["provider"], "console", "{body}");
        }
        assert_eq!(cluster.peer.calls(), 4);
        for i in 0..3 {
            assert_eq!(cluster.sns_breaker(i).await, "CLOSED", "after 4 failures");
        }
        // The fifth, on any instance: OPEN on all three.
        let (status, _, _) = cluster.send_sms(1, "+14165551004", None).await;
        assert_eq!(status, 200);
        let opened = Instant::now();
        for i in 0..3 {
            cluster
                .wait_for_breaker(i, "OPEN", Duration::from_secs(2))
                .await;
        }
        println!(
            "SNS OPEN on all three {:.0} ms after the fifth failure",
            opened.elapsed().as_secs_f64() * 1000.0
        );
        // While OPEN nobody calls SNS.
        for i in 0..3 {
            let (status, body, _) = cluster.send_sms(i, "+14165551010", None).await;
            assert_eq!(status, 200, "{body}");
        }
        assert_eq!(cluster.peer.calls(), 5, "no call while OPEN");

        // After the cool-down (3 s): every instance is HALF_OPEN and sends at once, SNS is
        // still failing: exactly one trial call reaches it, and SNS is OPEN again everywhere.
        for i in 0..3 {
            cluster
                .wait_for_breaker(i, "HALF_OPEN", Duration::from_secs(6))
                .await;
        }
        let cluster = Arc::new(cluster);
        let mut sends = Vec::new();
        for n in 0..9 {
            let cluster = cluster.clone();
            sends.push(tokio::spawn(async move {
                cluster
                    .send_sms(n % 3, &format!("+1416555{:04}", 1100 + n), None)
                    .await
            }));
        }
        let answers = futures_join(sends).await;
        assert!(answers.iter().all(|(s, _, _)| *s == 200));
        let trials: Vec<&Value> = answers
            .iter()
            .map(|(_, b, _)| b)
            .filter(|b| {
                b["outcome"]["attempts"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|a| a["provider"] == "sns"))
            })
            .collect();
        assert_eq!(
            cluster.peer.calls(),
            6,
            "exactly one HALF_OPEN trial reached SNS"
        );
        assert_eq!(trials.len(), 1, "one answer shows the trial attempt");
        for i in 0..3 {
            cluster
                .wait_for_breaker(i, "OPEN", Duration::from_secs(2))
                .await;
        }
        // SNS is back: after the next cool-down one trial succeeds and closes it everywhere.
        cluster.peer.fail(false);
        for i in 0..3 {
            cluster
                .wait_for_breaker(i, "HALF_OPEN", Duration::from_secs(6))
                .await;
        }
        let (status, body, _) = cluster.send_sms(2, "+14165551200", None).await;
        assert_eq!(status, 200);
        assert_eq!(body["outcome"]["provider"], "sns", "{body}");
        for i in 0..3 {
            cluster
                .wait_for_breaker(i, "CLOSED", Duration::from_secs(2))
                .await;
        }
        assert_eq!(cluster.peer.calls(), 7);
    });
}

#[test]
fn redis_killed_mid_run_and_restarted_loses_no_answer_shows_degraded_and_shares_again() {
    let _serial = lock(&SERIAL);
    runtime().block_on(async {
        let Some(cluster) = Cluster::start().await else {
            return;
        };
        let mut cluster = cluster;
        let http = cluster.http.clone();
        let bases: Vec<String> = cluster.instances.iter().map(|i| i.base.clone()).collect();
        // A steady load of 40 sends a second for 6 s, while redis-server dies and comes back.
        let load = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(25));
            let mut sends = Vec::new();
            for n in 0..240usize {
                tick.tick().await;
                let (http, base) = (http.clone(), bases[n % 3].clone());
                sends.push(tokio::spawn(async move {
                    send_sms(&http, &base, &format!("+1416556{n:04}"), None).await
                }));
            }
            futures_join(sends).await
        });
        tokio::time::sleep(Duration::from_millis(1500)).await;
        cluster.redis.kill();
        let killed = Instant::now();
        let mut seen_down = Vec::new();
        for i in 0..3 {
            seen_down.push(cluster.wait_for_state(i, "degraded (local)").await);
        }
        tokio::time::sleep(Duration::from_millis(2000)).await;
        // Health and metrics while it is down.
        for i in 0..3 {
            let metrics = cluster.metrics(i).await;
            assert!(metrics.contains("msgops_state_backend_up 0"), "{metrics}");
        }
        cluster.redis.restart().expect("redis-server starts again");
        let down_for = killed.elapsed();
        let mut seen_back = Vec::new();
        for i in 0..3 {
            seen_back.push(cluster.wait_for_state(i, "shared").await);
        }
        let answers = load.await.expect("the load ran");
        let slowest = answers.iter().map(|(_, _, t)| *t).max().unwrap_or_default();
        println!(
            "redis-server killed: degraded (local) seen {seen_down:?} after it; down {:.1} s; \
             restarted: shared again {seen_back:?} after; {} answers, slowest {:.0} ms",
            down_for.as_secs_f64(),
            answers.len(),
            slowest.as_secs_f64() * 1000.0
        );
        assert_eq!(answers.len(), 240);
        for (status, body, _) in &answers {
            assert_eq!(*status, 200, "no answer lost: {body}");
        }
        assert!(
            slowest < Duration::from_secs(3),
            "a send waited {slowest:?} on the outage"
        );
        for instance in &mut cluster.instances {
            assert!(
                instance.alive(),
                "{} crashed:\n{}",
                instance.name,
                instance.said()
            );
        }
        for (i, name) in NAMES.iter().enumerate() {
            let metrics = cluster.metrics(i).await;
            assert!(metrics.contains("msgops_state_backend_up 1"), "{metrics}");
            let fallbacks = fallbacks(&metrics);
            assert!(fallbacks > 0.0, "fallbacks counted on {name}");
        }
        // Shared again: the recipient limit counts across the three once more.
        let to = "+14165550999";
        for n in 0..5 {
            let (status, body, _) = cluster.send_sms(n % 3, to, None).await;
            assert_eq!(status, 200, "{body}");
        }
        let (status, body, _) = cluster.send_sms(1, to, None).await;
        assert_eq!(status, 429, "the sixth is refused again: {body}");
    });
}

#[test]
fn a_subscriber_of_instance_a_sees_a_send_made_on_instance_c() {
    let _serial = lock(&SERIAL);
    runtime().block_on(async {
        let Some(cluster) = Cluster::start().await else {
            return;
        };
        let mut stream = cluster
            .http
            .get(format!("{}/api/v1/events", cluster.base(0)))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("the event stream opens");
        assert_eq!(stream.status().as_u16(), 200);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (status, _, _) = cluster.send_sms(2, "+14165550555", None).await;
        assert_eq!(status, 200);
        let (status, _, _) = cluster.send_sms(0, "+14165550556", None).await;
        assert_eq!(status, 200);
        let mut text = String::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        let wanted = |text: &str| text.contains("+14165550555") && text.contains("+14165550556");
        while !wanted(&text) && Instant::now() < deadline {
            match tokio::time::timeout(Duration::from_secs(1), stream.chunk()).await {
                Ok(Ok(Some(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
                Ok(Ok(None)) | Ok(Err(_)) => break,
                Err(_) => {}
            }
        }
        // Each send_finished once, tagged with the instance it happened on.
        let finished: Vec<Value> = text
            .split("\n\n")
            .filter(|e| e.contains("event: send_finished"))
            .filter_map(|e| {
                let data = e.lines().find_map(|l| l.strip_prefix("data:"))?;
                serde_json::from_str(data.trim()).ok()
            })
            .collect();
        let on = |to: &str| -> Vec<&Value> {
            finished
                .iter()
                .filter(|e| e["record"]["recipient"] == to)
                .collect()
        };
        let from_c = on("+14165550555");
        assert_eq!(from_c.len(), 1, "the send on C, once: {text}");
        assert_eq!(from_c[0]["instance"], "c");
        let own = on("+14165550556");
        assert_eq!(own.len(), 1, "A's own send, once (not echoed back): {text}");
        assert_eq!(own[0]["instance"], "a");
    });
}
