//! `msgops history`, the built binary, reading the history database as the app writes it:
//! SQLite in the data directory, and a real PostgreSQL (started by the test) that two
//! instances write to — the CLI lists both instances' sends, filters and sums them, and never
//! prints the database password.
#![allow(clippy::unwrap_used)]

#[path = "../../history/tests/common/pg.rs"]
mod pg;

use std::path::Path;
use std::process::{Command, Output};

use chrono::{Duration, Utc};
use msgops_core::chain::{Attempt, AttemptOutcome, SendOutcome, SendRecord};
use msgops_core::{Channel, ProviderKind};
use msgops_history::{HistoryLocation, HistoryStore, OriginKind, SendOrigin};
use serde_json::Value;

fn msgops(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_msgops"))
        .args(args)
        .current_dir(dir)
        .env("MSGOPS_CONFIG", dir.join("config.toml"))
        .env("MSGOPS_DATA_DIR", dir.join("data"))
        .env_remove("MSGOPS_HISTORY_URL")
        .output()
        .unwrap()
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn attempt(provider: ProviderKind, ok: bool, cost: f64, id: Option<&str>) -> Attempt {
    Attempt {
        provider,
        outcome: if ok {
            AttemptOutcome::Delivered
        } else {
            AttemptOutcome::Failed
        },
        latency_ms: 5.0,
        error_kind: None,
        error: None,
        provider_code: None,
        cost_usd: cost,
        provider_message_id: id.map(str::to_string),
    }
}

/// A send to `to`, minutes ago: straight through SNS, or failed over from SNS to Twilio.
fn sent(to: &str, minutes_ago: i64, failed_over: bool) -> SendRecord {
    let attempts = if failed_over {
        vec![
            attempt(ProviderKind::Sns, false, 0.0, None),
            attempt(ProviderKind::Twilio, true, 0.0075, Some("SM9f2c4e6a8b")),
        ]
    } else {
        vec![attempt(
            ProviderKind::Sns,
            true,
            0.00645,
            Some("b2f5c1a0-0000"),
        )]
    };
    SendRecord {
        channel: Channel::Sms,
        recipient: to.into(),
        started_at: Utc::now() - Duration::minutes(minutes_ago),
        duration_ms: 30.0,
        outcome: SendOutcome::Delivered {
            provider: attempts.last().unwrap().provider,
            attempts,
            skipped: vec![],
        },
    }
}

fn instance(host: &str) -> SendOrigin {
    SendOrigin {
        kind: OriginKind::Service,
        host: Some(host.into()),
        pid: Some(4242),
    }
}

async fn write(location: HistoryLocation, origin: SendOrigin, sends: &[SendRecord]) {
    let (store, problems) = HistoryStore::open(location, 90, origin).await.unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    for s in sends {
        store.record(s).await.unwrap();
    }
    store.close().await;
}

#[tokio::test]
async fn msgops_history_lists_filters_and_sums_the_sqlite_history_of_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.toml"), "").unwrap();
    write(
        HistoryLocation::in_dir(&dir.path().join("data")),
        SendOrigin::this_process(OriginKind::App),
        &[
            sent("+14165550123", 30, false),
            sent("+1 (416) 555-0199", 20, true),
            sent("+14165550188", 10, false),
        ],
    )
    .await;
    let d = dir.path();
    let page = json(&msgops(d, &["history", "--json"]));
    assert_eq!(page["total"], 3);
    assert_eq!(
        page["sends"][0]["recipient"], "+14165550188",
        "newest first"
    );
    let over = json(&msgops(
        d,
        &[
            "history",
            "--json",
            "--provider",
            "twilio",
            "--outcome",
            "failed_over",
        ],
    ));
    assert_eq!(over["total"], 1);
    assert_eq!(over["sends"][0]["recipient"], "+1 (416) 555-0199");
    for (flag, value) in [("--recipient", "555-0199"), ("--search", "sm9f2c")] {
        let found = json(&msgops(d, &["history", "--json", flag, value]));
        assert_eq!(found["total"], 1, "{flag} {value}");
    }
    let paged = json(&msgops(
        d,
        &["history", "--json", "--limit", "1", "--offset", "1"],
    ));
    assert_eq!(
        (
            paged["total"].as_u64(),
            paged["sends"].as_array().map(Vec::len)
        ),
        (Some(3), Some(1))
    );
    assert_eq!(
        json(&msgops(d, &["history", "--json", "--origin", "service"]))["total"],
        0
    );

    let summary = json(&msgops(
        d,
        &["history", "--summary", "--days", "7", "--json"],
    ));
    assert_eq!(
        (summary["sends"].as_u64(), summary["failed_over"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(summary["failover_routes"][0]["from"], "sns");
    assert_eq!(summary["failover_routes"][0]["to"], "twilio");

    let text = msgops(d, &["history"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("delivered by twilio (failed over from sns)"),
        "{text}"
    );
    assert!(text.contains("1–3 of 3 sends"), "{text}");
    let text = msgops(d, &["history", "--summary"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("3 sends, 3 delivered, 0 failed, 1 failed over"),
        "{text}"
    );
    assert!(text.contains("sns → twilio: 1"), "{text}");

    let bad = msgops(d, &["history", "--outcome", "lost"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[tokio::test]
async fn msgops_history_lists_the_sends_of_two_instances_sharing_postgresql() {
    let Some(pg) = tokio::task::spawn_blocking(pg::Postgres::start)
        .await
        .unwrap()
    else {
        return;
    };
    let url = pg.database("msgops");
    let location = HistoryLocation::parse(&url).unwrap();
    // Two instances at once, on two hosts.
    let first = [
        sent("+14165550101", 9, false),
        sent("+14165550102", 7, true),
    ];
    let second = [
        sent("+14165550201", 8, false),
        sent("+14165550202", 6, false),
    ];
    tokio::join!(
        write(location.clone(), instance("ops-1"), &first),
        write(location.clone(), instance("ops-2"), &second),
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.toml"), "").unwrap();
    let d = dir.path();
    let page = json(&msgops(d, &["history", "--json", "--url", &url]));
    assert_eq!(page["total"], 4);
    let hosts: Vec<&str> = page["sends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["origin"]["host"].as_str().unwrap())
        .collect();
    assert_eq!(
        hosts,
        ["ops-2", "ops-1", "ops-2", "ops-1"],
        "newest first, both instances"
    );
    // From `[history] url` of the configuration, as the app and `msgops serve` read it.
    std::fs::write(
        d.join("config.toml"),
        format!("[history]\nurl = \"{url}\"\nkeep_days = 30\n"),
    )
    .unwrap();
    let over = json(&msgops(
        d,
        &["history", "--json", "--outcome", "failed_over"],
    ));
    assert_eq!(over["total"], 1);
    assert_eq!(over["sends"][0]["origin"]["host"], "ops-1");
    let summary = json(&msgops(
        d,
        &["history", "--summary", "--json", "--days", "1"],
    ));
    assert_eq!(summary["sends"], 4);

    // A database that refuses: said, with the password masked.
    let out = msgops(
        d,
        &[
            "history",
            "--url",
            &format!(
                "postgres://postgres:hunter2-secret@127.0.0.1:{}/nosuchdb",
                pg.port()
            ),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("postgres://postgres:***@127.0.0.1"), "{said}");
    assert!(!said.contains("hunter2"), "{said}");
}
