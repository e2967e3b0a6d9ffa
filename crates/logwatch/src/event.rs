//! The domain events the log watcher reports, shared with the UI (TypeScript bindings are
//! generated from these types by `cargo test -p msgops-logwatch`).
//!
//! Events carry facts read from a log line plus where they came from (`file`, `line`). They must
//! never carry anything the log did not say: an unknown timestamp stays `None`.

use chrono::NaiveDateTime;
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

/// A one-time code found in a log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export, export_to = "../../../ui/src/bindings/")]
pub struct FallbackCode {
    /// Phone number or e-mail address, as written in the log; `None` when the log does not say.
    pub recipient: Option<String>,
    pub code: String,
    /// When the code was written (log time, naive local time). `None` if no timestamp is known.
    pub created_at: Option<NaiveDateTime>,
    pub expires_at: Option<NaiveDateTime>,
    /// True once `expires_at` has passed, or when the creation time is unknown: an expired code
    /// is never shown as valid.
    pub expired: bool,
    pub source: CodeSource,
    pub file: String,
    /// 1-based line number within the current generation of the file.
    #[ts(type = "number")]
    pub line: u64,
}

/// A messaging provider reported a failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export, export_to = "../../../ui/src/bindings/")]
pub struct ProviderError {
    /// Normalised provider id: `twilio`, `sendgrid`, `aws_sns`, `aws_ses`, `smtp`.
    pub provider: String,
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
    pub config_modified_at: NaiveDateTime,
    pub backend_started_at: NaiveDateTime,
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
