//! Rotation: new credentials replace the stored ones only after the provider accepted them.
//!
//! On any failure the old secrets stay as they were (a value already written when a later one
//! fails is put back, and the error says whether that worked), and the error carries what the
//! provider said (scrubbed of the values that were sent). Validation itself is behind
//! [`CredentialValidator`], implemented by the providers crate (and, for Twilio and SendGrid,
//! by [`crate::HttpValidator`]).

use std::collections::BTreeMap;

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use ts_rs::TS;

use crate::audit::{AuditAction, AuditLog, AuditOutcome, CredentialAuditEntry};
use crate::error::{CredentialError, Result};
use crate::mask::{mask, scrub};
use crate::provider::{CredentialProvider, SecretKind};
use crate::store::{CredentialStore, CredentialStoreExt};

/// A provider's secrets, complete or partial. `Debug` shows masked values only.
pub struct CredentialSet {
    provider: CredentialProvider,
    values: BTreeMap<SecretKind, SecretString>,
}

impl std::fmt::Debug for CredentialSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let masked: BTreeMap<_, _> = self
            .values
            .iter()
            .map(|(k, v)| (k.account(), mask(v.expose_secret())))
            .collect();
        f.debug_struct("CredentialSet")
            .field("provider", &self.provider)
            .field("values", &masked)
            .finish()
    }
}

impl CredentialSet {
    pub fn new(provider: CredentialProvider) -> Self {
        Self {
            provider,
            values: BTreeMap::new(),
        }
    }

    /// Adds a value; refuses secrets of another provider and empty values. Surrounding
    /// whitespace (a pasted newline) is removed.
    pub fn insert(&mut self, kind: SecretKind, value: SecretString) -> Result<()> {
        if kind.provider() != self.provider {
            return Err(CredentialError::Validation(format!(
                "{} is not a {} credential.",
                kind.env_var(),
                self.provider
            )));
        }
        let trimmed = value.expose_secret().trim();
        if trimmed.is_empty() {
            return Err(CredentialError::Validation(format!(
                "{} is empty; give a value or leave it out to keep the current one.",
                kind.label()
            )));
        }
        let value = if trimmed.len() == value.expose_secret().len() {
            value
        } else {
            SecretString::from(trimmed)
        };
        self.values.insert(kind, value);
        Ok(())
    }

    pub fn with(mut self, kind: SecretKind, value: impl Into<String>) -> Result<Self> {
        self.insert(kind, SecretString::from(value.into()))?;
        Ok(self)
    }

    pub fn provider(&self) -> CredentialProvider {
        self.provider
    }

    pub fn get(&self, kind: SecretKind) -> Option<&SecretString> {
        self.values.get(&kind)
    }

    /// The value as text, for the validator that has to send it.
    pub fn expose(&self, kind: SecretKind) -> Option<&str> {
        self.values.get(&kind).map(|v| v.expose_secret())
    }

    pub fn kinds(&self) -> impl Iterator<Item = SecretKind> + '_ {
        self.values.keys().copied()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Why a validator did not accept credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ValidationFailureKind {
    /// The provider answered and said no (wrong key, missing scope, ...).
    Rejected,
    /// The provider could not be asked (network, timeout, 5xx, rate limited).
    Unreachable,
    /// This validator cannot check this provider.
    Unsupported,
}

/// A validator's "no", with the provider's own words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct ValidationFailure {
    pub kind: ValidationFailureKind,
    /// What the provider said, e.g. `HTTP 401, Twilio error 20003: Authenticate`.
    pub message: String,
    pub http_status: Option<u16>,
    /// The provider's error code, e.g. `20003`.
    pub provider_code: Option<String>,
}

impl ValidationFailure {
    pub fn rejected(message: impl Into<String>) -> Self {
        Self {
            kind: ValidationFailureKind::Rejected,
            message: message.into(),
            http_status: None,
            provider_code: None,
        }
    }
    pub fn unreachable(message: impl Into<String>) -> Self {
        Self {
            kind: ValidationFailureKind::Unreachable,
            message: message.into(),
            http_status: None,
            provider_code: None,
        }
    }
}

/// Checks credentials against the provider without sending a message: Twilio
/// `GET /2010-04-01/Accounts/{Sid}.json`, SendGrid `GET /v3/scopes` (must include `mail.send`),
/// AWS STS/SES, SMTP AUTH. Receives the complete set (new values merged with the stored ones
/// the caller did not change).
#[async_trait::async_trait]
pub trait CredentialValidator: Send + Sync {
    async fn validate(
        &self,
        credentials: &CredentialSet,
    ) -> std::result::Result<(), ValidationFailure>;
}

