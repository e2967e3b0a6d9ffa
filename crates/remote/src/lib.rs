//! The client of a remote `msgops serve`: what a support desk away from the backend host uses
//! (the CLI's `msgops remote`, and the app's connections).
//!
//! - **HTTPS beyond loopback**: a plain `http://` URL is accepted only for a loopback host;
//!   anything else is refused before a connection is made.
//! - **Trust**: the server's certificate is pinned by its SHA-256 fingerprint (trust on first
//!   use: [`first_look`] reads it, without sending a token, for the user to compare with what
//!   `msgops serve` printed), or verified against the system roots. A pinned server presenting
//!   another certificate is refused with [`RemoteError::CertificateChanged`].
//! - **The token** is held as a `SecretString`, sent only as the bearer header, and never part
//!   of an error or a log line.

mod events;
mod trust;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

pub use events::{SseEvent, StreamNews};
pub use trust::{Fingerprint, Trust};

/// Why talking to the service failed, in plain words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteError {
    #[error("`{url}` is not a service address like https://ops.example.com:5024")]
    BadUrl { url: String },
    #[error(
        "refusing plain HTTP to {host}: beyond loopback the service must be reached over https://"
    )]
    PlainHttpRefused { host: String },
    #[error("the service's certificate changed: pinned {pinned}, presented {presented}. If the service's certificate was replaced on purpose, compare the new fingerprint with what `msgops serve` prints and pin it again; otherwise someone may be in between")]
    CertificateChanged {
        pinned: Fingerprint,
        presented: Fingerprint,
    },
    #[error("the service's certificate is not trusted: {0}")]
    Untrusted(String),
    #[error("could not reach the service: {0}")]
    Unreachable(String),
    #[error("the service refused the token (HTTP {status}): {message}")]
    Refused { status: u16, message: String },
    #[error("the service answered HTTP {status}: {message}")]
    Http { status: u16, message: String },
}

impl RemoteError {
    /// The service's `{code, message}` answer as an error.
    pub(crate) async fn from_status(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
            .unwrap_or(text);
        if matches!(status, 401 | 403) {
            Self::Refused { status, message }
        } else {
            Self::Http { status, message }
        }
    }
}

/// `?a=1&b=x` of the fields of `filter` that are set (an empty string when none are).
fn query_of(filter: &impl serde::Serialize) -> String {
    let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(filter) else {
        return String::new();
    };
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    let mut any = false;
    for (name, value) in fields {
        let value = match value {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            _ => continue,
        };
        query.append_pair(&name, &value);
        any = true;
    }
    if any {
        format!("?{}", query.finish())
    } else {
        String::new()
    }
}

/// Whether `host` is this machine.
fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// The service's base URL, checked: https, or http to loopback only.
pub fn check_url(url: &str) -> Result<url::Url, RemoteError> {
    let bad = || RemoteError::BadUrl { url: url.into() };
    let parsed = url::Url::parse(url.trim()).map_err(|_| bad())?;
    let host = parsed.host().ok_or_else(bad)?;
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if is_loopback(&host) => Ok(parsed),
        "http" => Err(RemoteError::PlainHttpRefused {
            host: host.to_string(),
        }),
        _ => Err(bad()),
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The certificate the server presented last, as the verifier noted it.
type Presented = Arc<Mutex<Option<Fingerprint>>>;

/// An HTTP client for `url` (checked with [`check_url`]) trusting its server as `trust` says,
/// for callers that build their own requests (`msgops health|send|breaker --url`). Any
/// request taking longer than `timeout` fails.
pub fn http_client(
    url: &str,
    trust: Trust,
    timeout: Duration,
) -> Result<reqwest::Client, RemoteError> {
    check_url(url)?;
    if trust == Trust::FirstLook {
        return Err(RemoteError::Untrusted(
            "pin the service's fingerprint or trust the system roots".into(),
        ));
    }
    client_with(trust, Some(timeout)).map(|(c, _)| c)
}

/// A client trusting the server as `trust` says; the verifier notes each certificate shown.
fn client(trust: Trust) -> Result<(reqwest::Client, Presented), RemoteError> {
    client_with(trust, None)
}

fn client_with(
    trust: Trust,
    timeout: Option<Duration>,
) -> Result<(reqwest::Client, Presented), RemoteError> {
    let provider = provider();
    let verifier = trust::Verifier::new(trust, provider.clone())
        .map_err(|e| RemoteError::Untrusted(e.to_string()))?;
    let presented = verifier.presented.clone();
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| RemoteError::Untrusted(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    let mut builder = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(Duration::from_secs(5));
    if let Some(timeout) = timeout {
        builder = builder.timeout(timeout);
    }
    let client = builder
        .build()
        .map_err(|e| RemoteError::Unreachable(e.to_string()))?;
    Ok((client, presented))
}

/// Reads the certificate fingerprint of the service at `url` without trusting it and without
/// sending a token, for the user to compare before pinning it. `None` for a loopback `http://`
/// URL (no certificate).
pub async fn first_look(url: &str) -> Result<Option<Fingerprint>, RemoteError> {
    let base = check_url(url)?;
    if base.scheme() == "http" {
        return Ok(None);
    }
    let (client, presented) = client(Trust::FirstLook)?;
    let health = base
        .join("api/v1/health/messaging")
        .map_err(|_| RemoteError::BadUrl { url: url.into() })?;
    // Any answer (even 401) means the handshake happened and the certificate was seen.
    let sent = client.get(health).send().await;
    let seen = presented
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    match (seen, sent) {
        (Some(fp), _) => Ok(Some(fp)),
        (None, Err(e)) => Err(RemoteError::Unreachable(chain(&e))),
        (None, Ok(_)) => Err(RemoteError::Untrusted(
            "no certificate was presented".into(),
        )),
    }
}

/// The whole error chain of `e` in one line (reqwest hides the cause otherwise).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}

/// A transport error in the user's words: an untrusted certificate, or an unreachable service,
/// with the whole cause.
pub fn transport_error(e: &reqwest::Error) -> RemoteError {
    let text = chain(e);
    if text.contains("certificate") || text.contains("UnknownIssuer") {
        RemoteError::Untrusted(text)
    } else {
        RemoteError::Unreachable(text)
    }
}

/// A remote `msgops serve`, reached with a token.
pub struct RemoteService {
    base: url::Url,
    client: reqwest::Client,
    token: SecretString,
    trust: Trust,
    presented: Presented,
}

impl std::fmt::Debug for RemoteService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteService")
            .field("base", &self.base.as_str())
            .field("trust", &self.trust)
            .field("token", &"[redacted]")
            .finish()
    }
}

