//! Where secrets live: the [`CredentialStore`] trait, the OS keychain implementation
//! ([`KeychainStore`], Secret Service on Linux through keyring-core) and an in-memory one for
//! tests ([`MemoryStore`]).
//!
//! This module must never fall back from the keychain to a file or to memory on its own: if
//! the keychain cannot be used, the caller gets a typed error that says so. A missing entry is
//! `Ok(None)`, not an error.

use std::collections::BTreeMap;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::error::{CredentialError, CredentialErrorCode, Result};
use crate::provider::{SecretKind, KEYCHAIN_SERVICE};

/// A place that keeps secrets by account name (e.g. `twilio.auth_token`).
///
/// Implementations block (the Secret Service is a D-Bus round trip, and may show an unlock
/// prompt); call them through [`crate::off_the_runtime`] in async code.
pub trait CredentialStore: Send + Sync + std::fmt::Debug {
    /// The secret for `account`, or `Ok(None)` when there is none.
    fn get(&self, account: &str) -> Result<Option<SecretString>>;
    /// Creates or replaces the secret for `account`.
    fn set(&self, account: &str, value: &SecretString) -> Result<()>;
    /// Deletes the secret for `account`; `Ok(false)` when there was none.
    fn delete(&self, account: &str) -> Result<bool>;
    /// What this store is, for people ("Secret Service", "in-memory (tests only)").
    fn describe(&self) -> String;
    /// Whether secrets survive a restart. Only persistent stores pass the keychain check.
    fn is_persistent(&self) -> bool;

    /// Creates or replaces several secrets, as one change where the store can: AWS Secrets
    /// Manager writes a run of entries of one provider as one new version of its secret, so
    /// that a rotation is one version (`AWSPREVIOUS` is the set before it). The default writes
    /// them one by one, in order.
    ///
    /// `Err((i, error))`: `entries[..i]` were written, `entries[i..]` were not (a store that
    /// writes several entries as one change names the first entry of the change that failed).
    fn set_many(
        &self,
        entries: &[(&str, &SecretString)],
    ) -> std::result::Result<(), (usize, CredentialError)> {
        for (i, (account, value)) in entries.iter().enumerate() {
            self.set(account, value).map_err(|e| (i, e))?;
        }
        Ok(())
    }

    /// `Err` when this store does not take changes from msgops (systemd credentials): imports,
    /// rotations and removals ask first and stop before doing anything.
    fn check_writable(&self) -> Result<()> {
        Ok(())
    }

    /// How the keychain check ([`crate::check_keychain`]) checks this store. `None` (the
    /// default): by writing, reading back and deleting a probe entry. A store where a test
    /// entry is impossible (read-only) or costly (billed per secret, versioned) checks itself
    /// without writing and says in one sentence what it found.
    fn check_without_writing(&self) -> Option<Result<String>> {
        None
    }
}

