//! Runs msgops' HTTP service (health JSON, Prometheus metrics, send API) inside the desktop app
//! when `[service] enabled = true`, on the app's own chains, so monitoring sees exactly what the
//! window shows. The API token comes from the keychain (`msgops serve --create-token`).

use std::sync::Arc;

use msgops_core::config::Config;
use msgops_core::Messaging;
use msgops_credentials::CredentialStore;
use msgops_service::{ApiAuth, AuthScope, ServiceSettings, ServiceState};
use tokio_util::sync::CancellationToken;

/// Starts the service if the configuration asks for it; returns its state so codes read from
/// the logs can be fed to it.
pub async fn start(
    config: &Config,
    messaging: Arc<Messaging>,
    store: Option<Arc<dyn CredentialStore>>,
    shutdown: CancellationToken,
) -> Option<ServiceState> {
    if !config.service.enabled {
        return None;
    }
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
    let settings = ServiceSettings {
        auth: ApiAuth::new(token, AuthScope::SendsAndEvents),
        ..ServiceSettings::default()
    };
    let state = ServiceState::new(messaging, settings);
    let listener = match tokio::net::TcpListener::bind(&config.service.listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(listen = %config.service.listen, error = %e, "service not started");
            return None;
        }
    };
    let serving = state.clone();
    tauri::async_runtime::spawn(async move {
        if let Err(e) = msgops_service::serve(listener, serving, shutdown).await {
            tracing::error!(error = %e, "service stopped");
        }
    });
    tracing::info!(listen = %config.service.listen, "service started");
    Some(state)
}
