//! The codes and diagnostics read from the backend logs so far (new ones arrive as events).

use tauri::State;

use crate::logs::LogSnapshot;
use crate::state::AppState;

#[tauri::command]
pub fn log_snapshot(state: State<'_, AppState>) -> LogSnapshot {
    state.logs.snapshot()
}
