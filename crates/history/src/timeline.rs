//! Each provider's state over time, as the msgops processes saw it: breaker transitions, the
//! provider switched on or off, and its state when a process started, kept as rows of
//! `provider_states` (each with the whole state after it: breaker and switch); probe results in
//! `probes`. [`HistoryStore::provider_timeline`] turns them into back-to-back spans (CLOSED,
//! OPEN, HALF_OPEN, DISABLED) per provider and per instance — each process has its own
//! breakers; an instance is a kind of process on a host (the app, or `msgops serve`), so a
//! restart continues its timeline (from CLOSED, as its breakers start) — with the availability
//! and the sends that failed over during each span.
//!
//! Time before an instance's first row in the window (no row before it either) is unknown and
//! not part of its spans; a process that stopped is taken to be in its last state until the
//! end of the window. A provider switched on or off is read from the chain when its event is
//! recorded (the event does not say which), so a switch undone before its event is recorded
//! is not seen. Two processes of one kind on one host at once share a timeline.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use msgops_core::breaker::{BreakerState, Transition};
use msgops_core::chain::{ChainEvent, ProbeResult};
use msgops_core::health::HealthSnapshot;
use msgops_core::{Channel, Messaging, ProviderKind};
use serde::Serialize;
use ts_rs::TS;

use crate::db::{bind_values, on_pool, BeginWrite, Value};
use crate::origin::{OriginKind, SendOrigin};
use crate::store::{lock, HistoryError, HistoryStore};
use crate::write::{from_micros, micros, origin_kind_str, parse_origin_kind, serde_word};

const WHAT: &str = "provider timeline";

/// A provider's state in a timeline: its breaker's, or DISABLED while switched off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[ts(export)]
pub enum ProviderState {
    Closed,
    Open,
    HalfOpen,
    Disabled,
}

impl ProviderState {
    fn of(breaker: BreakerState, enabled: bool) -> Self {
        match (enabled, breaker) {
            (false, _) => Self::Disabled,
            (true, BreakerState::Closed) => Self::Closed,
            (true, BreakerState::Open) => Self::Open,
            (true, BreakerState::HalfOpen) => Self::HalfOpen,
        }
    }
}

/// One stretch of time in one state.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct StateSpan {
    pub state: ProviderState,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Why the provider entered this state ("5 consecutive failures", "cool-down elapsed",
    /// "disabled in the configuration", "msgops started").
    pub reason: String,
    /// Sends of this instance that failed over from this provider during the span.
    pub failed_over: u32,
    pub probes_ok: u32,
    pub probes_failed: u32,
}

/// One provider's spans as one instance saw them.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct ProviderTimeline {
    pub provider: ProviderKind,
    pub channel: Channel,
    /// The instance (kind of process and host; the pid of its latest row).
    pub instance: SendOrigin,
    /// Oldest first, back to back.
    pub spans: Vec<StateSpan>,
    /// The share of the known time, less the time disabled, with the breaker CLOSED, in
    /// percent; `None` when the provider was disabled all along.
    pub availability_percent: Option<f64>,
    /// Sends that failed over from this provider while its breaker was OPEN.
    pub failed_over_while_open: u32,
}

/// Every provider's timeline over a window.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct ProviderTimelines {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// By instance (the app first), then in chain order.
    pub providers: Vec<ProviderTimeline>,
}

/// A row of `provider_states`, read back.
#[derive(Debug, Clone)]
struct StateRow {
    at: DateTime<Utc>,
    provider: ProviderKind,
    channel: Channel,
    origin: SendOrigin,
    state: ProviderState,
    reason: String,
}

type Instance = (OriginKind, Option<String>);
/// When a probe ran, and whether it passed.
type ProbeAt = (DateTime<Utc>, bool);

/// A row to write to `provider_states`.
struct StateChange<'a> {
    at: DateTime<Utc>,
    channel: Channel,
    provider: ProviderKind,
    /// `start`, `breaker` or `enabled`.
    kind: &'a str,
    from: Option<BreakerState>,
    breaker: BreakerState,
    enabled: bool,
    reason: &'a str,
}

const INSERT_STATE: &str = "INSERT INTO provider_states (at, provider, channel, origin_kind, \
     origin_host, origin_pid, kind, breaker_from, breaker, enabled, reason) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

const STATE_COLUMNS: &str =
    "at, provider, channel, origin_kind, origin_host, origin_pid, breaker, enabled, reason";

fn parse_breaker(s: &str) -> BreakerState {
    match s {
        "OPEN" => BreakerState::Open,
        "HALF_OPEN" => BreakerState::HalfOpen,
        _ => BreakerState::Closed,
    }
}

