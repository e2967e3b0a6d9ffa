//! A send as rows: the `sends` row (the columns queries filter on, and the whole record as
//! JSON), one `attempts` row per call and per provider passed over, its search text, and what
//! it adds to the day's totals. Written in the caller's transaction by [`insert_rows!`] and
//! [`upsert_totals!`], so a send and its totals are in the database together or not at all.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use msgops_core::chain::AttemptOutcome;
use msgops_core::ProviderKind;

use crate::db::Value;
use crate::origin::{OriginKind, RecordedSend};
use crate::query::{failed_over_from, normalise};

pub(crate) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(crate) fn from_micros(m: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(m).unwrap_or_default()
}

/// `YYYY-MM-DD` (UTC).
pub(crate) fn day_of(t: DateTime<Utc>) -> String {
    t.date_naive().format("%Y-%m-%d").to_string()
}

/// Whole nano-dollars: sums of these are exact.
pub(crate) fn nano_dollars(usd: f64) -> i64 {
    if usd.is_finite() {
        (usd * 1e9).round() as i64
    } else {
        0
    }
}

pub(crate) fn dollars(nano: i64) -> f64 {
    nano as f64 / 1e9
}

/// The bit of a provider in `sends.tried`.
pub(crate) fn provider_bit(p: ProviderKind) -> i64 {
    let index = ProviderKind::ALL.iter().position(|k| *k == p).unwrap_or(0);
    1 << index
}

/// Every value `sends.tried` can take that has `p`'s bit.
pub(crate) fn masks_with(p: ProviderKind) -> Vec<i64> {
    let bit = provider_bit(p);
    (1..(1i64 << ProviderKind::ALL.len()))
        .filter(|m| m & bit != 0)
        .collect()
}

pub(crate) fn origin_kind_str(kind: OriginKind) -> &'static str {
    match kind {
        OriginKind::App => "app",
        OriginKind::Service => "service",
    }
}

pub(crate) fn parse_origin_kind(s: &str) -> OriginKind {
    match s {
        "service" => OriginKind::Service,
        _ => OriginKind::App,
    }
}

/// A serde enum as the word it serializes to (`breaker_open`, `transient`).
pub(crate) fn serde_word(value: &impl serde::Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

pub(crate) const INSERT_SEND: &str = "INSERT INTO sends (started_at, day, channel, recipient, \
     recipient_normalised, delivered_by, failed_over_from, outcome_class, tried, origin_kind, \
     origin_host, origin_pid, cost_nano, record) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
     $11, $12, $13, $14) RETURNING id";

/// `sends.outcome_class`: failed.
pub(crate) const FAILED: i64 = 0;
/// Delivered by the first provider able to take it.
pub(crate) const DELIVERED_DIRECT: i64 = 1;
/// Delivered after another provider failed or was passed over.
pub(crate) const FAILED_OVER: i64 = 2;

pub(crate) const INSERT_SEARCH: &str =
    "INSERT INTO sends_search (rowid, recipient, receipts) VALUES ($1, $2, $3)";

/// Columns of an `attempts` row after `send_id`.
const ATTEMPT_COLUMNS: usize = 7;

/// `INSERT INTO attempts` of `n` rows (the send's id first in each).
pub(crate) fn attempts_sql(n: usize) -> String {
    let per = ATTEMPT_COLUMNS + 1;
    let rows: Vec<String> = (0..n)
        .map(|r| {
            let cols: Vec<String> = (1..=per).map(|c| format!("${}", r * per + c)).collect();
            format!("({})", cols.join(", "))
        })
        .collect();
    format!(
        "INSERT INTO attempts (send_id, seq, provider, skipped, outcome, provider_message_id, \
         receipt_normalised, cost_nano) VALUES {}",
        rows.join(", ")
    )
}

pub(crate) struct SendRow {
    /// The values of [`INSERT_SEND`].
    pub send: Vec<Value>,
    /// Per attempt or skip, the values after `send_id`.
    pub attempts: Vec<Vec<Value>>,
    /// The search table's `recipient` and `receipts` (SQLite).
    pub search: [String; 2],
}

