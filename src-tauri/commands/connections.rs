//! Connections to a `msgops serve` elsewhere: the saved ones, the first look at a service's
//! certificate, adding (checked against the service first), removing, and switching the window
//! between them and this computer. Tokens go from the window to the credential store and never
//! come back.

use msgops_credentials::SecretString;
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, State};
use ts_rs::TS;

use crate::connections::{self, StoredConnection};
use crate::error::IpcError;
use crate::state::AppState;

/// A saved connection, as the window sees it: never its token.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ConnectionInfo {
    pub name: String,
    pub url: String,
    /// pinned SHA-256 fingerprint; None: system roots (or plain http on loopback)
    pub fingerprint: Option<String>,
    /// Whether its token is in the credential store (false once it was found missing).
    pub has_token: bool,
}

/// How the connection in use is doing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(tag = "state", rename_all = "snake_case")]
#[ts(export)]
pub enum RemoteStatus {
    /// The window shows this computer.
    Local,
    /// Switched to a remote service; its event stream is not open yet.
    Connecting,
    /// Following the service's events since this instant (RFC 3339).
    Connected { since: String },
    /// Lost the event stream; trying again after `retry_in_ms`.
    Disconnected { reason: String, retry_in_ms: u32 },
}

#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct ConnectionsView {
    /// Grows with every view: of two views, the one with the higher revision is the newer.
    #[ts(type = "number")]
    pub revision: u64,
    /// None: this computer
    pub active: Option<String>,
    pub connections: Vec<ConnectionInfo>,
    pub status: RemoteStatus,
}

/// A connection to add. `token` is the service's API token (`msgops token create`): kept in the
/// credential store, never written to a file, never returned.
#[derive(Clone, Deserialize, TS)]
#[ts(export)]
pub struct AddConnection {
    pub name: String,
    pub url: String,
    pub fingerprint: Option<String>,
    pub token: String,
}

impl std::fmt::Debug for AddConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AddConnection")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("fingerprint", &self.fingerprint)
            .field("token", &"[redacted]")
            .finish()
    }
}

#[tauri::command]
pub fn connections(state: State<'_, AppState>) -> ConnectionsView {
    state.connections.view()
}

/// The SHA-256 fingerprint of the certificate the service at `url` presents, read without
/// trusting it and without sending anything of ours; `None` for plain http on loopback.
#[tauri::command]
pub async fn connection_fingerprint(url: String) -> Result<Option<String>, IpcError> {
    let url = connections::check_url(&url)?;
    let seen = connections::timed(msgops_remote::first_look(&url)).await?;
    Ok(seen.map(|fp| fp.to_string()))
}

/// Checks the address, the fingerprint and the token against the service (it must answer its
/// health with this pin and this token), then saves the connection: its name, address and pin
/// in `connections.json`, its token in the credential store. Does not switch to it.
#[tauri::command]
pub async fn add_connection(
    state: State<'_, AppState>,
    request: AddConnection,
) -> Result<ConnectionsView, IpcError> {
    let name = connections::check_name(&request.name).map_err(IpcError::validation)?;
    let url = connections::check_url(&request.url)?;
    let fingerprint = connections::check_fingerprint(&url, request.fingerprint.as_deref())?;
    let token = request.token.trim();
    if token.is_empty() {
        return Err(IpcError::validation(
            "the service's API token is missing (`msgops token create` on the service's host prints one)",
        ));
    }
    let token = SecretString::from(token.to_owned());
    let store = connections::writable_store(&state)?;
    state.connections.check_new_name(&name)?;
    let record = StoredConnection {
        name,
        url,
        fingerprint: fingerprint.map(|fp| fp.to_string()),
    };
    // Before anything is saved: the service answers, with this pin and this token.
    let service = connections::service_for(&record, token.clone())?;
    connections::timed(service.health()).await?;
    connections::save_new(&state, store, record, token).await?;
    Ok(state.connections.view())
}

/// Forgets a connection and deletes its token; the window goes back to this computer if it was
/// on it.
#[tauri::command]
pub async fn remove_connection(
    app: AppHandle,
    state: State<'_, AppState>,
    name: String,
) -> Result<ConnectionsView, IpcError> {
    connections::remove(&app, &state, &name).await?;
    Ok(state.connections.view())
}

/// Puts the window on a saved connection, or on this computer (`None`).
#[tauri::command]
pub async fn use_connection(
    app: AppHandle,
    state: State<'_, AppState>,
    name: Option<String>,
) -> Result<ConnectionsView, IpcError> {
    connections::switch(&app, &state, name.as_deref()).await?;
    Ok(state.connections.view())
}