impl HistoryStore {
    async fn insert_state(&self, c: StateChange<'_>) -> Result<(), HistoryError> {
        let values = vec![
            Value::Int(micros(c.at)),
            Value::Text(c.provider.as_str().into()),
            Value::Text(c.channel.as_str().into()),
            Value::Text(origin_kind_str(self.origin().kind).into()),
            Value::OptText(self.origin().host.clone()),
            Value::OptInt(self.origin().pid.map(i64::from)),
            Value::Text(c.kind.into()),
            Value::OptText(c.from.map(|b| b.as_str().to_string())),
            Value::Text(c.breaker.as_str().into()),
            Value::Int(i64::from(c.enabled)),
            Value::Text(c.reason.into()),
        ];
        let done: Result<(), sqlx::Error> = on_pool!(&self.db, pool, DB => async {
            let mut tx = pool.begin_write().await?;
            bind_values!(sqlx::query::<DB>(INSERT_STATE), &values)
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        }
        .await);
        done.map_err(|e| self.write_error(WHAT, e))
    }

    /// Records each provider's state as this process starts (its breakers CLOSED or as
    /// `health` says, switched on or off): the start of its timeline.
    pub async fn record_started(
        &self,
        health: &HealthSnapshot,
        at: DateTime<Utc>,
    ) -> Result<(), HistoryError> {
        for p in health.providers() {
            lock(&self.states).insert(p.id, (p.breaker_state, p.enabled));
            self.insert_state(StateChange {
                at,
                channel: p.channel,
                provider: p.id,
                kind: "start",
                from: None,
                breaker: p.breaker_state,
                enabled: p.enabled,
                reason: "msgops started",
            })
            .await?;
        }
        Ok(())
    }

    /// Records a breaker transition of this process.
    pub async fn record_transition(
        &self,
        channel: Channel,
        provider: ProviderKind,
        transition: &Transition,
    ) -> Result<(), HistoryError> {
        let enabled = {
            let mut states = lock(&self.states);
            let entry = states.entry(provider).or_insert((transition.from, true));
            entry.0 = transition.to;
            entry.1
        };
        self.insert_state(StateChange {
            at: transition.at,
            channel,
            provider,
            kind: "breaker",
            from: Some(transition.from),
            breaker: transition.to,
            enabled,
            reason: &transition.reason,
        })
        .await
    }

