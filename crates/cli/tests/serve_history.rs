//! Sends made through a standalone `msgops serve` reach the app's History: the real binary,
//! sent to through its API and through `msgops send --url` (another process), writes them into
//! the history database of the data directory (SQLite), marked as the service's, where a store
//! opened as the app opens it finds them — while the service runs and after it stops; and
//! `msgops history` lists them.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use msgops_history::{
    HistoryFilter, HistoryLocation, HistoryStore, OriginKind, RecordedSend, SendOrigin,
};
use serde_json::{json, Value};

const TOKEN: &str = "serve-history-test-token-0123456789abcdef";

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
        .env("MSGOPS_API_TOKEN", TOKEN)
        .env("AWS_EC2_METADATA_DISABLED", "true");
    c
}

/// Starts `msgops serve --emulated` on a free port; returns it, its address and its stderr lines.
fn start_serve(dir: &Path) -> (Serve, String, mpsc::Receiver<String>) {
    let mut child = msgops(dir)
        .args(["serve", "--emulated", "--listen", "127.0.0.1:0", "--log"])
        .arg(dir.join("backend.log"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("msgops serve starts");
    let stderr = child.stderr.take().unwrap();
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
                    return (serve, addr.to_string(), lines);
                }
                seen.push(line);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    panic!("msgops serve did not say where it listens: {seen:#?}");
}

fn post_sms(addr: &str, to: &str) -> (u16, Value) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let response = reqwest::Client::new()
            .post(format!("http://{addr}/api/v1/messages/sms"))
            .bearer_auth(TOKEN)
            .json(&json!({"to": to, "body": "Your code is 091282", "code": "091282"}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    })
}

/// Every send in `history` once it holds `n` (the service writes just after it answers).
fn wait_for(rt: &tokio::runtime::Runtime, history: &HistoryStore, n: usize) -> Vec<RecordedSend> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let sends = rt
            .block_on(history.query(&HistoryFilter::default()))
            .unwrap()
            .sends;
        if sends.len() >= n || Instant::now() > deadline {
            return sends;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sends_through_a_standalone_service_reach_the_apps_history_marked_as_the_services() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.toml"), "").unwrap();
    // The app, open before the service sends anything: it must see what another process appends.
    let this_machine = SendOrigin::this_process(OriginKind::App);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let data = dir.path().join("data");
    let (app, problems) = rt
        .block_on(HistoryStore::open(
            HistoryLocation::in_dir(&data),
            90,
            this_machine.clone(),
        ))
        .unwrap();
    assert!(problems.is_empty(), "{problems:?}");

    let (mut serve, addr, stderr) = start_serve(dir.path());
    let pid = serve.0.id();

    // Through the API.
    let (status, answer) = post_sms(&addr, "+14165550123");
    assert_eq!(status, 200, "{answer}");
    let attempt = &answer["outcome"]["attempts"][0];
    assert_eq!(attempt["outcome"], "delivered", "{answer}");
    assert!(
        attempt.get("provider_message_id").is_some(),
        "the answer carries the receipt field: {answer}"
    );

    // Through `msgops send --url`, another process.
    let out = msgops(dir.path())
        .args(["send", "sms", "+14165550188", "--body", "Your code is 55"])
        .args(["--url", &format!("http://{addr}")])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("delivered to +14165550188 by sns"));

    let sends = wait_for(&rt, &app, 2);
    let recipients: Vec<&str> = sends.iter().map(|s| s.record.recipient.as_str()).collect();
    assert_eq!(recipients, ["+14165550188", "+14165550123"], "newest first");
    let service = SendOrigin {
        kind: OriginKind::Service,
        host: this_machine.host.clone(),
        pid: Some(pid),
    };
    for send in &sends {
        assert_eq!(send.origin, service);
        assert_eq!(
            send.record.outcome.delivered_by().map(|p| p.as_str()),
            Some("sns")
        );
    }
    // As History filters them.
    let count = |origin| {
        rt.block_on(app.query(&HistoryFilter {
            origin: Some(origin),
            ..Default::default()
        }))
        .unwrap()
        .total
    };
    assert_eq!((count(OriginKind::Service), count(OriginKind::App)), (2, 0));

    // The app's own sends go into the same file, beside the service's.
    let mut own = sends[0].record.clone();
    own.recipient = "+14165550199".into();
    rt.block_on(app.record(&own)).unwrap();
    assert_eq!((count(OriginKind::Service), count(OriginKind::App)), (2, 1));

    // Stopped as an operator stops it, the service ends cleanly and its sends stay.
    let killed = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = serve.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "msgops serve did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    // Everything it wrote to stderr, up to its end.
    let said: Vec<String> = stderr.iter().collect();
    assert!(status.success(), "{status}: {said:#?}");
    assert!(
        said.iter().any(|l| l.contains("recording sends in")),
        "{said:#?}"
    );
    let (reopened, problems) = rt
        .block_on(HistoryStore::open(
            HistoryLocation::in_dir(&data),
            90,
            this_machine,
        ))
        .unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(rt.block_on(reopened.count()).unwrap(), 3);
    // The service kept its breakers' states from its start (the timeline's first rows).
    let timeline = rt
        .block_on(reopened.provider_timeline(
            None,
            chrono::Utc::now() - chrono::Duration::hours(1),
            chrono::Utc::now(),
        ))
        .unwrap();
    assert!(
        timeline
            .providers
            .iter()
            .any(|t| t.instance.kind == OriginKind::Service && t.instance.pid == Some(pid)),
        "{timeline:?}"
    );

    // `msgops history`, another process, lists what both wrote.
    let listed = msgops(dir.path())
        .args(["history", "--json", "--origin", "service"])
        .output()
        .unwrap();
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let page: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(page["total"], 2, "{page}");
    assert_eq!(page["sends"][0]["recipient"], "+14165550188");
    assert_eq!(page["sends"][0]["origin"]["pid"], pid);
}
