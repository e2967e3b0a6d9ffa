//! AWS SES (v2 API): `SendEmail` with simple content; `GetAccount` to probe (read-only, sends
//! nothing; also tells whether sending is enabled for the account).

use async_trait::async_trait;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use msgops_core::{EmailMessage, Provider, Receipt, SendError};

use crate::aws::{self, AwsSettings};
use crate::redact::Redactor;

pub struct SesProvider {
    client: aws_sdk_sesv2::Client,
    from: String,
    redactor: Redactor,
}

fn content(text: &str) -> Result<Content, SendError> {
    Content::builder()
        .data(text)
        .charset("UTF-8")
        .build()
        .map_err(|e| SendError::transient(format!("AWS SES: cannot build the request: {e}")))
}

impl SesProvider {
    pub async fn new(settings: &AwsSettings, from: impl Into<String>) -> Self {
        let config = settings.sdk_config().await;
        Self {
            client: aws_sdk_sesv2::Client::new(&config),
            from: from.into(),
            redactor: settings.redactor(),
        }
    }
}

#[async_trait]
impl Provider<EmailMessage> for SesProvider {
    async fn send(&self, message: &EmailMessage) -> Result<Receipt, SendError> {
        let simple = Message::builder()
            .subject(content(&message.subject)?)
            .body(Body::builder().text(content(&message.body)?).build())
            .build();
        let out = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(&message.to).build())
            .content(EmailContent::builder().simple(simple).build())
            .send()
            .await
            .map_err(|e| self.redactor.error(aws::classify("AWS SES", &e)))?;
        tracing::info!(provider = "ses", to = %message.to, "email sent via AWS SES");
        Ok(Receipt {
            provider_message_id: out.message_id,
        })
    }

    /// `GetAccount`: reachable, the credentials work, and sending is enabled. Like every probe,
    /// its result is shown but never counts toward the breaker.
    async fn probe(&self) -> Result<(), SendError> {
        let account = self.client.get_account().send().await.map_err(|e| {
            self.redactor
                .error(aws::probe_error(aws::classify("AWS SES", &e)))
        })?;
        if account.sending_enabled {
            Ok(())
        } else {
            Err(SendError::transient(
                "AWS SES: sending is disabled for this account (GetAccount says SendingEnabled = false)",
            ))
        }
    }
}
