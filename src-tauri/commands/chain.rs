//! Tauri commands: each one parses nothing it need not and calls the core once.

use msgops_audit::{Actor, Operation, OperationEntry, Via};
use msgops_core::chain::SendRecord;
use msgops_core::health::HealthSnapshot;
use msgops_core::{Channel, Control, ControlOutcome, EmailMessage, ProviderKind, SmsMessage};
use serde::{Deserialize, Serialize};
use tauri::State;
use ts_rs::TS;

use crate::error::IpcError;
use crate::state::AppState;

/// The chains' health (a `HealthSnapshot` for the window): this computer's, or the remote
/// service's while the window is on one (the same JSON).
#[tauri::command]
pub async fn health_snapshot(state: State<'_, AppState>) -> Result<serde_json::Value, IpcError> {
    if let Some(active) = state.connections.active() {
        return crate::connections::timed(active.service.health()).await;
    }
    serde_json::to_value(state.health().await).map_err(|e| IpcError::internal(e.to_string()))
}

/// A test send from the dashboard: a fresh one-time code to one recipient.
#[derive(Debug, Clone, Deserialize, TS)]
#[ts(export)]
pub struct TestSendRequest {
    pub channel: Channel,
    pub to: String,
    /// Only this provider, instead of the whole chain.
    #[ts(optional)]
    pub provider: Option<ProviderKind>,
}

/// A finished test send and the code it carried, so the operator can check what arrived.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct TestSendResult {
    pub record: SendRecord,
    pub code: String,
}

#[tauri::command]
pub async fn send_test(
    state: State<'_, AppState>,
    request: TestSendRequest,
) -> Result<TestSendResult, IpcError> {
    let to = request.to.trim().to_string();
    if let Some(active) = state.connections.active() {
        return send_test_remote(&active, request.channel, to, request.provider).await;
    }
    if let Some(p) = request
        .provider
        .as_ref()
        .filter(|p| !state.messaging.knows(p))
    {
        return Err(IpcError::not_found(format!("no provider `{p}`")));
    }
    let code = msgops_core::message::one_time_code();
    let sent = code.clone();
    let record = match request.channel {
        Channel::Sms => {
            msgops_core::message::validate_phone(&to).map_err(IpcError::validation)?;
            let message = SmsMessage {
                body: format!("Your msgops test code is {code}"),
                to,
                code: Some(code),
            };
            state
                .messaging
                .sms
                .send_via(&message, request.provider.as_ref())
                .await
        }
        Channel::Email => {
            msgops_core::message::validate_email(&to).map_err(IpcError::validation)?;
            let message = EmailMessage {
                subject: "msgops test".into(),
                body: format!("Your msgops test code is {code}"),
                to,
                code: Some(code),
            };
            state
                .messaging
                .email
                .send_via(&message, request.provider.as_ref())
                .await
        }
    };
    Ok(TestSendResult { record, code: sent })
}

/// A test send through the remote service's chain (`POST /api/v1/messages/{channel}`; its
/// token needs the `operate` scope). The service checks the recipient with the same rule.
async fn send_test_remote(
    active: &crate::connections::Active,
    channel: Channel,
    to: String,
    provider: Option<ProviderKind>,
) -> Result<TestSendResult, IpcError> {
    if provider.is_some() {
        return Err(IpcError::new(
            crate::error::IpcErrorCode::RemoteUnsupported,
            format!(
                "a test send over a remote connection goes through the whole chain of `{}`: choose \"Whole chain\"",
                active.name
            ),
        ));
    }
    match channel {
        Channel::Sms => msgops_core::message::validate_phone(&to),
        Channel::Email => msgops_core::message::validate_email(&to),
    }
    .map_err(IpcError::validation)?;
    let code = msgops_core::message::one_time_code();
    let body = format!("Your msgops test code is {code}");
    let message = match channel {
        Channel::Sms => serde_json::json!({ "to": to, "body": body, "code": code }),
        Channel::Email => {
            serde_json::json!({ "to": to, "subject": "msgops test", "body": body, "code": code })
        }
    };
    let answer = crate::connections::timed(active.service.send(channel.as_str(), &message)).await?;
    let record: SendRecord = serde_json::from_value(answer).map_err(|e| {
        IpcError::internal(format!("the service's answer is not a send record: {e}"))
    })?;
    Ok(TestSendResult { record, code })
}

