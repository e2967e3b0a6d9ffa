//! Prometheus metrics in the text exposition format (0.0.4), encoded by hand: counters fed from
//! the chain's `SendFinished` events by one background task, breaker and health gauges read from
//! the health snapshot at scrape time, and counters the service and the app bump directly
//! (recipient-limit blocks, codes seen in logs).
//!
//! Metric and label names are a public interface (dashboards, alerts): add, never rename.
//! Labels only take bounded values (channel, provider id, outcome, kind) — never a recipient.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use msgops_core::chain::{AttemptOutcome, SendOutcome, SendRecord};
use msgops_core::health::{ChainStatus, HealthSnapshot};
use msgops_core::{BreakerState, Channel, ProviderKind, Transition};
use serde::Serialize;

/// Upper bounds (seconds) of the latency histograms' buckets.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Debug, Clone, Default)]
struct Histogram {
    counts: [u64; LATENCY_BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if let Some(i) = LATENCY_BUCKETS.iter().position(|b| seconds <= *b) {
            self.counts[i] += 1;
        }
        self.sum += seconds;
        self.count += 1;
    }
}

type Labels = Vec<(&'static str, String)>;

#[derive(Debug, Default)]
struct Families {
    sends: BTreeMap<Labels, u64>,
    attempts: BTreeMap<Labels, u64>,
    skips: BTreeMap<Labels, u64>,
    failovers: BTreeMap<Labels, u64>,
    cost: BTreeMap<Labels, f64>,
    attempt_latency: BTreeMap<Labels, Histogram>,
    send_duration: BTreeMap<Labels, Histogram>,
    transitions: BTreeMap<Labels, u64>,
    limit_blocks: BTreeMap<Labels, u64>,
    codes_seen: BTreeMap<Labels, u64>,
    abandoned: BTreeMap<Labels, u64>,
    deliveries: BTreeMap<Labels, u64>,
    delivery_duplicates: BTreeMap<Labels, u64>,
    webhook_rejections: BTreeMap<Labels, u64>,
    resends: BTreeMap<Labels, u64>,
    events_lagged: u64,
}

/// All counters of one service.
#[derive(Debug, Default)]
pub struct Metrics {
    families: Mutex<Families>,
    /// The shared state's own counters, when `[state]` is on Redis.
    state: Option<std::sync::Arc<msgops_shared_state::StateStats>>,
}

/// The snake_case word serde gives a unit enum variant (`breaker_open`, `authentication`).
pub fn word<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "unknown".into(),
    }
}

fn channel(c: Channel) -> String {
    word(&c)
}

