//! Twilio's StatusCallback: a form post signed with the account's auth token
//! (`X-Twilio-Signature`), checked as Twilio's own `RequestValidator` checks it, then read as
//! one [`DeliveryEvent`].
//!
//! The signature is Base64(HMAC-SHA1(auth token, URL + every POST parameter sorted by name,
//! name then value; a repeated name gives each of its values, sorted)). A JSON body is signed
//! through the URL alone, whose `bodySHA256` query parameter is the body's SHA-256 in hex.

use std::collections::{BTreeMap, BTreeSet};

use aws_lc_rs::{digest, hmac};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use msgops_delivery::{DeliveryEvent, DeliverySource, DeliveryStatus};
use msgops_provider_kind::ProviderKind;

use crate::{RejectReason, Rejection};

/// A StatusCallback as received.
#[derive(Debug, Clone, Copy)]
pub struct TwilioRequest<'a> {
    /// The URL Twilio was told to call: the configured public base URL + the request's path and
    /// query (e.g. `https://ops.example.com/api/v1/webhooks/twilio?x=1`).
    pub url: &'a str,
    pub body: &'a [u8],
    pub content_type: Option<&'a str>,
    /// The X-Twilio-Signature header.
    pub signature: Option<&'a str>,
}

/// Accepts when the signature verifies with any of `auth_tokens` (the current one first, then
/// the previous one during its grace period). Errors: Unsigned (no header), NotConfigured (no
/// token), BadSignature, Malformed.
///
/// The URL is tried as given, without its port and with the scheme's default port (`:443`,
/// `:80`), since Twilio signs either form.
pub fn verify(request: &TwilioRequest<'_>, auth_tokens: &[&str]) -> Result<(), Rejection> {
    // A blank token would make the signature a thing anyone can compute.
    let keys: Vec<hmac::Key> = auth_tokens
        .iter()
        .filter(|token| !token.is_empty())
        .map(|token| hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, token.as_bytes()))
        .collect();
    if keys.is_empty() {
        return Err(Rejection::new(
            RejectReason::NotConfigured,
            "no Twilio auth token configured",
        ));
    }
    let signature = match request.signature.map(str::trim) {
        Some(signature) if !signature.is_empty() => signature,
        _ => {
            return Err(Rejection::new(
                RejectReason::Unsigned,
                "no X-Twilio-Signature header",
            ))
        }
    };
    // Canonical base64 only (padding, no stray bits): comparing the decoded MACs is then the
    // same as comparing the header with the computed signature text.
    let expected = BASE64.decode(signature).map_err(|_| {
        Rejection::new(
            RejectReason::BadSignature,
            "X-Twilio-Signature is not base64",
        )
    })?;

    let params = if is_json(request.content_type) {
        let Some(body_sha256) = query_param(request.url, "bodySHA256") else {
            return Err(Rejection::new(
                RejectReason::Malformed,
                "a JSON body, but no bodySHA256 in the URL's query",
            ));
        };
        if body_sha256 != hex_sha256(request.body) {
            return Err(Rejection::new(
                RejectReason::BadSignature,
                "the body does not match the bodySHA256 of the URL",
            ));
        }
        String::new()
    } else {
        let body = std::str::from_utf8(request.body)
            .map_err(|_| Rejection::new(RejectReason::Malformed, "the form body is not UTF-8"))?;
        signed_params(body)
    };

    for url in url_variants(request.url) {
        let mut signed = url;
        signed.push_str(&params);
        if keys
            .iter()
            .any(|key| hmac::verify(key, signed.as_bytes(), &expected).is_ok())
        {
            return Ok(());
        }
    }
    Err(Rejection::new(
        RejectReason::BadSignature,
        format!(
            "X-Twilio-Signature does not verify with the {} configured auth token(s)",
            keys.len()
        ),
    ))
}

