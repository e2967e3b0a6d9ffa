//! Errors as they cross IPC: always `{code, message}`. The window branches on `code` and shows
//! `message`. Messages never carry a secret.

use msgops_credentials::{CredentialError, CredentialErrorCode};
use serde::Serialize;
use ts_rs::TS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub enum IpcErrorCode {
    Validation,
    NotFound,
    Config,
    Internal,
    KeychainUnavailable,
    KeychainLocked,
    KeychainRefused,
    KeychainAmbiguous,
    ProviderRejected,
    ProviderUnreachable,
    Io,
    Conflict,
    /// A remote `msgops serve` could not be reached (or did not answer in time).
    RemoteUnreachable,
    /// A remote service's certificate is not the pinned one, or not vouched for.
    RemoteUntrusted,
    /// A remote service refused the token (wrong, revoked, or without the scope needed).
    RemoteRefused,
    /// A remote service answered with an error.
    RemoteFailed,
    /// What was asked is done on this computer only, not over a remote connection (yet).
    RemoteUnsupported,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, thiserror::Error)]
#[error("{message}")]
#[ts(export)]
pub struct IpcError {
    pub code: IpcErrorCode,
    pub message: String,
}

impl IpcError {
    pub fn new(code: IpcErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(IpcErrorCode::Validation, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(IpcErrorCode::NotFound, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(IpcErrorCode::Internal, message)
    }
}

impl From<CredentialError> for IpcError {
    fn from(e: CredentialError) -> Self {
        let code = match e.code() {
            CredentialErrorCode::KeychainUnavailable => IpcErrorCode::KeychainUnavailable,
            CredentialErrorCode::KeychainLocked => IpcErrorCode::KeychainLocked,
            CredentialErrorCode::KeychainRefused => IpcErrorCode::KeychainRefused,
            CredentialErrorCode::KeychainAmbiguous => IpcErrorCode::KeychainAmbiguous,
            CredentialErrorCode::NotFound => IpcErrorCode::NotFound,
            CredentialErrorCode::Validation => IpcErrorCode::Validation,
            CredentialErrorCode::ProviderRejected => IpcErrorCode::ProviderRejected,
            CredentialErrorCode::ProviderUnreachable => IpcErrorCode::ProviderUnreachable,
            CredentialErrorCode::Io => IpcErrorCode::Io,
            CredentialErrorCode::Conflict => IpcErrorCode::Conflict,
        };
        Self::new(code, e.to_string())
    }
}

impl From<msgops_core::config::ConfigError> for IpcError {
    fn from(e: msgops_core::config::ConfigError) -> Self {
        Self::new(IpcErrorCode::Config, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crosses_ipc_as_code_and_message() {
        let json = serde_json::to_value(IpcError::validation("`+1416` is not an E.164 number"))
            .expect("json");
        assert_eq!(
            json,
            serde_json::json!({"code": "Validation", "message": "`+1416` is not an E.164 number"})
        );
    }

    #[test]
    fn keychain_errors_keep_their_code_and_advice() {
        let e: IpcError = CredentialError::KeychainLocked {
            detail: "collection is locked".into(),
        }
        .into();
        assert_eq!(e.code, IpcErrorCode::KeychainLocked);
        assert!(
            e.message.contains("Unlock your login keyring"),
            "{}",
            e.message
        );
    }
}
