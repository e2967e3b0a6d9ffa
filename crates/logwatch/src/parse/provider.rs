//! Provider failures as the backend logs them: which provider, the HTTP status and the
//! provider's own error code (Twilio `20003`), from the line or its traceback.

use std::sync::LazyLock;

use msgops_provider_kind::ProviderKind;
use regex::Regex;

pub(crate) fn is_error_level(level: &str, msg: &str) -> bool {
    match level {
        "ERROR" | "CRITICAL" => true,
        "WARNING" => {
            let lower = msg.to_ascii_lowercase();
            [
                "error",
                "fail",
                "denied",
                "unauthori",
                "invalid",
                "exception",
                "401",
                "403",
            ]
            .iter()
            .any(|w| lower.contains(w))
        }
        _ => false,
    }
}

static PROVIDER_RE: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::expect_used)]
    Regex::new(r"(?i)\b(twilio|sendgrid|aws\s*sns|sns|aws\s*ses|sesv2|ses|smtp|gmail)\b")
        .expect("constant regex")
});
static STATUS_RE: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::expect_used)]
    Regex::new(concat!(
        r"(?i)\bHTTP(?:\s+error)?[\s:/]*([1-5]\d\d)\b",
        r"|\bstatus(?:[\s_]?code)?\s*[:=]?\s*([1-5]\d\d)\b",
        r"|\b([45]\d\d)\s+(?:Unauthorized|Forbidden|Bad Request|Not Found|Too Many Requests|Internal Server Error|Bad Gateway|Service Unavailable)"
    ))
    .expect("constant regex")
});
static PROVIDER_CODE_RE: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::expect_used)]
    Regex::new(
        r"(?i)\berror\s*code\s*[:=]?\s*(\d{5})\b|\bcode\s*[:=]\s*(\d{5})\b|/errors/(\d{5})\b",
    )
    .expect("constant regex")
});
/// The first messaging provider a text names.
pub(crate) fn find_provider(text: &str) -> Option<ProviderKind> {
    ProviderKind::from_name(PROVIDER_RE.captures(text)?.get(1)?.as_str())
}

pub(crate) fn find_http_status(text: &str) -> Option<u16> {
    let caps = STATUS_RE.captures(text)?;
    caps.iter().skip(1).flatten().next()?.as_str().parse().ok()
}

pub(crate) fn find_provider_code(text: &str) -> Option<String> {
    let caps = PROVIDER_CODE_RE.captures(text)?;
    Some(caps.iter().skip(1).flatten().next()?.as_str().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_status_and_provider_code() {
        assert_eq!(
            find_http_status("Twilio error: HTTP 401 error: Unable to create record: Authenticate"),
            Some(401)
        );
        assert_eq!(
            find_http_status("SendGrid error: HTTP Error 401: Unauthorized"),
            Some(401)
        );
        assert_eq!(find_http_status("status_code=403"), Some(403));
        assert_eq!(find_http_status("sent via HTTP/1.1"), None);
        assert_eq!(
            find_provider_code("see https://www.twilio.com/docs/errors/20003").as_deref(),
            Some("20003")
        );
        assert_eq!(
            find_provider("Failed to send via AWS SNS"),
            Some(ProviderKind::Sns)
        );
        assert_eq!(find_provider("processes responses"), None);
    }
}
