//! The history on a real PostgreSQL (a cluster made and started by the test): two instances
//! write to one database at once and each lists both's sends; the SQL gives what the in-memory
//! history gave; a delivery report both receive is kept once; an instance's old files are
//! imported once; a password never shows.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{Duration, Utc};
use common::pg::Postgres;
use common::{random_send, service, Seeded};
use msgops_core::{Channel, ProviderKind};
use msgops_delivery::{DeliveryEvent, DeliverySource, DeliveryStatus};
use msgops_history::{
    HistoryFilter, HistoryLocation, HistoryStore, HistorySummary, OriginKind, OutcomeFilter,
    RecordedSend,
};

async fn instance(url: &str, host: &str, legacy: Option<&std::path::Path>) -> HistoryStore {
    let (store, problems) = HistoryStore::open_importing(
        HistoryLocation::parse(url).unwrap(),
        3650,
        service(host, 7),
        legacy,
    )
    .await
    .unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_postgres_database() {
    let Some(pg) = Postgres::start() else {
        return;
    };
    let url = pg.database("msgops");
    // Both start at once: the migrations run once.
    let (a, b) = tokio::join!(instance(&url, "ops-1", None), instance(&url, "ops-2", None));
    let (a, b) = (Arc::new(a), Arc::new(b));

    // Each writes its sends at the same time as the other.
    let end = Utc::now();
    let mut rng = Seeded::new(42);
    let made: Vec<RecordedSend> = (0..400).map(|n| random_send(&mut rng, end, 9, n)).collect();
    let (mine, theirs) = made.split_at(200);
    let write = |store: Arc<HistoryStore>, sends: Vec<RecordedSend>| {
        tokio::spawn(async move {
            for chunk in sends.chunks(7) {
                store.record_all(chunk).await.unwrap();
            }
        })
    };
    let (ta, tb) = (
        write(a.clone(), mine.to_vec()),
        write(b.clone(), theirs.to_vec()),
    );
    ta.await.unwrap();
    tb.await.unwrap();
    // And through `record`, marked with each instance's origin.
    a.record(&mine[0].record).await.unwrap();
    b.record(&theirs[0].record).await.unwrap();

    for store in [&a, &b] {
        let page = store
            .query(&HistoryFilter {
                limit: Some(1000),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(page.total, 402);
        let hosts: HashSet<_> = page
            .sends
            .iter()
            .filter(|s| s.origin.pid == Some(7))
            .filter_map(|s| s.origin.host.clone())
            .collect();
        assert_eq!(
            hosts,
            HashSet::from(["ops-1".to_string(), "ops-2".to_string()])
        );
    }

    // The SQL gives what the in-memory history gave (ties broken the same way).
    let mut all: Vec<RecordedSend> = made.clone();
    all.push(RecordedSend {
        record: mine[0].record.clone(),
        origin: a.origin().clone(),
    });
    all.push(RecordedSend {
        record: theirs[0].record.clone(),
        origin: b.origin().clone(),
    });
    all.sort_by_key(|s| std::cmp::Reverse(s.record.started_at));
    let sample = &all
        .iter()
        .find(|s| s.record.channel == Channel::Sms)
        .unwrap()
        .record;
    let digits: String = sample
        .recipient
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let filters = [
        HistoryFilter::default(),
        HistoryFilter {
            channel: Some(Channel::Sms),
            provider: Some(ProviderKind::Twilio),
            outcome: Some(OutcomeFilter::FailedOver),
            ..Default::default()
        },
        HistoryFilter {
            outcome: Some(OutcomeFilter::Failed),
            origin: Some(OriginKind::App),
            ..Default::default()
        },
        HistoryFilter {
            recipient: Some(digits[digits.len() - 4..].to_string()),
            ..Default::default()
        },
        HistoryFilter {
            search: Some("sm".into()),
            limit: Some(5),
            offset: Some(3),
            ..Default::default()
        },
        HistoryFilter {
            search: Some("50%_".into()),
            ..Default::default()
        },
    ];
    for f in &filters {
        let sql = a.query(f).await.unwrap();
        let memory = f.apply(all.iter());
        assert_eq!(sql.total, memory.total, "{f:?}");
        // Sends started in the same microsecond may come in either order: compare as sets
        // only when they tie.
        assert_eq!(sql.sends.len(), memory.sends.len(), "{f:?}");
        for (x, y) in sql.sends.iter().zip(&memory.sends) {
            assert_eq!(x.record.started_at, y.record.started_at, "{f:?}");
        }
    }
    let records: Vec<_> = all.iter().map(|s| s.record.clone()).collect();
    for days in [1, 3, 9, 90] {
        let sql = b.summary(days, end).await.unwrap();
        let memory = HistorySummary::of(records.iter(), days, end);
        assert_eq!(
            (sql.sends, sql.delivered, sql.failed, sql.failed_over),
            (
                memory.sends,
                memory.delivered,
                memory.failed,
                memory.failed_over
            ),
            "{days}"
        );
        assert_eq!(sql.failover_routes, memory.failover_routes);
        assert!((sql.total_cost_usd - memory.total_cost_usd).abs() < 1e-9);
        assert_eq!(sql.cost_per_day.len(), memory.cost_per_day.len());
    }

    // The same report reaching both instances (a provider retrying to either) is kept once.
    let report = DeliveryEvent {
        provider: ProviderKind::Twilio,
        provider_message_id: "SM1".into(),
        status: DeliveryStatus::Undelivered,
        error_code: Some("30003".into()),
        detail: None,
        recipient: None,
        occurred_at: end,
        received_at: end,
        source: DeliverySource::TwilioWebhook,
        event_id: "SM1:undelivered:30003".into(),
    };
    let (x, y) = tokio::join!(a.record_delivery(&report), b.record_delivery(&report));
    assert_eq!(
        [x.unwrap(), y.unwrap()].iter().filter(|new| **new).count(),
        1
    );
    assert_eq!(b.delivery_count().await.unwrap(), 1);
    assert_eq!(
        a.timeline(ProviderKind::Twilio, "SM1").await.unwrap().len(),
        1
    );

    // A third instance with old files of its own imports them, once.
    let legacy = tempfile::tempdir().unwrap();
    let old: Vec<String> = (0..25)
        .map(|n| serde_json::to_string(&random_send(&mut rng, end, 3, n)).unwrap())
        .collect();
    std::fs::write(legacy.path().join("sends.jsonl"), old.join("\n") + "\n").unwrap();
    let c = instance(&url, "ops-3", Some(legacy.path())).await;
    assert_eq!(c.count().await.unwrap(), 427);
    std::fs::rename(
        legacy.path().join("sends.jsonl.imported"),
        legacy.path().join("sends.jsonl"),
    )
    .unwrap();
    let c = instance(&url, "ops-3", Some(legacy.path())).await;
    assert_eq!(c.count().await.unwrap(), 427, "not twice");

    // Timelines are per instance.
    let messaging = msgops_core::Messaging::from_config(&msgops_core::config::Config::default());
    a.record_started(&messaging.health(), end - Duration::hours(1))
        .await
        .unwrap();
    b.record_started(&messaging.health(), end - Duration::hours(1))
        .await
        .unwrap();
    let timelines = c
        .provider_timeline(Some(ProviderKind::Sns), end - Duration::hours(2), end)
        .await
        .unwrap();
    let hosts: Vec<_> = timelines
        .providers
        .iter()
        .map(|t| t.instance.host.clone().unwrap_or_default())
        .collect();
    assert_eq!(hosts, ["ops-1", "ops-2"]);

    // Retention on PostgreSQL too.
    assert!(a.prune(end + Duration::days(3650 + 10)).await.unwrap() >= 400);
    assert_eq!(b.count().await.unwrap(), 0);

    // A wrong password is refused without showing it.
    let wrong = url
        .replace("postgres@", "postgres:hunter2-wrong@")
        .replace("/msgops", "/nosuchdb");
    let err = HistoryStore::open(HistoryLocation::parse(&wrong).unwrap(), 90, service("x", 1))
        .await
        .unwrap_err()
        .to_string();
    assert!(!err.contains("hunter2"), "{err}");
}
