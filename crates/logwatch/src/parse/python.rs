//! Python `logging` records in the backend's format:
//! `%(asctime)s - %(name)s - %(levelname)s - %(message)s`.

use chrono::NaiveDateTime;

use super::timestamp::parse_log_timestamp;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_python_record() {
        let r = parse_python("2025-10-29 16:34:53,202 - services.otp_service - WARNING - SMS FALLBACK - OTP for +1: 1").unwrap();
        assert_eq!(r.logger, "services.otp_service");
        assert_eq!(r.level, "WARNING");
        assert_eq!(r.msg, "SMS FALLBACK - OTP for +1: 1");
    }
}
