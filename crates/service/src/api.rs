//! The HTTP API: thin handlers over [`ServiceState`], and the OpenAPI description generated
//! from their annotations. Errors leave as `{code, message}` with the codes in [`ApiErrorCode`].
//!
//! A handler must never call a provider for a request that failed validation, authentication or
//! its recipient limit.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::{header, Extensions, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures_util::stream::{self, Stream, StreamExt};
use msgops_core::chain::{Priority, SendRecord};
use msgops_core::message::{validate_email, validate_phone};
use msgops_core::{EmailMessage, SmsMessage};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{ApiAuth, AuthScope, Refusal};
use crate::events::{Diagnostic, Journal, Journaled, ListedCode, ServiceEvent};
use crate::idempotency::{self, Claim, StoredResponse};
use crate::limits::Reservation;
use crate::state::{CodeFilter, NoRecord, Outgoing, ServiceState};
use crate::tokens::{describe_scopes, Identity, Scope};

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
pub const MAX_SMS_BODY_CHARS: usize = 1600;
pub const MAX_EMAIL_BODY_CHARS: usize = 100_000;
pub const MAX_SUBJECT_CHARS: usize = 998;
/// `Retry-After` of a `duplicate_not_sent` answer while the service keeps running (the first
/// request's task panicked; the key is free again at once).
pub const DUPLICATE_RETRY_AFTER_SECS: u64 = 1;
/// `Retry-After` of a `duplicate_not_sent` answer at shutdown: time for a restart.
pub const DUPLICATE_RETRY_AFTER_SHUTDOWN_SECS: u64 = 5;

/// What went wrong, for programs; the message is for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApiErrorCode {
    /// The request is malformed or a field is invalid (400).
    Validation,
    /// The body is larger than 64 KiB (413).
    PayloadTooLarge,
    /// No or wrong bearer token (401).
    Unauthorized,
    /// The service has no API token yet, so nobody can be let in (401).
    AuthNotConfigured,
    /// The token is valid but its scope does not allow this (403).
    Forbidden,
    /// A per-recipient or per-prefix limit refused the send; no provider was called (429).
    RecipientLimited,
    /// The Idempotency-Key was already used for a different request (422).
    IdempotencyKeyReused,
    /// The service is shutting down and takes no new sends (503).
    ShuttingDown,
    /// The send was still running when shutdown ended; recorded as failed, delivery unknown (503).
    SendAbandoned,
    /// This request was not sent: it waited on the first request with the same
    /// Idempotency-Key, which ended without an answer (abandoned at shutdown, or its task
    /// stopped). Nothing was sent for it; retry after `Retry-After` (503).
    DuplicateNotSent,
    /// No such provider or control (404).
    NotFound,
    /// A webhook whose sender could not be verified: unsigned, forged, stale, or nothing to
    /// verify it with (403). Nothing was stored.
    WebhookRejected,
    /// The service keeps no send history, or it could not be read (503).
    HistoryUnavailable,
    /// A bug in msgops (500).
    Internal,
}

impl ApiErrorCode {
    fn status(self) -> StatusCode {
        match self {
            ApiErrorCode::Validation => StatusCode::BAD_REQUEST,
            ApiErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiErrorCode::Unauthorized | ApiErrorCode::AuthNotConfigured => {
                StatusCode::UNAUTHORIZED
            }
            ApiErrorCode::RecipientLimited => StatusCode::TOO_MANY_REQUESTS,
            ApiErrorCode::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            ApiErrorCode::ShuttingDown
            | ApiErrorCode::SendAbandoned
            | ApiErrorCode::DuplicateNotSent
            | ApiErrorCode::HistoryUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiErrorCode::NotFound => StatusCode::NOT_FOUND,
            ApiErrorCode::WebhookRejected | ApiErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ApiErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiError {
    pub code: ApiErrorCode,
    pub message: String,
    /// For `recipient_limited`: seconds until the next send to this recipient is allowed; for
    /// `duplicate_not_sent`: seconds to wait before retrying (both also in the `Retry-After`
    /// header).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(code: ApiErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    fn stored(&self) -> StoredResponse {
        StoredResponse {
            status: self.code.status(),
            body: Bytes::from(serde_json::to_vec(self).unwrap_or_default()),
            retry_after_secs: self.retry_after_secs,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = stored_response(&self.stored(), false);
        if matches!(
            self.code,
            ApiErrorCode::Unauthorized | ApiErrorCode::AuthNotConfigured
        ) {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"msgops\""),
            );
        }
        response
    }
}

pub(crate) fn json_response(status: StatusCode, value: &impl Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
        Err(e) => ApiError::new(
            ApiErrorCode::Internal,
            format!("could not encode the answer: {e}"),
        )
        .into_response(),
    }
}

