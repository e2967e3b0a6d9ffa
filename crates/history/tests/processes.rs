//! One SQLite history, several msgops processes: the app and each `msgops serve` write to it at
//! once (WAL, a busy timeout, immediate write transactions) and each reads what the others
//! wrote — nothing lost, nothing twice.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;

use chrono::Utc;
use msgops_core::chain::{Attempt, AttemptOutcome, SendOutcome, SendRecord};
use msgops_core::{Channel, ProviderKind};
use msgops_history::{
    HistoryFilter, HistoryLocation, HistoryStore, OriginKind, RecordedSend, SendOrigin,
};

/// Set in a child process of [`child_writer`]: the data directory to write to.
const CHILD_DIR: &str = "MSGOPS_HISTORY_TEST_CHILD_DIR";
const PER_WRITER: usize = 150;

fn record(recipient: String) -> SendRecord {
    SendRecord {
        channel: Channel::Sms,
        recipient,
        started_at: Utc::now(),
        duration_ms: 3.0,
        outcome: SendOutcome::Delivered {
            provider: ProviderKind::Sns,
            attempts: vec![Attempt {
                provider: ProviderKind::Sns,
                outcome: AttemptOutcome::Delivered,
                latency_ms: 3.0,
                error_kind: None,
                error: None,
                provider_code: None,
                cost_usd: 0.00645,
                provider_message_id: Some("b2f5c1a0-0000-5000-8000-00000000abcd".into()),
            }],
            skipped: vec![],
        },
    }
}

async fn everything(history: &HistoryStore) -> Vec<RecordedSend> {
    history
        .query(&HistoryFilter {
            limit: Some(HistoryFilter::MAX_LIMIT),
            ..Default::default()
        })
        .await
        .unwrap()
        .sends
}

async fn open(dir: &Path, kind: OriginKind) -> HistoryStore {
    let (history, problems) = HistoryStore::open(
        HistoryLocation::in_dir(dir),
        90,
        SendOrigin::this_process(kind),
    )
    .await
    .unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    history
}

/// Not a test of its own: the body of the child processes of the test below (it does nothing
/// unless started by it).
#[tokio::test]
async fn child_writer() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let history = open(Path::new(&dir), OriginKind::Service).await;
    for i in 0..PER_WRITER {
        history
            .record(&record(format!("child-{}-{i}", std::process::id())))
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_and_two_processes_writing_at_once_lose_nothing_and_each_store_sees_all() {
    let dir = tempfile::tempdir().unwrap();
    let first = open(dir.path(), OriginKind::App).await;
    let second = open(dir.path(), OriginKind::App).await;

    let children: Vec<_> = (0..2)
        .map(|_| {
            Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "child_writer", "--test-threads=1", "--quiet"])
                .env(CHILD_DIR, dir.path())
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let pids: Vec<u32> = children.iter().map(|c| c.id()).collect();
    let first = std::sync::Arc::new(first);
    let second = std::sync::Arc::new(second);
    let mut tasks = Vec::new();
    for (name, store) in [("first", &first), ("second", &second)] {
        for task in 0..2 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..PER_WRITER {
                    store
                        .record(&record(format!("{name}-{task}-{i}")))
                        .await
                        .unwrap();
                    if i % 10 == 0 {
                        // Reads while the others write.
                        store.query(&HistoryFilter::default()).await.unwrap();
                    }
                }
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }

    let expected = PER_WRITER * 6;
    let reopened = open(dir.path(), OriginKind::App).await;
    for store in [&*first, &*second, &reopened] {
        assert_eq!(store.count().await.unwrap() as usize, expected);
        let sends = everything(store).await;
        assert_eq!(sends.len(), expected);
        let unique: HashSet<&str> = sends.iter().map(|s| s.record.recipient.as_str()).collect();
        assert_eq!(unique.len(), expected, "no send twice");
        for pid in &pids {
            let theirs: Vec<_> = sends
                .iter()
                .filter(|s| s.record.recipient.starts_with(&format!("child-{pid}-")))
                .collect();
            assert_eq!(theirs.len(), PER_WRITER);
            assert!(theirs
                .iter()
                .all(|s| s.origin.kind == OriginKind::Service && s.origin.pid == Some(*pid)));
        }
        let page = store
            .query(&HistoryFilter {
                origin: Some(OriginKind::Service),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(page.total as usize, PER_WRITER * 2);
        // The daily totals were kept by every writer together.
        let summary = store.summary(1, Utc::now()).await.unwrap();
        assert_eq!(summary.sends as usize, expected);
        assert!((summary.total_cost_usd - 0.00645 * expected as f64).abs() < 1e-9);
    }
}
