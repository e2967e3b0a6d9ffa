//! The send history against a real file: what was recorded comes back, filtered and summed.
#![allow(clippy::unwrap_used)]

use chrono::{TimeZone, Utc};
use msgops_core::chain::{Attempt, AttemptOutcome, SendOutcome, SendRecord, Skip, SkipReason};
use msgops_core::{Channel, ErrorKind, ProviderKind};
use msgops_history::{HistoryFilter, OriginKind, OutcomeFilter, SendHistory, SendOrigin};

fn app() -> SendOrigin {
    SendOrigin::this_process(OriginKind::App)
}

fn attempt(provider: &str, ok: bool, cost: f64) -> Attempt {
    Attempt {
        provider: provider.parse::<ProviderKind>().expect("a provider id"),
        outcome: if ok {
            AttemptOutcome::Delivered
        } else {
            AttemptOutcome::Failed
        },
        latency_ms: 12.0,
        error_kind: (!ok).then_some(ErrorKind::Transient),
        error: (!ok).then(|| "connection refused".to_string()),
        provider_code: None,
        cost_usd: if ok { cost } else { 0.0 },
        provider_message_id: None,
    }
}

fn send(day: u32, hour: u32, to: &str, attempts: Vec<Attempt>, skipped: Vec<Skip>) -> SendRecord {
    let delivered = attempts
        .iter()
        .find(|a| a.outcome == AttemptOutcome::Delivered)
        .map(|a| a.provider);
    SendRecord {
        channel: if to.contains('@') {
            Channel::Email
        } else {
            Channel::Sms
        },
        recipient: to.into(),
        started_at: Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0).unwrap(),
        duration_ms: 40.0,
        outcome: match delivered {
            Some(provider) => SendOutcome::Delivered {
                provider,
                attempts,
                skipped,
            },
            None => SendOutcome::Failed {
                reason: "every provider failed".into(),
                attempts,
                skipped,
            },
        },
    }
}

fn skip(provider: &str, reason: SkipReason) -> Skip {
    Skip {
        provider: provider.parse::<ProviderKind>().expect("a provider id"),
        reason,
        detail: None,
    }
}

/// The incident's day: SNS fine, then SNS failing over to Twilio, then SNS OPEN and skipped,
/// then Twilio's key dead and everything on the Console.
fn incident() -> Vec<SendRecord> {
    vec![
        send(
            20,
            9,
            "+14165550123",
            vec![attempt("sns", true, 0.00645)],
            vec![],
        ),
        send(
            21,
            9,
            "+14165550188",
            vec![attempt("sns", false, 0.0), attempt("twilio", true, 0.0075)],
            vec![],
        ),
        send(
            21,
            10,
            "+1 (416) 555-0199",
            vec![attempt("twilio", true, 0.0075)],
            vec![skip("sns", SkipReason::BreakerOpen)],
        ),
        send(
            22,
            8,
            "+14165550177",
            vec![attempt("twilio", false, 0.0), attempt("console", true, 0.0)],
            vec![skip("sns", SkipReason::BreakerOpen)],
        ),
        send(
            22,
            9,
            "ops@example.com",
            vec![attempt("smtp", true, 0.0)],
            vec![
                skip("ses", SkipReason::NotConfigured),
                skip("sendgrid", SkipReason::NotConfigured),
            ],
        ),
        send(
            22,
            10,
            "+14165550166",
            vec![attempt("sns", false, 0.0)],
            vec![
                skip("twilio", SkipReason::BreakerOpen),
                skip("console", SkipReason::Disabled),
            ],
        ),
    ]
}

fn filled(dir: &tempfile::TempDir) -> SendHistory {
    let (history, problems) = SendHistory::open(dir.path().join("sends.jsonl"), 100, app());
    assert!(problems.is_empty(), "{problems:?}");
    for r in incident() {
        history.record(&r).unwrap();
    }
    history
}

#[test]
fn sends_come_back_newest_first_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let history = filled(&dir);
    let page = history.query(&HistoryFilter::default());
    assert_eq!(page.total, 6);
    assert_eq!(page.sends[0].record.recipient, "+14165550166");
    assert_eq!(page.sends[5].record.recipient, "+14165550123");
    drop(history);

    let (reopened, problems) = SendHistory::open(dir.path().join("sends.jsonl"), 100, app());
    assert!(problems.is_empty());
    assert_eq!(reopened.query(&HistoryFilter::default()), page);
}