fn stored_response(stored: &StoredResponse, replayed: bool) -> Response {
    let mut response = (
        stored.status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        stored.body.clone(),
    )
        .into_response();
    if let Some(secs) = stored.retry_after_secs {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

// ---------------------------------------------------------------------------------------------
// Health and metrics

/// The health of both chains in the backend's shape (`email_providers` / `sms_providers`, each
/// with `name`, `priority`, `is_healthy`) plus msgops' richer fields and each chain's status
/// (`chains.sms.status`: `healthy`, `degraded` when only the last resort can deliver, `down`,
/// `unconfigured`). 200 when every chain in use is healthy (`ok`), 503 otherwise; `[health]` in
/// the configuration says which states fail (`fail_on`) and which chains must be in use
/// (`require`).
#[utoipa::path(
    get,
    path = "/api/v1/health/messaging",
    tag = "health",
    responses(
        (status = 200, description = "Every chain in use is healthy (or in a state `[health]` accepts)", body = crate::doc::HealthSnapshot),
        (status = 503, description = "A chain in use is degraded or down, or a required chain is unconfigured", body = crate::doc::HealthSnapshot),
        (status = 401, description = "Listening beyond loopback and no or wrong bearer token", body = ApiError),
    )
)]
async fn health(State(state): State<ServiceState>) -> Response {
    let snapshot = state.health().await;
    let status = if snapshot.ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(status, &snapshot)
}

/// Prometheus metrics (text format 0.0.4): sends by provider and outcome, attempts, failovers,
/// breaker states, latency histograms, cost, recipient-limit blocks, codes seen in logs.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "metrics",
    responses(
        (status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain; version=0.0.4"),
        (status = 401, description = "Listening beyond loopback and no or wrong bearer token", body = ApiError),
    )
)]
async fn metrics(State(state): State<ServiceState>) -> Response {
    let text = state.metrics().encode(&state.health().await);
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}

// ---------------------------------------------------------------------------------------------
// Sends

/// An SMS to send through the SMS chain (AWS SNS → Twilio → Console).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmsRequest {
    /// E.164 phone number.
    #[schema(pattern = r"^\+[0-9]{8,15}$", example = "+14165550123")]
    pub to: String,
    /// Not only whitespace.
    #[schema(
        min_length = 1,
        max_length = 1600,
        pattern = r"\S",
        example = "Your code is 091282"
    )]
    pub body: String,
    /// The one-time code inside `body`, if any (the Console provider logs it for support).
    #[schema(pattern = "^[0-9A-Za-z]{4,12}$", example = "091282")]
    #[serde(default)]
    pub code: Option<String>,
}

/// An email to send through the email chain (AWS SES → SendGrid → SMTP).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailRequest {
    /// An email address: something, `@`, a domain with a dot; no spaces or control characters.
    #[schema(
        pattern = r"^[^@\s\x00-\x1f\x7f-\x9f]+@[^@\s\x00-\x1f\x7f-\x9f]*\.[^@\s\x00-\x1f\x7f-\x9f]*$",
        max_length = 254,
        example = "ops@example.com"
    )]
    pub to: String,
    /// One line, not only whitespace.
    #[schema(
        min_length = 1,
        max_length = 998,
        pattern = r"^[^\r\n]*\S[^\r\n]*$",
        example = "Your verification code"
    )]
    pub subject: String,
    /// Not only whitespace.
    #[schema(
        min_length = 1,
        max_length = 100000,
        pattern = r"\S",
        example = "Your code is 091282"
    )]
    pub body: String,
    #[schema(pattern = "^[0-9A-Za-z]{4,12}$", example = "091282")]
    #[serde(default)]
    pub code: Option<String>,
}

fn check_code(code: Option<&str>) -> Result<(), String> {
    match code {
        Some(c)
            if !(4..=12).contains(&c.len()) || !c.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            Err("`code` must be 4 to 12 letters or digits".into())
        }
        _ => Ok(()),
    }
}

fn check_text(field: &str, value: &str, max_chars: usize) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err(format!("`{field}` must not be empty"));
    }
    if value.chars().count() > max_chars {
        return Err(format!("`{field}` is longer than {max_chars} characters"));
    }
    Ok(())
}

impl SmsRequest {
    fn validate(self) -> Result<Outgoing, String> {
        validate_phone(&self.to)?;
        check_text("body", &self.body, MAX_SMS_BODY_CHARS)?;
        check_code(self.code.as_deref())?;
        Ok(Outgoing::Sms(SmsMessage {
            to: self.to,
            body: self.body,
            code: self.code,
        }))
    }
}

