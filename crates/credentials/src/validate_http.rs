//! A small HTTP [`CredentialValidator`] for Twilio and SendGrid, the two providers whose
//! credentials expired in the incident. AWS and SMTP validation live in the providers crate.
//!
//! Each check is a read-only request that sends no message. Base URLs are configurable so
//! tests can point them at a local server. Error texts never include the request URL (it
//! contains the Twilio account SID).

use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;

use crate::provider::{CredentialProvider, SecretKind};
use crate::rotate::{CredentialSet, CredentialValidator, ValidationFailure, ValidationFailureKind};

pub const TWILIO_DEFAULT_BASE_URL: &str = "https://api.twilio.com";
pub const SENDGRID_DEFAULT_BASE_URL: &str = "https://api.sendgrid.com/v3";

#[derive(Debug, Clone)]
pub struct HttpValidator {
    client: reqwest::Client,
    twilio_base_url: String,
    sendgrid_base_url: String,
}

impl HttpValidator {
    /// A validator against the real APIs, with a 15 s timeout per request.
    pub fn new() -> crate::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .user_agent(concat!("msgops/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| crate::CredentialError::ProviderUnreachable {
                provider: "HTTP client".into(),
                message: e.without_url().to_string(),
            })?;
        Ok(Self {
            client,
            twilio_base_url: TWILIO_DEFAULT_BASE_URL.into(),
            sendgrid_base_url: SENDGRID_DEFAULT_BASE_URL.into(),
        })
    }

    /// E.g. `http://127.0.0.1:PORT` in tests. The `/2010-04-01/Accounts/...` path is appended.
    pub fn with_twilio_base_url(mut self, url: impl Into<String>) -> Self {
        self.twilio_base_url = url.into().trim_end_matches('/').to_owned();
        self
    }

    /// E.g. `http://127.0.0.1:PORT/v3` in tests. `/scopes` is appended.
    pub fn with_sendgrid_base_url(mut self, url: impl Into<String>) -> Self {
        self.sendgrid_base_url = url.into().trim_end_matches('/').to_owned();
        self
    }

    async fn twilio(&self, set: &CredentialSet) -> Result<(), ValidationFailure> {
        let (Some(sid), Some(token)) = (
            set.expose(SecretKind::TwilioAccountSid),
            set.expose(SecretKind::TwilioAuthToken),
        ) else {
            return Err(ValidationFailure::rejected(
                "account SID and auth token are both needed",
            ));
        };
        if !sid.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(ValidationFailure::rejected(
                "the account SID may only contain letters and digits (it starts with AC)",
            ));
        }
        let url = format!("{}/2010-04-01/Accounts/{sid}.json", self.twilio_base_url);
        let response = self
            .client
            .get(url)
            .basic_auth(sid, Some(token))
            .send()
            .await
            .map_err(|e| ValidationFailure::unreachable(describe(e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        Err(twilio_failure(status, &body))
    }

    async fn sendgrid(&self, set: &CredentialSet) -> Result<(), ValidationFailure> {
        let Some(key) = set.expose(SecretKind::SendgridApiKey) else {
            return Err(ValidationFailure::rejected("the API key is needed"));
        };
        let response = self
            .client
            .get(format!("{}/scopes", self.sendgrid_base_url))
            .bearer_auth(key)
            .send()
            .await
            .map_err(|e| ValidationFailure::unreachable(describe(e)))?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if status.is_success() {
            let scopes: SendgridScopes = serde_json::from_str(&body).map_err(|_| {
                ValidationFailure::unreachable("SendGrid answered /scopes with an unexpected body")
            })?;
            if scopes.scopes.iter().any(|s| s == "mail.send") {
                return Ok(());
            }
            return Err(ValidationFailure {
                kind: ValidationFailureKind::Rejected,
                message: "the API key is valid but lacks the mail.send permission; create a key with Mail Send access".into(),
                http_status: Some(status.as_u16()),
                provider_code: None,
            });
        }
        Err(sendgrid_failure(status, &body))
    }
}

#[async_trait::async_trait]
impl CredentialValidator for HttpValidator {
    async fn validate(&self, credentials: &CredentialSet) -> Result<(), ValidationFailure> {
        match credentials.provider() {
            CredentialProvider::Twilio => self.twilio(credentials).await,
            CredentialProvider::Sendgrid => self.sendgrid(credentials).await,
            other => Err(ValidationFailure {
                kind: ValidationFailureKind::Unsupported,
                message: format!(
                    "{other} credentials cannot be checked by the built-in HTTP validator (only Twilio and SendGrid)"
                ),
                http_status: None,
                provider_code: None,
            }),
        }
    }
}

/// The error and its causes ("error sending request: ... Connection refused"), without the
/// URL (which can carry an account SID). Shared with the providers crate.
pub fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Twilio's error body: `{"code": 20003, "message": "Authenticate", "more_info": ..., "status": 401}`.
#[derive(Debug, Deserialize)]
struct TwilioError {
    code: Option<serde_json::Value>,
    message: Option<String>,
    more_info: Option<String>,
}

fn kind_for(status: StatusCode) -> ValidationFailureKind {
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        ValidationFailureKind::Unreachable
    } else {
        ValidationFailureKind::Rejected
    }
}

