//! Fills a SQLite history with a million sends over 90 days (made up, seeded: both chains, SNS
//! failing now and then, receipts, three origins) and prints how long a filtered page and the
//! 90-day summary take — and, for reference, what the JSON-lines store's in-memory filter and
//! summary took on the same sends. Not a test: `scripts/bench-history.sh` runs it (release).
//!
//! `bench_history [DATABASE] [SENDS]`: a database already holding SENDS sends is reused (the
//! fill is skipped; the sends are made again for the reference).
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use msgops_core::chain::{Attempt, AttemptOutcome, SendOutcome, SendRecord, Skip, SkipReason};
use msgops_core::{Channel, ErrorKind, ProviderKind};
use msgops_history::{
    HistoryFilter, HistoryLocation, HistoryStore, HistorySummary, OriginKind, OutcomeFilter,
    RecordedSend, SendOrigin,
};

struct Seeded(u64);

impl Seeded {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() << 31) | self.next()) % n
    }
}

fn attempt(provider: ProviderKind, ok: bool, cost: f64, id: Option<String>) -> Attempt {
    Attempt {
        provider,
        outcome: if ok {
            AttemptOutcome::Delivered
        } else {
            AttemptOutcome::Failed
        },
        latency_ms: 40.0,
        error_kind: (!ok).then_some(ErrorKind::Transient),
        error: (!ok).then(|| "503 Service Unavailable".to_string()),
        provider_code: None,
        cost_usd: if ok { cost } else { 0.0 },
        provider_message_id: id,
    }
}

/// The `n`th send of a busy backend: 80 % SMS (SNS first; 6 % of them fail over to Twilio, 1 %
/// pass an OPEN SNS), 20 % email through SES, over `days` days before `end`.
fn made_up(rng: &mut Seeded, n: u64, end: DateTime<Utc>, days: i64) -> RecordedSend {
    let started_at =
        end - chrono::Duration::milliseconds(rng.below((days * 86_400_000) as u64) as i64);
    let id = format!("{:08x}-{:04x}-{:012x}", rng.next(), n % 65_536, rng.next());
    let roll = rng.below(100);
    let (channel, recipient, attempts, skipped) = if roll < 80 {
        let to = format!("+1416{:07}", rng.below(10_000_000));
        let route = rng.below(100);
        if route < 6 {
            (
                Channel::Sms,
                to,
                vec![
                    attempt(ProviderKind::Sns, false, 0.0, None),
                    attempt(ProviderKind::Twilio, true, 0.0075, Some(format!("SM{id}"))),
                ],
                vec![],
            )
        } else if route < 7 {
            (
                Channel::Sms,
                to,
                vec![attempt(
                    ProviderKind::Twilio,
                    true,
                    0.0075,
                    Some(format!("SM{id}")),
                )],
                vec![Skip {
                    provider: ProviderKind::Sns,
                    reason: SkipReason::BreakerOpen,
                    detail: None,
                }],
            )
        } else {
            (
                Channel::Sms,
                to,
                vec![attempt(ProviderKind::Sns, true, 0.00645, Some(id))],
                vec![],
            )
        }
    } else {
        (
            Channel::Email,
            format!("user{}@example.com", rng.below(200_000)),
            vec![attempt(
                ProviderKind::Ses,
                true,
                0.0001,
                Some(format!("0100{id}")),
            )],
            vec![],
        )
    };
    let delivered = attempts
        .last()
        .map(|a| a.provider)
        .unwrap_or(ProviderKind::Sns);
    let origin = match n % 3 {
        0 => SendOrigin {
            kind: OriginKind::Service,
            host: Some("ops-1".into()),
            pid: Some(4242),
        },
        _ => SendOrigin {
            kind: OriginKind::App,
            host: Some("desk".into()),
            pid: Some(77),
        },
    };
    RecordedSend {
        record: SendRecord {
            channel,
            recipient,
            started_at,
            duration_ms: 80.0,
            outcome: SendOutcome::Delivered {
                provider: delivered,
                attempts,
                skipped,
            },
        },
        origin,
    }
}

