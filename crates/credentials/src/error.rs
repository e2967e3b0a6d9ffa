//! Typed errors for everything credential-related. Each error has a stable [`CredentialErrorCode`]
//! that the UI branches on and a message that says plainly what to do.
//!
//! Never put a secret value into an error: messages are shown, logged and written to the audit
//! trail. Errors from the keychain libraries are reduced to their `Display` text (their `Debug`
//! output can carry raw secret bytes) before they reach this type.

use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Stable machine-readable error codes, shared with the UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[ts(export)]
pub enum CredentialErrorCode {
    /// No OS keychain could be reached (no Secret Service running, no D-Bus session).
    KeychainUnavailable,
    /// The keychain is there but locked, and unlocking was not possible or timed out.
    KeychainLocked,
    /// The keychain refused the operation (permission denied, prompt dismissed, ...).
    KeychainRefused,
    /// The keychain holds several entries for one secret and cannot choose between them.
    KeychainAmbiguous,
    /// A stored credential that the operation needs is not there.
    NotFound,
    /// Input from the user was not acceptable (empty value, unknown field, ...).
    Validation,
    /// The provider answered and rejected the credentials (e.g. Twilio 20003 "Authenticate").
    ProviderRejected,
    /// The provider could not be reached to validate the credentials.
    ProviderUnreachable,
    /// Reading or writing a file failed.
    Io,
    /// A file changed between preview and apply.
    Conflict,
}

impl CredentialErrorCode {
    /// The code as the string the UI sees.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::KeychainUnavailable => "KeychainUnavailable",
            Self::KeychainLocked => "KeychainLocked",
            Self::KeychainRefused => "KeychainRefused",
            Self::KeychainAmbiguous => "KeychainAmbiguous",
            Self::NotFound => "NotFound",
            Self::Validation => "Validation",
            Self::ProviderRejected => "ProviderRejected",
            Self::ProviderUnreachable => "ProviderUnreachable",
            Self::Io => "Io",
            Self::Conflict => "Conflict",
        }
    }
}

/// An error from the credentials crate. Serializes as `{code, message}` for IPC.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("No OS keychain is reachable ({detail}). Start a Secret Service provider (e.g. gnome-keyring or KeePassXC with Secret Service enabled) in your desktop session and try again; msgops will not store secrets in a plain file instead.")]
    KeychainUnavailable { detail: String },
    #[error("The OS keychain is locked ({detail}). Unlock your login keyring (log in to the desktop session, or unlock it in your keyring manager) and try again.")]
    KeychainLocked { detail: String },
    #[error("The OS keychain refused the operation ({detail}). Allow msgops access when your keyring asks, or check your keyring manager's permissions.")]
    KeychainRefused { detail: String },
    #[error("The OS keychain holds {count} entries for {account}; msgops cannot tell which is current. Delete the duplicates for service {service} in your keyring manager, then store the value again.")]
    KeychainAmbiguous {
        service: String,
        account: String,
        count: usize,
    },
    #[error("{what} is not stored in the OS keychain. Import it from a .env file or enter it with rotate.")]
    NotFound { what: String },
    #[error("{0}")]
    Validation(String),
    #[error("{provider} rejected the new credentials: {message}. The previous credentials are unchanged.")]
    ProviderRejected { provider: String, message: String },
    #[error("Could not reach {provider} to check the new credentials: {message}. The previous credentials are unchanged; check the network and try again.")]
    ProviderUnreachable { provider: String, message: String },
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Conflict(String),
    #[error("The OS keychain did not answer within {} while {what}. If your keyring is asking to be unlocked, unlock it and try again; otherwise check that your Secret Service provider (e.g. gnome-keyring) is running. msgops stopped waiting, but what was asked may still take effect when the keychain answers: look at the current state before trying again.", seconds(.timeout))]
    KeychainTimeout {
        what: &'static str,
        timeout: std::time::Duration,
    },
    #[error("msgops stopped while {what}: the task {detail} before answering. This is a fault in msgops, not in your keyring; try again.")]
    KeychainTask { what: &'static str, detail: String },
    /// A credential store other than the OS keychain (AWS Secrets Manager, systemd
    /// credentials) cannot be used now: not reachable, not configured, no answer in time.
    #[error("{store} cannot be used right now ({detail}). {hint}")]
    StoreUnavailable {
        store: String,
        detail: String,
        hint: String,
    },
    /// Such a store answered and refused (credentials, permissions, encryption key).
    #[error("{store} refused the operation ({detail}). {hint}")]
    StoreRefused {
        store: String,
        detail: String,
        hint: String,
    },
    /// The store is read-only for msgops (systemd credentials): `hint` says where changes
    /// are made instead, and that nothing was changed.
    #[error("{store}: {hint}")]
    StoreReadOnly { store: String, hint: String },
}

/// `10 s`, `0.05 s`: a timeout as people read it.
fn seconds(d: &std::time::Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

impl CredentialError {
    /// The stable code for this error.
    pub fn code(&self) -> CredentialErrorCode {
        match self {
            Self::KeychainUnavailable { .. } => CredentialErrorCode::KeychainUnavailable,
            Self::KeychainLocked { .. } => CredentialErrorCode::KeychainLocked,
            Self::KeychainRefused { .. } => CredentialErrorCode::KeychainRefused,
            Self::KeychainAmbiguous { .. } => CredentialErrorCode::KeychainAmbiguous,
            Self::NotFound { .. } => CredentialErrorCode::NotFound,
            Self::Validation(_) => CredentialErrorCode::Validation,
            Self::ProviderRejected { .. } => CredentialErrorCode::ProviderRejected,
            Self::ProviderUnreachable { .. } => CredentialErrorCode::ProviderUnreachable,
            Self::Io { .. } => CredentialErrorCode::Io,
            Self::Conflict(_) => CredentialErrorCode::Conflict,
            // A keychain that does not answer is most often one waiting for an unlock prompt;
            // the code's contract already covers "unlocking ... timed out".
            Self::KeychainTimeout { .. } => CredentialErrorCode::KeychainLocked,
            Self::KeychainTask { .. } => CredentialErrorCode::KeychainUnavailable,
            // The other stores share the keychain's codes: the UI's advice branches on
            // "cannot be used" and "refused", and the message names the store.
            Self::StoreUnavailable { .. } => CredentialErrorCode::KeychainUnavailable,
            Self::StoreRefused { .. } | Self::StoreReadOnly { .. } => {
                CredentialErrorCode::KeychainRefused
            }
        }
    }

    pub(crate) fn io(action: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.display().to_string(),
            source,
        }
    }

    /// True for the errors that mean "the keychain itself is not usable right now".
    pub fn is_keychain_problem(&self) -> bool {
        matches!(
            self.code(),
            CredentialErrorCode::KeychainUnavailable
                | CredentialErrorCode::KeychainLocked
                | CredentialErrorCode::KeychainRefused
        )
    }
}

impl Serialize for CredentialError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("CredentialError", 2)?;
        s.serialize_field("code", &self.code())?;
        s.serialize_field("message", &self.to_string())?;
        s.end()
    }
}

/// Shorthand used throughout the crate.
pub type Result<T, E = CredentialError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_code_and_message() {
        let err = CredentialError::KeychainLocked {
            detail: "collection locked".into(),
        };
        let json = serde_json::to_value(&err).expect("serialize");
        assert_eq!(json["code"], "KeychainLocked");
        assert!(json["message"]
            .as_str()
            .expect("message")
            .contains("Unlock your login keyring"));
    }
}
