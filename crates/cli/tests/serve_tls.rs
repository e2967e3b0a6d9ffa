//! `msgops serve` over HTTPS, the real binary against the real curl (and openssl, when it is
//! there): a self-signed certificate made in the data directory and trusted with
//! `curl --cacert`, refused without it, its printed fingerprint the one openssl computes, the same
//! certificate after a restart, bearer tokens over TLS; a certificate given as files; and plain
//! HTTP beyond loopback refused at start. Everything listens on 127.0.0.1.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const TOKEN: &str = "serve-tls-test-token-0123456789abcdef";
const CURL: &str = "/usr/bin/curl";

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

struct Started {
    serve: Serve,
    /// `127.0.0.1:PORT`
    addr: String,
    port: u16,
    /// What it printed before it listened.
    said: Vec<String>,
    lines: mpsc::Receiver<String>,
}

impl Started {
    /// The fingerprint from `msgops serve: TLS certificate SHA-256 fingerprint …`.
    fn fingerprint(&self) -> String {
        self.said
            .iter()
            .find_map(|l| l.split("TLS certificate SHA-256 fingerprint ").nth(1))
            .unwrap_or_else(|| panic!("no fingerprint printed: {:#?}", self.said))
            .trim()
            .to_string()
    }

    /// SIGTERM, as an operator stops it: a clean exit. Returns everything it printed.
    fn stop(mut self) -> Vec<String> {
        let pid = self.serve.0.id();
        let killed = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(killed.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = self.serve.0.try_wait().expect("wait") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "msgops serve did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut said = std::mem::take(&mut self.said);
        said.extend(self.lines.iter());
        assert!(status.success(), "{status}: {said:#?}");
        said
    }
}

/// Starts `msgops serve --emulated --listen 127.0.0.1:0 ARGS` and waits until it says where it
/// listens over HTTPS.
fn start(dir: &Path, args: &[&str]) -> Started {
    let mut child = msgops(dir)
        .args(["serve", "--emulated", "--listen", "127.0.0.1:0", "--log"])
        .arg(dir.join("backend.log"))
        .args(args)
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
    let mut said = Vec::new();
    while Instant::now() < deadline {
        match lines.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                let addr = line
                    .split("listening on https://")
                    .nth(1)
                    .and_then(|rest| rest.split_whitespace().next())
                    .map(str::to_string);
                said.push(line);
                if let Some(addr) = addr {
                    let port = addr
                        .rsplit(':')
                        .next()
                        .and_then(|p| p.parse().ok())
                        .expect("a port");
                    return Started {
                        serve,
                        addr,
                        port,
                        said,
                        lines,
                    };
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    panic!("msgops serve did not say it listens over HTTPS: {said:#?}");
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("config.toml"), "").expect("config");
    dir
}

/// curl, quiet but with its errors, never waiting long. Its stdout is the body, then the status
/// code on a line of its own.
fn curl(args: &[&str]) -> Output {
    assert!(
        Path::new(CURL).exists(),
        "these tests need curl at {CURL} (apt-get install curl)"
    );
    Command::new(CURL)
        .args(["-sS", "--max-time", "10", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl runs")
}

/// The status code and body of a curl that must have succeeded.
fn answered(out: &Output) -> (u16, String) {
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "curl failed ({}): {}{text}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let (body, code) = text.rsplit_once('\n').expect("the status line");
    (
        code.trim().parse().expect("a status code"),
        body.to_string(),
    )
}

/// `openssl x509 -fingerprint -sha256` of `cert`, or `None` without the openssl command.
fn openssl_fingerprint(cert: &Path) -> Option<String> {
    let out = match Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(cert)
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            eprintln!("note: no openssl command ({e}); the fingerprint is not compared with it");
            return None;
        }
    };
    assert!(out.status.success(), "{out:?}");
    // "sha256 Fingerprint=AB:CD:…" (OpenSSL 3) or "SHA256 Fingerprint=…" (1.1)
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    Some(
        text.trim()
            .split_once('=')
            .unwrap_or_else(|| panic!("unexpected openssl output: {text}"))
            .1
            .to_string(),
    )
}

fn tls_dir(dir: &Path) -> PathBuf {
    dir.join("data").join("tls")
}

#[test]
fn a_self_signed_certificate_is_trusted_by_curl_with_it_kept_and_pinned_across_restarts() {
    let dir = setup();
    let cert = tls_dir(dir.path()).join("cert.pem");
    let cert_arg = cert.to_str().expect("utf-8 path").to_string();
    let service = start(dir.path(), &["--tls-self-signed"]);
    let fingerprint = service.fingerprint();
    assert_eq!(fingerprint.len(), 95, "{fingerprint}");
    assert!(
        service
            .said
            .iter()
            .any(|l| l.contains("self-signed, made now")),
        "{:#?}",
        service.said
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode(&tls_dir(dir.path())), 0o700);
        assert_eq!(mode(&tls_dir(dir.path()).join("key.pem")), 0o600);
    }
    let health = format!("https://{}/api/v1/health/messaging", service.addr);

    // Trusting the certificate: the health JSON.
    let (status, body) = answered(&curl(&["--cacert", &cert_arg, &health]));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"sms_providers\""), "{body}");
    // By name: the certificate names localhost.
    let resolve = format!("localhost:{}:127.0.0.1", service.port);
    let by_name = format!("https://localhost:{}/api/v1/health/messaging", service.port);
    let (status, _) = answered(&curl(&[
        "--cacert",
        &cert_arg,
        "--resolve",
        &resolve,
        &by_name,
    ]));
    assert_eq!(status, 200);

    // Without it: refused as an unknown certificate (curl's exit 60).
    let out = curl(&[&health]);
    assert!(!out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(
        out.status.code() == Some(60) || err.contains("certificate"),
        "{out:?}"
    );
    // Plain HTTP to the port gets no API.
    let (status, body) = answered(&curl(&[&format!(
        "http://{}/api/v1/health/messaging",
        service.addr
    )]));
    assert_eq!(status, 400, "{body}");
    assert!(!body.contains("sms_providers"), "{body}");

    // The fingerprint printed is the one openssl computes of the kept file.
    if let Some(openssl) = openssl_fingerprint(&cert) {
        assert_eq!(openssl, fingerprint);
    }

    // A bearer token over TLS: a send; and without it, 401. The token goes in a header file,
    // out of curl's command line and out of every message here.
    let header = dir.path().join("auth-header");
    std::fs::write(&header, format!("Authorization: Bearer {TOKEN}\n")).expect("header");
    let header_arg = format!("@{}", header.to_str().expect("utf-8 path"));
    let sms = format!("https://{}/api/v1/messages/sms", service.addr);
    let payload = r#"{"to":"+14165550123","body":"Your code is 091282","code":"091282"}"#;
    let send = |with_token: bool| {
        let mut args = vec![
            "--cacert",
            &cert_arg,
            "-H",
            "Content-Type: application/json",
            "--data",
            payload,
        ];
        if with_token {
            args.extend(["-H", &header_arg]);
        }
        args.push(&sms);
        answered(&curl(&args))
    };
    let (status, body) = send(true);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"delivered\""), "{body}");
    assert!(!body.contains(TOKEN));
    let (status, _) = send(false);
    assert_eq!(status, 401);

    // --print-fingerprint: the same, on stdout, and exits.
    let out = msgops(dir.path())
        .args(["serve", "--tls-self-signed", "--print-fingerprint"])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), fingerprint);

    let said = service.stop();
    assert!(said.iter().any(|l| l.contains("stopped")), "{said:#?}");

    // Restarted: the same certificate, so a client's pin (and --cacert) still holds.
    let again = start(dir.path(), &["--tls-self-signed"]);
    assert_eq!(again.fingerprint(), fingerprint);
    assert!(
        again
            .said
            .iter()
            .any(|l| l.contains("kept from an earlier start")),
        "{:#?}",
        again.said
    );
    let health = format!("https://{}/api/v1/health/messaging", again.addr);
    let (status, _) = answered(&curl(&["--cacert", &cert_arg, &health]));
    assert_eq!(status, 200);
    if let Some(openssl) = openssl_fingerprint(&cert) {
        assert_eq!(openssl, fingerprint);
    }
    again.stop();
}

