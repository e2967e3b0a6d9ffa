//! The messages the chains carry.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

pub use msgops_provider_kind::Channel;

/// An SMS to one phone number (E.164).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SmsMessage {
    pub to: String,
    pub body: String,
    /// The one-time code inside `body`, when there is one; the Console provider writes it in the
    /// backend's fallback format so support staff can read it out.
    #[serde(default)]
    pub code: Option<String>,
}

/// An email to one address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct EmailMessage {
    pub to: String,
    pub subject: String,
    pub body: String,
    #[serde(default)]
    pub code: Option<String>,
}

/// What the chain needs to know about any message.
pub trait Message: Send + Sync + 'static {
    const CHANNEL: Channel;
    fn recipient(&self) -> &str;
}

impl Message for SmsMessage {
    const CHANNEL: Channel = Channel::Sms;
    fn recipient(&self) -> &str {
        &self.to
    }
}

impl Message for EmailMessage {
    const CHANNEL: Channel = Channel::Email;
    fn recipient(&self) -> &str {
        &self.to
    }
}

/// A fresh 6-digit one-time code.
pub fn one_time_code() -> String {
    use std::hash::{BuildHasher, Hasher};
    // RandomState is seeded from the OS per instance; good enough for a test code, and avoids a
    // dependency. Real codes are made by the backend, not by msgops.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{:06}", h.finish() % 1_000_000)
}

/// Accepts E.164 numbers (`+14165550123`).
pub fn validate_phone(to: &str) -> Result<(), String> {
    let digits = to.strip_prefix('+').unwrap_or("");
    if (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(format!(
            "`{to}` is not an E.164 phone number like +14165550123"
        ))
    }
}

/// A light check: one `@`, something on each side, a dot in the domain.
pub fn validate_email(to: &str) -> Result<(), String> {
    match to.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && domain.contains('.')
                && !domain.contains('@')
                && !to.contains(char::is_whitespace) =>
        {
            Ok(())
        }
        _ => Err(format!("`{to}` is not an email address")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_time_codes_are_six_digits() {
        for _ in 0..100 {
            let c = one_time_code();
            assert_eq!(c.len(), 6);
            assert!(c.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn recipients_are_checked() {
        assert!(validate_phone("+14165550123").is_ok());
        assert!(validate_phone("4165550123").is_err());
        assert!(validate_phone("+1416555012a").is_err());
        assert!(validate_email("ops@example.com").is_ok());
        assert!(validate_email("ops@example").is_err());
        assert!(validate_email("a b@example.com").is_err());
    }
}
