//! SendGrid's signed Event Webhook: a JSON array of events, signed with ECDSA P-256/SHA-256
//! over the timestamp header followed by the body, checked against the Verification Key that
//! SendGrid shows (base64 of the key's DER SubjectPublicKeyInfo), then read as
//! [`DeliveryEvent`]s.

use std::time::Duration;

use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use msgops_delivery::{DeliveryEvent, DeliverySource, DeliveryStatus};
use msgops_provider_kind::ProviderKind;
use serde::Deserialize;
use spki::{ObjectIdentifier, SubjectPublicKeyInfoRef};

use crate::{RejectReason, Rejection};

/// Default replay window: 5 minutes.
pub const DEFAULT_REPLAY_WINDOW: Duration = Duration::from_secs(5 * 60);

/// id-ecPublicKey (RFC 5480).
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// secp256r1, the curve SendGrid signs with (RFC 5480).
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

/// Checks a public key as SendGrid shows it (base64 of the DER SubjectPublicKeyInfo of a P-256
/// key); Err is a message for people.
pub fn check_public_key(public_key_b64: &str) -> Result<(), String> {
    let point = public_key_point(public_key_b64)?;
    // Parsing the point checks that it is on the curve.
    let point =
        aws_lc_rs::agreement::UnparsedPublicKey::new(&aws_lc_rs::agreement::ECDH_P256, &point);
    aws_lc_rs::agreement::ParsedPublicKey::try_from(&point)
        .map(|_| ())
        .map_err(|_| {
            "the public key's point is not on the P-256 curve: check the key was copied whole"
                .to_owned()
        })
}

/// ECDSA P-256/SHA-256 over the timestamp header value followed by the raw body bytes;
/// signature = base64 DER in X-Twilio-Email-Event-Webhook-Signature; timestamp (unix seconds)
/// in X-Twilio-Email-Event-Webhook-Timestamp. Stale when |now - timestamp| > window.
///
/// The signature is checked before the timestamp: Stale is only said of a genuine request.
pub fn verify(
    public_key_b64: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
    window: Duration,
) -> Result<(), Rejection> {
    if public_key_b64.trim().is_empty() {
        return Err(Rejection::new(
            RejectReason::NotConfigured,
            "no SendGrid verification key configured",
        ));
    }
    let point = public_key_point(public_key_b64)
        .map_err(|message| Rejection::new(RejectReason::NotConfigured, message))?;
    let Some(timestamp) = present(timestamp) else {
        return Err(Rejection::new(
            RejectReason::Unsigned,
            "no X-Twilio-Email-Event-Webhook-Timestamp header",
        ));
    };
    let Some(signature) = present(signature) else {
        return Err(Rejection::new(
            RejectReason::Unsigned,
            "no X-Twilio-Email-Event-Webhook-Signature header",
        ));
    };
    let seconds: i64 = timestamp.parse().map_err(|_| {
        Rejection::new(
            RejectReason::Malformed,
            "X-Twilio-Email-Event-Webhook-Timestamp is not unix seconds",
        )
    })?;
    let signature = BASE64.decode(signature).map_err(|_| {
        Rejection::new(
            RejectReason::BadSignature,
            "X-Twilio-Email-Event-Webhook-Signature is not base64",
        )
    })?;

    let mut signed = Vec::with_capacity(timestamp.len() + body.len());
    signed.extend_from_slice(timestamp.as_bytes());
    signed.extend_from_slice(body);
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &point)
        .verify(&signed, &signature)
        .map_err(|_| {
            Rejection::new(
                RejectReason::BadSignature,
                "the signature does not verify with the configured verification key",
            )
        })?;

    let skew = now.timestamp().saturating_sub(seconds);
    if skew.unsigned_abs() > window.as_secs() {
        let when = if skew > 0 { "old" } else { "ahead" };
        return Err(Rejection::new(
            RejectReason::Stale,
            format!(
                "signed {}s {when}, outside the {}s replay window",
                skew.unsigned_abs(),
                window.as_secs()
            ),
        ));
    }
    Ok(())
}