/// When this process started (forced first thing in `run`): the start-up time in the log.
pub static LAUNCHED: std::sync::LazyLock<std::time::Instant> =
    std::sync::LazyLock::new(std::time::Instant::now);

/// The window painted its first Dashboard with the chains' health: logged once, with the time
/// since launch (what `scripts/bench-desktop.sh` reads as cold start to first paint).
#[tauri::command]
pub fn dashboard_painted() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let ms = u64::try_from(LAUNCHED.elapsed().as_millis()).unwrap_or(u64::MAX);
        tracing::info!(since_launch_ms = ms, "first dashboard paint");
    });
}

#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct AppStatus {
    pub version: String,
    pub config_path: String,
    pub config_error: Option<String>,
    pub console_log: String,
}

#[tauri::command]
pub fn app_status(state: State<'_, AppState>) -> AppStatus {
    AppStatus {
        version: env!("CARGO_PKG_VERSION").into(),
        config_path: state.config.path().display().to_string(),
        config_error: state.config_error.clone(),
        console_log: state
            .config
            .current()
            .console
            .log_path
            .display()
            .to_string(),
    }
}

/// Takes a provider out of its chain (or puts it back) and remembers it in the configuration.
/// Its credentials stay in the keychain.
///
/// While the window is on a remote service, the switch is that service's (`operate` scope; it
/// remembers it in its own configuration and audit trail). Answers the chains' health after.
#[tauri::command]
pub async fn set_provider_enabled(
    state: State<'_, AppState>,
    provider: ProviderKind,
    enabled: bool,
) -> Result<serde_json::Value, IpcError> {
    if let Some(active) = state.connections.active() {
        return crate::connections::timed(active.service.set_enabled(provider.as_str(), enabled))
            .await;
    }
    let health = set_enabled_here(&state, provider, enabled).await?;
    serde_json::to_value(health).map_err(|e| IpcError::internal(e.to_string()))
}

async fn set_enabled_here(
    state: &AppState,
    provider: ProviderKind,
    enabled: bool,
) -> Result<HealthSnapshot, IpcError> {
    if !state.messaging.knows(&provider) {
        return Err(IpcError::not_found(format!("no provider `{provider}`")));
    }
    let mut config = state.config.current();
    config.policy_mut(provider).enabled = Some(enabled);
    state.config.save(config.clone())?;
    state.messaging.apply_config(&config);
    let operation = if enabled {
        Operation::Enable
    } else {
        Operation::Disable
    };
    state.record_operation(OperationEntry::now(
        Actor::local(Via::App),
        operation,
        provider,
        true,
        if enabled {
            "back in its chain"
        } else {
            "taken out of its chain"
        },
    ));
    Ok(state.health().await)
}

/// On-call controls from a dashboard card: reset the breaker, start its trial now, or probe.
/// Recorded in the operations audit trail as this user, from the app. While the window is on a
/// remote service, the control is that service's (its token needs the `operate` scope; the
/// service records it in its own trail). Answers a `ControlOutcome`.
#[tauri::command]
pub async fn control_provider(
    state: State<'_, AppState>,
    provider: ProviderKind,
    control: Control,
) -> Result<serde_json::Value, IpcError> {
    if let Some(active) = state.connections.active() {
        return crate::connections::timed(
            active
                .service
                .control(&provider.to_string(), control.as_str()),
        )
        .await;
    }
    let outcome = control_here(&state, provider, control).await?;
    serde_json::to_value(outcome).map_err(|e| IpcError::internal(e.to_string()))
}

async fn control_here(
    state: &AppState,
    provider: ProviderKind,
    control: Control,
) -> Result<ControlOutcome, IpcError> {
    if !state.messaging.knows(&provider) {
        return Err(IpcError::not_found(format!("no provider `{provider}`")));
    }
    let actor = Actor::local(Via::App);
    let reason = format!("{} by {}", control.as_str(), actor.describe());
    let outcome = state.messaging.control(provider, control, &reason).await;
    state.record_operation(OperationEntry::now(
        actor,
        msgops_service::controls::operation(control),
        provider,
        outcome.ok(),
        outcome.describe(),
    ));
    Ok(outcome)
}

/// The newest on-call operations of every msgops process on this machine, newest first.
#[tauri::command]
pub fn operations_audit(state: State<'_, AppState>) -> Result<Vec<OperationEntry>, IpcError> {
    state
        .operations
        .recent(200)
        .map_err(|e| IpcError::internal(e.to_string()))
}
