//! Credential validators for rotation: AWS (SNS `GetSMSAttributes` with the candidate keys —
//! read-only, and needs no STS dependency) and SMTP (connect + EHLO + AUTH with the candidate
//! password), plus [`ProviderValidator`], which dispatches all four providers (Twilio and
//! SendGrid through the credentials crate's `HttpValidator`).

use async_trait::async_trait;
use msgops_core::config::Config;
use msgops_core::{ErrorKind, Provider, SendError};
use msgops_credentials::rotate::ValidationFailureKind;
use msgops_credentials::{
    CredentialProvider, CredentialSet, CredentialValidator, HttpValidator, SecretKind,
    SecretString, ValidationFailure,
};

use crate::aws::{AwsCredentials, AwsSettings};
use crate::redact::Redactor;
use crate::smtp::SmtpSettings;
use crate::sns::SnsProvider;
use crate::timeouts::Timeouts;

/// A provider's "no" as a validation failure: refused credentials or a refused request are
/// `Rejected`; anything that kept us from asking is `Unreachable`.
pub fn validation_failure(e: SendError) -> ValidationFailure {
    ValidationFailure {
        kind: match e.kind {
            ErrorKind::Authentication | ErrorKind::Permanent => ValidationFailureKind::Rejected,
            _ => ValidationFailureKind::Unreachable,
        },
        http_status: e
            .provider_code
            .and_then(|c| u16::try_from(c).ok())
            .filter(|c| (100..600).contains(c)),
        provider_code: e.provider_code.map(|c| c.to_string()),
        message: e.message,
    }
}

fn secret(set: &CredentialSet, kind: SecretKind) -> Option<SecretString> {
    set.expose(kind).map(SecretString::from)
}

/// Checks AWS keys with SNS `GetSMSAttributes` in the configured region and endpoint.
#[derive(Debug, Clone)]
pub struct AwsValidator {
    pub region: String,
    pub endpoint_url: Option<String>,
    pub timeouts: Timeouts,
}

#[async_trait]
impl CredentialValidator for AwsValidator {
    async fn validate(&self, set: &CredentialSet) -> Result<(), ValidationFailure> {
        let (Some(access_key_id), Some(secret_access_key)) = (
            secret(set, SecretKind::AwsAccessKeyId),
            secret(set, SecretKind::AwsSecretAccessKey),
        ) else {
            return Err(ValidationFailure::rejected(
                "the access key ID and the secret access key are both needed",
            ));
        };
        let settings = AwsSettings {
            region: self.region.clone(),
            endpoint_url: self.endpoint_url.clone(),
            credentials: AwsCredentials::Static {
                access_key_id,
                secret_access_key,
            },
            timeouts: self.timeouts,
        };
        let sns = SnsProvider::new(&settings).await;
        Provider::<msgops_core::SmsMessage>::probe(&sns)
            .await
            .map_err(validation_failure)
    }
}

/// Checks an SMTP password by connecting and authenticating (no mail is sent).
#[derive(Debug, Clone)]
pub struct SmtpValidator {
    pub host: Option<String>,
    pub port: u16,
    pub tls: msgops_core::config::SmtpTls,
    pub username: Option<String>,
    pub timeouts: Timeouts,
}

#[async_trait]
impl CredentialValidator for SmtpValidator {
    async fn validate(&self, set: &CredentialSet) -> Result<(), ValidationFailure> {
        let Some(host) = self.host.clone() else {
            return Err(ValidationFailure::rejected(
                "no SMTP host is configured ([smtp] host in the configuration)",
            ));
        };
        let Some(username) = self.username.clone() else {
            return Err(ValidationFailure::rejected(
                "no SMTP username is configured ([smtp] username), so there is nothing to log in with",
            ));
        };
        let Some(password) = secret(set, SecretKind::SmtpPassword) else {
            return Err(ValidationFailure::rejected("the SMTP password is needed"));
        };
        let settings = SmtpSettings {
            host,
            port: self.port,
            tls: self.tls,
            auth: Some((username, password)),
            from: String::new(),
            timeouts: self.timeouts,
        };
        settings
            .check_connection()
            .await
            .map_err(validation_failure)
    }
}

/// Validates the credentials of any of the four providers, each the way its provider checks
/// them, against the endpoints of the configuration.
pub struct ProviderValidator {
    pub http: HttpValidator,
    pub aws: AwsValidator,
    pub smtp: SmtpValidator,
}

impl ProviderValidator {
    pub fn from_config(config: &Config, timeouts: Timeouts) -> Result<Self, ValidationFailure> {
        let http = HttpValidator::new()
            .map_err(|e| ValidationFailure::unreachable(e.to_string()))?
            .with_twilio_base_url(config.twilio.base_url.clone())
            .with_sendgrid_base_url(config.sendgrid.base_url.clone());
        Ok(Self {
            http,
            aws: AwsValidator {
                region: config.sns.region.clone(),
                endpoint_url: config.sns.endpoint_url.clone(),
                timeouts,
            },
            smtp: SmtpValidator {
                host: config.smtp.host.clone(),
                port: config.smtp.port,
                tls: config.smtp.tls,
                username: config.smtp.username.clone(),
                timeouts,
            },
        })
    }
}

/// Every failure leaves with the candidate values scrubbed out of its message: a provider (or
/// something posing as one) may echo what we sent, and `HttpValidator` passes bodies on.
#[async_trait]
impl CredentialValidator for ProviderValidator {
    async fn validate(&self, set: &CredentialSet) -> Result<(), ValidationFailure> {
        let result = match set.provider() {
            CredentialProvider::Aws => self.aws.validate(set).await,
            CredentialProvider::Smtp => self.smtp.validate(set).await,
            CredentialProvider::Twilio | CredentialProvider::Sendgrid => {
                self.http.validate(set).await
            }
        };
        result.map_err(|mut failure| {
            let candidates: Vec<SecretString> =
                set.kinds().filter_map(|k| secret(set, k)).collect();
            failure.message = Redactor::new(&candidates).scrub(&failure.message);
            failure
        })
    }
}