/// The DeliveryEvents of a verified body (a JSON array of events). Events of other kinds
/// (group_unsubscribe, click, ...) are skipped.
pub fn parse_events(
    body: &[u8],
    received_at: DateTime<Utc>,
) -> Result<Vec<DeliveryEvent>, Rejection> {
    let events: Vec<RawEvent> = serde_json::from_slice(body).map_err(|e| {
        Rejection::new(
            RejectReason::Malformed,
            format!("not a JSON array of SendGrid events: {e}"),
        )
    })?;
    let mut out = Vec::with_capacity(events.len());
    for (index, raw) in events.into_iter().enumerate() {
        let Some(status) = status_of(&raw.event) else {
            continue;
        };
        let Some(event_id) = text(raw.sg_event_id) else {
            return Err(Rejection::new(
                RejectReason::Malformed,
                format!("event {index} ({}) has no sg_event_id", raw.event),
            ));
        };
        let message_id = raw
            .sg_message_id
            .as_deref()
            .and_then(|id| id.split('.').next())
            .map(str::trim)
            .filter(|id| !id.is_empty());
        let Some(message_id) = message_id else {
            // Genuine, but nothing to match it with: not a reason to refuse the batch.
            tracing::warn!(
                event_id,
                event = raw.event,
                "SendGrid event without sg_message_id; skipped"
            );
            continue;
        };
        let occurred_at = raw
            .timestamp
            .as_ref()
            .and_then(unix_time)
            .unwrap_or(received_at);
        out.push(DeliveryEvent {
            provider: ProviderKind::Sendgrid,
            provider_message_id: message_id.to_owned(),
            status,
            error_code: raw.status.as_ref().and_then(scalar_text),
            detail: text(raw.reason).or_else(|| text(raw.response)),
            recipient: text(raw.email),
            occurred_at,
            received_at,
            source: DeliverySource::SendgridWebhook,
            event_id,
        });
    }
    Ok(out)
}

/// One event of the Event Webhook, the fields msgops reads.
#[derive(Debug, Deserialize)]
struct RawEvent {
    event: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    timestamp: Option<serde_json::Value>,
    #[serde(default)]
    sg_event_id: Option<String>,
    #[serde(default)]
    sg_message_id: Option<String>,
    /// The SMTP status of a bounce or a deferral (`5.1.1`, `550 5.1.1`).
    #[serde(default)]
    status: Option<serde_json::Value>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    response: Option<String>,
}

/// SendGrid's `event` in msgops' words; `None` for the engagement and subscription events msgops
/// does not track. A `bounce` of `type` `blocked` is a bounce too.
fn status_of(event: &str) -> Option<DeliveryStatus> {
    Some(match event {
        "processed" => DeliveryStatus::Accepted,
        "deferred" => DeliveryStatus::Delayed,
        "delivered" => DeliveryStatus::Delivered,
        "open" => DeliveryStatus::Read,
        "bounce" => DeliveryStatus::Bounced,
        "dropped" => DeliveryStatus::Dropped,
        "spamreport" => DeliveryStatus::Complained,
        _ => return None,
    })
}

fn present(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|value| !value.is_empty())
}

fn text(value: Option<String>) -> Option<String> {
    value
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

fn scalar_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => text(Some(s.clone())),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn unix_time(value: &serde_json::Value) -> Option<DateTime<Utc>> {
    let seconds = match value {
        serde_json::Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))?,
        serde_json::Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    DateTime::<Utc>::from_timestamp(seconds, 0)
}

