//! The parser on realistic backend logs: tracebacks, interleaved workers, access lines without
//! timestamps, unicode, CRLF, invalid UTF-8; and the fast scanner reading them the same way.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use msgops_logwatch::{
    parse_any_timestamp, scan_file, CodeSource, LineMeta, LineParser, LineSplitter, LogEvent,
    ParserConfig, ScanOptions, ZoneSetting,
};

/// The sample's clock: UTC, so the expectations do not depend on this machine's zone.
fn utc_config() -> ParserConfig {
    ParserConfig {
        zone: ZoneSetting::UTC,
        ..ParserConfig::default()
    }
}

fn parse(bytes: &[u8]) -> Vec<LogEvent> {
    let mut parser = LineParser::new("backend.log", Arc::new(utc_config()));
    let mut splitter = LineSplitter::new(1 << 20);
    let mut out = Vec::new();
    let mut n = 0;
    let now = parse_any_timestamp("2025-10-29 16:40:00")
        .unwrap()
        .and_utc();
    splitter.push(bytes, |line, truncated| {
        n += 1;
        parser.feed(
            line,
            &LineMeta {
                line_no: n,
                truncated,
                complete: true,
                live: false,
                now,
            },
            &mut out,
        );
    });
    parser.flush(&mut out);
    out
}

fn codes(events: &[LogEvent]) -> Vec<(Option<String>, String, u64)> {
    events
        .iter()
        .filter_map(|e| match e {
            LogEvent::Code(c) => Some((c.recipient.clone(), c.code.clone(), c.line)),
            _ => None,
        })
        .collect()
}

const SAMPLE: &[u8] = include_bytes!("../testdata/backend.log");

#[test]
fn incident_log_yields_the_incident_events_in_order() {
    let events = parse(SAMPLE);
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| match e {
            LogEvent::Code(_) => "code",
            LogEvent::ProviderError(_) => "provider_error",
            LogEvent::HttpError(_) => "http_error",
            LogEvent::BackendStart(_) => "backend_start",
            LogEvent::StaleConfig(_) => "stale_config",
            LogEvent::FollowerStatus(_) => "follower_status",
            LogEvent::Clock(_) => "clock",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "backend_start",
            "backend_start",
            "backend_start",
            "backend_start",
            "provider_error",
            "code",
            "http_error",
            "provider_error",
            "code",
            "code"
        ]
    );
    let LogEvent::ProviderError(twilio) = &events[4] else {
        panic!()
    };
    assert_eq!(
        (
            twilio.provider.as_str(),
            twilio.status,
            twilio.provider_code.as_deref()
        ),
        ("twilio", Some(401), Some("20003"))
    );
    assert_eq!(
        twilio.detail.len(),
        5,
        "the traceback is attached to the error line"
    );
    let LogEvent::HttpError(http) = &events[6] else {
        panic!()
    };
    assert_eq!(
        (http.status, http.path.as_str()),
        (500, "/api/v1/auth/otp/send")
    );
    assert_eq!(
        http.ts,
        parse_any_timestamp("2025-10-29 16:34:53,202"),
        "access lines take the last timestamp"
    );
    let LogEvent::ProviderError(sendgrid) = &events[7] else {
        panic!()
    };
    assert_eq!(
        (sendgrid.provider.as_str(), sendgrid.status),
        ("sendgrid", Some(401))
    );
    let LogEvent::Code(console) = &events[8] else {
        panic!()
    };
    assert_eq!(console.source, CodeSource::Console);
    assert_eq!(
        console.recipient.as_deref(),
        Some("4165550199"),
        "tied to the preceding announcement"
    );
    assert!(
        !console.expired,
        "created 16:35:12.510: still valid at 16:40"
    );
}

#[test]
fn code_expiry_follows_the_log_time() {
    let events = parse(SAMPLE);
    let LogEvent::Code(c) = &events[5] else {
        panic!()
    };
    let utc = |s: &str| parse_any_timestamp(s).map(|t| t.and_utc());
    assert_eq!(c.logged_at, parse_any_timestamp("2025-10-29T16:34:53.202"));
    assert_eq!(c.created_at, utc("2025-10-29T16:34:53.202"));
    assert_eq!(c.expires_at, utc("2025-10-29T16:44:53.202"));
    assert!(!c.expired, "still valid at 16:40");
}