#[test]
fn filters_narrow_by_channel_provider_outcome_and_any_part_of_the_recipient() {
    let dir = tempfile::tempdir().unwrap();
    let history = filled(&dir);
    let q = |f: HistoryFilter| -> Vec<String> {
        history
            .query(&f)
            .sends
            .into_iter()
            .map(|s| s.record.recipient)
            .collect()
    };
    assert_eq!(
        q(HistoryFilter {
            channel: Some(Channel::Email),
            ..Default::default()
        }),
        ["ops@example.com"]
    );
    assert_eq!(
        q(HistoryFilter {
            provider: Some(ProviderKind::Twilio),
            ..Default::default()
        }),
        [
            "+14165550166",
            "+14165550177",
            "+1 (416) 555-0199",
            "+14165550188"
        ]
    );
    assert_eq!(
        q(HistoryFilter {
            outcome: Some(OutcomeFilter::Failed),
            ..Default::default()
        }),
        ["+14165550166"]
    );
    // Not-configured SES/SendGrid is not a failover; an OPEN SNS and a failed Twilio are.
    assert_eq!(
        q(HistoryFilter {
            outcome: Some(OutcomeFilter::FailedOver),
            ..Default::default()
        }),
        ["+14165550177", "+1 (416) 555-0199", "+14165550188"]
    );
    // Support staff get "0199" or "555-0199" over the phone.
    assert_eq!(
        q(HistoryFilter {
            recipient: Some("555-0199".into()),
            ..Default::default()
        }),
        ["+1 (416) 555-0199"]
    );
    assert_eq!(
        q(HistoryFilter {
            recipient: Some("0199".into()),
            ..Default::default()
        }),
        ["+1 (416) 555-0199"]
    );
}

#[test]
fn pages_are_counted_over_every_match() {
    let dir = tempfile::tempdir().unwrap();
    let history = filled(&dir);
    let page = history.query(&HistoryFilter {
        limit: Some(2),
        offset: Some(2),
        ..Default::default()
    });
    assert_eq!(page.total, 6);
    let shown: Vec<_> = page
        .sends
        .iter()
        .map(|s| s.record.recipient.as_str())
        .collect();
    assert_eq!(shown, ["+14165550177", "+1 (416) 555-0199"]);
}

#[test]
fn summary_sums_cost_per_provider_per_day_and_counts_failover_routes() {
    let dir = tempfile::tempdir().unwrap();
    let history = filled(&dir);
    let now = Utc.with_ymd_and_hms(2026, 11, 22, 23, 0, 0).unwrap();
    let s = history.summary(2, now);
    assert_eq!(s.since, "2026-11-21");
    assert_eq!(
        (s.sends, s.delivered, s.failed, s.failed_over),
        (5, 4, 1, 3)
    );
    let day = |d: &str, p: &str| {
        s.cost_per_day
            .iter()
            .find(|c| c.day == d && c.provider.as_str() == p)
            .map(|c| (c.cost_usd, c.delivered, c.failed))
    };
    assert_eq!(day("2026-11-21", "twilio"), Some((0.015, 2, 0)));
    assert_eq!(day("2026-11-21", "sns"), Some((0.0, 0, 1)));
    assert_eq!(day("2026-11-22", "twilio"), Some((0.0, 0, 1)));
    assert_eq!(day("2026-11-20", "sns"), None, "outside the window");
    assert!((s.total_cost_usd - 0.015).abs() < 1e-12);
    let routes: Vec<_> = s
        .failover_routes
        .iter()
        .map(|r| (r.from.as_str(), r.to.as_str(), r.count))
        .collect();
    assert_eq!(routes, [("sns", "twilio", 2), ("sns", "console", 1)]);
}

#[test]
fn a_damaged_line_is_reported_and_skipped_and_nothing_else_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sends.jsonl");
    drop(filled(&dir));
    let mut text = std::fs::read_to_string(&path).unwrap();
    let second = text.find('\n').unwrap() + 1;
    text.insert_str(second, "{\"channel\":\"sms\", truncated by a crash\n");
    std::fs::write(&path, text).unwrap();

    let (history, problems) = SendHistory::open(&path, 100, app());
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("line 2"), "{}", problems[0]);
    assert_eq!(history.len(), 6);
    // And it keeps appending after the bad line.
    history.record(&incident()[0]).unwrap();
    assert_eq!(SendHistory::open(&path, 100, app()).0.len(), 7);
}