/// The 65-byte uncompressed P-256 point of a key as SendGrid shows it.
fn public_key_point(public_key_b64: &str) -> Result<Vec<u8>, String> {
    // As shown (one base64 line), or pasted as PEM or across lines.
    let b64: String = public_key_b64
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with("-----"))
        .flat_map(|line| line.split_whitespace())
        .collect();
    if b64.is_empty() {
        return Err(
            "no public key: paste the Verification Key of SendGrid's Signed Event Webhook"
                .to_owned(),
        );
    }
    let der = BASE64.decode(b64.as_bytes()).map_err(|_| {
        "the public key is not base64: paste the Verification Key as SendGrid shows it".to_owned()
    })?;
    let spki = SubjectPublicKeyInfoRef::try_from(der.as_slice()).map_err(|_| {
        "the public key is not a DER SubjectPublicKeyInfo: paste the Verification Key as SendGrid shows it"
            .to_owned()
    })?;
    if spki.algorithm.oid != EC_PUBLIC_KEY {
        return Err(format!(
            "the public key is {}, not an elliptic-curve P-256 key",
            algorithm_name(spki.algorithm.oid)
        ));
    }
    let curve = spki
        .algorithm
        .parameters_oid()
        .map_err(|_| "the public key names no named curve, not P-256".to_owned())?;
    if curve != P256 {
        return Err(format!(
            "the public key is on the curve {}, not P-256",
            curve_name(curve)
        ));
    }
    let point = spki
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| "the public key's bit string is not whole bytes".to_owned())?;
    if point.len() != 65 || point[0] != 0x04 {
        return Err("the public key is not an uncompressed P-256 point".to_owned());
    }
    Ok(point.to_vec())
}

fn algorithm_name(oid: ObjectIdentifier) -> String {
    let name = match oid.to_string().as_str() {
        "1.2.840.113549.1.1.1" => "an RSA key",
        "1.2.840.10040.4.1" => "a DSA key",
        "1.3.101.112" => "an Ed25519 key",
        "1.3.101.113" => "an Ed448 key",
        "1.3.101.110" => "an X25519 key",
        _ => return format!("a key of algorithm {oid}"),
    };
    format!("{name} ({oid})")
}

