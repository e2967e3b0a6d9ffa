//! The delivery reports in the database: kept once per report across processes, matched to
//! sends by message id, ordered into timelines, counted into rates.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use common::{app, attempt, send, sqlite};
use msgops_core::chain::SendOutcome;
use msgops_delivery::{DeliveryEvent, DeliverySource, DeliveryStatus};
use msgops_history::HistoryFilter;
use msgops_provider_kind::ProviderKind;

fn report(id: &str, status: DeliveryStatus, event: &str, secs: i64) -> DeliveryEvent {
    let at = DateTime::<Utc>::from_timestamp(1_800_000_000 + secs, 0).expect("time");
    DeliveryEvent {
        provider: ProviderKind::Twilio,
        provider_message_id: id.into(),
        status,
        error_code: (status == DeliveryStatus::Undelivered).then(|| "30003".into()),
        detail: None,
        recipient: Some("+15550100".into()),
        occurred_at: at,
        received_at: at,
        source: DeliverySource::TwilioWebhook,
        event_id: event.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_report_from_several_writers_at_once_is_kept_once() {
    let dir = tempfile::tempdir().unwrap();
    // Four stores over one file stand for four processes: each has its own connections.
    let writers = 4;
    let barrier = Arc::new(tokio::sync::Barrier::new(writers));
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = sqlite(dir.path(), app()).await;
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut new = 0;
            for i in 0..50 {
                // Every writer keeps the same 50 reports (a provider retrying), and one of
                // its own.
                let e = report(
                    &format!("SM{i}"),
                    DeliveryStatus::Delivered,
                    &format!("e{i}"),
                    i,
                );
                if store.record_delivery(&e).await.unwrap() {
                    new += 1;
                }
            }
            let own = report("SMown", DeliveryStatus::Sent, &format!("own{w}"), 99);
            assert!(store.record_delivery(&own).await.unwrap());
            new
        }));
    }
    let mut new = 0;
    for t in tasks {
        new += t.await.unwrap();
    }
    assert_eq!(new, 50, "each shared report is new to exactly one writer");
    let reopened = sqlite(dir.path(), app()).await;
    assert_eq!(
        reopened.delivery_count().await.unwrap() as usize,
        50 + writers
    );
    assert_eq!(
        reopened
            .deliveries_since(DateTime::<Utc>::from_timestamp(1_800_000_000 + 49, 0).unwrap())
            .await
            .unwrap()
            .len(),
        1 + writers
    );
}

#[tokio::test]
async fn a_timeline_gathers_one_message_in_order_and_the_page_carries_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(dir.path(), app()).await;
    let revision = store.delivery_revision().await.unwrap();
    // Received out of order, as callbacks are.
    for (status, event, secs) in [
        (DeliveryStatus::Undelivered, "c", 20),
        (DeliveryStatus::Queued, "a", 0),
        (DeliveryStatus::Sent, "b", 10),
    ] {
        assert!(store
            .record_delivery(&report("SM1", status, event, secs))
            .await
            .unwrap());
    }
    assert!(!store
        .record_delivery(&report("SM1", DeliveryStatus::Sent, "b", 10))
        .await
        .unwrap());
    assert!(store
        .record_delivery(&report("SM2", DeliveryStatus::Sent, "x", 5))
        .await
        .unwrap());
    assert!(store.delivery_revision().await.unwrap() > revision);
    let timeline = store.timeline(ProviderKind::Twilio, "SM1").await.unwrap();
    let statuses: Vec<_> = timeline.iter().map(|e| e.status).collect();
    assert_eq!(
        statuses,
        [
            DeliveryStatus::Queued,
            DeliveryStatus::Sent,
            DeliveryStatus::Undelivered
        ]
    );
    assert_eq!(
        timeline[2].meaning(),
        Some("the phone is unreachable: switched off or out of coverage")
    );
    // Another provider's message with the same id is another message.
    assert!(store
        .timeline(ProviderKind::Sns, "SM1")
        .await
        .unwrap()
        .is_empty());

    // The send Twilio accepted as SM1: its page carries what Twilio reported.
    let mut sent = send(
        22,
        10,
        "+15550100",
        vec![attempt("sns", false, 0.0), attempt("twilio", true, 0.0075)],
        vec![],
    );
    if let SendOutcome::Delivered { attempts, .. } = &mut sent.outcome {
        attempts[1].provider_message_id = Some("SM1".into());
    }
    store.record(&sent).await.unwrap();
    let page = store.query(&HistoryFilter::default()).await.unwrap();
    assert_eq!(page.deliveries.len(), 1);
    let delivery = &page.deliveries[0];
    assert_eq!(
        (delivery.provider, delivery.provider_message_id.as_str()),
        (ProviderKind::Twilio, "SM1")
    );
    assert_eq!(delivery.timeline.len(), 3);
    let found = store
        .find_by_receipts(&[
            (ProviderKind::Twilio, "SM1".into()),
            (ProviderKind::Sns, "SM1".into()),
        ])
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].record, sent);

    // Rates over the hour after the first report: one message, undelivered.
    let now = DateTime::<Utc>::from_timestamp(1_800_000_000 + 60, 0).unwrap();
    let rates = store
        .rates(now, std::time::Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(
        rates,
        msgops_delivery::DeliveryRates::of(
            [
                report("SM1", DeliveryStatus::Undelivered, "c", 20),
                report("SM1", DeliveryStatus::Queued, "a", 0),
                report("SM1", DeliveryStatus::Sent, "b", 10),
                report("SM2", DeliveryStatus::Sent, "x", 5),
            ]
            .iter(),
            now,
            std::time::Duration::from_secs(3600)
        )
    );
}
