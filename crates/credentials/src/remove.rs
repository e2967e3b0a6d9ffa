//! Removal of a provider's secrets from the keychain. The caller confirms first; this module
//! just deletes and audits.

use crate::audit::{AuditAction, AuditLog, AuditOutcome, CredentialAuditEntry};
use crate::error::Result;
use crate::provider::{CredentialProvider, SecretKind};
use crate::store::{CredentialStore, CredentialStoreExt};

/// Deletes every secret of `provider`; returns the ones that existed.
pub fn remove_provider(
    store: &dyn CredentialStore,
    audit: &AuditLog,
    provider: CredentialProvider,
) -> Result<Vec<SecretKind>> {
    if let Err(e) = store.check_writable() {
        audit.record_or_warn(&CredentialAuditEntry::now(
            Some(provider),
            AuditAction::Remove,
            AuditOutcome::Failure,
            format!("nothing removed: {e}"),
        ));
        return Err(e);
    }
    let mut removed = Vec::new();
    for &kind in provider.secrets() {
        match store.delete_secret(kind) {
            Ok(true) => removed.push(kind),
            Ok(false) => {}
            Err(e) => {
                audit.record_or_warn(&CredentialAuditEntry::now(
                    Some(provider),
                    AuditAction::Remove,
                    AuditOutcome::Failure,
                    format!("removing {} failed: {e}", kind.env_var()),
                ));
                return Err(e);
            }
        }
    }
    for account in crate::webhook_keys::accounts_of(provider) {
        if let Err(e) = store.delete(account) {
            tracing::warn!(%account, error = %e, "could not remove a webhook key with the provider's credentials");
        }
    }
    let names: Vec<&str> = removed.iter().map(|k| k.env_var()).collect();
    let message = if names.is_empty() {
        format!("nothing stored for {provider}")
    } else {
        format!("removed {}", names.join(", "))
    };
    tracing::info!(provider = provider.as_str(), %message, "removed credentials");
    audit.record_or_warn(&CredentialAuditEntry::now(
        Some(provider),
        AuditAction::Remove,
        AuditOutcome::Success,
        message,
    ));
    Ok(removed)
}