/// The gauge value of a breaker state.
pub fn breaker_gauge(state: BreakerState) -> u8 {
    match state {
        BreakerState::Closed => 0,
        BreakerState::Open => 1,
        BreakerState::HalfOpen => 2,
    }
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Families) -> T) -> T {
        f(&mut self
            .families
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Counts one finished send. `chain_order` is the channel's provider ids in priority order,
    /// to tell which passed-over providers were failed over *from*.
    pub fn record_send(&self, record: &SendRecord, chain_order: &[ProviderKind]) {
        let ch = channel(record.channel);
        let outcome = &record.outcome;
        let (provider, status) = match outcome {
            SendOutcome::Delivered { provider, .. } => (provider.to_string(), "delivered"),
            SendOutcome::Failed { .. } => ("none".to_string(), "failed"),
        };
        // Providers passed over (failed or skipped), in chain order; every one but the last of a
        // failed send handed the message on to another provider.
        let position = |id: &ProviderKind| chain_order.iter().position(|p| p == id);
        let mut passed: Vec<(Option<usize>, &ProviderKind, String)> = outcome
            .attempts()
            .iter()
            .filter(|a| a.outcome == AttemptOutcome::Failed)
            .map(|a| {
                let reason = a.error_kind.map_or_else(|| "unknown".into(), |k| word(&k));
                (position(&a.provider), &a.provider, reason)
            })
            .chain(
                outcome
                    .skipped()
                    .iter()
                    .map(|s| (position(&s.provider), &s.provider, word(&s.reason))),
            )
            .collect();
        passed.sort_by_key(|(pos, _, _)| *pos);
        if outcome.delivered_by().is_none() {
            passed.pop();
        }
        self.with(|f| {
            *f.sends
                .entry(vec![
                    ("channel", ch.clone()),
                    ("provider", provider),
                    ("outcome", status.into()),
                ])
                .or_default() += 1;
            f.send_duration
                .entry(vec![("channel", ch.clone())])
                .or_default()
                .observe(record.duration_ms / 1000.0);
            for a in outcome.attempts() {
                let kind = a.error_kind.map_or_else(|| "none".into(), |k| word(&k));
                *f.attempts
                    .entry(vec![
                        ("channel", ch.clone()),
                        ("provider", a.provider.to_string()),
                        ("outcome", word(&a.outcome)),
                        ("error_kind", kind),
                    ])
                    .or_default() += 1;
                f.attempt_latency
                    .entry(vec![
                        ("channel", ch.clone()),
                        ("provider", a.provider.to_string()),
                    ])
                    .or_default()
                    .observe(a.latency_ms / 1000.0);
                *f.cost
                    .entry(vec![
                        ("channel", ch.clone()),
                        ("provider", a.provider.to_string()),
                    ])
                    .or_default() += a.cost_usd;
            }
            for s in outcome.skipped() {
                *f.skips
                    .entry(vec![
                        ("channel", ch.clone()),
                        ("provider", s.provider.to_string()),
                        ("reason", word(&s.reason)),
                    ])
                    .or_default() += 1;
            }
            for (_, from, reason) in passed {
                *f.failovers
                    .entry(vec![
                        ("channel", ch.clone()),
                        ("from", from.to_string()),
                        ("reason", reason),
                    ])
                    .or_default() += 1;
            }
        });
    }

    pub fn record_transition(&self, ch: Channel, provider: &ProviderKind, transition: &Transition) {
        self.with(|f| {
            *f.transitions
                .entry(vec![
                    ("channel", channel(ch)),
                    ("provider", provider.to_string()),
                    ("to", word(&transition.to)),
                ])
                .or_default() += 1;
        });
    }

    pub fn record_limit_block(&self, ch: Channel, rule: &str) {
        self.with(|f| {
            *f.limit_blocks
                .entry(vec![("channel", channel(ch)), ("rule", rule.to_string())])
                .or_default() += 1;
        });
    }

    /// `source` must be a bounded word (`console_log`, `backend_log`), never a recipient.
    pub fn record_code_seen(&self, ch: Channel, source: &str) {
        self.with(|f| {
            *f.codes_seen
                .entry(vec![
                    ("channel", channel(ch)),
                    ("source", source.to_string()),
                ])
                .or_default() += 1;
        });
    }

    pub fn record_abandoned(&self, ch: Channel) {
        self.with(|f| {
            *f.abandoned
                .entry(vec![("channel", channel(ch))])
                .or_default() += 1;
        });
    }

    /// One new delivery report. The error code becomes a label only when it looks like a code
    /// (short, no free text), else `other`: label values stay bounded.
    pub fn record_delivery(&self, event: &msgops_delivery::DeliveryEvent) {
        let code = match event.error_code.as_deref() {
            None => "none".to_string(),
            Some(c)
                if c.len() <= 40
                    && c.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"./_- ".contains(&b)) =>
            {
                c.to_string()
            }
            Some(_) => "other".to_string(),
        };
        self.with(|f| {
            *f.deliveries
                .entry(vec![
                    ("provider", event.provider.to_string()),
                    ("status", event.status.to_string()),
                    ("error_code", code),
                ])
                .or_default() += 1;
        });
    }

    pub fn record_delivery_duplicate(&self, source: msgops_delivery::DeliverySource) {
        self.with(|f| {
            *f.delivery_duplicates
                .entry(vec![("source", source.as_str().to_string())])
                .or_default() += 1;
        });
    }

    /// A webhook refused with 403; `source` is `twilio`, `sendgrid` or `sns`.
    pub fn record_webhook_rejected(&self, source: &'static str, reason: &'static str) {
        self.with(|f| {
            *f.webhook_rejections
                .entry(vec![
                    ("source", source.to_string()),
                    ("reason", reason.to_string()),
                ])
                .or_default() += 1;
        });
    }

    /// A message sent again after an undelivered report, by the provider that failed it and
    /// the outcome of the new send.
    pub fn record_resend(&self, record: &SendRecord, after: ProviderKind) {
        let outcome = match record.outcome {
            SendOutcome::Delivered { .. } => "delivered",
            SendOutcome::Failed { .. } => "failed",
        };
        self.with(|f| {
            *f.resends
                .entry(vec![
                    ("channel", channel(record.channel)),
                    ("after", after.to_string()),
                    ("outcome", outcome.to_string()),
                ])
                .or_default() += 1;
        });
    }

    pub fn record_lagged(&self, missed: u64) {
        self.with(|f| f.events_lagged += missed);
    }

    /// Metrics that also expose the shared state's counters.
    pub fn with_state(stats: std::sync::Arc<msgops_shared_state::StateStats>) -> Self {
        Self {
            state: Some(stats),
            ..Self::default()
        }
    }

    /// `msgops_state_backend_up` and `msgops_state_fallbacks_total` (with the memory backend
    /// the state is always this process's: up, and never a fallback).
    fn encode_state(&self, out: &mut String) {
        let (up, fallbacks) = match &self.state {
            Some(stats) => (f64::from(u8::from(stats.up())), stats.fallbacks()),
            None => (
                1.0,
                msgops_shared_state::Area::ALL
                    .iter()
                    .map(|a| (*a, 0))
                    .collect(),
            ),
        };
        let up = BTreeMap::from([(Vec::new(), up)]);
        gauge(
            out,
            "msgops_state_backend_up",
            "1 when the state backend answers ([state]: memory always; Redis while it answers).",
            &up,
        );
        let fallbacks: BTreeMap<Labels, u64> = fallbacks
            .into_iter()
            .map(|(area, n)| (vec![("area", area.as_str().to_string())], n))
            .collect();
        counter(
            out,
            "msgops_state_fallbacks_total",
            "Operations done on this instance's own state because the shared state (Redis) could not be used, by area.",
            &fallbacks,
        );
    }

    /// The whole exposition: counters, then gauges read from `health`.
    pub fn encode(&self, health: &HealthSnapshot) -> String {
        let mut out = String::with_capacity(8 * 1024);
        self.with(|f| {
            counter(&mut out, "msgops_sends_total", "Finished sends by channel, delivering provider (`none` when failed) and outcome.", &f.sends);
            counter(&mut out, "msgops_provider_attempts_total", "Provider calls by outcome and error kind (`none` when delivered).", &f.attempts);
            counter(&mut out, "msgops_provider_skips_total", "Providers passed over without a call, by reason.", &f.skips);
            counter(&mut out, "msgops_failovers_total", "Times a send moved on from a provider to the next one, by the provider left and why.", &f.failovers);
            counter(&mut out, "msgops_cost_usd_total", "Money spent on delivered messages, in US dollars.", &f.cost);
            histogram(&mut out, "msgops_provider_attempt_duration_seconds", "Duration of provider calls.", &f.attempt_latency);
            histogram(&mut out, "msgops_send_duration_seconds", "Duration of whole sends through the chain.", &f.send_duration);
            counter(&mut out, "msgops_breaker_transitions_total", "Circuit breaker transitions by the state entered.", &f.transitions);
            counter(&mut out, "msgops_recipient_limit_blocks_total", "Sends refused by a per-recipient or per-prefix limit (never sent to a provider).", &f.limit_blocks);
            counter(&mut out, "msgops_codes_seen_total", "One-time codes found in backend logs.", &f.codes_seen);
            counter(&mut out, "msgops_sends_abandoned_total", "Sends still running when the shutdown grace period ended, recorded as failed.", &f.abandoned);
            counter(&mut out, "msgops_delivery_total", "Delivery reports received from the providers (webhooks, SNS SMS logs), by provider, status and the provider's error code.", &f.deliveries);
            counter(&mut out, "msgops_delivery_duplicates_total", "Delivery reports dropped as already received (a provider's retry or a replay).", &f.delivery_duplicates);
            counter(&mut out, "msgops_webhook_rejected_total", "Webhook requests refused with 403 (forged, unsigned, stale, malformed, not configured), by source and reason.", &f.webhook_rejections);
            counter(&mut out, "msgops_resends_total", "Messages sent again through the next provider after an undelivered report, by the provider that failed them and the outcome.", &f.resends);
            let lagged = BTreeMap::from([(Vec::new(), f.events_lagged)]);
            counter(&mut out, "msgops_events_lagged_total", "Chain events the metrics task missed because it fell behind (counts above are then low).", &lagged);
        });
        let mut state = BTreeMap::new();
        let mut healthy = BTreeMap::new();
        let mut configured = BTreeMap::new();
        for p in health.providers() {
            let labels = vec![
                ("channel", channel(p.channel)),
                ("provider", p.id.to_string()),
                ("name", p.name.clone()),
                ("priority", word(&p.priority)),
            ];
            state.insert(labels.clone(), f64::from(breaker_gauge(p.breaker_state)));
            healthy.insert(labels.clone(), f64::from(u8::from(p.is_healthy)));
            configured.insert(labels, f64::from(u8::from(p.configured)));
        }
        gauge(
            &mut out,
            "msgops_breaker_state",
            "Circuit breaker state: 0 CLOSED, 1 OPEN, 2 HALF_OPEN.",
            &state,
        );
        gauge(
            &mut out,
            "msgops_provider_healthy",
            "1 when the provider is healthy (enabled, configured, breaker CLOSED).",
            &healthy,
        );
        gauge(
            &mut out,
            "msgops_provider_configured",
            "1 when the provider has credentials installed.",
            &configured,
        );
        if let Some(delivery) = &health.delivery {
            let rates: BTreeMap<Labels, f64> = delivery
                .providers
                .iter()
                .filter_map(|r| {
                    r.rate
                        .map(|rate| (vec![("provider", r.provider.to_string())], rate))
                })
                .collect();
            gauge(
                &mut out,
                "msgops_delivery_rate",
                "Share of a provider's messages reported delivered over the last hour (of those with a final report).",
                &rates,
            );
        }
        let mut can_deliver = BTreeMap::new();
        for (ch, chain) in [
            ("sms", &health.sms_providers),
            ("email", &health.email_providers),
        ] {
            can_deliver.insert(
                vec![("channel", ch.to_string())],
                f64::from(u8::from(chain.iter().any(|p| p.is_healthy))),
            );
        }
        gauge(
            &mut out,
            "msgops_chain_can_deliver",
            "1 when at least one provider of the chain is healthy.",
            &can_deliver,
        );
        let mut status = BTreeMap::new();
        for channel in msgops_core::Channel::ALL {
            let now = health.chain(channel).status;
            for s in [
                ChainStatus::Healthy,
                ChainStatus::Degraded,
                ChainStatus::Down,
                ChainStatus::Unconfigured,
            ] {
                status.insert(
                    vec![("channel", channel.to_string()), ("status", s.to_string())],
                    f64::from(u8::from(s == now)),
                );
            }
        }
        gauge(
            &mut out,
            "msgops_chain_status",
            "1 for the chain's status now: healthy, degraded (only the last resort can deliver), down, unconfigured.",
            &status,
        );
        self.encode_state(&mut out);
        out
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn labels(out: &mut String, labels: &Labels, extra: Option<(&str, &str)>) {
    if labels.is_empty() && extra.is_none() {
        return;
    }
    out.push('{');
    let mut first = true;
    let all = labels.iter().map(|(k, v)| (*k, v.as_str())).chain(extra);
    for (k, v) in all {
        if !first {
            out.push(',');
        }
        first = false;
        let _ = write!(out, "{k}=\"{}\"", escape(v));
    }
    out.push('}');
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn counter<V: std::fmt::Display>(
    out: &mut String,
    name: &str,
    help: &str,
    values: &BTreeMap<Labels, V>,
) {
    header(out, name, help, "counter");
    for (l, v) in values {
        out.push_str(name);
        labels(out, l, None);
        let _ = writeln!(out, " {v}");
    }
}

fn gauge(out: &mut String, name: &str, help: &str, values: &BTreeMap<Labels, f64>) {
    header(out, name, help, "gauge");
    for (l, v) in values {
        out.push_str(name);
        labels(out, l, None);
        let _ = writeln!(out, " {v}");
    }
}

fn histogram(out: &mut String, name: &str, help: &str, values: &BTreeMap<Labels, Histogram>) {
    header(out, name, help, "histogram");
    for (l, h) in values {
        let mut cumulative = 0;
        for (bound, count) in LATENCY_BUCKETS.iter().zip(h.counts) {
            cumulative += count;
            let _ = write!(out, "{name}_bucket");
            labels(out, l, Some(("le", &bound.to_string())));
            let _ = writeln!(out, " {cumulative}");
        }
        let _ = write!(out, "{name}_bucket");
        labels(out, l, Some(("le", "+Inf")));
        let _ = writeln!(out, " {}", h.count);
        let _ = write!(out, "{name}_sum");
        labels(out, l, None);
        let _ = writeln!(out, " {}", h.sum);
        let _ = write!(out, "{name}_count");
        labels(out, l, None);
        let _ = writeln!(out, " {}", h.count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use msgops_core::chain::{Attempt, Skip, SkipReason};
    use msgops_core::ErrorKind;

    fn id(s: &str) -> ProviderKind {
        s.parse::<ProviderKind>().expect("a provider id")
    }

    fn attempt(provider: &str, ok: bool) -> Attempt {
        Attempt {
            provider: id(provider),
            outcome: if ok {
                AttemptOutcome::Delivered
            } else {
                AttemptOutcome::Failed
            },
            latency_ms: 12.0,
            error_kind: (!ok).then_some(ErrorKind::Authentication),
            error: (!ok).then(|| "Authenticate".into()),
            provider_code: (!ok).then_some(20003),
            cost_usd: if ok { 0.0075 } else { 0.0 },
            provider_message_id: None,
        }
    }

    fn record(outcome: SendOutcome) -> SendRecord {
        SendRecord {
            channel: Channel::Sms,
            recipient: "+14165550123".into(),
            started_at: chrono::Utc::now(),
            duration_ms: 30.0,
            outcome,
        }
    }

    const ORDER: [&str; 3] = ["sns", "twilio", "console"];

    fn order() -> Vec<ProviderKind> {
        ORDER.iter().map(|s| id(s)).collect()
    }

    #[test]
    fn a_send_delivered_by_the_fallback_counts_each_provider_left_as_a_failover() {
        let m = Metrics::new();
        m.record_send(
            &record(SendOutcome::Delivered {
                provider: id("console"),
                attempts: vec![attempt("twilio", false), attempt("console", true)],
                skipped: vec![Skip {
                    provider: id("sns"),
                    reason: SkipReason::BreakerOpen,
                    detail: None,
                }],
            }),
            &order(),
        );
        let text = m.encode(&HealthSnapshot::new(vec![], vec![], &Default::default()));
        assert!(text.contains(
            "msgops_sends_total{channel=\"sms\",provider=\"console\",outcome=\"delivered\"} 1\n"
        ));
        assert!(text.contains(
            "msgops_failovers_total{channel=\"sms\",from=\"sns\",reason=\"breaker_open\"} 1\n"
        ));
        assert!(text.contains(
            "msgops_failovers_total{channel=\"sms\",from=\"twilio\",reason=\"authentication\"} 1\n"
        ));
        assert!(text.contains("msgops_provider_attempts_total{channel=\"sms\",provider=\"twilio\",outcome=\"failed\",error_kind=\"authentication\"} 1\n"));
        assert!(text.contains("msgops_provider_attempt_duration_seconds_bucket{channel=\"sms\",provider=\"console\",le=\"0.025\"} 1\n"));
    }

    #[test]
    fn the_last_provider_of_a_failed_send_is_not_a_failover() {
        let m = Metrics::new();
        m.record_send(
            &record(SendOutcome::Failed {
                reason: "every provider failed".into(),
                attempts: vec![attempt("sns", false), attempt("twilio", false)],
                skipped: vec![Skip {
                    provider: id("console"),
                    reason: SkipReason::Disabled,
                    detail: None,
                }],
            }),
            &order(),
        );
        let text = m.encode(&HealthSnapshot::new(vec![], vec![], &Default::default()));
        assert!(text.contains(
            "msgops_sends_total{channel=\"sms\",provider=\"none\",outcome=\"failed\"} 1\n"
        ));
        assert!(text.contains("from=\"sns\""));
        assert!(text.contains("from=\"twilio\""));
        assert!(!text.contains("from=\"console\""));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
