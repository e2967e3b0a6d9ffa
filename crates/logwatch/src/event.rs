//! The domain events the log watcher reports, shared with the UI (TypeScript bindings are
//! generated from these types by `cargo test -p msgops-logwatch`).
//!
//! Events carry facts read from a log line plus where they came from (`file`, `line`). They must
//! never carry anything the log did not say: an unknown timestamp stays `None`.

use chrono::{DateTime, NaiveDateTime, Utc};
use msgops_provider_kind::ProviderKind;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Everything the watcher can report. Serialised as `{"kind": "code", ...fields}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[ts(export, export_to = "../../../ui/src/bindings/")]
pub enum LogEvent {
    /// A one-time code the backend wrote to its log (console / fallback provider).
    Code(FallbackCode),
    /// A messaging provider failed (Twilio 401, SendGrid 401, ...).
    ProviderError(ProviderError),
    /// The backend answered 5xx on its auth API (uvicorn access line).
    HttpError(HttpError),
    /// A provider initialisation line: the backend (re)started.
    BackendStart(BackendStart),
    /// The backend's configuration file changed after the backend last started (or, with
    /// `stale: false`, a restart picked the change up).
    StaleConfig(StaleConfig),
    /// The state of following one log file changed (missing, rotated, unreadable, ...).
    FollowerStatus(FollowerStatus),
    /// Which clock a file's timestamps are read in, and why (reported once per file).
    Clock(LogClockInfo),
}

/// Which log statement a code was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export, export_to = "../../../ui/src/bindings/")]
pub enum CodeSource {
    /// `SMS FALLBACK - OTP for {recipient}: {code}`
    SmsFallback,
    /// `OTP Code: {code}` (console provider)
    Console,
    /// A user-defined pattern.
    Pattern,
}

/// How a code's creation time was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export, export_to = "../../../ui/src/bindings/")]
pub enum CodeTime {
    /// The code's own line carries a timestamp.
    Logged,
    /// The line has no timestamp and was read live: the time it was read.
    ReadAt,
    /// The line has no timestamp and was read from the past: the last timestamp before it.
    Approximate,
    /// No time is known: the code is never shown as valid.
    Unknown,
}

/// A one-time code found in a log.
///
/// Who it is for is one of three things, and never guessed: `recipient` (the log names it, or
/// only one request was waiting for a code), `candidates` (several requests were waiting: the
/// code is for one of them), or neither (the log does not say).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export, export_to = "../../../ui/src/bindings/")]
pub struct FallbackCode {
    /// Phone number or e-mail address, as written in the log; `None` when the log does not say
    /// for certain.
    pub recipient: Option<String>,
    /// When the log cannot tell which of several waiting requests the code belongs to: every
    /// recipient it may be for. Empty when `recipient` is known or nothing is known.
    pub candidates: Vec<String>,
    pub code: String,
    /// The timestamp as written in the log (the log's own clock, no zone).
    pub logged_at: Option<NaiveDateTime>,
    /// When the code was written, as an instant. `None` if no time is known.
    pub created_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub time: CodeTime,
    /// True once `expires_at` has passed, or when the creation time is unknown: an expired code
    /// is never shown as valid.
    pub expired: bool,
    pub source: CodeSource,
    pub file: String,
    /// 1-based line number within the current generation of the file.
    #[ts(type = "number")]
    pub line: u64,
}

impl FallbackCode {
    /// Who the code is for, as every surface shows it: `+14165550123`, `one of 4165550471,
    /// 4165550999`, or `recipient not in log`.
    pub fn recipient_label(&self) -> String {
        match (&self.recipient, self.candidates.as_slice()) {
            (Some(r), _) => r.clone(),
            (None, []) => "recipient not in log".to_owned(),
            (None, many) => format!("one of {}", many.join(", ")),
        }
    }

    /// The same, shortened to the last four characters of each number (notifications, tray).
    pub fn recipient_tail(&self) -> String {
        let tail = |r: &str| {
            let chars: Vec<char> = r.chars().collect();
            let t: String = chars[chars.len().saturating_sub(4)..].iter().collect();
            format!("\u{2026}{t}")
        };
        match (&self.recipient, self.candidates.as_slice()) {
            (Some(r), _) => tail(r),
            (None, []) => "unknown recipient".to_owned(),
            (None, many) => format!(
                "one of {}",
                many.iter().map(|r| tail(r)).collect::<Vec<_>>().join(", ")
            ),
        }
    }

    /// Whether a search for `query` finds this code: the certain recipient or any candidate
    /// contains it (digits compared digits-only, so `0123` and `(416) 555-0123` both find
    /// `+14165550123`).
    pub fn recipient_matches(&self, query: &RecipientQuery) -> bool {
        self.recipient
            .iter()
            .chain(self.candidates.iter())
            .any(|r| query.matches(r))
    }
}

