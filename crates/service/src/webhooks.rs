//! The providers' delivery callbacks over HTTP: `POST /api/v1/webhooks/twilio`,
//! `/api/v1/webhooks/sendgrid` and `/api/v1/webhooks/aws/sns`.
//!
//! They take no bearer token (a provider cannot send one): each request is verified against its
//! sender's signature (msgops-webhooks, on the raw body bytes) before anything is read from it
//! or stored. A refusal answers 403 `webhook_rejected`, is counted in
//! `msgops_webhook_rejected_total{source,reason}` and logged with its reason — never with the
//! body or a key.

use std::time::Duration;

use async_trait::async_trait;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use msgops_credentials::{ExposeSecret, SecretString};
use msgops_webhooks::sns::{SnsMessage, SnsSettings};
use msgops_webhooks::{RejectReason, Rejection};
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::{ApiError, ApiErrorCode};
use crate::state::ServiceState;

/// Largest webhook body accepted: SendGrid posts events in batches.
pub const MAX_WEBHOOK_BODY_BYTES: usize = 1024 * 1024;

/// How the webhooks verify their senders.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// `[service] public_url`: what precedes the path in the URL the providers call.
    pub public_url: Option<String>,
    pub sendgrid_replay_window: Duration,
    pub sns: SnsSettings,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            public_url: None,
            sendgrid_replay_window: msgops_webhooks::sendgrid::DEFAULT_REPLAY_WINDOW,
            sns: SnsSettings::default(),
        }
    }
}

/// The keys the webhooks are verified with, read where the credentials are kept.
#[async_trait]
pub trait WebhookSecrets: Send + Sync {
    /// Twilio auth tokens: the current one first, then the previous one during its grace
    /// period after a rotation. Empty when Twilio has no credentials.
    async fn twilio_auth_tokens(&self) -> Vec<SecretString>;
    /// SendGrid's Event Webhook verification key (base64 DER), when stored.
    async fn sendgrid_public_key(&self) -> Option<String>;
    /// The Twilio tokens read again now (a signature that did not verify may be made with a
    /// token rotated a moment ago); by default the same as [`Self::twilio_auth_tokens`].
    async fn twilio_auth_tokens_now(&self) -> Vec<SecretString> {
        self.twilio_auth_tokens().await
    }
}

/// No keys: every signed webhook is refused as `not_configured`.
#[derive(Debug, Default)]
pub struct NoWebhookSecrets;

#[async_trait]
impl WebhookSecrets for NoWebhookSecrets {
    async fn twilio_auth_tokens(&self) -> Vec<SecretString> {
        Vec::new()
    }
    async fn sendgrid_public_key(&self) -> Option<String> {
        None
    }
}

/// The answer to an accepted webhook.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookAccepted {
    /// Reports new to msgops.
    #[schema(minimum = 0)]
    pub new: usize,
    /// Reports already received (a provider's retry), dropped.
    #[schema(minimum = 0)]
    pub duplicates: usize,
    /// Messages sent again through the next provider.
    #[schema(minimum = 0)]
    pub resent: usize,
}

/// The raw body, or the answer for one that could not be read (413 `payload_too_large` past
/// [`MAX_WEBHOOK_BODY_BYTES`]).
fn raw_body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                ApiErrorCode::PayloadTooLarge,
                format!("the body is larger than {MAX_WEBHOOK_BODY_BYTES} bytes"),
            )
        } else {
            ApiError::new(ApiErrorCode::Validation, rejection.body_text())
        }
    })
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn refuse(state: &ServiceState, source: &'static str, rejection: &Rejection) -> Response {
    state
        .metrics()
        .record_webhook_rejected(source, rejection.reason.as_str());
    tracing::warn!(
        source,
        reason = rejection.reason.as_str(),
        detail = %rejection.detail,
        "webhook refused"
    );
    ApiError::new(
        ApiErrorCode::WebhookRejected,
        format!(
            "{source} webhook refused: {}",
            rejection.reason.as_str().replace('_', " ")
        ),
    )
    .into_response()
}

async fn ingest(state: &ServiceState, events: Vec<msgops_delivery::DeliveryEvent>) -> Response {
    match state.ingest_deliveries(events).await {
        Ok(done) => (
            StatusCode::OK,
            axum::Json(WebhookAccepted {
                new: done.new,
                duplicates: done.duplicates,
                resent: done.resent,
            }),
        )
            .into_response(),
        // The provider retries: nothing is lost.
        Err(e) => ApiError::new(
            ApiErrorCode::Internal,
            format!("the report could not be kept ({e}); retry later"),
        )
        .into_response(),
    }
}