/// A shared store is a store: `&Arc<dyn CredentialStore>` goes wherever a
/// `&dyn CredentialStore` does.
impl<S: CredentialStore + ?Sized> CredentialStore for Arc<S> {
    fn get(&self, account: &str) -> Result<Option<SecretString>> {
        (**self).get(account)
    }
    fn set(&self, account: &str, value: &SecretString) -> Result<()> {
        (**self).set(account, value)
    }
    fn delete(&self, account: &str) -> Result<bool> {
        (**self).delete(account)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
    fn is_persistent(&self) -> bool {
        (**self).is_persistent()
    }
    fn set_many(
        &self,
        entries: &[(&str, &SecretString)],
    ) -> std::result::Result<(), (usize, CredentialError)> {
        (**self).set_many(entries)
    }
    fn check_writable(&self) -> Result<()> {
        (**self).check_writable()
    }
    fn check_without_writing(&self) -> Option<Result<String>> {
        (**self).check_without_writing()
    }
}

/// Typed helpers over any store.
pub trait CredentialStoreExt {
    fn get_secret(&self, kind: SecretKind) -> Result<Option<SecretString>>;
    fn set_secret(&self, kind: SecretKind, value: &SecretString) -> Result<()>;
    fn delete_secret(&self, kind: SecretKind) -> Result<bool>;
}

impl<S: CredentialStore + ?Sized> CredentialStoreExt for S {
    fn get_secret(&self, kind: SecretKind) -> Result<Option<SecretString>> {
        self.get(kind.account())
    }
    fn set_secret(&self, kind: SecretKind, value: &SecretString) -> Result<()> {
        self.set(kind.account(), value)
    }
    fn delete_secret(&self, kind: SecretKind) -> Result<bool> {
        self.delete(kind.account())
    }
}

/// How long one keychain call may take before it is reported as locked. An unlock prompt that
/// nobody answers (headless session, no prompter) would otherwise block for a year.
pub const DEFAULT_KEYCHAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// The OS keychain: Secret Service on Linux/BSD, Keychain on macOS, Credential Manager on
/// Windows. Entries are `service = dev.msgops.console`, `user = <account>`.
pub struct KeychainStore {
    service: String,
    store: Arc<keyring_core::CredentialStore>,
    timeout: Duration,
}

impl std::fmt::Debug for KeychainStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeychainStore")
            .field("service", &self.service)
            .field("vendor", &self.store.vendor())
            .finish()
    }
}

impl KeychainStore {
    /// Connects to the OS keychain under the app's service name.
    pub fn open() -> Result<Self> {
        Self::open_with_service(KEYCHAIN_SERVICE)
    }

    /// Connects under another service name (tests use their own to stay apart).
    pub fn open_with_service(service: &str) -> Result<Self> {
        let store = native_store()?;
        Ok(Self {
            service: service.to_owned(),
            store,
            timeout: DEFAULT_KEYCHAIN_TIMEOUT,
        })
    }

    /// Changes how long one keychain call may block (e.g. waiting for an unlock prompt).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn service(&self) -> &str {
        &self.service
    }

    /// Runs one keychain call on its own thread so that a prompt nobody answers cannot hang
    /// the caller forever.
    fn call<T: Send + 'static>(
        &self,
        account: &str,
        op: impl FnOnce(keyring_core::Entry) -> keyring_core::Result<T> + Send + 'static,
    ) -> Result<T> {
        let entry = self
            .store
            .build(&self.service, account, None)
            .map_err(|e| map_keyring_error(e, &self.service, account))?;
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("msgops-keychain".into())
            .spawn(move || {
                let _ = tx.send(op(entry));
            })
            .map_err(|e| CredentialError::KeychainUnavailable {
                detail: format!("could not start a keychain thread: {e}"),
            })?;
        match rx.recv_timeout(self.timeout) {
            Ok(result) => result.map_err(|e| map_keyring_error(e, &self.service, account)),
            Err(_) => Err(CredentialError::KeychainLocked {
                detail: format!(
                    "no answer from the keychain within {} s, probably waiting for an unlock prompt",
                    self.timeout.as_secs()
                ),
            }),
        }
    }
}

