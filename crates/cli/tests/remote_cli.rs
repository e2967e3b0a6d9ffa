//! `msgops remote` against a real `msgops serve --tls-self-signed` on loopback: the fingerprint
//! read on first look is the one the service printed; a `codes` token lists a code written to
//! the service's log; a `read` token is refused; another certificate is refused as changed; plain
//! HTTP beyond loopback is refused before any connection; and `msgops remote watch` follows the
//! events across a restart of the service, showing the code written while it was down.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const ADMIN: &str = "remote-cli-test-admin-token-0123456789";

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn msgops(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_msgops"));
    c.current_dir(dir)
        .env("MSGOPS_CONFIG", dir.join("config.toml"))
        .env("MSGOPS_DATA_DIR", dir.join("data"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("MSGOPS_API_TOKEN");
    c
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Starts the service on `port`; returns it and the fingerprint it printed.
fn serve(dir: &Path, port: u16) -> (Running, String) {
    let mut child = msgops(dir)
        .env("MSGOPS_API_TOKEN", ADMIN)
        .args(["serve", "--emulated", "--tls-self-signed", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--log")
        .arg(dir.join("backend.log"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("msgops serve starts");
    let stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let running = Running(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut fingerprint = None;
    let mut said = Vec::new();
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            if let Some(fp) = line.split("TLS certificate SHA-256 fingerprint ").nth(1) {
                fingerprint = Some(fp.trim().to_owned());
            }
            let listening = line.contains("listening on https://");
            said.push(line);
            if listening {
                return (running, fingerprint.expect("fingerprint printed first"));
            }
        }
    }
    panic!("msgops serve did not listen: {said:#?}");
}

fn stop(mut running: Running) {
    let pid = running.0.id();
    assert!(Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill")
        .success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while running.0.try_wait().expect("wait").is_none() {
        assert!(Instant::now() < deadline, "serve did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A backend log line with a code, as the Console provider writes it, stamped now.
fn write_code(dir: &Path, number: &str, code: &str) {
    let stamp = chrono::Local::now().format("%Y-%m-%d %H:%M:%S,%3f");
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(dir.join("backend.log"))
        .expect("log");
    writeln!(
        log,
        "{stamp} - services.otp_service - WARNING - SMS FALLBACK - OTP for {number}: {code}"
    )
    .expect("write");
}

fn token(dir: &Path, name: &str, scope: &str) -> String {
    let out = msgops(dir)
        .args(["token", "create", name, "--scope", scope])
        .output()
        .expect("token create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf8")
        .trim()
        .to_owned()
}

fn remote(dir: &Path, token: Option<&str>, args: &[&str]) -> Output {
    let mut c = msgops(dir);
    if let Some(t) = token {
        c.env("MSGOPS_API_TOKEN", t);
    }
    c.arg("remote").args(args).output().expect("msgops remote")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_support_desk_reads_a_remote_services_codes_over_a_pinned_connection_across_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    std::fs::write(dir.join("config.toml"), "[logs]\npoll_interval_ms = 100\n").expect("config");
    std::fs::write(dir.join("backend.log"), "").expect("log");
    let port = free_port();
    let url = format!("https://127.0.0.1:{port}");
    let (running, fingerprint) = serve(dir, port);

    // First look: the same fingerprint the service printed, and nothing sent.
    let look = remote(dir, None, &["fingerprint", &url]);
    assert!(look.status.success(), "{}", text(&look));
    assert_eq!(String::from_utf8_lossy(&look.stdout).trim(), fingerprint);

    let desk = token(dir, "desk", "codes");
    let reader = token(dir, "dashboards", "read");
    write_code(dir, "+14165550123", "091282");
    let pinned = ["--fingerprint", fingerprint.as_str()];
    let mut codes_args = vec!["codes", url.as_str(), "--phone", "0123", "--json"];
    codes_args.extend(pinned);
    let deadline = Instant::now() + Duration::from_secs(30);
    let listed = loop {
        let out = remote(dir, Some(&desk), &codes_args);
        assert!(out.status.success(), "{}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        if stdout.contains("091282") {
            break stdout;
        }
        assert!(Instant::now() < deadline, "the code never showed: {stdout}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let code: serde_json::Value =
        serde_json::from_str(listed.lines().next().expect("a line")).expect("json");
    assert_eq!(code["recipient"], "+14165550123");
    assert!(!text(&remote(dir, Some(&desk), &codes_args)).contains(&desk));

    // A `read` token may not list customers' codes.
    let refused = remote(dir, Some(&reader), &codes_args);
    assert!(!refused.status.success());
    assert!(text(&refused).contains("needs codes"), "{}", text(&refused));

    // Another certificate than the pinned one: refused, and said so.
    let mut other = fingerprint.clone();
    other.replace_range(0..2, if other.starts_with("00") { "11" } else { "00" });
    let changed = remote(dir, Some(&desk), &["codes", &url, "--fingerprint", &other]);
    assert!(!changed.status.success());
    assert!(
        text(&changed).contains("certificate changed"),
        "{}",
        text(&changed)
    );
    // Unpinned, the system roots do not vouch for a self-signed certificate.
    let unpinned = remote(dir, Some(&desk), &["codes", &url]);
    assert!(!unpinned.status.success());
    assert!(
        text(&unpinned).contains("not trusted"),
        "{}",
        text(&unpinned)
    );
    // Plain HTTP beyond loopback: refused before any connection.
    let plain = remote(dir, Some(&desk), &["codes", "http://192.0.2.10:5024"]);
    assert!(!plain.status.success());
    assert!(
        text(&plain).contains("refusing plain HTTP"),
        "{}",
        text(&plain)
    );

    // The other commands that talk to a service take the same client: pinned by
    // $MSGOPS_SERVICE_FINGERPRINT, plain HTTP beyond loopback refused.
    let health = msgops(dir)
        .env("MSGOPS_API_TOKEN", &reader)
        .env("MSGOPS_SERVICE_FINGERPRINT", &fingerprint)
        .args(["health", "--url", &url, "--json"])
        .output()
        .expect("health");
    assert!(
        matches!(health.status.code(), Some(0 | 1)),
        "{}",
        text(&health)
    );
    let answer: serde_json::Value =
        serde_json::from_slice(&health.stdout).expect("the health JSON");
    assert!(answer["chains"]["sms"]["status"].is_string(), "{answer}");
    let operator = token(dir, "oncall", "operate");
    let reset = msgops(dir)
        .env("MSGOPS_API_TOKEN", &operator)
        .env("MSGOPS_SERVICE_FINGERPRINT", &fingerprint)
        .args(["breaker", "reset", "twilio", "--url", &url])
        .output()
        .expect("breaker");
    assert!(reset.status.success(), "{}", text(&reset));
    let unpinned_health = msgops(dir)
        .env("MSGOPS_API_TOKEN", &reader)
        .args(["health", "--url", &url])
        .output()
        .expect("health");
    assert!(
        text(&unpinned_health).contains("not trusted"),
        "{}",
        text(&unpinned_health)
    );
    let plain_health = msgops(dir)
        .args(["health", "--url", "http://192.0.2.10:5024"])
        .output()
        .expect("health");
    assert!(
        text(&plain_health).contains("refusing plain HTTP"),
        "{}",
        text(&plain_health)
    );

    // Following the events: a new code, then the service restarts and a code written while it
    // was down is shown after the reconnect.
    let mut watch = msgops(dir)
        .env("MSGOPS_API_TOKEN", &desk)
        .args(["remote", "watch", &url, "--fingerprint", &fingerprint])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("watch");
    let stdout = BufReader::new(watch.stdout.take().expect("stdout"));
    let stderr = BufReader::new(watch.stderr.take().expect("stderr"));
    let watch = Running(watch);
    let (tx, events) = mpsc::channel();
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = tx2.send(format!("stderr: {line}"));
        }
    });
    let wait_for = |what: &str| -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(45);
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            if let Ok(line) = events.recv_timeout(Duration::from_millis(200)) {
                let found = line.contains(what);
                seen.push(line);
                if found {
                    return seen;
                }
            }
        }
        panic!("never saw {what}: {seen:#?}");
    };
    wait_for("connected");
    write_code(dir, "+14165550177", "552211");
    let seen = wait_for("552211");
    assert!(
        seen.iter().any(|l| l.starts_with("code_seen ")),
        "{seen:#?}"
    );
    stop(running);
    write_code(dir, "+14165550188", "773344");
    wait_for("disconnected");
    let (running, again) = serve(dir, port);
    assert_eq!(again, fingerprint, "the kept certificate, so the pin holds");
    let seen = wait_for("773344");
    assert!(
        seen.iter().any(|l| l.contains("connected")),
        "reconnected: {seen:#?}"
    );
    drop(watch);
    stop(running);
}
