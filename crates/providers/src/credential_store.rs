//! The credential store the configuration chooses (`[credentials] store`): the OS keychain,
//! AWS Secrets Manager or systemd's credentials. Everything that reads or changes secrets (the
//! CLI's `msgops creds`, `msgops serve`, the app) opens it here, and works on it as a
//! `dyn CredentialStore` the same way whichever it is.
//!
//! Lives in this crate because the Secrets Manager store needs the AWS SDK and its
//! configuration ([`crate::aws`]); `msgops-credentials` stays free of both.

use std::sync::Arc;

use msgops_core::config::{Config, CredentialStoreKind};
use msgops_credentials::{CredentialError, CredentialStore, KeychainStore, SystemdCredsStore};

use crate::secrets_manager::{SecretsManagerSettings, SecretsManagerStore};

/// Opens the configured store. Makes no network request (Secrets Manager is first asked on the
/// first read); a store that cannot be used at all (no keychain, no `$CREDENTIALS_DIRECTORY`,
/// no AWS region) is an error that says what to do, never a fallback to another store.
pub fn open_store(config: &Config) -> Result<Arc<dyn CredentialStore>, CredentialError> {
    Ok(match config.credentials.store {
        CredentialStoreKind::Keychain => Arc::new(KeychainStore::open()?),
        CredentialStoreKind::AwsSecretsManager => Arc::new(SecretsManagerStore::open(
            SecretsManagerSettings::from_config(&config.credentials),
        )?),
        CredentialStoreKind::SystemdCreds => Arc::new(SystemdCredsStore::open()?),
    })
}

/// The configured store in words, for messages written before it could be opened.
pub fn store_label(kind: CredentialStoreKind) -> &'static str {
    match kind {
        CredentialStoreKind::Keychain => "the OS keychain",
        CredentialStoreKind::AwsSecretsManager => "AWS Secrets Manager",
        CredentialStoreKind::SystemdCreds => "systemd credentials",
    }
}
