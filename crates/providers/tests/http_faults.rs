//! Twilio and SendGrid against a scripted local HTTP server: every fault of the incident and
//! its cousins ends in the right `ErrorKind`, and in a chain the right breaker moves.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use msgops_core::{BreakerState, ErrorKind, Provider, ProviderKind, SkipReason};

async fn twilio_error(reply: Reply) -> msgops_core::SendError {
    let server = ScriptedServer::start(vec![], reply).await;
    twilio(&server.url(), short_timeouts())
        .send(&otp_sms("123456"))
        .await
        .expect_err("a failure")
}

async fn sendgrid_error(reply: Reply) -> msgops_core::SendError {
    let server = ScriptedServer::start(vec![], reply).await;
    sendgrid(&server.url(), short_timeouts())
        .send(&otp_email("123456"))
        .await
        .expect_err("a failure")
}

#[tokio::test]
async fn three_twilio_20003_answers_open_the_twilio_breaker_and_the_fourth_send_makes_no_call() {
    let server = ScriptedServer::start(vec![], Reply::status(401, TWILIO_20003)).await;
    let chain = chain(vec![(
        TWILIO,
        Arc::new(twilio(&server.url(), short_timeouts())) as _,
    )]);
    let id = ProviderKind::Twilio;
    for _ in 0..3 {
        let record = chain.send(&otp_sms("091282")).await;
        let attempt = &record.outcome.attempts()[0];
        assert_eq!(attempt.error_kind, Some(ErrorKind::Authentication));
        assert_eq!(attempt.provider_code, Some(20003));
        assert!(
            attempt
                .error
                .as_deref()
                .is_some_and(|e| e.contains("rotate")),
            "{attempt:?}"
        );
    }
    assert_eq!(
        chain.breaker(&id).expect("breaker").state(),
        BreakerState::Open
    );
    let record = chain.send(&otp_sms("091282")).await;
    assert!(record.outcome.attempts().is_empty());
    assert_eq!(record.outcome.skipped()[0].reason, SkipReason::BreakerOpen);
    assert_eq!(server.requests().len(), 3, "an OPEN breaker costs no call");
}

#[tokio::test]
async fn twilio_sends_basic_auth_and_the_form_fields() {
    let server = ScriptedServer::start(
        vec![],
        Reply::status(
            201,
            r#"{"sid": "SM0123456789abcdef0123456789abcdef", "status": "queued"}"#,
        ),
    )
    .await;
    let receipt = twilio(&server.url(), short_timeouts())
        .send(&otp_sms("091282"))
        .await
        .expect("accepted");
    assert_eq!(
        receipt.provider_message_id.as_deref(),
        Some("SM0123456789abcdef0123456789abcdef")
    );
    let r = &server.requests()[0];
    assert_eq!(r.method, "POST");
    assert_eq!(
        r.path,
        format!("/2010-04-01/Accounts/{FAKE_TWILIO_SID}/Messages.json")
    );
    assert!(r
        .header("authorization")
        .is_some_and(|a| a.starts_with("Basic ")));
    assert_eq!(
        r.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        r.body,
        "To=%2B14165550123&From=%2B15005550006&Body=Your+Acme+code+is+091282.+It+expires+in+10+minutes."
    );
}

#[tokio::test]
async fn twilio_429_is_throttled_and_keeps_retry_after() {
    let e = twilio_error(
        Reply::status(
            429,
            r#"{"code": 20429, "message": "Too Many Requests", "status": 429}"#,
        )
        .with_header("Retry-After", "7"),
    )
    .await;
    assert_eq!(e.kind, ErrorKind::Throttled);
    assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
    assert_eq!(e.provider_code, Some(20429));
}

#[tokio::test]
async fn twilio_500_and_503_are_transient() {
    for status in [500, 503] {
        let e = twilio_error(Reply::status(
            status,
            r#"{"code": 20500, "message": "Internal Server Error", "status": 500}"#,
        ))
        .await;
        assert_eq!(e.kind, ErrorKind::Transient, "{status}: {e:?}");
    }
}

#[tokio::test]
async fn twilio_invalid_number_is_permanent() {
    let e = twilio_error(Reply::status(
        400,
        r#"{"code": 21211, "message": "The 'To' number +1416 is not a valid phone number.", "status": 400}"#,
    ))
    .await;
    assert_eq!(
        (e.kind, e.provider_code),
        (ErrorKind::Permanent, Some(21211))
    );
}