#[test]
fn the_oldest_fall_off_past_the_cap_and_the_file_is_compacted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sends.jsonl");
    let (history, _) = SendHistory::open(&path, 2, app());
    for r in incident() {
        history.record(&r).unwrap();
    }
    assert_eq!(history.len(), 2);
    drop(history);
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 6);
    let (reopened, problems) = SendHistory::open(&path, 2, app());
    assert!(problems.is_empty());
    let kept: Vec<_> = reopened
        .query(&HistoryFilter::default())
        .sends
        .into_iter()
        .map(|s| s.record.recipient)
        .collect();
    assert_eq!(kept, ["+14165550166", "ops@example.com"]);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap().lines().count(),
        2,
        "compacted"
    );
}

#[test]
fn an_unwritable_file_is_an_error_but_the_send_is_still_listed() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the file should be: every write fails.
    let path = dir.path().join("sends.jsonl");
    std::fs::create_dir(&path).unwrap();
    let (history, problems) = SendHistory::open(&path, 10, app());
    assert!(!problems.is_empty());
    let err = history.record(&incident()[0]).unwrap_err().to_string();
    assert!(err.contains("cannot write the send history"), "{err}");
    assert_eq!(history.len(), 1);
}

#[test]
fn search_finds_a_send_by_any_part_of_its_recipient_or_of_a_providers_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let (history, _) = SendHistory::open(dir.path().join("sends.jsonl"), 100, app());
    let mut ses = send(
        22,
        9,
        "ops@example.com",
        vec![attempt("ses", true, 0.0001)],
        vec![],
    );
    if let SendOutcome::Delivered { attempts, .. } = &mut ses.outcome {
        attempts[0].provider_message_id =
            Some("0100018F-2A3B-4C5D-9E8F-000000000000-000000".into());
    }
    let mut twilio = send(
        22,
        10,
        "+14165550188",
        vec![attempt("sns", false, 0.0), attempt("twilio", true, 0.0075)],
        vec![],
    );
    if let SendOutcome::Delivered { attempts, .. } = &mut twilio.outcome {
        attempts[1].provider_message_id = Some("SM9f2c4e6a8b0d1f3e5a7c9b1d3f5e7a9c".into());
    }
    for r in [&ses, &twilio, &incident()[0]] {
        history.record(r).unwrap();
    }
    let q = |search: &str| -> Vec<String> {
        history
            .query(&HistoryFilter {
                search: Some(search.into()),
                ..Default::default()
            })
            .sends
            .into_iter()
            .map(|s| s.record.recipient)
            .collect()
    };
    // Pasted from the provider's console, in any case, with or without its dashes.
    assert_eq!(q("sm9f2c4e6a8b"), ["+14165550188"]);
    assert_eq!(q("0100018f-2a3b-4c5d"), ["ops@example.com"]);
    assert_eq!(q("0100018F2A3B"), ["ops@example.com"]);
    // And still the recipient, as support staff read it out.
    assert_eq!(q("555-0123"), ["+14165550123"]);
    assert_eq!(q("example"), ["ops@example.com"]);
    assert!(q("SM0000").is_empty());
    assert_eq!(q(" ").len(), 3, "an empty search narrows nothing");
}

#[test]
fn sends_carry_the_origin_of_the_store_that_recorded_them_and_can_be_filtered_by_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sends.jsonl");
    let (app_store, _) = SendHistory::open(&path, 100, app());
    let (service, _) = SendHistory::open(
        &path,
        100,
        SendOrigin {
            kind: OriginKind::Service,
            host: Some("ops-box".into()),
            pid: Some(4242),
        },
    );
    let [a, b, c, ..] = &incident()[..] else {
        unreachable!()
    };
    app_store.record(a).unwrap();
    service.record(b).unwrap();
    service.record(c).unwrap();

    let by = |kind| -> Vec<(String, SendOrigin)> {
        app_store
            .query(&HistoryFilter {
                origin: kind,
                ..Default::default()
            })
            .sends
            .into_iter()
            .map(|s| (s.record.recipient, s.origin))
            .collect()
    };
    let service_origin = SendOrigin {
        kind: OriginKind::Service,
        host: Some("ops-box".into()),
        pid: Some(4242),
    };
    assert_eq!(
        by(Some(OriginKind::Service)),
        [
            (c.recipient.clone(), service_origin.clone()),
            (b.recipient.clone(), service_origin)
        ]
    );
    assert_eq!(by(Some(OriginKind::App)), [(a.recipient.clone(), app())]);
    assert_eq!(by(None).len(), 3);
}
