//! Code lines and recipient announcements: `SMS FALLBACK - OTP for {recipient}: {code}`,
//! `OTP Code: {code}` (console provider), `OTP created for phone: {recipient}` (a request that
//! will log its code on a later line), and users' own patterns for either.
//!
//! A built-in code is exactly `code_length` digits (the backend's 6 by default), alone at the end
//! of its line: never a prefix of a longer number, never letters.

use std::borrow::Cow;
use std::sync::LazyLock;

use chrono::NaiveDateTime;
use regex::Regex;

use super::timestamp::parse_any_timestamp;
use crate::event::CodeSource;

/// A user-defined pattern: a regex with named groups. With `code` it finds codes (optionally
/// `recipient`, `ts`); with `recipient` and no `code` it finds announcements of a request that
/// logs its code later. Either may capture `corr` (a thread, task or request id) that pairs an
/// announcement with its code exactly.
#[derive(Debug, Clone)]
pub struct CodePattern {
    line: Regex,
    chunk: regex::bytes::Regex,
    announces: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum PatternError {
    #[error("invalid pattern: {0}")]
    Regex(#[from] regex::Error),
    #[error("pattern {0:?} has neither a named group `code` (write it as (?P<code>...)) nor `recipient` (an announcement)")]
    MissingCodeGroup(String),
}

impl CodePattern {
    pub fn new(source: &str) -> Result<Self, PatternError> {
        let line = Regex::new(source)?;
        let has = |name: &str| line.capture_names().flatten().any(|n| n == name);
        let announces = !has("code") && has("recipient");
        if !has("code") && !announces {
            return Err(PatternError::MissingCodeGroup(source.to_owned()));
        }
        let chunk = regex::bytes::RegexBuilder::new(source)
            .multi_line(true)
            .crlf(true)
            .build()?;
        Ok(Self {
            line,
            chunk,
            announces,
        })
    }

    pub fn as_str(&self) -> &str {
        self.line.as_str()
    }

    /// True for an announcement pattern (`recipient`, no `code`).
    pub fn announces(&self) -> bool {
        self.announces
    }

    /// The same pattern compiled for searching a whole buffer of lines (`^`/`$` match at lines).
    pub(crate) fn chunk_regex(&self) -> &regex::bytes::Regex {
        &self.chunk
    }
}

/// What one line says about codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CodeLine<'a> {
    Code(CodeHit<'a>),
    /// A request announced its recipient; its code follows on a later line.
    Announcement {
        recipient: &'a str,
        corr: Option<&'a str>,
        ts: Option<NaiveDateTime>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CodeHit<'a> {
    pub recipient: Option<Cow<'a, str>>,
    pub code: &'a str,
    /// A timestamp the pattern captured.
    pub ts: Option<NaiveDateTime>,
    pub corr: Option<&'a str>,
    pub source: CodeSource,
}

/// Reads a line for a code or an announcement: users' patterns first, then the built-in ones.
pub(crate) fn read_code_line<'a>(
    line: &'a str,
    patterns: &[CodePattern],
    code_length: usize,
) -> Option<CodeLine<'a>> {
    for p in patterns {
        let Some(caps) = p.line.captures(line) else {
            continue;
        };
        let group = |name: &str| {
            caps.name(name)
                .map(|m| m.as_str().trim())
                .filter(|s| !s.is_empty())
        };
        let ts = caps
            .name("ts")
            .and_then(|m| parse_any_timestamp(m.as_str()));
        if p.announces {
            if let Some(recipient) = group("recipient") {
                return Some(CodeLine::Announcement {
                    recipient,
                    corr: group("corr"),
                    ts,
                });
            }
        } else if let Some(code) = group("code") {
            return Some(CodeLine::Code(CodeHit {
                recipient: group("recipient").map(Cow::Borrowed),
                code,
                ts,
                corr: group("corr"),
                source: CodeSource::Pattern,
            }));
        }
    }
    builtin(line, code_length)
}

fn builtin(line: &str, code_length: usize) -> Option<CodeLine<'_>> {
    for i in OTP_FINDER.find_iter(line.as_bytes()) {
        let after = &line[i + 3..];
        if let Some(after) = after.strip_prefix(" for ") {
            if let Some(colon) = after.rfind(": ") {
                let recipient = after[..colon].trim();
                if let Some(code) = code_token(&after[colon + 2..], code_length) {
                    if !recipient.is_empty() {
                        return Some(CodeLine::Code(CodeHit {
                            recipient: Some(Cow::Borrowed(recipient)),
                            code,
                            ts: None,
                            corr: None,
                            source: CodeSource::SmsFallback,
                        }));
                    }
                }
            }
        } else if let Some(rest) = after
            .strip_prefix(" Code:")
            .or_else(|| after.strip_prefix(" code:"))
        {
            if let Some(code) = code_token(rest, code_length) {
                return Some(CodeLine::Code(CodeHit {
                    recipient: None,
                    code,
                    ts: None,
                    corr: None,
                    source: CodeSource::Console,
                }));
            }
        } else if let Some(after) = after.strip_prefix(" created for ") {
            let value = match after.split_once(": ") {
                Some((_, v)) => v,
                None => after,
            };
            let recipient = value
                .split_whitespace()
                .next()
                .map(|v| v.trim_end_matches([',', '.', ';']))
                .filter(|v| !v.is_empty());
            if let Some(recipient) = recipient {
                return Some(CodeLine::Announcement {
                    recipient,
                    corr: None,
                    ts: None,
                });
            }
        }
    }
    None
}