#[test]
fn a_certificate_given_as_files_is_served_and_a_key_that_is_not_its_own_is_refused() {
    let dir = setup();
    let names = ["localhost".to_string(), "127.0.0.1".to_string()];
    let (cert_pem, key_pem) = msgops_service::tls::generate_self_signed(&names).expect("made");
    let (_, other_key) = msgops_service::tls::generate_self_signed(&names).expect("made");
    let cert = dir.path().join("given-cert.pem");
    let key = dir.path().join("given-key.pem");
    let wrong = dir.path().join("other-key.pem");
    std::fs::write(&cert, &cert_pem).expect("write");
    std::fs::write(&key, &key_pem).expect("write");
    std::fs::write(&wrong, &other_key).expect("write");
    let (cert_arg, key_arg, wrong_arg) = (
        cert.to_str().expect("utf-8"),
        key.to_str().expect("utf-8"),
        wrong.to_str().expect("utf-8"),
    );

    let out = msgops(dir.path())
        .args(["serve", "--tls-cert", cert_arg, "--tls-key", key_arg])
        .arg("--print-fingerprint")
        .output()
        .expect("runs");
    assert!(out.status.success(), "{out:?}");
    let printed = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let der = pem_der(&cert_pem);
    assert_eq!(printed, msgops_service::tls::fingerprint(&der));

    let service = start(dir.path(), &["--tls-cert", cert_arg, "--tls-key", key_arg]);
    assert_eq!(service.fingerprint(), printed);
    let health = format!("https://{}/api/v1/health/messaging", service.addr);
    let (status, _) = answered(&curl(&["--cacert", cert_arg, &health]));
    assert_eq!(status, 200);
    service.stop();
    assert!(
        !tls_dir(dir.path()).exists(),
        "no self-signed certificate is made when one is given"
    );

    let out = msgops(dir.path())
        .args(["serve", "--emulated", "--listen", "127.0.0.1:0"])
        .args(["--tls-cert", cert_arg, "--tls-key", wrong_arg])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot be used"), "{err}");
    assert!(!err.contains("listening on"), "{err}");
}

/// The DER of the first certificate of a PEM text (base64 between the markers).
fn pem_der(pem: &str) -> Vec<u8> {
    use base64::Engine;
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("base64")
}

#[test]
fn plain_http_beyond_loopback_is_refused_at_start_with_the_way_out() {
    let dir = setup();
    let mut child = msgops(dir.path())
        .args(["serve", "--emulated", "--listen", "0.0.0.0:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("msgops serve --listen 0.0.0.0:0 without TLS did not exit");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err)
        .expect("stderr");
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("over plain HTTP"), "{err}");
    assert!(err.contains("--tls-self-signed"), "{err}");
    assert!(!err.contains("listening on"), "{err}");
    assert!(
        !tls_dir(dir.path()).exists(),
        "nothing made for a refused start"
    );
}