impl EmailRequest {
    fn validate(self) -> Result<Outgoing, String> {
        if self.to.len() > 254 {
            return Err("`to` is longer than 254 characters".into());
        }
        validate_email(&self.to)?;
        if self.to.contains(|c: char| c.is_control()) {
            return Err(format!(
                "`{}` is not an email address",
                self.to.escape_debug()
            ));
        }
        check_text("subject", &self.subject, MAX_SUBJECT_CHARS)?;
        if self.subject.contains(['\r', '\n']) {
            return Err("`subject` must be one line".into());
        }
        check_text("body", &self.body, MAX_EMAIL_BODY_CHARS)?;
        check_code(self.code.as_deref())?;
        Ok(Outgoing::Email(EmailMessage {
            to: self.to,
            subject: self.subject,
            body: self.body,
            code: self.code,
        }))
    }
}

/// The answer to a send (see [`crate::doc::SendResponse`]).
#[derive(Debug, Serialize)]
pub struct SendResponse<'a> {
    #[serde(flatten)]
    pub record: &'a SendRecord,
    pub delivered_by_priority: Option<Priority>,
    pub cost_usd: f64,
}

/// Sends one SMS through the chain. 200 with the record when delivered, 502 with the record
/// when every provider failed or was skipped, 429 when the recipient (or its country prefix)
/// reached its limit — then no provider is called. Only delivered sends (and sends under way)
/// count against the limit: a failed send frees its slot. With `Idempotency-Key`, a retry gets
/// the first answer (marked `Idempotent-Replayed: true`) and nothing is sent twice; a retry
/// waiting on a first request that ends without an answer is not sent (503
/// `duplicate_not_sent`, with `Retry-After`).
#[utoipa::path(
    post,
    path = "/api/v1/messages/sms",
    tag = "messages",
    request_body = SmsRequest,
    params(
        ("Idempotency-Key" = Option<String>, Header, pattern = r"^[!-~]{1,255}$", description = "Retries with the same key get the first answer (kept 24 h, up to 10,000 keys); one made while the first is under way waits for it and never sends itself (503 `duplicate_not_sent` if the first ends without an answer). Requests are told apart by the SHA-256 of route and body. 1 to 255 visible ASCII characters"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Delivered", body = crate::doc::SendResponse),
        (status = 502, description = "Failed: every provider failed or was skipped (the record says why)", body = crate::doc::SendResponse),
        (status = 400, description = "Invalid request", body = ApiError),
        (status = 401, description = "No or wrong bearer token", body = ApiError),
        (status = 403, description = "The token has no `operate` scope", body = ApiError),
        (status = 413, description = "Body over 64 KiB", body = ApiError),
        (status = 422, description = "Idempotency-Key already used for another request", body = ApiError),
        (status = 429, description = "Recipient or prefix limit reached; nothing was sent", body = ApiError,
            headers(("Retry-After" = u64, description = "Seconds until the next send to this recipient is allowed (at the latest: a send under way that is not delivered frees its slot sooner)"))),
        (status = 503, description = "`shutting_down`: takes no new sends, nothing was sent; `send_abandoned`: still running when shutdown ended, recorded as failed, delivery unknown; `duplicate_not_sent`: waited on the first request with this Idempotency-Key, which ended without an answer, so nothing was sent for this one — retry", body = ApiError,
            headers(("Retry-After" = u64, description = "For `duplicate_not_sent`: seconds to wait before retrying"))),
    )
)]
async fn send_sms(
    State(state): State<ServiceState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    send(state, headers, body, "/api/v1/messages/sms", |b| {
        serde_json::from_slice::<SmsRequest>(b)
            .map_err(|e| e.to_string())
            .and_then(SmsRequest::validate)
    })
    .await
}

/// Sends one email through the chain; answers as for SMS.
#[utoipa::path(
    post,
    path = "/api/v1/messages/email",
    tag = "messages",
    request_body = EmailRequest,
    params(
        ("Idempotency-Key" = Option<String>, Header, pattern = r"^[!-~]{1,255}$", description = "Retries with the same key get the first answer (kept 24 h, up to 10,000 keys); one made while the first is under way waits for it and never sends itself (503 `duplicate_not_sent` if the first ends without an answer). Requests are told apart by the SHA-256 of route and body. 1 to 255 visible ASCII characters"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Delivered", body = crate::doc::SendResponse),
        (status = 502, description = "Failed: every provider failed or was skipped (the record says why)", body = crate::doc::SendResponse),
        (status = 400, description = "Invalid request", body = ApiError),
        (status = 401, description = "No or wrong bearer token", body = ApiError),
        (status = 403, description = "The token has no `operate` scope", body = ApiError),
        (status = 413, description = "Body over 64 KiB", body = ApiError),
        (status = 422, description = "Idempotency-Key already used for another request", body = ApiError),
        (status = 429, description = "Recipient limit reached; nothing was sent", body = ApiError,
            headers(("Retry-After" = u64, description = "Seconds until the next send to this recipient is allowed (at the latest: a send under way that is not delivered frees its slot sooner)"))),
        (status = 503, description = "`shutting_down`: takes no new sends, nothing was sent; `send_abandoned`: still running when shutdown ended, recorded as failed, delivery unknown; `duplicate_not_sent`: waited on the first request with this Idempotency-Key, which ended without an answer, so nothing was sent for this one — retry", body = ApiError,
            headers(("Retry-After" = u64, description = "For `duplicate_not_sent`: seconds to wait before retrying"))),
    )
)]
async fn send_email(
    State(state): State<ServiceState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    send(state, headers, body, "/api/v1/messages/email", |b| {
        serde_json::from_slice::<EmailRequest>(b)
            .map_err(|e| e.to_string())
            .and_then(EmailRequest::validate)
    })
    .await
}

