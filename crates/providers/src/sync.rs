//! Keys changed anywhere are in force everywhere: every msgops process on the machine (the app,
//! each `msgops serve`) keeps its providers on the credentials the keychain holds now.
//!
//! - **The change stamp** is the credentials audit trail (`credentials-audit.jsonl` in the data
//!   directory): every import, rotation and removal, from the app, the CLI or another process,
//!   appends to it. Each process looks at its size and modification time four times a second
//!   and, when it moved, re-reads the keychain.
//! - **Only what changed is reinstalled**: each credential set's fingerprint (SHA-256 of its
//!   values, kept in memory only) is compared with the one its providers were built from. A send
//!   under way keeps the provider it started with; the next one uses the new key. Nothing is
//!   sent twice or lost.
//! - **An authentication failure re-reads first** ([`CredentialRefresh`]): when the keychain
//!   holds other credentials than the refused ones, the provider is installed again before the
//!   failure is recorded, so the old key's refusal counts for nothing.
//! - **A keychain that cannot be read changes nothing**: the providers keep the credentials they
//!   have, and the failure is logged.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use msgops_core::config::Config;
use msgops_core::{CredentialRefresh, Messaging, ProviderKind};
use msgops_credentials::{CredentialProvider, CredentialStore, CredentialStoreExt, ExposeSecret};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// How often the change stamp is looked at.
pub const STAMP_POLL: Duration = Duration::from_millis(250);
/// An authentication failure re-reads a credential set at most this often.
const REFRESH_AT_MOST_EVERY: Duration = Duration::from_secs(1);
/// A keychain read that takes longer is given up (the providers stay as they are).
const KEYCHAIN_WAIT: Duration = msgops_credentials::DEFAULT_KEYCHAIN_TASK_TIMEOUT;

/// What a credential set looked like when its providers were built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fingerprint {
    /// None of its secrets is stored.
    Absent,
    /// SHA-256 over its secrets (which are present, which are not, and their values).
    Of([u8; 32]),
}

#[derive(Debug, Default)]
struct Seen {
    fingerprints: HashMap<CredentialProvider, Fingerprint>,
    last_read: HashMap<CredentialProvider, Instant>,
}

/// Keeps one process's providers on the keychain's credentials.
pub struct CredentialSync {
    messaging: Arc<Messaging>,
    store: Arc<dyn CredentialStore>,
    /// The configuration in force now (providers are built from it).
    config: Arc<dyn Fn() -> Config + Send + Sync>,
    /// Held across a whole sync: two syncs never interleave.
    seen: Mutex<Seen>,
}

impl std::fmt::Debug for CredentialSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialSync").finish_non_exhaustive()
    }
}

impl CredentialSync {
    /// Starts from the credentials in the keychain now, as the providers were just installed
    /// from them (`install_providers`), and asks the chains to call back on a refused key.
    pub async fn start(
        messaging: Arc<Messaging>,
        store: Arc<dyn CredentialStore>,
        config: Arc<dyn Fn() -> Config + Send + Sync>,
    ) -> Arc<Self> {
        let sync = Arc::new(Self {
            messaging,
            store,
            config,
            seen: Mutex::new(Seen::default()),
        });
        {
            let mut seen = sync.seen.lock().await;
            for provider in CredentialProvider::ALL {
                if let Ok(fp) = sync.fingerprint(provider).await {
                    seen.fingerprints.insert(provider, fp);
                    seen.last_read.insert(provider, Instant::now());
                }
            }
        }
        let refresh: Arc<dyn CredentialRefresh> = sync.clone();
        let weak: Weak<dyn CredentialRefresh> = Arc::downgrade(&refresh);
        sync.messaging.set_credential_refresh(weak);
        sync
    }

    /// Reads one credential set off the async workers, within [`KEYCHAIN_WAIT`].
    async fn fingerprint(&self, provider: CredentialProvider) -> Result<Fingerprint, String> {
        let store = self.store.clone();
        msgops_credentials::off_the_runtime(
            "reading the stored credentials",
            KEYCHAIN_WAIT,
            move || {
                let mut hash = Sha256::new();
                let mut any = false;
                for kind in provider.secrets() {
                    match store.get_secret(*kind)? {
                        Some(value) => {
                            any = true;
                            hash.update([1u8]);
                            hash.update((value.expose_secret().len() as u64).to_le_bytes());
                            hash.update(value.expose_secret().as_bytes());
                        }
                        None => hash.update([0u8]),
                    }
                }
                Ok(if any {
                    Fingerprint::Of(hash.finalize().into())
                } else {
                    Fingerprint::Absent
                })
            },
        )
        .await
        .map_err(|e| e.to_string())
    }

