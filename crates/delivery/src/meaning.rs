//! Providers' delivery error codes in plain words: the one table the History page, the CLI and
//! the notifications read.

use msgops_provider_kind::ProviderKind;

/// `code` of `provider` in plain words, or `None` when msgops does not know it (the code itself
/// is still shown).
pub fn meaning(provider: ProviderKind, code: &str) -> Option<&'static str> {
    let code = code.trim();
    match provider {
        ProviderKind::Twilio => twilio(code),
        ProviderKind::Ses => ses(code),
        ProviderKind::Sendgrid | ProviderKind::Smtp => smtp(code),
        ProviderKind::Sns => sns(code),
        ProviderKind::Console => None,
    }
}

/// Twilio's messaging error codes (twilio.com/docs/api/errors).
fn twilio(code: &str) -> Option<&'static str> {
    Some(match code {
        "30001" => "Twilio's queue overflowed: too many messages queued for this number",
        "30002" => "the Twilio account is suspended",
        "30003" => "the phone is unreachable: switched off or out of coverage",
        "30004" => "the recipient blocked messages from this number",
        "30005" => "unknown number: it does not exist or is no longer in service",
        "30006" => "a landline or a number that cannot receive SMS",
        "30007" => "filtered by the carrier as spam or fraud",
        "30008" => "unknown error at the carrier",
        "30009" => "a part of a multi-part message is missing",
        "30010" => "the price limit set for the message was exceeded",
        "30032" => "the toll-free number is not verified",
        "30034" => "the US sender is not registered for A2P 10DLC",
        "30410" => "the carrier timed out",
        "30500" => "the sender number is not SMS-capable",
        "21211" => "the number is not a valid phone number",
        "21408" => "the Twilio account may not send to this region",
        "21610" => "the recipient replied STOP and opted out",
        "21612" => "Twilio cannot route to this number from this sender",
        "21614" => "not a mobile number",
        _ => return None,
    })
}

/// SES bounce types and subtypes (`Permanent/General`) and other event codes.
fn ses(code: &str) -> Option<&'static str> {
    Some(match code {
        "Permanent/General" => "the mailbox refused it for good",
        "Permanent/NoEmail" => "the address does not exist",
        "Permanent/Suppressed" => "the address is on SES's suppression list after earlier bounces",
        "Permanent/OnAccountSuppressionList" => "the address is on this account's suppression list",
        "Permanent/UnsubscribedRecipient" => "the recipient unsubscribed",
        "Transient/General" => "the mailbox refused it for now",
        "Transient/MailboxFull" => "the mailbox is full",
        "Transient/MessageTooLarge" => "the message is too large for the mailbox",
        "Transient/ContentRejected" => "the receiving server rejected the content",
        "Transient/AttachmentRejected" => "the receiving server rejected an attachment",
        "Undetermined/Undetermined" => "it bounced, and the receiving server did not say why",
        "Bad content" => "SES refused it: the message contains a virus",
        "abuse" | "Abuse" => "the recipient reported it as spam",
        _ => return None,
    })
}

/// SMTP status codes, as SendGrid reports them and as SMTP servers answer.
fn smtp(code: &str) -> Option<&'static str> {
    let basic = code
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap_or("");
    Some(match basic {
        "421" => "the receiving server is busy; it will be retried",
        "450" | "451" | "452" => "the mailbox is unavailable for now; it will be retried",
        "550" => "the mailbox does not exist or refused it",
        "551" => "the user is not local to the receiving server",
        "552" => "the mailbox is full or the message too large",
        "553" => "the address is not allowed",
        "554" => "the receiving server refused it (often as spam)",
        _ => return None,
    })
}

/// SNS SMS delivery log `providerResponse` codes and words.
fn sns(code: &str) -> Option<&'static str> {
    Some(match code {
        "Phone is currently unreachable/unavailable" => {
            "the phone is unreachable: switched off or out of coverage"
        }
        "Phone carrier has blocked this message" => "blocked by the carrier",
        "Invalid phone number" => "the number is not a valid phone number",
        "Phone has blocked SMS" => "the phone blocks SMS",
        "Unknown error attempting to reach phone" => "unknown error at the carrier",
        "Phone number is opted out" => "the recipient opted out of SMS from this account",
        "Message has been accepted by phone carrier" | "Message has been accepted by phone" => {
            "the carrier took it"
        }
        "Price for message exceeds max price" | "Exceeds max price" => {
            "the price limit set for SMS was exceeded"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_the_codes_of_the_incident_and_says_nothing_for_others() {
        for code in ["30003", "30005", "30006", "30007"] {
            assert!(meaning(ProviderKind::Twilio, code).is_some(), "{code}");
        }
        assert_eq!(
            meaning(ProviderKind::Twilio, " 30006 "),
            Some("a landline or a number that cannot receive SMS")
        );
        assert_eq!(meaning(ProviderKind::Twilio, "99999"), None);
        assert_eq!(meaning(ProviderKind::Console, "30003"), None);
        assert!(meaning(ProviderKind::Ses, "Permanent/NoEmail").is_some());
        // An enhanced status after the basic code still reads as the basic code.
        assert_eq!(
            meaning(ProviderKind::Sendgrid, "550 5.1.1"),
            meaning(ProviderKind::Sendgrid, "550")
        );
        assert!(meaning(ProviderKind::Sendgrid, "550").is_some());
    }
}