async fn send(
    state: ServiceState,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
    route: &'static str,
    parse: impl FnOnce(&[u8]) -> Result<Outgoing, String>,
) -> Response {
    if state.is_shutting_down() {
        return stored_response(&shutting_down_error(), false);
    }
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return ApiError::new(
                ApiErrorCode::PayloadTooLarge,
                format!("the body is larger than {MAX_BODY_BYTES} bytes"),
            )
            .into_response()
        }
        Err(rejection) => {
            return ApiError::new(ApiErrorCode::Validation, rejection.body_text()).into_response()
        }
    };
    let message = match parse(&body) {
        Ok(message) => message,
        Err(e) => return ApiError::new(ApiErrorCode::Validation, e).into_response(),
    };
    let Some(key) = headers.get("idempotency-key") else {
        return match admit_and_send(&state, message).await {
            Ok(answer) | Err(answer) => stored_response(&answer, false),
        };
    };
    let key = match key.to_str().map_err(|_| ()).and_then(|k| {
        idempotency::validate_key(k).map_err(|_| ())?;
        Ok(k)
    }) {
        Ok(key) => key,
        Err(()) => {
            return ApiError::new(
                ApiErrorCode::Validation,
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            )
            .into_response()
        }
    };
    let fingerprint = idempotency::fingerprint(route, &body);
    match state.inner.idempotency.claim(key, fingerprint).await {
        Claim::Mismatch => ApiError::new(
            ApiErrorCode::IdempotencyKeyReused,
            format!("Idempotency-Key `{key}` was already used for a different request; use a new key for a new message"),
        )
        .into_response(),
        Claim::Duplicate(first) => match first.wait().await {
            Some(answer) => stored_response(&answer, true),
            // The first request ended without an answer. This one never sends in its place
            // (at shutdown it would go out after the drain, unrecorded): it says so, and its
            // retry — the key is free again — does the work.
            None => stored_response(&duplicate_not_sent(&state, key), false),
        },
        Claim::First(pending) => {
            let answer = admit_and_send_keyed(&state, message, pending).await;
            stored_response(&answer, false)
        }
    }
}

/// The answer to a duplicate whose first request ended without an answer.
fn duplicate_not_sent(state: &ServiceState, key: &str) -> StoredResponse {
    let (why, retry_after_secs) = if state.is_shutting_down() {
        (
            "ended without an answer as msgops shut down (if it had started, it is recorded as failed and may or may not have been delivered)",
            DUPLICATE_RETRY_AFTER_SHUTDOWN_SECS,
        )
    } else {
        (
            "ended without an answer (its send task stopped)",
            DUPLICATE_RETRY_AFTER_SECS,
        )
    };
    tracing::warn!(%key, "a duplicate request was not sent: the first request with its Idempotency-Key {why}");
    let mut error = ApiError::new(
        ApiErrorCode::DuplicateNotSent,
        format!(
            "not sent: this request waited on the first request with Idempotency-Key `{key}`, which {why}; nothing was sent for this one — retry in {retry_after_secs} s"
        ),
    );
    error.retry_after_secs = Some(retry_after_secs);
    error.stored()
}

/// Applies the recipient limit, taking a slot for the send; `Err` is the refusal to answer
/// with.
async fn admit(state: &ServiceState, message: &Outgoing) -> Result<Reservation, StoredResponse> {
    let channel = message.channel();
    let recipient = message.recipient();
    match state.inner.limiter.reserve(channel, recipient).await {
        Ok(slot) => Ok(slot),
        Err(blocked) => {
            let reason = blocked.reason(channel, recipient);
            let rule = blocked.by.label();
            let retry_after_secs = blocked.retry_after.as_secs().max(1);
            tracing::warn!(?channel, %recipient, %rule, "send refused by recipient limit");
            state.metrics().record_limit_block(channel, &rule);
            state.publish(ServiceEvent::RecipientBlocked {
                channel,
                recipient: recipient.to_string(),
                rule,
                reason: reason.clone(),
                retry_after_secs,
                at: chrono::Utc::now(),
            });
            let mut error = ApiError::new(ApiErrorCode::RecipientLimited, reason);
            error.retry_after_secs = Some(retry_after_secs);
            Err(error.stored())
        }
    }
}

