//! The msgops desktop shell: wires the library crates to a window. It holds no domain logic —
//! commands are one call into the core, and chain events are forwarded as Tauri events.

mod code_notices;
mod commands;
mod connections;
mod desktop;
mod error;
mod logs;
pub mod multicall;
mod notify;
mod service;
mod state;
mod tray;

use tauri::{Emitter, Manager};

pub use error::{IpcError, IpcErrorCode};
pub use state::AppState;

/// Name of the Tauri event carrying every [`msgops_core::ChainEvent`].
pub const CHAIN_EVENT: &str = "msgops://chain";
/// Name of the Tauri event raised when new delivery reports arrived; it carries the delivery
/// rates over the last hour.
pub const DELIVERY_EVENT: &str = "msgops://delivery";
pub use connections::CONNECTION_EVENT;
pub use desktop::OPEN_CODES_EVENT;

pub fn run() {
    std::sync::LazyLock::force(&commands::chain::LAUNCHED);
    let data_dir = msgops_core::config::data_dir();
    let log_guard = msgops_core::telemetry::init_with_file(&data_dir.join("logs"));
    let state = AppState::load();

    let result = tauri::Builder::default()
        // First: a second launch focuses the running window instead of starting a second
        // chain with its own breakers.
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            desktop::show_window(app);
        }))
        // Not whether it was visible: closed to the tray at quit, it still opens next time.
        .plugin(
            tauri_plugin_window_state::Builder::default()
                .with_state_flags(
                    tauri_plugin_window_state::StateFlags::all()
                        - tauri_plugin_window_state::StateFlags::VISIBLE,
                )
                .build(),
        )
        .plugin(
            tauri_plugin_autostart::Builder::new()
                .arg(desktop::AUTOSTART_ARG)
                .build(),
        )
        .plugin(tauri_plugin_global_shortcut::Builder::new().build())
        .plugin(tauri_plugin_clipboard_manager::init())
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_notification::init())
        .manage(state)
        .invoke_handler(tauri::generate_handler![
            commands::chain::health_snapshot,
            commands::chain::send_test,
            commands::chain::app_status,
            commands::chain::dashboard_painted,
            commands::chain::set_provider_enabled,
            commands::chain::control_provider,
            commands::chain::operations_audit,
            commands::credentials::keychain_health,
            commands::credentials::credential_statuses,
            commands::credentials::preview_env_import,
            commands::credentials::apply_env_import,
            commands::credentials::rotate_credentials,
            commands::credentials::remove_credentials,
            commands::credentials::credential_audit,
            commands::logs::log_snapshot,
            commands::history::send_history,
            commands::history::history_summary,
            commands::history::provider_timeline,
            commands::settings::get_settings,
            commands::settings::check_settings,
            commands::settings::save_settings,
            commands::connections::connections,
            commands::connections::connection_fingerprint,
            commands::connections::add_connection,
            commands::connections::remove_connection,
            commands::connections::use_connection,
            commands::desktop::desktop_settings,
            commands::desktop::check_global_shortcut,
            commands::desktop::save_desktop_settings,
            commands::desktop::set_start_at_login,
            commands::desktop::debug_tray_latest,
        ])
        // Closing the window keeps msgops in the tray (`[desktop] close_to_tray`).
        .on_window_event(|window, event| {
            if let tauri::WindowEvent::CloseRequested { api, .. } = event {
                desktop::on_close_requested(window, api);
            }
        })
        .setup(|app| {
            let handle = app.handle().clone();
            let state = app.state::<AppState>();
            let mut events = state.messaging.subscribe();
            let messaging = state.messaging.clone();
            let history = state.history.clone();
            // A tray that cannot be shown (no status area) is not a reason to stop.
            if let Err(e) = tray::install(&handle) {
                tracing::warn!(error = %e, "no tray icon");
            }
            // Hidden when the login entry started it; the global shortcut.
            desktop::install(&handle);
            for problem in state.logs.start(handle.clone(), &state.config.current()) {
                tracing::warn!(%problem, "log watcher");
            }
            // The window starts on this computer; whether each saved connection still has its
            // token is read in the background.
            connections::check_tokens(handle.clone());
            // The HTTP service for monitoring, when enabled, on the same chains.
            {
                let config = state.config.current();
                let messaging = state.messaging.clone();
                let store = state.store.clone();
                let history = service::History {
                    sends: state.history.clone(),
                    switches: std::sync::Arc::new(service::AppSwitches(handle.clone())),
                };
                let logs = state.logs.clone();
                let shutdown = state.shutdown.clone();
                let stopped = state.service_stopped.clone();
                tauri::async_runtime::spawn(async move {
                    if let Some(service) =
                        service::start(&config, messaging, store, history, shutdown, stopped).await
                    {
                        logs.set_service(service);
                    }
                });
            }
            // Network providers join their chains as soon as their credentials are read.
            if let Some(store) = state.store.clone() {
                let messaging = state.messaging.clone();
                let config = state.config.current();
                let shutdown = state.shutdown.clone();
                let stamp = state.audit.path().to_path_buf();
                let config_handle = app.handle().clone();
                let sync_handle = app.handle().clone();
                tauri::async_runtime::spawn(async move {
                    let reports = msgops_providers::install_providers(&messaging, &config, store.as_ref()).await;
                    for report in reports {
                        tracing::info!(provider = %report.provider, installed = report.installed, missing = ?report.missing, error = ?report.error, "provider");
                    }
                    // Keys rotated by the CLI or another msgops process are in force here
                    // within a second, and a refused key is re-read before it counts.
                    let current: std::sync::Arc<dyn Fn() -> msgops_core::config::Config + Send + Sync> =
                        std::sync::Arc::new(move || config_handle.state::<AppState>().config.current());
                    let sync = msgops_providers::CredentialSync::start(messaging.clone(), store.clone(), current).await;
                    sync.clone().watch(stamp, shutdown.child_token());
                    let _ = sync_handle.state::<AppState>().credential_sync.set(sync);
                    // Cheap read-only probes on a jittered schedule; their results show beside
                    // each breaker and never count toward it.
                    msgops_providers::ProbeScheduler::new(messaging, std::time::Duration::from_secs(60))
                        .spawn(shutdown, |report| tracing::debug!(?report, "probe"));
                });
            }
            let recording = state.messaging.clone();
            tauri::async_runtime::spawn(async move {
                // Where each provider's timeline of this run starts.
                if let Err(e) = history.record_started(&recording.health(), chrono::Utc::now()).await {
                    tracing::error!(error = %e, "provider states not written to the history");
                }
                loop {
                    match events.recv().await {
                        Ok(event) => {
                            // Into the history before the window hears of it, so the counts it
                            // then asks for include this send (and the breaker's timeline its
                            // transition).
                            if let Err(e) = history.record_chain_event(&event, &recording).await {
                                tracing::error!(error = %e, "not written to the history");
                            }
                            // Not while the window shows a remote service: its events are its own.
                            if connections::showing_local(&handle) {
                                if let Err(e) = handle.emit(CHAIN_EVENT, &event) {
                                    tracing::warn!(error = %e, "cannot forward chain event to the window");
                                }
                            }
                            tray::refresh(&handle);
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                            tracing::error!(missed = n, "chain events lagged; sends missing from the history");
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                    }
                }
            });
            // Moves breakers whose cool-down ended to HALF_OPEN when it happens, so the window
            // sees the transition as an event rather than at the next send.
            // The tray follows too, and notices the latest code expiring.
            let tray_handle = app.handle().clone();
            tauri::async_runtime::spawn(async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
                loop {
                    tick.tick().await;
                    messaging.poll_breakers();
                    tray::refresh(&tray_handle);
                }
            });
            // Delivery reports, from the embedded service or any `msgops serve`: the window
            // hears of new ones, and a provider whose delivered share drops is announced.
            notify::watch_deliveries(app.handle().clone());
            // SIGTERM and Ctrl-C quit as the tray's Quit does: draining first.
            let signal_handle = app.handle().clone();
            tauri::async_runtime::spawn(async move {
                msgops_service::stop_signal().await;
                tracing::info!("signal received: quitting");
                signal_handle.exit(0);
            });
            Ok(())
        })
        .build(tauri::generate_context!());
    let app = match result {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %e, "msgops-console could not start");
            std::process::exit(1);
        }
    };
    let code = app.run_return(|handle, event| {
        if let tauri::RunEvent::ExitRequested { api, .. } = event {
            drain_before_exit(handle, &api);
        }
    });
    // The log file's last lines (the drain) are written before the process ends.
    drop(log_guard);
    std::process::exit(code);
}

/// Quitting (the tray's Quit, the window closed when it does not close to the tray, a signal)
/// first drains the embedded service as `msgops serve` does: no new sends, the sends under way
/// finish or are recorded as failed, then the process exits. The first request to exit starts the drain and is held
/// back; the exit that follows it goes through.
fn drain_before_exit(handle: &tauri::AppHandle, api: &tauri::ExitRequestApi) {
    let state = handle.state::<AppState>();
    if state.shutdown.is_cancelled() {
        return;
    }
    api.prevent_exit();
    tracing::info!("quitting: draining the service");
    state.shutdown.cancel();
    let stopped = state.service_stopped.clone();
    let handle = handle.clone();
    tauri::async_runtime::spawn(async move {
        // The service's own grace is the longest send deadline plus two seconds; past that
        // and a margin, quit anyway.
        let wait = std::time::Duration::from_millis(msgops_core::config::MAX_CHAIN_MS.min(120_000));
        if tokio::time::timeout(wait, stopped.cancelled())
            .await
            .is_err()
        {
            tracing::warn!("the service did not stop in time; quitting anyway");
        }
        handle.exit(0);
    });
}
