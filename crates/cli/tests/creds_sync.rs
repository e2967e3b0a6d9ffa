//! A key changed anywhere is in force everywhere at once. Two real `msgops serve` processes
//! share one real keychain (gnome-keyring in a private D-Bus session, `run-with-keyring.sh`)
//! and a scripted Twilio that accepts only the new auth token. `msgops creds rotate twilio`
//! from the CLI: within 2 s both services' next Twilio send uses the new key, with no restart.
//! Then `msgops creds remove twilio` takes Twilio out of both chains, and `msgops creds import`
//! of a `.env` puts it back in both.
//!
//! The scenario runs as a child of this test binary inside the keyring session (as the keychain
//! tests do). Without the keyring tools it is skipped with the reason, unless
//! `MSGOPS_SECRET_SERVICE=1` demands it (CI).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use msgops_credentials::{CredentialStoreExt, KeychainStore, SecretKind, SecretString};
use serde_json::{json, Value};

mod common;

const INNER: &str = "MSGOPS_CREDS_SYNC_INNER";
const SID: &str = "ACtest0000000000000000000000sid01";
const OLD: &str = "oldtoken-test-0000000000000000aa";
const NEW: &str = "newtoken-test-0000000000000000bb";

fn keyring_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../credentials/tests/run-with-keyring.sh")
}

