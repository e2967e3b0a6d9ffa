//! The SES event records an SNS notification carries as its `Message`: a configuration set's
//! event publishing (`eventType`) or an identity's feedback notifications
//! (`notificationType`), read into [`DeliveryEvent`]s.
//!
//! | SES type        | status        | error_code                   | detail                |
//! |-----------------|---------------|------------------------------|-----------------------|
//! | `Send`          | Accepted      |                              |                       |
//! | `Delivery`      | Delivered     |                              |                       |
//! | `Bounce`        | Bounced       | `bounceType/bounceSubType`   | first diagnosticCode  |
//! | `Complaint`     | Complained    | `complaintFeedbackType`      |                       |
//! | `DeliveryDelay` | Delayed       | `delayType`                  | first diagnosticCode  |
//! | `Reject`        | Rejected      |                              | `reason`              |
//!
//! Every other type (Open, Click, Rendering Failure, Subscription,
//! AmazonSnsSubscriptionSucceeded, ...) says nothing about delivery and gives no event.

use chrono::{DateTime, Utc};
use msgops_delivery::{DeliveryEvent, DeliverySource, DeliveryStatus};
use msgops_provider_kind::ProviderKind;
use serde_json::Value;

use crate::{RejectReason, Rejection};

fn malformed(detail: impl Into<String>) -> Rejection {
    Rejection::new(RejectReason::Malformed, detail)
}

fn text<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn time(value: &Value, key: &str) -> Option<DateTime<Utc>> {
    text(value, key)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// The first entry of `value[list]`, when it is an array.
fn first<'a>(value: &'a Value, list: &str) -> Option<&'a Value> {
    value
        .get(list)
        .and_then(Value::as_array)
        .and_then(|a| a.first())
}

