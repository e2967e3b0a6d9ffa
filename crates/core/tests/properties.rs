//! Property: whatever the providers answer, every send ends Delivered or Failed, with exactly
//! one attempt per provider called, in priority order, and none for providers whose breaker
//! was OPEN.

use std::sync::Arc;
use std::time::Duration;

use msgops_core::breaker::BreakerPolicy;
use msgops_core::chain::{ChainSettings, Priority, ProviderSpec, RateLimitPolicy};
use msgops_core::scripted::{ScriptedProvider, Step};
use msgops_core::{
    BreakerState, ErrorKind, Provider, ProviderChain, ProviderKind, SendError, SendOutcome,
    SkipReason, SmsMessage,
};
use proptest::prelude::*;
use tokio::sync::broadcast;

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => Just(Step::Ok),
        1 => Just(Step::Fail(SendError::authentication("401"))),
        1 => Just(Step::Fail(SendError::throttled("429", Some(Duration::from_secs(1))))),
        2 => Just(Step::Fail(SendError::transient("503"))),
        1 => Just(Step::Fail(SendError::permanent("invalid number"))),
        1 => Just(Step::Fail(SendError::ambiguous("timed out after sending"))),
        1 => Just(Step::Hang),
        1 => (1u64..3000).prop_map(|ms| Step::OkAfter(Duration::from_millis(ms))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn every_send_ends_delivered_or_failed_with_one_attempt_per_provider_tried(
        scripts in prop::collection::vec(prop::collection::vec(step(), 0..40), 3),
        gaps_ms in prop::collection::vec(0u64..120_000, 1..40),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().expect("runtime");
        rt.block_on(async {
            let providers: Vec<Arc<ScriptedProvider>> =
                scripts.iter().map(|s| Arc::new(ScriptedProvider::new(s.clone(), Step::Ok))).collect();
            let ids = ["sns", "twilio", "console"];
            let chain = ProviderChain::<SmsMessage>::new(
                providers.iter().zip(ids).zip([(5, 300, 10.0), (3, 180, 5.0), (2, 60, 0.0)]).map(|((p, id), (t, o, r))| {
                    (ProviderSpec {
                        id: id.parse::<ProviderKind>().expect("a provider id"),
                        health_name: id.into(),
                        display_name: id.into(),
                        priority: Priority::Primary,
                        cost_per_message_usd: 0.01,
                        breaker: BreakerPolicy { failure_threshold: t, open_for: Duration::from_secs(o) },
                        rate_per_second: r,
                    }, Some(p.clone() as Arc<dyn Provider<SmsMessage>>))
                }).collect(),
                ChainSettings { per_attempt_timeout: Duration::from_secs(5), send_deadline: Duration::from_secs(12), on_rate_limit: RateLimitPolicy::SpillOver },
                broadcast::channel(16).0,
            );
            let msg = SmsMessage { to: "+14165550123".into(), body: "x".into(), code: None };
            for gap in gaps_ms {
                tokio::time::advance(Duration::from_millis(gap)).await;
                // OPEN for longer than the whole send can last: the chain must not call it.
                let open_before: Vec<bool> = ids.iter().map(|id| {
                    chain.breaker(&id.parse::<ProviderKind>().expect("a provider id")).is_some_and(|b| {
                        let r = b.reading();
                        r.state == BreakerState::Open && r.open_remaining > Some(Duration::from_secs(12))
                    })
                }).collect();
                let calls_before: Vec<u64> = providers.iter().map(|p| p.calls()).collect();
                let record = chain.send(&msg).await;
                let attempts = record.outcome.attempts();
                // Attempts are in priority order, at most one per provider.
                let positions: Vec<usize> = attempts.iter().map(|a| ids.iter().position(|id| *id == a.provider.as_str()).expect("known")).collect();
                prop_assert!(positions.windows(2).all(|w| w[0] < w[1]), "order {:?}", positions);
                // Exactly one attempt per provider that was called; none for OPEN ones.
                for (i, p) in providers.iter().enumerate() {
                    let called = p.calls() - calls_before[i];
                    let attempted = positions.iter().filter(|&&x| x == i).count() as u64;
                    prop_assert_eq!(called, attempted, "provider {}", ids[i]);
                    if open_before[i] {
                        prop_assert_eq!(called, 0, "{} was OPEN", ids[i]);
                        let listed = record.outcome.skipped().iter().any(|s| s.provider.as_str() == ids[i] && s.reason == SkipReason::BreakerOpen);
                        let ended_before = attempts.last().is_some_and(|a| {
                            positions.last().is_some_and(|&p| p < i) && a.error_kind.is_none_or(|k| !k.fails_over())
                        });
                        prop_assert!(listed || ended_before, "OPEN {} neither skipped nor passed", ids[i]);
                    }
                }
                match &record.outcome {
                    SendOutcome::Delivered { provider, attempts, .. } => {
                        let last = attempts.last().expect("a delivery has an attempt");
                        prop_assert_eq!(&last.provider, provider);
                        prop_assert!(last.error_kind.is_none());
                        prop_assert!(attempts[..attempts.len() - 1].iter().all(|a| a.error_kind.is_some_and(ErrorKind::fails_over)));
                    }
                    SendOutcome::Failed { attempts, skipped, reason } => {
                        prop_assert!(!reason.is_empty());
                        prop_assert!(attempts.iter().all(|a| a.error_kind.is_some()));
                        // Every provider is accounted for: tried, or skipped with a reason.
                        prop_assert_eq!(attempts.len() + skipped.len(), match attempts.last() {
                            Some(a) if a.error_kind == Some(ErrorKind::Permanent) => attempts.len() + skipped.len(),
                            _ => 3,
                        });
                    }
                }
            }
            Ok(())
        })?;
    }
}
