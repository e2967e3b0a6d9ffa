//! SendGrid Event Webhook bodies signed as SendGrid signs them (fresh P-256 keys from Python's
//! `cryptography`, through tests/sendgrid_peer.py) are accepted and read, what is changed is
//! refused for the reason said, and on every case SendGrid's own helper
//! (`EventWebhook().verify_signature`) agrees with [`sendgrid::verify`] about the signature.
//! The helper checks no time: a Stale request is one it finds genuine.
//!
//! Needs the repo's `.venv/bin/python` (or `MSGOPS_PYTHON`) with `sendgrid` installed
//! (tests/peers/requirements.txt). Without that Python the tests are skipped with a note, unless
//! `CI` is set or `MSGOPS_REAL_PEERS=1`: then they fail.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use chrono::{DateTime, Utc};
use msgops_delivery::{DeliveryEvent, DeliverySource, DeliveryStatus};
use msgops_provider_kind::ProviderKind;
use msgops_webhooks::sendgrid::{self, DEFAULT_REPLAY_WINDOW};
use msgops_webhooks::RejectReason;
use serde_json::{json, Value};

const NOW: i64 = 1_800_000_000;

/// A batch as SendGrid posts it: processed, delivered, a bounce, a drop, and a click msgops
/// skips; the raw body ends with CRLF.
const BATCH: &str = concat!(
    r#"[{"email":"ana@example.com","timestamp":1799999950,"smtp-id":"<14c5d75ce93.dfd.64b469@ismtpd-555>","event":"processed","category":["otp"],"sg_event_id":"cHJvY2Vzc2VkLTEyMzQ1","sg_message_id":"14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0"},"#,
    r#"{"email":"ana@example.com","timestamp":1799999955,"smtp-id":"<14c5d75ce93.dfd.64b469@ismtpd-555>","event":"delivered","category":["otp"],"sg_event_id":"ZGVsaXZlcmVkLTEyMzQ2","sg_message_id":"14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0","response":"250 OK"},"#,
    r#"{"email":"gone@example.com","timestamp":1799999960,"event":"bounce","type":"bounce","bounce_classification":"Invalid Address","status":"5.1.1","reason":"550 5.1.1 The email account that you tried to reach does not exist.","sg_event_id":"Ym91bmNlLTEyMzQ3","sg_message_id":"Xq7bC2pRQmS0a1b2c3d4eQ.filter0002.100.5515E0B89.0"},"#,
    r#"{"email":"suppressed@example.com","timestamp":1799999961,"event":"dropped","reason":"Bounced Address","status":"5.0.0","sg_event_id":"ZHJvcHBlZC0xMjM0OA","sg_message_id":"Yr8cD3qSRnT1b2c3d4e5fR.filter0003.200.5515E0B8A.0"},"#,
    r#"{"email":"ana@example.com","timestamp":1799999970,"event":"click","url":"https://example.com/login","sg_event_id":"Y2xpY2stMTIzNDk","sg_message_id":"14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0"}]"#,
    "\r\n"
);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn peers_required() -> bool {
    std::env::var_os("CI").is_some() || std::env::var("MSGOPS_REAL_PEERS").is_ok_and(|v| v == "1")
}

/// The Python to sign with, or `None` (after a note) when there is none and none is required.
fn python() -> Option<PathBuf> {
    let python = std::env::var_os("MSGOPS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"));
    if python.exists() {
        return Some(python);
    }
    let reason = format!(
        "no Python at {} (set MSGOPS_PYTHON, or run scripts/setup.sh)",
        python.display()
    );
    assert!(!peers_required(), "CI or MSGOPS_REAL_PEERS=1, but {reason}");
    eprintln!("SKIPPED (set MSGOPS_REAL_PEERS=1 to make this a failure): {reason}");
    None
}

/// Runs tests/sendgrid_peer.py with `request` (see its docstring).
fn peer(python: &Path, request: &Value) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sendgrid_peer.py");
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(request.to_string().as_bytes())
        .expect("write to python");
    let output = child.wait_with_output().expect("run python");
    assert!(
        output.status.success(),
        "tests/sendgrid_peer.py failed (is `sendgrid` installed? pip install -r \
         tests/peers/requirements.txt): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the peer's JSON")
}

fn text(value: &Value) -> String {
    value.as_str().expect("a string").to_owned()
}

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(seconds, 0).expect("time")
}

