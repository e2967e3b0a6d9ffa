//! What the shell holds for the life of the process.

use std::sync::{Arc, Mutex};

use msgops_core::config::ConfigFile;
use msgops_core::Messaging;
use msgops_credentials::{AuditLog, CredentialStore, ImportPlan, KeychainHealth};

use crate::logs::LogFeed;

pub struct AppState {
    pub config: ConfigFile,
    /// Why the configuration file could not be used at start-up (running on defaults).
    pub config_error: Option<String>,
    pub messaging: Arc<Messaging>,
    /// The configured credential store (`[credentials] store`: the OS keychain unless the
    /// configuration says otherwise), when it could be opened. Never replaced by another store.
    pub store: Option<Arc<dyn CredentialStore>>,
    pub keychain: Mutex<KeychainHealth>,
    pub audit: AuditLog,
    /// The `.env` import previewed last, waiting for the admin's confirmation.
    pub pending_import: Mutex<Option<ImportPlan>>,
    /// The history database: every finished send (the app's and those of any `msgops serve`
    /// sharing it) for the History page, the providers' delivery reports beside them (written
    /// by the embedded service and by any `msgops serve`), and the breakers' timeline.
    pub history: Arc<msgops_history::HistoryStore>,
    /// Codes and diagnostics read from the backend logs.
    pub logs: Arc<LogFeed>,
    /// The saved remote connections and the one the window is on (none: this computer).
    pub connections: Arc<crate::connections::Connections>,
    /// On-call operations (breaker resets, trials, probes, providers switched on and off) of
    /// every msgops process on this machine.
    pub operations: msgops_audit::OperationsLog,
    /// Keeps the providers on the keychain's credentials (set once they are installed).
    pub credential_sync: std::sync::OnceLock<Arc<msgops_providers::CredentialSync>>,
    /// Stops background work (the HTTP service) when the app exits.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// Cancelled once the embedded service has drained and stopped (at once when it is not
    /// running): quitting waits for it.
    pub service_stopped: tokio_util::sync::CancellationToken,
}

impl AppState {
    /// Why the credential store cannot be used, as the keychain check last said.
    pub fn keychain_problem(&self) -> String {
        self.keychain
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .message
            .clone()
    }

    /// The chains' health with each provider's delivery rate over the last hour.
    pub async fn health(&self) -> msgops_core::health::HealthSnapshot {
        let mut snapshot = self.messaging.health();
        snapshot.delivery = Some(
            msgops_service::DeliverySink::rates(
                self.history.as_ref(),
                chrono::Utc::now(),
                msgops_service::delivery::RATE_WINDOW,
            )
            .await,
        );
        snapshot
    }

    /// Writes one on-call operation to the audit trail; a trail that cannot be written is
    /// logged, and the operation stands.
    pub fn record_operation(&self, entry: msgops_audit::OperationEntry) {
        if let Err(e) = self.operations.record(&entry) {
            tracing::error!(error = %e, "operations audit trail not written");
        }
    }

    pub fn load() -> Self {
        let (config, error) = ConfigFile::open(msgops_core::config::config_path());
        if let Some(e) = &error {
            tracing::error!(error = %e, "configuration file ignored; running on defaults");
        }
        let messaging = Arc::new(Messaging::from_config(&config.current()));
        let (store, keychain) = match msgops_providers::open_store(&config.current()) {
            Ok(store) => {
                let health = msgops_credentials::check_keychain(store.as_ref());
                (Some(store), health)
            }
            Err(e) => (
                None,
                KeychainHealth {
                    ok: false,
                    store: msgops_providers::store_label(config.current().credentials.store).into(),
                    code: Some(e.code()),
                    message: e.to_string(),
                },
            ),
        };
        if !keychain.ok {
            tracing::warn!(message = %keychain.message, "OS keychain not usable; credentials cannot be stored");
        }
        // The database every `msgops serve` on this machine (or, on PostgreSQL, every
        // instance) records its sends in.
        let history = tauri::async_runtime::block_on(open_history(&config.current().history));
        let audit = AuditLog::in_dir(&msgops_core::config::data_dir())
            .by(msgops_audit::Actor::local(msgops_audit::Via::App));
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
            connections: Arc::new(crate::connections::Connections::load(
                &msgops_core::config::data_dir(),
            )),
            operations: msgops_audit::OperationsLog::in_dir(&msgops_core::config::data_dir()),
            credential_sync: std::sync::OnceLock::new(),
            shutdown: tokio_util::sync::CancellationToken::new(),
            service_stopped: tokio_util::sync::CancellationToken::new(),
        }
    }
}

/// The history database `[history]` names (by default `history.sqlite3` in the data directory),
/// importing the JSON-lines files of earlier versions once. One that cannot be opened is
/// logged, and the app keeps its history in memory until it quits.
async fn open_history(config: &msgops_core::config::HistoryConfig) -> msgops_history::HistoryStore {
    use msgops_history::{HistoryLocation, HistoryStore, OriginKind, SendOrigin};
    let origin = SendOrigin::this_process(OriginKind::App);
    let opened = match HistoryLocation::from_config(config) {
        Ok(location) => HistoryStore::open(location, config.keep_days, origin.clone())
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(format!("history.url: {e}")),
    };
    match opened {
        Ok((history, problems)) => {
            for problem in problems {
                tracing::warn!(%problem, "send history");
            }
            history
        }
        Err(e) => {
            tracing::error!(error = %e, "send history not opened; kept in memory until the app quits");
            match HistoryStore::in_memory(origin).await {
                Ok(history) => history,
                Err(e) => panic!("an in-memory SQLite database cannot be opened: {e}"),
            }
        }
    }
}
