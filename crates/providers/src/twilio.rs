//! Twilio over its REST API (2010-04-01): `POST /Accounts/{Sid}/Messages.json` to send, `GET
//! /Accounts/{Sid}.json` to probe. HTTP Basic auth with the account SID and auth token.
//!
//! Classification of Twilio's answers (its error body is
//! `{"code": 20003, "message": "Authenticate", "more_info": ..., "status": 401}`):
//! 20003 / HTTP 401 / 403 → `Authentication` (rotate the key); invalid or unreachable recipient
//! codes (21211, 21214, 21217, 21401, 21407, 21408, 21610, 21612, 21614) → `Permanent`;
//! HTTP 429 / 20429 → `Throttled` with `Retry-After`; 5xx, other 4xx (our sender or account
//! set-up, not the recipient) and bodies that are not Twilio's JSON → `Transient`.

use async_trait::async_trait;
use msgops_core::{Provider, Receipt, SendError, SmsMessage};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::http;
use crate::redact::Redactor;
use crate::timeouts::Timeouts;

/// Who the SMS comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TwilioSender {
    /// An E.164 number (`TWILIO_PHONE_NUMBER`), sent as `From`.
    Number(String),
    /// A Messaging Service SID (`MG...`), sent as `MessagingServiceSid`.
    MessagingService(String),
}

/// Everything a Twilio provider needs. `Debug` never shows the SID or the token.
#[derive(Clone)]
pub struct TwilioSettings {
    /// `https://api.twilio.com` (or a local stand-in); the `/2010-04-01/...` path is appended.
    pub base_url: String,
    pub account_sid: SecretString,
    pub auth_token: SecretString,
    pub sender: TwilioSender,
    pub timeouts: Timeouts,
}

impl std::fmt::Debug for TwilioSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioSettings")
            .field("base_url", &self.base_url)
            .field("sender", &self.sender)
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}

pub struct TwilioProvider {
    settings: TwilioSettings,
    client: reqwest::Client,
    redactor: Redactor,
}

/// Twilio error codes that mean "this recipient cannot get this SMS", whatever provider tries.
pub const RECIPIENT_ERROR_CODES: [i64; 9] = [
    21211, // invalid 'To' phone number
    21214, // 'To' number cannot be reached
    21217, // phone number does not appear to be valid
    21401, // invalid phone number
    21407, // this phone number type does not support SMS
    21408, // permission to send to this region is not enabled
    21610, // recipient unsubscribed (STOP)
    21612, // 'To' number is not currently reachable via SMS
    21614, // 'To' number is not a valid mobile number
];

#[derive(Debug, Deserialize)]
struct TwilioErrorBody {
    code: Option<serde_json::Value>,
    message: Option<String>,
    more_info: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TwilioMessage {
    sid: String,
}

impl TwilioProvider {
    pub fn new(settings: TwilioSettings) -> Result<Self, SendError> {
        if !settings
            .account_sid
            .expose_secret()
            .chars()
            .all(|c| c.is_ascii_alphanumeric())
        {
            return Err(SendError::authentication(
                "the Twilio account SID may only contain letters and digits (it starts with AC)",
            ));
        }
        let client = http::client(settings.timeouts)?;
        let redactor = Redactor::new([&settings.account_sid, &settings.auth_token]);
        Ok(Self {
            settings: TwilioSettings {
                base_url: settings.base_url.trim_end_matches('/').to_owned(),
                ..settings
            },
            client,
            redactor,
        })
    }

    fn account_url(&self, suffix: &str) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}{suffix}",
            self.settings.base_url,
            self.settings.account_sid.expose_secret()
        )
    }

    /// The form fields of a send, in the order they are sent.
    pub fn form(&self, message: &SmsMessage) -> Vec<(&'static str, String)> {
        let mut form = vec![("To", message.to.clone())];
        match &self.settings.sender {
            TwilioSender::Number(n) => form.push(("From", n.clone())),
            TwilioSender::MessagingService(s) => form.push(("MessagingServiceSid", s.clone())),
        }
        form.push(("Body", message.body.clone()));
        form
    }

    /// Sends these form fields as a Messages.json request (tests use it to send a request
    /// with a field left out, to prove the contract check can fail).
    pub async fn post_message_form(
        &self,
        form: &[(&str, String)],
    ) -> Result<reqwest::Response, SendError> {
        self.client
            .post(self.account_url("/Messages.json"))
            .basic_auth(
                self.settings.account_sid.expose_secret(),
                Some(self.settings.auth_token.expose_secret()),
            )
            .form(form)
            .send()
            .await
            .map_err(|e| {
                self.redactor
                    .error(http::transport_error("Twilio", e, self.settings.timeouts))
            })
    }

    async fn read_body(&self, response: reqwest::Response) -> Result<String, SendError> {
        response.text().await.map_err(|e| {
            self.redactor
                .error(http::transport_error("Twilio", e, self.settings.timeouts))
        })
    }
}

