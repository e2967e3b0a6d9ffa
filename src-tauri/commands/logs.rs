//! The codes and diagnostics read from the backend logs so far (new ones arrive as events) — or,
//! while the window is on a remote service, the codes that service has seen.

use tauri::State;

use crate::error::IpcError;
use crate::logs::LogSnapshot;
use crate::state::AppState;

#[tauri::command]
pub async fn log_snapshot(state: State<'_, AppState>) -> Result<LogSnapshot, IpcError> {
    match state.connections.active() {
        Some(active) => Ok(crate::connections::log_snapshot(&active).await),
        None => Ok(state.logs.snapshot()),
    }
}