    /// Re-reads every credential set and reinstalls the providers of those that changed.
    /// Returns those.
    pub async fn sync(&self) -> Vec<CredentialProvider> {
        let mut seen = self.seen.lock().await;
        let mut changed = Vec::new();
        for provider in CredentialProvider::ALL {
            if self.sync_locked(&mut seen, provider).await {
                changed.push(provider);
            }
        }
        changed
    }

    /// Re-reads one credential set; reinstalls its providers when it changed.
    async fn sync_locked(&self, seen: &mut Seen, provider: CredentialProvider) -> bool {
        seen.last_read.insert(provider, Instant::now());
        let now = match self.fingerprint(provider).await {
            Ok(fp) => fp,
            Err(e) => {
                tracing::warn!(credentials = %provider, error = %e, "keychain unreadable: the providers keep the credentials they have");
                return false;
            }
        };
        if seen.fingerprints.get(&provider) == Some(&now) {
            return false;
        }
        let config = (self.config)();
        let reports =
            crate::reinstall(provider, &self.messaging, &config, self.store.as_ref()).await;
        if reports
            .iter()
            .any(|r| r.error.is_some() && r.keychain_unreadable)
        {
            // Read in between and failed: try again at the next change.
            return false;
        }
        tracing::info!(credentials = %provider, providers = ?reports.iter().map(|r| r.provider).collect::<Vec<_>>(), "credentials changed in the keychain: providers reinstalled");
        seen.fingerprints.insert(provider, now);
        true
    }

    /// Re-reads `provider`'s credential set now; reinstalls its providers when it changed.
    pub async fn sync_one(&self, provider: CredentialProvider) -> bool {
        let mut seen = self.seen.lock().await;
        self.sync_locked(&mut seen, provider).await
    }

    /// Reinstalls `provider`'s providers now, whether or not its secrets changed (after this
    /// process changed them, or the settings they are built with), and remembers what they were
    /// built from, so that the change stamp this process just moved does not reinstall them a
    /// second time.
    pub async fn reinstall(&self, provider: CredentialProvider) -> Vec<crate::InstallReport> {
        let mut seen = self.seen.lock().await;
        seen.last_read.insert(provider, Instant::now());
        let fingerprint = self.fingerprint(provider).await;
        let config = (self.config)();
        let reports =
            crate::reinstall(provider, &self.messaging, &config, self.store.as_ref()).await;
        match fingerprint {
            Ok(fp) if !reports.iter().any(|r| r.keychain_unreadable) => {
                seen.fingerprints.insert(provider, fp);
            }
            _ => {
                seen.fingerprints.remove(&provider);
            }
        }
        reports
    }

    /// Follows the change stamp (the credentials audit trail at `stamp`) until `cancel`, and
    /// syncs whenever it moves.
    pub fn watch(
        self: Arc<Self>,
        stamp: PathBuf,
        cancel: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let look = |path: &PathBuf| -> Option<(u64, SystemTime)> {
                let meta = std::fs::metadata(path).ok()?;
                Some((meta.len(), meta.modified().ok()?))
            };
            let mut last = look(&stamp);
            let mut tick = tokio::time::interval(STAMP_POLL);
            loop {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let now = look(&stamp);
                if now != last {
                    last = now;
                    let changed = self.sync().await;
                    if !changed.is_empty() {
                        tracing::info!(?changed, "credentials changed elsewhere are in force here");
                    }
                }
            }
        })
    }
}

#[async_trait]
impl CredentialRefresh for CredentialSync {
    async fn refresh(&self, provider: ProviderKind) -> bool {
        let Some(credentials) = CredentialProvider::of(provider) else {
            return false;
        };
        let mut seen = self.seen.lock().await;
        if seen
            .last_read
            .get(&credentials)
            .is_some_and(|at| at.elapsed() < REFRESH_AT_MOST_EVERY)
        {
            return false;
        }
        self.sync_locked(&mut seen, credentials).await
    }
}