/// What [`rotate`] did. Masked values only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct RotationReport {
    pub provider: CredentialProvider,
    pub replaced: Vec<SecretKind>,
    /// The new values, masked.
    pub masked: BTreeMap<SecretKind, String>,
}

/// Validates `new_values` (merged with the stored values it does not replace) through
/// `validator`, and only on success stores them. Every outcome is audited.
///
/// Store calls block (a D-Bus round trip); the validator is awaited.
pub async fn rotate(
    store: &dyn CredentialStore,
    audit: &AuditLog,
    new_values: CredentialSet,
    validator: &dyn CredentialValidator,
) -> Result<RotationReport> {
    let provider = new_values.provider();
    if new_values.is_empty() {
        return Err(CredentialError::Validation(format!(
            "No new {provider} credentials given; nothing to rotate."
        )));
    }
    let names = new_values
        .kinds()
        .map(|k| k.env_var())
        .collect::<Vec<_>>()
        .join(", ");
    // A store msgops cannot write to (systemd credentials) is refused before the provider is
    // asked: nothing was changed, and the message says where the change is made instead.
    if let Err(e) = crate::blocking_section(|| store.check_writable()) {
        audit.record_or_warn(&CredentialAuditEntry::now(
            Some(provider),
            AuditAction::Rotate,
            AuditOutcome::Failure,
            format!("new {names} not stored: {e}"),
        ));
        return Err(e);
    }

    // The complete set the provider will see, and the values to restore if a write fails.
    let mut complete = CredentialSet::new(provider);
    let mut previous: BTreeMap<SecretKind, Option<SecretString>> = BTreeMap::new();
    for &kind in provider.secrets() {
        let current = crate::blocking_section(|| store.get_secret(kind))
            .map_err(|e| with_state(e, "nothing was changed"))?;
        match (new_values.get(kind), &current) {
            (Some(new), _) => complete.insert(kind, new.clone())?,
            (None, Some(old)) => complete.insert(kind, old.clone())?,
            (None, None) => {
                return Err(CredentialError::Validation(format!(
                    "{} is not stored yet; give it together with the other {provider} values.",
                    kind.label()
                )))
            }
        }
        if new_values.get(kind).is_some() {
            previous.insert(kind, current);
        }
    }

    if let Err(failure) = validator.validate(&complete).await {
        let secrets: Vec<&str> = complete
            .values
            .values()
            .map(|v| v.expose_secret())
            .collect();
        let message = scrub(&failure.message, secrets);
        tracing::warn!(provider = provider.as_str(), %message, "new credentials refused");
        let error = match failure.kind {
            ValidationFailureKind::Rejected => CredentialError::ProviderRejected {
                provider: provider.display_name().to_owned(),
                message,
            },
            ValidationFailureKind::Unreachable => CredentialError::ProviderUnreachable {
                provider: provider.display_name().to_owned(),
                message,
            },
            ValidationFailureKind::Unsupported => CredentialError::Validation(format!(
                "{message}. The stored {provider} credentials are unchanged."
            )),
        };
        audit.record_or_warn(&CredentialAuditEntry::now(
            Some(provider),
            AuditAction::ValidationFailed,
            AuditOutcome::Failure,
            format!("new {names} not stored: {error}"),
        ));
        return Err(error);
    }

    // All new values as one change (one new version in a versioned store).
    let mut changes = KeychainChanges::new(store);
    let writes: Vec<_> = new_values
        .values
        .iter()
        .map(|(kind, value)| (*kind, value, previous.get(kind).cloned().flatten()))
        .collect();
    if let Err((kind, e)) = crate::blocking_section(|| changes.write_all(writes)) {
        let undone = crate::blocking_section(|| changes.undo());
        let e = with_state(
            e,
            &format!(
                "{provider} accepted the new values, but storing {} failed; {undone}",
                kind.env_var()
            ),
        );
        audit.record_or_warn(&CredentialAuditEntry::now(
            Some(provider),
            AuditAction::Rotate,
            AuditOutcome::Failure,
            format!("new {names} not stored: {e}"),
        ));
        return Err(e);
    }
    tracing::info!(provider = provider.as_str(), secrets = %names, "rotated credentials");
    audit.record_or_warn(&CredentialAuditEntry::now(
        Some(provider),
        AuditAction::Rotate,
        AuditOutcome::Success,
        format!("{names} replaced after {provider} accepted them"),
    ));
    Ok(RotationReport {
        provider,
        replaced: new_values.kinds().collect(),
        masked: new_values
            .values
            .iter()
            .map(|(k, v)| (*k, mask(v.expose_secret())))
            .collect(),
    })
}

