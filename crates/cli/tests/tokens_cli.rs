//! `msgops token create|list|revoke` against a real `msgops serve --emulated` sharing its data
//! directory ($MSGOPS_DATA_DIR): a created token works on the service's next request, `list`
//! shows it without a secret, a revoked one is refused at once — no restart; the token file is
//! mode 0600 and never holds a token; each creation and revocation is in the audit trail.
//!
//! The tokens the commands print are kept in variables and never printed by the test.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The service, killed if the test ends early.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn msgops(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_msgops"));
    c.current_dir(dir)
        .env("MSGOPS_CONFIG", dir.join("config.toml"))
        .env("MSGOPS_DATA_DIR", dir.join("data"))
        .env_remove("MSGOPS_API_TOKEN")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    c
}

/// Starts `msgops serve --emulated` on a free loopback port; returns it and its address.
fn start_serve(dir: &Path) -> (Serve, String) {
    let mut child = msgops(dir)
        .args(["serve", "--emulated", "--listen", "127.0.0.1:0", "--log"])
        .arg(dir.join("backend.log"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("msgops serve starts");
    let stderr = child.stderr.take().expect("stderr");
    let serve = Serve(child);
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        match lines.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                if let Some(addr) = line
                    .split("listening on http://")
                    .nth(1)
                    .and_then(|rest| rest.split_whitespace().next())
                {
                    // Keep draining stderr so the service never blocks on it.
                    std::thread::spawn(move || for _ in lines {});
                    return (serve, addr.to_string());
                }
                seen.push(line);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    panic!("msgops serve did not say where it listens: {seen:#?}");
}

/// `method path` with `token`: the status and the JSON body.
fn call(addr: &str, method: &str, path: &str, token: Option<&str>) -> (u16, Value) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let url = format!("http://{addr}{path}");
        let mut request = match method {
            "POST" => client.post(url),
            _ => client.get(url),
        };
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    })
}

fn token_cmd(dir: &Path, args: &[&str]) -> Output {
    msgops(dir)
        .arg("token")
        .args(args)
        .output()
        .expect("msgops token runs")
}

/// `msgops token create`: its standard output is the token, and only it.
fn create(dir: &Path, args: &[&str]) -> String {
    let mut all = vec!["create"];
    all.extend_from_slice(args);
    let out = token_cmd(dir, &all);
    assert!(
        out.status.success(),
        "create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stdout: the token");
    let token = lines[0].trim().to_string();
    assert!(
        token.starts_with("msgops_") && token.len() == 71,
        "a token of the usual shape"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains(&token), "the token is on stdout only");
    token
}

#[test]
fn tokens_created_and_revoked_by_the_cli_are_honoured_by_a_running_service_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("config.toml"), "").expect("config");
    let data = dir.path().join("data");
    let file = data.join("api-tokens.json");
    let (_serve, addr) = start_serve(dir.path());

    // No token yet.
    let (status, body) = call(&addr, "GET", "/api/v1/codes", None);
    assert_eq!(status, 401, "{body}");

    let console = create(dir.path(), &["console", "--scope", "read,codes"]);
    // At once: no restart.
    let (status, body) = call(&addr, "GET", "/api/v1/codes", Some(&console));
    assert_eq!(status, 200, "{body}");
    assert!(body["codes"].is_array(), "{body}");
    assert_eq!(
        call(&addr, "GET", "/api/v1/diagnostics", Some(&console)).0,
        200
    );
    let (status, body) = call(
        &addr,
        "POST",
        "/api/v1/providers/twilio/reset",
        Some(&console),
    );
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body["message"],
        "the token `console` has scopes read, codes; this needs operate"
    );

    let oncall = create(dir.path(), &["oncall", "--scope", "operate"]);
    assert_eq!(
        call(
            &addr,
            "POST",
            "/api/v1/providers/twilio/reset",
            Some(&oncall)
        )
        .0,
        200
    );

    // An existing name is refused without --replace, and the token it has keeps working.
    let out = token_cmd(dir.path(), &["create", "console", "--scope", "admin"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "no token printed");
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    assert_eq!(call(&addr, "GET", "/api/v1/codes", Some(&console)).0, 200);
    // Bad arguments: exit 2, nothing made.
    assert_eq!(
        token_cmd(dir.path(), &["create", "x", "--scope", "root"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        token_cmd(dir.path(), &["create", "a b", "--scope", "read"])
            .status
            .code(),
        Some(2)
    );

    // The file: 0600, hashes only.
    let text = std::fs::read_to_string(&file).expect("token file");
    for token in [&console, &oncall] {
        assert!(!text.contains(token.as_str()), "the file holds no token");
        assert!(!text.contains(&token["msgops_".len()..]));
    }
    let kept: Value = serde_json::from_str(&text).expect("json");
    let hashes: Vec<&str> = kept["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .map(|t| t["sha256"].as_str().expect("sha256"))
        .collect();
    assert_eq!(hashes.len(), 2);
    assert!(hashes
        .iter()
        .all(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit())));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    }

    // list: names, scopes, when, by whom; never a token or a hash.
    let out = token_cmd(dir.path(), &["list"]);
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        table.contains("console") && table.contains("read, codes"),
        "{table}"
    );
    assert!(
        table.contains("oncall") && table.contains("operate"),
        "{table}"
    );
    let out = token_cmd(dir.path(), &["list", "--json"]);
    assert!(out.status.success());
    let listed = String::from_utf8(out.stdout).expect("utf-8");
    for secret in [console.as_str(), oncall.as_str()]
        .into_iter()
        .chain(hashes.iter().copied())
    {
        assert!(!table.contains(secret) && !listed.contains(secret));
    }
    let listed: Value = serde_json::from_str(&listed).expect("json");
    let first = &listed[0];
    assert_eq!(first["name"], "console");
    assert_eq!(first["scopes"], serde_json::json!(["read", "codes"]));
    assert_eq!(first["created_by"]["via"], "cli");
    assert!(first["created_at"].is_string());
    assert!(first.get("sha256").is_none());

    // revoke: refused at once; the other token is untouched.
    let out = token_cmd(dir.path(), &["revoke", "console"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, body) = call(&addr, "GET", "/api/v1/codes", Some(&console));
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        call(&addr, "GET", "/api/v1/diagnostics", Some(&oncall)).0,
        200
    );
    assert_eq!(
        token_cmd(dir.path(), &["revoke", "console"]).status.code(),
        Some(1),
        "no such token any more"
    );
    // --replace: the old token of that name stops, the new one works.
    let replaced = create(
        dir.path(),
        &["oncall", "--scope", "operate,codes", "--replace"],
    );
    assert_eq!(
        call(&addr, "GET", "/api/v1/diagnostics", Some(&oncall)).0,
        401
    );
    assert_eq!(call(&addr, "GET", "/api/v1/codes", Some(&replaced)).0, 200);

    // The audit trail: each creation and revocation, by the CLI, with no token.
    let trail = std::fs::read_to_string(data.join("credentials-audit.jsonl")).expect("audit");
    let actions: Vec<String> = trail
        .lines()
        .map(|l| {
            let entry: Value = serde_json::from_str(l).expect("json line");
            entry["action"].as_str().expect("action").to_string()
        })
        .collect();
    assert_eq!(
        actions,
        [
            "token_create",
            "token_create",
            "token_revoke",
            "token_create"
        ]
    );
    assert!(trail.contains("`console`") && trail.contains("`oncall`"));
    for secret in [&console, &oncall, &replaced] {
        assert!(!trail.contains(secret.as_str()));
    }
}

