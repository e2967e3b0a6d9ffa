//! The keychain check: is there a persistent, unlocked store msgops can write to? Answers
//! plainly, with what to do when the answer is no. Never "fixes" a failing keychain by
//! switching to a file or to memory.

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use ts_rs::TS;

use crate::error::CredentialErrorCode;
use crate::store::{CredentialStore, KeychainStore};

/// The account of the throw-away entry the check writes, reads back and deletes.
pub const PROBE_ACCOUNT: &str = "msgops.keychain-probe";

/// The answer of [`check_keychain`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct KeychainHealth {
    /// True when secrets can be stored, read back and deleted in a persistent store.
    pub ok: bool,
    /// What the store is ("Secret Service (OS keyring)").
    pub store: String,
    /// Set when `ok` is false.
    pub code: Option<CredentialErrorCode>,
    /// One sentence for people: what works, or what is wrong and what to do.
    pub message: String,
}

/// Writes, reads back and deletes a probe entry in `store`.
pub fn check_keychain(store: &dyn CredentialStore) -> KeychainHealth {
    let describe = store.describe();
    if !store.is_persistent() {
        return KeychainHealth {
            ok: false,
            store: describe.clone(),
            code: Some(CredentialErrorCode::KeychainUnavailable),
            message: format!(
                "{describe} does not keep secrets across restarts; msgops needs the OS keychain."
            ),
        };
    }
    let probe = SecretString::from(format!(
        "probe-{}",
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    let result = store
        .set(PROBE_ACCOUNT, &probe)
        .and_then(|()| store.get(PROBE_ACCOUNT))
        .and_then(|read| {
            let same = read
                .as_ref()
                .is_some_and(|r| r.expose_secret() == probe.expose_secret());
            store.delete(PROBE_ACCOUNT)?;
            Ok(same)
        });
    match result {
        Ok(true) => KeychainHealth {
            ok: true,
            store: describe.clone(),
            code: None,
            message: format!("{describe} is unlocked and working."),
        },
        Ok(false) => KeychainHealth {
            ok: false,
            store: describe.clone(),
            code: Some(CredentialErrorCode::KeychainRefused),
            message: format!(
                "{describe} accepted a test entry but did not give it back; check your keyring manager."
            ),
        },
        Err(e) => KeychainHealth {
            ok: false,
            store: describe,
            code: Some(e.code()),
            message: e.to_string(),
        },
    }
}

/// Opens the OS keychain and checks it. The one-call version for the app and the CLI.
pub fn check_os_keychain() -> KeychainHealth {
    match KeychainStore::open() {
        Ok(store) => check_keychain(&store),
        Err(e) => KeychainHealth {
            ok: false,
            store: "OS keychain".into(),
            code: Some(e.code()),
            message: e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[test]
    fn memory_store_never_passes_the_keychain_check() {
        let health = check_keychain(&MemoryStore::new());
        assert!(!health.ok);
        assert_eq!(health.code, Some(CredentialErrorCode::KeychainUnavailable));
    }
}