fn tools_missing() -> Option<String> {
    let found = Command::new("sh")
        .args([
            "-c",
            "command -v dbus-run-session && command -v gnome-keyring-daemon",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    (!found).then(|| "dbus-run-session or gnome-keyring-daemon not installed".to_string())
}

#[test]
fn a_rotation_removal_and_import_from_the_cli_are_in_force_in_every_running_service() {
    if std::env::var_os(INNER).is_some() {
        return inner();
    }
    if let Some(why) = tools_missing() {
        assert!(
            std::env::var("MSGOPS_SECRET_SERVICE").as_deref() != Ok("1"),
            "MSGOPS_SECRET_SERVICE=1 but {why}"
        );
        eprintln!("skipped: {why}");
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    let out = Command::new("sh")
        .arg(keyring_script())
        .arg(exe)
        .args([
            "--exact",
            "a_rotation_removal_and_import_from_the_cli_are_in_force_in_every_running_service",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(INNER, "1")
        .output()
        .expect("run in a keyring session");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the keyring scenario failed:\n{text}");
    assert!(text.contains("1 passed"), "{text}");
    for secret in [OLD, NEW] {
        assert!(!text.contains(secret), "a secret reached the test output");
    }
    println!("{text}");
}

/// Twilio as it answers the old token (401, 20003) and the new one (201 with a SID, or the
/// account for the rotation's validation). Records which token each send used.
#[derive(Default)]
struct Twilio {
    sends: Mutex<Vec<&'static str>>,
    sids: AtomicU64,
}

fn which_token(request: &common::Request) -> &'static str {
    use base64::Engine;
    let auth = request
        .header("authorization")
        .and_then(|v| v.strip_prefix("Basic "))
        .unwrap_or_default();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default();
    if decoded == format!("{SID}:{NEW}") {
        "new"
    } else if decoded == format!("{SID}:{OLD}") {
        "old"
    } else {
        "other"
    }
}

async fn twilio_server(state: Arc<Twilio>) -> String {
    common::http_server(move |request| {
        let token = which_token(request);
        let sending = request.head.starts_with("POST ") && request.head.contains("/Messages.json");
        if sending {
            state
                .sends
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(token);
        }
        match (token, sending) {
            ("new", true) => {
                let n = state.sids.fetch_add(1, Ordering::SeqCst);
                (
                    "201 Created",
                    format!(r#"{{"sid": "SM{n:032}", "status": "queued"}}"#),
                )
            }
            ("new", false) => (
                "200 OK",
                format!(r#"{{"sid": "{SID}", "status": "active"}}"#),
            ),
            _ => ("401 Unauthorized", common::TWILIO_20003.to_string()),
        }
    })
    .await
}

struct Env {
    config: PathBuf,
    data: PathBuf,
}

impl Env {
    fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_msgops"));
        c.env("MSGOPS_CONFIG", &self.config)
            .env("MSGOPS_DATA_DIR", &self.data)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("MSGOPS_API_TOKEN");
        c
    }

    /// Runs `msgops ARGS` with `stdin`; its exit status and output.
    fn run(&self, args: &[&str], stdin: &str) -> (bool, String) {
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
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }
}

struct Serve {
    child: Child,
    base: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn start_serve(env: &Env, http: &reqwest::Client) -> Serve {
    let port = free_port();
    let child = env
        .command()
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("msgops serve");
    let serve = Serve {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let start = Instant::now();
    while http
        .get(format!("{}/api/v1/health/messaging", serve.base))
        .send()
        .await
        .is_err()
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "serve did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    serve
}

async fn send(http: &reqwest::Client, serve: &Serve, token: &str, n: usize) -> Value {
    let r = http
        .post(format!("{}/api/v1/messages/sms", serve.base))
        .bearer_auth(token)
        .json(&json!({"to": format!("+1416555{:04}", 1000 + n), "body": "Your code is 091282", "code": "091282"}))
        .send()
        .await
        .expect("send");
    r.json().await.expect("json")
}

async fn twilio_configured(http: &reqwest::Client, serve: &Serve) -> bool {
    let health: Value = http
        .get(format!("{}/api/v1/health/messaging", serve.base))
        .send()
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    health["sms_providers"][1]["configured"] == true
}

/// Waits up to 2 s for `ok`, and says how long it took.
async fn within_two_seconds<F, Fut>(what: &str, mut ok: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if ok().await {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{what} not within 2 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn inner() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(scenario());
}

async fn scenario() {
    let dir = tempfile::tempdir().expect("tempdir");
    let twilio = Arc::new(Twilio::default());
    let base_url = twilio_server(twilio.clone()).await;
    let env = Env {
        config: dir.path().join("config.toml"),
        data: dir.path().join("data"),
    };
    std::fs::write(
        &env.config,
        format!(
            "[twilio]\nbase_url = \"{base_url}\"\nfrom_number = \"+15005550006\"\n\n[console]\nlog_path = \"{}\"\n",
            dir.path().join("console-sms.log").display()
        ),
    )
    .expect("config");
    let store = KeychainStore::open().expect("the session's keychain");
    store
        .set_secret(SecretKind::TwilioAccountSid, &SecretString::from(SID))
        .expect("sid");
    store
        .set_secret(SecretKind::TwilioAuthToken, &SecretString::from(OLD))
        .expect("old token");
    let token = msgops_service::create_token(&store).expect("API token");
    let token = msgops_credentials::ExposeSecret::expose_secret(&token).to_string();

    let http = reqwest::Client::new();
    let services = [
        start_serve(&env, &http).await,
        start_serve(&env, &http).await,
    ];
    // The old token: refused; the Console delivers.
    for (i, s) in services.iter().enumerate() {
        let body = send(&http, s, &token, i).await;
        assert_eq!(body["outcome"]["provider"], "console", "{body}");
    }
    assert_eq!(
        *twilio.sends.lock().expect("log"),
        ["old", "old"],
        "both services started on the old token"
    );

    // Rotated from the CLI (validated by Twilio against the new token).
    let (ok, out) = env.run(
        &["creds", "rotate", "twilio"],
        &format!("TWILIO_AUTH_TOKEN={NEW}\n"),
    );
    assert!(ok, "rotate: {out}");
    let mut n = 10;
    for (i, s) in services.iter().enumerate() {
        let took = within_two_seconds(&format!("service {i} on the new token"), || {
            n += 1;
            let (http, token, n) = (http.clone(), token.clone(), n);
            async move { send(&http, s, &token, n).await["outcome"]["provider"] == "twilio" }
        })
        .await;
        println!(
            "service {i}: the new Twilio token in force {} ms after the rotation",
            took.as_millis()
        );
    }
    let sends = twilio.sends.lock().expect("log").clone();
    assert_eq!(sends.last(), Some(&"new"));
    assert!(!sends.contains(&"other"));

    // Removed from the CLI: Twilio leaves both chains.
    let (ok, out) = env.run(&["creds", "remove", "twilio", "--yes"], "");
    assert!(ok, "remove: {out}");
    for (i, s) in services.iter().enumerate() {
        let took = within_two_seconds(&format!("service {i} without Twilio"), || {
            let http = http.clone();
            async move { !twilio_configured(&http, s).await }
        })
        .await;
        println!(
            "service {i}: Twilio out of the chain {} ms after the removal",
            took.as_millis()
        );
    }

    // Imported from a .env: back in both.
    let env_file = dir.path().join("backend.env");
    std::fs::write(
        &env_file,
        format!("TWILIO_ACCOUNT_SID={SID}\nTWILIO_AUTH_TOKEN={NEW}\n"),
    )
    .expect(".env");
    let (ok, out) = env.run(
        &["creds", "import", &env_file.display().to_string(), "--yes"],
        "",
    );
    assert!(ok, "import: {out}");
    for (i, s) in services.iter().enumerate() {
        let took = within_two_seconds(&format!("service {i} with Twilio again"), || {
            let http = http.clone();
            async move { twilio_configured(&http, s).await }
        })
        .await;
        println!(
            "service {i}: Twilio back {} ms after the import",
            took.as_millis()
        );
        let body = send(&http, s, &token, 100 + i).await;
        assert_eq!(body["outcome"]["provider"], "twilio", "{body}");
    }

    // Every change is on record, as done by the CLI.
    let (ok, audit) = env.run(&["creds", "audit", "--json"], "");
    assert!(ok, "{audit}");
    let entries: Vec<Value> = audit
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let done: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default(),
                e["actor"]["via"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    for action in ["rotate", "remove", "import"] {
        assert!(
            done.contains(&(action, "cli")),
            "{action} by the CLI: {done:?}"
        );
    }
}