/// The DeliveryEvents of a verified StatusCallback (form-encoded). Unknown statuses give an
/// empty Vec (not an error). Malformed when MessageSid/MessageStatus missing.
pub fn parse_status_callback(
    body: &[u8],
    received_at: DateTime<Utc>,
) -> Result<Vec<DeliveryEvent>, Rejection> {
    let body = std::str::from_utf8(body)
        .map_err(|_| Rejection::new(RejectReason::Malformed, "the form body is not UTF-8"))?;
    let mut fields: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in form_urlencoded::parse(body.as_bytes()) {
        // The first value of a repeated name counts.
        fields
            .entry(name.into_owned())
            .or_insert_with(|| value.into_owned());
    }
    let field = |name: &str| {
        fields
            .get(name)
            .map(|value| value.trim())
            .filter(|value| !value.is_empty())
    };

    let Some(message_sid) = field("MessageSid").or_else(|| field("SmsSid")) else {
        return Err(Rejection::new(
            RejectReason::Malformed,
            "a StatusCallback without MessageSid",
        ));
    };
    let Some(message_status) = field("MessageStatus") else {
        return Err(Rejection::new(
            RejectReason::Malformed,
            "a StatusCallback without MessageStatus",
        ));
    };
    let Some(status) = status_of(message_status) else {
        tracing::debug!(
            message_sid,
            message_status,
            "Twilio StatusCallback with a status msgops does not track; skipped"
        );
        return Ok(Vec::new());
    };
    let error_code = field("ErrorCode");

    Ok(vec![DeliveryEvent {
        provider: ProviderKind::Twilio,
        provider_message_id: message_sid.to_owned(),
        status,
        error_code: error_code.map(str::to_owned),
        detail: field("ErrorMessage").map(str::to_owned),
        recipient: field("To").map(str::to_owned),
        occurred_at: received_at,
        received_at,
        source: DeliverySource::TwilioWebhook,
        event_id: format!(
            "{message_sid}:{message_status}:{}",
            error_code.unwrap_or_default()
        ),
    }])
}

/// Twilio's `MessageStatus` in msgops' words; `None` for the ones msgops does not track
/// (`receiving`, `received`, ...).
fn status_of(message_status: &str) -> Option<DeliveryStatus> {
    Some(match message_status.to_ascii_lowercase().as_str() {
        "accepted" => DeliveryStatus::Accepted,
        "queued" | "scheduled" => DeliveryStatus::Queued,
        "sending" => DeliveryStatus::Sending,
        "sent" => DeliveryStatus::Sent,
        "delivered" => DeliveryStatus::Delivered,
        "read" => DeliveryStatus::Read,
        "undelivered" => DeliveryStatus::Undelivered,
        "failed" | "canceled" => DeliveryStatus::Failed,
        _ => return None,
    })
}

fn is_json(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|value| value.split(';').next())
        .is_some_and(|media_type| media_type.trim().eq_ignore_ascii_case("application/json"))
}

/// The POST parameters as Twilio signs them: sorted by name, each name followed by one of its
/// values, values sorted, a repeated name=value pair counted once.
fn signed_params(body: &str) -> String {
    let mut params: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, value) in form_urlencoded::parse(body.as_bytes()) {
        params
            .entry(name.into_owned())
            .or_default()
            .insert(value.into_owned());
    }
    let mut signed = String::with_capacity(body.len());
    for (name, values) in &params {
        for value in values {
            signed.push_str(name);
            signed.push_str(value);
        }
    }
    signed
}

/// The first value of `name` in the URL's query, decoded.
fn query_param(url: &str, name: &str) -> Option<String> {
    let (_, rest) = url.split_once('?')?;
    let query = rest.split('#').next().unwrap_or_default();
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, value)| key == name && !value.is_empty())
        .map(|(_, value)| value.into_owned())
}

fn hex_sha256(body: &[u8]) -> String {
    use std::fmt::Write as _;
    let hash = digest::digest(&digest::SHA256, body);
    hash.as_ref()
        .iter()
        .fold(String::with_capacity(64), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
}

/// The URL as given, then without its port, or with the scheme's default port when it has
/// none — the forms Twilio's `RequestValidator.validate` tries.
fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_owned()];
    if let Some(other) = other_port_form(url) {
        if other != url {
            variants.push(other);
        }
    }
    variants
}

