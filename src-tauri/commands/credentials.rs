//! Credentials: status with masked values, `.env` import (preview, then apply), validated
//! rotation, removal, the audit trail. Secrets travel only from the window to the keychain;
//! nothing here returns one.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use msgops_credentials::import::ImportPreview;
use msgops_credentials::{
    off_the_runtime, CredentialAuditEntry, CredentialProvider, CredentialSet, CredentialStatus,
    CredentialStore, ImportOptions, ImportReport, KeychainHealth, RotationReport, SecretKind,
};
use msgops_providers::{ProviderValidator, Timeouts};
use serde::Deserialize;
use tauri::{AppHandle, Manager, State};
use ts_rs::TS;

use crate::error::IpcError;
use crate::state::AppState;

fn store(state: &AppState) -> Result<Arc<dyn CredentialStore>, IpcError> {
    state.store.clone().ok_or_else(|| {
        IpcError::new(
            crate::error::IpcErrorCode::KeychainUnavailable,
            state.keychain_problem(),
        )
    })
}

/// Keychain calls block on D-Bus: they run off the async runtime's worker threads, and the
/// window gets an answer (a timeout error at worst) within this long.
const KEYCHAIN: std::time::Duration = msgops_credentials::DEFAULT_KEYCHAIN_TASK_TIMEOUT;

#[tauri::command]
pub async fn keychain_health(state: State<'_, AppState>) -> Result<KeychainHealth, IpcError> {
    let Some(store) = state.store.clone() else {
        return Ok(state
            .keychain
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone());
    };
    let health = msgops_credentials::check_keychain_off_the_runtime(store, KEYCHAIN).await;
    *state
        .keychain
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = health.clone();
    Ok(health)
}

#[tauri::command]
pub async fn credential_statuses(
    state: State<'_, AppState>,
) -> Result<Vec<CredentialStatus>, IpcError> {
    let store = store(&state)?;
    let config = state.config.current();
    // Credentials are disabled when every provider using them is switched off.
    let disabled: Vec<CredentialProvider> = CredentialProvider::ALL
        .into_iter()
        .filter(|c| c.used_by().iter().all(|id| !config.policy(*id).enabled()))
        .collect();
    let mut statuses = off_the_runtime("reading the stored credentials", KEYCHAIN, move || {
        msgops_credentials::credential_statuses(store.as_ref(), &disabled)
    })
    .await?;
    msgops_providers::mark_refused(&mut statuses, &state.messaging.health());
    Ok(statuses)
}

#[tauri::command]
pub async fn preview_env_import(
    state: State<'_, AppState>,
    path: String,
) -> Result<ImportPreview, IpcError> {
    let store = store(&state)?;
    let path = PathBuf::from(path.trim());
    let plan = off_the_runtime(
        "comparing the .env with the keychain",
        KEYCHAIN,
        move || msgops_credentials::preview_import(&path, Some(store.as_ref())),
    )
    .await?;
    let preview = plan.preview.clone();
    *state
        .pending_import
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(plan);
    Ok(preview)
}

#[derive(Debug, Clone, Deserialize, TS)]
#[ts(export)]
pub struct ApplyImportRequest {
    /// The file previewed; must match the pending preview.
    pub path: String,
    /// Rewrite the `.env` without the secrets (atomically; a comment marks each one).
    pub rewrite: bool,
    pub replace_existing: bool,
}

