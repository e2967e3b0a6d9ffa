//! Test helpers: a scripted provider API on 127.0.0.1:0 and a log capture.
#![allow(dead_code)]

pub mod failing_store;
#[cfg(unix)]
pub mod users;

use std::sync::{Arc, Mutex};

use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Obviously fake values, nothing shaped like a real key.
pub const FAKE_SID: &str = "ACtest0000000000000000000000sid01";
pub const OLD_TOKEN: &str = "oldtoken-test-0000000000000000aa";
pub const NEW_TOKEN: &str = "newtoken-test-0000000000000000bb";
pub const BAD_TOKEN: &str = "badtoken-test-0000000000000000cc";
pub const SENDGRID_OLD: &str = "SG.test-old-key-not-real-0001";
pub const SENDGRID_NEW: &str = "SG.test-new-key-not-real-0002";
pub const SENDGRID_NO_SCOPE: &str = "SG.test-noscope-not-real-0003";
pub const AWS_KEY_ID: &str = "AKIAEXAMPLE-TEST-KEY-ID";
pub const AWS_SECRET: &str = "aws-secret-test-value-not-real-0000";
pub const SMTP_PASSWORD: &str = "smtp-app-password-test-0000";

pub const TWILIO_20003: &str = r#"{"code": 20003, "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401}"#;

/// One request the fake API saw.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    pub request_line: String,
    pub authorization: Option<String>,
}

/// A provider API stand-in: accepts Twilio basic auth `FAKE_SID:NEW_TOKEN` (or `OLD_TOKEN`),
/// SendGrid bearer `SENDGRID_NEW`/`SENDGRID_OLD` (with mail.send) and `SENDGRID_NO_SCOPE`
/// (without); everything else gets the provider's real 401 body.
pub struct FakeProviderApi {
    pub base_url: String,
    pub seen: Arc<Mutex<Vec<SeenRequest>>>,
}

pub async fn fake_provider_api() -> FakeProviderApi {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen_by_server = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let seen = seen_by_server.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).into_owned();
                let request_line = head.lines().next().unwrap_or_default().to_owned();
                let authorization = head
                    .lines()
                    .find(|l| l.to_ascii_lowercase().starts_with("authorization:"))
                    .map(|l| l["authorization:".len()..].trim().to_owned());
                seen.lock().expect("lock").push(SeenRequest {
                    request_line: request_line.clone(),
                    authorization: authorization.clone(),
                });
                let (status, body) = answer(&request_line, authorization.as_deref());
                let response = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    FakeProviderApi {
        base_url: format!("http://{addr}"),
        seen,
    }
}

fn basic(user: &str, pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

fn answer(request_line: &str, auth: Option<&str>) -> (&'static str, String) {
    if request_line.contains("/2010-04-01/Accounts/") {
        let ok = [NEW_TOKEN, OLD_TOKEN]
            .iter()
            .any(|t| auth == Some(basic(FAKE_SID, t).as_str()));
        if ok && request_line.contains(&format!("/Accounts/{FAKE_SID}.json")) {
            return (
                "200 OK",
                format!(r#"{{"sid": "{FAKE_SID}", "status": "active"}}"#),
            );
        }
        return ("401 Unauthorized", TWILIO_20003.to_owned());
    }
    if request_line.contains("/v3/scopes") {
        return match auth {
            Some(a)
                if a == format!("Bearer {SENDGRID_NEW}")
                    || a == format!("Bearer {SENDGRID_OLD}") =>
            {
                (
                    "200 OK",
                    r#"{"scopes": ["mail.send", "alerts.read"]}"#.to_owned(),
                )
            }
            Some(a) if a == format!("Bearer {SENDGRID_NO_SCOPE}") => {
                ("200 OK", r#"{"scopes": ["alerts.read"]}"#.to_owned())
            }
            _ => (
                "401 Unauthorized",
                r#"{"errors":[{"field":null,"message":"authorization required"}]}"#.to_owned(),
            ),
        };
    }
    ("404 Not Found", "{}".to_owned())
}

/// Everything written through tracing while the guard lives, at every level.
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    pub fn install(&self) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Fails naming the secret (masked) and where it leaked.
pub fn assert_no_secret_in(haystack: &str, secrets: &[&str], place: &str) {
    for secret in secrets {
        assert!(
            !haystack.contains(secret),
            "a secret ({}) appears in {place}",
            msgops_credentials::mask(secret)
        );
    }
}