/// Turns a non-2xx Twilio answer into a `SendError`.
pub fn classify(
    status: StatusCode,
    retry_after: Option<std::time::Duration>,
    body: &str,
) -> SendError {
    let parsed: Option<TwilioErrorBody> = serde_json::from_str(body).ok();
    let code = parsed.as_ref().and_then(|b| match &b.code {
        Some(serde_json::Value::Number(n)) => n.as_i64(),
        Some(serde_json::Value::String(s)) => s.parse().ok(),
        _ => None,
    });
    let words = parsed.as_ref().and_then(|b| b.message.clone());
    let more = parsed
        .as_ref()
        .and_then(|b| b.more_info.clone())
        .map(|m| format!(" (see {m})"))
        .unwrap_or_default();
    let said = match (code, &words) {
        (Some(c), Some(w)) => format!("HTTP {}, Twilio error {c}: {w}{more}", status.as_u16()),
        (Some(c), None) => format!("HTTP {}, Twilio error {c}{more}", status.as_u16()),
        (None, Some(w)) => format!("HTTP {}: {w}{more}", status.as_u16()),
        (None, None) if parsed.is_none() && !body.trim().is_empty() => format!(
            "HTTP {} with a body that is not Twilio's error JSON: {}",
            status.as_u16(),
            http::excerpt(body)
        ),
        (None, None) => format!(
            "HTTP {} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("error")
        ),
    };
    let with_code = |e: SendError| e.with_code(code.unwrap_or(i64::from(status.as_u16())));

    if status == StatusCode::TOO_MANY_REQUESTS || code == Some(20429) {
        return with_code(SendError::throttled(
            format!("Twilio asked us to slow down: {said}"),
            retry_after,
        ));
    }
    if code == Some(20003) || status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN
    {
        return with_code(SendError::authentication(format!(
            "Twilio refused the account SID or auth token ({said}); rotate the Twilio credentials (msgops creds rotate twilio)"
        )));
    }
    if code.is_some_and(|c| RECIPIENT_ERROR_CODES.contains(&c)) {
        return with_code(SendError::permanent(format!(
            "Twilio cannot deliver to this number: {said}"
        )));
    }
    if status.is_server_error() {
        return with_code(SendError::transient(format!(
            "Twilio is unavailable: {said}"
        )));
    }
    with_code(SendError::transient(format!(
        "Twilio rejected the request: {said}"
    )))
}

#[async_trait]
impl Provider<SmsMessage> for TwilioProvider {
    async fn send(&self, message: &SmsMessage) -> Result<Receipt, SendError> {
        let form = self.form(message);
        let response = self.post_message_form(&form).await?;
        let status = response.status();
        let retry_after = http::retry_after(response.headers());
        let body = self.read_body(response).await?;
        if status.is_success() {
            return match serde_json::from_str::<TwilioMessage>(&body) {
                Ok(m) => {
                    tracing::info!(provider = "twilio", to = %message.to, sid = %m.sid, "SMS accepted by Twilio");
                    Ok(Receipt {
                        provider_message_id: Some(m.sid),
                    })
                }
                Err(_) => Err(self.redactor.error(
                    SendError::transient(format!(
                        "Twilio answered HTTP {} with a body that is not a Message resource: {}",
                        status.as_u16(),
                        http::excerpt(&body)
                    ))
                    .with_code(i64::from(status.as_u16())),
                )),
            };
        }
        Err(self.redactor.error(classify(status, retry_after, &body)))
    }

    /// `GET /2010-04-01/Accounts/{Sid}.json`: reachable and the credentials work. Sends nothing.
    /// Like every probe, its result is shown but never counts toward the breaker.
    async fn probe(&self) -> Result<(), SendError> {
        let response = self
            .client
            .get(self.account_url(".json"))
            .basic_auth(
                self.settings.account_sid.expose_secret(),
                Some(self.settings.auth_token.expose_secret()),
            )
            .send()
            .await
            .map_err(|e| {
                // Nothing is sent by a probe, so a late answer is just "unavailable".
                let mut e = http::transport_error("Twilio", e, self.settings.timeouts);
                e.kind = msgops_core::ErrorKind::Transient;
                self.redactor.error(e)
            })?;
        let status = response.status();
        let retry_after = http::retry_after(response.headers());
        let body = self.read_body(response).await.unwrap_or_default();
        if status.is_success() {
            Ok(())
        } else {
            Err(self.redactor.error(classify(status, retry_after, &body)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use msgops_core::ErrorKind;
    use std::time::Duration;

    #[test]
    fn the_incident_401_is_authentication_with_code_20003_and_says_rotate() {
        let body = r#"{"code": 20003, "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401}"#;
        let e = classify(StatusCode::UNAUTHORIZED, None, body);
        assert_eq!(e.kind, ErrorKind::Authentication);
        assert_eq!(e.provider_code, Some(20003));
        assert!(e.message.contains("rotate"), "{}", e.message);
        assert!(
            e.message.contains("Twilio error 20003: Authenticate"),
            "{}",
            e.message
        );
    }

    #[test]
    fn invalid_numbers_are_permanent_and_throttling_keeps_retry_after() {
        let e = classify(
            StatusCode::BAD_REQUEST,
            None,
            r#"{"code": 21211, "message": "The 'To' number +1 is not a valid phone number.", "status": 400}"#,
        );
        assert_eq!(
            (e.kind, e.provider_code),
            (ErrorKind::Permanent, Some(21211))
        );
        let e = classify(
            StatusCode::TOO_MANY_REQUESTS,
            Some(Duration::from_secs(3)),
            r#"{"code": 20429, "message": "Too Many Requests", "status": 429}"#,
        );
        assert_eq!(e.kind, ErrorKind::Throttled);
        assert_eq!(e.retry_after, Some(Duration::from_secs(3)));
    }

    #[test]
    fn server_errors_and_malformed_bodies_are_transient() {
        let e = classify(StatusCode::BAD_GATEWAY, None, "<html>bad gateway</html>");
        assert_eq!(e.kind, ErrorKind::Transient);
        assert!(
            e.message.contains("not Twilio's error JSON"),
            "{}",
            e.message
        );
        assert_eq!(e.provider_code, Some(502));
    }
}
