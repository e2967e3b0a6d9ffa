//! A keychain that refuses writes on purpose, to show that imports and rotations put back
//! what they had written.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use msgops_credentials::{
    CredentialError, CredentialStore, CredentialStoreExt, ExposeSecret, MemoryStore, SecretKind,
    SecretString,
};

/// A keychain that refuses writes on purpose: the Nth `set` (1-based) fails, or every `set`
/// and `delete` from the Nth on (then nothing can be put back either).
#[derive(Debug, Default)]
pub struct FailingStore {
    pub inner: MemoryStore,
    sets: AtomicUsize,
    fail_set: AtomicUsize,
    fail_from: AtomicUsize,
}

impl FailingStore {
    pub fn fail_on_set(&self, n: usize) {
        self.fail_set.store(n, Ordering::SeqCst);
    }
    pub fn fail_from_set(&self, n: usize) {
        self.fail_from.store(n, Ordering::SeqCst);
    }
    pub fn heal(&self) {
        self.fail_set.store(0, Ordering::SeqCst);
        self.fail_from.store(0, Ordering::SeqCst);
        self.sets.store(0, Ordering::SeqCst);
    }
    fn broken(&self) -> bool {
        let from = self.fail_from.load(Ordering::SeqCst);
        from != 0 && self.sets.load(Ordering::SeqCst) >= from
    }
    fn refused() -> CredentialError {
        CredentialError::KeychainRefused {
            detail: "injected write failure (test store)".into(),
        }
    }
}

impl CredentialStore for FailingStore {
    fn get(&self, account: &str) -> msgops_credentials::Result<Option<SecretString>> {
        self.inner.get(account)
    }
    fn set(&self, account: &str, value: &SecretString) -> msgops_credentials::Result<()> {
        let n = self.sets.fetch_add(1, Ordering::SeqCst) + 1;
        if n == self.fail_set.load(Ordering::SeqCst) || self.broken() {
            return Err(Self::refused());
        }
        self.inner.set(account, value)
    }
    fn delete(&self, account: &str) -> msgops_credentials::Result<bool> {
        if self.broken() {
            return Err(Self::refused());
        }
        self.inner.delete(account)
    }
    fn describe(&self) -> String {
        "failing test store".into()
    }
    fn is_persistent(&self) -> bool {
        false
    }
}

/// Every secret the store holds, by kind.
pub fn keychain(store: &dyn CredentialStore) -> BTreeMap<SecretKind, String> {
    SecretKind::ALL
        .into_iter()
        .filter_map(|k| {
            store
                .get_secret(k)
                .expect("read keychain")
                .map(|v| (k, v.expose_secret().to_owned()))
        })
        .collect()
}
