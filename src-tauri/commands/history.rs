//! The send history: every finished send with its attempts and its origin (this app or a
//! `msgops serve` sharing its history database), the providers' delivery reports about them,
//! its totals, and each provider's state spans (its breaker's timeline). While the window is on a remote service, its history
//! (`GET /api/v1/sends`; recipients masked unless the token has the `codes` scope).

use msgops_core::ProviderKind;
use msgops_history::{HistoryFilter, ProviderTimelines};
use tauri::State;

use crate::error::{IpcError, IpcErrorCode};
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
    let page = state.history.query(&filter).await.map_err(unreadable)?;
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
    let summary = state
        .history
        .summary(days, chrono::Utc::now())
        .await
        .map_err(unreadable)?;
    serde_json::to_value(summary).map_err(|e| IpcError::internal(e.to_string()))
}

/// Each provider's state spans (CLOSED, OPEN, HALF_OPEN, DISABLED) over the last `hours` hours
/// (default 24, at most 90 days), per msgops instance, with availability and the sends that
/// failed over during each span: this computer's history only.
#[tauri::command]
pub async fn provider_timeline(
    state: State<'_, AppState>,
    provider: Option<ProviderKind>,
    hours: Option<u32>,
) -> Result<ProviderTimelines, IpcError> {
    if state.connections.active().is_some() {
        return Err(IpcError::new(
            IpcErrorCode::RemoteUnsupported,
            "the providers' timeline is only kept for this computer's history",
        ));
    }
    let hours = hours.unwrap_or(24).clamp(1, 24 * 90);
    let until = chrono::Utc::now();
    let since = until - chrono::Duration::hours(i64::from(hours));
    state
        .history
        .provider_timeline(provider, since, until)
        .await
        .map_err(unreadable)
}

fn unreadable(e: msgops_history::HistoryError) -> IpcError {
    IpcError::new(IpcErrorCode::Io, e.to_string())
}
