//! On-call controls over HTTP: reset a provider's breaker, start its trial now, or probe it
//! (`POST /api/v1/providers/{provider}/{control}`). Always behind a bearer token with the
//! `operate` (or `admin`) scope, and each one written to the operations audit trail with who asked (the client's address and what it
//! declared in `X-Msgops-Actor`) and when.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use msgops_audit::{Actor, OperationEntry};
use msgops_core::{Control, ProviderKind};

use crate::api::{json_response, ApiError, ApiErrorCode};
use crate::state::ServiceState;

/// The header a client names itself in for the audit trail (`cli ops@laptop`).
pub const ACTOR_HEADER: &str = "x-msgops-actor";

/// The audit operation of a control.
pub fn operation(control: Control) -> msgops_audit::Operation {
    match control {
        Control::Reset => msgops_audit::Operation::BreakerReset,
        Control::Trial => msgops_audit::Operation::BreakerTrial,
        Control::Probe => msgops_audit::Operation::Probe,
    }
}

/// Runs a control for `actor` and writes it to the service's operations audit trail, if it
/// keeps one. An audit trail that cannot be written is logged, and the control still answers.
pub async fn run_control(
    state: &ServiceState,
    provider: ProviderKind,
    control: Control,
    actor: Actor,
) -> msgops_core::ControlOutcome {
    run_control_with(state, provider, control, actor, None).await
}

/// As [`run_control`], saying which named token asked (in the reason the breaker keeps and in
/// the log).
pub async fn run_control_with(
    state: &ServiceState,
    provider: ProviderKind,
    control: Control,
    actor: Actor,
    token: Option<&str>,
) -> msgops_core::ControlOutcome {
    let by = match token {
        Some(name) => format!("{} with token `{name}`", actor.describe()),
        None => actor.describe(),
    };
    let reason = match control {
        Control::Reset => format!("reset by {by}"),
        Control::Trial => format!("trial requested by {by}"),
        Control::Probe => format!("probe requested by {by}"),
    };
    let outcome = state.messaging().control(provider, control, &reason).await;
    tracing::info!(%provider, control = control.as_str(), actor = %by, outcome = %outcome.describe(), "on-call control");
    if let Some(log) = &state.settings().operations {
        let entry = OperationEntry::now(
            actor,
            operation(control),
            provider,
            outcome.ok(),
            outcome.describe(),
        );
        if let Err(e) = log.record(&entry) {
            tracing::error!(error = %e, "operations audit trail not written");
        }
    }
    outcome
}

/// Resets a provider's breaker (`reset`: CLOSED now, its failures forgotten), ends its
/// cool-down (`trial`: HALF_OPEN, the next send is the trial) or runs its health probe
/// (`probe`, never counted by the breaker). Answers what it did and the breaker's state after.
#[utoipa::path(
    post,
    path = "/api/v1/providers/{provider}/{control}",
    tag = "operations",
    params(
        ("provider" = crate::doc::ProviderKind, Path, description = "sns, twilio, console, ses, sendgrid or smtp"),
        ("control" = crate::doc::Control, Path, description = "reset, trial or probe"),
        ("X-Msgops-Actor" = Option<String>, Header, description = "Who is asking, for the operations audit trail (`cli ops@laptop`); the client's address is recorded as well"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Done: what moved, and the breaker's state now (a probe's result when probing; a failed probe is still a 200)", body = crate::doc::ControlOutcome),
        (status = 404, description = "No such provider or control", body = ApiError),
        (status = 401, description = "No or wrong bearer token", body = ApiError),
        (status = 403, description = "The token has no `operate` scope", body = ApiError),
    )
)]
pub(crate) async fn provider_control(
    State(state): State<ServiceState>,
    Path((provider, control)): Path<(String, String)>,
    headers: HeaderMap,
    extensions: Extensions,
) -> Response {
    let provider = match provider.parse::<ProviderKind>() {
        Ok(p) => p,
        Err(message) => return ApiError::new(ApiErrorCode::NotFound, message).into_response(),
    };
    let control = match control.as_str() {
        "reset" => Control::Reset,
        "trial" => Control::Trial,
        "probe" => Control::Probe,
        other => {
            return ApiError::new(
                ApiErrorCode::NotFound,
                format!("no control `{other}`: use reset, trial or probe"),
            )
            .into_response()
        }
    };
    // The legacy token goes unnamed, as before named tokens.
    let token = extensions
        .get::<crate::tokens::Identity>()
        .map(|who| who.name.as_str())
        .filter(|name| *name != crate::tokens::LEGACY_NAME);
    let outcome = run_control_with(
        &state,
        provider,
        control,
        actor_of(&headers, &extensions),
        token,
    )
    .await;
    json_response(StatusCode::OK, &outcome)
}