#[test]
fn crlf_unicode_and_invalid_utf8_lines_are_read() {
    let log = b"2025-10-29 16:34:53,202 - svc - WARNING - SMS FALLBACK - OTP for +4915112345678: 123456\r\n\
2025-10-29 16:34:54,000 - svc - INFO - Benutzer \xc3\xbcberpr\xc3\xbcft \xe2\x9c\x93 \xff\xfe garbage\r\n\
2025-10-29 16:34:55,000 - svc - WARNING - SMS FALLBACK - OTP for j\xc3\xb6rg@example.de: 654321\r\n";
    let got = codes(&parse(log));
    assert_eq!(
        got,
        [
            (Some("+4915112345678".to_owned()), "123456".to_owned(), 1),
            (Some("jörg@example.de".to_owned()), "654321".to_owned(), 3)
        ]
    );
}

#[test]
fn interleaved_workers_keep_each_traceback_with_its_error() {
    let log = b"2025-10-29 16:34:53,100 - worker1 - ERROR - Failed to send SMS\n\
Traceback (most recent call last):\n\
  File \"/app/sms.py\", line 1, in send\n\
twilio.base.exceptions.TwilioRestException: HTTP 401 error: Unable to create record: Authenticate\n\
2025-10-29 16:34:53,150 - worker2 - WARNING - SMS FALLBACK - OTP for +14165550001: 111111\n\
2025-10-29 16:34:53,160 - worker3 - ERROR - SendGrid error: HTTP Error 401: Unauthorized\n\
INFO:     127.0.0.1:1 - \"POST /api/v1/auth/otp/send HTTP/1.1\" 503 Service Unavailable\n\
INFO:     127.0.0.1:2 - \"GET /api/v1/items HTTP/1.1\" 500 Internal Server Error\n";
    let events = parse(log);
    assert_eq!(events.len(), 4, "{events:#?}");
    let LogEvent::ProviderError(p) = &events[0] else {
        panic!("{events:#?}")
    };
    assert_eq!(
        (p.provider.as_str(), p.status, p.line, p.detail.len()),
        ("twilio", Some(401), 1, 3)
    );
    assert!(matches!(&events[1], LogEvent::Code(c) if c.code == "111111"));
    assert!(
        matches!(&events[2], LogEvent::ProviderError(p) if p.provider == msgops_provider_kind::ProviderKind::Sendgrid)
    );
    assert!(
        matches!(&events[3], LogEvent::HttpError(h) if h.status == 503),
        "5xx outside the auth API is not reported"
    );
}

#[test]
fn scanner_reads_codes_like_the_parser() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("backend.log");
    std::fs::write(&path, SAMPLE).unwrap();
    let mut options = ScanOptions::new(
        parse_any_timestamp("2025-10-29 16:40:00")
            .unwrap()
            .and_utc(),
    );
    options.parser = utc_config();
    options.include_expired = true;
    let scanned: Vec<_> = scan_file(&path, &options)
        .unwrap()
        .into_iter()
        .map(|c| (c.recipient, c.code, c.line))
        .collect();
    assert_eq!(scanned, codes(&parse(SAMPLE)));
    options.include_expired = false;
    options.recipient_contains = Some("0199".to_owned());
    let valid: Vec<_> = scan_file(&path, &options)
        .unwrap()
        .into_iter()
        .map(|c| c.code)
        .collect();
    assert_eq!(valid, ["553190"]);
}

