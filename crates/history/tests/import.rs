//! The JSON-lines files of earlier versions, imported into the database on the first start:
//! every readable line once (old lines without an origin as the app's), a damaged line reported
//! and skipped, the files kept as `*.imported` — and never twice, neither on the next start nor
//! after a crash in the middle of the import. Retention by age at open.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use chrono::{DateTime, Duration, Utc};
use common::{app, incident, sqlite};
use msgops_delivery::{DeliveryEvent, DeliverySource, DeliveryStatus};
use msgops_history::{
    HistoryFilter, HistoryLocation, HistoryStore, OriginKind, RecordedSend, SendOrigin,
    IMPORTED_SUFFIX, LEGACY_DELIVERIES_FILE, LEGACY_SENDS_FILE,
};
use msgops_provider_kind::ProviderKind;

const CHILD_DIR: &str = "MSGOPS_HISTORY_TEST_IMPORT_DIR";

fn report(id: &str, status: DeliveryStatus, event: &str, at: DateTime<Utc>) -> DeliveryEvent {
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

/// `sends.jsonl` as the old store wrote it: a line from before origins were kept, lines with
/// origins, a line a crash cut short in the middle, and a torn last line.
fn write_legacy_sends(dir: &Path) -> Vec<RecordedSend> {
    let records = incident();
    let mut text = String::new();
    // Written before origins were kept: the app's.
    text.push_str(&serde_json::to_string(&records[0]).unwrap());
    text.push('\n');
    let mut kept = vec![RecordedSend {
        record: records[0].clone(),
        origin: SendOrigin::default(),
    }];
    for (i, r) in records[1..].iter().enumerate() {
        let sent = RecordedSend {
            record: r.clone(),
            origin: if i % 2 == 0 {
                common::service("ops-box", 4242)
            } else {
                app()
            },
        };
        text.push_str(&serde_json::to_string(&sent).unwrap());
        text.push('\n');
        if i == 1 {
            text.push_str("{\"channel\":\"sms\", truncated by a crash\n");
        }
        kept.push(sent);
    }
    text.push_str("{\"channel\":\"sms\",\"recipient\":\"+1416");
    std::fs::write(dir.join(LEGACY_SENDS_FILE), text).unwrap();
    kept
}

fn write_legacy_deliveries(dir: &Path, now: DateTime<Utc>) {
    let lines: Vec<String> = [
        report(
            "SM1",
            DeliveryStatus::Queued,
            "a",
            now - Duration::minutes(3),
        ),
        report("SM1", DeliveryStatus::Sent, "b", now - Duration::minutes(2)),
        report(
            "SM1",
            DeliveryStatus::Undelivered,
            "c",
            now - Duration::minutes(1),
        ),
        // The same report twice (a provider retrying while two processes appended).
        report("SM1", DeliveryStatus::Sent, "b", now - Duration::minutes(2)),
    ]
    .iter()
    .map(|e| serde_json::to_string(e).unwrap())
    .chain(["not json".to_string()])
    .collect();
    std::fs::write(dir.join(LEGACY_DELIVERIES_FILE), lines.join("\n") + "\n").unwrap();
}

async fn open(dir: &Path) -> (HistoryStore, Vec<String>) {
    HistoryStore::open(HistoryLocation::in_dir(dir), 3650, app())
        .await
        .unwrap()
}

#[tokio::test]
async fn the_old_files_are_imported_once_and_kept_renamed() {
    let dir = tempfile::tempdir().unwrap();
    let now = Utc::now();
    let expected = write_legacy_sends(dir.path());
    write_legacy_deliveries(dir.path(), now);

    let (history, problems) = open(dir.path()).await;
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(
        problems[0].contains("line 4 is not a send record"),
        "{problems:#?}"
    );
    assert!(
        problems[1].contains("line 8 is not a send record"),
        "{problems:#?}"
    );
    assert!(
        problems[2].contains("line 5 is not a delivery report"),
        "{problems:#?}"
    );
    let page = history.query(&HistoryFilter::default()).await.unwrap();
    let mut newest_first = expected.clone();
    newest_first.sort_by_key(|s| std::cmp::Reverse(s.record.started_at));
    assert_eq!(page.sends, newest_first);
    assert_eq!(page.sends.last().unwrap().origin.kind, OriginKind::App);
    assert_eq!(
        history
            .query(&HistoryFilter {
                origin: Some(OriginKind::Service),
                ..Default::default()
            })
            .await
            .unwrap()
            .total,
        3
    );
    let statuses: Vec<_> = history
        .timeline(ProviderKind::Twilio, "SM1")
        .await
        .unwrap()
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
        history.delivery_count().await.unwrap(),
        3,
        "the repeat kept once"
    );
    // Summed as the old store summed them.
    let records: Vec<_> = expected.iter().map(|s| s.record.clone()).collect();
    let end = records.iter().map(|r| r.started_at).max().unwrap();
    assert_eq!(
        history.summary(7, end).await.unwrap(),
        msgops_history::HistorySummary::of(records.iter(), 7, end)
    );
    // Kept, renamed.
    for file in [LEGACY_SENDS_FILE, LEGACY_DELIVERIES_FILE] {
        assert!(!dir.path().join(file).exists(), "{file}");
        assert!(dir
            .path()
            .join(format!("{file}{IMPORTED_SUFFIX}"))
            .is_file());
    }
    history.close().await;
    drop(history);

    // The next start imports nothing, even if an old file is put back.
    std::fs::rename(
        dir.path()
            .join(format!("{LEGACY_SENDS_FILE}{IMPORTED_SUFFIX}")),
        dir.path().join(LEGACY_SENDS_FILE),
    )
    .unwrap();
    let (again, problems) = open(dir.path()).await;
    assert_eq!(
        problems.len(),
        2,
        "its damaged lines are still read: {problems:#?}"
    );
    assert_eq!(again.count().await.unwrap(), 6);
    assert_eq!(again.delivery_count().await.unwrap(), 3);
    assert!(!dir.path().join(LEGACY_SENDS_FILE).exists());
}

