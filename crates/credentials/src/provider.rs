//! Which providers have secrets, which secrets each has, and what each is called: in the OS
//! keychain (account name), in the backend's `.env` (variable name) and on screen (label).

use msgops_provider_kind::ProviderKind;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// The keychain service name every msgops secret lives under (the app identifier).
pub const KEYCHAIN_SERVICE: &str = "dev.msgops.console";

/// A provider whose credentials msgops keeps. (The provider chain's own `ProviderKind` in
/// `msgops-core` is an open string; these are the four with secrets.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum CredentialProvider {
    Aws,
    Twilio,
    Sendgrid,
    Smtp,
}

impl CredentialProvider {
    pub const ALL: [CredentialProvider; 4] = [Self::Aws, Self::Twilio, Self::Sendgrid, Self::Smtp];

    /// Lower-case id: `aws`, `twilio`, `sendgrid`, `smtp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aws => "aws",
            Self::Twilio => "twilio",
            Self::Sendgrid => "sendgrid",
            Self::Smtp => "smtp",
        }
    }

    /// Name for people.
    pub fn display_name(self) -> &'static str {
        match self {
            Self::Aws => "AWS",
            Self::Twilio => "Twilio",
            Self::Sendgrid => "SendGrid",
            Self::Smtp => "SMTP",
        }
    }

    /// The providers of the chains that use these credentials.
    pub fn used_by(self) -> &'static [ProviderKind] {
        match self {
            Self::Aws => &[ProviderKind::Sns, ProviderKind::Ses],
            Self::Twilio => &[ProviderKind::Twilio],
            Self::Sendgrid => &[ProviderKind::Sendgrid],
            Self::Smtp => &[ProviderKind::Smtp],
        }
    }

    /// The credentials a provider of the chains uses; none for the Console provider.
    pub fn of(kind: ProviderKind) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.used_by().contains(&kind))
    }

    /// The secrets this provider needs, in a stable order.
    pub fn secrets(self) -> &'static [SecretKind] {
        match self {
            Self::Aws => &[SecretKind::AwsAccessKeyId, SecretKind::AwsSecretAccessKey],
            Self::Twilio => &[SecretKind::TwilioAccountSid, SecretKind::TwilioAuthToken],
            Self::Sendgrid => &[SecretKind::SendgridApiKey],
            Self::Smtp => &[SecretKind::SmtpPassword],
        }
    }
}

impl std::fmt::Display for CredentialProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.display_name())
    }
}

impl std::str::FromStr for CredentialProvider {
    type Err = crate::CredentialError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let known = match s.trim().to_ascii_lowercase().as_str() {
            "aws" => Some(Self::Aws),
            name => ProviderKind::from_name(name).and_then(Self::of),
        };
        known.ok_or_else(|| {
            crate::CredentialError::Validation(format!(
                "Unknown provider {s:?}: use one of aws, twilio, sendgrid, smtp."
            ))
        })
    }
}

/// One secret value msgops keeps in the keychain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum SecretKind {
    AwsAccessKeyId,
    AwsSecretAccessKey,
    TwilioAccountSid,
    TwilioAuthToken,
    SendgridApiKey,
    SmtpPassword,
}

impl SecretKind {
    pub const ALL: [SecretKind; 6] = [
        Self::AwsAccessKeyId,
        Self::AwsSecretAccessKey,
        Self::TwilioAccountSid,
        Self::TwilioAuthToken,
        Self::SendgridApiKey,
        Self::SmtpPassword,
    ];

    pub fn provider(self) -> CredentialProvider {
        match self {
            Self::AwsAccessKeyId | Self::AwsSecretAccessKey => CredentialProvider::Aws,
            Self::TwilioAccountSid | Self::TwilioAuthToken => CredentialProvider::Twilio,
            Self::SendgridApiKey => CredentialProvider::Sendgrid,
            Self::SmtpPassword => CredentialProvider::Smtp,
        }
    }