impl CredentialStore for KeychainStore {
    fn get(&self, account: &str) -> Result<Option<SecretString>> {
        match self.call(account, |e| e.get_password()) {
            Ok(pw) => Ok(Some(SecretString::from(pw))),
            Err(CredentialError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn set(&self, account: &str, value: &SecretString) -> Result<()> {
        let value = SecretString::from(value.expose_secret());
        self.call(account, move |e| e.set_password(value.expose_secret()))
    }

    fn delete(&self, account: &str) -> Result<bool> {
        match self.call(account, |e| e.delete_credential()) {
            Ok(()) => Ok(true),
            Err(CredentialError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn describe(&self) -> String {
        #[cfg(target_os = "macos")]
        return "macOS Keychain".to_owned();
        #[cfg(target_os = "windows")]
        return "Windows Credential Manager".to_owned();
        #[cfg(not(any(target_os = "macos", target_os = "windows")))]
        return "Secret Service (OS keyring)".to_owned();
    }

    fn is_persistent(&self) -> bool {
        true
    }
}

#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
fn native_store() -> Result<Arc<keyring_core::CredentialStore>> {
    // The Secret Service store talks to D-Bus; with no session bus or no provider on it,
    // `new` fails right away, which is what we want to report.
    match dbus_secret_service_keyring_store::Store::new() {
        Ok(store) => Ok(store),
        Err(e) => Err(map_keyring_error(e, KEYCHAIN_SERVICE, "")),
    }
}

#[cfg(target_os = "macos")]
fn native_store() -> Result<Arc<keyring_core::CredentialStore>> {
    match apple_native_keyring_store::keychain::Store::new() {
        Ok(store) => Ok(store),
        Err(e) => Err(map_keyring_error(e, KEYCHAIN_SERVICE, "")),
    }
}

#[cfg(target_os = "windows")]
fn native_store() -> Result<Arc<keyring_core::CredentialStore>> {
    match windows_native_keyring_store::Store::new() {
        Ok(store) => Ok(store),
        Err(e) => Err(map_keyring_error(e, KEYCHAIN_SERVICE, "")),
    }
}

#[cfg(not(any(
    all(
        unix,
        not(any(target_os = "macos", target_os = "ios", target_os = "android"))
    ),
    target_os = "macos",
    target_os = "windows"
)))]
fn native_store() -> Result<Arc<keyring_core::CredentialStore>> {
    Err(CredentialError::KeychainUnavailable {
        detail: "this platform has no supported OS keychain".into(),
    })
}

/// Turns a keyring error into ours. Only `Display` text of the underlying error is kept (the
/// `Debug` of some variants carries the raw secret bytes).
pub(crate) fn map_keyring_error(
    err: keyring_core::Error,
    service: &str,
    account: &str,
) -> CredentialError {
    use keyring_core::Error as K;
    match err {
        K::NoEntry => CredentialError::NotFound {
            what: format!("{account} (service {service})"),
        },
        K::NoStorageAccess(inner) => {
            let detail = inner.to_string();
            let lower = detail.to_ascii_lowercase();
            if lower.contains("lock") || lower.contains("prompt") || lower.contains("no result") {
                CredentialError::KeychainLocked { detail }
            } else {
                CredentialError::KeychainRefused { detail }
            }
        }
        K::PlatformFailure(inner) => classify_platform_failure(inner.to_string()),
        K::Ambiguous(entries) => CredentialError::KeychainAmbiguous {
            service: service.to_owned(),
            account: account.to_owned(),
            count: entries.len(),
        },
        K::BadEncoding(_) | K::BadDataFormat(..) => CredentialError::Validation(format!(
            "The keychain entry {account} (service {service}) does not hold text; store it again with rotate."
        )),
        K::NoDefaultStore => CredentialError::KeychainUnavailable {
            detail: "no keychain store configured".into(),
        },
        other => CredentialError::KeychainRefused {
            detail: other.to_string(),
        },
    }
}

fn classify_platform_failure(detail: String) -> CredentialError {
    let lower = detail.to_ascii_lowercase();
    let unavailable = [
        "no dbus session",
        "secret service provider found",
        "serviceunknown",
        "service_unknown",
        "noserver",
        "no_server",
        "filenotfound",
        "spawn",
        "failed to connect",
        "connection refused",
        "no such file",
        "not provided by any .service files",
        "disconnected",
    ];
    if unavailable.iter().any(|needle| lower.contains(needle)) {
        CredentialError::KeychainUnavailable { detail }
    } else if lower.contains("islocked") || lower.contains("locked") {
        CredentialError::KeychainLocked { detail }
    } else {
        CredentialError::KeychainRefused { detail }
    }
}

/// Secrets in memory, for tests only: [`CredentialStore::is_persistent`] is false, so the
/// keychain check never passes with it and the app cannot mistake it for a keychain.
/// Failures can be injected to test how callers handle a locked or missing keychain.
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: Mutex<BTreeMap<String, SecretString>>,
    failure: Mutex<Option<CredentialErrorCode>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// From now on every call fails with an error of this code (`None`: work again).
    pub fn fail_with(&self, code: Option<CredentialErrorCode>) {
        if let Ok(mut f) = self.failure.lock() {
            *f = code;
        }
    }

    /// The accounts that hold a value, sorted.
    pub fn accounts(&self) -> Vec<String> {
        self.entries
            .lock()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn check(&self) -> Result<()> {
        let code = self.failure.lock().ok().and_then(|f| *f);
        let detail = "injected failure (memory store)".to_owned();
        match code {
            None => Ok(()),
            Some(CredentialErrorCode::KeychainLocked) => {
                Err(CredentialError::KeychainLocked { detail })
            }
            Some(CredentialErrorCode::KeychainRefused) => {
                Err(CredentialError::KeychainRefused { detail })
            }
            Some(_) => Err(CredentialError::KeychainUnavailable { detail }),
        }
    }

    fn map(&self) -> Result<std::sync::MutexGuard<'_, BTreeMap<String, SecretString>>> {
        self.entries
            .lock()
            .map_err(|_| CredentialError::KeychainUnavailable {
                detail: "memory store poisoned".into(),
            })
    }
}

impl CredentialStore for MemoryStore {
    fn get(&self, account: &str) -> Result<Option<SecretString>> {
        self.check()?;
        Ok(self
            .map()?
            .get(account)
            .map(|s| SecretString::from(s.expose_secret())))
    }

