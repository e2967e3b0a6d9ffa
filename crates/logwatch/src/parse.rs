//! Turns single log lines of the backend (Python `logging`, uvicorn access log, console prints)
//! into events.
//!
//! The parser is per file and stateful: it remembers the last timestamp (uvicorn lines have
//! none), the recipient announced by `OTP created for phone: ...` (the console provider's
//! `OTP Code:` line does not repeat it), and the open error record that a following traceback
//! belongs to. It must never invent facts: no timestamp means `None`, no recipient means `None`.

use std::borrow::Cow;
use std::sync::{Arc, LazyLock};

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use regex::Regex;

use crate::event::{BackendStart, CodeSource, HttpError, LogEvent, ProviderError};
use crate::expiry::CodeExpiry;

/// How lines are interpreted.
#[derive(Debug, Clone)]
pub struct ParserConfig {
    /// How long a code stays valid after it was written (default 10 minutes).
    pub expiry: CodeExpiry,
    /// User-defined code patterns, tried before the built-in ones.
    pub patterns: Vec<CodePattern>,
    /// 5xx answers on paths starting with this prefix are reported as `http_error`.
    pub auth_api_prefix: String,
}

impl Default for ParserConfig {
    fn default() -> Self {
        Self {
            expiry: CodeExpiry::default(),
            patterns: Vec::new(),
            auth_api_prefix: "/api/v1/auth/".to_owned(),
        }
    }
}

/// A user-defined code pattern: a regex with the named groups `code` (required), `recipient`
/// and `ts` (optional).
#[derive(Debug, Clone)]
pub struct CodePattern {
    line: Regex,
    chunk: regex::bytes::Regex,
}

#[derive(Debug, thiserror::Error)]
pub enum PatternError {
    #[error("invalid pattern: {0}")]
    Regex(#[from] regex::Error),
    #[error("pattern {0:?} has no named group `code` (write it as (?P<code>...))")]
    MissingCodeGroup(String),
}

impl CodePattern {
    pub fn new(source: &str) -> Result<Self, PatternError> {
        let line = Regex::new(source)?;
        if !line.capture_names().flatten().any(|n| n == "code") {
            return Err(PatternError::MissingCodeGroup(source.to_owned()));
        }
        let chunk = regex::bytes::RegexBuilder::new(source)
            .multi_line(true)
            .crlf(true)
            .build()?;
        Ok(Self { line, chunk })
    }

    pub fn as_str(&self) -> &str {
        self.line.as_str()
    }

    /// The same pattern compiled for searching a whole buffer of lines (`^`/`$` match at lines).
    pub(crate) fn chunk_regex(&self) -> &regex::bytes::Regex {
        &self.chunk
    }
}

/// What the current line is, as far as the caller is concerned.
#[derive(Debug, Clone, Copy)]
pub struct LineMeta {
    /// 1-based line number in the current generation of the file.
    pub line_no: u64,
    /// The line was cut at the line cap.
    pub truncated: bool,
    /// The line was appended while we watched (as opposed to content that existed at start).
    pub live: bool,
    /// Current local time, for expiry and for codes logged without any timestamp.
    pub now: NaiveDateTime,
}

/// Per-file stateful line parser.
#[derive(Debug)]
pub struct LineParser {
    config: Arc<ParserConfig>,
    file: String,
    last_ts: Option<NaiveDateTime>,
    codes: CodeTracker,
    open: Option<OpenRecord>,
    last_backend_start: Option<NaiveDateTime>,
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
    pub fn new(file: impl Into<String>, config: Arc<ParserConfig>) -> Self {
        Self {
            config,
            file: file.into(),
            last_ts: None,
            codes: CodeTracker::default(),
            open: None,
            last_backend_start: None,
        }
    }

    /// Timestamp of the last backend start seen in this file (also from catch-up lines).
    pub fn last_backend_start(&self) -> Option<NaiveDateTime> {
        self.last_backend_start
    }

