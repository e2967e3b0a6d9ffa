//! What the shell holds for the life of the process.

use std::sync::{Arc, Mutex};

use msgops_core::config::ConfigFile;
use msgops_core::Messaging;
use msgops_credentials::{AuditLog, CredentialStore, ImportPlan, KeychainHealth, KeychainStore};

use crate::logs::LogFeed;

pub struct AppState {
    pub config: ConfigFile,
    /// Why the configuration file could not be used at start-up (running on defaults).
    pub config_error: Option<String>,
    pub messaging: Arc<Messaging>,
    /// The OS keychain, when one could be opened. Never replaced by a file or memory store.
    pub store: Option<Arc<dyn CredentialStore>>,
    pub keychain: Mutex<KeychainHealth>,
    pub audit: AuditLog,
    /// The `.env` import previewed last, waiting for the admin's confirmation.
    pub pending_import: Mutex<Option<ImportPlan>>,
    /// Every finished send, for the History page.
    pub history: Arc<msgops_history::SendHistory>,
    /// Codes and diagnostics read from the backend logs.
    pub logs: Arc<LogFeed>,
    /// Stops background work (the HTTP service) when the app exits.
    pub shutdown: tokio_util::sync::CancellationToken,
}

impl AppState {
    pub fn load() -> Self {
        let (config, error) = ConfigFile::open(msgops_core::config::config_path());
        if let Some(e) = &error {
            tracing::error!(error = %e, "configuration file ignored; running on defaults");
        }
        let messaging = Arc::new(Messaging::from_config(&config.current()));
        let (store, keychain) = match KeychainStore::open() {
            Ok(store) => {
                let store: Arc<dyn CredentialStore> = Arc::new(store);
                let health = msgops_credentials::check_keychain(store.as_ref());
                (Some(store), health)
            }
            Err(e) => (
                None,
                KeychainHealth {
                    ok: false,
                    store: "OS keychain".into(),
                    code: Some(e.code()),
                    message: e.to_string(),
                },
            ),
        };
        if !keychain.ok {
            tracing::warn!(message = %keychain.message, "OS keychain not usable; credentials cannot be stored");
        }
        let (history, problems) = msgops_history::SendHistory::open(
            msgops_core::config::data_dir().join("sends.jsonl"),
            msgops_history::DEFAULT_CAP,
        );
        for problem in problems {
            tracing::warn!(%problem, "send history");
        }
        let audit = AuditLog::new(msgops_core::config::data_dir().join("credentials-audit.jsonl"));
        Self {
            config,
            config_error: error.map(|e| e.to_string()),
            messaging,
            store,
            keychain: Mutex::new(keychain),
            audit,
            pending_import: Mutex::new(None),
            history: Arc::new(history),
            logs: Arc::new(LogFeed::default()),
            shutdown: tokio_util::sync::CancellationToken::new(),
        }
    }
}
