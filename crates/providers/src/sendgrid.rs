//! SendGrid over its Web API v3: `POST {base}/mail/send` (202 Accepted is success) and, to
//! probe, `GET {base}/scopes`, which must include `mail.send`. Bearer auth with the API key.
//! The base URL is configurable as a whole (`https://api.sendgrid.com/v3`; Prism serves the
//! same paths without `/v3`).
//!
//! Classification: 401/403 → `Authentication` (rotate the key); 429 → `Throttled` with
//! `X-RateLimit-Reset`; 5xx → `Transient`; 400 → `Permanent` (the message itself was refused);
//! other 4xx → `Transient`.

use async_trait::async_trait;
use msgops_core::{EmailMessage, Provider, Receipt, SendError};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use crate::http;
use crate::redact::Redactor;
use crate::timeouts::Timeouts;

/// Everything a SendGrid provider needs. `Debug` never shows the key.
#[derive(Clone)]
pub struct SendGridSettings {
    pub base_url: String,
    pub api_key: SecretString,
    pub from: String,
    pub timeouts: Timeouts,
}

impl std::fmt::Debug for SendGridSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendGridSettings")
            .field("base_url", &self.base_url)
            .field("from", &self.from)
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}

pub struct SendGridProvider {
    settings: SendGridSettings,
    client: reqwest::Client,
    redactor: Redactor,
}

#[derive(Debug, Deserialize)]
struct Errors {
    #[serde(default)]
    errors: Vec<ErrorItem>,
}

#[derive(Debug, Deserialize)]
struct ErrorItem {
    message: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Scopes {
    #[serde(default)]
    scopes: Vec<String>,
}

impl SendGridProvider {
    pub fn new(settings: SendGridSettings) -> Result<Self, SendError> {
        let client = http::client(settings.timeouts)?;
        let redactor = Redactor::new([&settings.api_key]);
        Ok(Self {
            settings: SendGridSettings {
                base_url: settings.base_url.trim_end_matches('/').to_owned(),
                ..settings
            },
            client,
            redactor,
        })
    }

    /// The JSON body of `POST /mail/send` for a message.
    pub fn body(&self, message: &EmailMessage) -> serde_json::Value {
        json!({
            "personalizations": [{ "to": [{ "email": message.to }] }],
            "from": { "email": self.settings.from },
            "subject": message.subject,
            "content": [{ "type": "text/plain", "value": message.body }],
        })
    }

    fn transport(&self, e: reqwest::Error) -> SendError {
        self.redactor
            .error(http::transport_error("SendGrid", e, self.settings.timeouts))
    }
}

/// Turns a non-2xx SendGrid answer into a `SendError`.
pub fn classify(status: StatusCode, headers: &reqwest::header::HeaderMap, body: &str) -> SendError {
    let said = match serde_json::from_str::<Errors>(body) {
        Ok(e) if !e.errors.is_empty() => format!(
            "HTTP {}: {}",
            status.as_u16(),
            e.errors
                .into_iter()
                .filter_map(|e| e.message)
                .collect::<Vec<_>>()
                .join("; ")
        ),
        Err(_) if !body.trim().is_empty() => format!(
            "HTTP {} with a body that is not SendGrid's error JSON: {}",
            status.as_u16(),
            http::excerpt(body)
        ),
        _ => format!(
            "HTTP {} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("error")
        ),
    };
    let code = i64::from(status.as_u16());
    let e = match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => SendError::authentication(format!(
            "SendGrid refused the API key ({said}); rotate the SendGrid key (msgops creds rotate sendgrid)"
        )),
        StatusCode::TOO_MANY_REQUESTS => SendError::throttled(
            format!("SendGrid asked us to slow down: {said}"),
            http::rate_limit_reset(headers).or_else(|| http::retry_after(headers)),
        ),
        StatusCode::BAD_REQUEST => {
            SendError::permanent(format!("SendGrid refused this message: {said}"))
        }
        s if s.is_server_error() => SendError::transient(format!("SendGrid is unavailable: {said}")),
        _ => SendError::transient(format!("SendGrid rejected the request: {said}")),
    };
    e.with_code(code)
}

#[async_trait]
impl Provider<EmailMessage> for SendGridProvider {
    async fn send(&self, message: &EmailMessage) -> Result<Receipt, SendError> {
        let response = self
            .client
            .post(format!("{}/mail/send", self.settings.base_url))
            .bearer_auth(self.settings.api_key.expose_secret())
            .json(&self.body(message))
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.text().await.map_err(|e| self.transport(e))?;
        if status.is_success() {
            let id = headers
                .get("x-message-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            tracing::info!(provider = "sendgrid", to = %message.to, status = status.as_u16(), "email accepted by SendGrid");
            return Ok(Receipt {
                provider_message_id: id,
            });
        }
        Err(self.redactor.error(classify(status, &headers, &body)))
    }

    /// `GET {base}/scopes`: the key works and may send mail. Sends nothing. Like every probe,
    /// its result is shown but never counts toward the breaker.
    async fn probe(&self) -> Result<(), SendError> {
        let response = self
            .client
            .get(format!("{}/scopes", self.settings.base_url))
            .bearer_auth(self.settings.api_key.expose_secret())
            .send()
            .await
            .map_err(|e| {
                let mut e = self.transport(e);
                e.kind = msgops_core::ErrorKind::Transient;
                e
            })?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(self.redactor.error(classify(status, &headers, &body)));
        }
        let scopes: Scopes = serde_json::from_str(&body).map_err(|_| {
            self.redactor.error(SendError::transient(format!(
                "SendGrid answered /scopes with a body that is not a scope list: {}",
                http::excerpt(&body)
            )))
        })?;
        if scopes.scopes.iter().any(|s| s == "mail.send") {
            Ok(())
        } else {
            Err(SendError::authentication(
                "the SendGrid API key works but lacks the mail.send permission; create a key with Mail Send access",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use msgops_core::ErrorKind;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    #[test]
    fn statuses_map_to_kinds() {
        let h = reqwest::header::HeaderMap::new();
        let body = r#"{"errors":[{"field":null,"message":"The provided authorization grant is invalid, expired, or revoked"}]}"#;
        let e = classify(StatusCode::UNAUTHORIZED, &h, body);
        assert_eq!(
            (e.kind, e.provider_code),
            (ErrorKind::Authentication, Some(401))
        );
        assert!(e.message.contains("expired, or revoked"), "{}", e.message);
        assert_eq!(
            classify(StatusCode::FORBIDDEN, &h, "").kind,
            ErrorKind::Authentication
        );
        assert_eq!(
            classify(StatusCode::BAD_REQUEST, &h, "{}").kind,
            ErrorKind::Permanent
        );
        assert_eq!(
            classify(StatusCode::SERVICE_UNAVAILABLE, &h, "").kind,
            ErrorKind::Transient
        );
    }

    #[test]
    fn throttling_reads_x_ratelimit_reset() {
        let mut h = reqwest::header::HeaderMap::new();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        h.insert(
            "x-ratelimit-reset",
            (now + 30).to_string().parse().expect("value"),
        );
        let e = classify(StatusCode::TOO_MANY_REQUESTS, &h, "");
        assert_eq!(e.kind, ErrorKind::Throttled);
        let wait = e.retry_after.expect("a wait");
        assert!(
            wait <= Duration::from_secs(30) && wait >= Duration::from_secs(28),
            "{wait:?}"
        );
    }
}