    /// A line that existed before watching started: only remember context (last timestamp, last
    /// backend start), report nothing.
    pub fn feed_context(&mut self, raw: &[u8]) {
        if let Some((ts, _)) = parse_log_timestamp(raw) {
            self.last_ts = Some(ts);
            if memchr::memmem::find(raw, b"nitiali").is_some() {
                let line = String::from_utf8_lossy(raw);
                if let Some(rec) = parse_python(&line) {
                    if parse_backend_start(rec.msg).is_some() {
                        self.last_backend_start = Some(ts);
                    }
                }
            }
        }
    }

    /// Parses one line (without its newline); completed events are pushed to `out`.
    pub fn feed(&mut self, raw: &[u8], meta: &LineMeta, out: &mut Vec<LogEvent>) {
        let line = String::from_utf8_lossy(raw);
        let line: &str = &line;
        if line.trim().is_empty() {
            return;
        }
        if let Some(rec) = parse_python(line) {
            self.close(out);
            self.last_ts = Some(rec.ts);
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
            self.last_backend_start = Some(rec.ts);
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
                provider: provider.to_owned(),
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

    fn code(
        &mut self,
        line: &str,
        line_ts: Option<NaiveDateTime>,
        meta: &LineMeta,
    ) -> Option<LogEvent> {
        let last_ts = self.last_ts;
        let found = self
            .codes
            .observe(line, line_ts, || last_ts, &self.config.patterns)?;
        let created_at = found
            .created_at
            .or(if meta.live { Some(meta.now) } else { None });
        Some(LogEvent::Code(self.config.expiry.code(
            found.recipient.map(Cow::into_owned),
            found.code.to_owned(),
            created_at,
            found.source,
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
                            provider: provider.to_owned(),
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

/// A code found on a line, with what is known about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FoundCode<'a> {
    pub recipient: Option<Cow<'a, str>>,
    pub code: &'a str,
    pub created_at: Option<NaiveDateTime>,
    pub source: CodeSource,
}

/// Ties codes to recipients across lines. Shared by the follower's parser and the fast scanner so
/// both read a log the same way.
#[derive(Debug, Default)]
pub(crate) struct CodeTracker {
    /// Recipient announced by `OTP created for phone: ...`, waiting for its code line.
    pending: Option<(String, Option<NaiveDateTime>)>,
}

/// An announced recipient is used for a code line at most this long after the announcement.
const RECIPIENT_WINDOW: TimeDelta = TimeDelta::seconds(60);

impl CodeTracker {
    /// Looks at one line. Returns the code if the line holds one; remembers announced recipients.
    /// `fallback_ts` is asked for the time only when the line has no timestamp of its own.
    pub(crate) fn observe<'a>(
        &mut self,
        line: &'a str,
        line_ts: Option<NaiveDateTime>,
        fallback_ts: impl FnOnce() -> Option<NaiveDateTime>,
        patterns: &[CodePattern],
    ) -> Option<FoundCode<'a>> {
        let Some(hit) = find_code(line, patterns) else {
            if let Some(recipient) = find_recipient_announcement(line) {
                let ts = line_ts.or_else(fallback_ts);
                match &mut self.pending {
                    Some((buf, at)) => {
                        buf.clear();
                        buf.push_str(recipient);
                        *at = ts;
                    }
                    None => self.pending = Some((recipient.to_owned(), ts)),
                }
            }
            return None;
        };
        let created_at = hit.ts.or(line_ts).or_else(fallback_ts);
        let recipient = match hit.recipient {
            Some(r) => {
                if self.pending.as_ref().is_some_and(|(p, _)| p == r.as_ref()) {
                    self.pending = None;
                }
                Some(r)
            }
            None => self.take_recipient(created_at).map(Cow::Owned),
        };
        Some(FoundCode {
            recipient,
            code: hit.code,
            created_at,
            source: hit.source,
        })
    }

    fn take_recipient(&mut self, at: Option<NaiveDateTime>) -> Option<String> {
        let (recipient, announced) = self.pending.take()?;
        match (at, announced) {
            (Some(at), Some(announced))
                if at - announced > RECIPIENT_WINDOW || announced - at > RECIPIENT_WINDOW =>
            {
                None
            }
            _ => Some(recipient),
        }
    }
}

pub(crate) struct CodeHit<'a> {
    pub recipient: Option<Cow<'a, str>>,
    pub code: &'a str,
    pub ts: Option<NaiveDateTime>,
    pub source: CodeSource,
}

/// Finds a code on a line: user patterns first, then `OTP for {recipient}: {code}`, then
/// `OTP Code: {code}`.
pub(crate) fn find_code<'a>(line: &'a str, patterns: &[CodePattern]) -> Option<CodeHit<'a>> {
    for p in patterns {
        if let Some(caps) = p.line.captures(line) {
            if let Some(code) = caps.name("code") {
                let code = code.as_str().trim();
                if code.is_empty() {
                    continue;
                }
                let recipient = caps
                    .name("recipient")
                    .map(|m| m.as_str().trim())
                    .filter(|r| !r.is_empty())
                    .map(Cow::Borrowed);
                let ts = caps
                    .name("ts")
                    .and_then(|m| parse_any_timestamp(m.as_str()));
                return Some(CodeHit {
                    recipient,
                    code,
                    ts,
                    source: CodeSource::Pattern,
                });
            }
        }
    }
    let bytes = line.as_bytes();
    for i in OTP_FINDER.find_iter(bytes) {
        let after = &line[i + 3..];
        if let Some(after) = after.strip_prefix(" for ") {
            if let Some(colon) = after.rfind(": ") {
                let recipient = after[..colon].trim();
                if let Some(code) = code_token(&after[colon + 2..]) {
                    if !recipient.is_empty() {
                        return Some(CodeHit {
                            recipient: Some(Cow::Borrowed(recipient)),
                            code,
                            ts: None,
                            source: CodeSource::SmsFallback,
                        });
                    }
                }
            }
        } else if let Some(rest) = after
            .strip_prefix(" Code:")
            .or_else(|| after.strip_prefix(" code:"))
        {
            if let Some(code) = code_token(rest) {
                return Some(CodeHit {
                    recipient: None,
                    code,
                    ts: None,
                    source: CodeSource::Console,
                });
            }
        }
    }
    None
}

static OTP_FINDER: LazyLock<memchr::memmem::Finder<'static>> =
    LazyLock::new(|| memchr::memmem::Finder::new(b"OTP"));

/// A code: 4 to 12 letters/digits with at least one digit, alone up to the end of the line.
fn code_token(s: &str) -> Option<&str> {
    let s = s.trim();
    let ok = (4..=12).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric())
        && s.bytes().any(|b| b.is_ascii_digit());
    ok.then_some(s)
}

/// `OTP created for phone: 4165550123` -> `4165550123`.
fn find_recipient_announcement(line: &str) -> Option<&str> {
    let after = OTP_FINDER
        .find_iter(line.as_bytes())
        .find_map(|i| line[i + 3..].strip_prefix(" created for "))?;
    let value = match after.split_once(": ") {
        Some((_, v)) => v,
        None => after,
    };
    let value = value.split_whitespace().next()?;
    Some(value.trim_end_matches([',', '.', ';']))
}

/// A Python `logging` record line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct PyRecord<'a> {
    pub ts: NaiveDateTime,
    pub logger: &'a str,
    pub level: &'a str,
    pub msg: &'a str,
}