/// One request as received, which key it is checked with, and what we say of it.
struct Case {
    name: &'static str,
    /// Index of the key (of the peer's fresh keys) the request is checked with.
    key: usize,
    timestamp: Option<String>,
    signature: Option<String>,
    payload: String,
    expected: Result<(), RejectReason>,
}

/// The batch signed with fresh key 0 at three times; key 1 signs nothing.
struct Signed {
    public_keys: Vec<String>,
    fresh: String,
    old: String,
    ahead: String,
    /// The signatures at `fresh`, `old` and `ahead`.
    signatures: [String; 3],
}

fn sign_batch(python: &Path) -> Signed {
    let fresh = (NOW - 30).to_string();
    let old = (NOW - 6 * 60).to_string();
    let ahead = (NOW + 6 * 60).to_string();
    let sign: Vec<Value> = [&fresh, &old, &ahead]
        .iter()
        .map(|timestamp| json!({"key": 0, "timestamp": timestamp, "payload": BATCH}))
        .collect();
    let signing = peer(python, &json!({"keys": 2, "sign": sign}));
    let strings = |name: &str| -> Vec<String> {
        signing[name]
            .as_array()
            .expect("an array")
            .iter()
            .map(text)
            .collect()
    };
    let signatures: [String; 3] = strings("signatures").try_into().expect("three signatures");
    Signed {
        public_keys: strings("public_keys"),
        fresh,
        old,
        ahead,
        signatures,
    }
}

fn case(
    name: &'static str,
    key: usize,
    timestamp: &str,
    signature: &str,
    payload: &str,
    expected: Result<(), RejectReason>,
) -> Case {
    Case {
        name,
        key,
        timestamp: Some(timestamp.to_owned()),
        signature: Some(signature.to_owned()),
        payload: payload.to_owned(),
        expected,
    }
}

/// Each case as ours says, then SendGrid's helper on all of them: genuine for it ⇔ accepted or
/// Stale for us.
fn check(python: &Path, public_keys: &[String], cases: &[Case]) {
    for case in cases {
        let ours = sendgrid::verify(
            &public_keys[case.key],
            case.timestamp.as_deref(),
            case.signature.as_deref(),
            case.payload.as_bytes(),
            at(NOW),
            DEFAULT_REPLAY_WINDOW,
        )
        .map_err(|r| r.reason);
        assert_eq!(ours, case.expected, "{}", case.name);
    }
    // A missing header is given to the helper as "".
    let answer = peer(
        python,
        &json!({
            "keys": 0,
            "verify": cases
                .iter()
                .map(|case| json!({
                    "public_key": public_keys[case.key],
                    "timestamp": case.timestamp.as_deref().unwrap_or(""),
                    "payload": case.payload,
                    "signature": case.signature.as_deref().unwrap_or(""),
                }))
                .collect::<Vec<_>>(),
        }),
    );
    let verified = answer["verified"].as_array().expect("verified");
    assert_eq!(verified.len(), cases.len());
    for (case, genuine) in cases.iter().zip(verified) {
        let ours_genuine = matches!(case.expected, Ok(()) | Err(RejectReason::Stale));
        assert_eq!(
            genuine.as_bool(),
            Some(ours_genuine),
            "EventWebhook.verify_signature disagrees with msgops on: {}",
            case.name
        );
    }
}

#[test]
fn a_batch_signed_as_sendgrid_signs_is_accepted_and_read() {
    let Some(python) = python() else { return };
    let signed = sign_batch(&python);
    check(
        &python,
        &signed.public_keys,
        &[case(
            "a batch signed 30 s ago",
            0,
            &signed.fresh,
            &signed.signatures[0],
            BATCH,
            Ok(()),
        )],
    );

    let events = sendgrid::parse_events(BATCH.as_bytes(), at(NOW)).expect("parses");
    let event = |id: &str, status, at_s, code: Option<&str>, detail: Option<&str>, to: &str, ev| {
        DeliveryEvent {
            provider: ProviderKind::Sendgrid,
            provider_message_id: id.into(),
            status,
            error_code: code.map(Into::into),
            detail: detail.map(Into::into),
            recipient: Some(to.into()),
            occurred_at: at(at_s),
            received_at: at(NOW),
            source: DeliverySource::SendgridWebhook,
            event_id: String::from(ev),
        }
    };
    assert_eq!(
        events,
        vec![
            event(
                "14c5d75ce93",
                DeliveryStatus::Accepted,
                1_799_999_950,
                None,
                None,
                "ana@example.com",
                "cHJvY2Vzc2VkLTEyMzQ1",
            ),
            event(
                "14c5d75ce93",
                DeliveryStatus::Delivered,
                1_799_999_955,
                None,
                Some("250 OK"),
                "ana@example.com",
                "ZGVsaXZlcmVkLTEyMzQ2",
            ),
            event(
                "Xq7bC2pRQmS0a1b2c3d4eQ",
                DeliveryStatus::Bounced,
                1_799_999_960,
                Some("5.1.1"),
                Some("550 5.1.1 The email account that you tried to reach does not exist."),
                "gone@example.com",
                "Ym91bmNlLTEyMzQ3",
            ),
            event(
                "Yr8cD3qSRnT1b2c3d4e5fR",
                DeliveryStatus::Dropped,
                1_799_999_961,
                Some("5.0.0"),
                Some("Bounced Address"),
                "suppressed@example.com",
                "ZHJvcHBlZC0xMjM0OA",
            ),
        ],
        "the click is skipped"
    );
}

