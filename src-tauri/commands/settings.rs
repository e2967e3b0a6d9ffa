//! The Settings page: read, check as the operator types, save and apply with no restart.

use msgops_settings::{SavedSettings, Settings, SettingsProblem};
use tauri::{AppHandle, State};

use crate::error::IpcError;
use crate::state::AppState;

#[tauri::command]
pub fn get_settings(state: State<'_, AppState>) -> Settings {
    Settings::of(&state.config.current())
}

#[tauri::command]
pub fn check_settings(settings: Settings) -> Vec<SettingsProblem> {
    msgops_settings::check(&settings)
}

/// Writes the draft into the configuration file, then applies it: breakers, rates and costs at
/// once; the log watcher restarts on the new files and patterns when those changed.
#[tauri::command]
pub fn save_settings(
    app: AppHandle,
    state: State<'_, AppState>,
    settings: Settings,
) -> Result<SavedSettings, IpcError> {
    let before = state.config.current();
    let mut config = before.clone();
    let warnings = settings.apply_to(&mut config).map_err(|problems| {
        let first = problems
            .first()
            .map_or_else(String::new, |p| format!(": {} {}", p.field, p.message));
        IpcError::validation(format!("{} setting(s) need fixing{first}", problems.len()))
    })?;
    state.config.save(config.clone())?;
    state.messaging.apply_config(&config);
    if config.logs != before.logs {
        for problem in state.logs.start(app, &config) {
            tracing::warn!(%problem, "log watcher");
        }
    }
    Ok(SavedSettings {
        settings: Settings::of(&config),
        warnings,
    })
}