/// `2025-10-29 16:34:53,202 - services.otp_service - WARNING - msg`
pub(crate) fn parse_python(line: &str) -> Option<PyRecord<'_>> {
    let (ts, len) = parse_log_timestamp(line.as_bytes())?;
    let rest = &line[len..];
    if let Some(body) = rest.strip_prefix(" - ") {
        let mut parts = body.splitn(3, " - ");
        if let (Some(logger), Some(level), Some(msg)) = (parts.next(), parts.next(), parts.next()) {
            if !level.is_empty() && level.bytes().all(|b| b.is_ascii_uppercase()) {
                return Some(PyRecord {
                    ts,
                    logger,
                    level,
                    msg,
                });
            }
        }
        return Some(PyRecord {
            ts,
            logger: "",
            level: "",
            msg: body,
        });
    }
    Some(PyRecord {
        ts,
        logger: "",
        level: "",
        msg: rest.trim_start(),
    })
}

/// Parses the timestamp a line starts with: `YYYY-MM-DD HH:MM:SS[,mmm]` (also `T` and `.`).
/// Returns the time and the number of bytes it took.
pub fn parse_log_timestamp(b: &[u8]) -> Option<(NaiveDateTime, usize)> {
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b' ' || b[10] == b'T') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let min = digits(&b[14..16])?;
    let sec = digits(&b[17..19])?;
    let (milli, len) = match b.get(19..23) {
        Some([sep, rest @ ..]) if (*sep == b',' || *sep == b'.') => match digits(rest) {
            Some(ms) => (ms, 23),
            None => (0, 19),
        },
        _ => (0, 19),
    };
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    Some((date.and_hms_milli_opt(hour, min, sec, milli)?, len))
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() {
        return None;
    }
    b.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

