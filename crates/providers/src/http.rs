//! What the HTTP providers (Twilio, SendGrid) share: the client with its timeouts, and the
//! classification of transport failures. Error texts never include the request URL (Twilio's
//! contains the account SID).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use msgops_core::SendError;

use crate::timeouts::Timeouts;

/// A reqwest client with the connect and request timeouts, and no automatic redirects (a
/// provider API does not redirect a POST; following one could send credentials elsewhere).
pub fn client(timeouts: Timeouts) -> Result<reqwest::Client, SendError> {
    reqwest::Client::builder()
        .connect_timeout(timeouts.connect)
        .timeout(timeouts.request)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("msgops/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| SendError::transient(format!("cannot build the HTTP client: {}", describe(e))))
}

pub use msgops_credentials::validate_http::describe;

/// Classifies a failed request: nothing sent (connect failed or timed out) is `Transient`; a
/// timeout after the request was written is `Ambiguous` (the provider may have accepted the
/// message); anything else (connection reset, a reply that is not HTTP) is `Transient`.
pub fn transport_error(provider: &str, error: reqwest::Error, timeouts: Timeouts) -> SendError {
    let connect = error.is_connect();
    let timeout = error.is_timeout();
    let text = describe(error);
    if connect && timeout {
        SendError::transient(format!(
            "{provider}: could not connect within {} ms: {text}",
            timeouts.connect.as_millis()
        ))
    } else if connect {
        SendError::transient(format!("{provider}: could not connect: {text}"))
    } else if timeout {
        SendError::ambiguous(format!(
            "{provider}: no answer within {} ms after the request was sent; the message may have been accepted: {text}",
            timeouts.request.as_millis()
        ))
    } else {
        SendError::transient(format!("{provider}: request failed: {text}"))
    }
}

/// `Retry-After` as seconds (the HTTP-date form is rare for APIs and ignored).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// SendGrid's `X-RateLimit-Reset`: the Unix time when the limit resets, as a wait from now.
pub fn rate_limit_reset(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let reset = headers
        .get("x-ratelimit-reset")?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(reset.saturating_sub(now)))
}

/// The first characters of a body, on one line, for an error message.
pub fn excerpt(body: &str) -> String {
    let one_line: String = body
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(120)
        .collect();
    if body.chars().count() > 120 {
        format!("{}…", one_line.trim_end())
    } else {
        one_line.trim_end().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_are_read_and_dates_ignored() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, "7".parse().expect("value"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            reqwest::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().expect("value"),
        );
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn rate_limit_reset_in_the_past_means_no_wait() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("x-ratelimit-reset", "1".parse().expect("value"));
        assert_eq!(rate_limit_reset(&h), Some(Duration::ZERO));
    }

    #[test]
    fn excerpts_are_one_short_line() {
        assert_eq!(excerpt("a\nb"), "a b");
        assert!(excerpt(&"x".repeat(500)).chars().count() <= 121);
    }
}