fn feed_all(
    parser: &mut LineParser,
    text: &str,
    live: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<msgops_logwatch::FallbackCode> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let meta = LineMeta {
            line_no: i as u64 + 1,
            truncated: false,
            complete: true,
            live,
            now,
        };
        parser.feed(line.as_bytes(), &meta, &mut out);
    }
    out.into_iter()
        .filter_map(|e| match e {
            LogEvent::Code(c) => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn concurrent_requests_make_their_codes_uncertain_never_wrong() {
    // Two requests announced before either code: each code is for one of them.
    let log = "\
2025-10-29 16:30:00,000 - services.sms - INFO - AWS SNS initialized as PRIMARY SMS provider
2025-10-29 16:34:53,001 - services.otp_service - INFO - OTP created for phone: 4165550471
2025-10-29 16:34:53,002 - services.otp_service - INFO - OTP created for phone: 4165550999
2025-10-29 16:34:53,010 - services.otp_service - INFO - OTP Code: 589503
2025-10-29 16:34:53,012 - services.otp_service - INFO - OTP Code: 111222
2025-10-29 16:34:54,000 - services.otp_service - INFO - OTP created for phone: 4165550555
2025-10-29 16:34:54,010 - services.otp_service - INFO - OTP Code: 333444
";
    let now = parse_any_timestamp("2025-10-29 16:40:00")
        .unwrap()
        .and_utc();
    let mut parser = LineParser::new("b.log", Arc::new(utc_config()));
    let codes = feed_all(&mut parser, log, false, now);
    assert_eq!(codes.len(), 3);
    for c in &codes[..2] {
        assert_eq!(c.recipient, None, "{c:?}");
        assert_eq!(c.candidates, ["4165550471", "4165550999"]);
        assert_eq!(c.recipient_label(), "one of 4165550471, 4165550999");
        let q = msgops_logwatch::RecipientQuery::new("0999");
        assert!(c.recipient_matches(&q));
    }
    assert_eq!(
        codes[2].recipient.as_deref(),
        Some("4165550555"),
        "alone again: certain"
    );
}

#[test]
fn a_correlation_group_pairs_announcement_and_code_exactly() {
    let log = "\
2025-10-29 16:34:53,001 [Thread-1] OTP created for phone: 4165550471
2025-10-29 16:34:53,002 [Thread-2] OTP created for phone: 4165550999
2025-10-29 16:34:53,010 [Thread-2] OTP Code: 589503
2025-10-29 16:34:53,012 [Thread-1] OTP Code: 111222
";
    let config = ParserConfig {
        patterns: vec![
            msgops_logwatch::CodePattern::new(
                r"\[(?P<corr>[^\]]+)\] OTP created for phone: (?P<recipient>\d+)",
            )
            .unwrap(),
            msgops_logwatch::CodePattern::new(r"\[(?P<corr>[^\]]+)\] OTP Code: (?P<code>\d{6})$")
                .unwrap(),
        ],
        ..utc_config()
    };
    let now = parse_any_timestamp("2025-10-29 16:40:00")
        .unwrap()
        .and_utc();
    let mut parser = LineParser::new("b.log", Arc::new(config));
    let codes = feed_all(&mut parser, log, false, now);
    let got: Vec<_> = codes
        .iter()
        .map(|c| (c.code.as_str(), c.recipient.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            ("589503", Some("4165550999")),
            ("111222", Some("4165550471"))
        ]
    );
}

#[test]
fn a_code_without_timestamp_is_read_at_its_time_live_and_approximate_from_the_past() {
    let log = "2025-10-29 16:00:00,000 - x - INFO - quiet for an hour\nOTP Code: 091282\n";
    let now = parse_any_timestamp("2025-10-29 17:00:00")
        .unwrap()
        .and_utc();
    let mut live = LineParser::new("b.log", Arc::new(utc_config()));
    let c = &feed_all(&mut live, log, true, now)[0];
    assert_eq!(c.time, msgops_logwatch::CodeTime::ReadAt);
    assert_eq!(c.created_at, Some(now));
    assert!(!c.expired, "fresh when read live");
    let mut past = LineParser::new("b.log", Arc::new(utc_config()));
    let c = &feed_all(&mut past, log, false, now)[0];
    assert_eq!(c.time, msgops_logwatch::CodeTime::Approximate);
    assert_eq!(c.logged_at, parse_any_timestamp("2025-10-29 16:00:00"));
    assert!(c.expired);
}

#[test]
fn a_cut_line_never_yields_a_code() {
    let now = parse_any_timestamp("2025-10-29 16:40:00")
        .unwrap()
        .and_utc();
    let mut parser = LineParser::new("b.log", Arc::new(utc_config()));
    let mut out = Vec::new();
    let meta = LineMeta {
        line_no: 1,
        truncated: false,
        complete: false,
        live: true,
        now,
    };
    parser.feed(
        b"2025-10-29 16:34:53,202 - x - INFO - OTP Code: 0912",
        &meta,
        &mut out,
    );
    parser.feed(
        b"2025-10-29 16:34:53,202 - x - INFO - OTP Code: 091282",
        &meta,
        &mut out,
    );
    assert!(
        out.iter().all(|e| !matches!(e, LogEvent::Code(_))),
        "{out:?}"
    );
}
