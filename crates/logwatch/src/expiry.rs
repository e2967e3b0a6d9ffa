//! When a code stops being valid. A code expires a fixed time after it was written (10 minutes
//! by default), compared as instants; a code whose creation time is unknown counts as expired,
//! so an old code is never shown as valid.

use chrono::{DateTime, TimeDelta, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeExpiry {
    pub ttl: TimeDelta,
}

impl Default for CodeExpiry {
    fn default() -> Self {
        Self {
            ttl: TimeDelta::minutes(10),
        }
    }
}

impl CodeExpiry {
    pub fn new(ttl: TimeDelta) -> Self {
        Self { ttl }
    }

    pub fn expires_at(&self, created_at: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        created_at.and_then(|c| c.checked_add_signed(self.ttl))
    }

    /// Expired at `now`: `now >= expires_at`, or the creation time is unknown.
    pub fn is_expired(&self, created_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
        self.expires_at(created_at).is_none_or(|e| now >= e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        NaiveDate::from_ymd_opt(2025, 10, 29)
            .unwrap()
            .and_hms_opt(h, m, s)
            .unwrap()
            .and_utc()
    }

    #[test]
    fn code_created_at_163453_expires_at_164453() {
        let e = CodeExpiry::default();
        assert_eq!(e.expires_at(Some(at(16, 34, 53))), Some(at(16, 44, 53)));
        assert!(!e.is_expired(Some(at(16, 34, 53)), at(16, 44, 52)));
        assert!(e.is_expired(Some(at(16, 34, 53)), at(16, 44, 53)));
    }

    #[test]
    fn code_without_creation_time_is_never_valid() {
        assert!(CodeExpiry::default().is_expired(None, at(0, 0, 0)));
    }
}