static OTP_FINDER: LazyLock<memchr::memmem::Finder<'static>> =
    LazyLock::new(|| memchr::memmem::Finder::new(b"OTP"));

/// A code: exactly `length` ASCII digits, alone up to the end of the line.
fn code_token(s: &str, length: usize) -> Option<&str> {
    let s = s.trim();
    (s.len() == length && s.bytes().all(|b| b.is_ascii_digit())).then_some(s)
}

/// The built-in code length, and the range a configuration may choose from.
pub const DEFAULT_CODE_LENGTH: usize = 6;
pub const CODE_LENGTHS: std::ops::RangeInclusive<usize> = 4..=10;

#[cfg(test)]
mod tests {
    use super::*;

    fn code(line: &str) -> Option<CodeHit<'_>> {
        match read_code_line(line, &[], 6)? {
            CodeLine::Code(c) => Some(c),
            CodeLine::Announcement { .. } => None,
        }
    }

    #[test]
    fn finds_sms_fallback_code_with_recipient() {
        let hit = code("... - WARNING - SMS FALLBACK - OTP for +14165550123: 091282").unwrap();
        assert_eq!(hit.recipient.as_deref(), Some("+14165550123"));
        assert_eq!(hit.code, "091282");
        assert_eq!(hit.source, CodeSource::SmsFallback);
    }

    #[test]
    fn a_code_is_exactly_the_configured_length_of_digits() {
        assert!(
            code("OTP Code: 0912").is_none(),
            "a 4-digit prefix of a cut line"
        );
        assert!(code("OTP Code: 0912821").is_none());
        assert!(code("OTP Code: 09128a").is_none());
        assert_eq!(code("OTP Code: 091282").unwrap().code, "091282");
        let four = read_code_line("OTP Code: 0912", &[], 4);
        assert!(matches!(four, Some(CodeLine::Code(c)) if c.code == "0912"));
    }

    #[test]
    fn announcement_names_the_recipient() {
        assert_eq!(
            read_code_line("OTP created for phone: 4165550123", &[], 6),
            Some(CodeLine::Announcement {
                recipient: "4165550123",
                corr: None,
                ts: None
            })
        );
    }

    #[test]
    fn user_pattern_needs_a_code_or_a_recipient_group() {
        assert!(matches!(
            CodePattern::new(r"sent (\d+)"),
            Err(PatternError::MissingCodeGroup(_))
        ));
        let p =
            CodePattern::new(r"to (?P<recipient>\S+) code=(?P<code>\d{6}) at (?P<ts>\S+)").unwrap();
        let hit = read_code_line(
            "sent to bob@example.com code=123456 at 2025-10-29T10:00:00",
            &[p],
            6,
        );
        let Some(CodeLine::Code(hit)) = hit else {
            panic!("no code")
        };
        assert_eq!(hit.recipient.as_deref(), Some("bob@example.com"));
        assert_eq!(hit.ts, parse_any_timestamp("2025-10-29T10:00:00"));
    }

    #[test]
    fn announcement_pattern_captures_a_correlation_id() {
        let p = CodePattern::new(r"\[(?P<corr>[^\]]+)\] OTP created for phone: (?P<recipient>\d+)")
            .unwrap();
        assert!(p.announces());
        assert_eq!(
            read_code_line("x [Thread-3] OTP created for phone: 4165550123", &[p], 6),
            Some(CodeLine::Announcement {
                recipient: "4165550123",
                corr: Some("Thread-3"),
                ts: None
            })
        );
    }
}
