//! The Console provider, the SMS chain's last resort: it "delivers" by appending the code to the
//! backend's log in the backend's own format, where the log watcher (and support staff) find it:
//!
//! `2025-10-29 16:34:53,202 - services.otp_service - WARNING - SMS FALLBACK - OTP for +14165550123: 091282`
//!
//! Each line is written with one `write` on a file opened for appending, so concurrent writers
//! (the backend itself, other msgops instances) never interleave inside a line.

use std::path::PathBuf;

use async_trait::async_trait;
use tokio::io::AsyncWriteExt;

use crate::error::SendError;
use crate::message::SmsMessage;
use crate::provider::{Provider, Receipt};

pub struct ConsoleSmsProvider {
    log_path: PathBuf,
}

impl ConsoleSmsProvider {
    pub fn new(log_path: impl Into<PathBuf>) -> Self {
        Self {
            log_path: log_path.into(),
        }
    }

    /// The line written for a message, without the trailing newline.
    pub fn format_line(message: &SmsMessage, now: chrono::NaiveDateTime) -> String {
        let stamp = now.format("%Y-%m-%d %H:%M:%S,%3f");
        let one_line = |s: &str| s.replace(['\r', '\n'], " ");
        match &message.code {
            Some(code) => format!(
                "{stamp} - services.otp_service - WARNING - SMS FALLBACK - OTP for {}: {}",
                one_line(&message.to),
                one_line(code)
            ),
            None => format!(
                "{stamp} - services.otp_service - WARNING - SMS FALLBACK - message for {}: {}",
                one_line(&message.to),
                one_line(&message.body)
            ),
        }
    }

    async fn open(&self) -> Result<tokio::fs::File, SendError> {
        if let Some(dir) = self.log_path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| self.io_error(e))?;
        }
        tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .await
            .map_err(|e| self.io_error(e))
    }

    fn io_error(&self, e: std::io::Error) -> SendError {
        SendError::transient(format!("cannot append to {}: {e}", self.log_path.display()))
    }
}

#[async_trait]
impl Provider<SmsMessage> for ConsoleSmsProvider {
    async fn send(&self, message: &SmsMessage) -> Result<Receipt, SendError> {
        let mut line = Self::format_line(message, chrono::Local::now().naive_local());
        line.push('\n');
        let mut file = self.open().await?;
        file.write_all(line.as_bytes())
            .await
            .map_err(|e| self.io_error(e))?;
        file.flush().await.map_err(|e| self.io_error(e))?;
        Ok(Receipt::default())
    }

    async fn probe(&self) -> Result<(), SendError> {
        self.open().await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn otp(to: &str, code: &str) -> SmsMessage {
        SmsMessage {
            to: to.into(),
            body: format!("Your code is {code}"),
            code: Some(code.into()),
        }
    }

    #[test]
    fn writes_the_backends_fallback_format() {
        let now = chrono::NaiveDate::from_ymd_opt(2025, 10, 29)
            .and_then(|d| d.and_hms_milli_opt(16, 34, 53, 202))
            .expect("valid time");
        assert_eq!(
            ConsoleSmsProvider::format_line(&otp("+14165550123", "091282"), now),
            "2025-10-29 16:34:53,202 - services.otp_service - WARNING - SMS FALLBACK - OTP for +14165550123: 091282"
        );
    }

    #[test]
    fn a_newline_in_the_message_cannot_forge_a_second_log_line() {
        let now = chrono::NaiveDateTime::default();
        let line =
            ConsoleSmsProvider::format_line(&otp("+1\n2025-01-01 00:00:00,000 - x", "123456"), now);
        assert!(!line.contains('\n'));
    }

    #[tokio::test]
    async fn appends_one_line_per_send_and_creates_the_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("logs/backend.log");
        let console = ConsoleSmsProvider::new(&path);
        console.probe().await.expect("probe creates the file");
        console
            .send(&otp("+14165550123", "091282"))
            .await
            .expect("sent");
        console
            .send(&otp("+14165550124", "123456"))
            .await
            .expect("sent");
        let text = std::fs::read_to_string(&path).expect("log written");
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(
            lines[0].ends_with("SMS FALLBACK - OTP for +14165550123: 091282"),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].ends_with("SMS FALLBACK - OTP for +14165550124: 123456"),
            "{}",
            lines[1]
        );
    }

    #[tokio::test]
    async fn an_unwritable_log_is_a_transient_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A directory where the file should be: opening it for append fails.
        let console = ConsoleSmsProvider::new(dir.path());
        let err = console
            .send(&otp("+1", "1"))
            .await
            .expect_err("cannot append to a directory");
        assert_eq!(err.kind, crate::ErrorKind::Transient);
        assert!(err.message.contains(&dir.path().display().to_string()));
    }
}
