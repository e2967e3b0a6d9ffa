//! The send history: every finished send with its attempts and its origin (this app or a
//! `msgops serve` on this machine, which write to the same file), the providers' delivery
//! reports about them, and its totals.

use msgops_history::{HistoryFilter, HistoryPage, HistorySummary};
use tauri::State;

use crate::state::AppState;

#[tauri::command]
pub fn send_history(state: State<'_, AppState>, filter: HistoryFilter) -> HistoryPage {
    state.deliveries.fill(state.history.query(&filter))
}

#[tauri::command]
pub fn history_summary(state: State<'_, AppState>, days: u32) -> HistorySummary {
    state.history.summary(days, chrono::Utc::now())
}
