//! Turns single log lines of the backend into events. One module per grammar — Python `logging`
//! records ([`python`]), uvicorn lines ([`uvicorn`]), code lines and announcements ([`code`]),
//! provider failures ([`provider`]), backend starts ([`start`]), timestamps ([`timestamp`]) —
//! and this small dispatcher that keeps a file's state between lines: its clock, the last
//! timestamp (uvicorn lines have none), requests waiting for their code ([`recipients`]), and
//! the open error record that a following traceback belongs to.
//!
//! It must never invent facts: no timestamp means `None`, no certain recipient means none, and a
//! line that did not end with its newline never yields a code.

pub mod code;
pub(crate) mod provider;
pub mod python;
pub mod recipients;
pub mod start;
pub mod timestamp;
pub mod uvicorn;

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::clock::{LogClock, ZoneSetting};
use crate::event::{
    BackendStart, ClockBasis, CodeSource, CodeTime, FallbackCode, HttpError, LogEvent,
    ProviderError,
};
use crate::expiry::CodeExpiry;

pub use code::{CodePattern, PatternError, CODE_LENGTHS, DEFAULT_CODE_LENGTH};
pub use recipients::Attribution;
pub use timestamp::{parse_any_timestamp, parse_log_timestamp};

use code::{read_code_line, CodeLine};
use provider::{find_http_status, find_provider, find_provider_code, is_error_level};
use python::{parse_python, PyRecord};
use recipients::RecipientTracker;
use start::parse_backend_start;
use uvicorn::{parse_access, parse_uvicorn};

/// A line as text: borrowed when it is valid UTF-8 (the common case, checked fast), invalid
/// bytes replaced otherwise.
pub(crate) fn decode(raw: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(raw) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(raw),
    }
}

/// How lines are interpreted.
#[derive(Debug, Clone)]
pub struct ParserConfig {
    /// How long a code stays valid after it was written (default 10 minutes).
    pub expiry: CodeExpiry,
    /// User-defined code and announcement patterns, tried before the built-in ones.
    pub patterns: Vec<CodePattern>,
    /// 5xx answers on paths starting with this prefix are reported as `http_error`.
    pub auth_api_prefix: String,
    /// Digits in a code the built-in grammar reads (the backend's 6).
    pub code_length: usize,
    /// Which zone the logs' timestamps are in.
    pub zone: ZoneSetting,
}

impl Default for ParserConfig {
    fn default() -> Self {
        Self {
            expiry: CodeExpiry::default(),
            patterns: Vec::new(),
            auth_api_prefix: "/api/v1/auth/".to_owned(),
            code_length: DEFAULT_CODE_LENGTH,
            zone: ZoneSetting::Auto,
        }
    }
}

/// What the current line is, as far as the caller is concerned.
#[derive(Debug, Clone, Copy)]
pub struct LineMeta {
    /// 1-based line number in the current generation of the file.
    pub line_no: u64,
    /// The line was cut at the line cap.
    pub truncated: bool,
    /// The line ended with its newline (a partial last line emitted at rotation does not).
    pub complete: bool,
    /// The line was appended while we watched (as opposed to content that existed at start).
    pub live: bool,
    /// Now, for expiry and for codes read live with no timestamp of their own.
    pub now: DateTime<Utc>,
}

/// A code read from a line, before it becomes an event: who it is for and when it was written.
#[derive(Debug, Clone)]
pub(crate) struct ReadCode<'a> {
    pub attribution: Attribution,
    pub code: &'a str,
    pub logged_at: Option<NaiveDateTime>,
    pub created_at: Option<DateTime<Utc>>,
    pub time: CodeTime,
    pub source: CodeSource,
}

impl ReadCode<'_> {
    pub(crate) fn into_event(
        self,
        expiry: &CodeExpiry,
        now: DateTime<Utc>,
        file: String,
        line: u64,
    ) -> FallbackCode {
        let (recipient, candidates) = match self.attribution {
            Attribution::Certain(r) => (Some(r), Vec::new()),
            Attribution::OneOf(c) => (None, c),
            Attribution::Unknown => (None, Vec::new()),
        };
        FallbackCode {
            recipient,
            candidates,
            code: self.code.to_owned(),
            logged_at: self.logged_at,
            created_at: self.created_at,
            expires_at: expiry.expires_at(self.created_at),
            time: self.time,
            expired: expiry.is_expired(self.created_at, now),
            source: self.source,
            file,
            line,
        }
    }
}

