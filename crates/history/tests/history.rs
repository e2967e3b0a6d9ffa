//! The send history against a real SQLite file: what was recorded comes back, filtered, paged
//! and summed — the hand-checked cases of the incident's days.
#![allow(clippy::unwrap_used)]

mod common;

use chrono::{TimeZone, Utc};
use common::{app, attempt, incident, send, sqlite};
use msgops_core::chain::SendOutcome;
use msgops_core::{Channel, ProviderKind};
use msgops_history::{
    HistoryFilter, HistoryLocation, HistoryStore, OriginKind, OutcomeFilter, SendOrigin,
};

async fn filled(dir: &tempfile::TempDir) -> HistoryStore {
    let history = sqlite(dir.path(), app()).await;
    for r in incident() {
        history.record(&r).await.unwrap();
    }
    history
}

#[tokio::test]
async fn sends_come_back_newest_first_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let history = filled(&dir).await;
    let page = history.query(&HistoryFilter::default()).await.unwrap();
    assert_eq!(page.total, 6);
    assert_eq!(page.sends[0].record.recipient, "+14165550166");
    assert_eq!(page.sends[5].record.recipient, "+14165550123");
    assert_eq!(page.sends[5].record, incident()[0], "read back as recorded");
    history.close().await;
    drop(history);

    let reopened = sqlite(dir.path(), app()).await;
    assert_eq!(
        reopened.query(&HistoryFilter::default()).await.unwrap(),
        page
    );
    assert!(dir.path().join(msgops_history::SQLITE_FILE_NAME).is_file());
}

#[tokio::test]
async fn filters_narrow_by_channel_provider_outcome_and_any_part_of_the_recipient() {
    let dir = tempfile::tempdir().unwrap();
    let history = filled(&dir).await;
    let q = |f: HistoryFilter| {
        let history = &history;
        async move {
            history
                .query(&f)
                .await
                .unwrap()
                .sends
                .into_iter()
                .map(|s| s.record.recipient)
                .collect::<Vec<String>>()
        }
    };
    assert_eq!(
        q(HistoryFilter {
            channel: Some(Channel::Email),
            ..Default::default()
        })
        .await,
        ["ops@example.com"]
    );
    assert_eq!(
        q(HistoryFilter {
            provider: Some(ProviderKind::Twilio),
            ..Default::default()
        })
        .await,
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
        })
        .await,
        ["+14165550166"]
    );
    // Not-configured SES/SendGrid is not a failover; an OPEN SNS and a failed Twilio are.
    assert_eq!(
        q(HistoryFilter {
            outcome: Some(OutcomeFilter::FailedOver),
            ..Default::default()
        })
        .await,
        ["+14165550177", "+1 (416) 555-0199", "+14165550188"]
    );
    // Support staff get "0199" or "555-0199" over the phone (and two digits find it too).
    for heard in ["555-0199", "0199", "99", "(416) 555"] {
        let found = q(HistoryFilter {
            recipient: Some(heard.into()),
            ..Default::default()
        })
        .await;
        if heard == "(416) 555" {
            assert_eq!(found.len(), 5, "{heard}");
        } else {
            assert_eq!(found, ["+1 (416) 555-0199"], "{heard}");
        }
    }
}

