//! Breaker transitions, switches and probes kept, and read back as each provider's state spans
//! per instance, with availability and the sends that failed over while it was OPEN — the
//! incident's SNS outage, recorded from real chain events and at hand-picked times.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::{app, attempt, send_at, sqlite};
use msgops_core::breaker::{BreakerState, Transition};
use msgops_core::chain::ProbeResult;
use msgops_core::config::Config;
use msgops_core::{Channel, Messaging, ProviderKind};
use msgops_history::{ProviderState, StateSpan};

fn t(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, h, m, 0).unwrap()
}

fn transition(from: BreakerState, to: BreakerState, at: DateTime<Utc>, reason: &str) -> Transition {
    Transition {
        from,
        to,
        at,
        reason: reason.into(),
    }
}

fn shape(spans: &[StateSpan]) -> Vec<(ProviderState, DateTime<Utc>, DateTime<Utc>, u32)> {
    spans
        .iter()
        .map(|s| (s.state, s.from, s.until, s.failed_over))
        .collect()
}

#[tokio::test]
async fn an_outage_reads_back_as_spans_with_availability_and_the_sends_it_failed_over() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(dir.path(), app()).await;
    let messaging = Messaging::from_config(&Config::default());
    // The process starts at 08:00: every provider CLOSED and switched on.
    store
        .record_started(&messaging.health(), t(8, 0))
        .await
        .unwrap();
    use BreakerState::*;
    let sns = ProviderKind::Sns;
    store
        .record_transition(
            Channel::Sms,
            sns,
            &transition(Closed, Open, t(9, 0), "5 consecutive failures"),
        )
        .await
        .unwrap();
    store
        .record_transition(
            Channel::Sms,
            sns,
            &transition(Open, HalfOpen, t(9, 5), "cool-down elapsed"),
        )
        .await
        .unwrap();
    store
        .record_transition(
            Channel::Sms,
            sns,
            &transition(HalfOpen, Open, t(9, 6), "trial failed"),
        )
        .await
        .unwrap();
    store
        .record_transition(
            Channel::Sms,
            sns,
            &transition(Open, HalfOpen, t(9, 11), "cool-down elapsed"),
        )
        .await
        .unwrap();
    store
        .record_transition(
            Channel::Sms,
            sns,
            &transition(HalfOpen, Closed, t(9, 12), "trial succeeded"),
        )
        .await
        .unwrap();
    // Switched off at 11:00 (once: the same switch again records nothing), back at 11:30.
    assert!(store
        .record_enabled(
            Channel::Sms,
            sns,
            false,
            "disabled in the configuration",
            t(11, 0)
        )
        .await
        .unwrap());
    assert!(!store
        .record_enabled(Channel::Sms, sns, false, "configuration changed", t(11, 10))
        .await
        .unwrap());
    assert!(store
        .record_enabled(Channel::Sms, sns, true, "configuration changed", t(11, 30))
        .await
        .unwrap());
    // Sends passed over SNS while it was OPEN (two in the first span, one in the second),
    // and one that failed over while it was CLOSED.
    for at in [t(9, 1), t(9, 4), t(9, 8), t(10, 0)] {
        store
            .record(&send_at(
                at,
                "+14165550123",
                vec![attempt("sns", false, 0.0), attempt("twilio", true, 0.0075)],
                vec![],
            ))
            .await
            .unwrap();
    }
    for (at, ok) in [(t(9, 3), false), (t(10, 30), true)] {
        store
            .record_probe(
                Channel::Sms,
                sns,
                &ProbeResult {
                    ok,
                    error_kind: None,
                    message: None,
                    at,
                },
            )
            .await
            .unwrap();
    }

    let report = store
        .provider_timeline(Some(sns), t(8, 30), t(12, 0))
        .await
        .unwrap();
    assert_eq!(report.providers.len(), 1);
    let tl = &report.providers[0];
    assert_eq!((tl.provider, tl.channel), (sns, Channel::Sms));
    assert_eq!(tl.instance.pid, app().pid);
    assert_eq!(
        shape(&tl.spans),
        [
            (ProviderState::Closed, t(8, 30), t(9, 0), 0),
            (ProviderState::Open, t(9, 0), t(9, 5), 2),
            (ProviderState::HalfOpen, t(9, 5), t(9, 6), 0),
            (ProviderState::Open, t(9, 6), t(9, 11), 1),
            (ProviderState::HalfOpen, t(9, 11), t(9, 12), 0),
            (ProviderState::Closed, t(9, 12), t(11, 0), 1),
            (ProviderState::Disabled, t(11, 0), t(11, 30), 0),
            (ProviderState::Closed, t(11, 30), t(12, 0), 0),
        ]
    );
    assert_eq!(tl.spans[0].reason, "msgops started");
    assert_eq!(tl.spans[1].reason, "5 consecutive failures");
    assert_eq!(tl.spans[6].reason, "disabled in the configuration");
    assert_eq!((tl.spans[1].probes_failed, tl.spans[5].probes_ok), (1, 1));
    assert_eq!(tl.failed_over_while_open, 3);
    // CLOSED 30 + 108 + 30 minutes of the 180 not disabled.
    let availability = tl.availability_percent.unwrap();
    assert!(
        (availability - 168.0 / 180.0 * 100.0).abs() < 1e-9,
        "{availability}"
    );

    // Every provider: the others CLOSED all along since the start.
    let all = store
        .provider_timeline(None, t(7, 0), t(12, 0))
        .await
        .unwrap();
    assert_eq!(all.providers.len(), 6);
    let twilio = all
        .providers
        .iter()
        .find(|p| p.provider == ProviderKind::Twilio)
        .unwrap();
    assert_eq!(
        shape(&twilio.spans),
        [(ProviderState::Closed, t(8, 0), t(12, 0), 0)],
        "nothing is known before the start"
    );
    assert_eq!(twilio.availability_percent, Some(100.0));
    let order: Vec<_> = all.providers.iter().map(|p| p.provider).collect();
    assert_eq!(order, ProviderKind::ALL, "chain order");
}

#[tokio::test]
async fn real_chain_events_are_recorded_as_they_happen() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(sqlite(dir.path(), app()).await);
    let messaging = Arc::new(Messaging::from_config(&Config::default()));
    let start = Utc::now() - Duration::seconds(1);
    store
        .record_started(&messaging.health(), start)
        .await
        .unwrap();
    let mut events = messaging.subscribe();
    // SMTP switched off in the configuration, then on again.
    let mut config = Config::default();
    config.smtp.policy.enabled = Some(false);
    // Each change recorded as the app's event loop records it: when its events arrive.
    for config in [config, Config::default()] {
        messaging.apply_config(&config);
        while let Ok(event) = events.try_recv() {
            store.record_chain_event(&event, &messaging).await.unwrap();
        }
    }
    let report = store
        .provider_timeline(
            Some(ProviderKind::Smtp),
            start,
            Utc::now() + Duration::seconds(1),
        )
        .await
        .unwrap();
    let states: Vec<_> = report.providers[0].spans.iter().map(|s| s.state).collect();
    assert_eq!(
        states,
        [
            ProviderState::Closed,
            ProviderState::Disabled,
            ProviderState::Closed
        ]
    );
    // Providers the configuration did not touch: one span, switches not repeated.
    let sns = store
        .provider_timeline(Some(ProviderKind::Sns), start, Utc::now())
        .await
        .unwrap();
    assert_eq!(sns.providers[0].spans.len(), 1);
}
