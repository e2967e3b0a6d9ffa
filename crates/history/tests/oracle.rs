//! The SQL against the in-memory filter and summary the history used to compute
//! ([`HistoryFilter::apply`], [`HistorySummary::of`]): on the same made-up sends (seeded, both
//! chains, every kind of attempt and skip, receipts, spellings of numbers, three origins), every
//! filter gives the same page and total, and every window the same summary.
#![allow(clippy::unwrap_used)]

mod common;

use chrono::{Duration, TimeZone, Utc};
use common::{random_send, sqlite, Seeded};
use msgops_core::{Channel, ProviderKind};
use msgops_history::{HistoryFilter, HistorySummary, OriginKind, OutcomeFilter, RecordedSend};

fn same_summary(sql: &HistorySummary, memory: &HistorySummary, what: &str) {
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
    assert_eq!(
        (
            sql.since.as_str(),
            sql.days,
            sql.sends,
            sql.delivered,
            sql.failed,
            sql.failed_over
        ),
        (
            memory.since.as_str(),
            memory.days,
            memory.sends,
            memory.delivered,
            memory.failed,
            memory.failed_over
        ),
        "{what}"
    );
    assert!(close(sql.total_cost_usd, memory.total_cost_usd), "{what}");
    assert_eq!(sql.cost_per_day.len(), memory.cost_per_day.len(), "{what}");
    for (a, b) in sql.cost_per_day.iter().zip(&memory.cost_per_day) {
        assert_eq!(
            (&a.day, a.provider, a.delivered, a.failed),
            (&b.day, b.provider, b.delivered, b.failed),
            "{what}"
        );
        assert!(close(a.cost_usd, b.cost_usd), "{what}: {a:?} {b:?}");
    }
    assert_eq!(sql.failover_routes, memory.failover_routes, "{what}");
}

#[tokio::test]
async fn every_filter_and_window_gives_what_the_in_memory_history_gave() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(dir.path(), common::app()).await;
    let end = Utc.with_ymd_and_hms(2026, 11, 22, 18, 30, 0).unwrap();
    let mut rng = Seeded::new(15);
    let sends: Vec<RecordedSend> = (0..3000)
        .map(|n| random_send(&mut rng, end, 12, n))
        .collect();
    // Written in batches of every size, and one by one.
    let mut at = 0;
    while at < sends.len() {
        let n = (rng.below(40) as usize + 1).min(sends.len() - at);
        if n == 1 {
            store.record_all(&sends[at..=at]).await.unwrap();
        } else {
            store.record_all(&sends[at..at + n]).await.unwrap();
        }
        at += n;
    }
    // The in-memory history listed the newest first; ties by when they were written.
    let mut newest_first: Vec<(usize, &RecordedSend)> = sends.iter().enumerate().collect();
    newest_first.sort_by_key(|(i, s)| std::cmp::Reverse((s.record.started_at, *i)));
    let newest_first: Vec<&RecordedSend> = newest_first.into_iter().map(|(_, s)| s).collect();

    let mut filters = Vec::new();
    for channel in [None, Some(Channel::Sms), Some(Channel::Email)] {
        for provider in std::iter::once(None).chain(ProviderKind::ALL.map(Some)) {
            for outcome in [
                None,
                Some(OutcomeFilter::Delivered),
                Some(OutcomeFilter::Failed),
                Some(OutcomeFilter::FailedOver),
            ] {
                filters.push(HistoryFilter {
                    channel,
                    provider,
                    outcome,
                    ..Default::default()
                });
            }
        }
    }
    let sample = |i: usize| &newest_first[i * 37 % newest_first.len()].record;
    for i in 0..25 {
        let r = sample(i);
        let digits: String = r.recipient.chars().filter(char::is_ascii_digit).collect();
        let tail = digits
            .get(digits.len().saturating_sub(4)..)
            .unwrap_or("")
            .to_string();
        filters.push(HistoryFilter {
            recipient: Some(tail.clone()),
            ..Default::default()
        });
        filters.push(HistoryFilter {
            search: Some(r.recipient.to_uppercase()),
            origin: Some(if i % 2 == 0 {
                OriginKind::App
            } else {
                OriginKind::Service
            }),
            ..Default::default()
        });
        if let Some(id) = r
            .outcome
            .attempts()
            .iter()
            .find_map(|a| a.provider_message_id.clone())
        {
            filters.push(HistoryFilter {
                search: Some(id[2..9].to_lowercase()),
                ..Default::default()
            });
            filters.push(HistoryFilter {
                search: Some(id[id.len() - 2..].to_string()),
                channel: Some(r.channel),
                ..Default::default()
            });
        }
        filters.push(HistoryFilter {
            recipient: Some(tail[..tail.len().min(2)].to_string()),
            outcome: Some(OutcomeFilter::Delivered),
            ..Default::default()
        });
    }
    for (limit, offset) in [
        (Some(1), None),
        (Some(7), Some(3)),
        (Some(1000), Some(2650)),
        (None, Some(99)),
    ] {
        filters.push(HistoryFilter {
            limit,
            offset,
            ..Default::default()
        });
        filters.push(HistoryFilter {
            limit,
            offset,
            provider: Some(ProviderKind::Twilio),
            outcome: Some(OutcomeFilter::FailedOver),
            ..Default::default()
        });
    }
    let mut nonempty = 0;
    for f in &filters {
        let sql = store.query(f).await.unwrap();
        let memory = f.apply(newest_first.iter().copied());
        assert_eq!(sql.total, memory.total, "{f:?}");
        assert_eq!(sql.sends, memory.sends, "{f:?}");
        nonempty += usize::from(memory.total > 0);
    }
    assert!(nonempty > filters.len() / 2, "the filters find something");
    // Both ways a page is read on SQLite were taken: newest first (many matches) and sorted
    // matches (few).
    let sms = HistoryFilter {
        channel: Some(Channel::Sms),
        ..Default::default()
    };
    assert!(sms.apply(newest_first.iter().copied()).total >= 2_000);

    let records: Vec<_> = sends.iter().map(|s| s.record.clone()).collect();
    for days in [1, 2, 5, 12, 90, 366] {
        for now in [
            end,
            end - Duration::hours(7),
            end - Duration::days(3),
            end + Duration::days(2),
        ] {
            let sql = store.summary(days, now).await.unwrap();
            let memory = HistorySummary::of(records.iter(), days, now);
            same_summary(&sql, &memory, &format!("{days} days to {now}"));
        }
    }
}
