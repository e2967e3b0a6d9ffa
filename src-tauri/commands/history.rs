//! The send history: every finished send with its attempts and its origin (this app or a
//! `msgops serve` on this machine, which write to the same file), the providers' delivery
//! reports about them, and its totals. While the window is on a remote service, its history
//! (`GET /api/v1/sends`; recipients masked unless the token has the `codes` scope).

use msgops_history::HistoryFilter;
use tauri::State;

use crate::error::IpcError;
use crate::state::AppState;

/// One page of sends (a `HistoryPage`), this computer's or the remote service's.
#[tauri::command]
pub async fn send_history(
    state: State<'_, AppState>,
    filter: HistoryFilter,
) -> Result<serde_json::Value, IpcError> {
    if let Some(active) = state.connections.active() {
        return crate::connections::timed(active.service.sends(&filter)).await;
    }
    let page = state.deliveries.fill(state.history.query(&filter));
    serde_json::to_value(page).map_err(|e| IpcError::internal(e.to_string()))
}

/// The totals over `days` days (a `HistorySummary`), this computer's or the remote service's.
#[tauri::command]
pub async fn history_summary(
    state: State<'_, AppState>,
    days: u32,
) -> Result<serde_json::Value, IpcError> {
    if let Some(active) = state.connections.active() {
        return crate::connections::timed(active.service.sends_summary(days)).await;
    }
    let summary = state.history.summary(days, chrono::Utc::now());
    serde_json::to_value(summary).map_err(|e| IpcError::internal(e.to_string()))
}
