//! Runs msgops' HTTP service (health JSON, Prometheus metrics, send API) inside the desktop app
//! when `[service] enabled = true`, on the app's own chains, so monitoring sees exactly what the
//! window shows. The API token comes from the keychain (`msgops serve --create-token`).

use std::sync::Arc;

use msgops_core::config::Config;
use msgops_core::Messaging;
use msgops_credentials::CredentialStore;
use msgops_service::controls::ProviderSwitches;
use msgops_service::{ApiAuth, AuthScope, ServiceSettings, ServiceState};
use tauri::Manager;
use tokio_util::sync::CancellationToken;

/// What the service shares with the window: the history database whose sends it lists and
/// whose delivery reports it records (the same database), and the configuration its provider
/// switch writes.
pub struct History {
    pub sends: Arc<msgops_history::HistoryStore>,
    pub switches: Arc<dyn ProviderSwitches>,
}

/// A provider switched on or off over the API is remembered in the app's configuration, as
/// its own switch does, so the window and the next start agree.
pub struct AppSwitches(pub tauri::AppHandle);

impl ProviderSwitches for AppSwitches {
    fn remember(&self, provider: msgops_core::ProviderKind, enabled: bool) -> Result<(), String> {
        let state = self.0.state::<crate::state::AppState>();
        let mut config = state.config.current();
        config.policy_mut(provider).enabled = Some(enabled);
        state.config.save(config).map_err(|e| e.to_string())
    }
}

/// Starts the service if the configuration asks for it; returns its state so codes read from
/// the logs can be fed to it. `stopped` is cancelled once the service has drained after
/// `shutdown` (or at once, when it does not run).
pub async fn start(
    config: &Config,
    messaging: Arc<Messaging>,
    store: Option<Arc<dyn CredentialStore>>,
    history: History,
    shutdown: CancellationToken,
    stopped: CancellationToken,
) -> Option<ServiceState> {
    let _stopped_unless_serving = stopped.clone().drop_guard();
    if !config.service.enabled {
        return None;
    }
    let secrets: Arc<dyn msgops_service::WebhookSecrets> = match &store {
        Some(store) => Arc::new(msgops_service::KeychainWebhookSecrets::new(
            store.clone(),
            std::time::Duration::from_secs(config.delivery.twilio_previous_token_grace_secs),
        )),
        None => Arc::new(msgops_service::NoWebhookSecrets),
    };
    let store_for_logs = store.clone();
    let token = match store {
        Some(store) => {
            tokio::task::spawn_blocking(move || msgops_service::load_token(store.as_ref()))
                .await
                .ok()
                .and_then(|r| {
                    r.map_err(|e| tracing::warn!(error = %e, "cannot read the API token"))
                        .ok()
                })
                .flatten()
        }
        None => None,
    };
    let History { sends, switches } = history;
    let settings = ServiceSettings {
        // The legacy token (admin), and the named ones `msgops token create` makes.
        auth: ApiAuth::new(token, AuthScope::SendsAndEvents).with_token_file(
            msgops_service::tokens::path_in(&msgops_core::config::data_dir()),
        ),
        operations: Some(msgops_audit::OperationsLog::in_dir(
            &msgops_core::config::data_dir(),
        )),
        sends: Some(sends.clone()),
        switches: Some(switches),
        ..ServiceSettings::default()
    }
    .with_deliveries(config, secrets, sends);
    let state = ServiceState::new(messaging, settings);
    // SNS SMS delivery status from CloudWatch Logs, when `[delivery] sns_sms_log_account` is set.
    if let Some(store) = &store_for_logs {
        let dir = msgops_core::config::data_dir();
        if let Some(reader) =
            msgops_providers::sms_delivery_logs::reader_from_config(config, store.as_ref(), &dir)
                .await
        {
            let feed = state.clone();
            reader.spawn(
                std::time::Duration::from_secs(config.delivery.sns_sms_log_poll_secs),
                shutdown.child_token(),
                move |events| {
                    let feed = feed.clone();
                    tauri::async_runtime::spawn(async move {
                        if let Err(e) = feed.ingest_deliveries(events).await {
                            tracing::error!(error = %e, "SNS SMS delivery reports not kept");
                        }
                    });
                },
            );
        }
    }
    let listener = match tokio::net::TcpListener::bind(&config.service.listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(listen = %config.service.listen, error = %e, "service not started");
            return None;
        }
    };
    let serving = state.clone();
    _stopped_unless_serving.disarm();
    tauri::async_runtime::spawn(async move {
        // Dropped when serving ends, however it ends.
        let _stopped = stopped.drop_guard();
        match msgops_service::serve(listener, serving, shutdown).await {
            Ok(()) => tracing::info!("service drained and stopped"),
            Err(e) => tracing::error!(error = %e, "service stopped"),
        }
    });
    tracing::info!(listen = %config.service.listen, "service started");
    Some(state)
}
