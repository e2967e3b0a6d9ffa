//! Twilio signatures made by Twilio's own Python library (`twilio.request_validator`, through
//! tests/twilio_peer.py) are accepted, and what it refuses is refused for the reason said; on
//! every case `RequestValidator.validate` agrees with [`twilio::verify`].
//!
//! Needs the repo's `.venv/bin/python` (or `MSGOPS_PYTHON`) with `twilio` installed
//! (tests/peers/requirements.txt). Without that Python the tests are skipped with a note, unless
//! `CI` is set or `MSGOPS_REAL_PEERS=1`: then they fail.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use chrono::{DateTime, Utc};
use msgops_delivery::{DeliveryEvent, DeliverySource, DeliveryStatus};
use msgops_provider_kind::ProviderKind;
use msgops_webhooks::twilio::{self, TwilioRequest};
use msgops_webhooks::RejectReason;
use serde_json::{json, Value};

const TOKEN: &str = "test-auth-token-0000000000000001";
const OTHER_TOKEN: &str = "test-auth-token-0000000000000002";
const BASE: &str = "https://ops.example.com/api/v1/webhooks/twilio?chain=sms";
const BASE_443: &str = "https://ops.example.com:443/api/v1/webhooks/twilio?chain=sms";
const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// A StatusCallback as Twilio posts it for an undelivered SMS.
const UNDELIVERED: &[(&str, &str)] = &[
    ("AccountSid", "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
    ("ApiVersion", "2010-04-01"),
    ("ErrorCode", "30003"),
    ("From", "+15005550006"),
    ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
    ("MessageStatus", "undelivered"),
    ("MessagingServiceSid", "MGbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
    ("SmsSid", "SM0123456789abcdef0123456789abcdef"),
    ("SmsStatus", "undelivered"),
    ("To", "+15558675310"),
];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn peers_required() -> bool {
    std::env::var_os("CI").is_some() || std::env::var("MSGOPS_REAL_PEERS").is_ok_and(|v| v == "1")
}

/// The Python to run Twilio's library with, or `None` (after a note) when there is none and
/// none is required.
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

/// Runs the ops through tests/twilio_peer.py: one result per op.
fn peer(python: &Path, ops: &[Value]) -> Vec<Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/twilio_peer.py");
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python");
    let input = json!({ "ops": ops }).to_string();
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write to python");
    let output = child.wait_with_output().expect("run python");
    assert!(
        output.status.success(),
        "tests/twilio_peer.py failed (is `twilio` installed? pip install -r \
         tests/peers/requirements.txt): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_slice(&output.stdout).expect("the peer's JSON");
    let results = answer["results"].as_array().expect("results").clone();
    assert_eq!(results.len(), ops.len());
    results
}

fn pairs_json(params: &[(&str, &str)]) -> Value {
    Value::Array(params.iter().map(|(k, v)| json!([k, v])).collect())
}

/// The library's signature of a form post.
fn library_signature(python: &Path, token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let results = peer(
        python,
        &[json!({"op": "sign", "token": token, "url": url, "params": pairs_json(params)})],
    );
    results[0]["signature"]
        .as_str()
        .expect("a signature")
        .to_owned()
}

fn form_body(params: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
}

enum Body<'a> {
    Form(&'a [(&'a str, &'a str)]),
    Json(&'a str),
}

/// One request, what we say of it, and the token the library validates it with.
struct Case<'a> {
    name: &'a str,
    url: &'a str,
    body: Body<'a>,
    signature: Option<&'a str>,
    tokens: &'a [&'a str],
    library_token: &'a str,
    expected: Result<(), RejectReason>,
}

/// Checks each case with ours, then asks `RequestValidator.validate` about all of them:
/// accepted by ours ⇔ valid for the library.
fn check(python: &Path, cases: &[Case<'_>]) {
    let mut ops = Vec::new();
    for case in cases {
        let (body, content_type) = match case.body {
            Body::Form(params) => (form_body(params), FORM),
            Body::Json(text) => (text.to_owned(), "application/json"),
        };
        let request = TwilioRequest {
            url: case.url,
            body: body.as_bytes(),
            content_type: Some(content_type),
            signature: case.signature,
        };
        let ours = twilio::verify(&request, case.tokens).map_err(|r| r.reason);
        assert_eq!(ours, case.expected, "{}", case.name);

        let mut op = json!({
            "op": "validate",
            "token": case.library_token,
            "url": case.url,
            "signature": case.signature.unwrap_or(""),
        });
        match case.body {
            Body::Form(params) => op["params"] = pairs_json(params),
            Body::Json(text) => op["body"] = json!(text),
        }
        ops.push(op);
    }
    for (case, result) in cases.iter().zip(peer(python, &ops)) {
        let valid = result["valid"].as_bool().expect("valid");
        assert_eq!(
            valid,
            case.expected.is_ok(),
            "RequestValidator.validate disagrees with msgops on: {}",
            case.name
        );
    }
}

fn at() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("time")
}

#[test]
fn a_status_callback_signed_by_twilios_library_is_accepted_with_and_without_443() {
    let Some(python) = python() else { return };
    let signed_without_port = library_signature(&python, TOKEN, BASE, UNDELIVERED);
    let signed_with_port = library_signature(&python, TOKEN, BASE_443, UNDELIVERED);
    assert_ne!(signed_without_port, signed_with_port, "the port is signed");
    let case = |name, url, signature| Case {
        name,
        url,
        body: Body::Form(UNDELIVERED),
        signature: Some(signature),
        tokens: &[TOKEN],
        library_token: TOKEN,
        expected: Ok(()),
    };
    check(
        &python,
        &[
            case(
                "signed and posted without a port",
                BASE,
                &signed_without_port,
            ),
            case(
                "signed without a port, posted with :443",
                BASE_443,
                &signed_without_port,
            ),
            case(
                "signed with :443, posted without a port",
                BASE,
                &signed_with_port,
            ),
            case("signed and posted with :443", BASE_443, &signed_with_port),
        ],
    );

    let events =
        twilio::parse_status_callback(form_body(UNDELIVERED).as_bytes(), at()).expect("parses");
    assert_eq!(
        events,
        vec![DeliveryEvent {
            provider: ProviderKind::Twilio,
            provider_message_id: "SM0123456789abcdef0123456789abcdef".into(),
            status: DeliveryStatus::Undelivered,
            error_code: Some("30003".into()),
            detail: None,
            recipient: Some("+15558675310".into()),
            occurred_at: at(),
            received_at: at(),
            source: DeliverySource::TwilioWebhook,
            event_id: "SM0123456789abcdef0123456789abcdef:undelivered:30003".into(),
        }]
    );
}

#[test]
fn repeated_and_non_ascii_params_are_signed_as_the_library_signs_them() {
    let Some(python) = python() else { return };
    let params: &[(&str, &str)] = &[
        ("MessageSid", "SM1"),
        ("MessageStatus", "delivered"),
        ("Body", "Grüße & 100% ✓ a+b=c"),
        ("MediaUrl", "https://media.example/b?x=1&y=2"),
        ("MediaUrl", "https://media.example/a"),
        ("Tag", "z"),
        ("Tag", "z"),
        ("Empty", ""),
    ];
    let url = "https://ops.example.com/api/v1/webhooks/twilio?q=%C3%A9t%C3%A9&a=1";
    let signature = library_signature(&python, TOKEN, url, params);
    check(
        &python,
        &[Case {
            name: "repeated names, a repeated pair, non-ASCII text and an empty value",
            url,
            body: Body::Form(params),
            signature: Some(&signature),
            tokens: &[TOKEN],
            library_token: TOKEN,
            expected: Ok(()),
        }],
    );
}

#[test]
fn a_json_body_is_accepted_through_its_body_sha256() {
    let Some(python) = python() else { return };
    let body = r#"{"MessageSid":"SM1","MessageStatus":"delivered","To":"+15558675310"}"#;
    let tampered = r#"{"MessageSid":"SM1","MessageStatus":"delivered","To":"+15558675311"}"#;
    let hash = peer(&python, &[json!({"op": "hash", "body": body})])[0]["hash"]
        .as_str()
        .expect("a hash")
        .to_owned();
    let url = format!("https://ops.example.com/api/v1/webhooks/twilio?bodySHA256={hash}");
    let url_443 = url.replacen("ops.example.com", "ops.example.com:443", 1);
    // A JSON body is signed through the URL alone.
    let signature = library_signature(&python, TOKEN, &url, &[]);
    let case = |name, url, body, expected| Case {
        name,
        url,
        body: Body::Json(body),
        signature: Some(&signature),
        tokens: &[TOKEN],
        library_token: TOKEN,
        expected,
    };
    check(
        &python,
        &[
            case("a JSON body", &url, body, Ok(())),
            case("a JSON body, posted with :443", &url_443, body, Ok(())),
            case(
                "a JSON body changed after signing",
                &url,
                tampered,
                Err(RejectReason::BadSignature),
            ),
        ],
    );
}

#[test]
fn what_the_library_refuses_is_refused_for_its_reason() {
    let Some(python) = python() else { return };
    let signature = library_signature(&python, TOKEN, BASE, UNDELIVERED);
    let mut changed = UNDELIVERED.to_vec();
    for pair in &mut changed {
        if pair.0 == "MessageStatus" {
            pair.1 = "delivered";
        }
    }
    let mut added = UNDELIVERED.to_vec();
    added.push(("Extra", "1"));
    let case = |name, url, body, signature, tokens, library_token| Case {
        name,
        url,
        body,
        signature,
        tokens,
        library_token,
        expected: Err(RejectReason::BadSignature),
    };
    check(
        &python,
        &[
            case(
                "one parameter changed",
                BASE,
                Body::Form(&changed),
                Some(&signature),
                &[TOKEN],
                TOKEN,
            ),
            case(
                "one parameter added",
                BASE,
                Body::Form(&added),
                Some(&signature),
                &[TOKEN],
                TOKEN,
            ),
            case(
                "another URL",
                "https://ops.example.com/api/v1/webhooks/twilio?chain=email",
                Body::Form(UNDELIVERED),
                Some(&signature),
                &[TOKEN],
                TOKEN,
            ),
            case(
                "another host",
                "https://evil.example.com/api/v1/webhooks/twilio?chain=sms",
                Body::Form(UNDELIVERED),
                Some(&signature),
                &[TOKEN],
                TOKEN,
            ),
            case(
                "a different token",
                BASE,
                Body::Form(UNDELIVERED),
                Some(&signature),
                &[OTHER_TOKEN],
                OTHER_TOKEN,
            ),
            case(
                "a signature that is not base64",
                BASE,
                Body::Form(UNDELIVERED),
                Some("not a signature"),
                &[TOKEN],
                TOKEN,
            ),
            Case {
                expected: Err(RejectReason::Unsigned),
                ..case(
                    "no X-Twilio-Signature header",
                    BASE,
                    Body::Form(UNDELIVERED),
                    None,
                    &[TOKEN],
                    TOKEN,
                )
            },
        ],
    );

    let body = form_body(UNDELIVERED);
    let request = TwilioRequest {
        url: BASE,
        body: body.as_bytes(),
        content_type: Some(FORM),
        signature: Some(&signature),
    };
    assert_eq!(
        twilio::verify(&request, &[]).map_err(|r| r.reason),
        Err(RejectReason::NotConfigured)
    );
}

#[test]
fn the_previous_token_verifies_during_its_grace_period() {
    let Some(python) = python() else { return };
    let signature = library_signature(&python, OTHER_TOKEN, BASE, UNDELIVERED);
    let case = |name, tokens, library_token, expected| Case {
        name,
        url: BASE,
        body: Body::Form(UNDELIVERED),
        signature: Some(&signature),
        tokens,
        library_token,
        expected,
    };
    check(
        &python,
        &[
            case(
                "signed with the previous token, both configured",
                &[TOKEN, OTHER_TOKEN],
                OTHER_TOKEN,
                Ok(()),
            ),
            case(
                "signed with the previous token, the grace period over",
                &[TOKEN],
                TOKEN,
                Err(RejectReason::BadSignature),
            ),
        ],
    );
}