/// Where taking a provider out of its chain (or putting it back) is remembered, so it still
/// holds after a restart: `msgops serve` and the app write it to the configuration file
/// (`enabled` of the provider's section), as the app's own switch does.
pub trait ProviderSwitches: Send + Sync {
    fn remember(&self, provider: ProviderKind, enabled: bool) -> Result<(), String>;
}

/// The body of `PUT /api/v1/providers/{provider}/enabled`.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnabledRequest {
    /// `false` takes the provider out of its chain (its credentials stay where they are);
    /// `true` puts it back.
    pub enabled: bool,
}

/// Takes a provider out of its chain or puts it back, in force at once and — where the service
/// has a configuration file — remembered there. Written to the operations audit trail with who
/// asked. Answers the chains' health afterwards.
#[utoipa::path(
    put,
    path = "/api/v1/providers/{provider}/enabled",
    tag = "operations",
    params(
        ("provider" = crate::doc::ProviderKind, Path, description = "sns, twilio, console, ses, sendgrid or smtp"),
        ("X-Msgops-Actor" = Option<String>, Header, description = "Who is asking, for the operations audit trail"),
    ),
    request_body = EnabledRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Done: the chains' health now", body = crate::doc::HealthSnapshot),
        (status = 400, description = "Not a JSON body `{\"enabled\": true|false}`", body = ApiError),
        (status = 404, description = "No such provider", body = ApiError),
        (status = 401, description = "No or wrong bearer token", body = ApiError),
        (status = 403, description = "The token has no `operate` scope", body = ApiError),
        (status = 500, description = "The configuration could not be saved: nothing was switched", body = ApiError),
    )
)]
pub(crate) async fn provider_enabled(
    State(state): State<ServiceState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    extensions: Extensions,
    body: Result<axum::Json<EnabledRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let provider = match provider.parse::<ProviderKind>() {
        Ok(p) if state.messaging().knows(&p) => p,
        Ok(p) => {
            return ApiError::new(ApiErrorCode::NotFound, format!("no provider `{p}`"))
                .into_response()
        }
        Err(message) => return ApiError::new(ApiErrorCode::NotFound, message).into_response(),
    };
    let enabled = match body {
        Ok(axum::Json(request)) => request.enabled,
        Err(rejection) => {
            return ApiError::new(ApiErrorCode::Validation, rejection.body_text()).into_response()
        }
    };
    let actor = actor_of(&headers, &extensions);
    if let Some(switches) = &state.settings().switches {
        let (switches, p) = (switches.clone(), provider);
        let saved = tokio::task::spawn_blocking(move || switches.remember(p, enabled))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r);
        if let Err(e) = saved {
            return ApiError::new(
                ApiErrorCode::Internal,
                format!(
                    "the configuration could not be saved, so {provider} was not switched: {e}"
                ),
            )
            .into_response();
        }
    }
    let (operation, what) = if enabled {
        (msgops_audit::Operation::Enable, "put back in its chain")
    } else {
        (msgops_audit::Operation::Disable, "taken out of its chain")
    };
    let reason = format!("{what} by {}", actor.describe());
    let messaging = state.messaging();
    match provider.channel() {
        msgops_core::Channel::Sms => messaging.sms.set_enabled(&provider, enabled, &reason),
        msgops_core::Channel::Email => messaging.email.set_enabled(&provider, enabled, &reason),
    };
    tracing::info!(%provider, enabled, actor = %actor.describe(), "provider switched");
    if let Some(log) = &state.settings().operations {
        let entry = OperationEntry::now(actor, operation, provider, true, what);
        if let Err(e) = log.record(&entry) {
            tracing::error!(error = %e, "operations audit trail not written");
        }
    }
    json_response(StatusCode::OK, &state.health().await)
}

/// Who asked, for the audit trail: the client's address and what it declared.
fn actor_of(headers: &HeaderMap, extensions: &Extensions) -> Actor {
    let client = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown client".to_string(), |c| c.0.to_string());
    let declared = headers
        .get(ACTOR_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Actor::api(client, declared)
}
