//! How msgops lives beside the operator's other work all day: closing the window hides it
//! (msgops keeps following the logs and notifying from the tray, saying so once), the window
//! comes back from the tray, a second launch, a notification or the global shortcut, and msgops
//! may start at login. It holds no domain logic, and never quits by itself: quitting is the
//! tray's Quit (or a signal), which drains the embedded service first.

use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Emitter, Manager};
use tauri_plugin_global_shortcut::{GlobalShortcutExt, Modifiers, Shortcut, ShortcutState};
use ts_rs::TS;

use crate::state::AppState;

/// Name of the Tauri event that puts the window on the Codes page: on one code (a notification
/// clicked), or on its search (the global shortcut).
pub const OPEN_CODES_EVENT: &str = "msgops://open-codes";

/// The argument the login entry starts msgops with: it then starts in the tray, window hidden.
pub const AUTOSTART_ARG: &str = "--autostart";

/// What the Codes page is opened on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct OpenCodes {
    /// The code to show (its row marked), or none to focus the search.
    pub code: Option<String>,
    /// Its recipient, searched for.
    pub recipient: Option<String>,
}

/// The Settings page's Desktop section, as in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct DesktopSettings {
    pub close_to_tray: bool,
    pub global_shortcut: Option<String>,
    /// Whether the login entry exists (read from the system, not the configuration).
    pub start_at_login: bool,
    /// Why it could not be read, when it could not.
    pub start_at_login_problem: Option<String>,
}

/// A change to `[desktop]`, from the Settings page.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[ts(export)]
pub struct DesktopDraft {
    pub close_to_tray: bool,
    /// Empty or none: no shortcut.
    pub global_shortcut: Option<String>,
}

/// The shortcut a draft or the configuration names, checked: `Ok(None)` for none.
pub fn check_shortcut(text: Option<&str>) -> Result<Option<Shortcut>, String> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    use global_hotkey::hotkey::HotKeyParseError as E;
    let shortcut = Shortcut::from_str(text).map_err(|e| match e {
        E::UnsupportedKey(key) => format!(
            "`{key}` is not a key: use a letter, a digit, F1 to F24 or a named key such as Space, \
             e.g. CommandOrControl+Shift+K"
        ),
        E::EmptyToken(_) => format!("`{text}` has an empty part between two +"),
        E::InvalidFormat(_) => format!(
            "`{text}` is not modifiers then one key: write it like CommandOrControl+Shift+K"
        ),
    })?;
    let held = Modifiers::CONTROL | Modifiers::ALT | Modifiers::SUPER | Modifiers::META;
    if !shortcut.mods.intersects(held) {
        return Err(format!(
            "`{text}` needs Ctrl, Alt or Super (CommandOrControl) too: without one, the key would \
             be taken from every other application"
        ));
    }
    Ok(Some(shortcut))
}

/// Brings the window up, in front.
pub fn show_window(app: &AppHandle) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
}

/// Brings the window up on the Codes page.
pub fn open_codes(app: &AppHandle, open: OpenCodes) {
    show_window(app);
    if let Err(e) = app.emit(OPEN_CODES_EVENT, &open) {
        tracing::warn!(error = %e, "cannot put the window on the Codes page");
    }
}

/// Closing the window: hidden instead, when `[desktop] close_to_tray` says so and there is a
/// tray to come back from; the first time, the operator is told msgops still runs.
pub fn on_close_requested(window: &tauri::Window, api: &tauri::CloseRequestApi) {
    let app = window.app_handle();
    let Some(state) = app.try_state::<AppState>() else {
        return;
    };
    if window.label() != "main"
        || state.shutdown.is_cancelled()
        || !state.config.current().desktop.close_to_tray
        || !crate::tray::installed(app)
    {
        return;
    }
    api.prevent_close();
    if let Err(e) = window.hide() {
        tracing::warn!(error = %e, "cannot hide the window");
    }
    tracing::info!("window closed: still running in the tray");
    if first_time(&msgops_core::config::data_dir()) {
        crate::notify::plain(
            app,
            "msgops is still running",
            "msgops is still running in the tray; Quit from its menu.",
        );
    }
}

/// Remembers (in a file of the data directory) that the operator was told closing the window
/// keeps msgops running; true the first time only.
pub fn first_time(data_dir: &Path) -> bool {
    let marker = data_dir.join("told-close-to-tray");
    if marker.exists() {
        return false;
    }
    if let Err(e) = std::fs::create_dir_all(data_dir).and_then(|()| {
        std::fs::write(
            &marker,
            "msgops told the operator that closing the window keeps it running in the tray.\n",
        )
    }) {
        tracing::warn!(error = %e, "cannot remember that the tray note was shown");
    }
    true
}