fn answer_for(state: &ServiceState, record: &SendRecord) -> StoredResponse {
    let priority = record.outcome.delivered_by().and_then(|id| {
        state
            .messaging()
            .health()
            .providers()
            .find(|p| &p.id == id && p.channel == record.channel)
            .map(|p| p.priority)
    });
    let response = SendResponse {
        record,
        delivered_by_priority: priority,
        cost_usd: record.outcome.cost_usd(),
    };
    let status = if priority.is_some() {
        StatusCode::OK
    } else {
        StatusCode::BAD_GATEWAY
    };
    StoredResponse {
        status,
        body: Bytes::from(serde_json::to_vec(&response).unwrap_or_default()),
        retry_after_secs: None,
    }
}

/// Limit, then send; `Err` holds a refusal.
async fn admit_and_send(
    state: &ServiceState,
    message: Outgoing,
) -> Result<StoredResponse, StoredResponse> {
    let slot = admit(state, &message).await?;
    let task_state = state.clone();
    state
        .run_send(message, slot, move |record| answer_for(&task_state, record))
        .await
        .map_err(no_record)
}

fn no_record(why: NoRecord) -> StoredResponse {
    match why {
        NoRecord::NotStarted => shutting_down_error(),
        NoRecord::Abandoned => abandoned_error(),
    }
}

fn shutting_down_error() -> StoredResponse {
    ApiError::new(
        ApiErrorCode::ShuttingDown,
        "msgops is shutting down and takes no new sends; retry against the restarted service",
    )
    .stored()
}

fn abandoned_error() -> StoredResponse {
    ApiError::new(
        ApiErrorCode::SendAbandoned,
        "the send was still running when msgops shut down; it is recorded as failed and may or may not have been delivered",
    )
    .stored()
}

/// As [`admit_and_send`], publishing the answer under the idempotency key from inside the send
/// task, so that it is kept even if this client hangs up. When the send has no answer (never
/// started, abandoned), the key is released and its waiting duplicates answer
/// `duplicate_not_sent`.
async fn admit_and_send_keyed(
    state: &ServiceState,
    message: Outgoing,
    pending: idempotency::Pending,
) -> StoredResponse {
    let slot = match admit(state, &message).await {
        Ok(slot) => slot,
        Err(refusal) => {
            // A refusal is not kept: a retry after the window is decided again.
            pending.finish(refusal.clone(), false);
            return refusal;
        }
    };
    let task_state = state.clone();
    state
        .run_send(message, slot, move |record| {
            let answer = answer_for(&task_state, record);
            pending.finish(answer.clone(), true);
            answer
        })
        .await
        .unwrap_or_else(no_record)
}

// ---------------------------------------------------------------------------------------------
// Events

/// Server-sent events: `breaker_transition`, `send_finished`, `provider_changed`,
/// `probe_finished` (the chain's events), `recipient_blocked`, `code_seen`, `send_abandoned`,
/// `delivery_status` (the service's). Each `data:` is one JSON object whose `kind` is the event
/// name, and each event has an `id:` (`<run>-<n>`: `n` grows by one per event during one run of
/// the service, `run` changes when it restarts). The last 10,000 events are kept: a client that
/// reconnects with `Last-Event-ID` first gets every event after that id, then the live ones —
/// none missed, none twice. When that id cannot be resumed from (another run: the service
/// restarted; or no longer kept), the stream starts with `event: reset` (`{"kind":"reset",
/// "reason", "run"}`): re-fetch the state, then every event still kept follows. `lagged`
/// (`{"kind":"lagged","missed":n}`) says events were lost. `code_seen` events (codes and
/// recipients) go only to tokens with the `codes` scope (or `admin`), in replays too.
#[utoipa::path(
    get,
    path = "/api/v1/events",
    tag = "events",
    params(
        ("Last-Event-ID" = Option<String>, Header, description = "The `id` of the last event received (`<run>-<n>`): resume after it"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "An endless text/event-stream", body = String, content_type = "text/event-stream"),
        (status = 401, description = "No or wrong bearer token", body = ApiError),
    )
)]
async fn events(
    State(state): State<ServiceState>,
    headers: HeaderMap,
    extensions: Extensions,
) -> Response {
    let codes = extensions
        .get::<Identity>()
        .is_some_and(|who| who.allows(Scope::Codes));
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.trim().is_empty());
    let journal = state.inner.journal.clone();
    let opening = journal.open(last_event_id);
    let reset = opening.reset.as_ref().map(|(id, reason)| {
        Event::default()
            .event("reset")
            .id(id.clone())
            .json_data(serde_json::json!({"kind": "reset", "reason": reason, "run": journal.run()}))
            .unwrap_or_else(|_| Event::default().comment("unencodable event"))
    });
    let cursor = Cursor {
        journal,
        live: opening.live,
        pending: opening.replay.into(),
        last: opening.after,
        codes,
        reset,
    };
    let stop = state.inner.stop.clone();
    let stream = cursor
        .into_stream()
        .map(Ok::<_, Infallible>)
        .take_until(async move { stop.cancelled().await });
    sse(stream)
}