#[tauri::command]
pub async fn apply_env_import(
    app: AppHandle,
    state: State<'_, AppState>,
    request: ApplyImportRequest,
) -> Result<ImportReport, IpcError> {
    let store = store(&state)?;
    let plan = state
        .pending_import
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take()
        .filter(|plan| plan.path() == std::path::Path::new(request.path.trim()))
        .ok_or_else(|| IpcError::validation("Preview the file first, then apply the import."))?;
    let audit = state.audit.clone();
    let options = ImportOptions {
        rewrite: request.rewrite,
        replace_existing: request.replace_existing,
        ..ImportOptions::default()
    };
    let importing = store.clone();
    // The settings go to the configuration inside the import, one job with the keychain and
    // the rewrite: a setting the configuration refuses stops it before anything is written.
    let (plan, result) = off_the_runtime(
        "storing the .env's secrets in the keychain",
        KEYCHAIN,
        move || {
            let state = app.state::<AppState>();
            let mut settings = msgops_settings::env_import::ConfigFileSettings::new(&state.config);
            let result = msgops_credentials::apply_import_with_settings(
                importing.as_ref(),
                &audit,
                &plan,
                &options,
                &mut settings,
            );
            Ok((plan, result))
        },
    )
    .await?;
    let report = match result {
        Ok(report) => report,
        Err(e) => {
            // Nothing is half done: once the cause is fixed, the same preview can be applied
            // again (a file changed since needs a new preview).
            if e.code() != msgops_credentials::CredentialErrorCode::Conflict {
                *state
                    .pending_import
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(plan);
            }
            return Err(e.into());
        }
    };
    let settings = &report.settings;
    // Stored now or already there: a retry after an interrupted import finds the values
    // "unchanged", and its chain must get them all the same.
    let mut providers: Vec<CredentialProvider> = report
        .stored
        .iter()
        .chain(&report.unchanged)
        .map(|k| k.provider())
        .collect();
    providers.extend(
        CredentialProvider::ALL
            .into_iter()
            .filter(|_| !settings.is_empty()),
    );
    providers.sort();
    providers.dedup();
    for provider in providers {
        reinstall(&state, provider, store.as_ref()).await;
    }
    Ok(report)
}

#[derive(Debug, Clone, Deserialize, TS)]
#[ts(export)]
pub struct RotateRequest {
    pub provider: CredentialProvider,
    /// New values by secret kind. Only these travel from the window, never back.
    pub values: BTreeMap<SecretKind, String>,
}

#[tauri::command]
pub async fn rotate_credentials(
    state: State<'_, AppState>,
    request: RotateRequest,
) -> Result<RotationReport, IpcError> {
    let store = store(&state)?;
    let mut set = CredentialSet::new(request.provider);
    for (kind, value) in request.values {
        let value = value.trim().to_string();
        if !value.is_empty() {
            set = set.with(kind, value)?;
        }
    }
    let config = state.config.current();
    let validator = ProviderValidator::from_config(&config, Timeouts::default())
        .map_err(|e| IpcError::new(crate::error::IpcErrorCode::ProviderUnreachable, e.message))?;
    let report = msgops_credentials::rotate(store.as_ref(), &state.audit, set, &validator).await?;
    // The running chain uses the new credentials from the next send; its breaker is reset.
    reinstall(&state, request.provider, store.as_ref()).await;
    Ok(report)
}

#[tauri::command]
pub async fn remove_credentials(
    state: State<'_, AppState>,
    provider: CredentialProvider,
) -> Result<Vec<SecretKind>, IpcError> {
    let store = store(&state)?;
    let audit = state.audit.clone();
    let removing = store.clone();
    let removed = off_the_runtime(
        "removing credentials from the keychain",
        KEYCHAIN,
        move || msgops_credentials::remove_provider(removing.as_ref(), &audit, provider),
    )
    .await?;
    reinstall(&state, provider, store.as_ref()).await;
    Ok(removed)
}

/// Rebuilds a provider from the keychain: used by the next send, breaker reset. Through the
/// credential watcher once it runs, so that it does not rebuild it a second time.
async fn reinstall(state: &AppState, provider: CredentialProvider, store: &dyn CredentialStore) {
    let reports = match state.credential_sync.get() {
        Some(sync) => sync.reinstall(provider).await,
        None => {
            let config = state.config.current();
            msgops_providers::reinstall(provider, &state.messaging, &config, store).await
        }
    };
    for report in reports {
        tracing::info!(provider = %report.provider, installed = report.installed, missing = ?report.missing, "provider reinstalled");
    }
}

#[tauri::command]
pub async fn credential_audit(
    state: State<'_, AppState>,
) -> Result<Vec<CredentialAuditEntry>, IpcError> {
    let audit = state.audit.clone();
    // A file read, not a keychain call: off the workers, without the keychain's timeout.
    tauri::async_runtime::spawn_blocking(move || audit.read_all())
        .await
        .map_err(|e| IpcError::internal(format!("reading the audit trail failed: {e}")))?
        .map_err(IpcError::from)
}