/// Reads codes and announcements the same way for the follower's parser and the fast scanner:
/// pairs codes with waiting requests and turns wall-clock times into instants.
#[derive(Debug)]
pub(crate) struct CodeReader {
    recipients: RecipientTracker,
    clock: LogClock,
    /// The instant of the last timestamp turned into one (orders a repeated DST hour).
    last_instant: Option<DateTime<Utc>>,
    offset_cache: Option<(i64, chrono::FixedOffset)>,
}

impl CodeReader {
    pub(crate) fn new(clock: LogClock) -> Self {
        Self {
            recipients: RecipientTracker::default(),
            clock,
            last_instant: None,
            offset_cache: None,
        }
    }

    pub(crate) fn clock(&self) -> &LogClock {
        &self.clock
    }

    pub(crate) fn set_clock(&mut self, clock: LogClock) {
        self.clock = clock;
        self.offset_cache = None;
    }

    /// The instant of a wall-clock time of this log.
    pub(crate) fn instant(&mut self, wall: NaiveDateTime) -> Option<DateTime<Utc>> {
        let at = self
            .clock
            .instant_cached(wall, self.last_instant, &mut self.offset_cache);
        if at.is_some() {
            self.last_instant = at;
        }
        at
    }

    /// A line of the log was stamped `ts` (the first one starts the file's first window).
    pub(crate) fn note_time(&mut self, ts: NaiveDateTime) {
        self.recipients.note_time(Some(ts));
    }

    /// Lines may have been lost (a copy-truncate): no code is tied to a waiting request until
    /// every request from before has had its time.
    pub(crate) fn lines_may_be_lost(&mut self, at: Option<NaiveDateTime>) {
        self.recipients.lines_may_be_lost(at);
    }

    /// Looks at one line. `line_ts` is the line's own timestamp; `earlier_ts` is asked for the
    /// last timestamp before it only when needed; `read_at` is set when the line was read live.
    pub(crate) fn read<'a>(
        &mut self,
        line: &'a str,
        line_ts: Option<NaiveDateTime>,
        earlier_ts: impl FnOnce() -> Option<NaiveDateTime>,
        read_at: Option<DateTime<Utc>>,
        config: &ParserConfig,
    ) -> Option<ReadCode<'a>> {
        let found = read_code_line(line, &config.patterns, config.code_length)?;
        let own_ts = match &found {
            CodeLine::Code(hit) => hit.ts.or(line_ts),
            CodeLine::Announcement { ts, .. } => ts.or(line_ts),
        };
        // The log's own time of the line, for pairing: its timestamp, else the last before it.
        let earlier = if own_ts.is_none() { earlier_ts() } else { None };
        let log_time = own_ts.or(earlier);
        let (logged_at, time) = match (own_ts, read_at, earlier) {
            (Some(ts), _, _) => (Some(ts), CodeTime::Logged),
            (None, Some(_), _) => (None, CodeTime::ReadAt),
            (None, None, Some(ts)) => (Some(ts), CodeTime::Approximate),
            (None, None, None) => (None, CodeTime::Unknown),
        };
        let created_at = match time {
            CodeTime::ReadAt => read_at,
            _ => logged_at.and_then(|t| self.instant(t)),
        };
        match found {
            CodeLine::Announcement {
                recipient, corr, ..
            } => {
                self.recipients.announce(recipient, corr, log_time);
                None
            }
            CodeLine::Code(hit) => {
                let attribution = match hit.recipient {
                    Some(r) => {
                        self.recipients.named(&r, log_time);
                        Attribution::Certain(r.into_owned())
                    }
                    None => self.recipients.attribute(hit.corr, log_time),
                };
                Some(ReadCode {
                    attribution,
                    code: hit.code,
                    logged_at,
                    created_at,
                    time,
                    source: hit.source,
                })
            }
        }
    }
}

/// Per-file stateful line parser.
#[derive(Debug)]
pub struct LineParser {
    config: Arc<ParserConfig>,
    file: String,
    last_ts: Option<NaiveDateTime>,
    codes: CodeReader,
    open: Option<OpenRecord>,
    last_backend_start: Option<DateTime<Utc>>,
}