/// Not a test of its own: the body of the child processes of the test below.
#[tokio::test]
async fn child_importer() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let _ = open(Path::new(&dir)).await;
}

#[tokio::test]
async fn an_import_killed_midway_leaves_nothing_and_the_next_start_imports_it_whole_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = common::Seeded::new(7);
    let n = 12_000;
    let end = Utc::now();
    let lines: Vec<String> = (0..n)
        .map(|i| serde_json::to_string(&common::random_send(&mut rng, end, 30, i)).unwrap())
        .collect();
    std::fs::write(dir.path().join(LEGACY_SENDS_FILE), lines.join("\n") + "\n").unwrap();

    let mut completed = 0;
    for delay_ms in [200, 800, 1600] {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_importer", "--test-threads=1", "--quiet"])
            .env(CHILD_DIR, dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let finished = child.try_wait().unwrap().is_some();
        if !finished {
            let _ = child.kill();
        }
        let _ = child.wait();
        completed += usize::from(finished);
        eprintln!(
            "import killed after {delay_ms} ms: {}",
            if finished { "had finished" } else { "killed" }
        );
    }
    eprintln!("{completed} of 3 children finished before they were killed");
    let (history, problems) = open(dir.path()).await;
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(history.count().await.unwrap(), n as u64, "every line once");
    drop(history);
    let (history, _) = open(dir.path()).await;
    assert_eq!(history.count().await.unwrap(), n as u64, "and not again");
    assert!(dir
        .path()
        .join(format!("{LEGACY_SENDS_FILE}{IMPORTED_SUFFIX}"))
        .is_file());
}

#[tokio::test]
async fn what_is_older_than_keep_days_is_deleted_at_open_and_periodically() {
    let dir = tempfile::tempdir().unwrap();
    let now = Utc::now();
    let store = sqlite(dir.path(), app()).await;
    let mut old = incident()[1].clone();
    old.started_at = now - Duration::days(120);
    let mut recent = incident()[2].clone();
    recent.started_at = now - Duration::days(10);
    let mut today = incident()[3].clone();
    today.started_at = now - Duration::seconds(5);
    for r in [&old, &recent, &today] {
        store.record(r).await.unwrap();
    }
    for (id, at) in [
        ("SMold", now - Duration::days(100)),
        ("SMnew", now - Duration::days(1)),
    ] {
        store
            .record_delivery(&report(id, DeliveryStatus::Delivered, id, at))
            .await
            .unwrap();
    }
    assert_eq!(store.count().await.unwrap(), 3, "kept for 3650 days");
    assert_eq!(store.summary(366, now).await.unwrap().sends, 3);
    drop(store);

    let (store, problems) = HistoryStore::open(HistoryLocation::in_dir(dir.path()), 90, app())
        .await
        .unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(store.keep_days(), 90);
    let left: Vec<_> = store
        .query(&HistoryFilter::default())
        .await
        .unwrap()
        .sends
        .into_iter()
        .map(|s| s.record.started_at)
        .collect();
    assert_eq!(left, [today.started_at, recent.started_at]);
    let summary = store.summary(366, now).await.unwrap();
    assert_eq!(summary.sends, 2, "the day totals went with the sends");
    assert!(summary
        .cost_per_day
        .iter()
        .all(|c| c.day >= (now - Duration::days(90)).date_naive().to_string()));
    assert_eq!(store.delivery_count().await.unwrap(), 1);
    // Later on, the 10-day-old send passes the limit too.
    assert_eq!(store.prune(now + Duration::days(85)).await.unwrap(), 1);
    assert_eq!(store.count().await.unwrap(), 1);
}