/// One client's place in the journal: the replay first, then the live events, skipping what it
/// already had (and, without the `codes` scope, every `code_seen`).
struct Cursor {
    journal: Arc<Journal>,
    live: tokio::sync::broadcast::Receiver<Arc<Journaled>>,
    pending: VecDeque<Arc<Journaled>>,
    /// The number of the last event passed (sent, or skipped for this client).
    last: u64,
    codes: bool,
    reset: Option<Event>,
}

impl Cursor {
    /// `Some` to send, `None` when this one is not for this client (or already passed).
    fn pass(&mut self, entry: &Journaled) -> Option<Event> {
        if entry.seq <= self.last {
            return None;
        }
        self.last = entry.seq;
        if entry.holds_code && !self.codes {
            return None;
        }
        Some(
            // `event:` first, as before events had ids.
            Event::default()
                .event(entry.name)
                .id(self.journal.id(entry.seq))
                .data(&entry.data),
        )
    }

    fn into_stream(self) -> impl Stream<Item = Event> + Send + 'static {
        stream::unfold(self, |mut cursor| async move {
            if let Some(reset) = cursor.reset.take() {
                return Some((reset, cursor));
            }
            loop {
                if let Some(entry) = cursor.pending.pop_front() {
                    if let Some(event) = cursor.pass(&entry) {
                        return Some((event, cursor));
                    }
                    continue;
                }
                match cursor.live.recv().await {
                    Ok(entry) => {
                        if let Some(event) = cursor.pass(&entry) {
                            return Some((event, cursor));
                        }
                    }
                    // Fell behind the live events: take them from the journal instead.
                    Err(RecvError::Lagged(_)) => {
                        let (entries, missed) = cursor.journal.after(cursor.last);
                        cursor.pending.extend(entries);
                        if missed > 0 {
                            return Some((lagged(missed), cursor));
                        }
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        })
    }
}

fn sse(stream: impl Stream<Item = Result<Event, Infallible>> + Send + 'static) -> Response {
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn lagged(missed: u64) -> Event {
    Event::default()
        .event("lagged")
        .data(format!("{{\"kind\":\"lagged\",\"missed\":{missed}}}"))
}

// ---------------------------------------------------------------------------------------------
// Codes and diagnostics

/// Which codes to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CodesQuery {
    /// The last digits of the number (`0123`; `+`, spaces, dashes and brackets ignored).
    #[param(example = "0123")]
    pub phone: Option<String>,
    /// The recipient exactly (number or address; case ignored).
    pub recipient: Option<String>,
    /// `sms` or `email`.
    #[param(value_type = Option<crate::doc::Channel>)]
    pub channel: Option<String>,
    /// Expired codes too (kept up to an hour after they expire).
    pub include_expired: Option<bool>,
}

impl CodesQuery {
    fn filter(self) -> Result<CodeFilter, String> {
        let phone_digits = match self.phone {
            Some(p) => {
                let digits: String = p.chars().filter(char::is_ascii_digit).collect();
                if digits.is_empty()
                    || !p
                        .chars()
                        .all(|c| c.is_ascii_digit() || " +-().".contains(c))
                {
                    return Err("`phone` must be digits (the end of the number, e.g. 0123)".into());
                }
                Some(digits)
            }
            None => None,
        };
        let channel = match self.channel.as_deref() {
            None => None,
            Some("sms") => Some(msgops_core::Channel::Sms),
            Some("email") => Some(msgops_core::Channel::Email),
            Some(other) => {
                return Err(format!(
                    "`channel` must be sms or email, not `{}`",
                    other.escape_debug()
                ))
            }
        };
        Ok(CodeFilter {
            phone_digits,
            recipient: self.recipient.filter(|r| !r.trim().is_empty()),
            channel,
            include_expired: self.include_expired.unwrap_or(false),
        })
    }
}

/// The answer of `GET /api/v1/codes`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CodesAnswer {
    /// Newest last.
    pub codes: Vec<ListedCode>,
}

/// The answer of `GET /api/v1/diagnostics`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DiagnosticsAnswer {
    /// Newest last.
    pub diagnostics: Vec<Diagnostic>,
}

