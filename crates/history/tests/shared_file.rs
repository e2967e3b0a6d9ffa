//! One history file, several msgops processes: the app and each `msgops serve` append to it at
//! once and each reads what the others wrote — nothing lost, nothing twice, a line being written
//! read only once it is whole, a replaced or shrunk file read again from the start.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::process::Command;

use chrono::Utc;
use msgops_core::chain::{Attempt, AttemptOutcome, SendOutcome, SendRecord};
use msgops_core::{Channel, ProviderKind};
use msgops_history::{HistoryFilter, OriginKind, RecordedSend, SendHistory, SendOrigin};

/// Set in a child process of [`child_writer`]: the history file to append to.
const CHILD_FILE: &str = "MSGOPS_HISTORY_TEST_CHILD_FILE";
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

fn everything(history: &SendHistory) -> Vec<RecordedSend> {
    history
        .query(&HistoryFilter {
            limit: Some(HistoryFilter::MAX_LIMIT),
            ..Default::default()
        })
        .sends
}

fn open(path: &Path, kind: OriginKind) -> SendHistory {
    let (history, problems) = SendHistory::open(path, 10_000, SendOrigin::this_process(kind));
    assert!(problems.is_empty(), "{problems:?}");
    history
}

fn append_raw(path: &Path, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .unwrap();
    f.write_all(bytes).unwrap();
}

/// Not a test of its own: the body of the child processes of the test below (it does nothing
/// unless started by it).
#[test]
fn child_writer() {
    let Some(path) = std::env::var_os(CHILD_FILE) else {
        return;
    };
    let history = open(Path::new(&path), OriginKind::Service);
    for i in 0..PER_WRITER {
        history
            .record(&record(format!("child-{}-{i}", std::process::id())))
            .unwrap();
    }
}

#[test]
fn two_stores_and_two_processes_appending_at_once_lose_nothing_and_each_store_sees_all() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sends.jsonl");
    let first = open(&path, OriginKind::App);
    let second = open(&path, OriginKind::App);

    let children: Vec<_> = (0..2)
        .map(|_| {
            Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "child_writer", "--test-threads=1", "--quiet"])
                .env(CHILD_FILE, &path)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let pids: Vec<u32> = children.iter().map(|c| c.id()).collect();
    std::thread::scope(|s| {
        for (name, store) in [("first", &first), ("second", &second)] {
            for thread in 0..2 {
                s.spawn(move || {
                    for i in 0..PER_WRITER {
                        store
                            .record(&record(format!("{name}-{thread}-{i}")))
                            .unwrap();
                        if i % 10 == 0 {
                            // Reads while the others write.
                            assert!(store.refresh().is_empty());
                        }
                    }
                });
            }
        }
    });
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }

    let expected = PER_WRITER * 6;
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), expected, "one line per send");
    for line in text.lines() {
        serde_json::from_str::<RecordedSend>(line).unwrap();
    }
    let reopened = open(&path, OriginKind::App);
    for store in [&first, &second, &reopened] {
        let sends = everything(store);
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
        assert_eq!(
            store
                .query(&HistoryFilter {
                    origin: Some(OriginKind::Service),
                    ..Default::default()
                })
                .total as usize,
            PER_WRITER * 2
        );
    }
}

#[test]
fn a_line_written_before_origins_were_kept_loads_as_the_apps_and_old_readers_read_new_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sends.jsonl");
    let old = serde_json::to_string(&record("+14165550123".into())).unwrap();
    assert!(!old.contains("origin"));
    append_raw(&path, format!("{old}\n").as_bytes());

    let history = open(&path, OriginKind::Service);
    let sends = everything(&history);
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0].origin, SendOrigin::default());
    assert_eq!(sends[0].origin.kind, OriginKind::App);
    assert_eq!(
        sends[0].record,
        record("+14165550123".into()).with_time(&sends[0].record)
    );

    history.record(&record("+14165550188".into())).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let new = text.lines().nth(1).unwrap();
    let value: serde_json::Value = serde_json::from_str(new).unwrap();
    assert_eq!(value["origin"]["kind"], "service");
    assert_eq!(value["origin"]["pid"], std::process::id());
    // The record's own fields stay where they were: a reader of plain records still reads it.
    let plain: SendRecord = serde_json::from_str(new).unwrap();
    assert_eq!(plain.recipient, "+14165550188");
}