impl SendRow {
    pub(crate) fn of(sent: &RecordedSend) -> Result<Self, String> {
        let r = &sent.record;
        let json = serde_json::to_string(sent).map_err(|e| e.to_string())?;
        let attempts_of = r.outcome.attempts();
        let skipped_of = r.outcome.skipped();
        let mut tried = 0i64;
        let mut attempts = Vec::with_capacity(attempts_of.len() + skipped_of.len());
        let mut receipts = Vec::new();
        for a in attempts_of {
            tried |= provider_bit(a.provider);
            let receipt = a.provider_message_id.as_deref().map(normalise);
            if let Some(id) = &receipt {
                receipts.push(id.clone());
            }
            attempts.push(vec![
                Value::Int(attempts.len() as i64),
                Value::Text(a.provider.as_str().into()),
                Value::Int(0),
                Value::Text(serde_word(&a.outcome)),
                Value::OptText(a.provider_message_id.clone()),
                Value::OptText(receipt),
                Value::Int(nano_dollars(a.cost_usd)),
            ]);
        }
        for s in skipped_of {
            tried |= provider_bit(s.provider);
            attempts.push(vec![
                Value::Int(attempts.len() as i64),
                Value::Text(s.provider.as_str().into()),
                Value::Int(1),
                Value::Text(serde_word(&s.reason)),
                Value::OptText(None),
                Value::OptText(None),
                Value::Int(0),
            ]);
        }
        let recipient = normalise(&r.recipient);
        let failed_over = failed_over_from(r);
        let class = match (r.outcome.delivered_by(), failed_over) {
            (None, _) => FAILED,
            (Some(_), None) => DELIVERED_DIRECT,
            (Some(_), Some(_)) => FAILED_OVER,
        };
        let send = vec![
            Value::Int(micros(r.started_at)),
            Value::Text(day_of(r.started_at)),
            Value::Text(r.channel.as_str().into()),
            Value::Text(r.recipient.clone()),
            Value::Text(recipient.clone()),
            Value::OptText(r.outcome.delivered_by().map(|p| p.as_str().to_string())),
            Value::OptText(failed_over.map(|p| p.as_str().to_string())),
            Value::Int(class),
            Value::Int(tried),
            Value::Text(origin_kind_str(sent.origin.kind).into()),
            Value::OptText(sent.origin.host.clone()),
            Value::OptInt(sent.origin.pid.map(i64::from)),
            Value::Int(attempts_of.iter().map(|a| nano_dollars(a.cost_usd)).sum()),
            Value::Text(json),
        ];
        Ok(Self {
            send,
            attempts,
            search: [recipient, receipts.join(" ")],
        })
    }
}

/// What a batch of sends adds to the daily totals. Ordered, so that concurrent writers (several
/// instances on PostgreSQL) lock the same rows in the same order and never deadlock.
#[derive(Debug, Default)]
pub(crate) struct Totals {
    /// Per day: sends, delivered, failed, failed over.
    pub sends: BTreeMap<String, [i64; 4]>,
    /// Per day and provider: cost, calls delivered, calls failed.
    pub providers: BTreeMap<(String, ProviderKind), [i64; 3]>,
    /// Per day, from, to: sends failed over.
    pub routes: BTreeMap<(String, ProviderKind, ProviderKind), i64>,
}

impl Totals {
    pub(crate) fn add(&mut self, sent: &RecordedSend) {
        let r = &sent.record;
        let day = day_of(r.started_at);
        let delivered = r.outcome.delivered_by();
        let from = failed_over_from(r);
        let s = self.sends.entry(day.clone()).or_default();
        s[0] += 1;
        if delivered.is_some() {
            s[1] += 1;
        } else {
            s[2] += 1;
        }
        if let (Some(from), Some(to)) = (from, delivered) {
            s[3] += 1;
            *self.routes.entry((day.clone(), *from, *to)).or_default() += 1;
        }
        for a in r.outcome.attempts() {
            let p = self.providers.entry((day.clone(), a.provider)).or_default();
            p[0] += nano_dollars(a.cost_usd);
            if a.outcome == AttemptOutcome::Delivered {
                p[1] += 1;
            } else {
                p[2] += 1;
            }
        }
    }
}

