//! What the UI shows per provider: stored / partial / missing / invalid / disabled, with masked
//! values.

use secrecy::ExposeSecret;
use serde::Serialize;
use ts_rs::TS;

use crate::error::Result;
use crate::mask::mask;
use crate::provider::{CredentialProvider, SecretKind};
use crate::store::{CredentialStore, CredentialStoreExt};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum CredentialState {
    /// Every secret the provider needs is stored.
    Stored,
    /// Some are stored, some are missing.
    Partial,
    Missing,
    /// Stored, but the provider refused it at its last call or probe (see `problem`).
    Invalid,
    /// The provider is switched off in the app's configuration.
    Disabled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct SecretFieldStatus {
    pub kind: SecretKind,
    pub label: String,
    pub env_var: String,
    /// `None` when not stored.
    pub masked: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct CredentialStatus {
    pub provider: CredentialProvider,
    pub state: CredentialState,
    pub fields: Vec<SecretFieldStatus>,
    /// Why the credentials are `invalid`: what the provider said.
    pub problem: Option<String>,
}

/// The status of every provider. `disabled` lists providers switched off in the config.
pub fn credential_statuses(
    store: &dyn CredentialStore,
    disabled: &[CredentialProvider],
) -> Result<Vec<CredentialStatus>> {
    CredentialProvider::ALL
        .into_iter()
        .map(|provider| {
            let fields = provider
                .secrets()
                .iter()
                .map(|&kind| field(store, kind))
                .collect::<Result<Vec<_>>>()?;
            let stored = fields.iter().filter(|f| f.masked.is_some()).count();
            let state = if disabled.contains(&provider) {
                CredentialState::Disabled
            } else if stored == fields.len() {
                CredentialState::Stored
            } else if stored == 0 {
                CredentialState::Missing
            } else {
                CredentialState::Partial
            };
            Ok(CredentialStatus {
                provider,
                state,
                fields,
                problem: None,
            })
        })
        .collect()
}

fn field(store: &dyn CredentialStore, kind: SecretKind) -> Result<SecretFieldStatus> {
    Ok(SecretFieldStatus {
        kind,
        label: kind.label().to_owned(),
        env_var: kind.env_var().to_owned(),
        masked: store.get_secret(kind)?.map(|v| mask(v.expose_secret())),
    })
}