#[tokio::test]
async fn pages_are_counted_over_every_match() {
    let dir = tempfile::tempdir().unwrap();
    let history = filled(&dir).await;
    let page = history
        .query(&HistoryFilter {
            limit: Some(2),
            offset: Some(2),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.total, 6);
    let shown: Vec<_> = page
        .sends
        .iter()
        .map(|s| s.record.recipient.as_str())
        .collect();
    assert_eq!(shown, ["+14165550177", "+1 (416) 555-0199"]);
    let past_the_end = history
        .query(&HistoryFilter {
            offset: Some(10),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((past_the_end.total, past_the_end.sends.len()), (6, 0));
}

#[tokio::test]
async fn summary_sums_cost_per_provider_per_day_and_counts_failover_routes() {
    let dir = tempfile::tempdir().unwrap();
    let history = filled(&dir).await;
    let now = Utc.with_ymd_and_hms(2026, 11, 22, 23, 0, 0).unwrap();
    let s = history.summary(2, now).await.unwrap();
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
    // `now` early on the 22nd: that day's later sends are not counted yet.
    let morning = Utc.with_ymd_and_hms(2026, 11, 22, 8, 30, 0).unwrap();
    let s = history.summary(2, morning).await.unwrap();
    assert_eq!((s.sends, s.failed_over), (3, 3));
    // Equal to what the in-memory summary computes on the same records.
    let records = incident();
    for (days, now) in [(1, now), (2, now), (3, now), (30, morning), (366, now)] {
        assert_eq!(
            history.summary(days, now).await.unwrap(),
            msgops_history::HistorySummary::of(records.iter(), days, now),
            "{days} days to {now}"
        );
    }
}

#[tokio::test]
async fn search_finds_a_send_by_any_part_of_its_recipient_or_of_a_providers_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let history = sqlite(dir.path(), app()).await;
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
        history.record(r).await.unwrap();
    }
    let q = |search: &str| {
        let history = &history;
        let search = search.to_string();
        async move {
            history
                .query(&HistoryFilter {
                    search: Some(search),
                    ..Default::default()
                })
                .await
                .unwrap()
                .sends
                .into_iter()
                .map(|s| s.record.recipient)
                .collect::<Vec<String>>()
        }
    };
    // Pasted from the provider's console, in any case, with or without its dashes.
    assert_eq!(q("sm9f2c4e6a8b").await, ["+14165550188"]);
    assert_eq!(q("0100018f-2a3b-4c5d").await, ["ops@example.com"]);
    assert_eq!(q("0100018F2A3B").await, ["ops@example.com"]);
    // And still the recipient, as support staff read it out.
    assert_eq!(q("555-0123").await, ["+14165550123"]);
    assert_eq!(q("example").await, ["ops@example.com"]);
    assert_eq!(
        q("9c").await,
        ["+14165550188"],
        "two characters: no trigram"
    );
    assert!(q("SM0000").await.is_empty());
    assert!(q("\"; DROP TABLE sends; --").await.is_empty());
    assert!(
        q("50%").await.is_empty(),
        "% is a character, not a wildcard"
    );
    assert_eq!(q(" ").await.len(), 3, "an empty search narrows nothing");
}

#[tokio::test]
async fn sends_carry_the_origin_of_the_store_that_recorded_them_and_can_be_filtered_by_it() {
    let dir = tempfile::tempdir().unwrap();
    let app_store = sqlite(dir.path(), app()).await;
    let service_origin = common::service("ops-box", 4242);
    let service = sqlite(dir.path(), service_origin.clone()).await;
    let [a, b, c, ..] = &incident()[..] else {
        unreachable!()
    };
    app_store.record(a).await.unwrap();
    service.record(b).await.unwrap();
    service.record(c).await.unwrap();

    let by = |kind| {
        let app_store = &app_store;
        async move {
            app_store
                .query(&HistoryFilter {
                    origin: kind,
                    ..Default::default()
                })
                .await
                .unwrap()
                .sends
                .into_iter()
                .map(|s| (s.record.recipient, s.origin))
                .collect::<Vec<(String, SendOrigin)>>()
        }
    };
    assert_eq!(
        by(Some(OriginKind::Service)).await,
        [
            (c.recipient.clone(), service_origin.clone()),
            (b.recipient.clone(), service_origin)
        ]
    );
    assert_eq!(
        by(Some(OriginKind::App)).await,
        [(a.recipient.clone(), app())]
    );
    assert_eq!(by(None).await.len(), 3);
}

#[tokio::test]
async fn a_history_that_cannot_be_opened_says_where_and_why() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the database file should be.
    let path = dir.path().join("history.sqlite3");
    std::fs::create_dir(&path).unwrap();
    let err = HistoryStore::open(HistoryLocation::Sqlite(path.clone()), 90, app())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot open the send history"), "{err}");
    assert!(err.contains(&path.display().to_string()), "{err}");
    // A PostgreSQL that is not there: the password is not in the message.
    let err = HistoryStore::open(
        HistoryLocation::Postgres("postgres://msgops:hunter2-secret@127.0.0.1:1/msgops".into()),
        90,
        app(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("postgres://msgops:***@127.0.0.1:1/msgops"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}

#[tokio::test]
async fn a_store_in_memory_keeps_sends_for_its_life() {
    let history = HistoryStore::in_memory(app()).await.unwrap();
    for r in incident() {
        history.record(&r).await.unwrap();
    }
    assert_eq!(history.count().await.unwrap(), 6);
    assert_eq!(
        history
            .query(&HistoryFilter {
                outcome: Some(OutcomeFilter::FailedOver),
                ..Default::default()
            })
            .await
            .unwrap()
            .total,
        3
    );
}