/// Timestamps as users' patterns may capture them.
pub fn parse_any_timestamp(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    if let Some((ts, len)) = parse_log_timestamp(s.as_bytes()) {
        if len == s.len() {
            return Some(ts);
        }
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%d/%b/%Y:%H:%M:%S",
        "%Y/%m/%d %H:%M:%S",
    ] {
        if let Ok(ts) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(ts);
        }
    }
    None
}

/// `INFO:     rest` -> `rest` (uvicorn's own lines).
pub(crate) fn parse_uvicorn(line: &str) -> Option<&str> {
    let (level, rest) = line.split_once(':')?;
    if !matches!(
        level,
        "INFO" | "WARNING" | "ERROR" | "DEBUG" | "CRITICAL" | "TRACE"
    ) {
        return None;
    }
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    Some(rest.trim_start())
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct AccessLine<'a> {
    pub client: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub reason: &'a str,
}

/// `127.0.0.1:64825 - "POST /api/v1/auth/otp/send HTTP/1.1" 500 Internal Server Error`
pub(crate) fn parse_access(rest: &str) -> Option<AccessLine<'_>> {
    let (client, tail) = rest.split_once(" - \"")?;
    let (request, status_part) = tail.rsplit_once("\" ")?;
    let mut req = request.splitn(3, ' ');
    let method = req.next()?;
    let path = req.next()?;
    let status_part = status_part.trim();
    let (status, reason) = match status_part.split_once(' ') {
        Some((s, r)) => (s, r.trim()),
        None => (status_part, ""),
    };
    if status.len() != 3 {
        return None;
    }
    let status = u16::try_from(digits(status.as_bytes())?).ok()?;
    Some(AccessLine {
        client,
        method,
        path,
        status,
        reason,
    })
}

fn is_error_level(level: &str, msg: &str) -> bool {
    match level {
        "ERROR" | "CRITICAL" => true,
        "WARNING" => {
            let lower = msg.to_ascii_lowercase();
            [
                "error",
                "fail",
                "denied",
                "unauthori",
                "invalid",
                "exception",
                "401",
                "403",
            ]
            .iter()
            .any(|w| lower.contains(w))
        }
        _ => false,
    }
}