impl RemoteService {
    /// `trust` must be [`Trust::Pinned`] or [`Trust::SystemRoots`] for an https URL (a token is
    /// never sent to a server nobody vouched for).
    pub fn new(url: &str, token: SecretString, trust: Trust) -> Result<Self, RemoteError> {
        let base = check_url(url)?;
        if trust == Trust::FirstLook {
            return Err(RemoteError::Untrusted(
                "pin the service's fingerprint or trust the system roots before sending a token"
                    .into(),
            ));
        }
        let (client, presented) = client(trust.clone())?;
        Ok(Self {
            base,
            client,
            token,
            trust,
            presented,
        })
    }

    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    pub(crate) fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let url = self
            .base
            .join(path.trim_start_matches('/'))
            .unwrap_or_else(|_| self.base.clone());
        self.client
            .request(method, url)
            .bearer_auth(self.token.expose_secret())
    }

    /// A transport error in the user's words: a pinned certificate that changed is said so.
    pub(crate) fn explain(&self, e: &reqwest::Error) -> RemoteError {
        let presented = self
            .presented
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        if let (Trust::Pinned(pinned), Some(presented)) = (&self.trust, presented) {
            if *pinned != presented {
                return RemoteError::CertificateChanged {
                    pinned: pinned.clone(),
                    presented,
                };
            }
        }
        transport_error(e)
    }

    async fn get_json(&self, path: &str) -> Result<serde_json::Value, RemoteError> {
        self.call(reqwest::Method::GET, path, None, &[]).await
    }

    /// `method path` with `body` as JSON; a success or one of `answers` (a status that is an
    /// answer too, such as a failed send's 502) is read as JSON, anything else is an error.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
        answers: &[u16],
    ) -> Result<serde_json::Value, RemoteError> {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| self.explain(&e))?;
        let status = response.status();
        if !status.is_success() && !answers.contains(&status.as_u16()) {
            return Err(RemoteError::from_status(response).await);
        }
        response
            .json()
            .await
            .map_err(|e| RemoteError::Unreachable(chain(&e)))
    }

    /// One page of the service's send history (`GET /api/v1/sends`; the `read` scope, and
    /// `codes` to see recipients and search by them). `filter` is a history filter: its fields
    /// that are set become the query.
    pub async fn sends(
        &self,
        filter: &impl serde::Serialize,
    ) -> Result<serde_json::Value, RemoteError> {
        let path = format!("/api/v1/sends{}", query_of(filter));
        self.get_json(&path).await
    }

    /// The totals of the service's history over `days` days (`GET /api/v1/sends/summary`).
    pub async fn sends_summary(&self, days: u32) -> Result<serde_json::Value, RemoteError> {
        self.get_json(&format!("/api/v1/sends/summary?days={days}"))
            .await
    }

    /// Takes a provider out of its chain or puts it back (the `operate` scope); answers the
    /// chains' health afterwards.
    pub async fn set_enabled(
        &self,
        provider: &str,
        enabled: bool,
    ) -> Result<serde_json::Value, RemoteError> {
        let body = serde_json::json!({ "enabled": enabled });
        self.call(
            reqwest::Method::PUT,
            &format!("/api/v1/providers/{provider}/enabled"),
            Some(&body),
            &[],
        )
        .await
    }

    /// A send through one of the service's chains (`channel`: `sms` or `email`; the `operate`
    /// scope): the body of `POST /api/v1/messages/{channel}`. Answers the send's record,
    /// delivered (200) or failed (502); a refusal (a limit, a bad request) is an error.
    pub async fn send(
        &self,
        channel: &str,
        message: &serde_json::Value,
    ) -> Result<serde_json::Value, RemoteError> {
        self.call(
            reqwest::Method::POST,
            &format!("/api/v1/messages/{channel}"),
            Some(message),
            &[502],
        )
        .await
    }

    /// The chains' health, as the service's health JSON.
    pub async fn health(&self) -> Result<serde_json::Value, RemoteError> {
        // 503 is an answer too: a chain is degraded or down.
        let response = self
            .request(reqwest::Method::GET, "/api/v1/health/messaging")
            .send()
            .await
            .map_err(|e| self.explain(&e))?;
        if !matches!(response.status().as_u16(), 200 | 503) {
            return Err(RemoteError::from_status(response).await);
        }
        response
            .json()
            .await
            .map_err(|e| RemoteError::Unreachable(chain(&e)))
    }

    /// The valid codes the service has seen (`GET /api/v1/codes`; the token needs the `codes`
    /// scope), optionally for numbers ending in `phone_tail`.
    pub async fn codes(
        &self,
        phone_tail: Option<&str>,
    ) -> Result<Vec<serde_json::Value>, RemoteError> {
        let path = match phone_tail {
            Some(tail) => format!(
                "/api/v1/codes?phone={}",
                url::form_urlencoded::byte_serialize(tail.as_bytes()).collect::<String>()
            ),
            None => "/api/v1/codes".to_owned(),
        };
        let answer = self.get_json(&path).await?;
        let list = answer
            .get("codes")
            .cloned()
            .unwrap_or(answer)
            .as_array()
            .cloned()
            .unwrap_or_default();
        Ok(list)
    }

    /// The backend-log diagnostics the service's watcher saw (`GET /api/v1/diagnostics`; the
    /// `read` scope), newest last.
    pub async fn diagnostics(&self) -> Result<Vec<serde_json::Value>, RemoteError> {
        let answer = self.get_json("/api/v1/diagnostics").await?;
        Ok(answer
            .get("diagnostics")
            .cloned()
            .unwrap_or(answer)
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// An on-call control of one provider (`reset`, `trial`, `probe`; the `operate` scope).
    pub async fn control(
        &self,
        provider: &str,
        control: &str,
    ) -> Result<serde_json::Value, RemoteError> {
        let response = self
            .request(
                reqwest::Method::POST,
                &format!("/api/v1/providers/{provider}/{control}"),
            )
            .send()
            .await
            .map_err(|e| self.explain(&e))?;
        if !response.status().is_success() {
            return Err(RemoteError::from_status(response).await);
        }
        response
            .json()
            .await
            .map_err(|e| RemoteError::Unreachable(chain(&e)))
    }

    /// Follows the event stream until `cancel`, reconnecting with `Last-Event-ID`.
    pub async fn follow_events(
        &self,
        cancel: tokio_util::sync::CancellationToken,
        on_news: impl FnMut(StreamNews) + Send,
    ) {
        events::follow(self, cancel, on_news).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_becomes_a_query_of_its_set_fields() {
        let filter = serde_json::json!({
            "channel": "sms", "recipient": "+1 416", "limit": 50, "offset": null, "provider": null
        });
        assert_eq!(
            query_of(&filter),
            "?channel=sms&limit=50&recipient=%2B1+416"
        );
        assert_eq!(query_of(&serde_json::json!({"offset": null})), "");
    }

    #[test]
    fn plain_http_is_only_for_this_machine() {
        assert!(check_url("http://127.0.0.1:5024").is_ok());
        assert!(check_url("http://localhost:5024/").is_ok());
        assert!(check_url("http://[::1]:5024").is_ok());
        assert!(check_url("https://ops.example.com:5024").is_ok());
        assert_eq!(
            check_url("http://ops.example.com:5024"),
            Err(RemoteError::PlainHttpRefused {
                host: "ops.example.com".into()
            })
        );
        assert!(matches!(
            check_url("http://10.0.0.5:5024"),
            Err(RemoteError::PlainHttpRefused { .. })
        ));
        assert!(matches!(
            check_url("ftp://x"),
            Err(RemoteError::BadUrl { .. })
        ));
        assert!(matches!(
            check_url("not a url"),
            Err(RemoteError::BadUrl { .. })
        ));
    }

    #[test]
    fn a_token_is_never_sent_on_a_first_look_and_never_printed() {
        let token = SecretString::from("msgops_secret_token_value".to_owned());
        let err = RemoteService::new("https://ops.example.com", token.clone(), Trust::FirstLook)
            .expect_err("first look takes no token");
        assert!(matches!(err, RemoteError::Untrusted(_)));
        let service = RemoteService::new("https://ops.example.com", token, Trust::SystemRoots)
            .expect("client");
        assert!(!format!("{service:?}").contains("secret_token"));
    }
}