    /// Records a provider switched on or off in this process; nothing when it already was.
    /// Returns whether it was recorded.
    pub async fn record_enabled(
        &self,
        channel: Channel,
        provider: ProviderKind,
        enabled: bool,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, HistoryError> {
        let breaker = {
            let mut states = lock(&self.states);
            let entry = states
                .entry(provider)
                .or_insert((BreakerState::Closed, true));
            if entry.1 == enabled {
                return Ok(false);
            }
            entry.1 = enabled;
            entry.0
        };
        self.insert_state(StateChange {
            at,
            channel,
            provider,
            kind: "enabled",
            from: None,
            breaker,
            enabled,
            reason,
        })
        .await?;
        Ok(true)
    }

    /// Records a probe's result.
    pub async fn record_probe(
        &self,
        channel: Channel,
        provider: ProviderKind,
        probe: &ProbeResult,
    ) -> Result<(), HistoryError> {
        let o = self.origin();
        let values = vec![
            Value::Int(micros(probe.at)),
            Value::Text(provider.as_str().into()),
            Value::Text(channel.as_str().into()),
            Value::Text(origin_kind_str(o.kind).into()),
            Value::OptText(o.host.clone()),
            Value::OptInt(o.pid.map(i64::from)),
            Value::Int(i64::from(probe.ok)),
            Value::OptText(probe.error_kind.as_ref().map(serde_word)),
            Value::OptText(probe.message.clone()),
        ];
        let done: Result<(), sqlx::Error> = on_pool!(&self.db, pool, DB => async {
            let mut tx = pool.begin_write().await?;
            bind_values!(
                sqlx::query::<DB>(
                    "INSERT INTO probes (at, provider, channel, origin_kind, origin_host, \
                     origin_pid, ok, error_kind, message) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                ),
                &values
            )
            .execute(&mut *tx)
            .await?;
            tx.commit().await
        }
        .await);
        done.map_err(|e| self.write_error(WHAT, e))
    }

    /// Keeps what a chain event tells: a finished send, a breaker transition, a provider
    /// switched on or off (read from `messaging`), a probe's result.
    pub async fn record_chain_event(
        &self,
        event: &ChainEvent,
        messaging: &Messaging,
    ) -> Result<(), HistoryError> {
        match event {
            ChainEvent::SendFinished { record } => self.record(record).await,
            ChainEvent::BreakerTransition {
                channel,
                provider,
                transition,
            } => {
                self.record_transition(*channel, *provider, transition)
                    .await
            }
            ChainEvent::ProviderChanged {
                channel,
                provider,
                reason,
            } => {
                let health = messaging.health();
                let enabled = health
                    .providers()
                    .find(|p| p.id == *provider && p.channel == *channel)
                    .map(|p| p.enabled);
                if let Some(enabled) = enabled {
                    self.record_enabled(*channel, *provider, enabled, reason, Utc::now())
                        .await?;
                }
                Ok(())
            }
            ChainEvent::ProbeFinished {
                channel,
                provider,
                probe,
            } => self.record_probe(*channel, *provider, probe).await,
        }
    }

    /// Each provider's state spans between `since` and `until` (all providers, or one), per
    /// instance, with availability, failovers and probes.
    pub async fn provider_timeline(
        &self,
        provider: Option<ProviderKind>,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<ProviderTimelines, HistoryError> {
        let until = until.max(since);
        let (s, u) = (micros(since), micros(until));
        let p = provider.map(|p| p.as_str().to_string());
        let only = |column: &str, n: usize| match &p {
            Some(_) => format!(" AND {column} = ${n}"),
            None => String::new(),
        };
        let mut window = vec![Value::Int(s), Value::Int(u)];
        if let Some(p) = &p {
            window.push(Value::Text(p.clone()));
        }
        let mut before = vec![Value::Int(s)];
        if let Some(p) = &p {
            before.push(Value::Text(p.clone()));
        }
        let in_window = format!(
            "SELECT {STATE_COLUMNS} FROM provider_states WHERE at >= $1 AND at < $2{} \
             ORDER BY at, id",
            only("provider", 3)
        );
        let latest_before = format!(
            "SELECT {STATE_COLUMNS} FROM provider_states WHERE id IN (SELECT MAX(id) FROM \
             provider_states WHERE at < $1{} GROUP BY origin_kind, origin_host, provider)",
            only("provider", 2)
        );
        let failovers = format!(
            "SELECT started_at, origin_kind, origin_host, failed_over_from FROM sends \
             WHERE failed_over_from IS NOT NULL AND started_at >= $1 AND started_at < $2{}",
            only("failed_over_from", 3)
        );
        let probes = format!(
            "SELECT at, origin_kind, origin_host, provider, ok FROM probes \
             WHERE at >= $1 AND at < $2{}",
            only("provider", 3)
        );
        type Raw = (
            i64,
            String,
            String,
            String,
            Option<String>,
            Option<i64>,
            String,
            i64,
            String,
        );
        type Failover = (i64, String, Option<String>, String);
        type Probe = (i64, String, Option<String>, String, i64);
        type Read = (Vec<Raw>, Vec<Raw>, Vec<Failover>, Vec<Probe>);
        let read: Result<Read, sqlx::Error> = on_pool!(&self.db, pool, DB => async {
                let mut tx = pool.begin().await?;
                let earlier = bind_values!(sqlx::query_as::<DB, Raw>(&latest_before), &before)
                    .fetch_all(&mut *tx)
                    .await?;
                let rows = bind_values!(sqlx::query_as::<DB, Raw>(&in_window), &window)
                    .fetch_all(&mut *tx)
                    .await?;
                let failed = bind_values!(sqlx::query_as::<DB, Failover>(&failovers), &window)
                    .fetch_all(&mut *tx)
                    .await?;
                let probed = bind_values!(sqlx::query_as::<DB, Probe>(&probes), &window)
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok((earlier, rows, failed, probed))
            }
            .await);
        let (earlier, rows, failed, probed) = read.map_err(|e| self.read_error(WHAT, e))?;
        let parse = |r: Raw| -> Option<StateRow> {
            let (at, provider, channel, kind, host, pid, breaker, enabled, reason) = r;
            Some(StateRow {
                at: from_micros(at),
                provider: provider.parse().ok()?,
                channel: channel.parse().ok()?,
                origin: SendOrigin {
                    kind: parse_origin_kind(&kind),
                    host,
                    pid: pid.and_then(|p| u32::try_from(p).ok()),
                },
                state: ProviderState::of(parse_breaker(&breaker), enabled != 0),
                reason,
            })
        };
        let mut groups: BTreeMap<(u8, Option<String>, usize, ProviderKind), Group> =
            BTreeMap::new();
        let key_of = |row: &StateRow| {
            (
                row.origin.kind as u8,
                row.origin.host.clone(),
                chain_order(row.provider),
                row.provider,
            )
        };
        for row in earlier.into_iter().filter_map(parse) {
            let key = key_of(&row);
            groups.entry(key).or_default().before = Some(row);
        }
        for row in rows.into_iter().filter_map(parse) {
            let key = key_of(&row);
            groups.entry(key).or_default().rows.push(row);
        }
        let mut failovers: HashMap<(Instance, ProviderKind), Vec<DateTime<Utc>>> = HashMap::new();
        for (at, kind, host, from) in failed {
            if let Ok(from) = from.parse::<ProviderKind>() {
                failovers
                    .entry(((parse_origin_kind(&kind), host), from))
                    .or_default()
                    .push(from_micros(at));
            }
        }
        let mut probe_results: HashMap<(Instance, ProviderKind), Vec<ProbeAt>> = HashMap::new();
        for (at, kind, host, provider, ok) in probed {
            if let Ok(provider) = provider.parse::<ProviderKind>() {
                probe_results
                    .entry(((parse_origin_kind(&kind), host), provider))
                    .or_default()
                    .push((from_micros(at), ok != 0));
            }
        }
        let providers = groups
            .into_values()
            .filter_map(|g| {
                let first = g.before.as_ref().or(g.rows.first())?;
                let key = (
                    (first.origin.kind, first.origin.host.clone()),
                    first.provider,
                );
                let fails = failovers.get(&key).map_or(&[][..], Vec::as_slice);
                let probes = probe_results.get(&key).map_or(&[][..], Vec::as_slice);
                Some(g.timeline(since, until, fails, probes))
            })
            .collect();
        Ok(ProviderTimelines {
            since,
            until,
            providers,
        })
    }
}

fn chain_order(p: ProviderKind) -> usize {
    ProviderKind::ALL
        .iter()
        .position(|k| *k == p)
        .unwrap_or(usize::MAX)
}

/// The rows of one instance's provider.
#[derive(Debug, Default)]
struct Group {
    /// The latest row before the window: the state it opened in.
    before: Option<StateRow>,
    /// The rows in the window, oldest first.
    rows: Vec<StateRow>,
}

impl Group {
    fn timeline(
        self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        failovers: &[DateTime<Utc>],
        probes: &[ProbeAt],
    ) -> ProviderTimeline {
        let latest = self.rows.last().or(self.before.as_ref());
        let (provider, channel, instance) = latest.map_or_else(
            || (ProviderKind::Sns, Channel::Sms, SendOrigin::default()),
            |r| (r.provider, r.channel, r.origin.clone()),
        );
        let mut spans: Vec<StateSpan> = Vec::new();
        let starts = self
            .before
            .into_iter()
            .map(|r| (since, r))
            .chain(self.rows.into_iter().map(|r| (r.at, r)));
        for (at, row) in starts {
            if let Some(last) = spans.last_mut() {
                if last.state == row.state {
                    continue;
                }
                if last.from == at {
                    // Left at once: the span had no length.
                    spans.pop();
                    if let Some(previous) = spans.last_mut() {
                        if previous.state == row.state {
                            previous.until = until;
                            continue;
                        }
                    }
                } else {
                    last.until = at;
                }
            }
            spans.push(StateSpan {
                state: row.state,
                from: at,
                until,
                reason: row.reason,
                failed_over: 0,
                probes_ok: 0,
                probes_failed: 0,
            });
        }
        // Counts what happened during each span (an instant on a boundary is the later span's).
        let span_of = |t: DateTime<Utc>| spans.iter().rposition(|s| s.from <= t && t < s.until);
        let mut counts = vec![(0u32, 0u32, 0u32); spans.len()];
        for t in failovers {
            if let Some(i) = span_of(*t) {
                counts[i].0 += 1;
            }
        }
        for (t, ok) in probes {
            if let Some(i) = span_of(*t) {
                if *ok {
                    counts[i].1 += 1;
                } else {
                    counts[i].2 += 1;
                }
            }
        }
        for (span, (failed_over, ok, failed)) in spans.iter_mut().zip(counts) {
            span.failed_over = failed_over;
            span.probes_ok = ok;
            span.probes_failed = failed;
        }
        let length = |s: &StateSpan| (s.until - s.from).num_milliseconds().max(0) as f64;
        let counted: f64 = spans
            .iter()
            .filter(|s| s.state != ProviderState::Disabled)
            .map(length)
            .sum();
        let closed: f64 = spans
            .iter()
            .filter(|s| s.state == ProviderState::Closed)
            .map(length)
            .sum();
        let availability_percent = (counted > 0.0).then(|| closed / counted * 100.0);
        let failed_over_while_open = spans
            .iter()
            .filter(|s| s.state == ProviderState::Open)
            .map(|s| s.failed_over)
            .sum();
        ProviderTimeline {
            provider,
            channel,
            instance,
            spans,
            availability_percent,
            failed_over_while_open,
        }
    }
}