fn curve_name(oid: ObjectIdentifier) -> String {
    let name = match oid.to_string().as_str() {
        "1.3.132.0.34" => "P-384",
        "1.3.132.0.35" => "P-521",
        "1.3.132.0.10" => "secp256k1",
        _ => return oid.to_string(),
    };
    format!("{name} ({oid})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};

    /// The DER SubjectPublicKeyInfo prefix of an uncompressed P-256 key (RFC 5480).
    const P256_SPKI_PREFIX: [u8; 26] = [
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];

    struct Signer {
        pair: EcdsaKeyPair,
        rng: SystemRandom,
    }

    impl Signer {
        fn new() -> Self {
            let rng = SystemRandom::new();
            let pkcs8 =
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).expect("key");
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref())
                .expect("key pair");
            Self { pair, rng }
        }

        fn public_key_b64(&self) -> String {
            let mut der = P256_SPKI_PREFIX.to_vec();
            der.extend_from_slice(self.pair.public_key().as_ref());
            BASE64.encode(der)
        }

        fn sign(&self, timestamp: &str, body: &[u8]) -> String {
            let mut signed = timestamp.as_bytes().to_vec();
            signed.extend_from_slice(body);
            BASE64.encode(self.pair.sign(&self.rng, &signed).expect("sign").as_ref())
        }
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(seconds, 0).expect("time")
    }

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn a_signed_body_verifies_inside_the_window_only() {
        let signer = Signer::new();
        let key = signer.public_key_b64();
        assert_eq!(check_public_key(&key), Ok(()));
        let body = br#"[{"event":"delivered"}]"#;
        let check = |timestamp: i64, now: i64| {
            let timestamp = timestamp.to_string();
            let signature = signer.sign(&timestamp, body);
            verify(
                &key,
                Some(&timestamp),
                Some(&signature),
                body,
                at(now),
                DEFAULT_REPLAY_WINDOW,
            )
            .map_err(|r| r.reason)
        };
        assert_eq!(check(NOW, NOW), Ok(()));
        assert_eq!(check(NOW - 300, NOW), Ok(()), "the window's edge is inside");
        assert_eq!(check(NOW + 300, NOW), Ok(()));
        assert_eq!(check(NOW - 301, NOW), Err(RejectReason::Stale));
        assert_eq!(check(NOW + 301, NOW), Err(RejectReason::Stale));
        assert_eq!(check(i64::MIN, NOW), Err(RejectReason::Stale));
    }

    #[test]
    fn refusals_say_why() {
        let signer = Signer::new();
        let key = signer.public_key_b64();
        let body = br#"[{"event":"delivered"}]"#;
        let timestamp = NOW.to_string();
        let signature = signer.sign(&timestamp, body);
        let check = |key: &str, timestamp: Option<&str>, signature: Option<&str>, body: &[u8]| {
            verify(
                key,
                timestamp,
                signature,
                body,
                at(NOW),
                DEFAULT_REPLAY_WINDOW,
            )
            .map_err(|r| r.reason)
        };
        let ts = Some(timestamp.as_str());
        let sig = Some(signature.as_str());

        assert_eq!(check(&key, ts, sig, body), Ok(()), "the control case");
        assert_eq!(
            check(&key, ts, sig, br#"[{"event":"delivered"} ]"#),
            Err(RejectReason::BadSignature)
        );
        let other = NOW + 1;
        assert_eq!(
            check(&key, Some(&other.to_string()), sig, body),
            Err(RejectReason::BadSignature),
            "the timestamp is signed"
        );
        assert_eq!(
            check(&Signer::new().public_key_b64(), ts, sig, body),
            Err(RejectReason::BadSignature)
        );
        assert_eq!(
            check(&key, ts, Some("@@@"), body),
            Err(RejectReason::BadSignature)
        );
        assert_eq!(
            check(&key, ts, Some(&BASE64.encode([0u8; 70])), body),
            Err(RejectReason::BadSignature)
        );
        assert_eq!(check(&key, None, sig, body), Err(RejectReason::Unsigned));
        assert_eq!(check(&key, ts, None, body), Err(RejectReason::Unsigned));
        assert_eq!(check(&key, ts, Some(""), body), Err(RejectReason::Unsigned));
        assert_eq!(
            check(&key, Some("yesterday"), sig, body),
            Err(RejectReason::Malformed)
        );
        assert_eq!(check("", ts, sig, body), Err(RejectReason::NotConfigured));
        assert_eq!(
            check("AAAA", ts, sig, body),
            Err(RejectReason::NotConfigured)
        );
    }

    #[test]
    fn public_keys_are_checked_with_a_reason() {
        let signer = Signer::new();
        let key = signer.public_key_b64();
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n{}\n-----END PUBLIC KEY-----\n",
            &key[..64],
            &key[64..]
        );
        assert_eq!(check_public_key(&pem), Ok(()), "PEM, across lines");

        let message = |key: &str| check_public_key(key).expect_err("refused");
        assert!(message("").contains("no public key"));
        assert!(message("not base64!").contains("not base64"));
        assert!(message("AAAA").contains("not a DER SubjectPublicKeyInfo"));
        assert!(message(&key[..key.len() - 8]).contains("not a DER SubjectPublicKeyInfo"));

        // An Ed25519 key (RFC 8410's example).
        let ed25519 = "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=";
        let m = message(ed25519);
        assert!(
            m.contains("Ed25519") && m.contains("not an elliptic-curve P-256 key"),
            "{m}"
        );

        // A P-256 SPKI whose point is not on the curve.
        let mut der = P256_SPKI_PREFIX.to_vec();
        der.push(0x04);
        der.extend_from_slice(&[0x11; 64]);
        let m = message(&BASE64.encode(&der));
        assert!(m.contains("not on the P-256 curve"), "{m}");
        // The same length of point, compressed form marker.
        der[26] = 0x02;
        let m = message(&BASE64.encode(&der));
        assert!(m.contains("not an uncompressed P-256 point"), "{m}");
    }

    #[test]
    fn every_tracked_event_maps_and_the_rest_are_skipped() {
        let cases = [
            ("processed", Some(DeliveryStatus::Accepted)),
            ("deferred", Some(DeliveryStatus::Delayed)),
            ("delivered", Some(DeliveryStatus::Delivered)),
            ("open", Some(DeliveryStatus::Read)),
            ("bounce", Some(DeliveryStatus::Bounced)),
            ("dropped", Some(DeliveryStatus::Dropped)),
            ("spamreport", Some(DeliveryStatus::Complained)),
            ("click", None),
            ("unsubscribe", None),
            ("group_unsubscribe", None),
            ("group_resubscribe", None),
        ];
        for (event, status) in cases {
            let body = serde_json::json!([{
                "event": event,
                "email": "a@example.com",
                "timestamp": NOW,
                "sg_event_id": "ev1",
                "sg_message_id": "msg1.filter0001.1.0",
            }]);
            let events = parse_events(body.to_string().as_bytes(), at(NOW + 5)).expect("parses");
            assert_eq!(events.first().map(|e| e.status), status, "{event}");
        }
    }

    #[test]
    fn a_blocked_bounce_reads_in_full() {
        let body = serde_json::json!([{
            "email": "gone@example.com",
            "event": "bounce",
            "type": "blocked",
            "bounce_classification": "Reputation",
            "status": "550 5.7.1",
            "reason": "550 5.7.1 Message rejected due to local policy",
            "timestamp": 1_700_000_000,
            "sg_event_id": "ZHJvcC0xMjM0",
            "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
            "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
        }]);
        let events = parse_events(body.to_string().as_bytes(), at(NOW)).expect("parses");
        assert_eq!(
            events,
            vec![DeliveryEvent {
                provider: ProviderKind::Sendgrid,
                provider_message_id: "14c5d75ce93".into(),
                status: DeliveryStatus::Bounced,
                error_code: Some("550 5.7.1".into()),
                detail: Some("550 5.7.1 Message rejected due to local policy".into()),
                recipient: Some("gone@example.com".into()),
                occurred_at: at(1_700_000_000),
                received_at: at(NOW),
                source: DeliverySource::SendgridWebhook,
                event_id: "ZHJvcC0xMjM0".into(),
            }]
        );
    }

    #[test]
    fn parse_edge_cases() {
        let parse = |body: serde_json::Value| {
            parse_events(body.to_string().as_bytes(), at(NOW)).map_err(|r| r.reason)
        };

        let events = parse(serde_json::json!([{
            "event": "deferred", "sg_event_id": "e", "sg_message_id": "m",
            "response": "451 try later", "status": 451, "timestamp": 1_700_000_000.75,
        }]))
        .expect("parses");
        assert_eq!(
            events[0].provider_message_id, "m",
            "an id without a dot is whole"
        );
        assert_eq!(
            events[0].detail.as_deref(),
            Some("451 try later"),
            "response when no reason"
        );
        assert_eq!(events[0].error_code.as_deref(), Some("451"));
        assert_eq!(events[0].occurred_at, at(1_700_000_000));
        assert_eq!(events[0].recipient, None);

        let events = parse(serde_json::json!([{
            "event": "delivered", "sg_event_id": "e", "sg_message_id": "m.x", "timestamp": "soon",
        }]))
        .expect("parses");
        assert_eq!(
            events[0].occurred_at,
            at(NOW),
            "the time of receipt when none is given"
        );

        assert_eq!(
            parse(serde_json::json!([{"event": "delivered", "sg_event_id": "e"}])),
            Ok(vec![]),
            "no message to match it with"
        );
        assert_eq!(
            parse(serde_json::json!([{"event": "click"}])),
            Ok(vec![]),
            "a skipped kind needs no ids"
        );
        assert_eq!(parse(serde_json::json!([])), Ok(vec![]));
        assert_eq!(
            parse(serde_json::json!([{"event": "delivered", "sg_message_id": "m"}])),
            Err(RejectReason::Malformed)
        );
        assert_eq!(
            parse(serde_json::json!([{"sg_event_id": "e"}])),
            Err(RejectReason::Malformed)
        );
        assert_eq!(
            parse(serde_json::json!({"event": "delivered"})),
            Err(RejectReason::Malformed)
        );
        assert_eq!(
            parse_events(b"[{", at(NOW)).map_err(|r| r.reason),
            Err(RejectReason::Malformed)
        );
    }
}