/// Twilio's StatusCallback (form-encoded, or JSON with `bodySHA256`), verified by its
/// `X-Twilio-Signature` over `[service] public_url` + the path and query it called.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/twilio",
    tag = "webhooks",
    security(()),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Twilio's StatusCallback parameters (MessageSid, MessageStatus, ErrorCode, ...)"),
    params(("X-Twilio-Signature" = String, Header, description = "Base64 HMAC-SHA1 of the URL and the sorted parameters, keyed by the auth token")),
    responses(
        (status = 200, description = "Verified and kept", body = WebhookAccepted),
        (status = 403, description = "Unsigned, forged, or not configured (no public_url or no Twilio credentials)", body = ApiError),
        (status = 413, description = "The body is larger than 1 MiB", body = ApiError),
        (status = 500, description = "Verified but not kept; Twilio retries", body = ApiError),
    )
)]
pub(crate) async fn twilio_webhook(
    State(state): State<ServiceState>,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match raw_body(body) {
        Ok(b) => b,
        Err(answer) => return answer.into_response(),
    };
    let settings = &state.settings().webhooks;
    let Some(base) = settings.public_url.as_deref() else {
        return refuse(
            &state,
            "twilio",
            &Rejection::new(
                RejectReason::NotConfigured,
                "[service] public_url is not set: the URL Twilio signed is unknown",
            ),
        );
    };
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let url = format!("{}{path}", base.trim_end_matches('/'));
    let request = msgops_webhooks::twilio::TwilioRequest {
        url: &url,
        body: &body,
        content_type: header(&headers, "content-type"),
        signature: header(&headers, "x-twilio-signature"),
    };
    let verify = |tokens: &[SecretString]| {
        let exposed: Vec<&str> = tokens.iter().map(|t| t.expose_secret()).collect();
        msgops_webhooks::twilio::verify(&request, &exposed)
    };
    let mut verified = verify(&state.inner.secrets.twilio_auth_tokens().await);
    if matches!(&verified, Err(r) if r.reason == RejectReason::BadSignature) {
        // Signed with a token rotated since the keys were last read? Read them again once.
        verified = verify(&state.inner.secrets.twilio_auth_tokens_now().await);
    }
    if let Err(rejection) = verified {
        return refuse(&state, "twilio", &rejection);
    }
    match msgops_webhooks::twilio::parse_status_callback(&body, Utc::now()) {
        Ok(events) => ingest(&state, events).await,
        Err(rejection) => refuse(&state, "twilio", &rejection),
    }
}

/// SendGrid's signed Event Webhook: ECDSA P-256 over the timestamp header and the raw body,
/// within the replay window; duplicates dropped by `sg_event_id`.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/sendgrid",
    tag = "webhooks",
    security(()),
    request_body(content = String, content_type = "application/json", description = "A JSON array of SendGrid events"),
    params(
        ("X-Twilio-Email-Event-Webhook-Signature" = String, Header, description = "Base64 DER ECDSA signature"),
        ("X-Twilio-Email-Event-Webhook-Timestamp" = String, Header, description = "Unix seconds"),
    ),
    responses(
        (status = 200, description = "Verified and kept", body = WebhookAccepted),
        (status = 403, description = "Unsigned, forged, stale, or no verification key stored", body = ApiError),
        (status = 413, description = "The body is larger than 1 MiB", body = ApiError),
        (status = 500, description = "Verified but not kept; SendGrid retries", body = ApiError),
    )
)]
pub(crate) async fn sendgrid_webhook(
    State(state): State<ServiceState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match raw_body(body) {
        Ok(b) => b,
        Err(answer) => return answer.into_response(),
    };
    let Some(key) = state.inner.secrets.sendgrid_public_key().await else {
        return refuse(
            &state,
            "sendgrid",
            &Rejection::new(
                RejectReason::NotConfigured,
                "no SendGrid Event Webhook verification key is stored (msgops creds webhook-key sendgrid)",
            ),
        );
    };
    let now = Utc::now();
    if let Err(rejection) = msgops_webhooks::sendgrid::verify(
        &key,
        header(&headers, "x-twilio-email-event-webhook-timestamp"),
        header(&headers, "x-twilio-email-event-webhook-signature"),
        &body,
        now,
        state.settings().webhooks.sendgrid_replay_window,
    ) {
        return refuse(&state, "sendgrid", &rejection);
    }
    match msgops_webhooks::sendgrid::parse_events(&body, now) {
        Ok(events) => ingest(&state, events).await,
        Err(rejection) => refuse(&state, "sendgrid", &rejection),
    }
}