/// The one-time codes the service's log watcher found in backend logs that are still valid,
/// newest last (the last 10,000 are kept; with `include_expired=true`, the expired ones too,
/// up to an hour after they expire). Needs the `codes` scope: they are customers' codes and
/// numbers.
#[utoipa::path(
    get,
    path = "/api/v1/codes",
    tag = "codes",
    params(CodesQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The codes, newest last", body = CodesAnswer),
        (status = 400, description = "An invalid filter", body = ApiError),
        (status = 401, description = "No or wrong bearer token", body = ApiError),
        (status = 403, description = "The token has no `codes` scope", body = ApiError),
    )
)]
async fn codes(
    State(state): State<ServiceState>,
    query: Result<Query<CodesQuery>, QueryRejection>,
) -> Response {
    let filter = match query {
        Ok(Query(query)) => query.filter(),
        Err(rejection) => Err(rejection.body_text()),
    };
    match filter {
        Ok(filter) => json_response(
            StatusCode::OK,
            &CodesAnswer {
                codes: state.codes(&filter),
            },
        ),
        Err(message) => ApiError::new(ApiErrorCode::Validation, message).into_response(),
    }
}

/// The recent diagnostics the service's log watcher saw in backend logs: provider errors, the
/// backend's 5xx answers, its (re)starts, stale configuration, and how following each log goes;
/// newest last (the last 1,000). Only what the watcher parsed from the lines: no codes.
#[utoipa::path(
    get,
    path = "/api/v1/diagnostics",
    tag = "codes",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The diagnostics, newest last", body = DiagnosticsAnswer),
        (status = 401, description = "No or wrong bearer token", body = ApiError),
    )
)]
async fn diagnostics(State(state): State<ServiceState>) -> Response {
    json_response(
        StatusCode::OK,
        &DiagnosticsAnswer {
            diagnostics: state.diagnostics(),
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Authentication

/// Lets in a request whose token allows `need`, with its [`Identity`] in the extensions.
async fn require_token(
    State((state, need)): State<(ServiceState, Scope)>,
    mut request: Request,
    next: Next,
) -> Response {
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    match state.settings().auth.check(header) {
        Ok(who) if who.allows(need) => {
            request.extensions_mut().insert(who);
            next.run(request).await
        }
        Ok(who) => {
            tracing::info!(token = %who.name, need = %need, "refused: the token's scope does not allow this");
            ApiError::new(
                ApiErrorCode::Forbidden,
                format!(
                    "the token `{}` has {} {}; this needs {need}",
                    who.name,
                    if who.scopes.len() == 1 { "scope" } else { "scopes" },
                    describe_scopes(&who.scopes)
                ),
            )
            .into_response()
        }
        Err(Refusal::NotConfigured) => ApiError::new(
            ApiErrorCode::AuthNotConfigured,
            "this service has no API token yet; create one with `msgops token create NAME --scope read` (or the single admin token: `msgops serve --create-token`)",
        )
        .into_response(),
        Err(Refusal::Missing) => ApiError::new(
            ApiErrorCode::Unauthorized,
            "send `Authorization: Bearer <token>`",
        )
        .into_response(),
        Err(Refusal::Wrong) => {
            ApiError::new(ApiErrorCode::Unauthorized, "the bearer token is not valid")
                .into_response()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// OpenAPI and the router

#[derive(OpenApi)]
#[openapi(
    info(
        title = "msgops service",
        description = "Health, metrics, guarded sends and events of the OTP messaging failover chains (SMS: AWS SNS → Twilio → Console; email: AWS SES → SendGrid → SMTP).",
    ),
    components(schemas(ApiError, ApiErrorCode, crate::events::ServiceEvent, crate::events::CodeSeen, crate::events::ListedCode, crate::events::Diagnostic, crate::webhooks::WebhookAccepted, crate::doc::OutcomeFilter, crate::doc::OriginKind)),
    modifiers(&BearerScheme),
    tags(
        (name = "health", description = "The backend's health endpoint, richer"),
        (name = "metrics", description = "Prometheus"),
        (name = "messages", description = "Sends through the chains"),
        (name = "events", description = "Live events, resumable with Last-Event-ID"),
        (name = "codes", description = "What the service's log watcher found in backend logs: one-time codes (scope `codes`) and diagnostics"),
        (name = "history", description = "The send history, with the providers' delivery reports; recipients masked without scope `codes`"),
        (name = "operations", description = "On-call controls: breaker reset and trial, probes, taking a provider out of its chain"),
        (name = "webhooks", description = "The providers' delivery reports, verified by their signatures (no bearer token)"),
    )
)]
struct ApiDoc;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A named token of `msgops token create NAME --scope read,codes,operate,admin` \
                         (kept hashed in `<data dir>/api-tokens.json`; a new or revoked one is in force at once), \
                         or the single legacy token of `msgops serve --create-token` / $MSGOPS_API_TOKEN, which is admin. \
                         Scopes: `read` — health, metrics, the OpenAPI document, the event stream without `code_seen`, \
                         the diagnostics, the send history with recipients masked; `codes` — read, `GET /api/v1/codes`, \
                         `code_seen` events and recipients in the history; `operate` — read, sends and on-call controls; `admin` — everything. A token without the scope an operation \
                         needs gets 403 `forbidden`.",
                    ))
                    .build(),
            ),
        );
    }
}

