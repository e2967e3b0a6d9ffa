//! msgops credentials: provider secrets (AWS, Twilio, SendGrid, SMTP) in the OS keychain, or
//! in another [`CredentialStore`]: systemd's credentials ([`SystemdCredsStore`], read-only) or
//! AWS Secrets Manager (in `msgops-providers`, which has the AWS SDK).
//!
//! Import them from the backend's `.env`, rotate them only after the provider accepted the new
//! ones, remove them, and keep an audit trail of all of it. Knows nothing of Tauri.
//!
//! What this crate must never do: put a secret into a log line, an error, an audit record, a
//! serialized value or a file other than the keychain; or fall back silently to plaintext when
//! the keychain cannot be used. Secrets travel as [`secrecy::SecretString`] and leave only
//! masked ([`mask`]); text from outside is scrubbed of them ([`scrub`]). Keychain calls block:
//! async callers run them through [`off_the_runtime`].

pub mod audit;
pub mod blocking;
pub mod dotenv;
pub mod error;
pub mod health;
pub mod import;
pub mod mask;
pub mod provider;
pub mod remove;
pub mod rotate;
pub mod status;
pub mod store;
pub mod systemd_creds;
pub mod validate_http;
mod webhook_keys;

pub use audit::{AuditAction, AuditLog, AuditOutcome, CredentialAuditEntry};
pub use blocking::{blocking_section, off_the_runtime, DEFAULT_KEYCHAIN_TASK_TIMEOUT};
pub use error::{CredentialError, CredentialErrorCode, Result};
pub use health::{
    check_keychain, check_keychain_off_the_runtime, check_os_keychain, KeychainHealth,
};
pub use import::{apply_import, preview_import, ImportOptions, ImportPlan, ImportReport};
pub use import::{apply_import_with_settings, ImportedSettings, SettingsError, SettingsTarget};
pub use mask::{mask, scrub};
pub use provider::{CredentialProvider, SecretKind, SettingKind, KEYCHAIN_SERVICE};
pub use remove::remove_provider;
pub use rotate::{rotate, CredentialSet, CredentialValidator, RotationReport, ValidationFailure};
pub use status::{credential_statuses, CredentialState, CredentialStatus, SecretFieldStatus};
pub use store::{CredentialStore, CredentialStoreExt, KeychainStore, MemoryStore};
pub use systemd_creds::SystemdCredsStore;
pub use validate_http::HttpValidator;
pub use webhook_keys::{
    sendgrid_webhook_key, set_sendgrid_webhook_key, twilio_auth_tokens,
    SENDGRID_WEBHOOK_KEY_ACCOUNT, TWILIO_PREVIOUS_TOKEN_ACCOUNT,
};

pub use secrecy::{ExposeSecret, SecretString};