/// The fastest and the median of `runs` timings of `f`.
async fn time<F, Fut, T>(runs: usize, mut f: F) -> (Duration, Duration, T)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        last = Some(f().await);
        times.push(start.elapsed());
    }
    times.sort();
    (times[0], times[times.len() / 2], last.unwrap())
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("msgops-bench-history/history.sqlite3"));
    let total: u64 = args
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let end = Utc.with_ymd_and_hms(2026, 11, 22, 18, 0, 0).unwrap();
    let origin = SendOrigin::this_process(OriginKind::App);
    let (store, _) =
        HistoryStore::open_importing(HistoryLocation::Sqlite(path.clone()), 3650, origin, None)
            .await
            .unwrap();
    let mut rng = Seeded(2026);
    let sends: Vec<RecordedSend> = (0..total).map(|n| made_up(&mut rng, n, end, 90)).collect();
    let have = store.count().await.unwrap();
    if have != total {
        assert_eq!(
            have,
            0,
            "{} holds {have} sends: remove it first",
            path.display()
        );
        let start = Instant::now();
        for (i, batch) in sends.chunks(5_000).enumerate() {
            store.record_all(batch).await.unwrap();
            if i % 20 == 19 {
                eprintln!("  {} sends written", (i + 1) * 5_000);
            }
        }
        println!(
            "filled {} with {total} sends in {:.1} s",
            path.display(),
            start.elapsed().as_secs_f64()
        );
    } else {
        println!("reusing {} ({total} sends)", path.display());
    }
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!("database file: {} MB\n", size / 1_000_000);

    // The old store: every send in memory, newest first, filtered and summed by iterating.
    let mut newest_first: Vec<&RecordedSend> = sends.iter().collect();
    newest_first.sort_by_key(|s| std::cmp::Reverse(s.record.started_at));
    let receipt = sends[123_456 % sends.len()].record.outcome.attempts()[0]
        .provider_message_id
        .clone()
        .unwrap_or_default();
    // Support staff are read the last four digits of a customer's number.
    let last_four: String = {
        let number = &sends[654_321 % sends.len()].record.recipient;
        let digits: Vec<char> = number.chars().filter(char::is_ascii_digit).collect();
        digits[digits.len().saturating_sub(4)..].iter().collect()
    };
    let filters: Vec<(&str, HistoryFilter)> = vec![
        ("no filter (newest 100)", HistoryFilter::default()),
        (
            "sms + twilio + failed over",
            HistoryFilter {
                channel: Some(Channel::Sms),
                provider: Some(ProviderKind::Twilio),
                outcome: Some(OutcomeFilter::FailedOver),
                ..Default::default()
            },
        ),
        (
            "failed over, page 5",
            HistoryFilter {
                outcome: Some(OutcomeFilter::FailedOver),
                offset: Some(400),
                ..Default::default()
            },
        ),
        (
            "origin service + email",
            HistoryFilter {
                origin: Some(OriginKind::Service),
                channel: Some(Channel::Email),
                ..Default::default()
            },
        ),
        (
            "recipient's last 4 digits",
            HistoryFilter {
                recipient: Some(last_four),
                ..Default::default()
            },
        ),
        (
            "recipient, 2 digits",
            HistoryFilter {
                recipient: Some("99".into()),
                channel: Some(Channel::Sms),
                ..Default::default()
            },
        ),
        (
            "search a receipt id part",
            HistoryFilter {
                search: Some(receipt[2..14].to_uppercase()),
                ..Default::default()
            },
        ),
    ];
    println!(
        "{:<28} {:>10} {:>12} {:>12} {:>16}",
        "page (limit 100)", "total", "SQL min", "SQL median", "in-memory median"
    );
    for (name, filter) in &filters {
        let (min, median, page) = time(7, || store.query(filter)).await;
        let page = page.unwrap();
        let (_, memory, reference) =
            time(3, || async { filter.apply(newest_first.iter().copied()) }).await;
        assert_eq!(page.total, reference.total, "{name}");
        println!(
            "{name:<28} {:>10} {:>12} {:>12} {:>16}",
            page.total,
            ms(min),
            ms(median),
            ms(memory)
        );
    }
    let records: Vec<&SendRecord> = sends.iter().map(|s| &s.record).collect();
    let (min, median, summary) = time(7, || store.summary(90, end)).await;
    let summary = summary.unwrap();
    let (_, memory, reference) = time(3, || async {
        HistorySummary::of(records.iter().copied(), 90, end)
    })
    .await;
    assert_eq!(
        (
            summary.sends,
            summary.failed_over,
            summary.cost_per_day.len()
        ),
        (
            reference.sends,
            reference.failed_over,
            reference.cost_per_day.len()
        )
    );
    println!(
        "\n{:<28} {:>10} {:>12} {:>12} {:>16}",
        "summary, 90 days",
        summary.sends,
        ms(min),
        ms(median),
        ms(memory)
    );
    println!(
        "  ${:.2} over {} provider-days, {} failover routes",
        summary.total_cost_usd,
        summary.cost_per_day.len(),
        summary.failover_routes.len()
    );
}
