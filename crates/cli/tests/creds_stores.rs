//! `msgops creds` and `msgops serve` on the stores other than the OS keychain, chosen by
//! `[credentials] store` in the configuration (MSGOPS_CONFIG):
//!
//! - **AWS Secrets Manager**, against moto's server (the real peer), read back with the AWS SDK:
//!   an import puts the `.env`'s values into the secret `msgops/twilio`; a rotation validated
//!   by a scripted Twilio moves `AWSCURRENT` and keeps the set before it as `AWSPREVIOUS`, and a
//!   running `msgops serve` sends with the new token within 2 s, no restart; a removal schedules
//!   the secret's deletion and takes Twilio out of the running chain.
//! - **systemd credentials**: `$CREDENTIALS_DIRECTORY` files are listed as stored (masked) and
//!   used by `msgops serve`; import, rotate and remove are refused with where to make the
//!   change, and change nothing; without `$CREDENTIALS_DIRECTORY` the store does not open.
//!
//! Peers listen on 127.0.0.1 only. Without moto's Python environment the Secrets Manager
//! scenario is skipped with the reason, unless MSGOPS_REAL_PEERS=1 (CI) demands it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use msgops_providers::secrets_manager::sdk;
use serde_json::{json, Value};

mod common;

const SID: &str = "ACstores000000000000000000000sid01";
const OLD: &str = "oldtoken-stores-000000000000000aa";
const NEW: &str = "newtoken-stores-000000000000000bb";
const API_TOKEN: &str = "api-token-for-the-stores-test-0001";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// moto's server under a watchdog that ends it with this test process.
struct Moto {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Moto {
    /// TERM to the watchdog, which ends moto and then itself.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

const WATCHDOG: &str = r#"
"$@" & child=$!
trap 'kill $child 2>/dev/null; exit 0' TERM INT HUP
while kill -0 "$MSGOPS_TEST_PARENT" 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 0.3; done
kill $child 2>/dev/null
"#;

fn start_moto() -> Result<Moto, String> {
    let python = std::env::var_os("MSGOPS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"));
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
    let log = std::fs::File::create(dir.path().join("moto.log")).map_err(|e| e.to_string())?;
    let err = log.try_clone().map_err(|e| e.to_string())?;
    let child = Command::new("sh")
        .arg("-c")
        .arg(WATCHDOG)
        .arg("sh")
        .arg(&python)
        .arg(repo_root().join("tests/peers/moto_server.py"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env("MSGOPS_TEST_PARENT", std::process::id().to_string())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot start moto: {e}"))?;
    let moto = Moto {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    };
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > Duration::from_secs(60) {
            return Err("moto did not listen within 60 s".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(moto)
}

/// Twilio answering the old token 401/20003 and the new one (201 for a send, 200 for the
/// rotation's account check); records which token each request used.
#[derive(Default)]
struct Twilio {
    requests: Mutex<Vec<(&'static str, bool)>>,
    sids: AtomicU64,
}

impl Twilio {
    fn sends(&self) -> Vec<&'static str> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(_, sending)| *sending)
            .map(|(token, _)| *token)
            .collect()
    }
    fn count(&self) -> usize {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
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
        state
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((token, sending));
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

/// One configuration, data directory and environment for every `msgops` run of a scenario.
struct Env {
    config: PathBuf,
    data: PathBuf,
    vars: Vec<(&'static str, String)>,
    removed: Vec<&'static str>,
    /// Everything every run printed, to look for secrets at the end.
    printed: Mutex<String>,
}

impl Env {
    fn new(dir: &Path, config: &str) -> Env {
        let env = Env {
            config: dir.join("config.toml"),
            data: dir.join("data"),
            vars: vec![("AWS_EC2_METADATA_DISABLED", "true".into())],
            removed: vec!["MSGOPS_API_TOKEN", "AWS_PROFILE", "CREDENTIALS_DIRECTORY"],
            printed: Mutex::new(String::new()),
        };
        std::fs::write(&env.config, config).expect("config");
        env
    }

    fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_msgops"));
        for name in &self.removed {
            c.env_remove(name);
        }
        c.env("MSGOPS_CONFIG", &self.config)
            .env("MSGOPS_DATA_DIR", &self.data);
        for (name, value) in &self.vars {
            c.env(name, value);
        }
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
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        self.printed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_str(&text);
        (out.status.success(), text)
    }

    /// [`Env::run`] from async code, off the runtime's workers.
    fn run_blocking(&self, args: &[&str], stdin: &str) -> (bool, String) {
        tokio::task::block_in_place(|| self.run(args, stdin))
    }

    fn assert_no_secret_printed(&self) {
        let printed = self.printed.lock().unwrap_or_else(PoisonError::into_inner);
        for secret in [SID, OLD, NEW, API_TOKEN] {
            assert!(!printed.contains(secret), "a secret reached msgops' output");
        }
    }
}

struct Serve {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

async fn start_serve(env: &Env, dir: &Path, http: &reqwest::Client) -> Serve {
    let port = free_port();
    let log = dir.join(format!("serve-{port}.log"));
    let out = std::fs::File::create(&log).expect("serve log");
    let err = out.try_clone().expect("serve log");
    let child = env
        .command()
        .env("MSGOPS_API_TOKEN", API_TOKEN)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("msgops serve");
    let serve = Serve {
        child,
        base: format!("http://127.0.0.1:{port}"),
        log,
    };
    let start = Instant::now();
    while http
        .get(format!("{}/api/v1/health/messaging", serve.base))
        .send()
        .await
        .is_err()
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "serve did not start: {}",
            serve.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    serve
}

async fn send(http: &reqwest::Client, serve: &Serve, n: usize) -> Value {
    http.post(format!("{}/api/v1/messages/sms", serve.base))
        .bearer_auth(API_TOKEN)
        .json(&json!({"to": format!("+1416555{:04}", 2000 + n), "body": "Your code is 091282", "code": "091282"}))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json")
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
    health["sms_providers"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|p| p["id"] == "twilio" && p["configured"] == true)
}

/// Waits up to 2 s for `ok`; how long it took.
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

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn twilio_config(base_url: &str, dir: &Path) -> String {
    format!(
        "[twilio]\nbase_url = \"{base_url}\"\nfrom_number = \"+15005550006\"\n\n[console]\nlog_path = \"{}\"\n",
        dir.join("console-sms.log").display()
    )
}

// ---------------------------------------------------------------- AWS Secrets Manager

fn admin(endpoint: &str) -> sdk::Client {
    sdk::Client::from_conf(
        sdk::config::Builder::new()
            .behavior_version(sdk::config::BehaviorVersion::latest())
            .region(sdk::config::Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(sdk::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .build(),
    )
}

async fn secret_object(
    admin: &sdk::Client,
    name: &str,
    stage: &str,
) -> Option<BTreeMap<String, String>> {
    let out = admin
        .get_secret_value()
        .secret_id(name)
        .version_stage(stage)
        .send()
        .await
        .ok()?;
    let value: Value = serde_json::from_str(out.secret_string()?).expect("JSON");
    Some(
        value
            .as_object()
            .expect("a JSON object")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().expect("text").to_owned()))
            .collect(),
    )
}

/// Version id → stages.
async fn versions(admin: &sdk::Client, name: &str) -> BTreeMap<String, Vec<String>> {
    admin
        .list_secret_version_ids()
        .secret_id(name)
        .send()
        .await
        .expect("versions")
        .versions()
        .iter()
        .map(|v| {
            (
                v.version_id().unwrap_or_default().to_owned(),
                v.version_stages().to_vec(),
            )
        })
        .collect()
}

fn with_stage(versions: &BTreeMap<String, Vec<String>>, stage: &str) -> Option<String> {
    versions
        .iter()
        .find(|(_, stages)| stages.iter().any(|s| s == stage))
        .map(|(id, _)| id.clone())
}

#[test]
fn secrets_manager_import_rotate_and_remove_from_the_cli_are_in_force_in_a_running_service() {
    let moto = match start_moto() {
        Ok(moto) => moto,
        Err(why) => {
            assert!(
                std::env::var("MSGOPS_REAL_PEERS").as_deref() != Ok("1"),
                "MSGOPS_REAL_PEERS=1 but {why}"
            );
            eprintln!("SKIPPED (set MSGOPS_REAL_PEERS=1 to make this a failure): {why}");
            return;
        }
    };
    runtime().block_on(secrets_manager_scenario(&moto.url));
}

async fn secrets_manager_scenario(moto: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let twilio = Arc::new(Twilio::default());
    let base_url = twilio_server(twilio.clone()).await;
    let mut env = Env::new(
        dir.path(),
        &format!(
            "{}\n[credentials]\nstore = \"aws-secrets-manager\"\nregion = \"us-east-1\"\nendpoint_url = \"{moto}\"\n",
            twilio_config(&base_url, dir.path())
        ),
    );
    // The store's own AWS credentials: the SDK's default chain, here the environment.
    env.vars.push(("AWS_ACCESS_KEY_ID", "testing".into()));
    env.vars.push(("AWS_SECRET_ACCESS_KEY", "testing".into()));
    let admin = admin(moto);

    let (ok, out) = env.run_blocking(&["creds", "list"], "");
    assert!(ok, "list: {out}");
    assert!(
        out.contains(&format!(
            "Credential store: AWS Secrets Manager (us-east-1 at {moto}, secrets msgops/<provider>)"
        )),
        "{out}"
    );
    assert!(out.contains("twilio    missing"), "{out}");

    // Imported from a .env: the secret msgops/twilio holds both values.
    let env_file = dir.path().join("backend.env");
    std::fs::write(
        &env_file,
        format!("TWILIO_ACCOUNT_SID={SID}\nTWILIO_AUTH_TOKEN={OLD}\n"),
    )
    .expect(".env");
    let (ok, out) = env.run_blocking(
        &["creds", "import", &env_file.display().to_string(), "--yes"],
        "",
    );
    assert!(ok, "import: {out}");
    assert!(
        out.contains("Stored: TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN"),
        "{out}"
    );
    let imported = secret_object(&admin, "msgops/twilio", "AWSCURRENT")
        .await
        .expect("msgops/twilio exists");
    assert_eq!(
        imported,
        BTreeMap::from([
            ("twilio.account_sid".to_owned(), SID.to_owned()),
            ("twilio.auth_token".to_owned(), OLD.to_owned()),
        ])
    );
    let (ok, out) = env.run_blocking(&["creds", "list"], "");
    assert!(ok && out.contains("twilio    stored"), "{out}");

    // A running service on the imported (old) token: Twilio refuses it, the Console delivers.
    let http = reqwest::Client::new();
    let serve = start_serve(&env, dir.path(), &http).await;
    let body = send(&http, &serve, 0).await;
    assert_eq!(body["outcome"]["provider"], "console", "{body}");
    assert_eq!(
        twilio.sends(),
        ["old"],
        "the service started on the old token"
    );

    // Rotated from the CLI, validated by Twilio: AWSCURRENT moves to one new version, and
    // AWSPREVIOUS is the set as it was.
    let before = versions(&admin, "msgops/twilio").await;
    let (ok, out) = env.run_blocking(
        &["creds", "rotate", "twilio", "--twilio-base-url", &base_url],
        &format!("TWILIO_AUTH_TOKEN={NEW}\n"),
    );
    assert!(ok, "rotate: {out}");
    let after = versions(&admin, "msgops/twilio").await;
    assert_eq!(after.len(), before.len() + 1, "one new version: {after:?}");
    assert_ne!(
        with_stage(&after, "AWSCURRENT"),
        with_stage(&before, "AWSCURRENT"),
        "AWSCURRENT moved"
    );
    assert_eq!(
        with_stage(&after, "AWSPREVIOUS"),
        with_stage(&before, "AWSCURRENT"),
        "AWSPREVIOUS is the version before the rotation"
    );
    assert_eq!(
        secret_object(&admin, "msgops/twilio", "AWSPREVIOUS").await,
        Some(imported),
        "AWSPREVIOUS holds the old token"
    );
    let current = secret_object(&admin, "msgops/twilio", "AWSCURRENT")
        .await
        .expect("current");
    assert_eq!(current["twilio.auth_token"], NEW);
    assert_eq!(current["twilio.account_sid"], SID);

    // ... and the running service sends with it within 2 s, without a restart.
    let mut n = 10;
    let took = within_two_seconds("the service on the new token", || {
        n += 1;
        let (http, serve, n) = (http.clone(), &serve, n);
        async move { send(&http, serve, n).await["outcome"]["provider"] == "twilio" }
    })
    .await;
    println!(
        "the rotated Twilio token was in force {} ms after the rotation",
        took.as_millis()
    );
    let sends = twilio.sends();
    assert_eq!(sends.last(), Some(&"new"));
    assert!(!sends.contains(&"other"), "{sends:?}");

    // Removed from the CLI: the secret is scheduled for deletion (recovery window, not
    // forced), and Twilio leaves the running chain.
    let (ok, out) = env.run_blocking(&["creds", "remove", "twilio", "--yes"], "");
    assert!(ok, "remove: {out}");
    let described = admin
        .describe_secret()
        .secret_id("msgops/twilio")
        .send()
        .await
        .expect("described during its recovery window");
    assert!(described.deleted_date().is_some(), "scheduled for deletion");
    let took = within_two_seconds("the service without Twilio", || {
        let (http, serve) = (http.clone(), &serve);
        async move { !twilio_configured(&http, serve).await }
    })
    .await;
    println!(
        "Twilio was out of the chain {} ms after the removal",
        took.as_millis()
    );
    let (ok, out) = env.run_blocking(&["creds", "list"], "");
    assert!(ok && out.contains("twilio    missing"), "{out}");

    // Every change is on the audit trail, as done by the CLI.
    let (ok, audit) = env.run_blocking(&["creds", "audit", "--json"], "");
    assert!(ok, "{audit}");
    let done: Vec<(String, String)> = audit
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default().to_owned(),
                e["outcome"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    for action in ["import", "rotate", "remove"] {
        assert!(
            done.contains(&(action.to_owned(), "success".to_owned())),
            "{action} in {done:?}"
        );
    }
    env.assert_no_secret_printed();
    let served = serve.output();
    for secret in [SID, OLD, NEW, API_TOKEN] {
        assert!(
            !served.contains(secret),
            "a secret reached the service's log"
        );
    }
}

// ---------------------------------------------------------------- systemd credentials

#[test]
fn systemd_credentials_are_listed_and_used_by_serve_and_changes_are_refused() {
    runtime().block_on(systemd_scenario());
}

async fn systemd_scenario() {
    let dir = tempfile::tempdir().expect("tempdir");
    let twilio = Arc::new(Twilio::default());
    let base_url = twilio_server(twilio.clone()).await;
    let creds = dir.path().join("credentials");
    std::fs::create_dir(&creds).expect("credentials directory");
    // As `systemd-creds decrypt` leaves them: one file per account, a newline at the end.
    std::fs::write(creds.join("twilio.account_sid"), format!("{SID}\n")).expect("sid");
    std::fs::write(creds.join("twilio.auth_token"), format!("{NEW}\n")).expect("token");
    let files_before = || -> BTreeMap<String, Vec<u8>> {
        std::fs::read_dir(&creds)
            .expect("dir")
            .map(|e| {
                let e = e.expect("entry");
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).expect("file"),
                )
            })
            .collect()
    };
    let before = files_before();
    let mut env = Env::new(
        dir.path(),
        &format!(
            "{}\n[credentials]\nstore = \"systemd-creds\"\n",
            twilio_config(&base_url, dir.path())
        ),
    );

    // Without $CREDENTIALS_DIRECTORY the store does not open, and says why.
    let (ok, out) = env.run_blocking(&["creds", "list"], "");
    assert!(!ok, "{out}");
    assert!(out.contains("$CREDENTIALS_DIRECTORY is not set"), "{out}");
    assert!(out.contains("LoadCredentialEncrypted="), "{out}");

    env.removed.retain(|v| *v != "CREDENTIALS_DIRECTORY");
    env.vars
        .push(("CREDENTIALS_DIRECTORY", creds.display().to_string()));

    // Listed as stored, masked.
    let (ok, out) = env.run_blocking(&["creds", "list"], "");
    assert!(ok, "list: {out}");
    assert!(
        out.contains(&format!(
            "Credential store: systemd credentials in {} (read-only)",
            creds.display()
        )),
        "{out}"
    );
    assert!(out.contains("twilio    stored"), "{out}");
    assert!(out.contains(&msgops_credentials::mask(NEW)), "{out}");
    assert!(out.contains("sendgrid  missing"), "{out}");

    // Every change is refused before anything is done: Twilio is not even asked.
    let refused =
        "credentials are managed by systemd here: `systemd-creds encrypt` them into the unit";
    let (ok, out) = env.run_blocking(
        &["creds", "rotate", "twilio", "--twilio-base-url", &base_url],
        &format!("TWILIO_AUTH_TOKEN={OLD}\n"),
    );
    assert!(!ok, "rotate: {out}");
    assert!(
        out.contains(refused) && out.contains("nothing was changed"),
        "{out}"
    );
    assert_eq!(twilio.count(), 0, "the provider was not asked to validate");
    let (ok, out) = env.run_blocking(&["creds", "remove", "twilio", "--yes"], "");
    assert!(!ok, "remove: {out}");
    assert!(
        out.contains(refused) && out.contains("nothing was changed"),
        "{out}"
    );
    let env_file = dir.path().join("backend.env");
    std::fs::write(&env_file, format!("TWILIO_AUTH_TOKEN={OLD}\n")).expect(".env");
    let (ok, out) = env.run_blocking(
        &["creds", "import", &env_file.display().to_string(), "--yes"],
        "",
    );
    assert!(!ok, "import: {out}");
    assert!(out.contains(refused), "{out}");
    assert_eq!(files_before(), before, "the credential files are unchanged");

    // The refusals are on the audit trail.
    let (ok, audit) = env.run_blocking(&["creds", "audit", "--json"], "");
    assert!(ok, "{audit}");
    let failures = audit
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["outcome"] == "failure")
        .count();
    assert!(failures >= 2, "{audit}");

    // The service installs Twilio from the files and sends with their token.
    let http = reqwest::Client::new();
    let serve = start_serve(&env, dir.path(), &http).await;
    assert!(twilio_configured(&http, &serve).await, "{}", serve.output());
    let body = send(&http, &serve, 0).await;
    assert_eq!(body["outcome"]["provider"], "twilio", "{body}");
    assert_eq!(twilio.sends(), ["new"]);

    env.assert_no_secret_printed();
    let served = serve.output();
    for secret in [SID, OLD, NEW, API_TOKEN] {
        assert!(
            !served.contains(secret),
            "a secret reached the service's log"
        );
    }
}
