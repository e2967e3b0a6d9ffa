//! The keys the delivery webhooks are verified with, kept in the keychain beside the
//! provider's credentials:
//!
//! - **Twilio's previous auth token**: when a rotation or an import replaces the auth token,
//!   the old one is kept (with the time it was replaced) so that callbacks Twilio signed with it
//!   are still accepted for a grace period (`[delivery] twilio_previous_token_grace_secs`).
//! - **SendGrid's Event Webhook verification key** (base64 DER, shown in SendGrid's settings):
//!   public, but part of the SendGrid set, stored and removed with it.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use crate::audit::{AuditAction, AuditLog, AuditOutcome, CredentialAuditEntry};
use crate::error::{CredentialError, Result};
use crate::provider::{CredentialProvider, SecretKind};
use crate::store::{CredentialStore, CredentialStoreExt};

/// `<unix ms replaced at>:<token>`.
pub const TWILIO_PREVIOUS_TOKEN_ACCOUNT: &str = "twilio.auth_token.previous";
pub const SENDGRID_WEBHOOK_KEY_ACCOUNT: &str = "sendgrid.webhook_public_key";

/// What [`TWILIO_PREVIOUS_TOKEN_ACCOUNT`] holds for `old`, replaced at `at`.
pub(crate) fn previous_twilio_token_entry(old: &SecretString, at: DateTime<Utc>) -> SecretString {
    SecretString::from(format!("{}:{}", at.timestamp_millis(), old.expose_secret()))
}

/// The Twilio auth tokens callbacks are verified with at `now`: the current one, then the
/// previous one while less than `grace` has passed since it was replaced.
pub fn twilio_auth_tokens(
    store: &dyn CredentialStore,
    now: DateTime<Utc>,
    grace: std::time::Duration,
) -> Result<Vec<SecretString>> {
    let mut tokens: Vec<SecretString> = store
        .get_secret(SecretKind::TwilioAuthToken)?
        .into_iter()
        .collect();
    if let Some(previous) = store.get(TWILIO_PREVIOUS_TOKEN_ACCOUNT)? {
        if let Some((at, token)) = previous.expose_secret().split_once(':') {
            let replaced = at
                .parse::<i64>()
                .ok()
                .and_then(DateTime::<Utc>::from_timestamp_millis);
            let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
            let current = tokens.first().map(|t| t.expose_secret());
            if replaced.is_some_and(|r| now < r + grace) && Some(token) != current {
                tokens.push(SecretString::from(token.to_owned()));
            }
        }
    }
    Ok(tokens)
}

/// The stored SendGrid Event Webhook verification key.
pub fn sendgrid_webhook_key(store: &dyn CredentialStore) -> Result<Option<String>> {
    Ok(store
        .get(SENDGRID_WEBHOOK_KEY_ACCOUNT)?
        .map(|k| k.expose_secret().to_owned()))
}

/// Stores SendGrid's Event Webhook verification key, once `check` (the webhook verifier's
/// own reading of it) accepted it; audited.
pub fn set_sendgrid_webhook_key(
    store: &dyn CredentialStore,
    audit: &AuditLog,
    key: &str,
    check: impl Fn(&str) -> std::result::Result<(), String>,
) -> Result<()> {
    let key = key.trim();
    check(key).map_err(|e| {
        CredentialError::Validation(format!(
            "That is not SendGrid's Event Webhook verification key: {e}. Nothing was stored."
        ))
    })?;
    let result = store.check_writable().and_then(|()| {
        store.set(
            SENDGRID_WEBHOOK_KEY_ACCOUNT,
            &SecretString::from(key.to_owned()),
        )
    });
    audit.record_or_warn(&CredentialAuditEntry::now(
        Some(CredentialProvider::Sendgrid),
        AuditAction::WebhookKey,
        if result.is_ok() {
            AuditOutcome::Success
        } else {
            AuditOutcome::Failure
        },
        match &result {
            Ok(()) => "Event Webhook verification key stored".to_owned(),
            Err(e) => format!("Event Webhook verification key not stored: {e}"),
        },
    ));
    result
}

/// The webhook entries that belong to `provider`'s set, removed with it.
pub(crate) fn accounts_of(provider: CredentialProvider) -> &'static [&'static str] {
    match provider {
        CredentialProvider::Twilio => &[TWILIO_PREVIOUS_TOKEN_ACCOUNT],
        CredentialProvider::Sendgrid => &[SENDGRID_WEBHOOK_KEY_ACCOUNT],
        CredentialProvider::Aws | CredentialProvider::Smtp => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn the_previous_token_is_accepted_only_during_its_grace_period() {
        let store = MemoryStore::new();
        store
            .set_secret(SecretKind::TwilioAuthToken, &secret("new-token"))
            .expect("set");
        let at = Utc::now();
        store
            .set(
                TWILIO_PREVIOUS_TOKEN_ACCOUNT,
                &previous_twilio_token_entry(&secret("old-token"), at),
            )
            .expect("keep the previous token");
        let grace = std::time::Duration::from_secs(900);
        let exposed = |now| -> Vec<String> {
            twilio_auth_tokens(&store, now, grace)
                .expect("read")
                .iter()
                .map(|t| t.expose_secret().to_owned())
                .collect()
        };
        assert_eq!(exposed(at), ["new-token", "old-token"]);
        assert_eq!(
            exposed(at + chrono::Duration::seconds(899)),
            ["new-token", "old-token"]
        );
        assert_eq!(exposed(at + chrono::Duration::seconds(900)), ["new-token"]);
        // No grace at all.
        let none = twilio_auth_tokens(&store, at, std::time::Duration::ZERO).expect("read");
        assert_eq!(none.len(), 1);
    }

    #[test]
    fn a_bad_sendgrid_key_is_refused_before_anything_is_stored() {
        let store = MemoryStore::new();
        let dir = tempfile::tempdir().expect("tempdir");
        let audit = AuditLog::in_dir(dir.path());
        let err = set_sendgrid_webhook_key(&store, &audit, "nope", |_| Err("not base64".into()))
            .expect_err("refused");
        assert!(err.to_string().contains("Nothing was stored"), "{err}");
        assert_eq!(sendgrid_webhook_key(&store).expect("read"), None);
        set_sendgrid_webhook_key(&store, &audit, " MFkw ", |_| Ok(())).expect("stored");
        assert_eq!(
            sendgrid_webhook_key(&store).expect("read").as_deref(),
            Some("MFkw")
        );
    }
}