    /// The keychain account name under [`KEYCHAIN_SERVICE`], e.g. `twilio.auth_token`.
    pub fn account(self) -> &'static str {
        match self {
            Self::AwsAccessKeyId => "aws.access_key_id",
            Self::AwsSecretAccessKey => "aws.secret_access_key",
            Self::TwilioAccountSid => "twilio.account_sid",
            Self::TwilioAuthToken => "twilio.auth_token",
            Self::SendgridApiKey => "sendgrid.api_key",
            Self::SmtpPassword => "smtp.password",
        }
    }

    /// The backend's `.env` variable name.
    pub fn env_var(self) -> &'static str {
        match self {
            Self::AwsAccessKeyId => "AWS_ACCESS_KEY_ID",
            Self::AwsSecretAccessKey => "AWS_SECRET_ACCESS_KEY",
            Self::TwilioAccountSid => "TWILIO_ACCOUNT_SID",
            Self::TwilioAuthToken => "TWILIO_AUTH_TOKEN",
            Self::SendgridApiKey => "SENDGRID_API_KEY",
            Self::SmtpPassword => "SMTP_PASSWORD",
        }
    }

    /// Label for people.
    pub fn label(self) -> &'static str {
        match self {
            Self::AwsAccessKeyId => "AWS access key ID",
            Self::AwsSecretAccessKey => "AWS secret access key",
            Self::TwilioAccountSid => "Twilio account SID",
            Self::TwilioAuthToken => "Twilio auth token",
            Self::SendgridApiKey => "SendGrid API key",
            Self::SmtpPassword => "SMTP password",
        }
    }

    /// Looks a name up by `.env` variable name or keychain account name.
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.trim();
        Self::ALL
            .into_iter()
            .find(|k| k.env_var().eq_ignore_ascii_case(name) || k.account() == name)
    }
}

/// A non-secret setting found in a `.env` (goes to the app's config file, not the keychain).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum SettingKind {
    AwsRegion,
    TwilioPhoneNumber,
    SmtpHost,
    SmtpPort,
    SmtpUser,
    SmtpFrom,
}

impl SettingKind {
    /// Recognises the backend's variable names, including the aliases it accepted.
    pub fn from_env_var(name: &str) -> Option<Self> {
        Some(match name {
            "AWS_REGION" => Self::AwsRegion,
            "TWILIO_PHONE_NUMBER" => Self::TwilioPhoneNumber,
            "SMTP_HOST" => Self::SmtpHost,
            "SMTP_PORT" => Self::SmtpPort,
            "SMTP_USER" | "SMTP_USERNAME" => Self::SmtpUser,
            "SMTP_FROM" | "SMTP_FROM_EMAIL" => Self::SmtpFrom,
            _ => return None,
        })
    }

    pub fn provider(self) -> CredentialProvider {
        match self {
            Self::AwsRegion => CredentialProvider::Aws,
            Self::TwilioPhoneNumber => CredentialProvider::Twilio,
            Self::SmtpHost | Self::SmtpPort | Self::SmtpUser | Self::SmtpFrom => {
                CredentialProvider::Smtp
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_secret_belongs_to_exactly_the_provider_that_lists_it() {
        for kind in SecretKind::ALL {
            assert!(kind.provider().secrets().contains(&kind), "{kind:?}");
            assert_eq!(SecretKind::from_name(kind.env_var()), Some(kind));
            assert_eq!(SecretKind::from_name(kind.account()), Some(kind));
        }
    }

    #[test]
    fn provider_ids_parse_and_serialize_lowercase() {
        for p in CredentialProvider::ALL {
            assert_eq!(p.as_str().parse::<CredentialProvider>().ok(), Some(p));
            assert_eq!(
                serde_json::to_value(p).ok(),
                Some(serde_json::Value::String(p.as_str().into()))
            );
        }
        assert!("mailgun".parse::<CredentialProvider>().is_err());
    }
}