/// This OpenAPI document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "health",
    responses(
        (status = 200, description = "This OpenAPI 3 document", body = Object, content_type = "application/json"),
        (status = 401, description = "Listening beyond loopback and no or wrong bearer token", body = ApiError),
    )
)]
async fn openapi_json(State(state): State<ServiceState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        state.inner.openapi_json.clone(),
    )
        .into_response()
}

/// The routes by what they need.
struct Routes {
    /// Health, metrics, OpenAPI: open on loopback, `read` when the token guards everything.
    open: OpenApiRouter<ServiceState>,
    /// Events (without `code_seen` for tokens that lack `codes`) and diagnostics.
    read: OpenApiRouter<ServiceState>,
    /// The codes seen in backend logs.
    codes: OpenApiRouter<ServiceState>,
    /// Sends and on-call controls.
    operate: OpenApiRouter<ServiceState>,
    /// Never behind a token: verified by their senders' signatures.
    webhooks: OpenApiRouter<ServiceState>,
}

fn routes() -> Routes {
    Routes {
        open: OpenApiRouter::with_openapi(ApiDoc::openapi())
            .routes(routes!(health))
            .routes(routes!(metrics))
            .routes(routes!(openapi_json)),
        read: OpenApiRouter::new()
            .routes(routes!(events))
            .routes(routes!(diagnostics))
            .routes(routes!(crate::sends::sends))
            .routes(routes!(crate::sends::summary)),
        codes: OpenApiRouter::new().routes(routes!(codes)),
        operate: OpenApiRouter::new()
            .routes(routes!(send_sms))
            .routes(routes!(send_email))
            .routes(routes!(crate::controls::provider_control))
            .routes(routes!(crate::controls::provider_enabled)),
        webhooks: OpenApiRouter::new()
            .routes(routes!(crate::webhooks::twilio_webhook))
            .routes(routes!(crate::webhooks::sendgrid_webhook))
            .routes(routes!(crate::webhooks::sns_webhook)),
    }
}

/// The OpenAPI document as this service describes itself: with `auth` guarding everything,
/// every operation but the webhooks requires the bearer token.
pub fn openapi(auth: &ApiAuth) -> utoipa::openapi::OpenApi {
    let r = routes();
    let mut doc = r
        .open
        .merge(r.read)
        .merge(r.codes)
        .merge(r.operate)
        .merge(r.webhooks)
        .into_openapi();
    if auth.scope() == AuthScope::Everything {
        doc.security = Some(vec![SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);
    }
    doc
}

/// The whole HTTP API over `state`.
pub fn router(state: ServiceState) -> Router {
    let r = routes();
    let needs = |need: Scope| middleware::from_fn_with_state((state.clone(), need), require_token);
    let (open, _) = r.open.split_for_parts();
    let (read, _) = r.read.split_for_parts();
    let (codes, _) = r.codes.split_for_parts();
    let (operate, _) = r.operate.split_for_parts();
    let (webhooks, _) = r.webhooks.split_for_parts();
    // Inside the service-wide limit, so this one is in force for them.
    let webhooks = webhooks.layer(DefaultBodyLimit::max(
        crate::webhooks::MAX_WEBHOOK_BODY_BYTES,
    ));
    let open = if state.settings().auth.scope() == AuthScope::Everything {
        open.route_layer(needs(Scope::Read))
    } else {
        open
    };
    open.merge(read.route_layer(needs(Scope::Read)))
        .merge(codes.route_layer(needs(Scope::Codes)))
        .merge(operate.route_layer(needs(Scope::Operate)))
        .merge(webhooks)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .with_state(state)
}

/// The OpenAPI JSON for `auth`, made once per service.
pub(crate) fn openapi_bytes(auth: &ApiAuth) -> Bytes {
    openapi(auth)
        .to_json()
        .map(Bytes::from)
        .unwrap_or_else(|_| Bytes::from_static(b"{}"))
}
