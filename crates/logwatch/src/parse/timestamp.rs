//! Timestamps as the backend writes them: `2025-10-29 16:34:53,202` (Python `logging`), and the
//! few other shapes a user's pattern may capture. Wall-clock times only: which zone they are in
//! is the [`crate::clock`]'s business.

use chrono::{NaiveDate, NaiveDateTime};

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

pub(crate) fn digits(b: &[u8]) -> Option<u32> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