#[test]
fn changed_stale_or_unsigned_batches_are_refused_as_sendgrids_helper_says() {
    let Some(python) = python() else { return };
    let signed = sign_batch(&python);
    let [at_fresh, at_old, at_ahead] = &signed.signatures;
    let (fresh, old, ahead) = (&signed.fresh, &signed.old, &signed.ahead);
    let tampered = BATCH.replacen("5.1.1", "5.1.2", 1);
    assert_eq!(tampered.len(), BATCH.len(), "one byte changed");
    let bad = Err(RejectReason::BadSignature);
    let stale = Err(RejectReason::Stale);
    let unsigned = Err(RejectReason::Unsigned);
    check(
        &python,
        &signed.public_keys,
        &[
            case("the control case", 0, fresh, at_fresh, BATCH, Ok(())),
            case(
                "one byte of the body changed",
                0,
                fresh,
                at_fresh,
                &tampered,
                bad,
            ),
            case(
                "the body without its CRLF",
                0,
                fresh,
                at_fresh,
                BATCH.trim_end(),
                bad,
            ),
            case("another timestamp", 0, old, at_fresh, BATCH, bad),
            case("checked with another key", 1, fresh, at_fresh, BATCH, bad),
            case(
                "a garbage signature",
                0,
                fresh,
                "bm90IGEgc2lnbmF0dXJl",
                BATCH,
                bad,
            ),
            case(
                "a signature that is not base64",
                0,
                fresh,
                "%%%",
                BATCH,
                bad,
            ),
            case("signed 6 minutes ago", 0, old, at_old, BATCH, stale),
            case("signed 6 minutes ahead", 0, ahead, at_ahead, BATCH, stale),
            Case {
                timestamp: None,
                ..case("no timestamp header", 0, "", at_fresh, BATCH, unsigned)
            },
            Case {
                signature: None,
                ..case("no signature header", 0, fresh, "", BATCH, unsigned)
            },
        ],
    );
}

#[test]
fn public_keys_as_sendgrid_shows_them_pass_and_others_are_refused_with_a_reason() {
    let Some(python) = python() else { return };
    let answer = peer(&python, &json!({"keys": 1}));
    let p256 = text(&answer["public_keys"][0]);
    assert_eq!(sendgrid::check_public_key(&p256), Ok(()));

    let refused = |key: &str| sendgrid::check_public_key(key).expect_err("refused");
    let p384 = refused(&text(&answer["p384_public_key"]));
    assert!(
        p384.contains("P-384") && p384.contains("not P-256"),
        "{p384}"
    );
    let rsa = refused(&text(&answer["rsa_public_key"]));
    assert!(
        rsa.contains("RSA") && rsa.contains("not an elliptic-curve P-256 key"),
        "{rsa}"
    );
    let garbage = refused("this is not a key");
    assert!(garbage.contains("not base64"), "{garbage}");
    let truncated = refused(&p256[..p256.len() - 12]);
    assert!(
        truncated.contains("not a DER SubjectPublicKeyInfo"),
        "{truncated}"
    );

    // A refused key refuses every request, as not configured.
    let rejection = sendgrid::verify(
        &text(&answer["rsa_public_key"]),
        Some("1800000000"),
        Some("c2ln"),
        b"[]",
        at(NOW),
        DEFAULT_REPLAY_WINDOW,
    )
    .expect_err("refused");
    assert_eq!(rejection.reason, RejectReason::NotConfigured);
    assert!(rejection.detail.contains("RSA"), "{}", rejection.detail);
}