static PROVIDER_RE: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::expect_used)]
    Regex::new(r"(?i)\b(twilio|sendgrid|aws\s*sns|sns|aws\s*ses|sesv2|ses|smtp|gmail)\b")
        .expect("constant regex")
});
static STATUS_RE: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::expect_used)]
    Regex::new(concat!(
        r"(?i)\bHTTP(?:\s+error)?[\s:/]*([1-5]\d\d)\b",
        r"|\bstatus(?:[\s_]?code)?\s*[:=]?\s*([1-5]\d\d)\b",
        r"|\b([45]\d\d)\s+(?:Unauthorized|Forbidden|Bad Request|Not Found|Too Many Requests|Internal Server Error|Bad Gateway|Service Unavailable)"
    ))
    .expect("constant regex")
});
static PROVIDER_CODE_RE: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::expect_used)]
    Regex::new(
        r"(?i)\berror\s*code\s*[:=]?\s*(\d{5})\b|\bcode\s*[:=]\s*(\d{5})\b|/errors/(\d{5})\b",
    )
    .expect("constant regex")
});
static START_RE: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::expect_used)]
    Regex::new(
        r"(?i)^\s*(?P<provider>.+?)\s+initiali[sz]ed\s+as\s+(?P<role>[a-z_]+)\s+(?P<channel>sms|email|e-mail)\s+provider",
    )
    .expect("constant regex")
});

/// Normalised id of the first messaging provider a text names.
pub(crate) fn find_provider(text: &str) -> Option<&'static str> {
    let m = PROVIDER_RE.captures(text)?.get(1)?;
    let name = m.as_str().to_ascii_lowercase();
    Some(match name.as_str() {
        "twilio" => "twilio",
        "sendgrid" => "sendgrid",
        "smtp" | "gmail" => "smtp",
        n if n.contains("sns") => "aws_sns",
        _ => "aws_ses",
    })
}

pub(crate) fn find_http_status(text: &str) -> Option<u16> {
    let caps = STATUS_RE.captures(text)?;
    caps.iter().skip(1).flatten().next()?.as_str().parse().ok()
}

fn find_provider_code(text: &str) -> Option<String> {
    let caps = PROVIDER_CODE_RE.captures(text)?;
    Some(caps.iter().skip(1).flatten().next()?.as_str().to_owned())
}

pub(crate) struct StartLine<'a> {
    pub provider: &'a str,
    pub role: &'a str,
    pub channel: &'a str,
}