/// Keychain values written by one operation (an import, a rotation), each with the value it
/// replaced, so that when a later step fails everything is put back as it was.
pub(crate) struct KeychainChanges<'a> {
    store: &'a dyn CredentialStore,
    written: Vec<(SecretKind, Option<SecretString>)>,
    /// What Twilio's previous-token entry held before a write kept the replaced token there
    /// (`Some(None)`: no entry): put back by [`Self::undo`], so an undone operation leaves no
    /// trace of it.
    previous_token_entry: Option<Option<SecretString>>,
}

/// What [`KeychainChanges::undo`] managed, as words for an error message.
pub(crate) struct Undone {
    restored: Vec<SecretKind>,
    failed: Vec<(SecretKind, String)>,
}

impl std::fmt::Display for Undone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = |kinds: &mut dyn Iterator<Item = SecretKind>| {
            kinds.map(|k| k.env_var()).collect::<Vec<_>>().join(", ")
        };
        match (self.restored.is_empty(), self.failed.is_empty()) {
            (true, true) => write!(f, "nothing had been written to the keychain"),
            (false, true) => write!(
                f,
                "the keychain holds its previous values again (put back: {})",
                names(&mut self.restored.iter().copied())
            ),
            (_, false) => {
                let failed: Vec<String> = self
                    .failed
                    .iter()
                    .map(|(k, e)| format!("{} ({e})", k.env_var()))
                    .collect();
                write!(
                    f,
                    "the previous keychain value of {} could not be put back, so the keychain \
                     holds the new value for it",
                    failed.join(", ")
                )?;
                if !self.restored.is_empty() {
                    write!(
                        f,
                        "; put back: {}",
                        names(&mut self.restored.iter().copied())
                    )?;
                }
                Ok(())
            }
        }
    }
}

impl<'a> KeychainChanges<'a> {
    pub(crate) fn new(store: &'a dyn CredentialStore) -> Self {
        Self {
            store,
            written: Vec::new(),
            previous_token_entry: None,
        }
    }

    /// Stores every `(kind, value, previous)` with one [`CredentialStore::set_many`] and reads
    /// each back; `previous` is what the keychain held (`None`: no entry).
    ///
    /// When the Twilio auth token changes, the replaced one is kept as the previous token (so
    /// that callbacks Twilio signed with it stay verifiable for a while) as the last entry of
    /// the same change: a versioned store (AWS Secrets Manager) makes one version of it, whose
    /// `AWSPREVIOUS` is then the whole set as it was before. Best effort: a store that takes
    /// the values but not that entry only shortens the grace period to nothing. It is never
    /// one of the writes a failure is counted against, and [`Self::undo`] puts it back too.
    ///
    /// A failed write is remembered too (it may have changed the entry before failing); the
    /// error names the secret that failed.
    pub(crate) fn write_all(
        &mut self,
        writes: Vec<(SecretKind, &SecretString, Option<SecretString>)>,
    ) -> std::result::Result<(), (SecretKind, CredentialError)> {
        use crate::webhook_keys::{previous_twilio_token_entry, TWILIO_PREVIOUS_TOKEN_ACCOUNT};
        let Some(&(first, _, _)) = writes.first() else {
            return Ok(());
        };
        let replaced_token = writes.iter().find_map(|(kind, value, previous)| {
            previous.as_ref().filter(|old| {
                *kind == SecretKind::TwilioAuthToken && old.expose_secret() != value.expose_secret()
            })
        });
        // What the entry holds now, to put back on undo; unreadable: not kept at all.
        let mut keep = None;
        if let Some(old) = replaced_token {
            match self.store.get(TWILIO_PREVIOUS_TOKEN_ACCOUNT) {
                Ok(before) => {
                    self.previous_token_entry = Some(before);
                    keep = Some(previous_twilio_token_entry(old, chrono::Utc::now()));
                }
                Err(e) => tracing::warn!(
                    error = %e,
                    "could not read the previous Twilio auth token entry; the replaced token is not kept"
                ),
            }
        }
        let mut entries: Vec<(&str, &SecretString)> = writes
            .iter()
            .map(|(kind, value, _)| (kind.account(), *value))
            .collect();
        if let Some(keep) = &keep {
            entries.push((TWILIO_PREVIOUS_TOKEN_ACCOUNT, keep));
        }
        match self.store.set_many(&entries) {
            Ok(()) => self.remember(&writes, writes.len()),
            Err((i, e)) if i >= writes.len() => {
                self.remember(&writes, writes.len());
                tracing::warn!(error = %e, "could not keep the previous Twilio auth token; callbacks signed with it are refused from now on");
            }
            Err((i, e)) => {
                self.remember(&writes, i + 1);
                let kind = writes.get(i).map_or(first, |w| w.0);
                return Err((kind, e));
            }
        }
        for (kind, value, _) in &writes {
            let back = self.store.get_secret(*kind).map_err(|e| (*kind, e))?;
            if back.as_ref().map(|b| b.expose_secret()) != Some(value.expose_secret()) {
                return Err((
                    *kind,
                    CredentialError::KeychainRefused {
                        detail: format!(
                            "{} was written but did not read back the same",
                            kind.account()
                        ),
                    },
                ));
            }
        }
        Ok(())
    }

