//! AWS SNS: `Publish` to a phone number with `AWS.SNS.SMS.SMSType = Transactional` (delivery
//! optimised for one-time codes); `GetSMSAttributes` to probe (read-only, sends nothing).

use async_trait::async_trait;
use aws_sdk_sns::types::MessageAttributeValue;
use msgops_core::{Provider, Receipt, SendError, SmsMessage};

use crate::aws::{self, AwsSettings};
use crate::redact::Redactor;

pub struct SnsProvider {
    client: aws_sdk_sns::Client,
    redactor: Redactor,
}

impl SnsProvider {
    pub async fn new(settings: &AwsSettings) -> Self {
        let config = settings.sdk_config().await;
        Self {
            client: aws_sdk_sns::Client::new(&config),
            redactor: settings.redactor(),
        }
    }
}

#[async_trait]
impl Provider<SmsMessage> for SnsProvider {
    async fn send(&self, message: &SmsMessage) -> Result<Receipt, SendError> {
        let sms_type = MessageAttributeValue::builder()
            .data_type("String")
            .string_value("Transactional")
            .build()
            .map_err(|e| SendError::transient(format!("AWS SNS: cannot build the request: {e}")))?;
        let out = self
            .client
            .publish()
            .phone_number(&message.to)
            .message(&message.body)
            .message_attributes("AWS.SNS.SMS.SMSType", sms_type)
            .send()
            .await
            .map_err(|e| self.redactor.error(aws::classify("AWS SNS", &e)))?;
        tracing::info!(provider = "sns", to = %message.to, "SMS sent via AWS SNS");
        Ok(Receipt {
            provider_message_id: out.message_id,
        })
    }

    /// `GetSMSAttributes`: reachable and the credentials work. Like every probe, its result is
    /// shown but never counts toward the breaker.
    async fn probe(&self) -> Result<(), SendError> {
        self.client
            .get_sms_attributes()
            .send()
            .await
            .map(drop)
            .map_err(|e| {
                self.redactor
                    .error(aws::probe_error(aws::classify("AWS SNS", &e)))
            })
    }
}
