//! What the AWS providers (SNS, SES v2) share: the SDK configuration (region, endpoint URL,
//! credentials, timeouts, no SDK retries — the chain fails over instead) and the
//! classification of SDK errors into `ErrorKind`s.
//!
//! Credentials come from the credential store (access key ID + secret access key) or, when
//! none are stored, from the AWS SDK's default chain (environment, profile, web identity,
//! container and instance metadata).

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sns::config::{Credentials, ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};
use msgops_core::{ErrorKind, SendError};
use secrecy::{ExposeSecret, SecretString};

use crate::redact::Redactor;
use crate::timeouts::Timeouts;

/// Where the AWS credentials come from.
#[derive(Clone)]
pub enum AwsCredentials {
    /// From the credential store (or a rotation candidate).
    Static {
        access_key_id: SecretString,
        secret_access_key: SecretString,
    },
    /// The AWS SDK default chain.
    DefaultChain,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Static { .. } => "Static([redacted])",
            Self::DefaultChain => "DefaultChain",
        })
    }
}

/// Region, endpoint, credentials and timeouts of an AWS client.
#[derive(Debug, Clone)]
pub struct AwsSettings {
    pub region: String,
    /// Another endpoint (moto, LocalStack); `None` for AWS itself.
    pub endpoint_url: Option<String>,
    pub credentials: AwsCredentials,
    pub timeouts: Timeouts,
}

impl AwsSettings {
    pub(crate) fn redactor(&self) -> Redactor {
        match &self.credentials {
            AwsCredentials::Static {
                access_key_id,
                secret_access_key,
            } => Redactor::new([access_key_id, secret_access_key]),
            AwsCredentials::DefaultChain => Redactor::default(),
        }
    }

    /// The SDK configuration for these settings.
    pub async fn sdk_config(&self) -> SdkConfig {
        let region = Region::new(self.region.clone());
        let credentials = match &self.credentials {
            AwsCredentials::Static {
                access_key_id,
                secret_access_key,
            } => SharedCredentialsProvider::new(Credentials::new(
                access_key_id.expose_secret(),
                secret_access_key.expose_secret(),
                None,
                None,
                "msgops-credential-store",
            )),
            AwsCredentials::DefaultChain => SharedCredentialsProvider::new(
                aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
                    .region(region.clone())
                    .build()
                    .await,
            ),
        };
        let mut builder = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(region)
            .credentials_provider(credentials)
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(self.timeouts.connect)
                    .read_timeout(self.timeouts.request)
                    .operation_attempt_timeout(self.timeouts.request)
                    .operation_timeout(self.timeouts.request)
                    .build(),
            );
        if let Some(url) = self
            .endpoint_url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
        {
            builder = builder.endpoint_url(url.trim());
        }
        builder.build()
    }
}

/// Whether the SDK default chain yields credentials now (within `timeout`). Used when no keys
/// are stored, to report "not configured" instead of installing a provider that cannot sign.
pub async fn default_chain_has_credentials(region: &str, timeout: Duration) -> bool {
    let chain = aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
        .region(Region::new(region.to_owned()))
        .build()
        .await;
    matches!(
        tokio::time::timeout(timeout, chain.provide_credentials()).await,
        Ok(Ok(_))
    )
}

const THROTTLING: [&str; 6] = [
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SendingPausedException",
];
const AUTHENTICATION: [&str; 13] = [
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "AccessDenied",
    "AccessDeniedException",
    "UnrecognizedClient",
    "UnrecognizedClientException",
    "AuthorizationError",
    "AuthFailure",
    "ExpiredToken",
    "ExpiredTokenException",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "InvalidSignatureException",
];
const PERMANENT: [&str; 8] = [
    "InvalidParameter",
    "InvalidParameterValue",
    "InvalidParameterException",
    "InvalidParameterValueException",
    "ValidationError",
    "ValidationException",
    "OptedOut",
    "MessageRejected",
];

/// Classifies an AWS SDK error: throttling codes → `Throttled`; credential codes →
/// `Authentication` (rotate the key); invalid parameter / phone / rejected message →
/// `Permanent`; dispatch failures, 5xx and unknown codes → `Transient`. A timeout after the
/// request was sent (read timeout, attempt timeout) → `Ambiguous`; a connect timeout →
/// `Transient`. The SDK cannot always tell which of the two timed out: an operation timeout
/// counts as `Ambiguous`, the cautious reading for a one-time code.
pub fn classify<E>(service: &str, error: &SdkError<E>) -> SendError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let text = plain_chain(error);
    match error {
        SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            let code = se.err().code().unwrap_or_default().to_owned();
            let words = se.err().message().unwrap_or_default();
            let said = if code.is_empty() {
                format!("HTTP {status}: {words}")
            } else {
                format!("HTTP {status}, {code}: {words}")
            };
            let e = if THROTTLING.contains(&code.as_str()) || status == 429 {
                SendError::throttled(format!("{service} asked us to slow down: {said}"), None)
            } else if AUTHENTICATION.contains(&code.as_str()) || status == 401 || status == 403 {
                SendError::authentication(format!(
                    "{service} refused the AWS credentials ({said}); rotate the AWS keys (msgops creds rotate aws)"
                ))
            } else if PERMANENT.contains(&code.as_str()) {
                SendError::permanent(format!("{service} rejected this message: {said}"))
            } else if (500..600).contains(&status) {
                SendError::transient(format!("{service} is unavailable: {said}"))
            } else {
                SendError::transient(format!("{service} rejected the request: {said}"))
            };
            e.with_code(i64::from(status))
        }
        SdkError::TimeoutError(_) => SendError::ambiguous(format!(
            "{service}: no answer in time; the message may have been accepted: {text}"
        )),
        SdkError::DispatchFailure(d) if d.is_timeout() => {
            if text.to_ascii_lowercase().contains("connect") {
                SendError::transient(format!("{service}: could not connect in time: {text}"))
            } else {
                SendError::ambiguous(format!(
                    "{service}: no answer in time after the request was sent; the message may have been accepted: {text}"
                ))
            }
        }
        SdkError::DispatchFailure(_) | SdkError::ConstructionFailure(_)
            if text.to_ascii_lowercase().contains("credentials") =>
        {
            SendError::authentication(format!(
                "{service}: no usable AWS credentials: {text}; store keys with msgops creds rotate aws"
            ))
        }
        SdkError::DispatchFailure(_) => SendError::transient(format!(
            "{service}: could not reach the service: {}",
            root_cause(error)
        )),
        SdkError::ResponseError(_) => SendError::transient(format!(
            "{service}: answered with a response that could not be read: {text}"
        )),
        _ => SendError::transient(format!("{service}: request failed: {text}")),
    }
}

/// The error and its causes in words, `outer: inner: root`, without the SDK's debug dump (which
/// is never printed: it could hold request parts). Shared by every AWS client here.
pub(crate) fn plain_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut words: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(e) = next {
        let said = e.to_string();
        if !words.last().is_some_and(|w| w.contains(&said)) {
            words.push(said);
        }
        next = e.source();
    }
    words.join(": ")
}

/// What finally went wrong, e.g. `Connection refused (os error 111)`.
pub(crate) fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut e = error;
    while let Some(inner) = e.source() {
        e = inner;
    }
    e.to_string()
}

/// A probe never sends a message, so a probe that timed out is just "unavailable".
pub(crate) fn probe_error(mut e: SendError) -> SendError {
    if e.kind == ErrorKind::Ambiguous {
        e.kind = ErrorKind::Transient;
    }
    e
}