/// A request that was written but never answered may have been accepted: `Ambiguous`, after
/// the request timeout (not the chain's), so the call cannot hang.
#[tokio::test]
async fn twilio_that_never_answers_is_ambiguous_after_the_request_timeout() {
    let started = Instant::now();
    let e = twilio_error(Reply::Hang).await;
    assert_eq!(e.kind, ErrorKind::Ambiguous, "{e:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn twilio_connection_refused_is_transient() {
    let e = twilio(&refused_url(), short_timeouts())
        .send(&otp_sms("123456"))
        .await
        .expect_err("refused");
    assert_eq!(e.kind, ErrorKind::Transient, "{e:?}");
    assert!(e.message.contains("connect"), "{}", e.message);
    assert!(
        !e.message.contains(FAKE_TWILIO_SID),
        "no URL with the SID: {}",
        e.message
    );
}

#[tokio::test]
async fn twilio_malformed_bodies_are_transient_with_a_clear_message() {
    let e = twilio_error(Reply::status(201, "this is not json {")).await;
    assert_eq!(e.kind, ErrorKind::Transient);
    assert!(
        e.message.contains("not a Message resource"),
        "{}",
        e.message
    );
    let e = twilio_error(Reply::status(502, "<html>Bad Gateway</html>")).await;
    assert_eq!(e.kind, ErrorKind::Transient);
    assert!(
        e.message.contains("not Twilio's error JSON"),
        "{}",
        e.message
    );
    let e = twilio_error(Reply::Garbage("SMTP? no. garbage\r\n\r\n".into())).await;
    assert_eq!(e.kind, ErrorKind::Transient, "{e:?}");
}

#[tokio::test]
async fn sendgrid_202_is_success_with_bearer_auth_and_the_json_body() {
    let server = ScriptedServer::start(
        vec![],
        Reply::status(202, "").with_header("X-Message-Id", "sg-msg-1"),
    )
    .await;
    let receipt = sendgrid(&server.url(), short_timeouts())
        .send(&otp_email("091282"))
        .await
        .expect("accepted");
    assert_eq!(receipt.provider_message_id.as_deref(), Some("sg-msg-1"));
    let r = &server.requests()[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/mail/send"));
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {FAKE_SENDGRID_KEY}").as_str())
    );
    let body: serde_json::Value = serde_json::from_str(&r.body).expect("JSON body");
    assert_eq!(
        body["personalizations"][0]["to"][0]["email"],
        "customer@example.com"
    );
    assert_eq!(body["from"]["email"], "otp@example.com");
    assert_eq!(body["subject"], "Your Acme verification code");
    assert!(body["content"][0]["value"]
        .as_str()
        .is_some_and(|v| v.starts_with("Your Acme code is 091282.")));
}

#[tokio::test]
async fn three_sendgrid_401s_open_the_sendgrid_breaker() {
    let server = ScriptedServer::start(
        vec![],
        Reply::status(401, r#"{"errors":[{"field":null,"message":"The provided authorization grant is invalid, expired, or revoked"}]}"#),
    )
    .await;
    let chain = chain(vec![(
        SENDGRID,
        Arc::new(sendgrid(&server.url(), short_timeouts())) as _,
    )]);
    for _ in 0..3 {
        let record = chain.send(&otp_email("1")).await;
        assert_eq!(
            record.outcome.attempts()[0].error_kind,
            Some(ErrorKind::Authentication)
        );
    }
    assert_eq!(
        chain
            .breaker(&ProviderKind::Sendgrid)
            .expect("breaker")
            .state(),
        BreakerState::Open
    );
}

#[tokio::test]
async fn sendgrid_faults_end_in_the_right_kinds() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let e = sendgrid_error(
        Reply::status(429, r#"{"errors":[{"message":"too many requests"}]}"#)
            .with_header("X-RateLimit-Reset", &(now + 20).to_string()),
    )
    .await;
    assert_eq!(e.kind, ErrorKind::Throttled);
    assert!(
        e.retry_after
            .is_some_and(|d| d <= Duration::from_secs(20) && d >= Duration::from_secs(18)),
        "{e:?}"
    );
    for status in [500, 503] {
        assert_eq!(
            sendgrid_error(Reply::status(status, "")).await.kind,
            ErrorKind::Transient
        );
    }
    assert_eq!(
        sendgrid_error(Reply::status(
            403,
            r#"{"errors":[{"message":"access forbidden"}]}"#
        ))
        .await
        .kind,
        ErrorKind::Authentication
    );
    assert_eq!(
        sendgrid_error(Reply::status(400, r#"{"errors":[{"message":"Does not contain a valid address.","field":"personalizations.0.to.0.email"}]}"#)).await.kind,
        ErrorKind::Permanent
    );
    let e = sendgrid_error(Reply::status(500, "<html>oops</html>")).await;
    assert!(
        e.message.contains("not SendGrid's error JSON"),
        "{}",
        e.message
    );
    let started = Instant::now();
    assert_eq!(sendgrid_error(Reply::Hang).await.kind, ErrorKind::Ambiguous);
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(
        sendgrid_error(Reply::Garbage("\u{0}\u{1}garbage".into()))
            .await
            .kind,
        ErrorKind::Transient
    );
    let e = sendgrid(&refused_url(), short_timeouts())
        .send(&otp_email("1"))
        .await
        .expect_err("refused");
    assert_eq!(e.kind, ErrorKind::Transient);
}

#[tokio::test]
async fn failing_probes_are_reported_but_never_open_a_breaker() {
    let server = ScriptedServer::start(vec![], Reply::status(401, TWILIO_20003)).await;
    let chain = chain(vec![(
        TWILIO,
        Arc::new(twilio(&server.url(), short_timeouts())) as _,
    )]);
    let id = ProviderKind::Twilio;
    for _ in 0..5 {
        let e = chain
            .probe(&id)
            .await
            .expect("configured")
            .expect_err("401");
        assert_eq!(
            (e.kind, e.provider_code),
            (ErrorKind::Authentication, Some(20003))
        );
    }
    assert_eq!(
        chain.breaker(&id).expect("breaker").state(),
        BreakerState::Closed
    );
    let r = &server.requests()[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        (
            "GET",
            format!("/2010-04-01/Accounts/{FAKE_TWILIO_SID}.json").as_str()
        )
    );
}

#[tokio::test]
async fn sendgrid_probe_needs_the_mail_send_scope() {
    let server = ScriptedServer::start(
        vec![Reply::status(
            200,
            r#"{"scopes":["mail.send","user.profile.read"]}"#,
        )],
        Reply::status(200, r#"{"scopes":["user.profile.read"]}"#),
    )
    .await;
    let sg = sendgrid(&server.url(), short_timeouts());
    Provider::<msgops_core::EmailMessage>::probe(&sg)
        .await
        .expect("has mail.send");
    let e = Provider::<msgops_core::EmailMessage>::probe(&sg)
        .await
        .expect_err("lacks mail.send");
    assert_eq!(e.kind, ErrorKind::Authentication);
    assert!(e.message.contains("mail.send"));
}