fn other_port_form(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    let authority_start = scheme.len() + "://".len();
    let authority_end = authority_start + authority_len;
    // The host and port follow any user info; an IPv6 host is in brackets.
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let after_host = match host_port.rfind(']') {
        Some(bracket) => &host_port[bracket + 1..],
        None => host_port,
    };
    match after_host.rfind(':') {
        Some(colon) => {
            let port = &after_host[colon + 1..];
            if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let port_start = authority_end - port.len() - 1;
            Some(format!("{}{}", &url[..port_start], &url[authority_end..]))
        }
        None => {
            let port = if scheme.eq_ignore_ascii_case("https") {
                ":443"
            } else {
                ":80"
            };
            Some(format!(
                "{}{port}{}",
                &url[..authority_end],
                &url[authority_end..]
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "12345";

    fn at() -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("time")
    }

    fn sign(token: &str, url: &str, body: &str) -> String {
        let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, token.as_bytes());
        let mut signed = url.to_owned();
        signed.push_str(&signed_params(body));
        BASE64.encode(hmac::sign(&key, signed.as_bytes()).as_ref())
    }

    fn form(url: &str, body: &str, signature: Option<&str>) -> Result<(), Rejection> {
        verify(
            &TwilioRequest {
                url,
                body: body.as_bytes(),
                content_type: Some("application/x-www-form-urlencoded; charset=utf-8"),
                signature,
            },
            &[TOKEN],
        )
    }

    #[test]
    fn twilios_documented_example_verifies() {
        // The example of Twilio's webhook security guide (its signature as Twilio's Python
        // library computes it).
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let body = "CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234\
                    &From=%2B12349013030&To=%2B18005551212";
        assert_eq!(sign(TOKEN, url, body), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
        assert_eq!(
            form(url, body, Some("0/KCTR6DLpKmkAf8muzZqo1nDgQ=")),
            Ok(())
        );
    }

    #[test]
    fn params_are_signed_sorted_by_name_then_value_and_repeats_count_once() {
        assert_eq!(signed_params("b=2&a=z&a=y&c=&a=y"), "ayazb2c");
        assert_eq!(signed_params("To=%2B1+555&x=a%26b"), "To+1 555xa&b");
        assert_eq!(signed_params(""), "");
    }

    #[test]
    fn the_url_is_tried_with_and_without_its_port() {
        assert_eq!(
            url_variants("https://h.example/p?x=1"),
            ["https://h.example/p?x=1", "https://h.example:443/p?x=1"]
        );
        assert_eq!(
            url_variants("http://h.example"),
            ["http://h.example", "http://h.example:80"]
        );
        assert_eq!(
            url_variants("https://u:p@h.example:8443/p#f"),
            [
                "https://u:p@h.example:8443/p#f",
                "https://u:p@h.example/p#f"
            ]
        );
        assert_eq!(
            url_variants("https://[::1]:443/p"),
            ["https://[::1]:443/p", "https://[::1]/p"]
        );
        assert_eq!(
            url_variants("https://[::1]/p"),
            ["https://[::1]/p", "https://[::1]:443/p"]
        );
        assert_eq!(url_variants("not a url"), ["not a url"]);

        let body = "MessageSid=SM1&MessageStatus=sent";
        let signature = sign(TOKEN, "https://h.example:443/cb", body);
        assert_eq!(form("https://h.example/cb", body, Some(&signature)), Ok(()));
        let signature = sign(TOKEN, "https://h.example/cb", body);
        assert_eq!(
            form("https://h.example:443/cb", body, Some(&signature)),
            Ok(())
        );
        assert_eq!(
            form("https://h.example:8443/cb", body, Some(&signature)),
            Ok(()),
            "Twilio's validator drops any port"
        );
    }

    #[test]
    fn refusals_say_why() {
        let url = "https://h.example/cb";
        let body = "MessageSid=SM1&MessageStatus=sent";
        let signature = sign(TOKEN, url, body);
        let reason = |result: Result<(), Rejection>| result.map_err(|r| r.reason);

        assert_eq!(reason(form(url, body, None)), Err(RejectReason::Unsigned));
        assert_eq!(
            reason(form(url, body, Some("  "))),
            Err(RejectReason::Unsigned)
        );
        assert_eq!(
            reason(form(
                url,
                "MessageSid=SM1&MessageStatus=read",
                Some(&signature)
            )),
            Err(RejectReason::BadSignature)
        );
        assert_eq!(
            reason(form(url, body, Some("not base64!"))),
            Err(RejectReason::BadSignature)
        );
        assert_eq!(
            reason(form(url, body, Some(&signature))),
            Ok(()),
            "the control case"
        );

        let request = TwilioRequest {
            url,
            body: body.as_bytes(),
            content_type: None,
            signature: Some(&signature),
        };
        assert_eq!(
            reason(verify(&request, &[])),
            Err(RejectReason::NotConfigured)
        );
        assert_eq!(
            reason(verify(&request, &[""])),
            Err(RejectReason::NotConfigured),
            "a blank token is no token"
        );
        assert_eq!(
            reason(verify(&request, &["other", TOKEN])),
            Ok(()),
            "any configured token"
        );
        let not_utf8 = TwilioRequest {
            body: b"MessageSid=\xff",
            ..request
        };
        assert_eq!(
            reason(verify(&not_utf8, &[TOKEN])),
            Err(RejectReason::Malformed)
        );
        let unsigned_json = TwilioRequest {
            content_type: Some("application/json"),
            ..request
        };
        assert_eq!(
            reason(verify(&unsigned_json, &[TOKEN])),
            Err(RejectReason::Malformed)
        );
    }

    #[test]
    fn a_json_body_is_signed_through_the_url_and_its_body_sha256() {
        let body = br#"{"MessageSid":"SM1","MessageStatus":"delivered"}"#;
        let url = format!("https://h.example/cb?bodySHA256={}&x=1", hex_sha256(body));
        let signature = sign(TOKEN, &url, "");
        let request = TwilioRequest {
            url: &url,
            body,
            content_type: Some("Application/JSON; charset=utf-8"),
            signature: Some(&signature),
        };
        assert_eq!(verify(&request, &[TOKEN]), Ok(()));
        let tampered = TwilioRequest {
            body: br#"{"MessageSid":"SM1","MessageStatus":"failed"}"#,
            ..request
        };
        assert_eq!(
            verify(&tampered, &[TOKEN]).map_err(|r| r.reason),
            Err(RejectReason::BadSignature)
        );
    }

    #[test]
    fn hex_sha256_is_lowercase_hex() {
        assert_eq!(
            hex_sha256(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn every_twilio_status_maps() {
        let cases = [
            ("accepted", DeliveryStatus::Accepted),
            ("queued", DeliveryStatus::Queued),
            ("scheduled", DeliveryStatus::Queued),
            ("sending", DeliveryStatus::Sending),
            ("sent", DeliveryStatus::Sent),
            ("delivered", DeliveryStatus::Delivered),
            ("read", DeliveryStatus::Read),
            ("undelivered", DeliveryStatus::Undelivered),
            ("failed", DeliveryStatus::Failed),
            ("canceled", DeliveryStatus::Failed),
        ];
        for (word, status) in cases {
            let body = format!("MessageSid=SM1&MessageStatus={word}");
            let events = parse_status_callback(body.as_bytes(), at()).expect("parses");
            assert_eq!(events.len(), 1, "{word}");
            assert_eq!(events[0].status, status, "{word}");
            assert_eq!(events[0].event_id, format!("SM1:{word}:"));
        }
    }

    #[test]
    fn an_undelivered_callback_reads_in_full() {
        let body = "AccountSid=AC1&ApiVersion=2010-04-01&ErrorCode=30003\
                    &ErrorMessage=Unreachable+destination+handset&From=%2B15005550006\
                    &MessageSid=SM0123&MessageStatus=undelivered&SmsSid=SM0123\
                    &SmsStatus=undelivered&To=%2B15558675310";
        let events = parse_status_callback(body.as_bytes(), at()).expect("parses");
        assert_eq!(
            events,
            vec![DeliveryEvent {
                provider: ProviderKind::Twilio,
                provider_message_id: "SM0123".into(),
                status: DeliveryStatus::Undelivered,
                error_code: Some("30003".into()),
                detail: Some("Unreachable destination handset".into()),
                recipient: Some("+15558675310".into()),
                occurred_at: at(),
                received_at: at(),
                source: DeliverySource::TwilioWebhook,
                event_id: "SM0123:undelivered:30003".into(),
            }]
        );
    }

    #[test]
    fn parse_edge_cases() {
        let parse = |body: &str| parse_status_callback(body.as_bytes(), at());
        let only = |body: &str| {
            let mut events = parse(body).expect("parses");
            assert_eq!(events.len(), 1, "{body}");
            events.remove(0)
        };

        let event = only("SmsSid=SM9&MessageStatus=sent&ErrorCode=&To=");
        assert_eq!(
            event.provider_message_id, "SM9",
            "SmsSid when no MessageSid"
        );
        assert_eq!(event.error_code, None, "an empty ErrorCode is none");
        assert_eq!(event.recipient, None);
        assert_eq!(event.event_id, "SM9:sent:");

        assert_eq!(
            parse("MessageSid=SM1&MessageStatus=received").expect("parses"),
            vec![],
            "an inbound status is not tracked"
        );
        for body in [
            "MessageStatus=sent",
            "MessageSid=&MessageStatus=sent",
            "MessageSid=SM1",
            "MessageSid=SM1&MessageStatus=",
            "",
        ] {
            assert_eq!(
                parse(body).map_err(|r| r.reason),
                Err(RejectReason::Malformed),
                "{body:?}"
            );
        }
        assert_eq!(
            parse_status_callback(b"MessageSid=SM1&MessageStatus=sent\xff", at())
                .map_err(|r| r.reason),
            Err(RejectReason::Malformed)
        );
    }
}