/// At start-up: the window stays hidden when the login entry started msgops (and it closes to
/// the tray), and the configured global shortcut is registered.
pub fn install(app: &AppHandle) {
    app.manage(RegisteredShortcut::default());
    if let Some(window) = app.get_webview_window("main") {
        lighter_webview(&window);
    }
    let desktop = app.state::<AppState>().config.current().desktop;
    let from_login = std::env::args().any(|a| a == AUTOSTART_ARG);
    if from_login && desktop.close_to_tray && crate::tray::installed(app) {
        if let Some(window) = app.get_webview_window("main") {
            let _ = window.hide();
        }
    }
    if let Err(problem) = apply_shortcut(app, desktop.global_shortcut.as_deref()) {
        tracing::warn!(%problem, "global shortcut not registered");
    }
}

/// Registers the configured global shortcut (and only it), replacing the one registered before.
/// On failure (invalid, or taken by another application), the previous one stays.
pub fn apply_shortcut(app: &AppHandle, text: Option<&str>) -> Result<(), String> {
    let shortcut = check_shortcut(text)?;
    let shortcuts = app.global_shortcut();
    let Some(registered) = app.try_state::<RegisteredShortcut>() else {
        return Err("global shortcuts are not set up yet".into());
    };
    let mut held = registered
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let previous = *held;
    if previous == shortcut {
        return Ok(());
    }
    if let Some(new) = shortcut {
        shortcuts
            .on_shortcut(new, |app, _shortcut, event| {
                if event.state == ShortcutState::Pressed {
                    open_codes(app, OpenCodes::default());
                }
            })
            .map_err(|e| {
                format!(
                    "`{}` could not be registered (another application may hold it): {e}",
                    text.unwrap_or_default().trim()
                )
            })?;
    }
    if let Some(old) = previous {
        if let Err(e) = shortcuts.unregister(old) {
            tracing::warn!(error = %e, "cannot release the previous global shortcut");
        }
    }
    *held = shortcut;
    Ok(())
}

/// The global shortcut msgops holds now.
#[derive(Default)]
struct RegisteredShortcut(std::sync::Mutex<Option<Shortcut>>);

/// A console that is mostly still needs no GPU compositing: without it WebKitGTK's web process
/// holds 110–140 MiB less and paints the first page sooner (measured under Xvfb with
/// scripts/bench-desktop.sh), and one local page needs no page or memory cache.
#[cfg(target_os = "linux")]
fn lighter_webview(window: &tauri::WebviewWindow) {
    use webkit2gtk::{
        CacheModel, HardwareAccelerationPolicy, SettingsExt, WebContextExt, WebViewExt,
    };
    let tuned = window.with_webview(|webview| {
        let view = webview.inner();
        if let Some(settings) = WebViewExt::settings(&view) {
            settings.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
        }
        if let Some(context) = view.context() {
            context.set_cache_model(CacheModel::DocumentViewer);
        }
    });
    if let Err(e) = tuned {
        tracing::warn!(error = %e, "the web view keeps its default settings");
    }
}

#[cfg(not(target_os = "linux"))]
fn lighter_webview(_window: &tauri::WebviewWindow) {}

#[cfg(test)]
mod tests {
    use super::*;
    use tauri_plugin_global_shortcut::Code;

    #[test]
    fn a_shortcut_is_modifiers_then_one_key_with_ctrl_alt_or_super() {
        let k = check_shortcut(Some("CommandOrControl+Shift+K"))
            .expect("valid")
            .expect("a shortcut");
        assert_eq!(k.key, Code::KeyK);
        #[cfg(not(target_os = "macos"))]
        assert_eq!(k.mods, Modifiers::CONTROL | Modifiers::SHIFT);
        assert_eq!(
            check_shortcut(Some("Alt+F9")).map(|s| s.is_some()),
            Ok(true)
        );
        assert_eq!(check_shortcut(None), Ok(None));
        assert_eq!(check_shortcut(Some("  ")), Ok(None), "blank: none");
        let said = |t: &str| check_shortcut(Some(t)).expect_err(t);
        assert!(
            said("K").contains("needs Ctrl, Alt or Super"),
            "{}",
            said("K")
        );
        assert!(said("Shift+K").contains("needs Ctrl, Alt or Super"));
        assert!(said("Ctrl+Shift+Kay").contains("`Kay` is not a key"));
        assert!(said("Ctrl++K").contains("empty part"));
        assert!(said("Ctrl+K+Shift").contains("modifiers then one key"));
        assert!(said("Ctrl+Shift").contains("modifiers then one key"));
    }

    #[test]
    fn the_tray_note_is_said_once() {
        let dir = std::env::temp_dir().join(format!("msgops-tray-note-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert!(first_time(&dir));
        assert!(!first_time(&dir), "remembered");
        assert!(!first_time(&dir));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
