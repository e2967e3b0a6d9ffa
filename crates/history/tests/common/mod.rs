//! Records the history tests share: the incident's sends, and sends made up at random (seeded)
//! for comparing the SQL with the in-memory filter and summary.
#![allow(dead_code, clippy::unwrap_used)]

pub mod pg;

use chrono::{DateTime, TimeZone, Utc};
use msgops_core::chain::{Attempt, AttemptOutcome, SendOutcome, SendRecord, Skip, SkipReason};
use msgops_core::{Channel, ErrorKind, ProviderKind};
use msgops_history::{HistoryLocation, HistoryStore, OriginKind, RecordedSend, SendOrigin};

pub fn app() -> SendOrigin {
    SendOrigin::this_process(OriginKind::App)
}

pub fn service(host: &str, pid: u32) -> SendOrigin {
    SendOrigin {
        kind: OriginKind::Service,
        host: Some(host.into()),
        pid: Some(pid),
    }
}

pub fn attempt(provider: &str, ok: bool, cost: f64) -> Attempt {
    Attempt {
        provider: provider.parse::<ProviderKind>().expect("a provider id"),
        outcome: if ok {
            AttemptOutcome::Delivered
        } else {
            AttemptOutcome::Failed
        },
        latency_ms: 12.0,
        error_kind: (!ok).then_some(ErrorKind::Transient),
        error: (!ok).then(|| "connection refused".to_string()),
        provider_code: None,
        cost_usd: if ok { cost } else { 0.0 },
        provider_message_id: None,
    }
}

pub fn skip(provider: &str, reason: SkipReason) -> Skip {
    Skip {
        provider: provider.parse::<ProviderKind>().expect("a provider id"),
        reason,
        detail: None,
    }
}

pub fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0).unwrap()
}

pub fn send_at(
    started_at: DateTime<Utc>,
    to: &str,
    attempts: Vec<Attempt>,
    skipped: Vec<Skip>,
) -> SendRecord {
    let delivered = attempts
        .iter()
        .find(|a| a.outcome == AttemptOutcome::Delivered)
        .map(|a| a.provider);
    SendRecord {
        channel: if to.contains('@') {
            Channel::Email
        } else {
            Channel::Sms
        },
        recipient: to.into(),
        started_at,
        duration_ms: 40.0,
        outcome: match delivered {
            Some(provider) => SendOutcome::Delivered {
                provider,
                attempts,
                skipped,
            },
            None => SendOutcome::Failed {
                reason: "every provider failed".into(),
                attempts,
                skipped,
            },
        },
    }
}

pub fn send(
    day: u32,
    hour: u32,
    to: &str,
    attempts: Vec<Attempt>,
    skipped: Vec<Skip>,
) -> SendRecord {
    send_at(at(day, hour), to, attempts, skipped)
}

/// The incident's days: SNS fine, then SNS failing over to Twilio, then SNS OPEN and skipped,
/// then Twilio's key dead and everything on the Console.
pub fn incident() -> Vec<SendRecord> {
    vec![
        send(
            20,
            9,
            "+14165550123",
            vec![attempt("sns", true, 0.00645)],
            vec![],
        ),
        send(
            21,
            9,
            "+14165550188",
            vec![attempt("sns", false, 0.0), attempt("twilio", true, 0.0075)],
            vec![],
        ),
        send(
            21,
            10,
            "+1 (416) 555-0199",
            vec![attempt("twilio", true, 0.0075)],
            vec![skip("sns", SkipReason::BreakerOpen)],
        ),
        send(
            22,
            8,
            "+14165550177",
            vec![attempt("twilio", false, 0.0), attempt("console", true, 0.0)],
            vec![skip("sns", SkipReason::BreakerOpen)],
        ),
        send(
            22,
            9,
            "ops@example.com",
            vec![attempt("smtp", true, 0.0)],
            vec![
                skip("ses", SkipReason::NotConfigured),
                skip("sendgrid", SkipReason::NotConfigured),
            ],
        ),
        send(
            22,
            10,
            "+14165550166",
            vec![attempt("sns", false, 0.0)],
            vec![
                skip("twilio", SkipReason::BreakerOpen),
                skip("console", SkipReason::Disabled),
            ],
        ),
    ]
}

/// A store on a new SQLite file in `dir` (no import).
pub async fn sqlite(dir: &std::path::Path, origin: SendOrigin) -> HistoryStore {
    let (store, problems) =
        HistoryStore::open_importing(HistoryLocation::in_dir(dir), 3650, origin, None)
            .await
            .expect("the history opens");
    assert!(problems.is_empty(), "{problems:?}");
    store
}

/// A small seeded generator (the same sequence on every run).
pub struct Seeded(u64);

impl Seeded {
    pub fn new(seed: u64) -> Self {
        Self(
            seed.wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407),
        )
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next() << 31) | self.next()) % n.max(1)
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A send made up from `rng`: either chain, every kind of attempt and skip, receipts, a
/// recipient with the spellings support staff meet, over `days` days before `end`.
pub fn random_send(rng: &mut Seeded, end: DateTime<Utc>, days: i64, n: usize) -> RecordedSend {
    let email = rng.chance(25);
    let chain = if email {
        ProviderKind::EMAIL_CHAIN
    } else {
        ProviderKind::SMS_CHAIN
    };
    let costs = if email {
        [0.0001, 0.0, 0.0]
    } else {
        [0.00645, 0.0075, 0.0]
    };
    let mut attempts = Vec::new();
    let mut skipped = Vec::new();
    let reasons = [
        SkipReason::BreakerOpen,
        SkipReason::RateLimited,
        SkipReason::Disabled,
        SkipReason::NotConfigured,
        SkipReason::DeadlineExceeded,
        SkipReason::Throttled,
    ];
    for (i, provider) in chain.iter().enumerate() {
        let roll = rng.below(100);
        if roll < 15 {
            skipped.push(Skip {
                provider: *provider,
                reason: reasons[rng.below(reasons.len() as u64) as usize],
                detail: None,
            });
            continue;
        }
        let ok = roll >= 35 || i == 2 && rng.chance(70);
        attempts.push(Attempt {
            provider: *provider,
            outcome: if ok {
                AttemptOutcome::Delivered
            } else {
                AttemptOutcome::Failed
            },
            latency_ms: 10.0,
            error_kind: (!ok).then_some(ErrorKind::Transient),
            error: (!ok).then(|| "503".to_string()),
            provider_code: None,
            cost_usd: if ok { costs[i] } else { 0.0 },
            provider_message_id: (ok && rng.chance(80))
                .then(|| format!("SM{:08x}-{:04X}", rng.next(), n % 10_000)),
        });
        if ok {
            break;
        }
    }
    let recipient = if email {
        format!("user{}@Example.com", rng.below(50))
    } else {
        let number = format!("{:07}", rng.below(10_000_000));
        match rng.below(3) {
            0 => format!("+1416{number}"),
            1 => format!("+1 (416) {}-{}", &number[..3], &number[3..]),
            _ => format!("+1-416-{number}"),
        }
    };
    let started_at = end
        - chrono::Duration::seconds(rng.below((days * 86_400) as u64) as i64)
        - chrono::Duration::microseconds(rng.below(1_000_000) as i64);
    let origin = match rng.below(3) {
        0 => SendOrigin::default(),
        1 => service("ops-1", 100 + rng.below(3) as u32),
        _ => app(),
    };
    let mut record = send_at(started_at, &recipient, attempts, skipped);
    record.channel = if email { Channel::Email } else { Channel::Sms };
    RecordedSend { record, origin }
}