/// The DeliveryEvents of one SES event record (the Message of an SNS notification), from a
/// configuration set's event publishing (`eventType`) or identity notifications
/// (`notificationType`): Send→Accepted, Delivery→Delivered, Bounce→Bounced (error_code
/// "bounceType/bounceSubType", detail = diagnosticCode of the first bounced recipient when
/// present, recipient = its emailAddress), Complaint→Complained (error_code
/// complaintFeedbackType when present), DeliveryDelay→Delayed (error_code delayType, detail
/// = diagnosticCode of the first delayed recipient), Reject→Rejected (detail reason). Other
/// types (Open, Click, Rendering Failure, Subscription) → empty Vec. provider
/// ProviderKind::Ses; provider_message_id = mail.messageId; occurred_at = the event's own
/// timestamp (delivery.timestamp, bounce.timestamp, ...) else mail.timestamp else
/// received_at; event_id = notification_id (+ ":" + index when one record yields several
/// events); source SnsWebhook; recipient = first of the event's recipients (or
/// mail.destination[0]). Malformed when not JSON or no mail.messageId (or no type at all).
pub fn parse_event_record(
    message: &str,
    notification_id: &str,
    received_at: DateTime<Utc>,
) -> Result<Vec<DeliveryEvent>, Rejection> {
    let record: Value = serde_json::from_str(message).map_err(|e| {
        malformed(format!(
            "SES event record is not JSON ({:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })?;
    if !record.is_object() {
        return Err(malformed("SES event record is not a JSON object"));
    }
    let Some(kind) = text(&record, "eventType").or_else(|| text(&record, "notificationType"))
    else {
        return Err(malformed(
            "SES event record has no eventType or notificationType",
        ));
    };
    let (status, key) = match kind {
        "Send" => (DeliveryStatus::Accepted, "send"),
        "Delivery" => (DeliveryStatus::Delivered, "delivery"),
        "Bounce" => (DeliveryStatus::Bounced, "bounce"),
        "Complaint" => (DeliveryStatus::Complained, "complaint"),
        "DeliveryDelay" => (DeliveryStatus::Delayed, "deliveryDelay"),
        "Reject" => (DeliveryStatus::Rejected, "reject"),
        _ => return Ok(Vec::new()),
    };
    let mail = record.get("mail").unwrap_or(&Value::Null);
    let Some(message_id) = text(mail, "messageId") else {
        return Err(malformed(format!(
            "SES {kind} record has no mail.messageId"
        )));
    };
    let details = record.get(key).unwrap_or(&Value::Null);

    let (recipient, error_code, detail) = match status {
        DeliveryStatus::Delivered => (
            first(details, "recipients")
                .and_then(Value::as_str)
                .map(str::to_owned),
            None,
            None,
        ),
        DeliveryStatus::Bounced => {
            let bounced = first(details, "bouncedRecipients").unwrap_or(&Value::Null);
            let code = match (text(details, "bounceType"), text(details, "bounceSubType")) {
                (Some(t), Some(sub)) => Some(format!("{t}/{sub}")),
                (Some(t), None) => Some(t.to_owned()),
                (None, _) => None,
            };
            (
                text(bounced, "emailAddress").map(str::to_owned),
                code,
                text(bounced, "diagnosticCode").map(str::to_owned),
            )
        }
        DeliveryStatus::Complained => {
            let complained = first(details, "complainedRecipients").unwrap_or(&Value::Null);
            (
                text(complained, "emailAddress").map(str::to_owned),
                text(details, "complaintFeedbackType").map(str::to_owned),
                None,
            )
        }
        DeliveryStatus::Delayed => {
            let delayed = first(details, "delayedRecipients").unwrap_or(&Value::Null);
            (
                text(delayed, "emailAddress").map(str::to_owned),
                text(details, "delayType").map(str::to_owned),
                text(delayed, "diagnosticCode").map(str::to_owned),
            )
        }
        DeliveryStatus::Rejected => (None, None, text(details, "reason").map(str::to_owned)),
        _ => (None, None, None),
    };
    let recipient = recipient.or_else(|| {
        first(mail, "destination")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    let occurred_at = time(details, "timestamp")
        .or_else(|| time(mail, "timestamp"))
        .unwrap_or(received_at);

    let events = vec![DeliveryEvent {
        provider: ProviderKind::Ses,
        provider_message_id: message_id.to_owned(),
        status,
        error_code,
        detail,
        recipient,
        occurred_at,
        received_at,
        source: DeliverySource::SnsWebhook,
        event_id: notification_id.to_owned(),
    }];
    Ok(with_event_ids(events, notification_id))
}

/// One event keeps the notification's id; several are told apart by their index.
fn with_event_ids(mut events: Vec<DeliveryEvent>, notification_id: &str) -> Vec<DeliveryEvent> {
    if events.len() > 1 {
        for (index, event) in events.iter_mut().enumerate() {
            event.event_id = format!("{notification_id}:{index}");
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTIFICATION: &str = "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324";

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("a test time")
            .with_timezone(&Utc)
    }

    fn received() -> DateTime<Utc> {
        at("2030-01-01T00:00:00Z")
    }

    fn one(record: &str) -> DeliveryEvent {
        let mut events =
            parse_event_record(record, NOTIFICATION, received()).expect("a readable record");
        assert_eq!(events.len(), 1, "{events:?}");
        events.remove(0)
    }

    // The examples of "Examples of event data that Amazon SES publishes to Amazon SNS"
    // (SES Developer Guide, event publishing), headers shortened.

    const SEND: &str = r#"{
      "eventType": "Send",
      "mail": {
        "timestamp": "2016-10-14T05:02:16.645Z",
        "source": "sender@example.com",
        "sourceArn": "arn:aws:ses:us-east-1:123456789012:identity/sender@example.com",
        "sendingAccountId": "123456789012",
        "messageId": "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000",
        "destination": ["recipient@example.com"],
        "headersTruncated": false,
        "headers": [
          {"name": "From", "value": "sender@example.com"},
          {"name": "To", "value": "recipient@example.com"},
          {"name": "Subject", "value": "Message sent from Amazon SES"}
        ],
        "commonHeaders": {
          "from": ["sender@example.com"],
          "to": ["recipient@example.com"],
          "messageId": "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000",
          "subject": "Message sent from Amazon SES"
        },
        "tags": {
          "ses:configuration-set": ["ConfigSet"],
          "ses:source-ip": ["192.0.2.0"],
          "ses:from-domain": ["example.com"],
          "ses:caller-identity": ["ses_user"],
          "myCustomTag1": ["myCustomTagValue1"]
        }
      },
      "send": {}
    }"#;

    const DELIVERY: &str = r#"{
      "eventType": "Delivery",
      "mail": {
        "timestamp": "2016-10-19T23:20:52.240Z",
        "source": "sender@example.com",
        "sourceArn": "arn:aws:ses:us-east-1:123456789012:identity/sender@example.com",
        "sendingAccountId": "123456789012",
        "messageId": "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000",
        "destination": ["recipient@example.com"],
        "headersTruncated": false,
        "headers": [{"name": "From", "value": "sender@example.com"}],
        "commonHeaders": {
          "from": ["sender@example.com"],
          "to": ["recipient@example.com"],
          "messageId": "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000",
          "subject": "Message sent from Amazon SES"
        },
        "tags": {"ses:configuration-set": ["ConfigSet"]}
      },
      "delivery": {
        "timestamp": "2016-10-19T23:21:04.133Z",
        "processingTimeMillis": 11893,
        "recipients": ["recipient@example.com"],
        "smtpResponse": "250 2.6.0 Message received",
        "reportingMTA": "mta.example.com"
      }
    }"#;

    const BOUNCE: &str = r#"{
      "eventType": "Bounce",
      "bounce": {
        "bounceType": "Permanent",
        "bounceSubType": "General",
        "bouncedRecipients": [
          {
            "emailAddress": "recipient@example.com",
            "action": "failed",
            "status": "5.1.1",
            "diagnosticCode": "smtp; 550 5.1.1 user unknown"
          }
        ],
        "timestamp": "2017-08-05T00:41:02.669Z",
        "feedbackId": "01000157c44f053b-61b59c11-9236-11e6-8f96-7be8aexample-000000",
        "reportingMTA": "dsn; mta.example.com"
      },
      "mail": {
        "timestamp": "2017-08-05T00:40:02.012Z",
        "source": "Sender Name <sender@example.com>",
        "sourceArn": "arn:aws:ses:us-east-1:123456789012:identity/sender@example.com",
        "sendingAccountId": "123456789012",
        "messageId": "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000",
        "destination": ["recipient@example.com"],
        "headersTruncated": false,
        "headers": [{"name": "From", "value": "Sender Name <sender@example.com>"}],
        "commonHeaders": {
          "from": ["Sender Name <sender@example.com>"],
          "to": ["recipient@example.com"],
          "messageId": "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000",
          "subject": "Message sent from Amazon SES"
        },
        "tags": {"ses:configuration-set": ["ConfigSet"]}
      }
    }"#;

    const COMPLAINT: &str = r#"{
      "eventType": "Complaint",
      "complaint": {
        "feedbackId": "01000157c44f053b-61b59c11-9236-11e6-8f96-7be8aexample-000000",
        "complaintSubType": null,
        "complainedRecipients": [{"emailAddress": "recipient@example.com"}],
        "timestamp": "2017-08-05T00:41:02.669Z",
        "userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/60.0.3112.90 Safari/537.36",
        "complaintFeedbackType": "abuse",
        "arrivalDate": "2017-08-05T00:41:02.669Z"
      },
      "mail": {
        "timestamp": "2017-08-05T00:40:01.123Z",
        "source": "Sender Name <sender@example.com>",
        "sourceArn": "arn:aws:ses:us-east-1:123456789012:identity/sender@example.com",
        "sendingAccountId": "123456789012",
        "messageId": "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000",
        "destination": ["recipient@example.com"],
        "headersTruncated": false,
        "tags": {"ses:configuration-set": ["ConfigSet"]}
      }
    }"#;

    const DELIVERY_DELAY: &str = r#"{
      "eventType": "DeliveryDelay",
      "mail": {
        "timestamp": "2020-06-16T00:15:40.641Z",
        "source": "sender@example.com",
        "sourceArn": "arn:aws:ses:us-east-1:123456789012:identity/sender@example.com",
        "sendingAccountId": "123456789012",
        "messageId": "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000",
        "destination": ["recipient@example.com"],
        "headersTruncated": false,
        "tags": {"ses:configuration-set": ["ConfigSet"]}
      },
      "deliveryDelay": {
        "timestamp": "2020-06-16T00:25:40.095Z",
        "delayType": "TransientCommunicationFailure",
        "expirationTime": "2020-06-16T00:25:40.914Z",
        "delayedRecipients": [
          {
            "emailAddress": "recipient@example.com",
            "status": "4.4.1",
            "diagnosticCode": "smtp; 421 4.4.1 Unable to connect to remote host"
          }
        ]
      }
    }"#;

    const REJECT: &str = r#"{
      "eventType": "Reject",
      "mail": {
        "timestamp": "2016-10-14T17:38:15.211Z",
        "source": "sender@example.com",
        "sourceArn": "arn:aws:ses:us-east-1:123456789012:identity/sender@example.com",
        "sendingAccountId": "123456789012",
        "messageId": "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000",
        "destination": ["sender@example.com"],
        "headersTruncated": false,
        "tags": {"ses:configuration-set": ["ConfigSet"]}
      },
      "reject": {"reason": "Bad content"}
    }"#;

    const OPEN: &str = r#"{
      "eventType": "Open",
      "mail": {
        "timestamp": "2017-08-09T21:59:49.927Z",
        "messageId": "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000",
        "destination": ["recipient@example.com"]
      },
      "open": {
        "ipAddress": "192.0.2.1",
        "timestamp": "2017-08-09T22:00:19.652Z",
        "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 10_3_3 like Mac OS X)"
      }
    }"#;

    const RENDERING_FAILURE: &str = r#"{
      "eventType": "Rendering Failure",
      "mail": {
        "timestamp": "2018-01-22T18:43:06.197Z",
        "messageId": "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000",
        "destination": ["recipient@example.com"]
      },
      "failure": {
        "errorMessage": "Attribute 'attributeName' is not present in the rendering data.",
        "templateName": "MyTemplate"
      }
    }"#;

    /// An identity's feedback notification (`notificationType`), from "Amazon SNS notification
    /// examples for Amazon SES".
    const IDENTITY_BOUNCE: &str = r#"{
      "notificationType": "Bounce",
      "bounce": {
        "feedbackId": "0100015e7d3a7f85-7b8a1fea-4b8a-4e6a-9c6e-2b2a8c1ed0f9-000000",
        "bounceType": "Permanent",
        "bounceSubType": "General",
        "bouncedRecipients": [
          {
            "emailAddress": "jane@example.com",
            "action": "failed",
            "status": "5.1.1",
            "diagnosticCode": "smtp; 550 5.1.1 <jane@example.com>... User"
          },
          {
            "emailAddress": "richard@example.com",
            "action": "failed",
            "status": "5.1.1",
            "diagnosticCode": "smtp; 550 5.1.1 <richard@example.com>... User"
          }
        ],
        "timestamp": "2016-01-27T14:59:38.237Z",
        "remoteMtaIp": "127.0.2.0",
        "reportingMTA": "dsn; a7-7.smtp-out.us-west-2.amazonses.com"
      },
      "mail": {
        "timestamp": "2016-01-27T14:59:38.000Z",
        "messageId": "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000",
        "source": "john@example.com",
        "sourceArn": "arn:aws:ses:us-west-2:888888888888:identity/example.com",
        "sourceIp": "127.0.3.0",
        "sendingAccountId": "123456789012",
        "callerIdentity": "IAM_user_or_role_name",
        "destination": ["jane@example.com", "mary@example.com", "richard@example.com"]
      }
    }"#;

    const MESSAGE_ID: &str = "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000";

    #[test]
    fn send_is_accepted_at_the_mail_timestamp() {
        let e = one(SEND);
        assert_eq!(e.provider, ProviderKind::Ses);
        assert_eq!(e.status, DeliveryStatus::Accepted);
        assert_eq!(e.provider_message_id, MESSAGE_ID);
        assert_eq!(e.recipient.as_deref(), Some("recipient@example.com"));
        assert_eq!(e.occurred_at, at("2016-10-14T05:02:16.645Z"));
        assert_eq!(e.received_at, received());
        assert_eq!(e.source, DeliverySource::SnsWebhook);
        assert_eq!(e.event_id, NOTIFICATION);
        assert_eq!((e.error_code, e.detail), (None, None));
    }

    #[test]
    fn delivery_is_delivered_at_the_delivery_timestamp() {
        let e = one(DELIVERY);
        assert_eq!(e.status, DeliveryStatus::Delivered);
        assert_eq!(e.provider_message_id, MESSAGE_ID);
        assert_eq!(e.recipient.as_deref(), Some("recipient@example.com"));
        assert_eq!(e.occurred_at, at("2016-10-19T23:21:04.133Z"));
        assert_eq!(e.event_id, NOTIFICATION);
        assert_eq!((e.error_code, e.detail), (None, None));
    }

    #[test]
    fn bounce_carries_type_subtype_and_the_diagnostic_code() {
        let e = one(BOUNCE);
        assert_eq!(e.status, DeliveryStatus::Bounced);
        assert_eq!(e.error_code.as_deref(), Some("Permanent/General"));
        assert_eq!(e.detail.as_deref(), Some("smtp; 550 5.1.1 user unknown"));
        assert_eq!(e.recipient.as_deref(), Some("recipient@example.com"));
        assert_eq!(e.occurred_at, at("2017-08-05T00:41:02.669Z"));
        assert_eq!(e.provider_message_id, MESSAGE_ID);
    }

    #[test]
    fn complaint_carries_the_feedback_type() {
        let e = one(COMPLAINT);
        assert_eq!(e.status, DeliveryStatus::Complained);
        assert_eq!(e.error_code.as_deref(), Some("abuse"));
        assert_eq!(e.detail, None);
        assert_eq!(e.recipient.as_deref(), Some("recipient@example.com"));
        assert_eq!(e.occurred_at, at("2017-08-05T00:41:02.669Z"));
    }

    #[test]
    fn a_complaint_without_feedback_type_has_no_error_code() {
        let record = COMPLAINT.replace(r#""complaintFeedbackType": "abuse","#, "");
        assert_ne!(record, COMPLAINT);
        let e = one(&record);
        assert_eq!(e.status, DeliveryStatus::Complained);
        assert_eq!(e.error_code, None);
    }

    #[test]
    fn delivery_delay_is_delayed_with_the_delay_type() {
        let e = one(DELIVERY_DELAY);
        assert_eq!(e.status, DeliveryStatus::Delayed);
        assert_eq!(
            e.error_code.as_deref(),
            Some("TransientCommunicationFailure")
        );
        assert_eq!(
            e.detail.as_deref(),
            Some("smtp; 421 4.4.1 Unable to connect to remote host")
        );
        assert_eq!(e.recipient.as_deref(), Some("recipient@example.com"));
        assert_eq!(e.occurred_at, at("2020-06-16T00:25:40.095Z"));
    }

    #[test]
    fn reject_carries_the_reason_at_the_mail_timestamp() {
        let e = one(REJECT);
        assert_eq!(e.status, DeliveryStatus::Rejected);
        assert_eq!(e.detail.as_deref(), Some("Bad content"));
        assert_eq!(e.error_code, None);
        assert_eq!(e.recipient.as_deref(), Some("sender@example.com"));
        assert_eq!(e.occurred_at, at("2016-10-14T17:38:15.211Z"));
    }

    #[test]
    fn identity_notifications_read_like_event_publishing() {
        let e = one(IDENTITY_BOUNCE);
        assert_eq!(e.status, DeliveryStatus::Bounced);
        assert_eq!(
            e.provider_message_id,
            "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000"
        );
        assert_eq!(e.error_code.as_deref(), Some("Permanent/General"));
        assert_eq!(e.recipient.as_deref(), Some("jane@example.com"));
        assert_eq!(
            e.detail.as_deref(),
            Some("smtp; 550 5.1.1 <jane@example.com>... User")
        );
        assert_eq!(e.occurred_at, at("2016-01-27T14:59:38.237Z"));
        assert_eq!(e.event_id, NOTIFICATION);
    }

    #[test]
    fn engagement_and_rendering_records_give_no_event() {
        for record in [
            OPEN,
            RENDERING_FAILURE,
            r#"{"eventType":"Click","mail":{"messageId":"m"},"click":{}}"#,
            r#"{"eventType":"Subscription","mail":{"messageId":"m"},"subscription":{}}"#,
            r#"{"notificationType":"AmazonSnsSubscriptionSucceeded","message":"You have successfully subscribed your Amazon SNS topic"}"#,
        ] {
            let events = parse_event_record(record, NOTIFICATION, received()).expect("readable");
            assert!(events.is_empty(), "{record}: {events:?}");
        }
    }

    #[test]
    fn no_timestamps_fall_back_to_received_at() {
        let e = one(r#"{"eventType":"Send","mail":{"messageId":"m","timestamp":"yesterday"}}"#);
        assert_eq!(e.occurred_at, received());
        assert_eq!(e.recipient, None);
        assert_eq!(e.provider_message_id, "m");
    }

    #[test]
    fn a_bounce_without_recipients_falls_back_to_the_destination() {
        let e = one(
            r#"{"eventType":"Bounce","mail":{"messageId":"m","destination":["a@example.com"]},"bounce":{"bounceType":"Transient"}}"#,
        );
        assert_eq!(e.error_code.as_deref(), Some("Transient"));
        assert_eq!(e.detail, None);
        assert_eq!(e.recipient.as_deref(), Some("a@example.com"));
    }

    #[test]
    fn not_json_no_type_or_no_message_id_is_malformed() {
        for record in [
            "",
            "Hello from a plain SNS publish",
            "[]",
            r#""Delivery""#,
            r#"{"mail":{"messageId":"m"}}"#,
            r#"{"eventType":"Delivery","delivery":{}}"#,
            r#"{"eventType":"Delivery","mail":{"messageId":""}}"#,
            r#"{"eventType":"Delivery","mail":{"messageId":42}}"#,
        ] {
            let rejection = parse_event_record(record, NOTIFICATION, received()).expect_err(record);
            assert_eq!(rejection.reason, RejectReason::Malformed, "{record}");
        }
    }

    #[test]
    fn several_events_of_one_record_get_indexed_ids() {
        let e = one(DELIVERY);
        let events = with_event_ids(vec![e.clone(), e], "n");
        let ids: Vec<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
        assert_eq!(ids, ["n:0", "n:1"]);
    }
}
