//! The delivery reports file: kept once per report across processes, matched by message id.

use std::sync::{Arc, Barrier};

use chrono::{DateTime, Utc};
use msgops_delivery::{DeliveryEvent, DeliverySource, DeliveryStatus};
use msgops_history::DeliveryLog;
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

#[test]
fn the_same_report_from_several_writers_at_once_is_kept_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("deliveries.jsonl");
    // Four stores over one file stand for four processes: each has its own handle and lock.
    let writers = 4;
    let barrier = Arc::new(Barrier::new(writers));
    let handles: Vec<_> = (0..writers)
        .map(|w| {
            let path = path.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let (log, problems) = DeliveryLog::open(&path, 10_000);
                assert!(problems.is_empty(), "{problems:?}");
                barrier.wait();
                let mut new = 0;
                for i in 0..50 {
                    // Every writer delivers the same 50 reports (a provider retrying), and one
                    // of its own.
                    let e = report(
                        &format!("SM{i}"),
                        DeliveryStatus::Delivered,
                        &format!("e{i}"),
                        i,
                    );
                    if log.record(e).expect("record") {
                        new += 1;
                    }
                }
                let own = report("SMown", DeliveryStatus::Sent, &format!("own{w}"), 99);
                assert!(log.record(own).expect("record"));
                new
            })
        })
        .collect();
    let new: usize = handles.into_iter().map(|h| h.join().expect("writer")).sum();
    assert_eq!(new, 50, "each shared report is new to exactly one writer");
    let (reopened, problems) = DeliveryLog::open(&path, 10_000);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(reopened.len(), 50 + writers);
    let text = std::fs::read_to_string(&path).expect("read");
    assert_eq!(text.lines().count(), 50 + writers);
}

#[test]
fn a_timeline_gathers_one_message_in_order_and_survives_a_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("deliveries.jsonl");
    let (log, _) = DeliveryLog::open(&path, 100);
    // Received out of order, as callbacks are.
    assert!(log
        .record(report("SM1", DeliveryStatus::Undelivered, "c", 20))
        .expect("record"));
    assert!(log
        .record(report("SM1", DeliveryStatus::Queued, "a", 0))
        .expect("record"));
    assert!(log
        .record(report("SM2", DeliveryStatus::Sent, "x", 5))
        .expect("record"));
    assert!(log
        .record(report("SM1", DeliveryStatus::Sent, "b", 10))
        .expect("record"));
    assert!(!log
        .record(report("SM1", DeliveryStatus::Sent, "b", 10))
        .expect("record"));
    let (reopened, _) = DeliveryLog::open(&path, 100);
    let statuses: Vec<_> = reopened
        .timeline(ProviderKind::Twilio, "SM1")
        .iter()
        .map(|e| e.status)
        .collect();
    assert_eq!(
        statuses,
        [
            DeliveryStatus::Queued,
            DeliveryStatus::Sent,
            DeliveryStatus::Undelivered
        ]
    );
    assert_eq!(
        reopened.timeline(ProviderKind::Twilio, "SM1")[2].meaning(),
        Some("the phone is unreachable: switched off or out of coverage")
    );
    // Another provider's message with the same id is another message.
    assert!(reopened.timeline(ProviderKind::Sns, "SM1").is_empty());
    // A line that is not a report is reported, the rest still loads.
    std::fs::write(
        &path,
        format!(
            "{}not json\n",
            std::fs::read_to_string(&path).expect("read")
        ),
    )
    .expect("write");
    let (damaged, problems) = DeliveryLog::open(&path, 100);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("is not a delivery report"),
        "{problems:?}"
    );
    assert_eq!(damaged.len(), 4);
}