/// Polls `path` with `token` until `done` holds for its answer.
fn wait_for(addr: &str, path: &str, token: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = call(addr, "GET", path, Some(token));
        assert_eq!(status, 200, "{body}");
        if done(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "never came: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_services_log_watcher_feeds_codes_and_diagnostics_each_to_its_scope() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("config.toml"), "").expect("config");
    let log = dir.path().join("backend.log");
    std::fs::write(&log, "").expect("log");
    let (_serve, addr) = start_serve(dir.path());
    let read = create(dir.path(), &["grafana", "--scope", "read"]);
    let codes = create(dir.path(), &["console", "--scope", "codes"]);

    // The watcher follows the log from its end: write once it does.
    wait_for(&addr, "/api/v1/diagnostics", &read, |b| {
        b["diagnostics"].as_array().is_some_and(|a| {
            a.iter()
                .any(|d| d["kind"] == "follower_status" && d["state"] == "following")
        })
    });
    let ts = chrono::Local::now().format("%Y-%m-%d %H:%M:%S,%3f");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .expect("open log");
    write!(
        file,
        "{ts} - worker1 - ERROR - Failed to send SMS\n\
Traceback (most recent call last):\n\
  File \"/app/sms.py\", line 1, in send\n\
twilio.base.exceptions.TwilioRestException: HTTP 401 error: Unable to create record: Authenticate\n\
{ts} - worker2 - WARNING - SMS FALLBACK - OTP for +14165550001: 111111\n\
INFO:     127.0.0.1:1 - \"POST /api/v1/auth/otp/send HTTP/1.1\" 503 Service Unavailable\n\
{ts} - worker2 - INFO - done\n"
    )
    .expect("write log");
    file.sync_all().expect("sync");

    let kinds = |body: &Value| -> Vec<String> {
        body["diagnostics"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|d| d["kind"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let body = wait_for(&addr, "/api/v1/diagnostics", &read, |b| {
        let k = kinds(b);
        k.contains(&"provider_error".to_string()) && k.contains(&"http_error".to_string())
    });
    let error = body["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .find(|d| d["kind"] == "provider_error")
        .expect("provider_error");
    assert_eq!(error["provider"], "twilio");
    assert_eq!(error["status"], 401);
    assert!(error["file"]
        .as_str()
        .expect("file")
        .ends_with("backend.log"));
    assert!(
        !body.to_string().contains("111111"),
        "no code in the diagnostics"
    );

    // The code: not for `read`, for `codes`, by the end of its number.
    assert_eq!(call(&addr, "GET", "/api/v1/codes", Some(&read)).0, 403);
    let body = wait_for(
        &addr,
        "/api/v1/codes?phone=0001&include_expired=true",
        &codes,
        |b| b["codes"].as_array().is_some_and(|c| !c.is_empty()),
    );
    assert_eq!(body["codes"][0]["code"], "111111");
    assert_eq!(body["codes"][0]["recipient"], "+14165550001");
    let (status, body) = call(
        &addr,
        "GET",
        "/api/v1/codes?phone=9999&include_expired=true",
        Some(&codes),
    );
    assert_eq!(status, 200);
    assert_eq!(body["codes"], serde_json::json!([]));
    let (status, body) = call(&addr, "GET", "/api/v1/codes?channel=fax", Some(&codes));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "validation");
}