pub(crate) fn parse_backend_start(msg: &str) -> Option<StartLine<'_>> {
    if !msg.contains("nitiali") {
        return None;
    }
    let caps = START_RE.captures(msg)?;
    Some(StartLine {
        provider: caps.name("provider")?.as_str(),
        role: caps.name("role")?.as_str(),
        channel: caps.name("channel")?.as_str(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> NaiveDateTime {
        parse_any_timestamp(s).unwrap()
    }

    #[test]
    fn reads_python_logging_timestamp_with_milliseconds() {
        let (t, len) = parse_log_timestamp(b"2025-10-29 16:34:53,202 - x - INFO - m").unwrap();
        assert_eq!(len, 23);
        assert_eq!(
            t,
            NaiveDate::from_ymd_opt(2025, 10, 29)
                .unwrap()
                .and_hms_milli_opt(16, 34, 53, 202)
                .unwrap()
        );
        assert!(parse_log_timestamp(b"2025-13-29 16:34:53,202").is_none());
        assert!(parse_log_timestamp(b"INFO:     127.0.0.1").is_none());
    }

    #[test]
    fn splits_python_record() {
        let r = parse_python("2025-10-29 16:34:53,202 - services.otp_service - WARNING - SMS FALLBACK - OTP for +1: 1").unwrap();
        assert_eq!(r.logger, "services.otp_service");
        assert_eq!(r.level, "WARNING");
        assert_eq!(r.msg, "SMS FALLBACK - OTP for +1: 1");
    }

    #[test]
    fn reads_uvicorn_access_line() {
        let rest = parse_uvicorn(r#"INFO:     127.0.0.1:64825 - "POST /api/v1/auth/otp/send HTTP/1.1" 500 Internal Server Error"#).unwrap();
        let a = parse_access(rest).unwrap();
        assert_eq!(
            a,
            AccessLine {
                client: "127.0.0.1:64825",
                method: "POST",
                path: "/api/v1/auth/otp/send",
                status: 500,
                reason: "Internal Server Error"
            }
        );
    }

    #[test]
    fn finds_sms_fallback_code_with_recipient() {
        let hit = find_code(
            "... - WARNING - SMS FALLBACK - OTP for +14165550123: 091282",
            &[],
        )
        .unwrap();
        assert_eq!(hit.recipient.as_deref(), Some("+14165550123"));
        assert_eq!(hit.code, "091282");
        assert_eq!(hit.source, CodeSource::SmsFallback);
    }

    #[test]
    fn console_code_takes_recipient_announced_just_before() {
        let mut t = CodeTracker::default();
        let t0 = ts("2025-10-29 16:34:53,000");
        assert!(t
            .observe("OTP created for phone: 4165550123", Some(t0), || None, &[])
            .is_none());
        let c = t
            .observe("OTP Code: 091282", None, || Some(t0), &[])
            .unwrap();
        assert_eq!(c.recipient.as_deref(), Some("4165550123"));
        assert_eq!(c.created_at, Some(t0));
        // Consumed: the next code has no recipient.
        let c = t
            .observe("OTP Code: 111111", None, || Some(t0), &[])
            .unwrap();
        assert_eq!(c.recipient, None);
    }

    #[test]
    fn announced_recipient_is_not_used_minutes_later() {
        let mut t = CodeTracker::default();
        t.observe(
            "OTP created for phone: 4165550123",
            Some(ts("2025-10-29 16:00:00")),
            || None,
            &[],
        );
        let c = t
            .observe(
                "OTP Code: 091282",
                Some(ts("2025-10-29 16:05:00")),
                || None,
                &[],
            )
            .unwrap();
        assert_eq!(c.recipient, None);
    }

    #[test]
    fn user_pattern_needs_a_code_group() {
        assert!(matches!(
            CodePattern::new(r"sent (\d+)"),
            Err(PatternError::MissingCodeGroup(_))
        ));
        let p =
            CodePattern::new(r"to (?P<recipient>\S+) code=(?P<code>\d{6}) at (?P<ts>\S+)").unwrap();
        let hit = find_code(
            "sent to bob@example.com code=123456 at 2025-10-29T10:00:00",
            &[p],
        )
        .unwrap();
        assert_eq!(hit.recipient.as_deref(), Some("bob@example.com"));
        assert_eq!(hit.ts, Some(ts("2025-10-29T10:00:00")));
    }

    #[test]
    fn extracts_status_and_provider_code() {
        assert_eq!(
            find_http_status("Twilio error: HTTP 401 error: Unable to create record: Authenticate"),
            Some(401)
        );
        assert_eq!(
            find_http_status("SendGrid error: HTTP Error 401: Unauthorized"),
            Some(401)
        );
        assert_eq!(find_http_status("status_code=403"), Some(403));
        assert_eq!(find_http_status("sent via HTTP/1.1"), None);
        assert_eq!(
            find_provider_code("see https://www.twilio.com/docs/errors/20003").as_deref(),
            Some("20003")
        );
        assert_eq!(find_provider("Failed to send via AWS SNS"), Some("aws_sns"));
        assert_eq!(find_provider("processes responses"), None);
    }

    #[test]
    fn provider_initialisation_line_is_a_backend_start() {
        let s = parse_backend_start("AWS SNS initialized as PRIMARY SMS provider").unwrap();
        assert_eq!(
            (s.provider, s.role, s.channel),
            ("AWS SNS", "PRIMARY", "SMS")
        );
    }
}
