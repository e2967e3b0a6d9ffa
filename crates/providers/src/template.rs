//! One-time-code messages built from templates, with the code always in the same place
//! (`Your {app} code is {code}. It expires in 10 minutes.`), and the SMS length rules: GSM-7
//! or UCS-2, and how many segments (billed messages) a text takes.

use msgops_core::{EmailMessage, SmsMessage};

/// The text of one-time-code messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtpTemplate {
    /// The product name shown to the user (`Acme`).
    pub app: String,
    /// How long the code stays valid (the backend's 10 minutes).
    pub lifetime_minutes: u32,
}

impl Default for OtpTemplate {
    fn default() -> Self {
        Self {
            app: "msgops".into(),
            lifetime_minutes: 10,
        }
    }
}

impl OtpTemplate {
    pub fn new(app: impl Into<String>) -> Self {
        Self {
            app: app.into(),
            ..Self::default()
        }
    }

    /// `Your {app} code is {code}. It expires in {n} minutes.`
    pub fn text(&self, code: &str) -> String {
        let unit = if self.lifetime_minutes == 1 {
            "minute"
        } else {
            "minutes"
        };
        format!(
            "Your {} code is {code}. It expires in {} {unit}.",
            self.app, self.lifetime_minutes
        )
    }

    pub fn sms(&self, to: impl Into<String>, code: &str) -> SmsMessage {
        SmsMessage {
            to: to.into(),
            body: self.text(code),
            code: Some(code.to_owned()),
        }
    }

    pub fn email(&self, to: impl Into<String>, code: &str) -> EmailMessage {
        EmailMessage {
            to: to.into(),
            subject: format!("Your {} verification code", self.app),
            body: format!(
                "{}\n\nIf you did not ask for this code, you can ignore this email.\n",
                self.text(code)
            ),
            code: Some(code.to_owned()),
        }
    }
}

/// How an SMS is encoded on the air.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmsEncoding {
    /// The GSM 03.38 7-bit alphabet: 160 characters in one SMS, 153 per segment when split.
    Gsm7,
    /// Anything outside it: UCS-2 (UTF-16), 70 units in one SMS, 67 per segment.
    Ucs2,
}

/// The length of an SMS text as the network counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmsLength {
    pub encoding: SmsEncoding,
    /// Septets (GSM-7, extension characters count 2) or UTF-16 units (UCS-2).
    pub units: usize,
    /// Billed messages: 1 when it fits in one SMS, else the number of concatenated segments.
    pub segments: usize,
    /// Units per segment for this text (160/153 or 70/67).
    pub per_segment: usize,
}

/// GSM 03.38 basic character set (one septet each), without the escape character.
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// GSM 03.38 extension table (escape + character: two septets each).
const GSM7_EXTENSION: &str = "\u{000C}^{}\\[~]|€";

fn gsm7_septets(c: char) -> Option<usize> {
    if GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// Encoding, length and segment count of an SMS text.
///
/// Simplification: a split never separates an extension character from its escape on real
/// handsets; we count 153 septets per segment regardless, which can under-count by one segment
/// in rare texts full of extension characters at segment borders.
pub fn sms_length(text: &str) -> SmsLength {
    let gsm: Option<usize> = text.chars().map(gsm7_septets).sum();
    let (encoding, units, single, multi) = match gsm {
        Some(septets) => (SmsEncoding::Gsm7, septets, 160, 153),
        None => (SmsEncoding::Ucs2, text.encode_utf16().count(), 70, 67),
    };
    let (segments, per_segment) = if units <= single {
        (1, single)
    } else {
        (units.div_ceil(multi), multi)
    };
    SmsLength {
        encoding,
        units,
        segments,
        per_segment,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_is_in_a_predictable_place() {
        let t = OtpTemplate::new("Acme");
        assert_eq!(
            t.text("091282"),
            "Your Acme code is 091282. It expires in 10 minutes."
        );
        let sms = t.sms("+14165550123", "091282");
        assert_eq!(sms.code.as_deref(), Some("091282"));
        assert_eq!(sms.body, t.text("091282"));
        let email = t.email("ops@example.com", "091282");
        assert!(email.body.starts_with("Your Acme code is 091282."));
        assert_eq!(email.subject, "Your Acme verification code");
    }

    #[test]
    fn an_otp_sms_is_one_gsm7_segment() {
        let l = sms_length(&OtpTemplate::new("Acme").text("091282"));
        assert_eq!((l.encoding, l.segments), (SmsEncoding::Gsm7, 1));
    }

    #[test]
    fn gsm7_boundaries_are_160_then_153() {
        assert_eq!(sms_length(&"a".repeat(160)).segments, 1);
        let l = sms_length(&"a".repeat(161));
        assert_eq!((l.segments, l.per_segment), (2, 153));
        assert_eq!(sms_length(&"a".repeat(306)).segments, 2);
        assert_eq!(sms_length(&"a".repeat(307)).segments, 3);
        assert_eq!(sms_length("").segments, 1);
    }

    #[test]
    fn extension_characters_count_twice() {
        let l = sms_length("€[]");
        assert_eq!((l.encoding, l.units), (SmsEncoding::Gsm7, 6));
        // 158 plain + one euro sign = 160 septets: still one SMS; one more char makes two.
        assert_eq!(sms_length(&format!("{}€", "a".repeat(158))).segments, 1);
        assert_eq!(sms_length(&format!("{}€", "a".repeat(159))).segments, 2);
    }

    #[test]
    fn anything_outside_gsm7_switches_to_ucs2_at_70_then_67() {
        let l = sms_length("Ваш код 123456");
        assert_eq!(l.encoding, SmsEncoding::Ucs2);
        assert_eq!(sms_length(&"é".repeat(200)).encoding, SmsEncoding::Gsm7);
        assert_eq!(sms_length(&"ж".repeat(70)).segments, 1);
        let l = sms_length(&"ж".repeat(71));
        assert_eq!((l.segments, l.per_segment), (2, 67));
        assert_eq!(sms_length(&"ж".repeat(134)).segments, 2);
        assert_eq!(sms_length(&"ж".repeat(135)).segments, 3);
    }

    #[test]
    fn emoji_count_as_two_ucs2_units() {
        let l = sms_length("code 123456 🔐");
        assert_eq!((l.encoding, l.units), (SmsEncoding::Ucs2, 14));
        assert_eq!(sms_length(&"🔐".repeat(35)).segments, 1);
        assert_eq!(sms_length(&"🔐".repeat(36)).segments, 2);
    }
}