#[derive(Debug)]
enum OpenRecord {
    Provider(ProviderError),
    /// An error line that named no provider; its traceback may still name one.
    Error {
        level: String,
        message: String,
        ts: Option<NaiveDateTime>,
        line: u64,
        detail: Vec<String>,
    },
}

const MAX_DETAIL_LINES: usize = 200;
const MAX_DETAIL_CHARS: usize = 2000;

impl LineParser {
    /// A parser for `file`; its clock comes from `config.zone` (with `auto`, inferred from the
    /// file as it is on disk now).
    pub fn new(file: impl Into<String>, config: Arc<ParserConfig>) -> Self {
        let file = file.into();
        let clock = LogClock::for_file(config.zone, Path::new(&file));
        Self::with_clock(file, config, clock)
    }

    pub fn with_clock(file: impl Into<String>, config: Arc<ParserConfig>, clock: LogClock) -> Self {
        Self {
            config,
            file: file.into(),
            last_ts: None,
            codes: CodeReader::new(clock),
            open: None,
            last_backend_start: None,
        }
    }

    /// The clock this file's timestamps are read in.
    pub fn clock(&self) -> &LogClock {
        self.codes.clock()
    }

    /// The instant of the last backend start seen in this file (also from catch-up lines).
    pub fn last_backend_start(&self) -> Option<DateTime<Utc>> {
        self.last_backend_start
    }

    /// A line that existed before watching started: only remember context (last timestamp,
    /// waiting requests, last backend start), report nothing.
    pub fn feed_context(&mut self, raw: &[u8]) {
        let Some((ts, _)) = parse_log_timestamp(raw) else {
            return;
        };
        self.last_ts = Some(ts);
        self.codes.note_time(ts);
        if memchr::memmem::find(raw, b"OTP").is_some() {
            let line = decode(raw);
            let config = Arc::clone(&self.config);
            let _ = self.codes.read(&line, Some(ts), || None, None, &config);
        } else if memchr::memmem::find(raw, b"nitiali").is_some() {
            let line = decode(raw);
            if let Some(rec) = parse_python(&line) {
                if parse_backend_start(rec.msg).is_some() {
                    self.last_backend_start = self.codes.instant(ts);
                }
            }
        }
    }

    /// Parses one line (without its newline); completed events are pushed to `out`.
    pub fn feed(&mut self, raw: &[u8], meta: &LineMeta, out: &mut Vec<LogEvent>) {
        let line = decode(raw);
        let line: &str = &line;
        if line.trim().is_empty() {
            return;
        }
        if let Some(rec) = parse_python(line) {
            self.close(out);
            self.last_ts = Some(rec.ts);
            self.codes.note_time(rec.ts);
            if meta.live && self.codes.clock().basis() == ClockBasis::Assumed {
                // The first line written while we watch tells the log's clock.
                let clock = LogClock::inferred(&self.file, rec.ts, meta.now, "read at");
                if clock.basis() != ClockBasis::Assumed {
                    out.push(LogEvent::Clock(clock.info().clone()));
                    self.codes.set_clock(clock);
                }
            }
            self.python_record(line, &rec, meta, out);
        } else if let Some(rest) = parse_uvicorn(line) {
            self.close(out);
            if let Some(access) = parse_access(rest) {
                if access.status >= 500 && access.path.starts_with(&self.config.auth_api_prefix) {
                    out.push(LogEvent::HttpError(HttpError {
                        method: access.method.to_owned(),
                        path: access.path.to_owned(),
                        status: access.status,
                        reason: access.reason.to_owned(),
                        client: access.client.to_owned(),
                        ts: self.last_ts,
                        file: self.file.clone(),
                        line: meta.line_no,
                    }));
                }
            } else if let Some(code) = self.code(line, None, meta) {
                out.push(code);
            }
        } else if let Some(code) = self.code(line, None, meta) {
            self.close(out);
            out.push(code);
        } else if let Some(open) = &mut self.open {
            open.add_detail(line);
        }
    }

    /// The file was truncated in place: whatever was written between logrotate's copy and its
    /// truncation is gone, announcements among it, so waiting requests are forgotten.
    pub fn lines_may_be_lost(&mut self) {
        self.codes.lines_may_be_lost(self.last_ts);
    }

