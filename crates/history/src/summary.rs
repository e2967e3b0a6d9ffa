use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use msgops_core::chain::{AttemptOutcome, SendRecord};
use msgops_core::ProviderKind;
use serde::Serialize;
use ts_rs::TS;

use crate::query::failed_over_from;

/// What one provider did on one day (UTC).
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct DayCost {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    pub provider: ProviderKind,
    pub cost_usd: f64,
    /// Calls this provider accepted.
    pub delivered: u32,
    /// Calls this provider failed (any kind).
    pub failed: u32,
}

/// Sends first tried on `from` and delivered by `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct FailoverRoute {
    pub from: ProviderKind,
    pub to: ProviderKind,
    pub count: u32,
}

/// The history's totals over a window of days.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct HistorySummary {
    /// First day of the window, `YYYY-MM-DD` (UTC).
    pub since: String,
    pub days: u32,
    pub sends: u32,
    pub delivered: u32,
    pub failed: u32,
    /// Delivered after a failure or a skip (not by the first provider in line).
    pub failed_over: u32,
    pub total_cost_usd: f64,
    /// One entry per provider per day with activity, oldest day first.
    pub cost_per_day: Vec<DayCost>,
    /// Most frequent first.
    pub failover_routes: Vec<FailoverRoute>,
}

impl HistorySummary {
    pub fn of<'a>(
        records: impl Iterator<Item = &'a SendRecord>,
        days: u32,
        now: DateTime<Utc>,
    ) -> Self {
        let days = days.clamp(1, 366);
        let since: NaiveDate = (now - TimeDelta::days(i64::from(days) - 1)).date_naive();
        let mut s = HistorySummary {
            since: since.to_string(),
            days,
            sends: 0,
            delivered: 0,
            failed: 0,
            failed_over: 0,
            total_cost_usd: 0.0,
            cost_per_day: Vec::new(),
            failover_routes: Vec::new(),
        };
        let mut per_day: BTreeMap<(NaiveDate, ProviderKind), DayCost> = BTreeMap::new();
        let mut routes: BTreeMap<(ProviderKind, ProviderKind), u32> = BTreeMap::new();
        for r in records.filter(|r| r.started_at.date_naive() >= since && r.started_at <= now) {
            let day = r.started_at.date_naive();
            s.sends += 1;
            match r.outcome.delivered_by() {
                Some(_) => s.delivered += 1,
                None => s.failed += 1,
            }
            for a in r.outcome.attempts() {
                let entry = per_day.entry((day, a.provider)).or_insert_with(|| DayCost {
                    day: day.to_string(),
                    provider: a.provider,
                    cost_usd: 0.0,
                    delivered: 0,
                    failed: 0,
                });
                entry.cost_usd += a.cost_usd;
                s.total_cost_usd += a.cost_usd;
                if a.outcome == AttemptOutcome::Delivered {
                    entry.delivered += 1;
                } else {
                    entry.failed += 1;
                }
            }
            if let (Some(from), Some(to)) = (failed_over_from(r), r.outcome.delivered_by()) {
                s.failed_over += 1;
                *routes.entry((*from, *to)).or_default() += 1;
            }
        }
        s.cost_per_day = per_day.into_values().collect();
        let mut routes: Vec<FailoverRoute> = routes
            .into_iter()
            .map(|((from, to), count)| FailoverRoute { from, to, count })
            .collect();
        routes.sort_by_key(|r| std::cmp::Reverse(r.count));
        s.failover_routes = routes;
        s
    }
}
