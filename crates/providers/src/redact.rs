//! Removes secret values from any text before it leaves a provider (error messages, logs).
//! A provider or a fake server may echo what we sent; this makes sure it does not travel on.
//!
//! The rule itself (what is replaced, by what, which values are too short to scrub) is
//! [`msgops_credentials::mask::scrub`], the same one rotation errors go through; this module
//! only holds a provider's secrets and applies it. Never write a second rule here.

use msgops_credentials::mask::scrub;
use secrecy::{ExposeSecret, SecretString};

/// The secrets one provider holds, to scrub them out of texts. `Debug` shows nothing.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Vec<SecretString>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

impl Redactor {
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a SecretString>) -> Self {
        Self {
            secrets: secrets.into_iter().cloned().collect(),
        }
    }

    /// `text` with every secret value replaced by `[redacted]`
    /// ([`msgops_credentials::mask::REDACTED`]).
    pub fn scrub(&self, text: &str) -> String {
        scrub(text, self.secrets.iter().map(|s| s.expose_secret()))
    }

    /// Scrubs the message of a `SendError`.
    pub fn error(&self, mut e: msgops_core::SendError) -> msgops_core::SendError {
        e.message = self.scrub(&e.message);
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubs_every_occurrence_of_every_secret() {
        let a = SecretString::from("tok-123456");
        let b = SecretString::from("ACabcdef");
        let r = Redactor::new([&a, &b]);
        assert_eq!(
            r.scrub("tok-123456 at /Accounts/ACabcdef/x tok-123456"),
            "[redacted] at /Accounts/[redacted]/x [redacted]"
        );
        assert!(!format!("{r:?}").contains("tok"));
    }

    #[test]
    fn a_provider_answer_is_scrubbed_by_the_rule_rotation_errors_use() {
        let token = SecretString::from("f0e1d2c3b4a5968778695a4b3c2d1e0f");
        let answer = format!(
            r#"{{"code":20003,"message":"Authenticate","more_info":"token {} refused"}}"#,
            token.expose_secret()
        );
        let scrubbed = Redactor::new([&token]).scrub(&answer);
        assert!(!scrubbed.contains(token.expose_secret()), "{scrubbed}");
        assert!(
            scrubbed.contains(msgops_credentials::mask::REDACTED),
            "{scrubbed}"
        );
        assert_eq!(
            scrubbed,
            msgops_credentials::mask::scrub(&answer, [token.expose_secret()])
        );
    }

    #[test]
    fn very_short_values_do_not_scrub_ordinary_words() {
        let short = SecretString::from("the");
        assert_eq!(
            Redactor::new([&short]).scrub("the provider said no"),
            "the provider said no"
        );
    }
}