    /// Emits the open record (an error line waiting for its traceback), if any. Call when no
    /// more data is available for now and when the file is switched.
    pub fn flush(&mut self, out: &mut Vec<LogEvent>) {
        self.close(out);
    }

    fn close(&mut self, out: &mut Vec<LogEvent>) {
        match self.open.take() {
            Some(OpenRecord::Provider(mut p)) => {
                if p.file.is_empty() {
                    p.file.clone_from(&self.file);
                }
                out.push(LogEvent::ProviderError(p));
            }
            Some(OpenRecord::Error { .. }) | None => {}
        }
    }

    fn python_record(
        &mut self,
        line: &str,
        rec: &PyRecord<'_>,
        meta: &LineMeta,
        out: &mut Vec<LogEvent>,
    ) {
        if let Some(code) = self.code(line, Some(rec.ts), meta) {
            out.push(code);
            return;
        }
        if let Some(start) = parse_backend_start(rec.msg) {
            self.last_backend_start = self.codes.instant(rec.ts);
            out.push(LogEvent::BackendStart(BackendStart {
                provider: start.provider.to_owned(),
                role: start.role.to_owned(),
                channel: start.channel.to_ascii_uppercase(),
                ts: Some(rec.ts),
                file: self.file.clone(),
                line: meta.line_no,
            }));
            return;
        }
        if !is_error_level(rec.level, rec.msg) {
            return;
        }
        if let Some(provider) = find_provider(rec.msg) {
            self.open = Some(OpenRecord::Provider(ProviderError {
                provider,
                status: find_http_status(rec.msg),
                provider_code: find_provider_code(rec.msg),
                level: rec.level.to_owned(),
                message: clip(rec.msg, MAX_DETAIL_CHARS).to_owned(),
                ts: Some(rec.ts),
                detail: Vec::new(),
                file: self.file.clone(),
                line: meta.line_no,
            }));
        } else if matches!(rec.level, "ERROR" | "CRITICAL") {
            self.open = Some(OpenRecord::Error {
                level: rec.level.to_owned(),
                message: clip(rec.msg, MAX_DETAIL_CHARS).to_owned(),
                ts: Some(rec.ts),
                line: meta.line_no,
                detail: Vec::new(),
            });
        }
    }

    /// A code on this line, if any. A line cut short (no newline yet, or past the line cap)
    /// never yields one: `OTP Code: 0912` may be the start of `OTP Code: 091282`.
    fn code(
        &mut self,
        line: &str,
        line_ts: Option<NaiveDateTime>,
        meta: &LineMeta,
    ) -> Option<LogEvent> {
        if !meta.complete || meta.truncated {
            return None;
        }
        let last_ts = self.last_ts;
        let read_at = meta.live.then_some(meta.now);
        let config = Arc::clone(&self.config);
        let found = self
            .codes
            .read(line, line_ts, || last_ts, read_at, &config)?;
        Some(LogEvent::Code(found.into_event(
            &config.expiry,
            meta.now,
            self.file.clone(),
            meta.line_no,
        )))
    }
}

impl OpenRecord {
    fn add_detail(&mut self, line: &str) {
        match self {
            OpenRecord::Provider(p) => {
                if p.status.is_none() {
                    p.status = find_http_status(line);
                }
                if p.provider_code.is_none() {
                    p.provider_code = find_provider_code(line);
                }
                push_detail(&mut p.detail, line);
            }
            OpenRecord::Error {
                level,
                message,
                ts,
                line: line_no,
                detail,
            } => {
                push_detail(detail, line);
                if let Some(provider) = find_provider(line) {
                    let status = find_http_status(line);
                    if status.is_some() || line.contains("Error") || line.contains("Exception") {
                        *self = OpenRecord::Provider(ProviderError {
                            provider,
                            status,
                            provider_code: find_provider_code(line),
                            level: std::mem::take(level),
                            message: std::mem::take(message),
                            ts: *ts,
                            detail: std::mem::take(detail),
                            file: String::new(),
                            line: *line_no,
                        });
                    }
                }
            }
        }
    }
}

fn push_detail(detail: &mut Vec<String>, line: &str) {
    if detail.len() < MAX_DETAIL_LINES {
        detail.push(clip(line, MAX_DETAIL_CHARS).to_owned());
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn clip(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