pub(crate) const UPSERT_DAILY_SENDS: &str = "INSERT INTO daily_sends (day, sends, delivered, \
     failed, failed_over) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (day) DO UPDATE SET \
     sends = daily_sends.sends + excluded.sends, delivered = daily_sends.delivered + excluded.delivered, \
     failed = daily_sends.failed + excluded.failed, failed_over = daily_sends.failed_over + excluded.failed_over";

pub(crate) const UPSERT_DAILY_PROVIDER: &str = "INSERT INTO daily_provider (day, provider, \
     cost_nano, delivered, failed) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (day, provider) DO UPDATE \
     SET cost_nano = daily_provider.cost_nano + excluded.cost_nano, \
     delivered = daily_provider.delivered + excluded.delivered, failed = daily_provider.failed + excluded.failed";

pub(crate) const UPSERT_DAILY_ROUTE: &str = "INSERT INTO daily_routes (day, from_provider, \
     to_provider, count) VALUES ($1, $2, $3, $4) ON CONFLICT (day, from_provider, to_provider) \
     DO UPDATE SET count = daily_routes.count + excluded.count";

/// Inserts `$rows` ([`SendRow`]s) in the transaction `$tx` of database `$db`; `?` on
/// `sqlx::Error`. `$sqlite`: also into the trigram search table.
macro_rules! insert_rows {
    ($tx:ident, $db:ident, $rows:expr, $sqlite:expr) => {
        for row in $rows {
            let id: i64 = $crate::db::bind_values!(
                sqlx::query_scalar::<$db, i64>($crate::write::INSERT_SEND),
                &row.send
            )
            .fetch_one(&mut *$tx)
            .await?;
            if !row.attempts.is_empty() {
                let sql = $crate::write::attempts_sql(row.attempts.len());
                let mut q = sqlx::query::<$db>(&sql);
                for a in &row.attempts {
                    q = q.bind(id);
                    q = $crate::db::bind_values!(q, a);
                }
                q.execute(&mut *$tx).await?;
            }
            if $sqlite {
                sqlx::query::<$db>($crate::write::INSERT_SEARCH)
                    .bind(id)
                    .bind(row.search[0].as_str())
                    .bind(row.search[1].as_str())
                    .execute(&mut *$tx)
                    .await?;
            }
        }
    };
}
pub(crate) use insert_rows;

/// Adds `$totals` ([`Totals`]) to the daily tables in `$tx`; `?` on `sqlx::Error`.
macro_rules! upsert_totals {
    ($tx:ident, $db:ident, $totals:expr) => {
        let totals: &$crate::write::Totals = $totals;
        for (day, t) in &totals.sends {
            sqlx::query::<$db>($crate::write::UPSERT_DAILY_SENDS)
                .bind(day.as_str())
                .bind(t[0])
                .bind(t[1])
                .bind(t[2])
                .bind(t[3])
                .execute(&mut *$tx)
                .await?;
        }
        for ((day, provider), t) in &totals.providers {
            sqlx::query::<$db>($crate::write::UPSERT_DAILY_PROVIDER)
                .bind(day.as_str())
                .bind(provider.as_str())
                .bind(t[0])
                .bind(t[1])
                .bind(t[2])
                .execute(&mut *$tx)
                .await?;
        }
        for ((day, from, to), count) in &totals.routes {
            sqlx::query::<$db>($crate::write::UPSERT_DAILY_ROUTE)
                .bind(day.as_str())
                .bind(from.as_str())
                .bind(to.as_str())
                .bind(*count)
                .execute(&mut *$tx)
                .await?;
        }
    };
}
pub(crate) use upsert_totals;