/// An SNS HTTP(S) subscription: SES event records as notifications, verified by their
/// SignatureVersion 1 or 2 signature and the certificate at `SigningCertURL` (https on an
/// `sns.<region>.amazonaws.com` host); subscriptions confirmed only for the configured topics.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/aws/sns",
    tag = "webhooks",
    security(()),
    request_body(content = String, content_type = "text/plain", description = "An SNS message (Notification, SubscriptionConfirmation, UnsubscribeConfirmation) as JSON"),
    responses(
        (status = 200, description = "Verified: kept, or the subscription confirmed", body = WebhookAccepted),
        (status = 403, description = "Unsigned, forged, stale, an untrusted certificate or a topic not configured", body = ApiError),
        (status = 413, description = "The body is larger than 1 MiB", body = ApiError),
        (status = 500, description = "Verified but not kept, or the confirmation failed; SNS retries", body = ApiError),
    )
)]
pub(crate) async fn sns_webhook(
    State(state): State<ServiceState>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match raw_body(body) {
        Ok(b) => b,
        Err(answer) => return answer.into_response(),
    };
    let now = Utc::now();
    let message = match state.inner.sns.verify(&body, now).await {
        Ok(m) => m,
        Err(rejection) => return refuse(&state, "sns", &rejection),
    };
    match &message {
        SnsMessage::Notification {
            message_id,
            message: record,
            ..
        } => match msgops_webhooks::ses::parse_event_record(record, message_id, now) {
            Ok(events) => ingest(&state, events).await,
            Err(rejection) => refuse(&state, "sns", &rejection),
        },
        SnsMessage::SubscriptionConfirmation { topic_arn, .. } => {
            match state.inner.sns.confirm_subscription(&message).await {
                Ok(()) => {
                    tracing::info!(%topic_arn, "SNS subscription confirmed");
                    (
                        StatusCode::OK,
                        axum::Json(WebhookAccepted {
                            new: 0,
                            duplicates: 0,
                            resent: 0,
                        }),
                    )
                        .into_response()
                }
                Err(e) => {
                    tracing::error!(%topic_arn, error = %e, "SNS subscription could not be confirmed");
                    ApiError::new(
                        ApiErrorCode::Internal,
                        format!("the subscription to {topic_arn} could not be confirmed: {e}"),
                    )
                    .into_response()
                }
            }
        }
        SnsMessage::UnsubscribeConfirmation { topic_arn, .. } => {
            tracing::warn!(%topic_arn, "SNS says this endpoint was unsubscribed");
            (
                StatusCode::OK,
                axum::Json(WebhookAccepted {
                    new: 0,
                    duplicates: 0,
                    resent: 0,
                }),
            )
                .into_response()
        }
    }
}

/// The webhook keys as the keychain holds them now, read at most once a second (a rotation is
/// in force for the webhooks within that), off the runtime.
pub struct KeychainWebhookSecrets {
    store: std::sync::Arc<dyn msgops_credentials::CredentialStore>,
    grace: Duration,
    cached: tokio::sync::Mutex<Option<(std::time::Instant, CachedKeys)>>,
}

#[derive(Clone)]
struct CachedKeys {
    twilio: Vec<SecretString>,
    sendgrid: Option<String>,
}

/// How long keys read from the keychain are used before it is read again.
const KEYS_FOR: Duration = Duration::from_secs(1);
/// A signature that did not verify reads the keys again, at most this often (a stream of
/// forged requests costs at most four keychain reads a second).
const RECHECK_AT_MOST_EVERY: Duration = Duration::from_millis(250);

impl KeychainWebhookSecrets {
    /// `grace`: how long Twilio's previous auth token is accepted after a rotation.
    pub fn new(
        store: std::sync::Arc<dyn msgops_credentials::CredentialStore>,
        grace: Duration,
    ) -> Self {
        Self {
            store,
            grace,
            cached: tokio::sync::Mutex::new(None),
        }
    }

    /// The keys, read again when older than `max_age`.
    async fn keys(&self, max_age: Duration) -> CachedKeys {
        let mut cached = self.cached.lock().await;
        if let Some((at, keys)) = cached.as_ref() {
            if at.elapsed() < max_age {
                return keys.clone();
            }
        }
        let store = self.store.clone();
        let grace = self.grace;
        let read = msgops_credentials::off_the_runtime(
            "read the webhook keys",
            msgops_credentials::DEFAULT_KEYCHAIN_TASK_TIMEOUT,
            move || {
                Ok(CachedKeys {
                    twilio: msgops_credentials::twilio_auth_tokens(
                        store.as_ref(),
                        Utc::now(),
                        grace,
                    )?,
                    sendgrid: msgops_credentials::sendgrid_webhook_key(store.as_ref())?,
                })
            },
        )
        .await;
        match read {
            Ok(keys) => {
                *cached = Some((std::time::Instant::now(), keys.clone()));
                keys
            }
            Err(e) => {
                // Keeps verifying with what it had: a keychain hiccup is no reason to refuse.
                tracing::warn!(error = %e, "could not read the webhook keys from the keychain");
                cached.as_ref().map_or(
                    CachedKeys {
                        twilio: Vec::new(),
                        sendgrid: None,
                    },
                    |(_, k)| k.clone(),
                )
            }
        }
    }
}

#[async_trait]
impl WebhookSecrets for KeychainWebhookSecrets {
    async fn twilio_auth_tokens(&self) -> Vec<SecretString> {
        self.keys(KEYS_FOR).await.twilio
    }
    async fn sendgrid_public_key(&self) -> Option<String> {
        self.keys(KEYS_FOR).await.sendgrid
    }
    async fn twilio_auth_tokens_now(&self) -> Vec<SecretString> {
        self.keys(RECHECK_AT_MOST_EVERY).await.twilio
    }
}
