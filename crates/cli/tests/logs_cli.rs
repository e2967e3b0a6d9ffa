//! `msgops codes` and `msgops watch` as a support engineer runs them: the real binary on real
//! files.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const INCIDENT_LOG: &str = "\
2025-10-29 16:30:01,004 - services.sms - INFO - AWS SNS initialized as PRIMARY SMS provider
2025-10-29 16:34:53,202 - services.otp_service - ERROR - Twilio error: HTTP 401 error: Unable to create record: Authenticate
2025-10-29 16:34:53,202 - services.otp_service - WARNING - SMS FALLBACK - OTP for +14165550123: 091282
INFO:     127.0.0.1:64825 - \"POST /api/v1/auth/otp/send HTTP/1.1\" 500 Internal Server Error
2025-10-29 16:40:10,500 - services.otp_service - WARNING - SMS FALLBACK - OTP for +14165559876: 123456
";

/// The real binary with a configuration and data directory of its own (none of the user's).
fn msgops(dir: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_msgops"));
    c.env("MSGOPS_CONFIG", dir.join("config.toml"))
        .env("MSGOPS_DATA_DIR", dir.join("data"))
        .env("AWS_EC2_METADATA_DISABLED", "true");
    c
}

#[test]
fn codes_prints_json_lines_with_expiry_decided_by_now() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("backend.log");
    std::fs::write(&log, INCIDENT_LOG).expect("log");
    let out = msgops(dir.path())
        .args([
            "codes",
            "--json",
            "--include-expired",
            "--timezone",
            "UTC",
            "--now",
            "2025-10-29T16:45:00Z",
        ])
        .arg("--log")
        .arg(&log)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 2, "newest last");
    assert_eq!(lines[0]["recipient"], "+14165550123");
    assert_eq!(lines[0]["code"], "091282");
    assert_eq!(lines[0]["logged_at"], "2025-10-29T16:34:53.202");
    assert_eq!(lines[0]["created_at"], "2025-10-29T16:34:53.202Z");
    assert_eq!(lines[0]["expires_at"], "2025-10-29T16:44:53.202Z");
    assert_eq!(lines[0]["time"], "logged");
    assert_eq!(lines[0]["expired"], true);
    assert_eq!(lines[0]["line"], 3);
    assert_eq!(lines[1]["code"], "123456");
    assert_eq!(lines[1]["expired"], false);

    // Without --include-expired only the valid one; --phone matches the last digits.
    let out = msgops(dir.path())
        .args([
            "codes",
            "--json",
            "--timezone",
            "UTC",
            "--now",
            "2025-10-29T16:45:00Z",
            "--phone",
            "9876",
        ])
        .arg("--log")
        .arg(&log)
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("\"123456\""));
}

#[test]
fn watch_prints_each_new_event_and_exits_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("backend.log");
    std::fs::write(&log, "2025-10-29 16:30:01,004 - x - INFO - old line\n").expect("log");
    let mut child = msgops(dir.path())
        .args(["watch", "--json", "--poll-ms", "50"])
        .arg("--log")
        .arg(&log)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .expect("open");
    f.write_all(INCIDENT_LOG.as_bytes()).expect("append");
    drop(f);

    let mut kinds = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while kinds
        .iter()
        .filter(|k: &&String| k.as_str() == "code")
        .count()
        < 2
        && Instant::now() < deadline
    {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            let v: serde_json::Value = serde_json::from_str(&line).expect("JSON line");
            kinds.push(v["kind"].as_str().expect("kind").to_string());
        }
    }
    for kind in ["backend_start", "provider_error", "code", "http_error"] {
        assert!(kinds.iter().any(|k| k == kind), "no {kind} in {kinds:?}");
    }
    assert_eq!(
        kinds.iter().filter(|k| k.as_str() == "code").count(),
        2,
        "{kinds:?}"
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(exit) = child.try_wait().expect("wait") {
            break exit;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "watch did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "exit status {exit:?}");
}

#[test]
fn codes_shows_which_zone_the_log_is_read_in() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("backend.log");
    std::fs::write(&log, INCIDENT_LOG).expect("log");
    let out = msgops(dir.path())
        .args(["codes", "--include-expired", "--timezone", "Asia/Kolkata"])
        .arg("--log")
        .arg(&log)
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("log times read as Asia/Kolkata (configured: set by logs.timezone)"),
        "{err}"
    );
    let out = msgops(dir.path())
        .args(["codes", "--timezone", "Mars/Olympus"])
        .arg("--log")
        .arg(&log)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a time zone"));
}

/// Out of the box: nothing configured, a code delivered through the Console provider (every
/// network provider unconfigured) is found by `msgops codes` with no `--log`.
#[test]
fn a_code_delivered_by_console_is_found_with_no_configuration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let send = msgops(dir.path())
        .args([
            "send",
            "sms",
            "+14165550123",
            "--body",
            "Your code is 482913",
        ])
        .args(["--code", "482913", "--json"])
        .env("AWS_ACCESS_KEY_ID", "")
        .env("AWS_SECRET_ACCESS_KEY", "")
        .env("AWS_CONFIG_FILE", dir.path().join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.path().join("no-aws-credentials"),
        )
        .output()
        .expect("runs");
    let record = String::from_utf8_lossy(&send.stdout);
    assert_eq!(
        send.status.code(),
        Some(3),
        "delivered by a fallback: {record} {}",
        String::from_utf8_lossy(&send.stderr)
    );
    assert!(record.contains("console"), "{record}");
    let out = msgops(dir.path())
        .args(["codes", "--json", "--phone", "0123"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let codes: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(codes.len(), 1, "{codes:?}");
    assert_eq!(codes[0]["code"], "482913");
    assert_eq!(codes[0]["recipient"], "+14165550123");
    assert_eq!(codes[0]["expired"], false);
    let file = codes[0]["file"].as_str().expect("file");
    assert!(file.ends_with("console-sms.log"), "{file}");
}
