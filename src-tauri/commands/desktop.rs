//! The Settings page's Desktop section: closing to the tray, the global shortcut (both in
//! `[desktop]` of the configuration file) and starting at login (the system's login entry,
//! through tauri-plugin-autostart).

use tauri::{AppHandle, State};
use tauri_plugin_autostart::ManagerExt;

use crate::desktop::{DesktopDraft, DesktopSettings};
use crate::error::IpcError;
use crate::state::AppState;

#[tauri::command]
pub fn desktop_settings(app: AppHandle, state: State<'_, AppState>) -> DesktopSettings {
    let desktop = state.config.current().desktop;
    let (start_at_login, start_at_login_problem) = match app.autolaunch().is_enabled() {
        Ok(on) => (on, None),
        Err(e) => (false, Some(e.to_string())),
    };
    DesktopSettings {
        close_to_tray: desktop.close_to_tray,
        global_shortcut: desktop.global_shortcut,
        start_at_login,
        start_at_login_problem,
    }
}

/// What is wrong with a global shortcut as typed; none when it can be saved.
#[tauri::command]
pub fn check_global_shortcut(shortcut: String) -> Option<String> {
    crate::desktop::check_shortcut(Some(&shortcut)).err()
}

/// Registers the shortcut (refused, and nothing saved, when it cannot be), then writes
/// `[desktop]` into the configuration file.
#[tauri::command]
pub fn save_desktop_settings(
    app: AppHandle,
    state: State<'_, AppState>,
    draft: DesktopDraft,
) -> Result<DesktopSettings, IpcError> {
    let shortcut = draft
        .global_shortcut
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    crate::desktop::apply_shortcut(&app, shortcut.as_deref()).map_err(IpcError::validation)?;
    let mut config = state.config.current();
    config.desktop.close_to_tray = draft.close_to_tray;
    config.desktop.global_shortcut = shortcut;
    if let Err(e) = state.config.save(config) {
        let before = state.config.current().desktop.global_shortcut;
        let _ = crate::desktop::apply_shortcut(&app, before.as_deref());
        return Err(e.into());
    }
    Ok(desktop_settings(app, state))
}

/// Creates or removes the login entry; answers with the settings as they now are.
#[tauri::command]
pub fn set_start_at_login(
    app: AppHandle,
    state: State<'_, AppState>,
    enabled: bool,
) -> Result<DesktopSettings, IpcError> {
    let autolaunch = app.autolaunch();
    let done = if enabled {
        autolaunch.enable()
    } else {
        autolaunch.disable()
    };
    done.map_err(|e| {
        IpcError::new(
            crate::error::IpcErrorCode::Io,
            format!("the login entry could not be changed: {e}"),
        )
    })?;
    Ok(desktop_settings(app, state))
}

/// The tray menu's latest-code line, for the end-to-end tests (a status area cannot be read
/// under Xvfb). Debug builds only.
#[tauri::command]
pub fn debug_tray_latest(app: AppHandle) -> Result<Option<(String, bool)>, IpcError> {
    if cfg!(debug_assertions) {
        Ok(crate::tray::latest_entry(&app))
    } else {
        Err(IpcError::not_found("not in a release build"))
    }
}
