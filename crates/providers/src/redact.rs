//! Removes secret values from any text before it leaves a provider (error messages, logs).
//! A provider or a fake server may echo what we sent; this makes sure it does not travel on.

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
            secrets: secrets
                .into_iter()
                // Very short values would scrub ordinary words; real secrets are long.
                .filter(|s| s.expose_secret().len() >= 4)
                .cloned()
                .collect(),
        }
    }

    /// `text` with every secret value replaced by `[redacted]`.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.secrets {
            let v = s.expose_secret();
            if out.contains(v) {
                out = out.replace(v, "[redacted]");
            }
        }
        out
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
}