    /// Remembers the first `n` writes (and what they replaced) for [`Self::undo`].
    fn remember(&mut self, writes: &[(SecretKind, &SecretString, Option<SecretString>)], n: usize) {
        self.written.extend(
            writes
                .iter()
                .take(n)
                .map(|(kind, _, previous)| (*kind, previous.clone())),
        );
    }

    /// Puts back what every write replaced, the last write first.
    pub(crate) fn undo(self) -> Undone {
        let mut undone = Undone {
            restored: Vec::new(),
            failed: Vec::new(),
        };
        if let Some(before) = &self.previous_token_entry {
            let account = crate::webhook_keys::TWILIO_PREVIOUS_TOKEN_ACCOUNT;
            let result = match before {
                Some(value) => self.store.set(account, value),
                None => self.store.delete(account).map(|_| ()),
            };
            if let Err(e) = result {
                tracing::warn!(%account, error = %e, "could not put back the previous Twilio auth token entry");
            }
        }
        for (kind, previous) in self.written.into_iter().rev() {
            let result = match &previous {
                Some(value) => self.store.set_secret(kind, value),
                None => self.store.delete_secret(kind).map(|_| ()),
            };
            match result {
                Ok(()) => undone.restored.insert(0, kind),
                Err(e) => {
                    tracing::error!(account = kind.account(), error = %e, "could not restore the previous keychain value");
                    undone.failed.insert(0, (kind, e.to_string()));
                }
            }
        }
        undone
    }
}

/// `error` with a sentence saying what state things are in after it, keeping its code.
pub(crate) fn with_state(error: CredentialError, state: &str) -> CredentialError {
    use CredentialError as E;
    let add = |text: String| format!("{text}; {state}");
    match error {
        E::KeychainUnavailable { detail } => E::KeychainUnavailable {
            detail: add(detail),
        },
        E::KeychainLocked { detail } => E::KeychainLocked {
            detail: add(detail),
        },
        E::KeychainRefused { detail } => E::KeychainRefused {
            detail: add(detail),
        },
        E::StoreUnavailable {
            store,
            detail,
            hint,
        } => E::StoreUnavailable {
            store,
            detail: add(detail),
            hint,
        },
        E::StoreRefused {
            store,
            detail,
            hint,
        } => E::StoreRefused {
            store,
            detail: add(detail),
            hint,
        },
        E::NotFound { what } => E::NotFound { what: add(what) },
        E::Validation(text) => E::Validation(format!("{text} {}", sentence(state))),
        E::Conflict(text) => E::Conflict(format!("{text} {}", sentence(state))),
        E::ProviderRejected { provider, message } => E::ProviderRejected {
            provider,
            message: add(message),
        },
        E::ProviderUnreachable { provider, message } => E::ProviderUnreachable {
            provider,
            message: add(message),
        },
        E::Io {
            action,
            path,
            source,
        } => E::Io {
            action,
            path,
            source: std::io::Error::new(source.kind(), format!("{source}; {state}")),
        },
        // No free text to add to: the state goes to the log.
        other => {
            tracing::warn!(%state, "{other}");
            other
        }
    }
}

/// `state` as a sentence of its own: capitalised, with a full stop.
fn sentence(state: &str) -> String {
    let mut chars = state.chars();
    let mut out: String = chars
        .next()
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_default();
    out.push_str(chars.as_str());
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}