/// A recipient search, normalised once: digits-only for phone-like input, as typed otherwise.
#[derive(Debug, Clone)]
pub struct RecipientQuery {
    text: String,
    digits: Option<String>,
}

impl RecipientQuery {
    pub fn new(text: &str) -> Self {
        let digits: String = text.chars().filter(char::is_ascii_digit).collect();
        let phone_like = text
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c));
        Self {
            text: text.to_owned(),
            digits: (phone_like && !digits.is_empty()).then_some(digits),
        }
    }

    pub fn matches(&self, recipient: &str) -> bool {
        match &self.digits {
            Some(d) => {
                // The recipient's digits, without allocating (a scan asks this for every code).
                let mut buf = [0u8; 64];
                let mut n = 0;
                for b in recipient.bytes().filter(u8::is_ascii_digit) {
                    if n == buf.len() {
                        break;
                    }
                    buf[n] = b;
                    n += 1;
                }
                memchr::memmem::find(&buf[..n], d.as_bytes()).is_some()
            }
            None => recipient.contains(self.text.as_str()),
        }
    }
}

/// How a log file's zone-less timestamps are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export, export_to = "../../../ui/src/bindings/")]
pub enum ClockBasis {
    /// `logs.timezone` names the zone.
    Configured,
    /// Inferred from the file's modification time and its newest timestamp.
    Inferred,
    /// Nothing to infer from (no timestamp yet): this computer's zone.
    Assumed,
}

/// The clock a file's timestamps are read in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export, export_to = "../../../ui/src/bindings/")]
pub struct LogClockInfo {
    pub file: String,
    /// `UTC`, `America/Toronto`, `local (America/Toronto)`, `UTC+05:30`.
    pub zone: String,
    pub basis: ClockBasis,
    /// In words: why this zone (the basis is not repeated here).
    pub reason: String,
}

impl std::fmt::Display for LogClockInfo {
    /// `UTC−05:00 (inferred: newest line … vs file modified … UTC)`, as the CLI prints it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let basis = match self.basis {
            ClockBasis::Configured => "configured",
            ClockBasis::Inferred => "inferred",
            ClockBasis::Assumed => "assumed",
        };
        write!(f, "{} ({basis}: {})", self.zone, self.reason)
    }
}

/// A messaging provider reported a failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export, export_to = "../../../ui/src/bindings/")]
pub struct ProviderError {
    pub provider: ProviderKind,
    /// HTTP status, if the line or its traceback states one.
    pub status: Option<u16>,
    /// Provider-specific error code (Twilio `20003`), if stated.
    pub provider_code: Option<String>,
    pub level: String,
    pub message: String,
    pub ts: Option<NaiveDateTime>,
    /// Continuation lines (traceback) that followed the line.
    pub detail: Vec<String>,
    pub file: String,
    #[ts(type = "number")]
    pub line: u64,
}

/// A 5xx answer on the backend's auth API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export, export_to = "../../../ui/src/bindings/")]
pub struct HttpError {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub reason: String,
    pub client: String,
    /// Access lines carry no timestamp: this is the last timestamp seen before the line.
    pub ts: Option<NaiveDateTime>,
    pub file: String,
    #[ts(type = "number")]
    pub line: u64,
}

/// A provider initialisation line (`AWS SNS initialized as PRIMARY SMS provider`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export, export_to = "../../../ui/src/bindings/")]
pub struct BackendStart {
    pub provider: String,
    /// `PRIMARY`, `SECONDARY`, `FALLBACK`, ... as written.
    pub role: String,
    /// `SMS` or `EMAIL` (upper-cased).
    pub channel: String,
    pub ts: Option<NaiveDateTime>,
    pub file: String,
    #[ts(type = "number")]
    pub line: u64,
}

/// The backend's configuration file is newer than the backend's last start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export, export_to = "../../../ui/src/bindings/")]
pub struct StaleConfig {
    pub config_path: String,
    pub config_modified_at: DateTime<Utc>,
    pub backend_started_at: DateTime<Utc>,
    /// `true`: the backend is running older configuration. `false`: a restart picked it up.
    pub stale: bool,
    pub message: String,
}

/// How following one file is going.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export, export_to = "../../../ui/src/bindings/")]
pub enum FollowerState {
    /// Reading new lines as they are written.
    Following,
    /// The path does not exist (yet); waiting for it.
    Missing,
    /// The path now names another file (rename rotation, re-creation, symlink swap); the old file
    /// was read to its end first.
    Rotated,
    /// The file was truncated or rewritten in place (copy-truncate); reading from its start.
    Truncated,
    /// The path exists but cannot be read (permission denied, not a regular file, I/O error).
    Unreadable,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export, export_to = "../../../ui/src/bindings/")]
pub struct FollowerStatus {
    pub file: String,
    pub state: FollowerState,
    pub message: String,
}
