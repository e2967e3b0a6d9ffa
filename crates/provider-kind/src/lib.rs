//! The providers msgops knows, as one enum: the chain, the configuration, the credentials, the
//! log watcher, the service and the UI all name a provider by its [`ProviderKind`], serialised as
//! its id (`sns`, `twilio`, `console`, `ses`, `sendgrid`, `smtp`).

use serde::{Deserialize, Serialize};
use ts_rs::TS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum Channel {
    Sms,
    Email,
}

impl Channel {
    pub const ALL: [Channel; 2] = [Channel::Sms, Channel::Email];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Email => "email",
        }
    }

    /// The channel's providers in priority order.
    pub fn chain(self) -> [ProviderKind; 3] {
        match self {
            Channel::Sms => ProviderKind::SMS_CHAIN,
            Channel::Email => ProviderKind::EMAIL_CHAIN,
        }
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Channel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sms" => Ok(Channel::Sms),
            "email" => Ok(Channel::Email),
            _ => Err(format!("unknown channel {s:?}: use sms or email")),
        }
    }
}

/// One provider of a chain. Ordered as the chains are: SMS first, then email, each in priority
/// order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ProviderKind {
    Sns,
    Twilio,
    Console,
    Ses,
    Sendgrid,
    Smtp,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 6] = [
        Self::Sns,
        Self::Twilio,
        Self::Console,
        Self::Ses,
        Self::Sendgrid,
        Self::Smtp,
    ];
    pub const SMS_CHAIN: [ProviderKind; 3] = [Self::Sns, Self::Twilio, Self::Console];
    pub const EMAIL_CHAIN: [ProviderKind; 3] = [Self::Ses, Self::Sendgrid, Self::Smtp];

    /// The id in the configuration, the API and the UI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sns => "sns",
            Self::Twilio => "twilio",
            Self::Console => "console",
            Self::Ses => "ses",
            Self::Sendgrid => "sendgrid",
            Self::Smtp => "smtp",
        }
    }

    /// The name for people.
    pub fn display_name(self) -> &'static str {
        match self {
            Self::Sns => "AWS SNS",
            Self::Twilio => "Twilio",
            Self::Console => "Console",
            Self::Ses => "AWS SES",
            Self::Sendgrid => "SendGrid",
            Self::Smtp => "SMTP",
        }
    }

    /// The backend's class name, as its health endpoint reports it.
    pub fn health_name(self) -> &'static str {
        match self {
            Self::Sns => "AWSSNSProvider",
            Self::Twilio => "TwilioSMSProvider",
            Self::Console => "ConsoleSMSProvider",
            Self::Ses => "AWSSESProvider",
            Self::Sendgrid => "SendGridEmailProvider",
            Self::Smtp => "SMTPEmailProvider",
        }
    }

    pub fn channel(self) -> Channel {
        match self {
            Self::Sns | Self::Twilio | Self::Console => Channel::Sms,
            Self::Ses | Self::Sendgrid | Self::Smtp => Channel::Email,
        }
    }

    /// The provider a backend's log line or a person names: an id (`sns`), a display name
    /// (`AWS SNS`), or the backend's class name (`AWSSNSProvider`), in any case. `gmail` is SMTP.
    pub fn from_name(name: &str) -> Option<Self> {
        let squashed: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let squashed = squashed
            .strip_suffix("provider")
            .unwrap_or(&squashed)
            .to_string();
        Some(match squashed.as_str() {
            "sns" | "awssns" => Self::Sns,
            "twilio" | "twiliosms" => Self::Twilio,
            "console" | "consolesms" => Self::Console,
            "ses" | "sesv2" | "awsses" => Self::Ses,
            "sendgrid" | "sendgridemail" => Self::Sendgrid,
            "smtp" | "smtpemail" | "gmail" => Self::Smtp,
            _ => return None,
        })
    }
}

impl std::fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ProviderKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_name(s).ok_or_else(|| {
            let ids: Vec<&str> = Self::ALL.iter().map(|k| k.as_str()).collect();
            format!("unknown provider {s:?}: use one of {}", ids.join(", "))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_json_and_text() {
        for kind in ProviderKind::ALL {
            let json = serde_json::to_string(&kind).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(kind.as_str().parse::<ProviderKind>(), Ok(kind));
            assert_eq!(ProviderKind::from_name(kind.health_name()), Some(kind));
            assert_eq!(ProviderKind::from_name(kind.display_name()), Some(kind));
            assert!(kind.channel().chain().contains(&kind));
        }
    }

    #[test]
    fn names_the_backend_uses_are_understood() {
        assert_eq!(ProviderKind::from_name("AWS  SNS"), Some(ProviderKind::Sns));
        assert_eq!(ProviderKind::from_name("SESv2"), Some(ProviderKind::Ses));
        assert_eq!(ProviderKind::from_name("Gmail"), Some(ProviderKind::Smtp));
        assert_eq!(ProviderKind::from_name("pigeon"), None);
        let err = "pigeon".parse::<ProviderKind>().err().unwrap_or_default();
        assert!(
            err.contains("sns, twilio, console, ses, sendgrid, smtp"),
            "{err}"
        );
    }
}