    fn set(&self, account: &str, value: &SecretString) -> Result<()> {
        self.check()?;
        self.map()?.insert(
            account.to_owned(),
            SecretString::from(value.expose_secret()),
        );
        Ok(())
    }

    fn delete(&self, account: &str) -> Result<bool> {
        self.check()?;
        Ok(self.map()?.remove(account).is_some())
    }

    fn describe(&self) -> String {
        "in-memory (tests only)".to_owned()
    }

    fn is_persistent(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_entry_is_none_not_an_error() {
        let store = MemoryStore::new();
        assert!(store
            .get_secret(SecretKind::TwilioAuthToken)
            .expect("get")
            .is_none());
        assert!(!store
            .delete_secret(SecretKind::TwilioAuthToken)
            .expect("delete"));
    }

    #[test]
    fn memory_store_round_trips_and_never_claims_persistence() {
        let store = MemoryStore::new();
        store
            .set_secret(
                SecretKind::SendgridApiKey,
                &SecretString::from("SG.test-value"),
            )
            .expect("set");
        let got = store
            .get_secret(SecretKind::SendgridApiKey)
            .expect("get")
            .expect("some");
        assert_eq!(got.expose_secret(), "SG.test-value");
        assert!(!store.is_persistent());
        assert!(store
            .delete_secret(SecretKind::SendgridApiKey)
            .expect("delete"));
    }

    #[test]
    fn injected_lock_failure_surfaces_as_keychain_locked() {
        let store = MemoryStore::new();
        store.fail_with(Some(CredentialErrorCode::KeychainLocked));
        let err = store.get("x").expect_err("locked");
        assert_eq!(err.code(), CredentialErrorCode::KeychainLocked);
    }

    #[test]
    fn dbus_connection_failures_are_classified_as_unavailable() {
        let err = classify_platform_failure(
            "DBus error: Failed to connect to socket /nonexistent: No such file or directory"
                .into(),
        );
        assert_eq!(err.code(), CredentialErrorCode::KeychainUnavailable);
        let err = classify_platform_failure(
            "DBus error: The name org.freedesktop.secrets was not provided by any .service files"
                .into(),
        );
        assert_eq!(err.code(), CredentialErrorCode::KeychainUnavailable);
    }

    #[test]
    fn keyring_bad_encoding_error_does_not_carry_the_bytes_into_our_message() {
        let err = map_keyring_error(
            keyring_core::Error::BadEncoding(b"secret-bytes\xff".to_vec()),
            KEYCHAIN_SERVICE,
            "twilio.auth_token",
        );
        assert!(!format!("{err} {err:?}").contains("secret-bytes"));
    }
}