fn twilio_failure(status: StatusCode, body: &str) -> ValidationFailure {
    let parsed: Option<TwilioError> = serde_json::from_str(body).ok();
    let code = parsed
        .as_ref()
        .and_then(|e| e.code.as_ref())
        .map(|c| match c {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        });
    let text = parsed.as_ref().and_then(|e| e.message.clone());
    let more = parsed.as_ref().and_then(|e| e.more_info.clone());
    let mut message = format!("HTTP {}", status.as_u16());
    match (&code, &text) {
        (Some(code), Some(text)) => message.push_str(&format!(", Twilio error {code}: {text}")),
        (None, Some(text)) => message.push_str(&format!(": {text}")),
        (Some(code), None) => message.push_str(&format!(", Twilio error {code}")),
        (None, None) => message.push_str(&format!(
            " {}",
            status.canonical_reason().unwrap_or("error")
        )),
    }
    if let Some(more) = more {
        message.push_str(&format!(" (see {more})"));
    }
    ValidationFailure {
        kind: kind_for(status),
        message,
        http_status: Some(status.as_u16()),
        provider_code: code,
    }
}

#[derive(Debug, Deserialize)]
struct SendgridScopes {
    #[serde(default)]
    scopes: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct SendgridErrors {
    #[serde(default)]
    errors: Vec<SendgridError>,
}

#[derive(Debug, Deserialize)]
struct SendgridError {
    message: Option<String>,
}

fn sendgrid_failure(status: StatusCode, body: &str) -> ValidationFailure {
    let messages: Vec<String> = serde_json::from_str::<SendgridErrors>(body)
        .map(|e| e.errors.into_iter().filter_map(|e| e.message).collect())
        .unwrap_or_default();
    let message = if messages.is_empty() {
        format!(
            "HTTP {} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("error")
        )
    } else {
        format!("HTTP {}: {}", status.as_u16(), messages.join("; "))
    };
    ValidationFailure {
        kind: kind_for(status),
        message,
        http_status: Some(status.as_u16()),
        provider_code: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_20003_body_becomes_a_clear_message() {
        let body = r#"{"code": 20003, "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401}"#;
        let failure = twilio_failure(StatusCode::UNAUTHORIZED, body);
        assert_eq!(failure.kind, ValidationFailureKind::Rejected);
        assert_eq!(failure.provider_code.as_deref(), Some("20003"));
        assert_eq!(
            failure.message,
            "HTTP 401, Twilio error 20003: Authenticate (see https://www.twilio.com/docs/errors/20003)"
        );
    }

    #[test]
    fn twilio_non_json_body_still_says_the_status() {
        let failure = twilio_failure(StatusCode::SERVICE_UNAVAILABLE, "<html>");
        assert_eq!(failure.kind, ValidationFailureKind::Unreachable);
        assert_eq!(failure.message, "HTTP 503 Service Unavailable");
    }

    #[test]
    fn sendgrid_error_list_is_joined() {
        let body = r#"{"errors":[{"field":null,"message":"authorization required"}]}"#;
        let failure = sendgrid_failure(StatusCode::UNAUTHORIZED, body);
        assert_eq!(failure.message, "HTTP 401: authorization required");
        assert_eq!(failure.kind, ValidationFailureKind::Rejected);
    }
}