trait WithTime {
    fn with_time(self, other: &SendRecord) -> SendRecord;
}

impl WithTime for SendRecord {
    fn with_time(mut self, other: &SendRecord) -> SendRecord {
        self.started_at = other.started_at;
        self
    }
}

#[test]
fn a_line_still_being_written_is_read_once_it_is_complete_and_only_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sends.jsonl");
    let reader = open(&path, OriginKind::App);
    let writer = open(&path, OriginKind::Service);
    writer.record(&record("+14165550101".into())).unwrap();

    let line = serde_json::to_string(&RecordedSend {
        record: record("+14165550102".into()),
        origin: SendOrigin::this_process(OriginKind::Service),
    })
    .unwrap();
    let (start, end) = line.split_at(line.len() / 2);
    append_raw(&path, start.as_bytes());
    assert!(reader.refresh().is_empty(), "half a line is not an error");
    assert_eq!(everything(&reader).len(), 1);

    append_raw(&path, format!("{end}\n").as_bytes());
    let recipients: Vec<_> = everything(&reader)
        .into_iter()
        .map(|s| s.record.recipient)
        .collect();
    assert_eq!(recipients, ["+14165550102", "+14165550101"]);
    assert!(reader.refresh().is_empty());
    assert_eq!(everything(&reader).len(), 2, "not read twice");
    // The writer, which appended the first line itself, reads the second once too.
    assert_eq!(everything(&writer).len(), 2);
}

#[test]
fn a_torn_line_left_by_a_dead_writer_does_not_swallow_the_next_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sends.jsonl");
    append_raw(&path, b"{\"channel\":\"sms\",\"recipient\":\"+1416");
    let history = open(&path, OriginKind::App);
    history.record(&record("+14165550177".into())).unwrap();

    let (reopened, problems) =
        SendHistory::open(&path, 100, SendOrigin::this_process(OriginKind::App));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("line 1"), "{}", problems[0]);
    let sends = everything(&reopened);
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0].record.recipient, "+14165550177");
    assert_eq!(everything(&history).len(), 1);
}

#[test]
fn a_file_compacted_by_another_process_is_read_again_and_written_to_as_it_is_now() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sends.jsonl");
    let long_running = open(&path, OriginKind::Service);
    for i in 0..30 {
        long_running.record(&record(format!("old-{i}"))).unwrap();
    }
    // Another process starting with a cap of 10 rewrites the file with the last 10.
    let (starting, problems) =
        SendHistory::open(&path, 10, SendOrigin::this_process(OriginKind::App));
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(starting.len(), 10);
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 10);

    long_running.record(&record("after".into())).unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap().lines().count(),
        11,
        "the new record went into the file on disk, not the replaced one"
    );
    let kept: Vec<_> = everything(&long_running)
        .into_iter()
        .map(|s| s.record.recipient)
        .collect();
    assert_eq!(
        kept.len(),
        11,
        "read again, not added to what it had: {kept:?}"
    );
    assert_eq!(kept[0], "after");
    assert_eq!(kept[10], "old-20");
    assert_eq!(
        starting.query(&HistoryFilter::default()).sends[0]
            .record
            .recipient,
        "after"
    );
}

#[test]
fn a_file_shrunk_or_rewritten_in_place_is_read_again_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sends.jsonl");
    let history = open(&path, OriginKind::App);
    for i in 0..3 {
        history.record(&record(format!("first-{i}"))).unwrap();
    }
    let lines = |prefix: &str, n: usize| -> String {
        (0..n)
            .map(|i| serde_json::to_string(&record(format!("{prefix}-{i}"))).unwrap() + "\n")
            .collect()
    };
    // Truncated and rewritten longer than before (same inode): its start tells.
    std::fs::write(&path, lines("second", 5)).unwrap();
    let names = |h: &SendHistory| -> Vec<String> {
        everything(h)
            .into_iter()
            .map(|s| s.record.recipient)
            .collect()
    };
    assert_eq!(
        names(&history),
        ["second-4", "second-3", "second-2", "second-1", "second-0"]
    );
    // Shorter than what was read.
    std::fs::write(&path, lines("third", 1)).unwrap();
    assert_eq!(names(&history), ["third-0"]);
    // Removed.
    std::fs::remove_file(&path).unwrap();
    assert!(history.is_empty());
    history.record(&record("fourth".into())).unwrap();
    assert_eq!(names(&history), ["fourth"]);
}
